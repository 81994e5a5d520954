//! The syslog sink wired into the daemon: Kafka (nisshi) → entrastream → a real rsyslog over
//! RELP, next to a file sink. Every record reaches rsyslog's output once, as RFC 5424 with the
//! record as MSG, and the checkpoint reaches the end of every partition. Then the daemon as a
//! child process with `/metrics` on: rsyslog killed and restarted mid-stream (nothing lost,
//! resends on `/metrics`), and a receiver that never reads (partitions pause in bounded memory,
//! then everything arrives).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_testkit::{Rsyslog, RsyslogOptions};

use crate::support::*;

/// The record id of one rsyslog output line: the JSON after the header's UTF-8 BOM.
fn id_of_line(line: &[u8]) -> Option<String> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let at = line.windows(BOM.len()).position(|w| w == BOM)?;
    record_id_in(&line[at + BOM.len()..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn syslog_sink_over_relp_delivers_every_record_to_rsyslog() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let Some(rsyslog) = Rsyslog::start(RsyslogOptions {
        relp: true,
        ..Default::default()
    }) else {
        return;
    };
    let relp_port = rsyslog.relp_port.expect("RELP input");
    let traffic = produce_topic(&broker, "syslog", 3, 6_000, 91).await;
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "y",
        &broker.bootstrap,
        "syslog",
        "syslog-group",
        "batch_max_bytes = \"128KiB\"\nretry_max = \"500ms\"",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sink = format!(
        "[[sinks]]\nname = \"qradar\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{relp_port}\"\n\
         transport = \"relp\"\nformat = \"rfc5424_json\"\nschema = \"raw\"\nfacility = \"authpriv\"\n\n"
    );
    let text = add_sinks(&text, &sink);
    let env = Env::from_pairs([("E2E_SASL_PASSWORD", SECRET.to_string())]);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "not every message was delivered to rsyslog in time\n{}",
            rsyslog.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();

    let out = rsyslog.output("relp");
    let mut got: HashMap<String, usize> = HashMap::new();
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let id = id_of_line(line).unwrap_or_else(|| {
            panic!(
                "an rsyslog line without a JSON record: {}",
                String::from_utf8_lossy(line)
            )
        });
        // facility authpriv (10): PRI 80 + a severity of 0–7 derived from the record.
        assert!(
            line.len() > 6 && line.starts_with(b"<8") && (b'0'..=b'7').contains(&line[2]),
            "not an authpriv RFC 5424 header: {}",
            String::from_utf8_lossy(&line[..40.min(line.len())])
        );
        assert_eq!(&line[3..6], b">1 ", "RFC 5424 VERSION 1");
        *got.entry(id).or_insert(0) += 1;
    }
    let want = traffic.ids();
    let lost = want.iter().filter(|id| !got.contains_key(*id)).count();
    assert_eq!(lost, 0, "records missing from rsyslog's output");
    assert_eq!(
        broker.committed("syslog-group", "syslog", 3),
        traffic.end_offsets(),
        "the checkpoint reaches the end of every partition"
    );
    eprintln!(
        "syslog e2e: {} records, {} lines in rsyslog's RELP output",
        want.len(),
        got.values().sum::<usize>()
    );
}

