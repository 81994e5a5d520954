//! Tests of the generator as a whole: determinism, framing, shapes, mix and ground truth.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

use super::*;

fn config(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        users: 400,
        ..GeneratorConfig::default()
    }
}

/// Generates envelopes until at least `records` records; returns (info, bytes) per envelope.
fn run(g: &mut Generator, records: usize) -> Vec<(EnvelopeInfo, Vec<u8>)> {
    let mut out = Vec::new();
    let mut n = 0;
    while n < records {
        let mut buf = Vec::new();
        let info = g.next_envelope(&mut buf);
        n += info.records;
        out.push((info, buf));
    }
    out
}

fn records_of(envelope: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(envelope).expect("envelope is JSON");
    let obj = v.as_object().expect("envelope is an object");
    assert_eq!(obj.len(), 1, "only `records` at the top level");
    obj["records"]
        .as_array()
        .expect("records is an array")
        .clone()
}

const SIGNIN_CATEGORIES: &[&str] = &[
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "ServicePrincipalSignInLogs",
    "ManagedIdentitySignInLogs",
    "MicrosoftServicePrincipalSignInLogs",
    "ADFSSignInLogs",
];

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let bytes = |seed| {
        let mut g = Generator::new(config(seed)).unwrap();
        let mut out = Vec::new();
        for _ in 0..60 {
            g.next_envelope(&mut out);
            g.next_envelope_with(3, &mut out);
        }
        out
    };
    let a = bytes(7);
    assert_eq!(a, bytes(7));
    assert_ne!(a, bytes(8));
}

#[test]
fn envelopes_parse_hold_one_category_and_respect_counts() {
    let mut g = Generator::new(config(1)).unwrap();
    for (info, buf) in run(&mut g, 3000) {
        assert_eq!(info.bytes, buf.len());
        assert!(buf.len() <= MAX_ENVELOPE_BYTES);
        assert!((1..=50).contains(&info.records));
        let records = records_of(&buf);
        assert_eq!(records.len(), info.records);
        for r in &records {
            assert_eq!(r["category"], info.category);
            assert_eq!(r["Level"], 4);
            assert_eq!(r["tenantId"].as_str(), Some(g.tenant_id()));
            assert!(r["properties"].is_object());
        }
    }
    let mut buf = Vec::new();
    let info = g.next_envelope_with(7, &mut buf);
    assert_eq!(info.records, 7);
    assert_eq!(records_of(&buf).len(), 7);
}

#[test]
fn one_megabyte_cap_stops_early() {
    let mut g = Generator::new(GeneratorConfig {
        categories: Some(vec!["signinlogs".into()]),
        ..config(3)
    })
    .unwrap();
    let mut buf = Vec::new();
    let info = g.next_envelope_with(5000, &mut buf);
    assert!(info.records < 5000);
    assert!(info.records > 100);
    assert!(buf.len() <= MAX_ENVELOPE_BYTES);
    assert_eq!(records_of(&buf).len(), info.records);
    assert_eq!(g.truth().records, info.records as u64);
}

