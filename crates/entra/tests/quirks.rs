//! One test per category and per quirk, on records written for this repository that reproduce
//! what `docs/entra-log-schema.md` documents (the public samples themselves are checked in
//! `corpus.rs`, read at run time).

use entrastream_entra::{
    Category, EncodeContext, Outcome, ParseOptions, RecordSlice, Schema, TenantSource, Timestamp,
    encode, parse_record, split,
};
use serde_json::Value;

const TENANT: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

fn one(text: &str) -> entrastream_entra::Record<'_> {
    parse_record(
        RecordSlice {
            bytes: text.as_bytes(),
            offset: 0,
        },
        &ParseOptions::default(),
    )
    .unwrap_or_else(|e| panic!("should parse: {e}\n{text}"))
}

fn native(text: &str) -> Value {
    let r = one(text);
    let mut out = Vec::new();
    let ctx = EncodeContext {
        ingest_time: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    };
    encode(Schema::Native, &r, &ctx, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn time(r: &entrastream_entra::Record<'_>) -> String {
    r.event_time().map(|t| t.to_string()).unwrap_or_default()
}

#[test]
fn interactive_sign_in_failure_is_typed() {
    let text = format!(
        r#"{{"time":"2025-03-01T10:00:05.1234567Z","resourceId":"/tenants/{TENANT}/providers/Microsoft.aadiam",
        "operationName":"Sign-in activity","category":"SignInLogs","tenantId":"{TENANT}","resultType":"50126",
        "resultDescription":"Invalid username or password","durationMs":0,"callerIpAddress":"203.0.113.9",
        "Level":4,"location":"DE","properties":{{"id":"si-1","createdDateTime":"2025-03-01T10:00:01.5+00:00",
        "userPrincipalName":"ada@contoso.example","userId":"u-1","userDisplayName":"Ada","appId":"app-1",
        "appDisplayName":"Office 365 Exchange Online","ipAddress":"203.0.113.9","clientAppUsed":"Browser",
        "status":{{"errorCode":50126,"failureReason":"Invalid username or password."}},
        "conditionalAccessStatus":"notApplied","isInteractive":true,
        "appliedConditionalAccessPolicies":[{{"id":"p1","displayName":"Require MFA","result":"notApplied"}}],
        "deviceDetail":{{"deviceId":"","operatingSystem":"Windows 10","browser":"Edge 120"}},
        "location":{{"city":"Berlin","countryOrRegion":"DE","geoCoordinates":{{"latitude":52.5,"longitude":13.4}}}}}}}}"#
    );
    let r = one(&text);
    assert_eq!(r.category_enum(), Category::SignInLogs);
    assert_eq!(r.kind(), "signin");
    assert_eq!(r.outcome(), Outcome::Failure);
    // The sign-in's own time, not the envelope's processing time.
    assert_eq!(time(&r), "2025-03-01T10:00:01.500Z");
    let s = r.signin().unwrap();
    assert_eq!(s.error_code, Some(50126));
    assert_eq!(s.user_principal_name.unwrap().raw(), "ada@contoso.example");
    assert_eq!(s.applied_policies.len(), 1);
    assert_eq!(s.device.id, None, "empty strings count as absent");
    assert_eq!(s.location.latitude, Some(52.5));
    assert_eq!(r.actor().name.unwrap().raw(), "ada@contoso.example");
    assert_eq!(r.target().name.unwrap().raw(), "Office 365 Exchange Online");
    let n = native(&text);
    assert_eq!(n["outcome"], "failure");
    assert_eq!(n["actor"]["type"], "user");
    assert_eq!(n["tenant_id"], TENANT);
}

