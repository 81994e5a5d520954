//! What every scenario needs: the real `entrastream run` as a child process that can be
//! killed, its config, a live count of what the sinks received (by record id), a producer that
//! keeps traffic flowing, and the result row.

use std::collections::{HashMap, HashSet};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_testkit::kafka::Producing;
use entrastream_testkit::{ChildProcess, count_ids, record_ids};

/// One row of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub records: usize,
    pub lost: usize,
    pub duplicates: usize,
    pub max_stall: Duration,
    pub peak_rss_mib: f64,
    pub verdict: String,
    pub notes: String,
    pub command: String,
}

impl Row {
    pub fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.1} s | {:.0} MiB | {} | {} | `{}` |",
            self.scenario,
            self.records,
            self.lost,
            self.duplicates,
            self.max_stall.as_secs_f64(),
            self.peak_rss_mib,
            self.verdict,
            self.notes,
            self.command
        )
    }
}

/// "pass", or "FAIL (what went wrong; …)".
pub fn verdict(problems: &[String]) -> String {
    if problems.is_empty() {
        "pass".into()
    } else {
        format!("FAIL ({})", problems.join("; "))
    }
}

/// The `entrastream` binary: `$ENTRASTREAM_BIN`, else beside this example's directory
/// (`target/release/examples/faults` → `target/release/entrastream`).
pub fn entrastream_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("ENTRASTREAM_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("entrastream"))
        .expect("target dir");
    assert!(
        bin.is_file(),
        "{} not found: cargo build --release --features entrastream/isal -p entrastream, or set ENTRASTREAM_BIN",
        bin.display()
    );
    bin
}

/// `entrastream run --config FILE` as testkit's [`ChildProcess`], its stderr (JSON logs)
/// appended to a log file that outlives restarts, its peak RSS sampled while it runs.
pub struct Daemon {
    child: ChildProcess,
    /// Highest VmHWM read from /proc while it ran, in KiB.
    peak_kib: u64,
}

impl Daemon {
    pub fn start(config: &Path, log: &Path) -> Daemon {
        Daemon::start_env(config, log, &[])
    }

    /// Like [`Daemon::start`], with extra environment variables (e.g. `RUST_LOG`).
    pub fn start_env(config: &Path, log: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = Command::new(entrastream_bin());
        cmd.args(["run", "--config"])
            .arg(config)
            .envs(env.iter().copied());
        Daemon {
            child: ChildProcess::spawn_appending(cmd, log),
            peak_kib: 0,
        }
    }

    /// Reads the peak RSS so far (call it now and then, and before a kill).
    pub fn sample_rss(&mut self) -> u64 {
        let hwm = self.child.peak_rss_kib().unwrap_or(0);
        self.peak_kib = self.peak_kib.max(hwm);
        self.peak_kib
    }

    pub fn peak_rss_mib(&self) -> f64 {
        self.peak_kib as f64 / 1024.0
    }

    pub fn kill9(&mut self) {
        self.sample_rss();
        self.child.kill9();
    }

    /// SIGTERM, then up to `grace` for a clean exit (kill -9 after that).
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.sample_rss();
        if !self.child.is_running() {
            return self.child.wait_timeout(Duration::ZERO);
        }
        self.child.term();
        let status = self.child.wait_timeout(grace);
        if status.is_none() {
            self.kill9();
        }
        status
    }

    /// Still running (not exited on its own)?
    pub fn alive(&mut self) -> bool {
        self.child.is_running()
    }
}

/// Log lines that say the consumer left its group or lost partitions.
pub fn group_loss_lines(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("maxpoll")
                || l.contains("max.poll")
                || l.contains("maximum poll")
                || l.contains("leaving group")
                || l.contains("revoke")
                || l.contains("unknownmemberid")
                || l.contains("unknown member")
        })
        .map(str::to_owned)
        .collect()
}

/// A daemon config: Kafka source on `brokers`, the given `[[sinks]]`, dead letters in `dir`.
pub struct DaemonConfig<'a> {
    pub brokers: &'a str,
    pub topic: &'a str,
    pub group: &'a str,
    /// Extra `[source.properties]` lines, `"key" = "value"`.
    pub properties: Vec<(String, String)>,
    pub checkpoint_interval: &'a str,
    pub budget_mib: u64,
    pub sinks: String,
}