#[test]
fn category_filter_and_errors() {
    let mut g = Generator::new(GeneratorConfig {
        categories: Some(vec!["AuditLogs".into(), "riskyusers".into()]),
        ..config(4)
    })
    .unwrap();
    let seen: BTreeSet<_> = run(&mut g, 500).iter().map(|(i, _)| i.category).collect();
    assert_eq!(seen, BTreeSet::from(["AuditLogs", "RiskyUsers"]));

    let err = Generator::new(GeneratorConfig {
        categories: Some(vec!["SigninLogz".into()]),
        ..config(4)
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("SigninLogz"), "{msg}");
    for (name, _) in CATEGORY_MIX {
        assert!(msg.contains(name), "{msg}");
    }
    assert!(
        Generator::new(GeneratorConfig {
            categories: Some(vec![]),
            ..config(4)
        })
        .is_err()
    );
    assert!(
        Generator::new(GeneratorConfig {
            users: 0,
            ..config(4)
        })
        .is_err()
    );
}

#[test]
fn every_category_appears_in_roughly_designed_proportions() {
    let mut g = Generator::new(config(5)).unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    // Fixed-size envelopes: the mix is then exactly the record mix; 30k records is cheap
    // because nothing is parsed here.
    while total < 30_000 {
        let mut buf = Vec::new();
        let info = g.next_envelope_with(10, &mut buf);
        *counts.entry(info.category).or_default() += info.records;
        total += info.records;
    }
    for &(name, weight) in CATEGORY_MIX {
        let got = counts.get(name).copied().unwrap_or(0);
        assert!(got > 0, "{name} never generated");
        let expected = total as f64 * f64::from(weight) / 10_000.0;
        if weight >= 500 {
            let ratio = got as f64 / expected;
            assert!((0.8..1.25).contains(&ratio), "{name}: {got} vs {expected}");
        }
    }
    assert_eq!(
        g.truth().records_by_category.values().sum::<u64>(),
        total as u64
    );
}

#[test]
fn record_sizes_are_realistic() {
    let mut g = Generator::new(config(6)).unwrap();
    let mut sizes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (_, buf) in run(&mut g, 8000) {
        for r in records_of(&buf) {
            let len = serde_json::to_vec(&r).unwrap().len();
            let cat = r["category"].as_str().unwrap().to_string();
            let e = sizes.entry(cat).or_insert((usize::MAX, 0));
            e.0 = e.0.min(len);
            e.1 = e.1.max(len);
        }
    }
    for (cat, (min, max)) in &sizes {
        assert!(*max < 12 * 1024, "{cat}: {max} bytes");
        if SIGNIN_CATEGORIES.contains(&cat.as_str()) {
            assert!(*min >= 2048 && *max <= 8192, "{cat}: {min}..{max}");
        } else {
            assert!(*min >= 500, "{cat}: {min}");
        }
    }
}

#[test]
fn every_audit_kind_appears_within_20000_records() {
    let mut g = Generator::new(config(9)).unwrap();
    let mut seen = HashSet::new();
    for (info, buf) in run(&mut g, 20_000) {
        if info.category != "AuditLogs" {
            continue;
        }
        for r in records_of(&buf) {
            let p = &r["properties"];
            assert_eq!(r["operationName"], p["activityDisplayName"]);
            let id = p["id"].as_str().unwrap();
            assert!(id.starts_with("Directory_"));
            let user = p["initiatedBy"]["user"].is_object();
            let app = p["initiatedBy"]["app"].is_object();
            assert!(user ^ app, "exactly one initiator");
            for t in p["targetResources"].as_array().unwrap() {
                for m in t["modifiedProperties"].as_array().unwrap() {
                    for k in ["oldValue", "newValue"] {
                        match &m[k] {
                            Value::Null => {}
                            Value::String(s) => {
                                serde_json::from_str::<Value>(s).unwrap_or_else(|e| {
                                    panic!("{k} of {} is not JSON text: {s}: {e}", m["displayName"])
                                });
                            }
                            other => panic!("unexpected {other}"),
                        }
                    }
                }
            }
            seen.insert(p["activityDisplayName"].as_str().unwrap().to_string());
        }
    }
    for name in audit_activity_names() {
        assert!(seen.contains(name), "{name} missing");
    }
    for name in [
        "Add user",
        "Reset password (self-service)",
        "Update application – Certificates and secrets management",
        "Consent to application",
        "Assign license to group",
    ] {
        assert!(seen.contains(name), "{name} missing");
    }
}

/// Recomputes the ground truth from the JSON alone.
fn recount(envelopes: &[(EnvelopeInfo, Vec<u8>)]) -> Value {
    let mut t = Truth::default();
    let mut users = BTreeSet::new();
    for (_, buf) in envelopes {
        t.envelopes += 1;
        t.bytes += buf.len() as u64;
        for r in records_of(buf) {
            t.records += 1;
            let cat = r["category"].as_str().unwrap();
            truth::bump(&mut t.records_by_category, cat);
            let p = &r["properties"];
            let id = p[unique_id_field(cat)].as_str().unwrap();
            t.id_digest_sum = t.id_digest_sum.wrapping_add(id_digest(id));
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            if SIGNIN_CATEGORIES.contains(&cat) {
                let code = p["status"]["errorCode"].as_i64().unwrap();
                truth::bump(
                    &mut t.signins_by_outcome,
                    if code == 0 { "success" } else { "failure" },
                );
                *t.signins_by_error_code.entry(code).or_default() += 1;
                if let Some(u) = p["userId"].as_str() {
                    users.insert(u.to_string());
                }
                if matches!(p["riskLevelDuringSignIn"].as_str(), Some("medium" | "high")) {
                    t.risky_signins += 1;
                }
            }
            match cat {
                "AuditLogs" => {
                    let name = s(&p["activityDisplayName"]);
                    truth::bump(&mut t.audit_by_activity, &name);
                    if p["result"] == "failure" {
                        t.audit_failures += 1;
                        continue;
                    }
                    let props: Vec<&Value> = p["targetResources"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|t| t["modifiedProperties"].as_array().unwrap())
                        .collect();
                    let has = |n: &str| props.iter().any(|m| m["displayName"] == n);
                    match name.as_str() {
                        "Change user password" | "Change password (self-service)" => {
                            t.password_changes += 1
                        }
                        "Reset user password"
                        | "Reset password (self-service)"
                        | "Reset password (by admin)" => t.password_resets += 1,
                        "Add member to group" => t.group_member_adds += 1,
                        "Remove member from group" => t.group_member_removes += 1,
                        "Consent to application" => {
                            let admin = props.iter().any(|m| {
                                m["displayName"] == "ConsentContext.IsAdminConsent"
                                    && m["newValue"] == "\"True\""
                            });
                            if admin {
                                t.admin_consents += 1
                            } else {
                                t.user_consents += 1
                            }
                        }
                        "Add member to role" => t.role_assignments += 1,
                        "Remove member from role" => t.role_removals += 1,
                        "Change user license" | "Assign license to group" => {
                            t.license_assignments += 1
                        }
                        "Update application" if has("DisplayName") => t.app_renames += 1,
                        _ => {}
                    }
                }
                "ProvisioningLogs" => {
                    let key = ProvisioningKey {
                        source: s(&p["sourceSystem"]["Name"]),
                        target: s(&p["targetSystem"]["Name"]),
                        action: s(&p["action"]),
                        status: s(&p["provisioningStatusInfo"]["Status"]),
                    };
                    *t.provisioning.entry(key).or_default() += 1;
                }
                "UserRiskEvents" | "ServicePrincipalRiskEvents" => {
                    truth::bump(&mut t.risk_detections_by_type, &s(&p["riskEventType"]));
                }
                "MicrosoftGraphActivityLogs" => {
                    let code = p["responseStatusCode"].as_i64().unwrap();
                    *t.graph_requests_by_status.entry(code).or_default() += 1;
                }
                "AzureADGraphActivityLogs" => {
                    let code = p["httpStatusCode"].as_i64().unwrap();
                    *t.graph_requests_by_status.entry(code).or_default() += 1;
                }
                _ => {}
            }
        }
    }
    // Only user sign-ins carry a user id (workload sign-ins have `userId: null`).
    t.distinct_users_signed_in = users.len() as u64;
    serde_json::to_value(&t).unwrap()
}

#[test]
fn truth_agrees_with_a_recount_of_the_json() {
    let mut g = Generator::new(config(11)).unwrap();
    let envelopes = run(&mut g, 8000);
    let truth = g.truth();
    assert_eq!(serde_json::to_value(truth).unwrap(), recount(&envelopes));
    // The counters are not trivially zero.
    assert!(truth.signins_by_outcome["failure"] > 0);
    assert!(truth.signins_by_outcome["success"] > truth.signins_by_outcome["failure"] * 3);
    assert!(truth.risky_signins > 0);
    assert!(truth.distinct_users_signed_in > 200);
    assert!(!truth.provisioning.is_empty());
    assert!(truth.password_resets + truth.group_member_adds > 0);
    assert_eq!(truth.records, g.records_generated());
}

#[test]
fn ids_are_unique_and_times_monotonic() {
    let mut g = Generator::new(config(12)).unwrap();
    let mut ids = HashSet::new();
    let mut last = String::new();
    for (_, buf) in run(&mut g, 5000) {
        for r in records_of(&buf) {
            let cat = r["category"].as_str().unwrap();
            let id = r["properties"][unique_id_field(cat)].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "duplicate id {id}");
            // ISO-8601 times in one format sort as text.
            let time = r["time"]
                .as_str()
                .or(r["properties"]["timeGenerated"].as_str())
                .unwrap();
            if time.ends_with('Z') {
                assert!(time >= last.as_str(), "{time} < {last}");
                last = time.to_string();
            }
        }
    }
}

