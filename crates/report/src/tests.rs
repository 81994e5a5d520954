use entrastream_entra::{ParseOptions, RecordSlice, parse_record};

use super::*;

fn feed(report: &mut Report, lines: &[&str]) {
    for l in lines {
        match parse_record(
            RecordSlice {
                bytes: l.as_bytes(),
                offset: 0,
            },
            &ParseOptions::default(),
        ) {
            Ok(r) => report.observe(&r),
            Err(e) => report.observe_dead_letter(e.reason_code()),
        }
    }
}

const SIGNINS: &[&str] = &[
    r#"{"category":"SignInLogs","properties":{"id":"1","createdDateTime":"2025-01-06T08:00:00Z","userId":"u1","userPrincipalName":"ada@contoso.example","appDisplayName":"Outlook","status":{"errorCode":0},"location":{"city":"Paris","countryOrRegion":"FR"},"deviceDetail":{"operatingSystem":"Windows10"},"clientAppUsed":"Browser"}}"#,
    r#"{"category":"NonInteractiveUserSignInLogs","properties":{"id":"2","createdDateTime":"2025-01-07T09:00:00Z","userId":"u1","userPrincipalName":"ada@contoso.example","appDisplayName":"Teams","status":{"errorCode":50126,"failureReason":"Invalid username or password"}}}"#,
    r#"{"category":"SignInLogs","properties":{"id":"3","createdDateTime":"2025-01-07T10:00:00Z","userId":"u2","userPrincipalName":"bob@contoso.example","appDisplayName":"Outlook","status":{"errorCode":50074},"conditionalAccessStatus":"failure"}}"#,
    r#"{"category":"ServicePrincipalSignInLogs","properties":{"id":"4","createdDateTime":"2025-01-07T10:00:00Z","servicePrincipalName":"Backup job","appDisplayName":"Backup job","status":{"errorCode":7000222}}}"#,
    r#"{"category":"ManagedIdentitySignInLogs","properties":{"id":"5","createdDateTime":"2025-01-07T10:00:00Z","servicePrincipalName":"vm-1","status":{"errorCode":0}}}"#,
    r#"{"category":"SignInLogs","properties":"not an object"}"#,
];

#[test]
fn user_signins_are_separate_from_workload_identities() {
    let mut r = Report::new(ReportOptions::default());
    feed(&mut r, SIGNINS);
    let out = r.finish();
    assert_eq!(out.records, 5);
    assert_eq!(out.window.records_unparsed, 1);
    assert_eq!(out.window.unparsed_by_reason.get("wrong_type"), Some(&1));
    let users = out.answer("users_signed_in").unwrap();
    assert_eq!(users.get_fact("distinct_users"), Some(&Cell::Int(2)));
    let status = out.answer("signin_status").unwrap();
    assert_eq!(status.get_fact("success"), Some(&Cell::Int(2)));
    assert_eq!(status.get_fact("failure"), Some(&Cell::Int(2)));
    assert_eq!(status.get_fact("interrupted"), Some(&Cell::Int(1)));
    let by_kind = status.get_table("by_kind").unwrap();
    assert_eq!(by_kind.rows.len(), 3);
    let ca = status.get_table("conditional_access").unwrap();
    assert_eq!(ca.rows[0][0], Cell::text("failure"));
    let pattern = out.answer("signin_pattern").unwrap();
    let t = pattern.get_table("users").unwrap();
    assert_eq!(t.rows[0][0], Cell::text("ada@contoso.example"));
    assert_eq!(t.rows[0][1], Cell::Int(2));
    assert_eq!(pattern.get_fact("user_signins"), Some(&Cell::Int(3)));
    let apps = out.answer("app_usage").unwrap();
    assert_eq!(apps.get_table("workload_identities").unwrap().rows.len(), 2);
    // Every question is present, those without data with an empty answer.
    assert_eq!(out.questions.len(), QUESTIONS.len());
    assert!(out.answer("consent_grants").unwrap().is_empty());
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json["questions"][17]["answer"], serde_json::json!({}));
}

#[test]
fn user_and_window_filters() {
    let mut r = Report::new(ReportOptions {
        user: Some("ADA@contoso.example".into()),
        since: Timestamp::parse("2025-01-07T00:00:00Z"),
        ..ReportOptions::default()
    });
    feed(&mut r, SIGNINS);
    let out = r.finish();
    assert_eq!(out.records, 1);
    assert_eq!(out.window.records_outside_window, 1);
    assert_eq!(out.window.records_not_matching, 3);
    let p = out.answer("signin_pattern").unwrap();
    assert_eq!(p.get_table("apps").unwrap().rows[0][0], Cell::text("Teams"));
}

#[test]
fn renderers_cover_every_question() {
    let mut r = Report::new(ReportOptions::default());
    feed(&mut r, SIGNINS);
    let out = r.finish();
    let text = render::text(&out);
    let md = render::markdown(&out);
    let csv = render::csv(&out);
    for q in QUESTIONS {
        assert!(text.contains(q.id), "{}", q.id);
        assert!(md.contains(q.text), "{}", q.id);
        assert!(csv.contains(&format!("# {}\n", q.id)), "{}", q.id);
    }
    assert!(text.contains('█'), "time buckets are drawn as bars");
    assert!(text.contains("1 unparsed"));
}