impl<'a> DaemonConfig<'a> {
    /// The suite's settings from the command line: `--session-ms` (heartbeat a tenth of it;
    /// `max.poll.interval.ms` stays at librdkafka's default), `--checkpoint`, `--budget-mib`.
    pub fn from_args(
        a: &'a crate::Args,
        brokers: &'a str,
        topic: &'a str,
        sinks: String,
    ) -> DaemonConfig<'a> {
        DaemonConfig {
            brokers,
            topic,
            group: "faults",
            properties: vec![
                ("session.timeout.ms".into(), a.session_ms.to_string()),
                (
                    "heartbeat.interval.ms".into(),
                    (a.session_ms / 10).to_string(),
                ),
            ],
            checkpoint_interval: &a.checkpoint,
            budget_mib: a.budget_mib,
            sinks,
        }
    }

    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let props: String = self
            .properties
            .iter()
            .map(|(k, v)| format!("{k:?} = {v:?}\n"))
            .collect();
        let text = format!(
            r#"
[log]
format = "json"
level = "info"

[source]
type = "kafka"
brokers = "{brokers}"
topic = "{topic}"
consumer_group = "{group}"
start_position = "earliest"

[source.properties]
"fetch.wait.max.ms" = "50"
{props}
[pipeline]
checkpoint_interval = "{checkpoint}"
drain_timeout = "4s"
shutdown_timeout = "15s"
max_in_flight_bytes = "{budget}MiB"

{sinks}

[dead_letter]
path = {dl:?}
rotate_bytes = 0

[admin]
enabled = false
"#,
            brokers = self.brokers,
            topic = self.topic,
            group = self.group,
            checkpoint = self.checkpoint_interval,
            budget = self.budget_mib,
            sinks = self.sinks,
            dl = dir
                .join(format!("{name}-dead-letter.ndjson"))
                .display()
                .to_string(),
        );
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("write config");
        path
    }
}

/// A native file sink block writing to `path`.
pub fn file_sink(path: &Path) -> String {
    format!(
        "[[sinks]]\nname = \"file\"\ntype = \"file\"\nschema = \"native\"\nrotate_bytes = 0\npath = {:?}\n",
        path.display().to_string()
    )
}

/// Reads what a daemon appended to an NDJSON file since the last call; a torn last line waits
/// for its newline (a kill -9 leaves one, and the next run may complete it).
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Ids in the complete lines written since the last call.
    pub fn poll(&mut self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return out;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return out;
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return out;
        };
        let rest = self.partial.split_off(last_nl + 1);
        count_ids(&String::from_utf8_lossy(&self.partial), &mut out);
        self.partial = rest;
        out
    }
}

/// Counts the complete lines a daemon appended to an NDJSON file since the last call, reading
/// only the new bytes and parsing nothing: cheap enough to follow a sink writing hundreds of MB/s
/// (parsing every line as [`Tail`] does falls behind the daemon, so kills decided on its counts
/// landed after the whole backlog was delivered).
pub struct LineTail {
    path: PathBuf,
    offset: u64,
    buf: Vec<u8>,
}

impl LineTail {
    pub fn new(path: &Path) -> LineTail {
        LineTail {
            path: path.to_path_buf(),
            offset: 0,
            buf: vec![0; 1 << 20],
        }
    }

    /// Newlines written since the last call (a torn last line is counted once its newline comes).
    pub fn poll(&mut self) -> usize {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return 0;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return 0;
        }
        let mut lines = 0;
        loop {
            match f.read(&mut self.buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.offset += n as u64;
                    lines += self.buf[..n].iter().filter(|b| **b == b'\n').count();
                }
            }
        }
        lines
    }
}

