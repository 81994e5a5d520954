use entrastream_entra::{ParseOptions, RecordSlice, parse_record};
use prometheus::Registry;

use super::*;

fn series(registry: &Registry) -> usize {
    registry.gather().iter().map(|f| f.get_metric().len()).sum()
}

fn observe(m: &IamMetrics, text: &str) {
    let r = parse_record(
        RecordSlice {
            bytes: text.as_bytes(),
            offset: 0,
        },
        &ParseOptions::default(),
    )
    .unwrap();
    m.observe(&r);
}

/// 1 M distinct users signing in to 10 k distinct apps with many error codes, and provisioning
/// into 10 k distinct target systems, stay under the documented ceiling.
#[test]
fn series_stay_under_the_ceiling_with_a_million_users() {
    let registry = Registry::new();
    let m = IamMetrics::register(&registry);
    let mut line = String::with_capacity(512);
    for i in 0..1_000_000u32 {
        use std::fmt::Write as _;
        line.clear();
        let cat = [
            "SignInLogs",
            "NonInteractiveUserSignInLogs",
            "ServicePrincipalSignInLogs",
            "ManagedIdentitySignInLogs",
        ][(i % 4) as usize];
        let code = if i % 3 == 0 { 0 } else { 50_000 + i % 997 };
        let risk = [
            "none",
            "low",
            "medium",
            "high",
            "hidden",
            "unknownFutureValue",
        ][(i % 6) as usize];
        let _ = write!(
            line,
            r#"{{"category":"{cat}","properties":{{"userId":"u{i}","userPrincipalName":"u{i}@x","appDisplayName":"app{}","status":{{"errorCode":{code}}},"riskLevelDuringSignIn":"{risk}","conditionalAccessStatus":"failure"}}}}"#,
            i % 10_000
        );
        observe(&m, &line);
        if i % 50 == 0 {
            line.clear();
            let _ = write!(
                line,
                r#"{{"category":"ProvisioningLogs","properties":{{"action":"{}","sourceSystem":{{"Name":"Azure Active Directory"}},"targetSystem":{{"Name":"app{}"}},"provisioningStatusInfo":{{"Status":"{}"}}}}}}"#,
                [
                    "Create",
                    "Update",
                    "Delete",
                    "Disable",
                    "StagedDelete",
                    "Other",
                    "Weird"
                ][(i % 7) as usize],
                i % 10_000,
                ["success", "failure", "skipped", "warning", "odd"][(i % 5) as usize]
            );
            observe(&m, &line);
            line.clear();
            let _ = write!(
                line,
                r#"{{"category":"AuditLogs","properties":{{"activityDisplayName":"activity {}","category":"UserManagement","operationType":"Update","targetResources":[{{"type":"User"}}]}}}}"#,
                i % 10_000
            );
            observe(&m, &line);
        }
    }
    let n = series(&registry);
    assert!(n <= SERIES_CEILING, "{n} series > ceiling {SERIES_CEILING}");
    assert!(n > 100, "the test exercised the caps: {n}");
    let text = {
        let mut buf = String::new();
        for f in registry.gather() {
            buf.push_str(f.name());
            buf.push('\n');
        }
        buf
    };
    for name in [
        "entrastream_iam_signins_total",
        "entrastream_iam_signin_failures_total",
        "entrastream_iam_risky_signins_total",
        "entrastream_iam_conditional_access_failures_total",
        "entrastream_iam_audit_changes_total",
        "entrastream_iam_provisioning_actions_total",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
}

#[test]
fn consent_types_are_labelled() {
    let registry = Registry::new();
    let m = IamMetrics::register(&registry);
    observe(
        &m,
        r#"{"category":"AuditLogs","properties":{"activityDisplayName":"Consent to application","result":"success","targetResources":[{"type":"ServicePrincipal","modifiedProperties":[{"displayName":"ConsentContext.IsAdminConsent","oldValue":null,"newValue":"\"False\""}]}]}}"#,
    );
    assert_eq!(m.consent.with_label_values(&["user"]).get(), 1);
    assert_eq!(m.audit.with_label_values(&["consent_granted"]).get(), 1);
}
