//! OCSF unit tests: class and activity choice, and the main attributes of each class. Schema
//! validation of the same shapes is in `tests/ocsf_validation.rs`.

use super::*;
use crate::record::parse_text;

fn ocsf(text: &str) -> serde_json::Value {
    let record = parse_text(text).unwrap();
    let ctx = EncodeContext {
        ingest_time: Timestamp::from_unix(1_700_000_000, 0).unwrap(),
    };
    let mut out = Vec::new();
    encode(&record, &ctx, &mut out);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}

fn audit(activity: &str, category: &str, op: &str, targets: &str) -> serde_json::Value {
    ocsf(&format!(
        r#"{{"time":"2024-05-01T10:00:00Z","category":"AuditLogs","operationName":"{activity}","properties":{{"id":"Directory_1",
        "activityDisplayName":"{activity}","category":"{category}","operationType":"{op}","result":"success",
        "activityDateTime":"2024-05-01T09:59:59.5+00:00",
        "initiatedBy":{{"user":{{"id":"admin-1","userPrincipalName":"admin@example.com","ipAddress":"192.0.2.7"}}}},
        "targetResources":[{targets}]}}}}"#
    ))
}

const USER_T: &str =
    r#"{"id":"u-1","type":"User","userPrincipalName":"ada@example.com","modifiedProperties":[]}"#;

fn class_activity(d: &serde_json::Value) -> (u64, u64) {
    (
        d["class_uid"].as_u64().unwrap(),
        d["activity_id"].as_u64().unwrap(),
    )
}

#[test]
fn audit_class_table() {
    let group_t = r#"{"id":"g-1","type":"Group","displayName":"Finance","modifiedProperties":[]}"#;
    let both = format!("{USER_T},{group_t}");
    let role = r#"{"id":"u-1","type":"User","userPrincipalName":"ada@example.com","modifiedProperties":[{"displayName":"Role.DisplayName","oldValue":null,"newValue":"\"Global Administrator\""}]}"#;
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, (u64, u64));
    let cases: &[Case<'_>] = &[
        ("Add user", "UserManagement", "Add", USER_T, (3001, 1)),
        ("Delete user", "UserManagement", "Delete", USER_T, (3001, 6)),
        (
            "Reset user password",
            "UserManagement",
            "Update",
            USER_T,
            (3001, 4),
        ),
        (
            "Change user password",
            "UserManagement",
            "Update",
            USER_T,
            (3001, 3),
        ),
        (
            "Disable account",
            "UserManagement",
            "Update",
            USER_T,
            (3001, 5),
        ),
        (
            "User registered security info",
            "UserManagement",
            "Add",
            USER_T,
            (3001, 10),
        ),
        (
            "Update user",
            "UserManagement",
            "Update",
            USER_T,
            (3001, 99),
        ),
        (
            "Add member to group",
            "GroupManagement",
            "Assign",
            &both,
            (3006, 3),
        ),
        (
            "Remove member from group",
            "GroupManagement",
            "Unassign",
            &both,
            (3006, 4),
        ),
        ("Add group", "GroupManagement", "Add", group_t, (3004, 1)),
        (
            "Add member to role",
            "RoleManagement",
            "Add",
            role,
            (3005, 1),
        ),
        (
            "Remove member from role",
            "RoleManagement",
            "Delete",
            role,
            (3005, 2),
        ),
        (
            "Consent to application",
            "ApplicationManagement",
            "Assign",
            USER_T,
            (3005, 1),
        ),
        (
            "Change user license",
            "UserManagement",
            "Update",
            USER_T,
            (3005, 1),
        ),
        (
            "Update application",
            "ApplicationManagement",
            "Update",
            USER_T,
            (3004, 3),
        ),
        ("Delete policy", "Policy", "Delete", USER_T, (3004, 4)),
    ];
    for (activity, category, op, targets, expected) in cases {
        let d = audit(activity, category, op, targets);
        assert_eq!(class_activity(&d), *expected, "{activity}");
        let (class, act) = *expected;
        assert_eq!(
            d["type_uid"].as_u64(),
            Some(class * 100 + act),
            "{activity}"
        );
        assert_eq!(d["actor"]["user"]["name"], "admin@example.com");
        assert_eq!(d["src_endpoint"]["ip"], "192.0.2.7");
        assert_eq!(d["status_id"], 1);
        assert_eq!(d["time"], 1_714_557_599_500_i64);
    }
    let d = audit("Add member to role", "RoleManagement", "Add", role);
    assert_eq!(d["privileges"], serde_json::json!(["Global Administrator"]));
    assert_eq!(d["user"]["uid"], "u-1");
    let d = audit("Add member to group", "GroupManagement", "Assign", &both);
    assert_eq!(
        d["group"],
        serde_json::json!({"name": "Finance", "uid": "g-1"})
    );
    assert_eq!(d["user"]["name"], "ada@example.com");
    let d = audit("Update user", "UserManagement", "Update", USER_T);
    assert_eq!(d["activity_name"], "Update user");
    assert_eq!(d["type_name"], "Account Change: Other");
}

