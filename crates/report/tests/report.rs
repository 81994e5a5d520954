//! The report's answers on real sample records and on generator output with known truth.

use std::collections::BTreeMap;
use std::path::PathBuf;

use entrastream_entra::{ParseOptions, parse_record, split};
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_report::{Cell, Report, ReportOptions, ReportOutput, Table};

fn feed(report: &mut Report, body: &[u8]) {
    for item in split(body) {
        match item.and_then(|s| parse_record(s, &ParseOptions::default())) {
            Ok(r) => report.observe(&r),
            Err(e) => report.observe_dead_letter(e.reason_code()),
        }
    }
}

fn all_rows() -> ReportOptions {
    ReportOptions {
        top_n: 1_000_000,
        ..ReportOptions::default()
    }
}

fn int(c: &Cell) -> u64 {
    c.as_int().unwrap_or_else(|| panic!("not a count: {c:?}"))
}

fn fact(out: &ReportOutput, q: &str, f: &str) -> u64 {
    out.answer(q)
        .and_then(|a| a.get_fact(f))
        .map(int)
        .unwrap_or(0)
}

fn table<'a>(out: &'a ReportOutput, q: &str, t: &str) -> &'a Table {
    out.answer(q)
        .and_then(|a| a.get_table(t))
        .unwrap_or_else(|| panic!("{q}.{t} missing"))
}

fn col(t: &Table, name: &str) -> usize {
    t.columns.iter().position(|c| *c == name).unwrap()
}

#[test]
fn generator_answers_match_truth() {
    let mut generator = Generator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    })
    .unwrap();
    let mut report = Report::new(all_rows());
    let mut buf = Vec::new();
    for _ in 0..4000 {
        buf.clear();
        generator.next_envelope(&mut buf);
        feed(&mut report, &buf);
    }
    let truth = generator.truth().clone();
    let out = report.finish();
    assert_eq!(out.records, truth.records);
    assert_eq!(out.window.records_unparsed, 0);

    // Sign-ins: success and non-success over every sign-in category; codes exactly.
    let by_kind = table(&out, "signin_status", "by_kind");
    let sum = |c: &str| -> u64 { by_kind.rows.iter().map(|r| int(&r[col(by_kind, c)])).sum() };
    assert_eq!(sum("success"), truth.signins_by_outcome["success"]);
    assert_eq!(
        sum("failure") + sum("interrupted"),
        truth.signins_by_outcome["failure"]
    );
    assert_eq!(sum("unknown"), 0);
    let codes = table(&out, "signin_status", "top_error_codes");
    let got: BTreeMap<i64, u64> = codes
        .rows
        .iter()
        .map(|r| {
            (
                r[0].display().parse().unwrap(),
                int(&r[col(codes, "count")]),
            )
        })
        .collect();
    let want: BTreeMap<i64, u64> = truth
        .signins_by_error_code
        .iter()
        .filter(|(c, _)| **c != 0)
        .map(|(c, n)| (*c, *n))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        fact(&out, "users_signed_in", "distinct_users"),
        truth.distinct_users_signed_in
    );

    // Audits.
    assert_eq!(
        fact(&out, "passwords_changed", "changes"),
        truth.password_changes
    );
    assert_eq!(
        fact(&out, "passwords_changed", "resets"),
        truth.password_resets
    );
    assert_eq!(
        fact(&out, "group_membership_changes", "members_added"),
        truth.group_member_adds
    );
    assert_eq!(
        fact(&out, "group_membership_changes", "members_removed"),
        truth.group_member_removes
    );
    assert_eq!(
        fact(&out, "consent_grants", "admin_consents"),
        truth.admin_consents
    );
    assert_eq!(
        fact(&out, "consent_grants", "user_consents"),
        truth.user_consents
    );
    assert_eq!(
        fact(&out, "licenses_assigned", "to_users") + fact(&out, "licenses_assigned", "to_groups"),
        truth.license_assignments
    );
    assert_eq!(fact(&out, "app_renames", "renames"), truth.app_renames);
    let acts = table(&out, "admin_actions", "activities");
    let got: BTreeMap<String, u64> = acts
        .rows
        .iter()
        .map(|r| (r[0].display(), int(&r[2]) + int(&r[3])))
        .collect();
    assert_eq!(got, truth.audit_by_activity);
    let failures: u64 = acts.rows.iter().map(|r| int(&r[3])).sum();
    assert_eq!(failures, truth.audit_failures);

    // Provisioning, summed over object types.
    let got: BTreeMap<(String, String, String, String), u64> =
        report.provisioning_totals().into_iter().collect();
    let want: BTreeMap<(String, String, String, String), u64> = truth
        .provisioning
        .iter()
        .map(|(k, n)| {
            (
                (
                    k.source.clone(),
                    k.target.clone(),
                    k.action.clone(),
                    k.status.clone(),
                ),
                *n,
            )
        })
        .collect();
    assert_eq!(got, want);

    // Every question the issue lists has an answer on generator output.
    for q in &out.questions {
        assert!(
            !q.answer.is_empty(),
            "{} has no answer on generator output",
            q.id
        );
    }
}

