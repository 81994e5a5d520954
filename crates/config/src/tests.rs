use super::*;

/// The Kafka `[source]` of a loaded config.
fn kafka(c: &Config) -> &entrastream_source_kafka::config::Config {
    match c.source.as_ref() {
        Some(SourceConfig::Kafka(k)) => k,
        other => panic!("not a kafka source: {other:?}"),
    }
}

const EXAMPLE: &str = r#"
[source]
type = "kafka"
connection_string_env = "EVENTHUB_CONNECTION_STRING"
consumer_group = "entrastream"
start_position = "earliest"

[[sinks]]
name = "archive"
type = "file"
path = "/var/lib/entrastream/records.ndjson"
schema = "native"
categories = ["SignInLogs", "AuditLogs"]

[dead_letter]
path = "/var/lib/entrastream/dead-letter.ndjson"

[admin]
listen = "0.0.0.0:9464"
"#;

const CS: &str = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=TOPSECRETKEY=;EntityPath=hub";

fn env() -> Env {
    Env::from_pairs([("EVENTHUB_CONNECTION_STRING", CS)])
}

#[test]
fn the_issue_example_loads() {
    let c = Config::from_str(EXAMPLE, false, &env()).unwrap();
    assert_eq!(c.sinks[0].name, "archive");
    assert_eq!(c.sinks[0].categories.as_deref().unwrap().len(), 2);
    let r = kafka(&c);
    assert_eq!(r.connection_string.as_ref().unwrap().expose(), CS);
    let printed = c.to_toml();
    assert!(!printed.contains("TOPSECRET"));
    assert!(
        printed.contains("checkpoint_interval = \"5s\""),
        "{printed}"
    );
}

#[test]
fn unknown_key_names_its_path() {
    let text = EXAMPLE.replace("schema = \"native\"", "schema = \"native\"\npathh = \"x\"");
    let e = Config::from_str(&text, false, &env()).unwrap_err();
    assert_eq!(e.path, "sinks[0].pathh");
    assert!(e.message.contains("pathh"), "{e}");
    let text = EXAMPLE.replace("[admin]", "[admin]\nlisten_port = 1");
    let e = Config::from_str(&text, false, &env()).unwrap_err();
    assert_eq!(e.path, "admin.listen_port");
    assert!(
        e.to_string()
            .starts_with("admin.listen_port: unknown field `listen_port`"),
        "{e}"
    );
}

#[test]
fn wrong_type_names_its_path() {
    let text = format!("{EXAMPLE}\n[pipeline]\ncheckpoint_interval = \"soon\"\n");
    let e = Config::from_str(&text, false, &env()).unwrap_err();
    assert_eq!(e.path, "pipeline.checkpoint_interval");
    let text = EXAMPLE.replace("schema = \"native\"", "schema = \"cef\"");
    assert_eq!(
        Config::from_str(&text, false, &env()).unwrap_err().path,
        "sinks[0].schema"
    );
    let text = EXAMPLE.replace(
        "categories = [\"SignInLogs\", \"AuditLogs\"]",
        "categories = \"SignInLogs\"",
    );
    assert_eq!(
        Config::from_str(&text, false, &env()).unwrap_err().path,
        "sinks[0].categories"
    );
}

#[test]
fn missing_secret_names_its_path_and_not_its_value() {
    let e = Config::from_str(EXAMPLE, false, &Env::default()).unwrap_err();
    assert_eq!(e.path, "source.connection_string_env");
    assert!(e.message.contains("EVENTHUB_CONNECTION_STRING"));
    let text = EXAMPLE.replace(
        "connection_string_env = \"EVENTHUB_CONNECTION_STRING\"",
        "connection_string_file = \"/nonexistent/cs\"",
    );
    assert_eq!(
        Config::from_str(&text, false, &env()).unwrap_err().path,
        "source.connection_string_file"
    );
}

#[test]
fn secret_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("cs");
    std::fs::write(&f, format!("{CS}\n")).unwrap();
    let text = EXAMPLE.replace(
        "connection_string_env = \"EVENTHUB_CONNECTION_STRING\"",
        &format!("connection_string_file = {:?}", f),
    );
    let c = Config::from_str(&text, false, &Env::default()).unwrap();
    assert_eq!(kafka(&c).connection_string.as_ref().unwrap().expose(), CS);
}

