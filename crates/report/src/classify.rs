//! Maps audit records to the kinds of change administrators ask about.
//!
//! Rules match `activityDisplayName` exactly (case-insensitively) first, because Entra's activity
//! names are stable identifiers; a fallback on `category` + `operationType` + target type catches
//! activities this table does not name. Every rule and its source is listed in `docs/report.md`.

use entrastream_entra::json::JsonStr;
use entrastream_entra::kinds::{Audit, Initiator, Target};

/// A kind of directory change. `as_str` values are metric label values: do not rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditKind {
    UserAdded,
    UserInvited,
    UserUpdated,
    UserDeleted,
    UserRestored,
    UserLicenseChanged,
    PasswordChanged,
    PasswordReset,
    GroupAdded,
    GroupUpdated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    GroupOwnerAdded,
    GroupOwnerRemoved,
    GroupLicenseAssigned,
    AppAdded,
    AppUpdated,
    AppCredentialsChanged,
    AppRemoved,
    ServicePrincipalAdded,
    ServicePrincipalUpdated,
    ServicePrincipalCredentialsChanged,
    ServicePrincipalRemoved,
    AppRoleAssigned,
    DelegatedPermissionGranted,
    ConsentGranted,
    ConsentRevoked,
    RoleMemberAdded,
    RoleMemberRemoved,
    Device,
    Policy,
    Other,
}

impl AuditKind {
    pub const ALL: [AuditKind; 33] = [
        AuditKind::UserAdded,
        AuditKind::UserInvited,
        AuditKind::UserUpdated,
        AuditKind::UserDeleted,
        AuditKind::UserRestored,
        AuditKind::UserLicenseChanged,
        AuditKind::PasswordChanged,
        AuditKind::PasswordReset,
        AuditKind::GroupAdded,
        AuditKind::GroupUpdated,
        AuditKind::GroupDeleted,
        AuditKind::GroupMemberAdded,
        AuditKind::GroupMemberRemoved,
        AuditKind::GroupOwnerAdded,
        AuditKind::GroupOwnerRemoved,
        AuditKind::GroupLicenseAssigned,
        AuditKind::AppAdded,
        AuditKind::AppUpdated,
        AuditKind::AppCredentialsChanged,
        AuditKind::AppRemoved,
        AuditKind::ServicePrincipalAdded,
        AuditKind::ServicePrincipalUpdated,
        AuditKind::ServicePrincipalCredentialsChanged,
        AuditKind::ServicePrincipalRemoved,
        AuditKind::AppRoleAssigned,
        AuditKind::DelegatedPermissionGranted,
        AuditKind::ConsentGranted,
        AuditKind::ConsentRevoked,
        AuditKind::RoleMemberAdded,
        AuditKind::RoleMemberRemoved,
        AuditKind::Device,
        AuditKind::Policy,
        AuditKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        use AuditKind::*;
        match self {
            UserAdded => "user_added",
            UserInvited => "user_invited",
            UserUpdated => "user_updated",
            UserDeleted => "user_deleted",
            UserRestored => "user_restored",
            UserLicenseChanged => "user_license_changed",
            PasswordChanged => "password_changed",
            PasswordReset => "password_reset",
            GroupAdded => "group_added",
            GroupUpdated => "group_updated",
            GroupDeleted => "group_deleted",
            GroupMemberAdded => "group_member_added",
            GroupMemberRemoved => "group_member_removed",
            GroupOwnerAdded => "group_owner_added",
            GroupOwnerRemoved => "group_owner_removed",
            GroupLicenseAssigned => "group_license_assigned",
            AppAdded => "app_added",
            AppUpdated => "app_updated",
            AppCredentialsChanged => "app_credentials_changed",
            AppRemoved => "app_removed",
            ServicePrincipalAdded => "service_principal_added",
            ServicePrincipalUpdated => "service_principal_updated",
            ServicePrincipalCredentialsChanged => "service_principal_credentials_changed",
            ServicePrincipalRemoved => "service_principal_removed",
            AppRoleAssigned => "app_role_assigned",
            DelegatedPermissionGranted => "delegated_permission_granted",
            ConsentGranted => "consent_granted",
            ConsentRevoked => "consent_revoked",
            RoleMemberAdded => "role_member_added",
            RoleMemberRemoved => "role_member_removed",
            Device => "device",
            Policy => "policy",
            Other => "other",
        }
    }

