//! Peers and helpers: the nisshi broker, producing generated traffic, reading sink files,
//! and the daemon as a child process (this test binary re-executed) that tests can kill.
//! The broker, the traffic and the id counting live in `entrastream-testkit`, which the fault
//! suite (`benches/examples/faults`) shares.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub use entrastream_testkit::kafka::{Broker, produce};
pub use entrastream_testkit::{Traffic, count_ids, ids_in, line_count, record_ids};

/// A secret the tests put into configs and then look for everywhere it must not appear.
pub const SECRET: &str = "E2E-TOP-SECRET-9f3b1c";

/// The end-to-end tests share two cores and time-based expectations: run them one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// In CI a missing peer fails the test; elsewhere the test is skipped with a visible message.
pub fn peer_missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{what} is required in CI but was not found (scripts/test installs it)");
    }
    eprintln!("SKIPPED: {what} not found; run scripts/test to install it");
}

/// Finds an executable on PATH or in ~/.cargo/bin.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(19092)
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
    child: Child,
    /// Where its stderr (JSON logs) goes.
    pub log: PathBuf,
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
        let stderr = std::fs::File::create(&log).expect("log file");
        let child = Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                "child::daemon_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ENTRASTREAM_E2E_CONFIG", config)
            .env("E2E_SASL_PASSWORD", SECRET)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn daemon");
        Daemon { child, log }
    }

    /// kill -9
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (through kill(1): the crate forbids unsafe code).
    pub fn term(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits for exit up to `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Like [`wait_until`], printing a daemon's log on timeout.
pub fn wait_for_daemon(d: &Daemon, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for {what}; daemon log:\n{}",
                d.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `cond` holds, polling every 100 ms, or panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET over plain HTTP/1.1 (the admin server).
pub fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect admin");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}
