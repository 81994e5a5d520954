//! Runs the parser over every record of the public sample corpus in `../shared/samples`
//! (Elastic License 2.0 files are read here at run time, never copied into this repository).
//! Outside CI the test skips with a visible message when the folder is absent.

use std::path::{Path, PathBuf};

use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};
use serde_json::Value;

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
    eprintln!("SKIPPED: sample corpus not found at {}", dir.display());
    None
}

/// Every input file of the corpus: `.log` (NDJSON) and `.json` (envelopes), not the expected
/// outputs or pipeline definitions.
fn sample_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                stack.push(path);
            } else if (name.ends_with(".log") || name.ends_with(".json"))
                && !name.ends_with("-expected.json")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_sample_record_parses_and_encodes_losslessly() {
    let Some(dir) = samples_dir() else { return };
    let files = sample_files(&dir);
    assert!(
        files.len() >= 40,
        "expected the whole corpus, found {} files",
        files.len()
    );
    let (mut parsed, mut with_properties) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let body = std::fs::read(file).unwrap();
        for item in split(&body) {
            let record = match item.and_then(|s| parse_record(s, &ParseOptions::default())) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{}: {e}", file.display()));
                    continue;
                }
            };
            parsed += 1;
            let input: Value = serde_json::from_slice(record.raw()).unwrap();
            if input.get("properties").is_some_and(Value::is_object) {
                with_properties += 1;
            }
            for schema in Schema::ALL {
                let mut out = Vec::new();
                encode(schema, &record, &EncodeContext::default(), &mut out).unwrap();
                let doc: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
                    panic!(
                        "{} {schema}: invalid JSON ({e}): {}",
                        file.display(),
                        String::from_utf8_lossy(&out)
                    )
                });
                match schema {
                    Schema::Raw => assert_eq!(out, record.raw(), "raw must be byte-exact"),
                    Schema::Native => {
                        if let Err(why) = lossless::check(&input, &doc) {
                            failures.push(format!("{}: native lost data: {why}", file.display()));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    eprintln!(
        "corpus: {} files, {parsed} records parsed, {with_properties} with properties",
        files.len()
    );
    // Records without an Entra category are the only ones allowed to fail: routing tests and
    // the otel corner cases carry other Azure services' shapes.
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        with_properties >= 66,
        "the corpus has 66 full Entra records, parsed {with_properties}"
    );
}

#[path = "support/lossless.rs"]
mod lossless;
