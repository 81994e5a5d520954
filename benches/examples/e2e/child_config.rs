//! The config of a child's pipeline run, per mode: the sink, the byte budget and the source
//! (Kafka on nisshi, or AMQP on the Event Hubs peer).

use std::path::Path;

use entrastream_config::{Config, Env};

use crate::args::Args;

/// The config of a child in `mode` (its files in `dir`).
pub fn child_config(args: &Args, mode: &str, dir: &Path) -> Config {
    // `…-buffered`: the same sink behind a disk buffer in `dir` (issue 13), large enough to
    // take the whole input, so the run measures buffer write + drain, never backpressure.
    let (budget, sink) = match mode.strip_suffix("-buffered") {
        Some(unbuffered) => {
            let (budget, sink) = sink_of(args, unbuffered, dir);
            let buffer = format!(
                "\nbuffer = {{ type = \"disk\", path = {:?}, max_size = \"16GiB\" }}",
                dir.join("buffer").display().to_string()
            );
            (budget, sink + &buffer)
        }
        None => sink_of(args, mode, dir),
    };
    if mode.starts_with("amqp") {
        return amqp_child_config(args, mode, dir, &sink, &budget);
    }
    let group = if args.group.is_empty() {
        format!("e2e-{mode}")
    } else {
        args.group.clone()
    };
    let text = format!(
        r#"
[source]
type = "kafka"
brokers = "{bootstrap}"
topic = "{topic}"
consumer_group = "{group}"
start_position = "earliest"

[source.properties]
"fetch.wait.max.ms" = "10"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
{props}

{tail}
"#,
        bootstrap = args.bootstrap,
        topic = args.topic,
        tail = pipeline_and_sink("1s", &budget, args.linger_ms, &sink, dir),
        props = args
            .props
            .iter()
            .map(|p| {
                let (k, v) = p.split_once('=').expect("--prop key=value");
                format!("{k:?} = {v:?}\n")
            })
            .collect::<String>(),
    );
    Config::from_str(&text, false, &Env::default()).expect("bench config is valid")
}

/// The byte budget and the `[[sinks]]` body of an unbuffered child in `mode`.
fn sink_of(args: &Args, mode: &str, dir: &Path) -> (String, String) {
    match mode {
        "blackhole" => (
            "256MiB".to_string(),
            "type = \"blackhole\"\nschema = \"native\"".to_string(),
        ),
        "file" => (
            "256MiB".to_string(),
            format!(
                "type = \"file\"\nschema = \"native\"\nrotate_bytes = 0\nfsync = {}\npath = {:?}",
                args.fsync,
                dir.join("records.ndjson").display().to_string()
            ),
        ),
        "hec-noack" | "hec-ack" => (
            "256MiB".to_string(),
            format!(
                "type = \"splunk_hec\"\nschema = \"native\"\nendpoint = {:?}\ntoken = {:?}\nindexer_ack = {}",
                args.peer_url,
                args.peer_token,
                mode == "hec-ack"
            ),
        ),
        "sumo" => (
            "256MiB".to_string(),
            format!(
                "type = \"sumo_logic\"\nschema = \"native\"\nurl = {:?}",
                args.peer_url
            ),
        ),
        // rsyslog on loopback (`--peer-url` = host:port), RFC 5424 with the native record as MSG.
        "syslog-relp" => (
            "256MiB".to_string(),
            format!(
                "type = \"syslog\"\nschema = \"native\"\naddress = {:?}\ntransport = \"relp\"\nformat = \"rfc5424_json\"\nrelp_window = {}\nconcurrency = {}",
                args.peer_url, args.syslog_relp_window, args.syslog_concurrency
            ),
        ),
        "syslog-tls" => (
            "256MiB".to_string(),
            format!(
                "type = \"syslog\"\nschema = \"native\"\naddress = {:?}\ntransport = \"tls\"\nformat = \"rfc5424_json\"\nconcurrency = {}\ntls = {{ ca_file = {:?}, server_name = \"localhost\" }}",
                args.peer_url, args.syslog_concurrency, args.peer_ca
            ),
        ),
        // The archive sinks (issue 15) with their default schema (raw: the record as received,
        // which is what Azure's own export holds) and layout (azure_monitor, no compression).
        "archive-dir" => (
            "256MiB".to_string(),
            format!(
                "type = \"archive_dir\"\npath = {:?}\nfsync = {}",
                dir.join("archive").display().to_string(),
                args.fsync
            ),
        ),
        // Azurite on loopback: `--peer-url` is its connection string.
        "azure-blob" => (
            "256MiB".to_string(),
            format!(
                "type = \"azure_blob\"\nconnection_string = {:?}",
                args.peer_url
            ),
        ),
        "amqp-blackhole" | "amqp-idle32" => (
            "256MiB".to_string(),
            "type = \"blackhole\"\nschema = \"native\"".to_string(),
        ),
        "stalled" => (
            format!("{}MiB", args.budget_mib),
            "type = \"file\"\nschema = \"native\"\nrotate_bytes = 0\npath = \"/dev/full\""
                .to_string(),
        ),
        other => panic!("unknown child mode {other}"),
    }
}

/// The AMQP source on the Event Hubs peer (`--amqp-endpoint` is in the connection string's
/// companion `custom_endpoint`), file checkpoints in `dir`. `amqp-idle32` keeps the defaults
/// (10 s ownership cycle, 5 s checkpoints) to count the store traffic they cause.
fn amqp_child_config(args: &Args, mode: &str, dir: &Path, sink: &str, budget: &str) -> Config {
    let (endpoint, cs) = args
        .amqp_cs
        .split_once('|')
        .expect("--amqp-cs ENDPOINT|CONNECTION_STRING");
    let (checkpoint, linger) = if mode == "amqp-idle32" {
        ("5s", 50)
    } else {
        ("1s", args.linger_ms)
    };
    let text = format!(
        r#"
[source]
type = "amqp"
connection_string = {cs:?}
custom_endpoint = {endpoint:?}
start_position = "earliest"
{prefetch}

{tail}

[checkpoint]
type = "file"
path = {store:?}
"#,
        tail = pipeline_and_sink(checkpoint, budget, linger, sink, dir),
        store = dir.join("checkpoints").display().to_string(),
        prefetch = args
            .amqp_prefetch
            .map(|p| format!("prefetch = {p}"))
            .unwrap_or_default(),
    );
    Config::from_str(&text, false, &Env::default()).expect("AMQP bench config is valid")
}

/// The `[pipeline]`, `[[sinks]]`, `[dead_letter]` and `[admin]` sections every child shares.
fn pipeline_and_sink(
    checkpoint: &str,
    budget: &str,
    linger_ms: u64,
    sink: &str,
    dir: &Path,
) -> String {
    format!(
        r#"
[pipeline]
checkpoint_interval = "{checkpoint}"
drain_timeout = "3s"
shutdown_timeout = "3s"
max_in_flight_bytes = "{budget}"
batch_max_bytes = "1MiB"
batch_linger = "{linger_ms}ms"

[[sinks]]
name = "out"
{sink}

[dead_letter]
path = {dl:?}
rotate_bytes = 0

[admin]
enabled = false
"#,
        dl = dir.join("dead-letter.ndjson").display().to_string(),
    )
}