#[test]
fn env_overrides_apply_as_strings() {
    let env = Env::from_pairs([
        ("EVENTHUB_CONNECTION_STRING", CS),
        ("ENTRASTREAM__PIPELINE__CHECKPOINT_INTERVAL", "2s"),
        ("ENTRASTREAM__PIPELINE__MAX_IN_FLIGHT_BYTES", "64MiB"),
        ("ENTRASTREAM__SINKS__0__PATH", "/tmp/x.ndjson"),
        ("ENTRASTREAM__SOURCE__START_POSITION", "latest"),
        ("ENTRASTREAM__SOURCE__PROPERTIES__FETCH.WAIT.MAX.MS", "100"),
        ("ENTRASTREAM__ADMIN__ENABLED", "false"),
    ]);
    let c = Config::from_str(EXAMPLE, false, &env).unwrap();
    assert_eq!(
        c.pipeline.checkpoint_interval.0,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(c.pipeline.max_in_flight_bytes.0, 64 << 20);
    assert!(
        matches!(&c.sinks[0].kind, SinkKind::File(f) if f.path == std::path::Path::new("/tmp/x.ndjson"))
    );
    let src = kafka(&c);
    assert_eq!(src.start_position, entrastream_model::StartPosition::Latest);
    assert_eq!(
        src.properties.get("fetch.wait.max.ms").map(String::as_str),
        Some("100")
    );
    assert!(!c.admin.enabled);
    let bad = Env::from_pairs([
        ("EVENTHUB_CONNECTION_STRING", CS),
        ("ENTRASTREAM__PIPELINE__BOGUS", "1"),
    ]);
    assert_eq!(
        Config::from_str(EXAMPLE, false, &bad).unwrap_err().path,
        "pipeline.bogus"
    );
}

#[test]
fn yaml_works_too() {
    let yaml = "source:\n  type: kafka\n  brokers: 127.0.0.1:9092\n  topic: t\nsinks:\n  - type: stdout\n    schema: ecs\n";
    let c = Config::from_str(yaml, true, &Env::default()).unwrap();
    assert_eq!(c.sinks[0].schema(), entrastream_entra::Schema::Ecs);
}

#[test]
fn drain_timeout_must_be_below_session_timeout() {
    let text = format!("{EXAMPLE}\n[pipeline]\ndrain_timeout = \"40s\"\n");
    assert_eq!(
        Config::from_str(&text, false, &env()).unwrap_err().path,
        "pipeline.drain_timeout"
    );
}

#[test]
fn debug_output_has_no_secret() {
    let text = EXAMPLE.replace(
        "connection_string_env = \"EVENTHUB_CONNECTION_STRING\"",
        &format!("connection_string = {CS:?}"),
    );
    let c = Config::from_str(&text, false, &Env::default()).unwrap();
    assert!(!format!("{c:?}").contains("TOPSECRET"));
    assert!(!c.to_toml().contains("TOPSECRET"));
    assert!(!format!("{:?}", kafka(&c)).contains("TOPSECRET"));
}

#[test]
fn secret_properties_are_hidden_in_output_and_debug() {
    let text = EXAMPLE.replace(
        "start_position = \"earliest\"",
        "start_position = \"earliest\"\n[source.properties]\n\"sasl.password\" = \"PROP-TOPSECRET-1\"\n\"SASL.JAAS.CONFIG\" = \"org.apache.kafka.common.security.plain.PlainLoginModule required password=\\\"PROP-TOPSECRET-2\\\";\"\n\"ssl.key.pem\" = \"PROP-TOPSECRET-3\"\n\"sasl.oauthbearer.client.secret\" = \"PROP-TOPSECRET-4\"\n\"fetch.wait.max.ms\" = 250",
    );
    let c = Config::from_str(&text, false, &env()).unwrap();
    let shown = c.to_toml();
    let debug = format!("{c:?}");
    for t in [&shown, &debug] {
        assert!(!t.contains("PROP-TOPSECRET"), "{t}");
        assert!(t.contains("250"), "{t}");
    }
    assert!(shown.contains("\"sasl.password\" = \"***\""), "{shown}");
    let src = kafka(&c);
    assert_eq!(
        src.properties.get("sasl.password").map(String::as_str),
        Some("PROP-TOPSECRET-1")
    );
}

#[test]
fn properties_that_break_delivery_are_refused_with_their_path() {
    for (key, value) in [
        ("enable.auto.commit", "true"),
        ("enable.auto.offset.store", "\"true\""),
    ] {
        let text = EXAMPLE.replace(
            "start_position = \"earliest\"",
            &format!("start_position = \"earliest\"\n[source.properties]\n\"{key}\" = {value}"),
        );
        let e = Config::from_str(&text, false, &env()).unwrap_err();
        assert_eq!(e.path, format!("source.properties.{key}"), "{e}");
        assert!(e.message.contains("must be false"), "{e}");
    }
    let text = EXAMPLE.replace(
        "start_position = \"earliest\"",
        "start_position = \"earliest\"\n[source.properties]\n\"enable.auto.commit\" = false",
    );
    Config::from_str(&text, false, &env()).unwrap();
}

/// Kafka and AMQP keys are separate structs: a key of the other source type is an unknown
/// key with its path (no hand-written list of foreign keys), and enumerated values are enums.
#[test]
fn a_key_of_the_other_source_type_is_an_unknown_key() {
    let amqp = "[source]\ntype = \"amqp\"\nconnection_string_env = \"EVENTHUB_CONNECTION_STRING\"\n[checkpoint]\ntype = \"file\"\npath = \"/tmp/cp\"\n[[sinks]]\ntype = \"stdout\"\n[dead_letter]\npath = \"/tmp/d\"\n";
    for (key, value) in [
        ("brokers", "\"b:9092\""),
        ("sasl_password", "\"p\""),
        ("event_hubs_defaults", "true"),
    ] {
        let text = amqp.replace("[checkpoint]", &format!("{key} = {value}\n[checkpoint]"));
        let e = Config::from_str(&text, false, &env()).unwrap_err();
        assert_eq!(e.path, format!("source.{key}"), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
    }
    let e = Config::from_str(
        &EXAMPLE.replace("start_position = \"earliest\"", "owner_id = \"me\""),
        false,
        &env(),
    )
    .unwrap_err();
    assert_eq!(e.path, "source.owner_id", "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
    let e = Config::from_str(
        &amqp.replace("[checkpoint]", "load_balancing = \"lazy\"\n[checkpoint]"),
        false,
        &env(),
    )
    .unwrap_err();
    assert_eq!(e.path, "source.load_balancing", "{e}");
    let e = Config::from_str(
        &format!("[log]\nformat = \"xml\"\n{EXAMPLE}"),
        false,
        &env(),
    )
    .unwrap_err();
    assert_eq!(e.path, "log.format", "{e}");
}

#[test]
fn parse_threads_is_auto_by_default_and_takes_a_count() {
    let with = |v: &str| {
        let text = format!("{EXAMPLE}\n[pipeline]\nparse_threads = {v}\n");
        let env = Env::from_pairs([("EVENTHUB_CONNECTION_STRING", CS)]);
        Config::from_str(&text, false, &env)
    };
    assert_eq!(
        with("\"auto\"").unwrap().pipeline.parse_threads,
        ParseThreads::Auto
    );
    assert_eq!(
        with("4").unwrap().pipeline.parse_threads,
        ParseThreads::Count(std::num::NonZeroUsize::new(4).unwrap())
    );
    for bad in ["0", "-2", "\"all\"", "100000"] {
        let e = with(bad).unwrap_err();
        assert!(
            e.to_string().contains("pipeline.parse_threads"),
            "{bad}: the error names the key: {e}"
        );
        assert!(e.to_string().contains("auto"), "{bad}: says what fits: {e}");
    }
    let env = Env::from_pairs([
        ("EVENTHUB_CONNECTION_STRING", CS),
        ("ENTRASTREAM__PIPELINE__PARSE_THREADS", "2"),
    ]);
    assert_eq!(
        Config::from_str(EXAMPLE, false, &env)
            .unwrap()
            .pipeline
            .parse_threads,
        ParseThreads::Count(std::num::NonZeroUsize::new(2).unwrap())
    );
}