#[test]
fn service_principal_and_managed_identity_sign_ins_are_not_users() {
    for (category, kind) in [
        ("ServicePrincipalSignInLogs", "service_principal"),
        ("ManagedIdentitySignInLogs", "managed_identity"),
        ("MicrosoftServicePrincipalSignInLogs", "service_principal"),
    ] {
        let text = format!(
            r#"{{"category":"{category}","time":"2025-03-01T10:00:00Z","resultType":"0","properties":{{
            "servicePrincipalId":"sp-1","servicePrincipalName":"backup-job","userId":null,"appId":"a-1",
            "status":{{"errorCode":0}}}}}}"#
        );
        let r = one(&text);
        assert!(!r.category_enum().is_user_sign_in());
        assert_eq!(r.outcome(), Outcome::Success);
        let n = native(&text);
        assert_eq!(n["actor"]["type"], kind, "{category}");
        assert_eq!(n["actor"]["id"], "sp-1");
    }
}

#[test]
fn envelope_keys_match_in_any_casing_and_numbers_may_be_strings() {
    let text = r#"{"Category":"ServicePrincipalSignInLogs","CorrelationId":"c-1","DurationMs":"828",
        "OperationName":"Sign-in activity","TenantId":"t-1","level":"4","CreatedDateTime":"2025-07-01T10:45:17.582Z",
        "properties":{}}"#;
    let r = one(text);
    assert_eq!(r.category(), "ServicePrincipalSignInLogs");
    assert_eq!(r.envelope().duration_ms, Some(828));
    // No `time` and no `createdDateTime`: the root-level CreatedDateTime is the event time.
    assert_eq!(time(&r), "2025-07-01T10:45:17.582Z");
    let n = native(text);
    assert_eq!(n["envelope"]["durationMs"], 828);
    assert_eq!(n["envelope"]["level"], 4);
    assert_eq!(n["envelope"]["correlationId"], "c-1");
    assert_eq!(n["tenant_id"], "t-1");
}