/// A daemon config with `sink` (TOML) as its only sink, `/metrics` on `admin` and
/// `extra_pipeline` in `[pipeline]`.
fn syslog_config(
    dir: &std::path::Path,
    broker: &Broker,
    topic: &str,
    sink: &str,
    admin: &str,
    extra_pipeline: &str,
) -> std::path::PathBuf {
    let path = daemon_config(
        dir,
        topic,
        &broker.bootstrap,
        topic,
        &format!("{topic}-group"),
        extra_pipeline,
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let text = replace_sinks(&text, sink).replace(
        "[admin]\nenabled = false\n",
        &format!("[admin]\nlisten = \"{admin}\"\n"),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Record ids in an rsyslog output (one message per line), with how often each arrived. A
/// last line without its line feed is one rsyslog is still writing, and is left out.
fn ids_in_output(out: &[u8]) -> HashMap<String, usize> {
    let mut got = HashMap::new();
    let complete = out
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&out[..0], |end| &out[..end]);
    for line in complete.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let id = id_of_line(line).unwrap_or_else(|| {
            panic!(
                "an rsyslog line without a whole JSON record: {}",
                String::from_utf8_lossy(&line[..200.min(line.len())])
            )
        });
        *got.entry(id).or_insert(0) += 1;
    }
    got
}

/// The value of the one sample of `family` for sink `sink` in a scrape (0 when absent).
fn sink_metric(scrape: &str, family: &str, sink: &str) -> f64 {
    let prefix = format!("{family}{{sink=\"{sink}\"}} ");
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .unwrap_or_else(|| panic!("{prefix} missing from the scrape"))
}

/// The sum over every sample of `family` (all labels) in a scrape.
fn metric_sum(scrape: &str, family: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM` = peak RSS).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// rsyslog frozen (SIGSTOP) while the daemon streams to it over RELP, so a window is out and
/// unacknowledged, then killed (SIGKILL) and started again on the same port: every record is in
/// rsyslog's output, the checkpoint reaches the end, and `/metrics` counts the resends and the
/// reconnect; every duplicate in the output is a counted resend.
#[test]
fn rsyslog_killed_and_restarted_mid_stream_over_relp_loses_nothing_and_counts_resends() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let Some(mut rsyslog) = Rsyslog::start(RsyslogOptions {
        relp: true,
        ..Default::default()
    }) else {
        return;
    };
    let relp_port = rsyslog.relp_port.expect("RELP input");
    broker.create_topic("syslog-restart", 3);
    let traffic = produce(&broker.bootstrap, "syslog-restart", 3, 20_000, 0, 92);
    let want = traffic.ids();
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let sink = format!(
        "[[sinks]]\nname = \"relay\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{relp_port}\"\n\
         transport = \"relp\"\nformat = \"rfc5424_json\"\nschema = \"raw\"\n\
         request_timeout = \"5s\"\nretry_window = \"2s\"\n\n"
    );
    let path = syslog_config(
        dir.path(),
        &broker,
        "syslog-restart",
        &sink,
        &admin,
        "batch_max_bytes = \"128KiB\"\nretry_max = \"500ms\"",
    );
    let mut daemon = Daemon::start(&path);
    let lines = |out: &[u8]| out.iter().filter(|&&b| b == b'\n').count();
    wait_for_daemon(
        &daemon,
        "2,000 records in rsyslog",
        Duration::from_secs(60),
        || lines(&rsyslog.output("relp")) >= 2_000,
    );
    // Frozen first, so the kill finds a window sent and not yet acknowledged.
    rsyslog.freeze();
    let at_freeze = lines(&rsyslog.output("relp"));
    assert!(
        at_freeze < want.len(),
        "the stream was over before the freeze ({at_freeze} lines): not a mid-stream kill"
    );
    std::thread::sleep(Duration::from_millis(1000));
    rsyslog.kill();
    // Down long enough for the daemon to fail reconnecting.
    std::thread::sleep(Duration::from_millis(2000));
    rsyslog.restart();
    wait_for_daemon(
        &daemon,
        "every record in rsyslog's output after the restart",
        Duration::from_secs(90),
        || {
            let got = ids_in_output(&rsyslog.output("relp"));
            want.iter().all(|id| got.contains_key(id))
        },
    );
    wait_for_daemon(
        &daemon,
        "the checkpoint at the end of every partition",
        Duration::from_secs(30),
        || broker.committed("syslog-restart-group", "syslog-restart", 3) == traffic.end_offsets(),
    );
    let scrape = http_get(&admin, "/metrics");
    daemon.term();
    daemon.wait_timeout(Duration::from_secs(20));

    let got = ids_in_output(&rsyslog.output("relp"));
    let lost = want.iter().filter(|id| !got.contains_key(*id)).count();
    assert_eq!(lost, 0, "records lost across the restart");
    let duplicates = got.values().map(|n| n - 1).sum::<usize>() as f64;
    let m = |family| sink_metric(&scrape, family, "relay");
    let resent = m("entrastream_sink_syslog_resent_records_total");
    eprintln!(
        "syslog restart: {} records, {at_freeze} before the freeze, {duplicates} duplicates, {resent} resent, {} reconnects, {} connect failures, {} bytes of a message torn by the kill",
        want.len(),
        m("entrastream_sink_syslog_reconnects_total"),
        m("entrastream_sink_syslog_connect_failures_total"),
        rsyslog.torn_output("relp").len(),
    );
    assert!(resent >= 1.0, "the window in flight at the kill is resent");
    assert!(duplicates <= resent, "every duplicate is a counted resend");
    assert!(m("entrastream_sink_syslog_reconnects_total") >= 1.0);
    assert!(m("entrastream_sink_syslog_connect_failures_total") >= 1.0);
    assert!(m("entrastream_sink_syslog_messages_total") >= want.len() as f64);
    assert!(m("entrastream_sink_syslog_relp_acks_total") >= want.len() as f64);
    assert_eq!(m("entrastream_sink_syslog_relp_in_flight"), 0.0);
    assert_eq!(m("entrastream_sink_syslog_relp_window"), 128.0);
    assert_eq!(m("entrastream_sink_healthy"), 1.0);
    assert!(m("entrastream_sink_syslog_bytes_total") > 0.0);
    assert_promtool_accepts(scrape.split("\r\n\r\n").nth(1).unwrap_or(&scrape));
}

/// A TCP receiver that accepts connections and reads nothing until [`Stalled::resume`]; from
/// then on it passes every connection, the held ones first byte included, on to `upstream`
/// (a real rsyslog's TCP input).
struct Stalled {
    port: u16,
    resume: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl Stalled {
    fn start(upstream: u16) -> Stalled {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let resume = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let r = resume.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                let r = r.clone();
                std::thread::spawn(move || {
                    let (lock, cv) = &*r;
                    let mut go = lock.lock().unwrap();
                    while !*go {
                        go = cv.wait(go).unwrap();
                    }
                    drop(go);
                    let Ok(mut up) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                        return;
                    };
                    let _ = std::io::copy(&mut conn, &mut up);
                });
            }
        });
        Stalled { port, resume }
    }

    fn resume(&self) {
        let (lock, cv) = &*self.resume;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
}

/// A receiver that accepts the TCP connection and never reads: the daemon's send blocks, its
/// byte budget fills and the partitions pause, the checkpoint stays short of the end and the
/// process's peak RSS stays bounded although the topic holds several times the budget; when
/// the receiver starts reading (on to a real rsyslog), every record arrives and the checkpoint
/// reaches the end. (Over plain TCP the checkpoint may move past what the kernel's socket
/// buffers took before the stall: written and flushed is all TCP confirms, docs/sinks.md.)
#[test]
fn blackholed_receiver_pauses_partitions_in_bounded_memory_then_everything_arrives() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let Some(rsyslog) = Rsyslog::start(RsyslogOptions {
        tcp: true,
        ..Default::default()
    }) else {
        return;
    };
    let hole = Stalled::start(rsyslog.tcp_port.expect("TCP input"));
    broker.create_topic("syslog-hole", 3);
    let traffic = produce(&broker.bootstrap, "syslog-hole", 3, 30_000, 0, 93);
    let want = traffic.ids();
    let end: i64 = traffic.end_offsets().iter().sum();
    let dir = tempfile::tempdir().unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    // request_timeout longer than the stall: the one connection stays blocked in its write,
    // so nothing is cut mid-frame and nothing is resent.
    let sink = format!(
        "[[sinks]]\nname = \"hole\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{}\"\n\
         transport = \"tcp\"\nformat = \"rfc5424_json\"\nschema = \"raw\"\n\
         request_timeout = \"60s\"\nretry_window = \"60s\"\n\n",
        hole.port
    );
    const BUDGET_MIB: u64 = 16;
    let path = syslog_config(
        dir.path(),
        &broker,
        "syslog-hole",
        &sink,
        &admin,
        &format!(
            "max_in_flight_bytes = \"{BUDGET_MIB}MiB\"\nbatch_max_bytes = \"256KiB\"\nretry_max = \"1s\""
        ),
    );
    let daemon = Daemon::start(&path);
    let scrape = || try_http_get(&admin, "/metrics").unwrap_or_default();
    wait_for_daemon(
        &daemon,
        "partitions paused",
        Duration::from_secs(60),
        || metric_value(&scrape(), "entrastream_paused_partitions").unwrap_or(0.0) >= 1.0,
    );
    // Stalled for a while: nothing more is read, the peak RSS stays where it is.
    let mut rss_kib = Vec::new();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(500));
        rss_kib.push(proc_kib(daemon.pid(), "VmRSS"));
    }
    let peak_kib = proc_kib(daemon.pid(), "VmHWM");
    let stalled = scrape();
    let read_bytes = metric_sum(&stalled, "entrastream_bytes_in_total");
    let committed: i64 = broker
        .committed("syslog-hole-group", "syslog-hole", 3)
        .iter()
        .sum();
    eprintln!(
        "syslog blackhole: RSS {rss_kib:?} KiB, peak {peak_kib} KiB, {read_bytes} bytes read, committed {committed} of {end}"
    );
    assert!(
        committed < end,
        "the checkpoint stops short of the end while the receiver reads nothing"
    );
    assert!(
        metric_value(&stalled, "entrastream_paused_partitions").unwrap_or(0.0) >= 1.0,
        "partitions stay paused"
    );
    assert_eq!(
        sink_metric(
            &stalled,
            "entrastream_sink_syslog_resent_records_total",
            "hole"
        ),
        0.0
    );
    // The budget, librdkafka's prefetch (queued.max.messages.kbytes = 16 MiB a partition at
    // most) and the process's baseline (~45 MiB measured); the topic holds ~130 MB.
    let bound_kib = (BUDGET_MIB + 3 * 16 + 48) * 1024;
    assert!(
        peak_kib < bound_kib,
        "peak RSS {peak_kib} KiB above {bound_kib} KiB while the receiver read nothing (budget {BUDGET_MIB} MiB)"
    );

    hole.resume();
    wait_for_daemon(
        &daemon,
        "every record in rsyslog's output after the receiver resumed",
        Duration::from_secs(90),
        || {
            let got = ids_in_output(&rsyslog.output("tcp"));
            want.iter().all(|id| got.contains_key(id))
        },
    );
    wait_for_daemon(
        &daemon,
        "the checkpoint at the end of every partition",
        Duration::from_secs(30),
        || broker.committed("syslog-hole-group", "syslog-hole", 3) == traffic.end_offsets(),
    );
    let done = scrape();
    let total_read = metric_sum(&done, "entrastream_bytes_in_total");
    eprintln!("syslog blackhole: {total_read} bytes read in all");
    let budget = (BUDGET_MIB << 20) as f64;
    assert!(
        total_read > 3.0 * budget && read_bytes < total_read,
        "the topic ({total_read} bytes) is not several budgets large or was read whole before the pause ({read_bytes}): the test proves nothing"
    );
    assert!(
        sink_metric(&done, "entrastream_sink_syslog_messages_total", "hole") >= want.len() as f64
    );
}