#[test]
fn signin_is_authentication() {
    let d = ocsf(
        r#"{"time":"2024-05-01T10:00:05Z","category":"SignInLogs","correlationId":"c-1","tenantId":"t-1","properties":{"id":"s-1",
        "createdDateTime":"2024-05-01T09:59:58.9876543+00:00","userId":"u-1","userPrincipalName":"ada@example.com","userDisplayName":"Ada",
        "appId":"a-1","appDisplayName":"Portal","ipAddress":"203.0.113.9","authenticationProtocol":"oAuth2",
        "authenticationRequirement":"multiFactorAuthentication","isInteractive":true,"riskLevelDuringSignIn":"medium",
        "status":{"errorCode":50126,"failureReason":"Invalid password"},
        "deviceDetail":{"deviceId":"d-1","operatingSystem":"Ios 17","isCompliant":false},
        "location":{"city":"Delft","countryOrRegion":"NL","geoCoordinates":{"latitude":52.0,"longitude":4.35}}}}"#,
    );
    assert_eq!(class_activity(&d), (3002, 1));
    assert_eq!(d["category_uid"], 3);
    assert_eq!(d["type_uid"], 300201);
    assert_eq!(d["severity_id"], 3);
    assert_eq!(d["time"], 1_714_557_598_987_i64);
    assert_eq!(d["status_id"], 2);
    assert_eq!(d["status_code"], "50126");
    assert_eq!(d["status_detail"], "Invalid password");
    assert_eq!(d["user"]["email_addr"], "ada@example.com");
    assert_eq!(d["src_endpoint"]["location"]["country"], "NL");
    assert_eq!(
        d["service"],
        serde_json::json!({"name": "Portal", "uid": "a-1"})
    );
    assert_eq!(d["auth_protocol_id"], 6);
    assert_eq!(d["is_mfa"], true);
    assert_eq!(d["device"]["os"]["type_id"], 301);
    let m = &d["metadata"];
    assert_eq!(m["version"], OCSF_VERSION);
    assert_eq!(m["product"]["vendor_name"], "Microsoft");
    assert_eq!(m["uid"], "s-1");
    assert_eq!(m["original_time"], "2024-05-01T09:59:58.9876543+00:00");
    assert_eq!(m["logged_time"], 1_714_557_605_000_i64);
    assert_eq!(m["correlation_uid"], "c-1");
    assert_eq!(m["tenant_uid"], "t-1");
    assert_eq!(d["unmapped"]["category"], "SignInLogs");
}

#[test]
fn service_principal_signin_user_is_the_principal() {
    let d = ocsf(
        r#"{"category":"ServicePrincipalSignInLogs","properties":{"servicePrincipalId":"sp-1","servicePrincipalName":"robot","status":{"errorCode":0}}}"#,
    );
    assert_eq!(d["user"]["uid"], "sp-1");
    assert_eq!(d["user"]["type"], "Service Principal");
    assert_eq!(d["status_id"], 1);
    assert_eq!(d["service"]["name"], "Microsoft Entra ID");
}

