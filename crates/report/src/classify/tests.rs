use entrastream_entra::{ParseOptions, RecordSlice, parse_record};

use super::*;

/// Classifies a hand-written audit record.
fn with_audit<T>(props: &str, f: impl FnOnce(&Audit<'_>) -> T) -> T {
    let text = format!(r#"{{"category":"AuditLogs","properties":{props}}}"#);
    let r = parse_record(
        RecordSlice {
            bytes: text.as_bytes(),
            offset: 0,
        },
        &ParseOptions::default(),
    )
    .unwrap();
    f(r.audit().unwrap())
}

fn kind(props: &str) -> Classified {
    with_audit(props, classify)
}

const ADA: &str = r#"{"user":{"id":"u1","userPrincipalName":"ada@contoso.example"}}"#;
const ADMIN: &str = r#"{"user":{"id":"a1","userPrincipalName":"admin@contoso.example"}}"#;
const ADA_TARGET: &str = r#"[{"id":"u1","type":"User","userPrincipalName":"ada@contoso.example"}]"#;

#[test]
fn password_change_vs_reset_and_who() {
    let p = |name: &str, by: &str| {
        kind(&format!(
            r#"{{"activityDisplayName":"{name}","category":"UserManagement","initiatedBy":{by},"targetResources":{ADA_TARGET}}}"#
        ))
    };
    let c = p("Change user password", ADA);
    assert_eq!(
        (c.kind, c.password_by),
        (AuditKind::PasswordChanged, Some(PasswordBy::SelfService))
    );
    let c = p("Reset user password", ADMIN);
    assert_eq!(
        (c.kind, c.password_by),
        (AuditKind::PasswordReset, Some(PasswordBy::Admin))
    );
    let c = p("Reset password (self-service)", ADA);
    assert_eq!(
        (c.kind, c.password_by),
        (AuditKind::PasswordReset, Some(PasswordBy::SelfService))
    );
    let c = p("Reset password (by admin)", ADA);
    assert_eq!(c.password_by, Some(PasswordBy::Admin));
    let c = p("Change password (self-service)", ADA);
    assert_eq!(
        (c.kind, c.password_by),
        (AuditKind::PasswordChanged, Some(PasswordBy::SelfService))
    );
    // Progress events of SSPR are not password changes.
    let c = p("Self-service password reset flow activity progress", ADA);
    assert_eq!(c.kind, AuditKind::Other);
    assert_eq!(c.password_by, None);
}

#[test]
fn membership_vs_owner_and_group_name_from_modified_properties() {
    // Shape of the sample corpus' "Remove owner from group": the Group target has a null
    // displayName, the name is in the member target's Group.DisplayName old value.
    let props = r#"{"activityDisplayName":"Remove owner from group","category":"GroupManagement","operationType":"Unassign",
      "targetResources":[{"id":"u1","type":"User","modifiedProperties":[
        {"displayName":"Group.ObjectID","oldValue":"\"g1\"","newValue":null},
        {"displayName":"Group.DisplayName","oldValue":"\"Finance\"","newValue":null}]},
        {"id":"g1","displayName":null,"type":"Group","modifiedProperties":[]}]}"#;
    assert_eq!(kind(props).kind, AuditKind::GroupOwnerRemoved);
    assert_eq!(with_audit(props, group_name).as_deref(), Some("Finance"));
    assert_eq!(
        kind(r#"{"activityDisplayName":"Add member to group"}"#).kind,
        AuditKind::GroupMemberAdded
    );
    // Unknown name: decided by category, operation type and the words.
    assert_eq!(
        kind(r#"{"activityDisplayName":"Add member to group (preview)","category":"GroupManagement","operationType":"Assign"}"#).kind,
        AuditKind::GroupMemberAdded
    );
    assert_eq!(
        kind(r#"{"activityDisplayName":"Add owner to group (preview)","category":"GroupManagement","operationType":"Assign"}"#).kind,
        AuditKind::GroupOwnerAdded
    );
}

#[test]
fn app_rename_from_display_name() {
    let props = r#"{"activityDisplayName":"Update application","category":"ApplicationManagement",
      "targetResources":[{"id":"s1","displayName":"Payroll","type":"Application","modifiedProperties":[
        {"displayName":"DisplayName","oldValue":"[\"Payroll\"]","newValue":"[\"Payroll (v2)\"]"},
        {"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"DisplayName\""}]}]}"#;
    assert_eq!(kind(props).kind, AuditKind::AppUpdated);
    assert_eq!(
        with_audit(props, rename),
        Some(("Payroll".to_owned(), "Payroll (v2)".to_owned()))
    );
    // An add sets DisplayName from empty: not a rename.
    let add = r#"{"activityDisplayName":"Add application","targetResources":[{"type":"Application","modifiedProperties":[
        {"displayName":"DisplayName","oldValue":"[]","newValue":"[\"Payroll\"]"}]}]}"#;
    assert_eq!(kind(add).kind, AuditKind::AppAdded);
    assert_eq!(with_audit(add, rename), None);
    // The en dash in Entra's name and an ASCII hyphen both count.
    assert_eq!(
        kind(
            r#"{"activityDisplayName":"Update application – Certificates and secrets management"}"#
        )
        .kind,
        AuditKind::AppCredentialsChanged
    );
}

