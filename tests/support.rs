//! Peers and helpers: the nisshi broker, producing generated traffic, reading sink files,
//! and the daemon as a child process (this test binary re-executed) that tests can kill.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use entrastream_generator::{Generator, GeneratorConfig, poison_message};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

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

/// The nisshi broker on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`
    pub bootstrap: String,
}

impl Broker {
    /// Starts nisshi, or returns None (after `peer_missing`) when it is not installed.
    pub fn start() -> Option<Broker> {
        let Some(bin) = find_tool("nisshi") else {
            peer_missing("the nisshi Kafka broker");
            return None;
        };
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args([
                "--storage-engine",
                "memory://nisshi/",
                "--group-initial-rebalance-delay",
                "0s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nisshi");
        let bootstrap = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&bootstrap).is_err() {
            assert!(Instant::now() < deadline, "nisshi did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Broker { child, bootstrap })
    }

    /// Creates a topic through the admin API.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let bootstrap = self.bootstrap.clone();
        let topic = topic.to_string();
        // Own thread and runtime: callers may be inside an async test.
        std::thread::spawn(move || {
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .expect("admin client");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let res = rt
                .block_on(admin.create_topics(
                    &[NewTopic::new(
                        &topic,
                        partitions,
                        TopicReplication::Fixed(1),
                    )],
                    &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                ))
                .expect("create topic");
            for r in res {
                r.expect("topic created");
            }
        })
        .join()
        .expect("create topic thread");
    }

    /// Committed offsets (exclusive) of a group, per partition.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let c = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(|p| match c.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What was produced: per partition, per message (offset order), the record ids it carries.
#[derive(Debug, Default)]
pub struct Traffic {
    /// `messages[p][offset]` = ids of the good records in that message.
    pub messages: Vec<Vec<Vec<String>>>,
    /// Generated records.
    pub records: usize,
    /// Largest message.
    pub max_message: usize,
    /// Malformed messages.
    pub poison: usize,
}

impl Traffic {
    /// Every generated id.
    pub fn ids(&self) -> HashSet<String> {
        self.messages.iter().flatten().flatten().cloned().collect()
    }

    /// Ids of the messages below the given exclusive offsets.
    pub fn ids_below(&self, committed: &[i64]) -> HashSet<String> {
        let mut out = HashSet::new();
        for (p, msgs) in self.messages.iter().enumerate() {
            let end = committed.get(p).copied().unwrap_or(0).max(0) as usize;
            for m in msgs.iter().take(end) {
                out.extend(m.iter().cloned());
            }
        }
        out
    }

    /// Messages per partition (= the end offset of a fresh topic).
    pub fn end_offsets(&self) -> Vec<i64> {
        self.messages.iter().map(|m| m.len() as i64).collect()
    }

    /// Which partition carried an id.
    pub fn partition_of(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for (p, msgs) in self.messages.iter().enumerate() {
            for id in msgs.iter().flatten() {
                out.insert(id.clone(), p);
            }
        }
        out
    }
}

/// Ids of the generated records in an envelope.
pub fn record_ids(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).expect("generator output is JSON");
    v["records"]
        .as_array()
        .map(|records| records.iter().filter_map(record_id).collect())
        .unwrap_or_default()
}

fn record_id(r: &serde_json::Value) -> Option<String> {
    let p = &r["properties"];
    p["id"]
        .as_str()
        .or(p["requestId"].as_str())
        .map(str::to_owned)
}

/// Produces `records` generated records (envelope `i` to partition `i % partitions`) plus
/// `poison` malformed messages, in order, to a fresh topic.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: usize,
    poison: usize,
    seed: u64,
) -> Traffic {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("max.in.flight.requests.per.connection", "1")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .expect("producer");
    let mut generator = Generator::new(GeneratorConfig {
        seed,
        ..Default::default()
    })
    .expect("generator");
    let mut t = Traffic {
        messages: vec![Vec::new(); partitions as usize],
        poison,
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut i = 0usize;
    let poison_every = if poison > 0 {
        (records / 25 / (poison + 1)).max(1)
    } else {
        usize::MAX
    };
    let mut poison_sent = 0;
    let send = |buf: &[u8], p: i32, ids: Vec<String>, t: &mut Traffic| {
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(topic).partition(p).payload(buf)) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
        t.max_message = t.max_message.max(buf.len());
        t.messages[p as usize].push(ids);
    };
    while t.records < records {
        buf.clear();
        generator.next_envelope_with(25.min(records - t.records), &mut buf);
        let ids = record_ids(&buf);
        t.records += ids.len();
        send(&buf, (i % partitions as usize) as i32, ids, &mut t);
        i += 1;
        if poison_sent < poison && i.is_multiple_of(poison_every) {
            buf.clear();
            poison_message(poison_sent, &mut buf);
            // Poison messages may carry good records too; the tests count only generated ids.
            send(
                &buf,
                (poison_sent % partitions as usize) as i32,
                Vec::new(),
                &mut t,
            );
            poison_sent += 1;
        }
    }
    while poison_sent < poison {
        buf.clear();
        poison_message(poison_sent, &mut buf);
        send(
            &buf,
            (poison_sent % partitions as usize) as i32,
            Vec::new(),
            &mut t,
        );
        poison_sent += 1;
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    t
}

/// Ids found in an NDJSON file (and its rotated siblings), with their number of occurrences.
/// Torn lines (from kill -9) are skipped.
pub fn ids_in(path: &Path) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let Some(dir) = path.parent() else { return out };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let fname = e.file_name().to_string_lossy().to_string();
        if !fname.starts_with(&name) {
            continue;
        }
        count_ids(
            &std::fs::read_to_string(e.path()).unwrap_or_default(),
            &mut out,
        );
    }
    out
}

/// Adds the record ids of NDJSON `text` to `out`; torn or foreign lines are skipped.
pub fn count_ids(text: &str, out: &mut HashMap<String, usize>) {
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(id) = record_id(&v)
        {
            *out.entry(id).or_insert(0) += 1;
        }
    }
}

/// Lines in a file (cheap progress probe).
pub fn line_count(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
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
