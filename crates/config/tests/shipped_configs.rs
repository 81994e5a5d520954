//! Every configuration the project ships (`config/*.toml`, and every `entrastream.toml` or
//! other config under `deploy/`) loads and validates unchanged. The files are found, not
//! listed, so a new overlay is covered the day it is added.

use std::path::{Path, PathBuf};

use entrastream_config::{Config, Env};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// TOML files under `dir` (recursively) that hold an entrastream config (a `[source]`,
/// `[[sinks]]` or `[dead_letter]` table).
fn configs_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            configs_under(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if text
                .lines()
                .any(|l| matches!(l.trim(), "[source]" | "[[sinks]]" | "[dead_letter]"))
            {
                out.push(path);
            }
        }
    }
}

/// The secrets the shipped files reference by `_env`, as a deployment provides them.
fn env() -> Env {
    Env::from_pairs([
        (
            "EVENTHUB_CONNECTION_STRING",
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=KEY;EntityPath=entra-logs",
        ),
        (
            "CHECKPOINT_STORAGE_CONNECTION_STRING",
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=KEY;EndpointSuffix=core.windows.net",
        ),
        ("SPLUNK_HEC_TOKEN", "token"),
        (
            "ARCHIVE_STORAGE_CONNECTION_STRING",
            "AccountName=contosoarchive;AccountKey=c2VjcmV0",
        ),
        (
            "SUMO_HTTP_SOURCE_URL",
            "https://collectors.sumologic.com/receiver/v1/http/TOKEN",
        ),
    ])
}

#[test]
fn every_shipped_config_loads_and_validates() {
    let mut files = Vec::new();
    configs_under(&repo().join("config"), &mut files);
    configs_under(&repo().join("deploy"), &mut files);
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(repo()).unwrap_or(f).display().to_string())
        .collect();
    // The four the issue names, and the overlays' (found by content, at least these).
    for expected in [
        "config/entrastream.example.toml",
        "config/kafka-endpoint.toml",
        "config/amqp.toml",
        "config/demo.toml",
        "deploy/base/entrastream.toml",
        "deploy/overlays/amqp/entrastream.toml",
        "deploy/overlays/kafka-endpoint/entrastream.toml",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(expected)),
            "{expected} not found among {names:?}"
        );
    }
    for file in &files {
        let config =
            Config::load(file, &env()).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!config.sinks.is_empty(), "{}: no [[sinks]]", file.display());
        // What `check-config` prints loads again to the same thing.
        let printed = config.to_toml();
        let again = Config::from_str(&printed, false, &env())
            .unwrap_or_else(|e| panic!("{} printed:\n{printed}\n{e}", file.display()));
        assert_eq!(again.to_toml(), printed, "{}", file.display());
    }
}

/// The commented `[[sinks]]` example of `type` in the example config, uncommented: its lines
/// from `# [[sinks]]` to the next blank line, without their leading `# `.
fn commented_example(text: &str, sink_type: &str) -> String {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.trim() == "# [[sinks]]" {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            if line.trim().is_empty() {
                blocks.push(current.take().unwrap_or_default());
                continue;
            }
            block.push_str(line.strip_prefix("# ").unwrap_or(line));
            block.push('\n');
        }
    }
    blocks.extend(current);
    blocks
        .into_iter()
        .find(|b| b.contains(&format!("type = \"{sink_type}\"")))
        .unwrap_or_else(|| panic!("no commented {sink_type} example"))
}

#[test]
fn the_commented_syslog_example_loads_when_uncommented() {
    let path = repo().join("config/entrastream.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let example = commented_example(&text, "syslog");
    let config = Config::from_str(&format!("{text}\n{example}"), false, &env())
        .unwrap_or_else(|e| panic!("the syslog example:\n{example}\n{e}"));
    let printed = config.to_toml();
    for key in [
        "type = \"syslog\"",
        "transport = \"tls\"",
        "framing = \"octet_counting\"",
        "format = \"cef\"",
        "key_file_env = \"SYSLOG_CLIENT_KEY_PATH\"",
    ] {
        assert!(printed.contains(key), "{key} missing from\n{printed}");
    }
}

#[test]
fn the_commented_azure_blob_example_loads_when_uncommented() {
    let path = repo().join("config/entrastream.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let example = commented_example(&text, "azure_blob");
    let config = Config::from_str(&format!("{text}\n{example}"), false, &env())
        .unwrap_or_else(|e| panic!("the azure_blob example:\n{example}\n{e}"));
    let printed = config.to_toml();
    for key in [
        "type = \"azure_blob\"",
        "account_url = \"https://contosoarchive.blob.core.windows.net\"",
        "compression = \"none\"",
    ] {
        assert!(printed.contains(key), "{key} missing from\n{printed}");
    }
    assert!(
        !printed.contains("c2VjcmV0"),
        "the secret is printed:\n{printed}"
    );
}