#[test]
fn provisioning_is_account_change() {
    let d = ocsf(
        r#"{"time":"2022-08-23T13:36:50Z","category":"ProvisioningLogs","resultType":"Skipped","properties":{"id":"p-1","provisioningAction":"disable",
        "servicePrincipal":{"Id":"sp-1","Name":"Workday"},"sourceIdentity":{"identityType":"User","Id":"u-1","Name":"Ada","details":{"UserPrincipalName":"ada@example.com"}},
        "targetIdentity":{"identityType":"User","Id":"","Name":""},"provisioningStatusInfo":{"Status":"skipped"}}}"#,
    );
    assert_eq!(class_activity(&d), (3001, 5));
    assert_eq!(d["status_id"], 99);
    assert_eq!(d["status"], "skipped");
    assert_eq!(d["user"]["uid"], "u-1");
    assert_eq!(d["actor"]["app_name"], "Workday");
    let g = ocsf(
        r#"{"category":"ProvisioningLogs","properties":{"provisioningAction":"create","targetIdentity":{"identityType":"Group","Id":"g-1","Name":"Finance"}}}"#,
    );
    assert_eq!(class_activity(&g), (3004, 1));
    assert_eq!(g["entity"]["type_id"], 3);
}

#[test]
fn risk_is_detection_finding() {
    let d = ocsf(
        r#"{"category":"UserRiskEvents","properties":{"id":"r-1","riskEventType":"passwordSpray","riskLevel":"high","riskState":"atRisk",
        "userId":"u-1","userPrincipalName":"ada@example.com","ipAddress":"192.0.2.1","detectedDateTime":"2022-09-09T09:59:27Z"}}"#,
    );
    assert_eq!(class_activity(&d), (2004, 1));
    assert_eq!(d["category_uid"], 2);
    assert_eq!(d["severity_id"], 4);
    assert_eq!(d["status_id"], 1);
    assert_eq!(d["finding_info"]["title"], "passwordSpray");
    assert_eq!(d["evidences"][0]["src_endpoint"]["ip"], "192.0.2.1");
    let r = ocsf(
        r#"{"category":"RiskyUsers","properties":{"id":"u-1","riskLevel":"low","riskState":"remediated","userPrincipalName":"ada@example.com"}}"#,
    );
    assert_eq!(class_activity(&r), (2004, 2));
    assert_eq!(r["status_id"], 4);
    assert_eq!(r["finding_info"]["title"], "Risky user");
}

#[test]
fn graph_is_api_activity() {
    let d = ocsf(
        r#"{"category":"MicrosoftGraphActivityLogs","properties":{"requestId":"q-1","requestMethod":"PATCH","requestUri":"https://graph.microsoft.com/v1.0/users/x",
        "responseStatusCode":204,"ipAddress":"192.0.2.1","servicePrincipalId":"sp-1","appId":"a-1","apiVersion":"v1.0"}}"#,
    );
    assert_eq!(class_activity(&d), (6003, 3));
    assert_eq!(d["api"]["operation"], "PATCH");
    assert_eq!(d["api"]["response"]["code"], 204);
    assert!(d["http_request"].get("http_method").is_none());
    assert_eq!(d["actor"]["app_uid"], "a-1");
    assert_eq!(d["src_endpoint"]["ip"], "192.0.2.1");
}

#[test]
fn unknown_category_is_base_event() {
    let d = ocsf(
        r#"{"category":"NetworkAccessTrafficLogs","operationName":"Traffic","properties":{"x":1}}"#,
    );
    assert_eq!(class_activity(&d), (0, 99));
    assert_eq!(d["type_uid"], 99);
    assert_eq!(d["activity_name"], "Traffic");
    assert_eq!(d["unmapped"]["properties"]["x"], 1);
}

#[test]
fn email_matches_ocsf_regex() {
    assert!(is_email("ada@example.com"));
    assert!(!is_email("ada@localhost"));
    assert!(!is_email("@example.com"));
    assert!(!is_email("8a4de8b5-095c-47d0-a96f-a75130c61d53"));
}