#[test]
fn level_as_word_stays_a_word() {
    let n = native(r#"{"category":"AuditLogs","level":"Informational","properties":{}}"#);
    assert_eq!(n["envelope"]["level"], "Informational");
}

#[test]
fn every_time_format_in_the_wild() {
    for (t, want) in [
        (
            "2022-01-24T04:59:49.2279838Z",
            "2022-01-24T04:59:49.227983800Z",
        ),
        (
            "2019-10-18T04:45:48.0729893-05:00",
            "2019-10-18T09:45:48.072989300Z",
        ),
        (
            "2022-01-24T05:00:03.346468+00:00",
            "2022-01-24T05:00:03.346468Z",
        ),
        ("8/22/2022 6:11:52 PM", "2022-08-22T18:11:52Z"),
        ("1/9/2007 10:41:00 AM +01:00", "2007-01-09T09:41:00Z"),
        ("2022-09-09T9:59:27.958Z", "2022-09-09T09:59:27.958Z"),
        ("2007-01-09T09:41:00", "2007-01-09T09:41:00Z"),
    ] {
        let text = format!(r#"{{"category":"AuditLogs","time":"{t}"}}"#);
        assert_eq!(time(&one(&text)), want, "{t}");
    }
}

#[test]
fn an_unreadable_time_is_dead_lettered_with_its_path() {
    let text = r#"{"category":"AuditLogs","properties":{"activityDateTime":"next tuesday"}}"#;
    let err = parse_record(
        RecordSlice {
            bytes: text.as_bytes(),
            offset: 7,
        },
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.reason_code(), "invalid_time");
    assert_eq!(err.offset(), 7);
    assert_eq!(err.category(), Some("AuditLogs"));
    assert!(
        err.to_string().contains("properties.activityDateTime"),
        "{err}"
    );
    assert_eq!(err.raw(), text.as_bytes());
}

#[test]
fn tenant_comes_from_tenant_id_then_properties_then_resource_id() {
    let from_rid = one(
        r#"{"category":"AuditLogs","resourceId":"/TENANTS/ABCD-12/PROVIDERS/MICROSOFT.AADIAM"}"#,
    );
    assert_eq!(from_rid.tenant_id(), Some("abcd-12"));
    assert_eq!(from_rid.tenant_source(), Some(TenantSource::ResourceId));
    let non_guid = one(r#"{"category":"AuditLogs","tenantId":"043q12e-not-a-guid"}"#);
    assert_eq!(non_guid.tenant_id(), Some("043q12e-not-a-guid"));
    let props = one(r#"{"category":"ProvisioningLogs","properties":{"tenantId":"p-t"}}"#);
    assert_eq!(props.tenant_source(), Some(TenantSource::Properties));
}

#[test]
fn audit_modified_properties_are_decoded_in_native_output() {
    let text = r#"{"category":"AuditLogs","time":"2025-01-01T00:00:00Z","properties":{
        "id":"Directory_x_ABCDE_1","activityDisplayName":"Update application","category":"ApplicationManagement",
        "operationType":"Update","result":"success","activityDateTime":"2025-01-01T00:00:00+00:00",
        "initiatedBy":{"user":{"id":"u-9","userPrincipalName":"admin@contoso.example","roles":"admin"}},
        "targetResources":[{"id":"app-7","displayName":"Payroll","type":"Application","modifiedProperties":[
          {"displayName":"DisplayName","oldValue":"[\"Payroll (old)\"]","newValue":"[\"Payroll\"]"},
          {"displayName":"AppAddress","oldValue":null,"newValue":"not json at all"},
          {"displayName":"Included Updated Properties","oldValue":null,"newValue":"\"DisplayName\""}]}]}}"#;
    let r = one(text);
    let a = r.audit().unwrap();
    let rename = a.modified_property("displayname").unwrap();
    assert_eq!(rename.old_text().as_deref(), Some("Payroll (old)"));
    assert_eq!(rename.new_text().as_deref(), Some("Payroll"));
    assert_eq!(r.actor().name.unwrap().raw(), "admin@contoso.example");
    let n = native(text);
    let mods = &n["properties"]["targetResources"][0]["modifiedProperties"];
    assert_eq!(mods[0]["oldValue"], serde_json::json!(["Payroll (old)"]));
    assert_eq!(mods[1]["newValue"], "not json at all");
    assert_eq!(mods[1]["oldValue"], Value::Null);
    assert_eq!(mods[2]["newValue"], "DisplayName");
    // `roles` as a string (seen in the wild instead of an array) is kept as is.
    assert_eq!(n["properties"]["initiatedBy"]["user"]["roles"], "admin");
}

#[test]
fn double_escaped_ampersand_and_non_ascii_survive() {
    let text = r#"{"category":"NonInteractiveUserSignInLogs","properties":{"userDisplayName":"Jürgen für Gäste",
      "appliedConditionalAccessPolicies":[{"displayName":"CA – iOS \\u0026 Android"}]}}"#;
    let r = one(text);
    let s = r.signin().unwrap();
    assert_eq!(s.user_display_name.unwrap().decode(), "Jürgen für Gäste");
    assert_eq!(
        s.applied_policies[0].display_name.unwrap().decode(),
        r"CA – iOS \u0026 Android"
    );
    let n = native(text);
    assert_eq!(
        n["properties"]["appliedConditionalAccessPolicies"][0]["displayName"],
        r"CA – iOS \u0026 Android"
    );
}

#[test]
fn provisioning_reads_pascal_case_parties() {
    let text = r#"{"category":"ProvisioningLogs","resultType":"Failure","properties":{"id":"pr-1",
      "activityDateTime":"2025-02-02T02:02:02Z","action":"Create","provisioningAction":"create",
      "sourceSystem":{"Id":"s","Name":"Workday","details":{}},"targetSystem":{"Id":"t","Name":"Active Directory"},
      "initiatedBy":{"Type":"system","Id":"","Name":"Azure AD Provisioning Service"},
      "sourceIdentity":{"identityType":"User","Id":"w-1","Name":"Grace","details":{"UserPrincipalName":"grace@contoso.example"}},
      "targetIdentity":{"identityType":"User","Id":"","Name":""},
      "provisioningStatusInfo":{"Status":"failure","errorInformation":{"errorCode":"DuplicateTargetEntries","reason":"two matches"}},
      "statusInfo":{"Status":2},"":""}}"#;
    let r = one(text);
    let p = r.provisioning().unwrap();
    assert_eq!(p.source_system.name.unwrap().raw(), "Workday");
    assert_eq!(p.target_system.name.unwrap().raw(), "Active Directory");
    assert_eq!(p.status.unwrap().raw(), "failure");
    assert_eq!(p.error_reason.unwrap().raw(), "two matches");
    assert_eq!(r.outcome(), Outcome::Failure);
    assert_eq!(r.target().name.unwrap().raw(), "grace@contoso.example");
    // The empty key Entra sometimes emits is kept, not stripped.
    assert_eq!(native(text)["properties"][""], "");
}