#[test]
fn consent_admin_or_user_and_permissions() {
    let props = r#"{"activityDisplayName":"Consent to application","category":"ApplicationManagement","operationType":"Assign",
      "targetResources":[{"id":"s1","displayName":"Contoso CRM","type":"ServicePrincipal","modifiedProperties":[
        {"displayName":"ConsentContext.IsAdminConsent","oldValue":null,"newValue":"\"True\""},
        {"displayName":"ConsentAction.Permissions","oldValue":null,"newValue":"\"[] => [[Id: x, ClientId: s1, PrincipalId: , ResourceId: r, ConsentType: AllPrincipals, Scope: User.Read Mail.Read, CreatedDateTime: , LastModifiedDateTime ]]; \""}]}]}"#;
    assert_eq!(kind(props).kind, AuditKind::ConsentGranted);
    let c = with_audit(props, consent);
    assert_eq!(c.admin, Some(true));
    assert_eq!(c.permissions, vec!["Mail.Read", "User.Read"]);
    assert_eq!(scopes("Scope: a b, x Scope: b c]"), vec!["a", "b", "c"]);
}

#[test]
fn licenses_and_user_updates() {
    let props = r#"{"activityDisplayName":"Change user license","category":"UserManagement",
      "targetResources":[{"id":"u1","type":"User","modifiedProperties":[
        {"displayName":"AssignedLicense","oldValue":"[\"[SkuName=EMS, AccountId=t, SkuId=1, DisabledPlans=[]]\"]",
         "newValue":"[\"[SkuName=EMS, AccountId=t, SkuId=1, DisabledPlans=[]]\",\"[SkuName=ENTERPRISEPACK, AccountId=t, SkuId=2, DisabledPlans=[]]\"]"}]}]}"#;
    assert_eq!(kind(props).kind, AuditKind::UserLicenseChanged);
    assert_eq!(with_audit(props, assigned_skus), vec!["ENTERPRISEPACK"]);
    let upd = r#"{"activityDisplayName":"Update user","targetResources":[{"type":"User","modifiedProperties":[
        {"displayName":"JobTitle","oldValue":"[]","newValue":"[\"CFO\"]"},
        {"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"JobTitle\""}]}]}"#;
    assert_eq!(kind(upd).kind, AuditKind::UserUpdated);
    assert_eq!(
        with_audit(upd, |a| changed_properties(a).collect::<Vec<_>>()),
        vec!["JobTitle"]
    );
    assert!(AuditKind::UserUpdated.is_user_change());
    assert_eq!(
        kind(r#"{"activityDisplayName":"Something new","category":"UserManagement","operationType":"Update","targetResources":[{"type":"User"}]}"#).kind,
        AuditKind::UserUpdated
    );
    assert_eq!(
        kind(r#"{"activityDisplayName":"Update device","category":"Device"}"#).kind,
        AuditKind::Device
    );
}

#[test]
fn kind_labels_are_distinct() {
    let mut labels: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), AuditKind::ALL.len());
}