    /// Changes to a user object itself (what `user_update_types` and `users_changed` count).
    pub fn is_user_change(self) -> bool {
        use AuditKind::*;
        matches!(
            self,
            UserAdded
                | UserInvited
                | UserUpdated
                | UserDeleted
                | UserRestored
                | UserLicenseChanged
                | PasswordChanged
                | PasswordReset
        )
    }

    pub fn is_service_principal_change(self) -> bool {
        use AuditKind::*;
        matches!(
            self,
            ServicePrincipalAdded
                | ServicePrincipalUpdated
                | ServicePrincipalCredentialsChanged
                | ServicePrincipalRemoved
                | AppRoleAssigned
                | DelegatedPermissionGranted
                | ConsentRevoked
        )
    }
}

/// Who performed a password operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PasswordBy {
    SelfService,
    Admin,
}

impl PasswordBy {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordBy::SelfService => "self_service",
            PasswordBy::Admin => "admin",
        }
    }
}

/// Exact activity names, matched case-insensitively. `S` marks the source in docs/report.md.
const ACTIVITIES: &[(&str, AuditKind)] = {
    use AuditKind::*;
    &[
        ("Add user", UserAdded),
        ("Invite external user", UserInvited),
        ("Update user", UserUpdated),
        ("Disable account", UserUpdated),
        ("Enable account", UserUpdated),
        ("Set force change user password", UserUpdated),
        ("Delete user", UserDeleted),
        ("Hard Delete user", UserDeleted),
        ("Restore user", UserRestored),
        ("Change user license", UserLicenseChanged),
        ("Change user password", PasswordChanged),
        ("Change password (self-service)", PasswordChanged),
        ("Reset user password", PasswordReset),
        ("Reset password (self-service)", PasswordReset),
        ("Reset password (by admin)", PasswordReset),
        ("Add group", GroupAdded),
        ("Update group", GroupUpdated),
        ("Delete group", GroupDeleted),
        ("Hard Delete group", GroupDeleted),
        ("Add member to group", GroupMemberAdded),
        ("Remove member from group", GroupMemberRemoved),
        ("Add owner to group", GroupOwnerAdded),
        ("Remove owner from group", GroupOwnerRemoved),
        ("Assign license to group", GroupLicenseAssigned),
        ("Set group license", GroupLicenseAssigned),
        ("Add application", AppAdded),
        ("Update application", AppUpdated),
        (
            "Update application – Certificates and secrets management",
            AppCredentialsChanged,
        ),
        (
            "Update application - Certificates and secrets management",
            AppCredentialsChanged,
        ),
        ("Delete application", AppRemoved),
        ("Hard Delete application", AppRemoved),
        ("Add service principal", ServicePrincipalAdded),
        ("Update service principal", ServicePrincipalUpdated),
        (
            "Add service principal credentials",
            ServicePrincipalCredentialsChanged,
        ),
        (
            "Remove service principal credentials",
            ServicePrincipalCredentialsChanged,
        ),
        ("Remove service principal", ServicePrincipalRemoved),
        ("Delete service principal", ServicePrincipalRemoved),
        (
            "Add app role assignment to service principal",
            AppRoleAssigned,
        ),
        ("Add app role assignment grant to user", AppRoleAssigned),
        ("Add delegated permission grant", DelegatedPermissionGranted),
        ("Consent to application", ConsentGranted),
        ("Revoke consent", ConsentRevoked),
        ("Remove delegated permission grant", ConsentRevoked),
        ("Add member to role", RoleMemberAdded),
        ("Add eligible member to role", RoleMemberAdded),
        ("Remove member from role", RoleMemberRemoved),
        ("Remove eligible member from role", RoleMemberRemoved),
    ]
};

/// The classification of one audit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub kind: AuditKind,
    /// For password changes and resets: who did it.
    pub password_by: Option<PasswordBy>,
}