#[test]
fn shapes_match_entra() {
    let mut g = Generator::new(config(13)).unwrap();
    let mut names = HashSet::new();
    let mut ipv6 = false;
    for (info, buf) in run(&mut g, 6000) {
        for r in records_of(&buf) {
            let p = &r["properties"];
            match info.category {
                "SignInLogs" | "NonInteractiveUserSignInLogs" => {
                    assert!(p["createdDateTime"].as_str().unwrap().ends_with("+00:00"));
                    assert_eq!(
                        r["resultType"],
                        p["status"]["errorCode"].to_string().as_str()
                    );
                    assert_eq!(p["id"], p["originalRequestId"]);
                    assert_eq!(r["correlationId"], p["correlationId"]);
                    let policies = p["appliedConditionalAccessPolicies"].as_array().unwrap();
                    assert!(policies.len() <= 12);
                    for d in p["authenticationDetails"].as_array().unwrap() {
                        assert!(d["RequestSequence"].is_i64() && d["StatusSequence"].is_i64());
                    }
                    if p["status"]["errorCode"] != 0 {
                        assert!(r["resultDescription"].is_string());
                    }
                    names.insert(p["userDisplayName"].as_str().unwrap().to_string());
                    ipv6 |= p["ipAddress"].as_str().unwrap().contains(':');
                }
                "ServicePrincipalSignInLogs" | "ManagedIdentitySignInLogs" => {
                    assert!(p["userId"].is_null());
                    assert!(!p["servicePrincipalId"].as_str().unwrap().is_empty());
                }
                "UserRiskEvents" | "RiskyUsers" => {
                    let time = r["time"].as_str().unwrap();
                    assert!(time.ends_with(" AM") || time.ends_with(" PM"), "{time}");
                }
                "AzureADGraphActivityLogs" => {
                    assert!(r.get("time").is_none());
                    assert!(p["timeGenerated"].is_string());
                }
                "MicrosoftGraphActivityLogs" => {
                    assert_eq!(p["requestId"], p["operationId"]);
                    assert!(p["responseStatusCode"].is_i64());
                }
                _ => {}
            }
        }
    }
    assert!(names.contains("Jürgen Größ"));
    assert!(ipv6);
}

