//! ECS output against Elastic's own: for each `*-expected.json` in the Elastic samples, the
//! matching `.log` is parsed and encoded as `ecs`, and every leaf field Elastic's document sets
//! must be equal in ours, except the documented differences in `ALLOWED` below
//! (`docs/schema-ecs-ocsf.md` explains each). Also encodes every sample record as ECS and checks
//! that the output is one valid JSON object.
//!
//! The samples are read from `../shared/samples` at run time (Elastic License 2.0: not copied
//! into this repository). Outside CI the tests skip with a visible message when it is absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use entrastream_entra::{
    EncodeContext, ParseOptions, Schema, Timestamp, encode, parse_record, split,
};
use serde_json::Value;

/// Fields Elastic's expected documents set that we deliberately do not, with the reason. Each
/// entry is a row of "Deliberate differences from Elastic" in `docs/schema-ecs-ocsf.md`; a path
/// ending in `.` covers everything under it.
const ALLOWED: &[(&str, &str)] = &[
    (
        "event.original",
        "copy of the raw input, kept by Elastic only when `preserve_original_event` is on",
    ),
    (
        "tags",
        "`preserve_original_event` comes from the test's integration settings",
    ),
    // GeoIP and ASN lookups are Elasticsearch processors we leave to Elasticsearch.
    ("source.geo.", "GeoIP processor in Elasticsearch"),
    ("source.as.", "ASN lookup processor in Elasticsearch"),
    ("client.geo.", "GeoIP processor in Elasticsearch"),
    ("client.as.", "ASN lookup processor in Elasticsearch"),
    // The `user_agent` processor parses the string in Elasticsearch; we set only `original`.
    ("user_agent.name", "user-agent parsing in Elasticsearch"),
    ("user_agent.version", "user-agent parsing in Elasticsearch"),
    ("user_agent.device.", "user-agent parsing in Elasticsearch"),
    ("user_agent.os.", "user-agent parsing in Elasticsearch"),
];

fn samples_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is missing: CI must have ../shared/samples",
            dir.display()
        );
    }
    eprintln!(
        "SKIPPED: {} not found; ECS conformance not checked",
        dir.display()
    );
    None
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn ctx() -> EncodeContext {
    EncodeContext {
        ingest_time: Timestamp::from_unix(1_700_000_000, 0).unwrap(),
    }
}

/// Encodes every record of `body` as ECS; records that do not parse are skipped.
fn encode_all(body: &[u8]) -> Vec<Value> {
    let mut docs = Vec::new();
    for slice in split(body) {
        let Ok(record) = slice.and_then(|s| parse_record(s, &ParseOptions::default())) else {
            continue;
        };
        let mut out = Vec::new();
        encode(Schema::Ecs, &record, &ctx(), &mut out).unwrap();
        let doc: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&out)));
        docs.push(doc);
    }
    docs
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn allowed(path: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(p, _)| path == *p || (p.ends_with('.') && path.starts_with(p)))
}

/// Numbers compare by value (Elastic writes `48.0` where the input had `48`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

#[test]
fn ecs_matches_elastic_expected_output() {
    let Some(dir) = samples_dir() else { return };
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    let expected: Vec<_> = files
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("-expected.json"))
        .collect();
    assert!(
        !expected.is_empty(),
        "no *-expected.json under {}",
        dir.display()
    );
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for exp_path in &expected {
        let before = compared;
        let input = PathBuf::from(
            exp_path
                .to_string_lossy()
                .trim_end_matches("-expected.json"),
        );
        let exp: Value = serde_json::from_slice(&std::fs::read(exp_path).unwrap()).unwrap();
        let exp_docs = exp["expected"].as_array().expect("`expected` array");
        let ours = encode_all(&std::fs::read(&input).unwrap());
        assert_eq!(
            ours.len(),
            exp_docs.len(),
            "{}: record count",
            input.display()
        );
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        for (i, (theirs, ours)) in exp_docs.iter().zip(&ours).enumerate() {
            let (mut t, mut o) = (BTreeMap::new(), BTreeMap::new());
            flatten("", theirs, &mut t);
            flatten("", ours, &mut o);
            for (path, tv) in &t {
                if allowed(path) {
                    continue;
                }
                compared += 1;
                match o.get(path) {
                    Some(ov) if same(ov, tv) => {}
                    Some(ov) => {
                        mismatches.push(format!("{name}[{i}] {path}: elastic {tv}, ours {ov}"))
                    }
                    None => {
                        mismatches.push(format!("{name}[{i}] {path}: elastic {tv}, ours missing"))
                    }
                }
            }
        }
        eprintln!(
            "ECS conformance: {} fields compared in {}",
            compared - before,
            exp_path.strip_prefix(&dir).unwrap_or(exp_path).display()
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} fields differ from Elastic:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    eprintln!(
        "ECS conformance: {compared} fields of {} expected files equal",
        expected.len()
    );
}

#[test]
fn every_sample_record_encodes_to_one_ecs_json_object() {
    let Some(dir) = samples_dir() else { return };
    let mut files = Vec::new();
    files_under(&dir, &mut files);
    let mut n = 0;
    for f in files {
        let name = f.to_string_lossy();
        if !(name.ends_with(".log") || name.ends_with(".json")) || name.ends_with("-expected.json")
        {
            continue;
        }
        for doc in encode_all(&std::fs::read(&f).unwrap()) {
            assert!(doc.is_object(), "{name}: {doc}");
            assert!(
                doc.get("@timestamp").is_some(),
                "{name}: no @timestamp in {doc}"
            );
            assert_eq!(doc["ecs"]["version"], "8.11.0");
            n += 1;
        }
    }
    assert!(n > 100, "only {n} sample records encoded");
    eprintln!("ECS: {n} sample records encoded to valid JSON");
}
