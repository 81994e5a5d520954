//! `entrastream report` contract: every question id, the exact top-level JSON shape, unparsed
//! records counted, and the other formats.

use std::process::Command;

use entrastream_generator::{Generator, GeneratorConfig};

const IDS: [&str; 20] = [
    "signin_pattern",
    "users_signed_in",
    "signin_status",
    "app_usage",
    "user_update_types",
    "users_changed",
    "passwords_changed",
    "admin_actions",
    "groups_added",
    "group_membership_changes",
    "group_owner_changes",
    "licenses_assigned",
    "apps_added_or_updated",
    "apps_removed",
    "service_principal_changes",
    "app_renames",
    "consent_grants",
    "provisioning_outcomes",
    "risk",
    "graph_activity",
];

fn input(dir: &std::path::Path) -> std::path::PathBuf {
    let mut generator = Generator::new(GeneratorConfig::default()).unwrap();
    let mut body = Vec::new();
    for _ in 0..300 {
        generator.next_envelope(&mut body);
        body.push(b'\n');
    }
    body.extend_from_slice(
        b"{\"records\":[{\"category\":\"SignInLogs\",\"properties\":\"oops\"}]}\n",
    );
    let path = dir.join("input.ndjson");
    std::fs::write(&path, body).unwrap();
    path
}

fn report(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .arg("report")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_has_every_question_and_the_exact_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = input(dir.path());
    let out = report(&["--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "unparsed records give exit 3");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["questions", "records", "window"]);
    assert!(v["window"].is_object());
    assert!(v["records"].as_u64().unwrap() > 1000);
    assert_eq!(v["window"]["records_unparsed"], 1);
    let qs = v["questions"].as_array().unwrap();
    let ids: Vec<&str> = qs.iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, IDS);
    for q in qs {
        let keys: Vec<&String> = q.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["answer", "id", "question"]);
        assert!(q["question"].as_str().unwrap().ends_with('?'));
        assert!(q["answer"].is_object());
    }
    assert_eq!(qs[0]["question"], "What is the sign-in pattern of a user?");
}

#[test]
fn user_filter_and_other_formats() {
    let dir = tempfile::tempdir().unwrap();
    let path = input(dir.path());
    let p = path.to_str().unwrap();
    let json = report(&["--format", "json", "--user", "nobody@nowhere.example", p]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["records"], 0);
    assert_eq!(v["questions"].as_array().unwrap().len(), IDS.len());
    for q in v["questions"].as_array().unwrap() {
        assert_eq!(q["answer"], serde_json::json!({}), "{}", q["id"]);
    }
    let csv = String::from_utf8(report(&["--format", "csv", p]).stdout).unwrap();
    let md = String::from_utf8(report(&["--format", "markdown", p]).stdout).unwrap();
    let text = String::from_utf8(report(&[p]).stdout).unwrap();
    for id in IDS {
        assert!(csv.contains(&format!("# {id}\n")), "{id}");
        assert!(md.contains(&format!("`{id}`")), "{id}");
        assert!(text.contains(&format!("[{id}]")), "{id}");
    }
    let bad = report(&["--since", "yesterday", p]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}