/// The shared sample corpus, read at run time (it is not ours to copy into the repo).
fn samples() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "sample corpus missing at {} (required when CI=true)",
            dir.display()
        );
    }
    eprintln!("SKIPPED: sample corpus not found at {}", dir.display());
    None
}

fn report_on(dir: &std::path::Path, files: &[&str]) -> ReportOutput {
    let mut report = Report::new(all_rows());
    for f in files {
        let body = std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        feed(&mut report, &body);
    }
    report.finish()
}

#[test]
fn sample_audits_land_in_the_right_answers() {
    let Some(dir) = samples() else { return };
    let out = report_on(
        &dir,
        &[
            "elastic-integrations/auditlogs/test-audit-logs-sample.log",
            "elastic-integrations/auditlogs/test-auditlogs-raw.log",
            "elastic-integrations/auditlogs/test-audit-logs-edgecases.log",
            "elastic-integrations/auditlogs/test-auditlogs-result-description.log",
            "elastic-integrations/auditlogs/test-auditlogs-result-reason.log",
            "other/elastic-beats/auditlogs/audit_log.json",
            "other/elastic-beats/auditlogs/auditlogs_ipv6.log",
        ],
    );
    // "Remove owner from group": the group's name comes from Group.DisplayName.
    let owners = table(&out, "group_owner_changes", "groups");
    assert!(
        owners
            .rows
            .iter()
            .any(|r| r[0] == Cell::text("Redacted Name") && r[2] == Cell::Int(1)),
        "{owners:?}"
    );
    assert!(
        fact(&out, "users_changed", "users_changed") >= 1,
        "Add user is a user change"
    );
    let sp = out.answer("service_principal_changes").unwrap();
    assert!(
        sp.get_fact("service_principal_updated")
            .map(int)
            .unwrap_or(0)
            >= 1
    );
    assert!(
        sp.get_fact("service_principal_credentials_changed")
            .map(int)
            .unwrap_or(0)
            >= 1
    );
    let admins = table(&out, "admin_actions", "activities");
    for name in ["Add member to role", "Update device", "Update policy"] {
        assert!(
            admins.rows.iter().any(|r| r[0] == Cell::text(name)),
            "{name}"
        );
    }
    assert_eq!(out.window.records_unparsed, 0);
}

