//! The `parse` and `generate` command-line contract: output lines, dead-letter lines, summary,
//! exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn entrastream(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn good_input_exits_0_with_one_line_per_record_and_a_summary() {
    let body = br#"{"records":[{"category":"AuditLogs","properties":{"id":"1"}},{"category":"SignInLogs","properties":{}}]}"#;
    let out = entrastream(&["parse"], body);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["schema_version"], "1");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("records 2, dead-lettered 0"), "{stderr}");
    assert!(
        stderr.contains("AuditLogs 1") && stderr.contains("SignInLogs 1"),
        "{stderr}"
    );
}

#[test]
fn bad_records_are_dead_lettered_with_offset_source_and_raw_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.ndjson");
    let dead = dir.path().join("dead.ndjson");
    std::fs::write(
        &input,
        "{\"category\":\"AuditLogs\"}\nnot json\n{\"records\":[{\"category\":\"SignInLogs\",\"properties\":\"x\"},{\"category\":\"AuditLogs\"}]}\n",
    )
    .unwrap();
    let out = entrastream(
        &[
            "parse",
            "--schema",
            "raw",
            "--dead-letter",
            dead.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    let records = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dead)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Records out + dead-lettered = records in.
    assert_eq!(records + dead.len(), 4);
    assert_eq!(dead[0]["raw"], "not json");
    assert_eq!(dead[0]["offset"], 25);
    assert_eq!(dead[0]["source"], input.to_str().unwrap());
    assert!(dead[1]["error"].as_str().unwrap().contains("properties"));
    assert_eq!(dead[1]["category"], "SignInLogs");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("records 2, dead-lettered 2"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        entrastream(&["parse", "--schema", "xml"], b"")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        entrastream(&["parse", "--bogus"], b"").status.code(),
        Some(2)
    );
    let out = entrastream(&["parse", "--schema", "xml"], b"");
    assert!(String::from_utf8_lossy(&out.stderr).contains("raw, native, ecs, ocsf"));
}

#[test]
fn every_schema_writes_json_lines() {
    let body = br#"{"category":"AuditLogs","time":"2024-01-01T00:00:00Z","properties":{"result":"success"}}"#;
    for schema in ["raw", "native", "ecs", "ocsf"] {
        let out = entrastream(&["parse", "--schema", schema], body);
        assert_eq!(out.status.code(), Some(0), "{schema}");
        let line = out.stdout.split(|b| *b == b'\n').next().unwrap();
        serde_json::from_slice::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn generate_is_deterministic_and_parses_cleanly() {
    let a = entrastream(&["generate", "--messages", "20", "--seed", "9"], b"");
    let b = entrastream(&["generate", "--messages", "20", "--seed", "9"], b"");
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout.iter().filter(|b| **b == b'\n').count(), 20);
    let parsed = entrastream(&["parse"], &a.stdout);
    assert_eq!(
        parsed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let bad = entrastream(&["generate", "--categories", "NoSuchLogs"], b"");
    assert_ne!(bad.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SignInLogs"));
}
