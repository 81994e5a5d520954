//! The children: each pipeline run is this binary re-executed with `--child MODE`, so that its
//! peak RSS (`VmHWM`) is the pipeline's alone. The child side runs the pipeline (or a bare
//! rdkafka consumer) and prints one `RESULT key=value…` line; the parent side spawns it and
//! parses that line.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_config::Env;
use rdkafka::ClientConfig;

use crate::args::Args;
use crate::child_config::child_config;
use crate::measure::{rusage_self, status_kib};

/// The child side: one pipeline run (or the bare consumer) in `mode`, printing its RESULT line.
pub fn run_child(args: &Args, mode: &str) {
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
        let mut polls = 0u64;
        loop {
            // VmHWM (read at the end) is the exact peak; this sampled VmRSS only backs it up, so
            // it is read every 10th poll: reading /proc on every 5 ms poll took ~1.5 % of the
            // CPU of a child pinned to one core (perf), CPU the pinned rows then charged to the
            // pipeline.
            if polls.is_multiple_of(10) {
                peak_rss_kib = peak_rss_kib.max(status_kib("VmRSS:"));
            }
            polls += 1;
            if first.is_none() && progress.messages_in.load(Ordering::Relaxed) > 0 {
                first = Some(Instant::now());
                cpu_at_first = rusage_self();
            }
            // A buffered sink's records count as done once they are in its buffer; the run
            // ends when its buffer has drained them into the sink as well.
            if mode != "stalled"
                && !idle
                && progress.messages_done.load(Ordering::Relaxed) >= args.messages
                && buffers_drained(&running.metrics)
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
        let buffers = running.metrics.buffers.readings();
        let buffer_written: u64 = buffers.iter().map(|(_, r)| r.written_bytes).sum();
        let buffer_read: u64 = buffers.iter().map(|(_, r)| r.read_bytes).sum();
        let file_bytes = std::fs::metadata(dir.path().join("records.ndjson"))
            .map(|m| m.len())
            .unwrap_or(0);
        let archive_bytes = tree_bytes(&dir.path().join("archive"));
        out = format!(
            "RESULT archive_bytes={archive_bytes} startup_s={:.3} secs={:.3} user_s={:.3} sys_s={:.3} maxrss_kib={} records_done={} messages_done={} bytes_in={} records_in={} messages_in={} vmhwm_kib={} vmrss_peak_kib={} file_bytes={} buffer_written_bytes={} buffer_read_bytes={}",
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
            buffer_written,
            buffer_read,
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

/// True when no disk buffer holds a record its sink has not acknowledged (true without one).
/// Bytes of every file under `root` (the `archive_dir` row's hour files; 0 when absent).
fn tree_bytes(root: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn buffers_drained(metrics: &entrastream_telemetry::Metrics) -> bool {
    metrics
        .buffers
        .readings()
        .iter()
        .all(|(_, r)| r.records == 0 && r.written_records > 0)
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

/// What a child printed on its `RESULT` line.
#[derive(Debug, Default)]
pub struct ChildResult {
    /// `key=value` pairs of its RESULT line.
    pub kv: std::collections::HashMap<String, f64>,
}

impl ChildResult {
    /// A value of its RESULT line, NaN when missing.
    pub fn get(&self, k: &str) -> f64 {
        self.kv.get(k).copied().unwrap_or(f64::NAN)
    }
}

/// Runs this binary as a child in `mode` and parses its RESULT line.
pub fn spawn_child(
    args: &Args,
    mode: &str,
    bootstrap: &str,
    topic: &str,
    messages: u64,
) -> ChildResult {
    let exe = std::env::current_exe().expect("current exe");
    // A pinned row: the child (its runtime, its parse threads, librdkafka's threads) may run
    // on these CPUs only, and its `parse_threads = "auto"` sees as many.
    let mut cmd = if args.taskset.is_empty() {
        Command::new(exe)
    } else {
        let mut c = Command::new("taskset");
        c.args(["-c", &args.taskset]).arg(exe);
        c
    };
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
    cmd.args(["--syslog-relp-window", &args.syslog_relp_window.to_string()]);
    cmd.args(["--syslog-concurrency", &args.syslog_concurrency.to_string()]);
    if !args.peer_ca.is_empty() {
        cmd.args(["--peer-ca", &args.peer_ca]);
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
