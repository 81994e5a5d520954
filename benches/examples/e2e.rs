//! End-to-end benchmark (issue 3): the real pipeline (`entrastream_app::start`, Kafka source on
//! rdkafka) consuming a pre-produced backlog from the nisshi broker into a blackhole sink and a
//! native file sink, next to single-threaded parse + native encode of exactly the same bodies;
//! then a stalled sink (`file` sink on `/dev/full`: every write fails with ENOSPC, which the file
//! sink classifies as retryable, so nothing is ever acknowledged) against a ~1 GB backlog, to
//! check that peak RSS stays within the byte budget + 64 MiB.
//!
//! With AMQP (default on; `--no-amqp` skips it): the same bodies preloaded into the in-repo
//! Event Hubs peer, read through the AMQP source (official SDK client) into a blackhole sink,
//! next to the Kafka figure of the same run; then the checkpoint-store traffic of one replica
//! owning 32 partitions with the default intervals, counted over `--idle-secs` (default 60).
//!
//! With the SIEM sinks (default on; `--no-siem` skips them): Splunk HEC (ack off, ack on) and
//! Sumo Logic against the testkit peers in this process, in `--siem-rounds` rounds (default 3),
//! each preceded by its own blackhole run; the table shows each sink's median round.
//!
//! Each pipeline run is a child process (this binary with `--child MODE`) so that its peak RSS
//! (`VmHWM`) is the pipeline's alone: no input copy, no producer, no broker in that process.
//!
//! The HTTP sinks gzip with ISA-L when this is built with `--features isal` (as the container
//! image is), else with zlib-rs; the SIEM table's heading names which.
//!
//! Usage: cargo run --release -p entrastream-benches --features isal --example e2e -- \
//!          [--records N] [--partitions P] [--budget-mib B] [--backlog-mib M] [--stall-secs S]
//!          [--no-fsync] [--linger-ms MS] [--prop librdkafka.key=value]...
//!          [--no-siem] [--siem-rounds N] [--no-amqp] [--idle-secs S] [--amqp-prefetch N]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_config::{Config, Env};
use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_testkit::kafka::{Broker, Producing};
use rdkafka::ClientConfig;

const MIB: u64 = 1 << 20;

#[derive(Debug, Clone)]
struct Args {
    records: u64,
    partitions: i32,
    budget_mib: u64,
    backlog_mib: u64,
    stall_secs: u64,
    fsync: bool,
    child: Option<String>,
    bootstrap: String,
    topic: String,
    messages: u64,
    /// Extra `[source.properties]` (librdkafka), `--prop key=value`.
    props: Vec<String>,
    /// `[pipeline] batch_linger` of the e2e runs, in ms.
    linger_ms: u64,
    /// Also run the Splunk HEC (ack off / on) and Sumo Logic sinks against the testkit peers.
    siem: bool,
    /// Peer address for a SIEM child (`--peer-url`), and the HEC token (`--peer-token`).
    peer_url: String,
    peer_token: String,
    /// Also run the AMQP rows.
    amqp: bool,
    /// Connection string of the Event Hubs peer for an AMQP child.
    amqp_cs: String,
    /// Seconds of the 32-partition store-traffic run.
    idle_secs: u64,
    /// `[source] prefetch` of the AMQP rows (None: the default).
    amqp_prefetch: Option<u32>,
    /// Rounds of the SIEM comparison; each runs its own blackhole baseline first.
    siem_rounds: usize,
    /// Consumer group of a child (empty: `e2e-MODE`). A repeated run needs its own, or it would
    /// resume after the offsets the previous one committed and find nothing to read.
    group: String,
}

/// Seconds, records/s and MB/s of a child that must have delivered all `records`.
fn rates(r: &ChildResult, mode: &str, records: u64) -> (f64, f64, f64) {
    assert!(
        r.get("records_done") >= records as f64,
        "{mode}: {} of {records} records done",
        r.get("records_done"),
    );
    let secs = r.get("secs");
    (
        secs,
        r.get("records_done") / secs,
        r.get("bytes_in") / 1e6 / secs,
    )
}

/// One SIEM child run and the blackhole baseline of its round.
struct SiemRun {
    round: usize,
    mode: &'static str,
    baseline_rps: f64,
    rps: f64,
    mbs: f64,
    r: ChildResult,
}

