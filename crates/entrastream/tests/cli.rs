//! Command-line contract: `check-config` and `run` exit codes, key paths on stderr, secrets
//! never printed.

use std::process::Command;

const SECRET: &str = "CLI-TOP-SECRET-51d2";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_entrastream"))
}

fn write(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("entrastream.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn valid() -> String {
    r#"
[source]
type = "kafka"
connection_string_env = "EVENTHUB_CONNECTION_STRING"
consumer_group = "entrastream"
start_position = "earliest"

[[sinks]]
name = "archive"
type = "file"
path = "/tmp/entrastream-cli/records.ndjson"
schema = "native"
categories = ["SignInLogs", "AuditLogs"]

[dead_letter]
path = "/tmp/entrastream-cli/dead-letter.ndjson"

[admin]
listen = "127.0.0.1:9464"
"#
    .to_string()
}

fn cs() -> String {
    format!(
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey={SECRET};EntityPath=hub"
    )
}

#[test]
fn check_config_valid_prints_effective_config_with_secrets_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let text = valid().replace(
        "connection_string_env = \"EVENTHUB_CONNECTION_STRING\"",
        &format!("connection_string = {:?}", cs()),
    );
    let out = bin()
        .args(["check-config", "--config"])
        .arg(write(dir.path(), &text))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connection_string = \"***\""), "{stdout}");
    assert!(!stdout.contains(SECRET));
    assert!(stdout.contains("checkpoint_interval = \"5s\""));
}

fn expect_invalid(text: &str, env: &[(&str, String)], path: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), text);
    for cmd in ["check-config", "run"] {
        let mut c = bin();
        c.args([cmd, "--config"])
            .arg(&cfg)
            .env_remove("EVENTHUB_CONNECTION_STRING");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {stderr}");
        assert!(
            stderr.contains(path),
            "{cmd}: stderr does not name {path}: {stderr}"
        );
        assert!(!stderr.contains(SECRET), "{cmd}: secret on stderr");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    }
}

#[test]
fn unknown_key_exits_2_with_its_path() {
    let text = valid().replace(
        "schema = \"native\"",
        "schema = \"native\"\ncompression = \"gzip\"",
    );
    expect_invalid(
        &text,
        &[("EVENTHUB_CONNECTION_STRING", cs())],
        "sinks[0].compression",
    );
}

#[test]
fn wrong_type_exits_2_with_its_path() {
    let text = format!("{}\n[pipeline]\nmax_in_flight_bytes = \"lots\"\n", valid());
    expect_invalid(
        &text,
        &[("EVENTHUB_CONNECTION_STRING", cs())],
        "pipeline.max_in_flight_bytes",
    );
}

#[test]
fn missing_secret_exits_2_with_its_path() {
    expect_invalid(&valid(), &[], "source.connection_string_env");
}

#[test]
fn env_override_errors_name_the_path_too() {
    expect_invalid(
        &valid(),
        &[
            ("EVENTHUB_CONNECTION_STRING", cs()),
            ("ENTRASTREAM__PIPELINE__CHECKPOINT_INTERVAL", "often".into()),
        ],
        "pipeline.checkpoint_interval",
    );
}

#[test]
fn a_bad_connection_string_does_not_echo_the_key() {
    let bad = format!("Endpoint=https://wrong/;SharedAccessKey={SECRET}");
    expect_invalid(
        &valid(),
        &[("EVENTHUB_CONNECTION_STRING", bad)],
        "source.connection_string",
    );
}

/// Issue 12, item 6: secret librdkafka properties print as `***`.
#[test]
fn check_config_hides_secret_properties() {
    let dir = tempfile::tempdir().unwrap();
    let text = valid().replace(
        "start_position = \"earliest\"",
        &format!(
            "start_position = \"earliest\"\n[source.properties]\n\"sasl.password\" = \"{SECRET}-1\"\n\"sasl.jaas.config\" = \"x password=\\\"{SECRET}-2\\\";\"\n\"ssl.key.password\" = \"{SECRET}-3\"\n\"fetch.wait.max.ms\" = 250"
        ),
    );
    let out = bin()
        .args(["check-config", "--config"])
        .arg(write(dir.path(), &text))
        .env("EVENTHUB_CONNECTION_STRING", cs())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert!(stdout.contains("\"sasl.password\" = \"***\""), "{stdout}");
    assert!(
        stdout.contains("\"fetch.wait.max.ms\" = \"250\""),
        "{stdout}"
    );
}