#[test]
fn sample_signins_and_provisioning() {
    let Some(dir) = samples() else { return };
    let out = report_on(
        &dir,
        &[
            "elastic-integrations/signinlogs/test-signinlogs-raw.log",
            "elastic-integrations/signinlogs/test-non-interactive-user-signin.log",
            "elastic-integrations/signinlogs/test-service-principal.log",
            "elastic-integrations/signinlogs/test-adfs-signin.log",
            "other/elastic-beats/signinlogs/test-managed-identity.log",
            "elastic-integrations/provisioning/test-provisioninglogs-raw.log",
        ],
    );
    let by_kind = table(&out, "signin_status", "by_kind");
    let kinds: Vec<String> = by_kind.rows.iter().map(|r| r[0].display()).collect();
    assert!(kinds.contains(&"user".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"service_principal".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"managed_identity".to_owned()), "{kinds:?}");
    // 7000222 (expired client secret) is a service principal failure, not a user's.
    let codes = table(&out, "signin_status", "top_error_codes");
    let row = codes
        .rows
        .iter()
        .find(|r| r[0] == Cell::text("7000222"))
        .expect("7000222");
    assert_eq!(row[col(codes, "users")], Cell::Int(0));
    assert!(int(&row[col(codes, "service_principals")]) >= 1);
    // 50140 ("keep me signed in" interrupt) is an interruption.
    if let Some(r) = codes.rows.iter().find(|r| r[0] == Cell::text("50140")) {
        assert_eq!(r[1], Cell::text("interrupted"));
    }
    let prov = table(&out, "provisioning_outcomes", "outcomes");
    let statuses: Vec<String> = prov
        .rows
        .iter()
        .map(|r| r[col(prov, "status")].display())
        .collect();
    for s in ["success", "skipped", "failure"] {
        assert!(statuses.contains(&s.to_owned()), "{s} in {statuses:?}");
    }
    assert!(
        prov.rows
            .iter()
            .any(|r| r[1] == Cell::text("Contoso") && r[4] == Cell::text("failure"))
    );
}