pub fn classify(audit: &Audit<'_>) -> Classified {
    let kind = audit
        .activity_display_name
        .and_then(|name| {
            ACTIVITIES
                .iter()
                .find(|(n, _)| name.eq_ignore_case(n))
                .map(|(_, k)| *k)
        })
        .unwrap_or_else(|| fallback(audit));
    let password_by = match kind {
        AuditKind::PasswordChanged | AuditKind::PasswordReset => Some(password_by(audit)),
        _ => None,
    };
    Classified { kind, password_by }
}

fn eq(s: Option<JsonStr<'_>>, v: &str) -> bool {
    s.is_some_and(|s| s.eq_ignore_case(v))
}

/// Unknown activity names: decide by the audit category, the operation and the target type.
fn fallback(a: &Audit<'_>) -> AuditKind {
    use AuditKind::*;
    let name = a
        .activity_display_name
        .map(|n| n.decode().to_ascii_lowercase())
        .unwrap_or_default();
    let op = a.operation_type.map(|o| o.decode().to_ascii_lowercase());
    let op = op.as_deref().unwrap_or("");
    let first = a.targets.first().and_then(|t| t.kind);
    if eq(a.category, "Device") {
        return Device;
    }
    if eq(a.category, "Policy") {
        return Policy;
    }
    if name.contains("password") && eq(first, "User") {
        // Progress and registration events of self-service password management are not
        // changes of a password: only names that say change/reset count.
        if name.starts_with("change") {
            return PasswordChanged;
        }
        if name.starts_with("reset") {
            return PasswordReset;
        }
        return Other;
    }
    if eq(a.category, "UserManagement") && eq(first, "User") {
        return match op {
            "add" => UserAdded,
            "delete" => UserDeleted,
            "update" => UserUpdated,
            _ => Other,
        };
    }
    if eq(a.category, "GroupManagement") {
        let owner = name.contains("owner");
        let member = name.contains("member");
        return match (op, owner, member) {
            ("assign", true, _) => GroupOwnerAdded,
            ("unassign", true, _) => GroupOwnerRemoved,
            ("assign", _, true) => GroupMemberAdded,
            ("unassign", _, true) => GroupMemberRemoved,
            ("add", ..) if eq(first, "Group") => GroupAdded,
            ("delete", ..) if eq(first, "Group") => GroupDeleted,
            ("update", ..) if eq(first, "Group") => GroupUpdated,
            _ => Other,
        };
    }
    if eq(a.category, "ApplicationManagement") {
        let app = eq(first, "Application");
        let sp = eq(first, "ServicePrincipal");
        return match op {
            "add" if app => AppAdded,
            "update" if app => AppUpdated,
            "delete" if app => AppRemoved,
            "add" if sp => ServicePrincipalAdded,
            "update" if sp => ServicePrincipalUpdated,
            "delete" if sp => ServicePrincipalRemoved,
            _ => Other,
        };
    }
    Other
}

/// Self-service when the name says so or the initiator is the target user; admin otherwise.
fn password_by(a: &Audit<'_>) -> PasswordBy {
    let name = a
        .activity_display_name
        .map(|n| n.decode().to_ascii_lowercase())
        .unwrap_or_default();
    if name.contains("(self-service)") {
        return PasswordBy::SelfService;
    }
    if name.contains("(by admin)") {
        return PasswordBy::Admin;
    }
    let Initiator::User {
        id,
        user_principal_name,
        ..
    } = a.initiated_by
    else {
        return PasswordBy::Admin;
    };
    let target = a.targets.iter().find(|t| eq(t.kind, "User"));
    let same = |x: Option<JsonStr<'_>>, y: Option<JsonStr<'_>>| match (x, y) {
        (Some(x), Some(y)) => x.decode().eq_ignore_ascii_case(&y.decode()),
        _ => false,
    };
    match target {
        Some(t) if same(id, t.id) || same(user_principal_name, t.user_principal_name) => {
            PasswordBy::SelfService
        }
        _ => PasswordBy::Admin,
    }
}

/// The first target of type `kind` (`User`, `Group`, `Application`, `ServicePrincipal`…).
pub fn target_of<'x, 'a>(a: &'x Audit<'a>, kind: &str) -> Option<&'x Target<'a>> {
    a.targets.iter().find(|t| eq(t.kind, kind))
}