#[test]
fn poison_messages_are_invalid_as_claimed() {
    for i in 0..POISON_KINDS * 3 {
        let mut buf = Vec::new();
        poison_message(i, &mut buf);
        let mut again = Vec::new();
        poison_message(i, &mut again);
        assert_eq!(buf, again, "deterministic");
        let parsed = serde_json::from_slice::<Value>(&buf);
        let kind = poison_kind_name(i);
        match i % POISON_KINDS {
            0 | 1 | 7 => assert!(parsed.is_err(), "{kind} parsed"),
            2 => assert!(parsed.unwrap()["records"].is_object(), "{kind}"),
            k => {
                let v = parsed.unwrap_or_else(|e| panic!("{kind}: {e}"));
                let records = v["records"].as_array().unwrap();
                assert_eq!(records.len(), 1);
                let r = &records[0];
                match k {
                    3 => {
                        let p = r["properties"].as_str().expect(kind);
                        assert!(serde_json::from_str::<Value>(p).unwrap().is_object());
                    }
                    4 => assert!(r["properties"].is_number(), "{kind}"),
                    5 => assert!(r["time"].is_number(), "{kind}"),
                    6 => {
                        assert!(r.get("category").is_none() && r.get("Category").is_none());
                        assert!(r["properties"].is_object());
                    }
                    _ => unreachable!(),
                }
            }
        }
        if i % POISON_KINDS == 7 {
            // The good records around the broken one are themselves valid JSON.
            let text = String::from_utf8(buf).unwrap();
            let first = &text
                ["{\"records\":[".len()..text.find(",{\"time\":\"2025-01-06T08:00:01").unwrap()];
            assert!(serde_json::from_str::<Value>(first).unwrap().is_object());
        }
    }
    assert_eq!(poison_kind_name(0), poison_kind_name(POISON_KINDS));
}

#[test]
fn truth_serializes() {
    let mut g = Generator::new(config(14)).unwrap();
    run(&mut g, 2000);
    let v = serde_json::to_value(g.truth()).unwrap();
    assert!(v["provisioning"].is_array());
    assert!(v.get("users_seen").is_none());
}

/// Pins the exact output of the default configuration, so a change of dependency, platform or
/// code that alters the bytes is noticed. If the output is changed on purpose, update the value.
#[test]
fn default_output_is_pinned() {
    let mut g = Generator::new(GeneratorConfig::default()).unwrap();
    let mut out = Vec::new();
    for _ in 0..30 {
        g.next_envelope(&mut out);
    }
    let digest = rng::fnv1a(&out);
    assert_eq!(
        (out.len(), digest),
        (3_651_956, 7_046_502_715_342_237_296),
        "default generator output changed (update this pin if intended)"
    );
}