/// Risk and Graph answers against the generator's records, recounted here from the emitted JSON
/// with serde_json (not with the parser the report uses), and against the generator's truth.
#[test]
fn risk_and_graph_answers_match_the_generated_records() {
    use std::collections::BTreeSet;
    let mut generator = Generator::new(GeneratorConfig {
        seed: 11,
        ..GeneratorConfig::default()
    })
    .unwrap();
    let mut report = Report::new(all_rows());
    // (latest riskLastUpdatedDateTime, level, state) per risky user / service principal.
    let mut users: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut sps: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut detections_by_level: BTreeMap<String, u64> = BTreeMap::new();
    let mut detection_identities: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // (api, appId) → (requests, failed); failing status → requests.
    let mut apps: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let mut failing: BTreeMap<String, u64> = BTreeMap::new();
    let mut graph_requests = 0u64;
    let mut buf = Vec::new();
    for _ in 0..4000 {
        buf.clear();
        generator.next_envelope(&mut buf);
        feed(&mut report, &buf);
        let env: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        for rec in env["records"].as_array().unwrap() {
            let p = &rec["properties"];
            let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
            match rec["category"].as_str().unwrap() {
                c @ ("RiskyUsers" | "RiskyServicePrincipals") => {
                    let (map, who) = if c == "RiskyUsers" {
                        (&mut users, s("userPrincipalName"))
                    } else {
                        (&mut sps, s("displayName"))
                    };
                    let new = (s("riskLastUpdatedDateTime"), s("riskLevel"), s("riskState"));
                    // Same-width ISO times: text order is time order; a tie goes to the later.
                    if map.get(&who).is_none_or(|old| old.0 <= new.0) {
                        map.insert(who, new);
                    }
                }
                c @ ("UserRiskEvents" | "ServicePrincipalRiskEvents") => {
                    *detections_by_level.entry(s("riskLevel")).or_insert(0) += 1;
                    let who = if c == "UserRiskEvents" {
                        s("userPrincipalName")
                    } else {
                        s("servicePrincipalDisplayName")
                    };
                    detection_identities
                        .entry(s("riskEventType"))
                        .or_default()
                        .insert(who);
                }
                c @ ("MicrosoftGraphActivityLogs" | "AzureADGraphActivityLogs") => {
                    graph_requests += 1;
                    let api = if c == "MicrosoftGraphActivityLogs" {
                        "Microsoft Graph"
                    } else {
                        "Azure AD Graph"
                    };
                    let status = p["responseStatusCode"]
                        .as_i64()
                        .or(p["httpStatusCode"].as_i64())
                        .unwrap();
                    let e = apps.entry((api.to_owned(), s("appId"))).or_insert((0, 0));
                    e.0 += 1;
                    if status >= 400 {
                        e.1 += 1;
                        *failing.entry(status.to_string()).or_insert(0) += 1;
                    }
                }
                _ => {}
            }
        }
    }
    let truth = generator.truth().clone();
    let out = report.finish();
    assert!(!users.is_empty() && !sps.is_empty() && graph_requests > 0);

    // Risky users and service principals: one row each, with the newest state.
    let at_risk = |m: &BTreeMap<String, (String, String, String)>| {
        m.values()
            .filter(|v| v.2 == "atRisk" || v.2 == "confirmedCompromised")
            .count() as u64
    };
    assert_eq!(fact(&out, "risk", "risky_users"), users.len() as u64);
    assert_eq!(fact(&out, "risk", "users_at_risk"), at_risk(&users));
    assert_eq!(
        fact(&out, "risk", "risky_service_principals"),
        sps.len() as u64
    );
    assert_eq!(
        fact(&out, "risk", "service_principals_at_risk"),
        at_risk(&sps)
    );
    for (t, want) in [("risky_users", &users), ("risky_service_principals", &sps)] {
        let t = table(&out, "risk", t);
        let got: BTreeMap<String, (String, String)> = t
            .rows
            .iter()
            .map(|r| (r[0].display(), (r[1].display(), r[2].display())))
            .collect();
        let want: BTreeMap<String, (String, String)> = want
            .iter()
            .map(|(k, v)| (k.clone(), (v.1.clone(), v.2.clone())))
            .collect();
        assert_eq!(got, want);
    }

    // Detections: by type (the generator's truth), by level, and who.
    let detections: u64 = truth.risk_detections_by_type.values().sum();
    assert_eq!(fact(&out, "risk", "detections"), detections);
    for level in ["high", "medium", "low"] {
        assert_eq!(
            fact(&out, "risk", &format!("{level}_detections")),
            detections_by_level.get(level).copied().unwrap_or(0),
            "{level}"
        );
    }
    let by_type = table(&out, "risk", "detections_by_type");
    let got: BTreeMap<String, u64> = by_type
        .rows
        .iter()
        .map(|r| (r[0].display(), int(&r[col(by_type, "count")])))
        .collect();
    assert_eq!(got, truth.risk_detections_by_type);
    for r in &by_type.rows {
        assert_eq!(
            int(&r[col(by_type, "distinct_identities")]),
            detection_identities[&r[0].display()].len() as u64,
            "{}",
            r[0].display()
        );
    }
    let recent = table(&out, "risk", "recent_detections");
    assert_eq!(recent.rows.len() as u64, detections.min(1_000_000));
    assert!(
        recent
            .rows
            .windows(2)
            .all(|w| w[0][0].display() >= w[1][0].display()),
        "newest first"
    );

    // Graph activity: per app, failures by status (the generator's truth).
    assert_eq!(fact(&out, "graph_activity", "requests"), graph_requests);
    assert_eq!(
        graph_requests,
        truth.graph_requests_by_status.values().sum::<u64>()
    );
    let failed: u64 = failing.values().sum();
    assert_eq!(fact(&out, "graph_activity", "failed_requests"), failed);
    let t = table(&out, "graph_activity", "apps");
    let got: BTreeMap<(String, String), (u64, u64)> = t
        .rows
        .iter()
        .map(|r| {
            (
                (r[col(t, "api")].display(), r[0].display()),
                (int(&r[col(t, "requests")]), int(&r[col(t, "failed")])),
            )
        })
        .collect();
    assert_eq!(got, apps);
    // The endpoint rows of each app add up to the app's requests.
    let e = table(&out, "graph_activity", "app_endpoints");
    let mut sums: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for r in &e.rows {
        let s = sums
            .entry((r[col(e, "api")].display(), r[0].display()))
            .or_insert((0, 0));
        s.0 += int(&r[col(e, "requests")]);
        s.1 += int(&r[col(e, "failed")]);
    }
    assert_eq!(sums, apps);
    let s = table(&out, "graph_activity", "failures_by_status");
    let got: BTreeMap<String, u64> = s
        .rows
        .iter()
        .map(|r| (r[0].display(), int(&r[1])))
        .collect();
    assert_eq!(got, failing);
    let want: BTreeMap<String, u64> = truth
        .graph_requests_by_status
        .iter()
        .filter(|(s, _)| **s >= 400)
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    assert_eq!(got, want);
}