/// A readable name for a target: UPN, display name, else id.
pub fn target_name(t: &Target<'_>) -> Option<String> {
    t.user_principal_name
        .or(t.display_name)
        .or(t.id)
        .map(|s| s.decode().into_owned())
}

/// The group a membership or owner change is about: the `Group` target's name, else the
/// `Group.DisplayName` modified property on the member target (real records leave the group
/// target's `displayName` null), else the group id.
pub fn group_name(a: &Audit<'_>) -> Option<String> {
    if let Some(n) = target_of(a, "Group").and_then(|t| t.display_name) {
        return Some(n.decode().into_owned());
    }
    if let Some(m) = a.modified_property("Group.DisplayName")
        && let Some(n) = m.new_text().or_else(|| m.old_text())
    {
        return Some(n);
    }
    target_of(a, "Group")
        .and_then(|t| t.id)
        .map(|s| s.decode().into_owned())
        .or_else(|| {
            a.modified_property("Group.ObjectID")
                .and_then(|m| m.new_text().or_else(|| m.old_text()))
        })
}

/// An application or service principal rename: `DisplayName` with different old and new
/// values on an update (adds have an empty old value and are not renames).
pub fn rename(a: &Audit<'_>) -> Option<(String, String)> {
    let m = a.modified_property("DisplayName")?;
    let (old, new) = (m.old_text()?, m.new_text()?);
    (old != new).then_some((old, new))
}

/// What a consent granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// `ConsentContext.IsAdminConsent`; `None` when the record does not say.
    pub admin: Option<bool>,
    /// Scopes from `ConsentAction.Permissions` (`Scope: a b c,`), sorted, deduplicated.
    pub permissions: Vec<String>,
}

pub fn consent(a: &Audit<'_>) -> Consent {
    let admin = a
        .modified_property("ConsentContext.IsAdminConsent")
        .and_then(|m| m.new_text())
        .and_then(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
    let permissions = a
        .modified_property("ConsentAction.Permissions")
        .and_then(|m| m.new_text())
        .map(|t| scopes(&t))
        .unwrap_or_default();
    Consent { admin, permissions }
}

/// Every `Scope: …` value up to the next comma or bracket, split on whitespace. The text is
/// Entra's own rendering of the grant objects (`[Id: …, ConsentType: …, Scope: User.Read
/// Mail.Read, CreatedDateTime: …]`), not JSON.
pub fn scopes(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("Scope:") {
        rest = &rest[i + "Scope:".len()..];
        let end = rest.find([',', ']']).unwrap_or(rest.len());
        out.extend(rest[..end].split_whitespace().map(str::to_owned));
        rest = &rest[end..];
    }
    out.sort();
    out.dedup();
    out
}

/// SKU names a license change assigns: `SkuName=X` in the new `AssignedLicense` value that the
/// old value did not have (all of the new ones when the old had none).
pub fn assigned_skus(a: &Audit<'_>) -> Vec<String> {
    let Some(m) = a.modified_property("AssignedLicense") else {
        return Vec::new();
    };
    let new = skus(&m.new_text().unwrap_or_default());
    let old = skus(&m.old_text().unwrap_or_default());
    new.into_iter().filter(|s| !old.contains(s)).collect()
}

fn skus(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("SkuName=") {
        rest = &rest[i + "SkuName=".len()..];
        let end = rest.find([',', ']', '"']).unwrap_or(rest.len());
        out.push(rest[..end].trim().to_owned());
        rest = &rest[end..];
    }
    out
}

/// Names of the properties an update changed, from the modified properties (without the
/// `Included Updated Properties` summary entry).
pub fn changed_properties<'x>(a: &'x Audit<'_>) -> impl Iterator<Item = String> + 'x {
    a.targets
        .iter()
        .flat_map(|t| t.modified.iter())
        .filter_map(|m| m.name)
        .filter(|n| !n.is_empty() && !n.eq_ignore_case("Included Updated Properties"))
        .map(|n| n.decode().into_owned())
}

#[cfg(test)]
mod tests;
