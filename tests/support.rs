//! Peers and helpers: the nisshi broker, producing generated traffic, reading sink files,
//! and the daemon as a child process (this test binary re-executed) that tests can kill.
//! The broker, the traffic, the id counting, the tool lookup, the waiting loops and the child
//! process live in `entrastream-testkit`, which the crates' tests and the benchmarks share.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use entrastream_testkit::ChildProcess;
pub use entrastream_testkit::kafka::{Broker, produce};
pub use entrastream_testkit::{
    Traffic, count_ids, free_port, http_get, ids_in, line_count, metric_value, promtool,
    record_ids, try_http_get, wait_until,
};

/// A secret the tests put into configs and then look for everywhere it must not appear.
pub const SECRET: &str = "E2E-TOP-SECRET-9f3b1c";

/// The end-to-end tests share two cores and time-based expectations: run them one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Writes a daemon config for the nisshi broker.
pub fn daemon_config(
    dir: &Path,
    name: &str,
    bootstrap: &str,
    topic: &str,
    group: &str,
    extra_pipeline: &str,
) -> PathBuf {
    let text = format!(
        r#"
[log]
format = "json"
level = "info"

[source]
type = "kafka"
brokers = "{bootstrap}"
topic = "{topic}"
consumer_group = "{group}"
start_position = "earliest"
sasl_password_env = "E2E_SASL_PASSWORD"

[source.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"fetch.wait.max.ms" = "50"

[pipeline]
checkpoint_interval = "1s"
drain_timeout = "4s"
shutdown_timeout = "15s"
{extra_pipeline}

[[sinks]]
name = "file"
type = "file"
path = "{records}"
schema = "native"
rotate_bytes = 0

[dead_letter]
path = "{dl}"
rotate_bytes = 0

[admin]
enabled = false
"#,
        records = dir.join(format!("{name}-records.ndjson")).display(),
        dl = dir.join(format!("{name}-dead-letter.ndjson")).display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// The daemon in a child process (this test binary re-executed into `daemon_child`).
#[derive(Debug)]
pub struct Daemon {
    process: ChildProcess,
}

impl Daemon {
    /// Starts `entrastream run` semantics on a config file.
    pub fn start(config: &Path) -> Daemon {
        Self::start_with_env(config, &[])
    }

    /// Like [`Daemon::start`] with extra environment variables (connection strings).
    pub fn start_with_env(config: &Path, env: &[(String, String)]) -> Daemon {
        let exe = std::env::current_exe().expect("current exe");
        let log = config.with_extension(format!(
            "log.{}",
            Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id())
        ));
        let log = PathBuf::from(format!("{}-{}", log.display(), free_port()));
        let mut cmd = Command::new(exe);
        cmd.args([
            "--ignored",
            "--exact",
            "child::daemon_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ENTRASTREAM_E2E_CONFIG", config)
        .env("E2E_SASL_PASSWORD", SECRET)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Daemon {
            process: ChildProcess::spawn(cmd, &log),
        }
    }

    /// kill -9
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// SIGTERM (through kill(1): the crate forbids unsafe code).
    pub fn term(&mut self) {
        self.process.term();
    }

    /// Waits for exit up to `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_timeout(timeout)
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// Its process id (for /proc/<pid>/status).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }
}

/// Like [`wait_until`], printing a daemon's log on timeout.
pub fn wait_for_daemon(d: &Daemon, what: &str, timeout: Duration, cond: impl FnMut() -> bool) {
    entrastream_testkit::wait_for_child(&d.process, what, timeout, cond);
}

/// `promtool check metrics` accepts `body` (skipped, or failed in CI, without promtool).
pub fn assert_promtool_accepts(body: &str) {
    if let Some(check) = promtool::check_metrics(body) {
        assert!(
            check.success,
            "promtool check metrics failed:\n{}",
            check.output
        );
    }
}

/// `text` (a [`daemon_config`]) with its `[[sinks]]` replaced by `sinks` (TOML).
pub fn replace_sinks(text: &str, sinks: &str) -> String {
    let start = text.find("[[sinks]]").expect("a [[sinks]] entry");
    let end = text.find("[dead_letter]").expect("a [dead_letter] section");
    format!("{}{sinks}{}", &text[..start], &text[end..])
}

/// `text` (a [`daemon_config`]) with `sinks` (TOML) added after its file sink.
pub fn add_sinks(text: &str, sinks: &str) -> String {
    let at = text.find("[dead_letter]").expect("a [dead_letter] section");
    format!("{}{sinks}{}", &text[..at], &text[at..])
}

/// The id of a record (sign-in and audit `id`, provisioning `requestId`) in JSON text.
pub fn record_id_in(json: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let p = &v["properties"];
    p["id"]
        .as_str()
        .or(p["requestId"].as_str())
        .map(str::to_owned)
}

/// A new topic of `partitions` holding `records` generated records (no poison), produced on
/// the blocking pool so an async test keeps its runtime free.
pub async fn produce_topic(
    broker: &Broker,
    topic: &str,
    partitions: i32,
    records: usize,
    seed: u64,
) -> Traffic {
    broker.create_topic(topic, partitions);
    let (bootstrap, topic) = (broker.bootstrap.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || produce(&bootstrap, &topic, partitions, records, 0, seed))
        .await
        .expect("the producer thread panicked")
}

/// A Splunk HEC peer that answers with indexer acknowledgements.
pub async fn acked_hec_peer() -> entrastream_testkit::HecPeer {
    entrastream_testkit::HecPeer::start(entrastream_testkit::HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await
}