#[test]
fn skipped_provisioning_has_no_outcome() {
    let r = one(
        r#"{"category":"ProvisioningLogs","resultType":"Skipped","properties":{"provisioningStatusInfo":{"Status":"skipped"}}}"#,
    );
    assert_eq!(r.outcome(), Outcome::Unknown);
}

#[test]
fn risk_categories_use_their_own_times() {
    let risky = one(
        r#"{"category":"RiskyUsers","time":"8/22/2022 6:11:52 PM","properties":{"id":"r1",
        "userPrincipalName":"joe@contoso.example","riskLastUpdatedDateTime":"2022-08-22T18:11:50.702Z","riskLevel":"medium"}}"#,
    );
    assert_eq!(time(&risky), "2022-08-22T18:11:50.702Z");
    assert_eq!(risky.risk().unwrap().risk_level.unwrap().raw(), "medium");
    let event = one(
        r#"{"category":"UserRiskEvents","properties":{"id":"e1","riskEventType":"passwordSpray",
        "activityDateTime":"2022-09-09T9:59:27.958Z","detectedDateTime":"2022-09-09T10:00:00Z",
        "additionalInfo":"[{\"Key\":\"userAgent\",\"Value\":\"curl\"}]"}}"#,
    );
    assert_eq!(time(&event), "2022-09-09T09:59:27.958Z");
    for c in ["RiskyServicePrincipals", "ServicePrincipalRiskEvents"] {
        let text = format!(
            r#"{{"category":"{c}","properties":{{"servicePrincipalId":"sp","riskLevel":"high"}}}}"#
        );
        let r = one(&text);
        assert_eq!(r.kind(), "risk");
        assert_eq!(native(&text)["actor"]["type"], "service_principal");
    }
}

#[test]
fn graph_activity_outcome_from_http_status_and_aad_graph_ticks() {
    let ms = one(
        r#"{"category":"MicrosoftGraphActivityLogs","resourceId":"/TENANTS/T/PROVIDERS/MICROSOFT.AADIAM",
        "properties":{"requestId":"q1","responseStatusCode":404,"timeGenerated":"2024-03-07T11:47:00.6442361Z",
        "requestUri":"https://graph.microsoft.com/v1.0/users?$filter=a eq 'b'\\u0026$top=1","C_DeviceId":"x"}}"#,
    );
    assert_eq!(ms.outcome(), Outcome::Failure);
    assert_eq!(ms.tenant_id(), Some("t"));
    let aad = one(
        r#"{"category":"AzureADGraphActivityLogs","properties":{"httpStatusCode":200,
        "__UDI_RequiredFields_EventTime":"639140000000000000","responseSizeBytes":-1,"roles":" Group.Read.All,"}}"#,
    );
    assert_eq!(aad.outcome(), Outcome::Success);
    assert_eq!(time(&aad), "2026-05-10T08:53:20Z");
}