/// Reads the complete lines a daemon appended to its log since the last call.
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl LogTail {
    pub fn new(path: &Path) -> LogTail {
        LogTail {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The complete lines written since the last call.
    pub fn poll(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(last_nl + 1);
        let lines = String::from_utf8_lossy(&self.partial)
            .lines()
            .map(str::to_owned)
            .collect();
        self.partial = rest;
        lines
    }
}

/// Every delivery seen so far, by id, and the longest time nothing new arrived.
#[derive(Default)]
pub struct Seen {
    pub counts: HashMap<String, usize>,
    pub deliveries: usize,
    last_new: Option<Instant>,
    pub max_gap: Duration,
    /// Delivered records per 1 s window, highest seen.
    pub peak_rate: f64,
    window: Vec<(Instant, usize)>,
}

impl Seen {
    /// Adds new deliveries; `waiting` says whether records were due (a gap counts only then).
    pub fn add(&mut self, new: HashMap<String, usize>, waiting: bool) {
        let n: usize = new.values().sum();
        for (id, k) in new {
            *self.counts.entry(id).or_insert(0) += k;
        }
        self.add_count(n, waiting);
    }

    /// Adds `n` new deliveries without their ids (progress, gaps and rate only).
    pub fn add_count(&mut self, n: usize, waiting: bool) {
        let now = Instant::now();
        self.deliveries += n;
        if n > 0 || !waiting {
            self.last_new = Some(now);
        }
        if let Some(t) = self.last_new {
            self.max_gap = self.max_gap.max(now - t);
        }
        self.window.push((now, self.deliveries));
        self.window
            .retain(|(t, _)| now.duration_since(*t) <= Duration::from_secs(1));
        if let Some((t, first)) = self.window.first() {
            let dt = now.duration_since(*t).as_secs_f64();
            if dt > 0.5 {
                self.peak_rate = self.peak_rate.max((self.deliveries - first) as f64 / dt);
            }
        }
    }

    pub fn duplicates(&self) -> usize {
        self.counts.values().map(|n| n - 1).sum()
    }

    pub fn lost(&self, want: &HashSet<String>) -> usize {
        want.iter()
            .filter(|id| !self.counts.contains_key(*id))
            .count()
    }
}

/// Generated envelopes of 25 records at `rate` records/s, each handed to `send` with its
/// record ids, until `limit` records were generated or `stop` is set. The pace of every
/// producer of the suite (Kafka and the Event Hubs peer).
pub fn paced_envelopes(
    rate: u64,
    seed: u64,
    limit: u64,
    stop: &AtomicBool,
    mut send: impl FnMut(&[u8], Vec<String>),
) {
    let mut generator = Generator::new(GeneratorConfig {
        seed,
        ..Default::default()
    })
    .expect("generator");
    let t0 = Instant::now();
    let mut records = 0u64;
    let mut buf = Vec::new();
    while !stop.load(Ordering::Relaxed) && records < limit {
        let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
        if records >= due {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        buf.clear();
        generator.next_envelope_with(25, &mut buf);
        let ids = record_ids(&buf);
        records += ids.len() as u64;
        send(&buf, ids);
    }
}

/// Generated traffic produced at a steady rate on its own thread until stopped.
pub struct SteadyProducer {
    stop: Arc<AtomicBool>,
    /// id → partition of every record handed to the producer so far.
    pub sent: Arc<Mutex<HashMap<String, i32>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SteadyProducer {
    /// `rate` records per second, envelopes of 25 records, round robin over partitions.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        rate: u64,
        seed: u64,
    ) -> SteadyProducer {
        SteadyProducer::start_limited(bootstrap, topic, partitions, rate, seed, u64::MAX)
    }

    /// Like [`SteadyProducer::start`], ending by itself after `limit` records (whole envelopes).
    pub fn start_limited(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        rate: u64,
        seed: u64,
        limit: u64,
    ) -> SteadyProducer {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(HashMap::new()));
        let (b, t, s, m) = (
            bootstrap.to_string(),
            topic.to_string(),
            stop.clone(),
            sent.clone(),
        );
        let thread = std::thread::spawn(move || {
            let mut p = Producing::new(&b, &t, partitions);
            paced_envelopes(rate, seed, limit, &s, |buf, ids| {
                let partition = p.send(buf);
                let mut sent = m.lock().unwrap_or_else(|e| e.into_inner());
                for id in ids {
                    sent.insert(id, partition);
                }
            });
            p.finish();
        });
        SteadyProducer {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Stops, waits until the broker has every message, returns every id sent.
    pub fn finish(mut self) -> HashMap<String, i32> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("producer thread");
        }
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until the producer reached its limit (see [`SteadyProducer::start_limited`]) and
    /// the broker has every message; returns every id sent.
    pub fn finish_limit(mut self) -> HashMap<String, i32> {
        if let Some(t) = self.thread.take() {
            t.join().expect("producer thread");
        }
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn sent_count(&self) -> usize {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The end offset of each partition of `topic` (what a group has committed once it consumed all).
pub fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(30))
                .expect("watermarks")
                .1
        })
        .collect()
}

/// A small deterministic random source (xorshift), seeded from the command line.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// Polls `cond` every 100 ms up to `timeout`; whether it held (testkit's loop).
pub fn wait_for(timeout: Duration, cond: impl FnMut() -> bool) -> bool {
    entrastream_testkit::poll_until(timeout, Duration::from_millis(100), cond)
}