fn parse_args() -> Args {
    let mut a = Args {
        records: 200_000,
        partitions: 4,
        budget_mib: 64,
        backlog_mib: 1024,
        stall_secs: 20,
        fsync: true,
        child: None,
        bootstrap: String::new(),
        topic: String::new(),
        messages: 0,
        props: Vec::new(),
        linger_ms: 20,
        siem: true,
        peer_url: String::new(),
        peer_token: String::new(),
        amqp: true,
        amqp_cs: String::new(),
        idle_secs: 60,
        amqp_prefetch: None,
        siem_rounds: 3,
        group: String::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let val = |i: usize| -> String {
        argv.get(i + 1)
            .cloned()
            .unwrap_or_else(|| panic!("{} needs a value", argv[i]))
    };
    while i < argv.len() {
        match argv[i].as_str() {
            "--records" => a.records = val(i).parse().expect("--records N"),
            "--partitions" => a.partitions = val(i).parse().expect("--partitions P"),
            "--budget-mib" => a.budget_mib = val(i).parse().expect("--budget-mib B"),
            "--backlog-mib" => a.backlog_mib = val(i).parse().expect("--backlog-mib M"),
            "--stall-secs" => a.stall_secs = val(i).parse().expect("--stall-secs S"),
            "--child" => a.child = Some(val(i)),
            "--bootstrap" => a.bootstrap = val(i),
            "--topic" => a.topic = val(i),
            "--messages" => a.messages = val(i).parse().expect("--messages N"),
            "--prop" => a.props.push(val(i)),
            "--linger-ms" => a.linger_ms = val(i).parse().expect("--linger-ms MS"),
            "--peer-url" => a.peer_url = val(i),
            "--peer-token" => a.peer_token = val(i),
            "--amqp-cs" => a.amqp_cs = val(i),
            "--idle-secs" => a.idle_secs = val(i).parse().expect("--idle-secs S"),
            "--siem-rounds" => a.siem_rounds = val(i).parse().expect("--siem-rounds N"),
            "--group" => a.group = val(i),
            "--amqp-prefetch" => a.amqp_prefetch = Some(val(i).parse().expect("--amqp-prefetch N")),
            "--no-amqp" => {
                a.amqp = false;
                i += 1;
                continue;
            }
            "--no-fsync" => {
                a.fsync = false;
                i += 1;
                continue;
            }
            "--no-siem" => {
                a.siem = false;
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Generator seed 7 (as `realistic_bodies`), envelopes until exactly `records` records.
fn generate(records: u64, mut each: impl FnMut(&[u8])) {
    let mut generator = Generator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    })
    .expect("the default generator config is valid");
    let mut buf = Vec::new();
    let mut n = 0u64;
    while n < records {
        buf.clear();
        let remaining = (records - n) as usize;
        let info = if remaining < 50 {
            generator.next_envelope_with(remaining, &mut buf)
        } else {
            generator.next_envelope(&mut buf)
        };
        n += info.records as u64;
        each(&buf);
    }
}

// ---------------------------------------------------------------------------------------------
// child: one pipeline run

fn child_config(args: &Args, mode: &str, dir: &Path) -> Config {
    let (budget, sink) = match mode {
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

/// Store requests per operation, from the child's /metrics text.
fn store_requests(metrics: &str) -> String {
    metrics
        .lines()
        .filter(|l| l.starts_with("entrastream_checkpoint_store_requests_total{"))
        .filter_map(|l| {
            let op = l.split("operation=\"").nth(1)?.split('"').next()?;
            let outcome = l.split("outcome=\"").nth(1)?.split('"').next()?;
            let v = l.rsplit(' ').next()?;
            Some(format!("store_{op}_{outcome}={v}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The broker's read ceiling: a bare rdkafka consumer (same fetch settings as the pipeline's
/// source, no pipeline) reading every message of the topic.
fn run_raw_consumer(args: &Args) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &args.bootstrap)
        .set("group.id", "e2e-raw")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", "16384")
        .set("fetch.queue.backoff.ms", "10") // as the source sets it
        .set("fetch.wait.max.ms", "10");
    for p in &args.props {
        let (k, v) = p.split_once('=').expect("--prop key=value");
        cfg.set(k, v);
    }
    let consumer: BaseConsumer = cfg.create().expect("consumer");
    consumer.subscribe(&[&args.topic]).expect("subscribe");
    let t0 = Instant::now();
    let mut first: Option<Instant> = None;
    let mut cpu_at_first = (0.0, 0.0, 0);
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < args.messages && t0.elapsed() < Duration::from_secs(600) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            if first.is_none() {
                first = Some(Instant::now());
                cpu_at_first = rusage_self();
            }
            n += 1;
            bytes += m.payload().map_or(0, <[u8]>::len) as u64;
        }
    }
    let end = Instant::now();
    let cpu = rusage_self();
    let first = first.unwrap_or(end);
    println!(
        "RESULT startup_s={:.3} secs={:.3} user_s={:.3} sys_s={:.3} records_done=0 messages_done={n} bytes_in={bytes} vmhwm_kib={}",
        (first - t0).as_secs_f64(),
        (end - first).as_secs_f64(),
        cpu.0 - cpu_at_first.0,
        cpu.1 - cpu_at_first.1,
        status_kib("VmHWM:")
    );
}

/// (user CPU seconds, system CPU seconds, peak RSS KiB) of this process, from getrusage.
fn rusage_self() -> (f64, f64, u64) {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    (
        secs(u.user_time()),
        secs(u.system_time()),
        u.max_rss().max(0) as u64,
    )
}

fn run_child(args: &Args, mode: &str) {
    if std::env::var_os("RUST_LOG").is_some() {
        entrastream_telemetry::init_logging(entrastream_telemetry::LogFormat::Pretty, "warn");
    }
    if mode == "raw" {
        run_raw_consumer(args);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let config = child_config(args, mode, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = String::new();
    rt.block_on(async {
        let t0 = Instant::now();
        let running = entrastream_app::start(&config, &Env::default(), Default::default())
            .await
            .expect("pipeline starts");
        let progress = running.progress.clone();
        let mut first: Option<Instant> = None;
        let mut cpu_at_first = (0.0, 0.0, 0);
        let mut peak_rss_kib = 0u64;
        let idle = mode == "amqp-idle32";
        let deadline = if idle {
            Duration::from_secs(args.idle_secs)
        } else if mode == "stalled" {
            Duration::from_secs(args.stall_secs)
        } else {
            Duration::from_secs(600)
        };
        loop {
            peak_rss_kib = peak_rss_kib.max(status_kib("VmRSS:"));
            if first.is_none() && progress.messages_in.load(Ordering::Relaxed) > 0 {
                first = Some(Instant::now());
                cpu_at_first = rusage_self();
            }
            if mode != "stalled"
                && !idle
                && progress.messages_done.load(Ordering::Relaxed) >= args.messages
            {
                break;
            }
            if running.is_finished() {
                let r = running.wait().await;
                panic!("pipeline ended early: {r:?}");
            }
            let grace = if mode == "stalled" || idle { 0 } else { 1 };
            if t0.elapsed() > deadline + Duration::from_secs(grace) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let end = Instant::now();
        let cpu_at_end = rusage_self();
        let first = first.unwrap_or(end);
        let hwm = status_kib("VmHWM:");
        let file_bytes = std::fs::metadata(dir.path().join("records.ndjson"))
            .map(|m| m.len())
            .unwrap_or(0);
        out = format!(
            "RESULT startup_s={:.3} secs={:.3} user_s={:.3} sys_s={:.3} maxrss_kib={} records_done={} messages_done={} bytes_in={} records_in={} messages_in={} vmhwm_kib={} vmrss_peak_kib={} file_bytes={}",
            (first - t0).as_secs_f64(),
            (end - first).as_secs_f64(),
            cpu_at_end.0 - cpu_at_first.0,
            cpu_at_end.1 - cpu_at_first.1,
            cpu_at_end.2,
            progress.records_done.load(Ordering::Relaxed),
            progress.messages_done.load(Ordering::Relaxed),
            progress.bytes_in.load(Ordering::Relaxed),
            progress.records_in.load(Ordering::Relaxed),
            progress.messages_in.load(Ordering::Relaxed),
            hwm,
            peak_rss_kib.max(status_kib("VmRSS:")),
            file_bytes,
        );
        if idle {
            out.push_str(&format!(
                " idle_secs={:.3} {}",
                t0.elapsed().as_secs_f64(),
                store_requests(&running.metrics.render())
            ));
        }
        println!("{out}");
        let _ = std::io::stdout().flush();
        if mode == "stalled" {
            // The sink never acknowledges; a drain would only wait out shutdown_timeout.
            std::process::exit(0);
        }
        let _ = running.stop().await;
    });
}

// ---------------------------------------------------------------------------------------------
// parent

#[derive(Debug, Default)]
struct ChildResult {
    kv: std::collections::HashMap<String, f64>,
}

impl ChildResult {
    fn get(&self, k: &str) -> f64 {
        self.kv.get(k).copied().unwrap_or(f64::NAN)
    }
}

fn spawn_child(
    args: &Args,
    mode: &str,
    bootstrap: &str,
    topic: &str,
    messages: u64,
) -> ChildResult {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--child", mode, "--bootstrap", bootstrap, "--topic", topic])
        .args(["--messages", &messages.to_string()])
        .args(["--budget-mib", &args.budget_mib.to_string()])
        .args(["--stall-secs", &args.stall_secs.to_string()])
        .args(["--linger-ms", &args.linger_ms.to_string()])
        .stderr(Stdio::inherit());
    if !args.fsync {
        cmd.arg("--no-fsync");
    }
    if !args.peer_url.is_empty() {
        cmd.args(["--peer-url", &args.peer_url]);
    }
    if !args.peer_token.is_empty() {
        cmd.args(["--peer-token", &args.peer_token]);
    }
    if !args.amqp_cs.is_empty() {
        cmd.args(["--amqp-cs", &args.amqp_cs]);
        cmd.args(["--idle-secs", &args.idle_secs.to_string()]);
        if let Some(p) = args.amqp_prefetch {
            cmd.args(["--amqp-prefetch", &p.to_string()]);
        }
    }
    for p in &args.props {
        cmd.args(["--prop", p]);
    }
    if !args.group.is_empty() {
        cmd.args(["--group", &args.group]);
    }
    let output = cmd.output().expect("run child");
    assert!(
        output.status.success(),
        "{mode} child failed: {:?}",
        output.status
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("{mode} child printed no RESULT: {text}"));
    let mut r = ChildResult::default();
    for kv in line["RESULT ".len()..].split_whitespace() {
        if let Some((k, v)) = kv.split_once('=') {
            r.kv.insert(k.to_string(), v.parse().unwrap_or(f64::NAN));
        }
    }
    r
}

fn main() {
    let args = parse_args();
    if let Some(mode) = args.child.clone() {
        run_child(&args, &mode);
        return;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!(
        "e2e: {} records, {} partitions, load average at start: {}",
        args.records,
        args.partitions,
        load.trim()
    );

    // 1. input, once
    let t = Instant::now();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    generate(args.records, |b| bodies.push(b.to_vec()));
    let input_bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    eprintln!(
        "generated {} messages, {:.1} MB in {:.1}s",
        bodies.len(),
        input_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    // 2. parse + native encode, one thread
    let opts = ParseOptions::default();
    let ctx = EncodeContext::default();
    let mut out = Vec::with_capacity(4 << 20);
    let mut parsed = 0u64;
    let t = Instant::now();
    for body in &bodies {
        out.clear();
        for s in split(body) {
            let r = parse_record(s.expect("generated body splits"), &opts).expect("parses");
            encode(Schema::Native, &r, &ctx, &mut out).expect("encodes");
            parsed += 1;
        }
        std::hint::black_box(&out);
    }
    let pe_secs = t.elapsed().as_secs_f64();
    assert_eq!(parsed, args.records, "records parsed");
    let pe_rps = parsed as f64 / pe_secs;
    let pe_mbs = input_bytes as f64 / 1e6 / pe_secs;
    eprintln!("parse+encode: {pe_secs:.2}s, {pe_rps:.0} records/s, {pe_mbs:.1} MB/s");

    // 3. backlog in nisshi
    let broker = Broker::start().expect("nisshi is installed (scripts/test installs it)");
    let t = Instant::now();
    broker.create_topic("e2e", args.partitions);
    let mut p = Producing::new(&broker.bootstrap, "e2e", args.partitions);
    for b in &bodies {
        p.send(b);
    }
    let (messages, produced) = p.finish();
    eprintln!(
        "produced {messages} messages, {:.1} MB into nisshi in {:.1}s",
        produced as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    // 3b. the same bodies in the Event Hubs peer (same partition spread), for the AMQP row
    let amqp_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("peer runtime");
    let amqp_peer = if args.amqp {
        let peer = amqp_rt
            .block_on(entrastream_eventhubs_peer::EventHubsPeer::start(
                entrastream_eventhubs_peer::PeerConfig::single_hub("e2e", args.partitions as u32),
            ))
            .expect("Event Hubs peer");
        for (i, b) in bodies.iter().enumerate() {
            peer.append(
                "e2e",
                &(i % args.partitions as usize).to_string(),
                b.clone(),
            );
        }
        Some(peer)
    } else {
        None
    };
    drop(bodies);

    // 4. end to end, one child per sink
    let mut rows = Vec::new();
    for mode in ["blackhole", "file"] {
        let r = spawn_child(&args, mode, &broker.bootstrap, "e2e", messages);
        let (secs, rps, mbs) = rates(&r, mode, args.records);
        eprintln!(
            "{mode}: {secs:.2}s after {:.2}s group join, {rps:.0} records/s, {mbs:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB, {:.1} MB written",
            r.get("startup_s"),
            r.get("user_s"),
            r.get("sys_s"),
            r.get("vmhwm_kib") / 1024.0,
            r.get("file_bytes") / 1e6
        );
        rows.push((mode, secs, rps, mbs, r));
    }

    // 4b. the SIEM sinks against the testkit peers (in this process, on loopback)
    let mut siem_rows: Vec<SiemRun> = Vec::new();
    let mut siem_baselines: Vec<(f64, ChildResult)> = Vec::new();
    if args.siem {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("peer runtime");
        // The machine is shared and its load drifts over a run, so each round measures its
        // own blackhole baseline right before the SIEM sinks, and the table reports the median
        // round of each sink.
        for round in 1..=args.siem_rounds.max(1) {
            let mut base_args = args.clone();
            base_args.group = format!("e2e-blackhole-round{round}");
            let b = spawn_child(&base_args, "blackhole", &broker.bootstrap, "e2e", messages);
            let (_, baseline_rps, baseline_mbs) = rates(&b, "blackhole", args.records);
            eprintln!(
                "round {round}: blackhole {baseline_rps:.0} records/s, {baseline_mbs:.1} MB/s"
            );
            siem_baselines.push((baseline_rps, b));
            for mode in ["hec-noack", "hec-ack", "sumo"] {
                let mut a = args.clone();
                a.group = format!("e2e-{mode}-round{round}");
                // What the peer counted (events or lines), read after the child has finished.
                let counted: Box<dyn Fn() -> usize> = if mode == "sumo" {
                    // Benchmark mode: the protocol as in the tests, lines counted, not kept.
                    let peer = rt.block_on(entrastream_testkit::SumoPeer::start_with(
                        "BenchSumoSecret",
                        entrastream_testkit::SumoPeerOptions { keep_lines: false },
                    ));
                    a.peer_url = peer.url();
                    Box::new(move || peer.line_count())
                } else {
                    let peer = rt.block_on(entrastream_testkit::HecPeer::start(
                        // Benchmark mode: token, channel, gzip, max content length, every
                        // event's JSON and `event` field checked, ackIds and ack polls answered;
                        // events counted instead of parsed into trees and kept.
                        entrastream_testkit::HecPeerOptions {
                            ack: mode == "hec-ack",
                            keep_events: false,
                            ..Default::default()
                        },
                    ));
                    a.peer_url = peer.url();
                    a.peer_token = peer.token().to_string();
                    Box::new(move || peer.event_count())
                };
                // The peer runs in this process: its CPU is this process's while the child runs.
                let before = rusage_self();
                let mut r = spawn_child(&a, mode, &broker.bootstrap, "e2e", messages);
                let after = rusage_self();
                r.kv.insert("peer_cpu_s".into(), after.0 - before.0 + after.1 - before.1);
                assert!(
                    counted() >= args.records as usize,
                    "{mode}: the peer indexed {} of {} records",
                    counted(),
                    args.records
                );
                let (secs, rps, mbs) = rates(&r, mode, args.records);
                eprintln!(
                    "{mode}: {secs:.2}s, {rps:.0} records/s, {mbs:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB, peer {:.2} CPU-s",
                    r.get("user_s"),
                    r.get("sys_s"),
                    r.get("vmhwm_kib") / 1024.0,
                    r.get("peer_cpu_s")
                );
                siem_rows.push(SiemRun {
                    round,
                    mode,
                    baseline_rps,
                    rps,
                    mbs,
                    r,
                });
            }
        }
        drop(rt);
    }

    // 4c. AMQP: the preloaded peer → AMQP source → blackhole; then store traffic at 32
    // partitions with a trickle of events so that checkpoints keep moving.
    let mut amqp_row = None;
    let mut idle_row = None;
    if let Some(peer) = &amqp_peer {
        let mut a = args.clone();
        a.amqp_cs = format!("{}|{}", peer.endpoint(), peer.connection_string("e2e"));
        let before = rusage_self();
        let mut r = spawn_child(&a, "amqp-blackhole", "", "", messages);
        let after = rusage_self();
        r.kv.insert("peer_cpu_s".into(), after.0 - before.0 + after.1 - before.1);
        assert!(
            r.get("records_done") >= args.records as f64,
            "amqp: {} of {} records done",
            r.get("records_done"),
            args.records
        );
        let secs = r.get("secs");
        eprintln!(
            "amqp-blackhole: {secs:.2}s, {:.0} records/s, {:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB, peer {:.2} CPU-s",
            r.get("records_done") / secs,
            r.get("bytes_in") / 1e6 / secs,
            r.get("user_s"),
            r.get("sys_s"),
            r.get("vmhwm_kib") / 1024.0,
            r.get("peer_cpu_s")
        );
        amqp_row = Some(r);
        let peer32 = amqp_rt
            .block_on(entrastream_eventhubs_peer::EventHubsPeer::start(
                entrastream_eventhubs_peer::PeerConfig::single_hub("idle", 32),
            ))
            .expect("Event Hubs peer");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let trickle = {
            let (peer32, stop) = (peer32.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut body = Vec::new();
                generate(1, |b| body = b.to_vec());
                while !stop.load(Ordering::Relaxed) {
                    for p in 0..32 {
                        peer32.append("idle", &p.to_string(), body.clone());
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        };
        let mut a = args.clone();
        a.amqp_cs = format!("{}|{}", peer32.endpoint(), peer32.connection_string("idle"));
        let r = spawn_child(&a, "amqp-idle32", "", "", u64::MAX);
        stop.store(true, Ordering::Relaxed);
        let _ = trickle.join();
        idle_row = Some(r);
    }
    drop(amqp_peer);
    drop(amqp_rt);

    // 5. stalled sink over a >= backlog-mib backlog
    let backlog_target = args.backlog_mib * MIB;
    let (stall_topic, stall_bytes) = if produced >= backlog_target {
        ("e2e".to_string(), produced)
    } else {
        let t = Instant::now();
        broker.create_topic("backlog", args.partitions);
        let mut p = Producing::new(&broker.bootstrap, "backlog", args.partitions);
        let mut generator = Generator::new(GeneratorConfig {
            seed: 7,
            ..GeneratorConfig::default()
        })
        .expect("generator");
        let mut buf = Vec::new();
        while p.bytes < backlog_target {
            buf.clear();
            generator.next_envelope(&mut buf);
            p.send(&buf);
        }
        let (_, b) = p.finish();
        eprintln!(
            "produced a {:.1} MB backlog into nisshi in {:.1}s",
            b as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        ("backlog".to_string(), b)
    };
    let raw = spawn_child(&args, "raw", &broker.bootstrap, "e2e", messages);
    eprintln!(
        "bare rdkafka consumer: {:.2}s, {:.1} MB/s, {} messages",
        raw.get("secs"),
        raw.get("bytes_in") / 1e6 / raw.get("secs"),
        raw.get("messages_done")
    );
    let stalled = spawn_child(&args, "stalled", &broker.bootstrap, &stall_topic, u64::MAX);
    drop(broker);

    // summary
    let limit_mib = (args.budget_mib + 64) as f64;
    let mut s = String::new();
    s.push_str(&format!(
        "input: {} records, {} messages, {:.1} MB (generator seed 7), {} partitions, fsync={}\n",
        args.records,
        messages,
        input_bytes as f64 / 1e6,
        args.partitions,
        args.fsync
    ));
    s.push_str(
        "| run | records/s | MB/s | % of parse+encode | CPU-s per MB (user+sys) | peak RSS (VmHWM) |\n",
    );
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    s.push_str(&format!(
        "| parse + native encode (1 thread, in-process) | {pe_rps:.0} | {pe_mbs:.1} | 100% | {:.4} | - |\n",
        pe_secs / (input_bytes as f64 / 1e6)
    ));
    for (mode, _secs, rps, mbs, r) in &rows {
        s.push_str(&format!(
            "| nisshi → pipeline → {mode} | {rps:.0} | {mbs:.1} | {:.0}% | {:.4} | {:.0} MiB |\n",
            rps / pe_rps * 100.0,
            (r.get("user_s") + r.get("sys_s")) / (r.get("bytes_in") / 1e6),
            r.get("vmhwm_kib") / 1024.0
        ));
    }
    s.push_str(&format!(
        "| nisshi → bare rdkafka BaseConsumer, no pipeline (read ceiling) | - | {:.1} | - | {:.4} | {:.0} MiB |\n",
        raw.get("bytes_in") / 1e6 / raw.get("secs"),
        (raw.get("user_s") + raw.get("sys_s")) / (raw.get("bytes_in") / 1e6),
        raw.get("vmhwm_kib") / 1024.0
    ));
    if let (Some(r), Some((_, _, bh_rps, _, _))) =
        (&amqp_row, rows.iter().find(|r| r.0 == "blackhole"))
    {
        let rps = r.get("records_done") / r.get("secs");
        let cpu = r.get("user_s") + r.get("sys_s");
        let mb = r.get("bytes_in") / 1e6;
        s.push_str(&format!(
            "| Event Hubs peer → AMQP source (official SDK) → blackhole | {rps:.0} | {:.1} | {:.0}% | {:.4} | {:.0} MiB |\n",
            mb / r.get("secs"),
            rps / pe_rps * 100.0,
            cpu / mb,
            r.get("vmhwm_kib") / 1024.0
        ));
        s.push_str(&format!(
            "AMQP vs Kafka endpoint, blackhole, same run: {:.0}% of the Kafka records/s; per core: AMQP {:.1} MB per CPU-s, Kafka {:.1}; peer CPU during the AMQP run {:.2} s (in the parent process)\n",
            rps / bh_rps * 100.0,
            mb / cpu,
            rows.iter()
                .find(|r| r.0 == "blackhole")
                .map_or(f64::NAN, |(_, _, _, _, k)| (k.get("bytes_in") / 1e6) / (k.get("user_s") + k.get("sys_s"))),
            r.get("peer_cpu_s")
        ));
    }
    if let Some(r) = &idle_row {
        let minutes = r.get("idle_secs") / 60.0;
        let mut per_min = Vec::new();
        let mut total = 0.0;
        for op in [
            "list_ownership",
            "claim_ownership",
            "list_checkpoints",
            "update_checkpoint",
        ] {
            let n = r.get(&format!("store_{op}_ok"))
                + r.kv
                    .get(&format!("store_{op}_error"))
                    .copied()
                    .unwrap_or(0.0);
            let n = if n.is_nan() { 0.0 } else { n };
            total += n;
            per_min.push(format!("{op} {:.0}", n / minutes));
        }
        s.push_str(&format!(
            "checkpoint store, one replica owning 32 partitions, defaults (10 s cycle, 5 s checkpoints), events on every partition each second, {:.0} s: {:.0} requests/min ({})\n",
            r.get("idle_secs"),
            total / minutes,
            per_min.join(", ")
        ));
    }
    if !siem_baselines.is_empty() {
        let rounds = siem_baselines.len();
        // Compile-time: `--features isal` builds the sinks (this binary's children) on ISA-L.
        let gzip = entrastream_sink_http::GzipBackend::DEFAULT.name();
        s.push_str(&format!(
            "\n| SIEM sink (gzip on with {gzip}, native schema, peer on loopback; median of {rounds} rounds) | records/s | MB/s | % of blackhole (each round) | CPU-s per MB (entrastream) | peak RSS (VmHWM) | peer CPU-s |\n",
        ));
        s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
        let cpu_mb =
            |r: &ChildResult| (r.get("user_s") + r.get("sys_s")) / (r.get("bytes_in") / 1e6);
        let mut baselines: Vec<&(f64, ChildResult)> = siem_baselines.iter().collect();
        baselines.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (bh_rps, bh) = baselines[baselines.len() / 2];
        let each: Vec<String> = siem_baselines
            .iter()
            .map(|(rps, _)| format!("{rps:.0}"))
            .collect();
        s.push_str(&format!(
            "| blackhole (run before each round; records/s: {}) | {bh_rps:.0} | {:.1} | 100% | {:.4} | {:.0} MiB | - |\n",
            each.join(" / "),
            bh.get("bytes_in") / 1e6 / bh.get("secs"),
            cpu_mb(bh),
            bh.get("vmhwm_kib") / 1024.0
        ));
        let mut hec_ack_pct = None;
        for mode in ["hec-noack", "hec-ack", "sumo"] {
            let mut runs: Vec<&SiemRun> = siem_rows.iter().filter(|r| r.mode == mode).collect();
            if runs.is_empty() {
                continue;
            }
            let each: Vec<String> = runs
                .iter()
                .map(|r| format!("{:.0}%", r.rps / r.baseline_rps * 100.0))
                .collect();
            runs.sort_by(|a, b| (a.rps / a.baseline_rps).total_cmp(&(b.rps / b.baseline_rps)));
            let m = runs[runs.len() / 2];
            let pct = m.rps / m.baseline_rps * 100.0;
            if mode == "hec-ack" {
                hec_ack_pct = Some(pct);
            }
            let label = match mode {
                "hec-noack" => "Splunk HEC, indexer ack off",
                "hec-ack" => "Splunk HEC, indexer ack on",
                _ => "Sumo Logic",
            };
            s.push_str(&format!(
                "| {label} (median: round {}) | {:.0} | {:.1} | **{pct:.0}%** ({}) | {:.4} | {:.0} MiB | {:.2} |\n",
                m.round,
                m.rps,
                m.mbs,
                each.join(" / "),
                cpu_mb(&m.r),
                m.r.get("vmhwm_kib") / 1024.0,
                m.r.get("peer_cpu_s")
            ));
        }
        if let Some(pct) = hec_ack_pct {
            s.push_str(&format!(
                "target HEC with ack on ≥ 70% of blackhole (median of {rounds} rounds): {pct:.0}% → {}\n",
                if pct >= 70.0 { "met" } else { "NOT met" }
            ));
        }
    }
    let st_hwm = stalled.get("vmhwm_kib") / 1024.0;
    s.push_str(&format!(
        "stalled sink (file on /dev/full, ENOSPC = retryable): backlog {:.1} MB, budget {} MiB, {}s: consumed {:.1} MB / {} records, delivered {}, peak RSS {:.0} MiB vs limit {:.0} MiB → {}\n",
        stall_bytes as f64 / 1e6,
        args.budget_mib,
        args.stall_secs,
        stalled.get("bytes_in") / 1e6,
        stalled.get("records_in"),
        stalled.get("records_done"),
        st_hwm,
        limit_mib,
        if st_hwm <= limit_mib { "met" } else { "NOT met" }
    ));
    for (mode, _, rps, _, _) in &rows {
        let pct = rps / pe_rps * 100.0;
        s.push_str(&format!(
            "target end-to-end ≥ 50% of parse+encode ({mode}): {pct:.0}% → {}\n",
            if pct >= 50.0 { "met" } else { "NOT met" }
        ));
    }
    println!("{s}");
}