#[test]
fn result_type_codes_and_words() {
    let code = one(r#"{"category":"SignInLogs","resultType":"0","properties":{}}"#);
    assert_eq!(code.outcome(), Outcome::Success);
    let failed = one(r#"{"category":"SignInLogs","resultType":"7000222","properties":{}}"#);
    assert_eq!(failed.outcome(), Outcome::Failure);
    let word = one(r#"{"category":"SomethingNew","resultType":"Failure"}"#);
    assert_eq!(word.outcome(), Outcome::Failure);
}

#[test]
fn wrong_types_are_refused_with_the_field_path() {
    for (text, path) in [
        (
            r#"{"category":"SignInLogs","properties":{"status":{"errorCode":{"x":1}}}}"#,
            "properties.status.errorCode",
        ),
        (
            r#"{"category":"AuditLogs","properties":{"targetResources":"none"}}"#,
            "properties.targetResources",
        ),
        (r#"{"category":"AuditLogs","time":12345}"#, "time"),
        (
            r#"{"category":"SignInLogs","durationMs":"fast"}"#,
            "durationMs",
        ),
    ] {
        let err = parse_record(
            RecordSlice {
                bytes: text.as_bytes(),
                offset: 0,
            },
            &ParseOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.reason_code(), "wrong_type", "{text}");
        assert!(err.to_string().contains(path), "{err} should name {path}");
    }
}

#[test]
fn huge_records_are_refused_not_truncated() {
    let text = format!(
        r#"{{"category":"AuditLogs","properties":{{"blob":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let err = parse_record(
        RecordSlice {
            bytes: text.as_bytes(),
            offset: 0,
        },
        &ParseOptions {
            max_record_bytes: 1000,
        },
    )
    .unwrap_err();
    assert_eq!(err.reason_code(), "too_large");
    assert_eq!(err.raw().len(), text.len());
}

#[test]
fn one_bad_record_does_not_spoil_the_envelope() {
    let body =
        br#"{"records":[{"category":"AuditLogs"},{"category":"AuditLogs","time":}, {"time":"x"},
        {"category":"AuditLogs","properties":{"id":"3"}}]}"#;
    let results: Vec<_> = split(body)
        .map(|s| s.and_then(|s| parse_record(s, &ParseOptions::default())))
        .collect();
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok() && results[3].is_ok());
    assert_eq!(
        results[1].as_ref().unwrap_err().reason_code(),
        "malformed_json"
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().reason_code(),
        "missing_category"
    );
    // The error's offset points at the bad record inside the body.
    let e = results[1].as_ref().unwrap_err();
    assert!(body[e.offset()..].starts_with(br#"{"category":"AuditLogs","time":}"#));
}

#[test]
fn invalid_utf8_is_refused() {
    let body = b"{\"category\":\"AuditLogs\",\"x\":\"\xff\"}";
    let err = split(body)
        .map(|s| s.and_then(|s| parse_record(s, &ParseOptions::default())))
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.reason_code(), "invalid_utf8");
}

#[test]
fn otel_corner_cases_pass_through_as_generic_records() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/otel");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        for item in split(&body) {
            let r = item
                .and_then(|s| parse_record(s, &ParseOptions::default()))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(r.kind(), "generic", "{}", path.display());
            let mut out = Vec::new();
            for schema in Schema::ALL {
                out.clear();
                encode(schema, &r, &EncodeContext::default(), &mut out).unwrap();
                serde_json::from_slice::<Value>(&out).unwrap();
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
}

#[test]
fn native_output_parses_back_to_the_same_record() {
    let text = r#"{"category":"AuditLogs","time":"2025-01-01T00:00:00Z","Level":"4","properties":{"id":"Directory_1",
      "activityDisplayName":"Reset user password","result":"success",
      "initiatedBy":{"user":{"userPrincipalName":"helpdesk@contoso.example"}},
      "targetResources":[{"type":"User","userPrincipalName":"bob@contoso.example","modifiedProperties":[]}]}}"#;
    let first = one(text);
    let mut out = Vec::new();
    encode(Schema::Native, &first, &EncodeContext::default(), &mut out).unwrap();
    let again = one(std::str::from_utf8(&out).unwrap());
    assert!(again.is_native_input());
    assert_eq!(again.event_id(), first.event_id());
    assert_eq!(again.category(), "AuditLogs");
    assert_eq!(again.event_time(), first.event_time());
    assert_eq!(again.outcome(), first.outcome());
    assert_eq!(again.actor(), first.actor());
    assert_eq!(again.target().name.unwrap().raw(), "bob@contoso.example");
    // Re-encoding native input keeps the original ingest time.
    let mut twice = Vec::new();
    encode(
        Schema::Native,
        &again,
        &EncodeContext::default(),
        &mut twice,
    )
    .unwrap();
    let a: Value = serde_json::from_slice(&out).unwrap();
    let b: Value = serde_json::from_slice(&twice).unwrap();
    assert_eq!(a, b);
}