/// Issue 12, item 6: properties that would commit offsets behind the pipeline's back are
/// refused with their key path.
#[test]
fn auto_commit_properties_exit_2_with_their_path() {
    for key in ["enable.auto.commit", "enable.auto.offset.store"] {
        let text = valid().replace(
            "start_position = \"earliest\"",
            &format!("start_position = \"earliest\"\n[source.properties]\n\"{key}\" = true"),
        );
        expect_invalid(
            &text,
            &[("EVENTHUB_CONNECTION_STRING", cs())],
            &format!("source.properties.{key}"),
        );
    }
}

/// Issue 12, item 6: a SAS query on `[checkpoint] container_url` is a secret, from the file
/// or from `container_url_env`.
#[test]
fn check_config_hides_the_sas_of_container_url() {
    let dir = tempfile::tempdir().unwrap();
    let sas = format!("https://acct.blob.core.windows.net/cps?sv=2024-05-04&sig={SECRET}");
    let amqp = format!(
        r#"
[source]
type = "amqp"
connection_string_env = "EVENTHUB_CONNECTION_STRING"

[checkpoint]
type = "blob"
container_url = "{sas}"

[[sinks]]
name = "out"
type = "stdout"

[dead_letter]
path = "/tmp/entrastream-cli/dead-letter.ndjson"
"#
    );
    let from_env = amqp.replace(
        &format!("container_url = \"{sas}\""),
        "container_url_env = \"CHECKPOINT_URL\"",
    );
    for text in [&amqp, &from_env] {
        let out = bin()
            .args(["check-config", "--config"])
            .arg(write(dir.path(), text))
            .env("EVENTHUB_CONNECTION_STRING", cs())
            .env("CHECKPOINT_URL", &sas)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{stdout}"
        );
    }
    let out = bin()
        .args(["check-config", "--config"])
        .arg(write(dir.path(), &amqp))
        .env("EVENTHUB_CONNECTION_STRING", cs())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("container_url = \"https://acct.blob.core.windows.net/cps?***\""),
        "{stdout}"
    );
}

/// Issue 13: `check-config` shows each sink's buffer setting (type, path, max_size), and what
/// it prints loads again with the same buffers; a bad buffer setting exits 2 with its path.
#[test]
fn check_config_shows_each_sinks_buffer_settings() {
    let dir = tempfile::tempdir().unwrap();
    let text = valid().replace(
        "categories = [\"SignInLogs\", \"AuditLogs\"]",
        "categories = [\"SignInLogs\", \"AuditLogs\"]\n\
         buffer = { type = \"disk\", path = \"/var/lib/entrastream/buffers/archive\", max_size = \"20GiB\" }\n\n\
         [[sinks]]\nname = \"console\"\ntype = \"stdout\"\nbuffer = { type = \"memory\" }",
    );
    let run = |cfg: &std::path::Path| {
        let out = bin()
            .args(["check-config", "--config"])
            .arg(cfg)
            .env("EVENTHUB_CONNECTION_STRING", cs())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let stdout = run(&write(dir.path(), &text));
    // Each sink's `buffer` table follows that sink's keys (`[sinks.buffer]` of its entry).
    let sinks: Vec<&str> = stdout.split("[[sinks]]").skip(1).collect();
    assert_eq!(sinks.len(), 2, "{stdout}");
    for want in [
        "[sinks.buffer]",
        "type = \"disk\"",
        "path = \"/var/lib/entrastream/buffers/archive\"",
        "max_size = \"20GiB\"",
    ] {
        assert!(sinks[0].contains(want), "{want} missing from\n{stdout}");
    }
    assert!(
        sinks[1].contains("[sinks.buffer]\ntype = \"memory\""),
        "{stdout}"
    );
    // The printed config is a config: the same buffers again.
    let again_dir = tempfile::tempdir().unwrap();
    assert_eq!(run(&write(again_dir.path(), &stdout)), stdout);

    let bad = text.replace("max_size = \"20GiB\"", "max_size = \"64KiB\"");
    expect_invalid(
        &bad,
        &[("EVENTHUB_CONNECTION_STRING", cs())],
        "sinks[0].buffer",
    );
}
