//! The rows, parent side: one child per mode, with the peers each needs and the progress line
//! each prints on stderr.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use entrastream_eventhubs_peer::EventHubsPeer;

use crate::args::Args;
use crate::broker::{event_hubs, peer_runtime, process_cpu_s, rsyslog, siem_peer};
use crate::children::{ChildResult, spawn_child};
use crate::measure::rusage_self;
use crate::producers;
use crate::report::{BufferRun, CoresRun, Row, SiemRun, rates};

/// Step 4: the Kafka rows: blackhole and file sinks.
pub fn kafka_rows(args: &Args, bootstrap: &str, messages: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    for mode in ["blackhole", "file"] {
        let r = spawn_child(args, mode, bootstrap, "e2e", messages);
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
    rows
}

/// Step 4b: the SIEM rounds: per round a blackhole baseline, then each SIEM sink against its peer.
pub fn siem_rounds(
    args: &Args,
    bootstrap: &str,
    messages: u64,
) -> (Vec<(f64, ChildResult)>, Vec<SiemRun>) {
    let mut siem_rows: Vec<SiemRun> = Vec::new();
    let mut siem_baselines: Vec<(f64, ChildResult)> = Vec::new();
    let rt = peer_runtime(1);
    // The machine is shared and its load drifts over a run, so each round measures its
    // own blackhole baseline right before the SIEM sinks, and the table reports the median
    // round of each sink.
    for round in 1..=args.siem_rounds.max(1) {
        let mut base_args = args.clone();
        base_args.group = format!("e2e-blackhole-round{round}");
        let b = spawn_child(&base_args, "blackhole", bootstrap, "e2e", messages);
        let (_, baseline_rps, baseline_mbs) = rates(&b, "blackhole", args.records);
        eprintln!("round {round}: blackhole {baseline_rps:.0} records/s, {baseline_mbs:.1} MB/s");
        siem_baselines.push((baseline_rps, b));
        for mode in ["hec-noack", "hec-ack", "sumo"] {
            let mut a = args.clone();
            a.group = format!("e2e-{mode}-round{round}");
            let counted = siem_peer(&rt, mode, &mut a);
            // The peer runs in this process: its CPU is this process's while the child runs.
            let before = rusage_self();
            let mut r = spawn_child(&a, mode, bootstrap, "e2e", messages);
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
    (siem_baselines, siem_rows)
}

/// Step 4d: the disk-buffer rounds (issue 13): per round the blackhole and Splunk HEC (indexer
/// ack on) rows without and then with a disk buffer in front of the sink, so each buffered row
/// compares with the unbuffered one of the same round (the machine's load drifts).
pub fn buffer_rounds(args: &Args, bootstrap: &str, messages: u64) -> Vec<BufferRun> {
    let rt = peer_runtime(1);
    let mut runs = Vec::new();
    for round in 1..=args.siem_rounds.max(1) {
        for sink in ["blackhole", "hec-ack"] {
            let mut pair = Vec::new();
            for mode in [sink.to_string(), format!("{sink}-buffered")] {
                let mut a = args.clone();
                a.group = format!("e2e-{mode}-round{round}");
                let counted = (sink == "hec-ack").then(|| siem_peer(&rt, sink, &mut a));
                let before = rusage_self();
                let mut r = spawn_child(&a, &mode, bootstrap, "e2e", messages);
                let after = rusage_self();
                r.kv.insert("peer_cpu_s".into(), after.0 - before.0 + after.1 - before.1);
                if let Some(counted) = counted {
                    assert!(
                        counted() >= args.records as usize,
                        "{mode}: the peer indexed {} of {} records",
                        counted(),
                        args.records
                    );
                }
                let (secs, rps, mbs) = rates(&r, &mode, args.records);
                eprintln!(
                    "round {round} {mode}: {secs:.2}s, {rps:.0} records/s, {mbs:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB, buffer {:.1} MB written / {:.1} MB read",
                    r.get("user_s"),
                    r.get("sys_s"),
                    r.get("vmhwm_kib") / 1024.0,
                    r.get("buffer_written_bytes") / 1e6,
                    r.get("buffer_read_bytes") / 1e6
                );
                pair.push((rps, mbs, r));
            }
            let (buffered, unbuffered) =
                (pair.pop().expect("two runs"), pair.pop().expect("two runs"));
            runs.push(BufferRun {
                round,
                sink,
                unbuffered_rps: unbuffered.0,
                unbuffered: unbuffered.2,
                rps: buffered.0,
                mbs: buffered.1,
                r: buffered.2,
            });
        }
    }
    drop(rt);
    runs
}

/// Lines in a file, read in chunks (an rsyslog output can be a gigabyte).
fn lines_in(path: &std::path::Path) -> u64 {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return 0;
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64,
        }
    }
}

/// CPU seconds (user + system) per thread of process `pid` so far, by thread id, with the
/// thread's name (rsyslog names its threads after their job: `in:imrelp`, `in:imtcp`,
/// `rs:relp` for a ruleset queue's worker, `rs:main Q:Reg` for the main queue's).
fn thread_cpu_s(pid: u32) -> std::collections::BTreeMap<u32, (String, f64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(tid, (name, (ticks(11) + ticks(12)) / 100.0));
    }
    out
}

/// The threads of a process that used CPU between two [`thread_cpu_s`] snapshots, busiest
/// first: `name tid: CPU-s`.
fn busy_threads(
    before: &std::collections::BTreeMap<u32, (String, f64)>,
    after: &std::collections::BTreeMap<u32, (String, f64)>,
) -> Vec<(String, f64)> {
    let mut used: Vec<(String, f64)> = after
        .iter()
        .map(|(tid, (name, cpu))| {
            let was = before.get(tid).map_or(0.0, |(_, c)| *c);
            (format!("{name} {tid}"), cpu - was)
        })
        .filter(|(_, d)| *d > 0.0)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used
}

/// Step 4b (cont.): the syslog rounds: per round a blackhole baseline, then the syslog sink over RELP
/// and over TLS into one rsyslog (its own process, on the same cores) writing each input to
/// a file. Each row checks that rsyslog wrote a line per record, then empties the file.
pub fn syslog_rounds(
    args: &Args,
    bootstrap: &str,
    messages: u64,
) -> (Vec<(f64, ChildResult)>, Vec<SiemRun>) {
    let (peer, _pki_dir, pki) = rsyslog(args.syslog_strict, args.syslog_imtcp_workers);
    let pid = peer.pid().expect("rsyslogd runs");
    // Which release served the rows (the system's, or one from scripts/rsyslog-chroot).
    eprintln!(
        "syslog: {} (imtcp workerThreads: {})",
        peer.version(),
        args.syslog_imtcp_workers
            .map_or("rsyslog's default".to_owned(), |n| n.to_string())
    );
    let mut rows: Vec<SiemRun> = Vec::new();
    let mut baselines: Vec<(f64, ChildResult)> = Vec::new();
    for round in 1..=args.syslog_rounds.max(1) {
        let mut base_args = args.clone();
        base_args.group = format!("e2e-syslog-blackhole-round{round}");
        let b = spawn_child(&base_args, "blackhole", bootstrap, "e2e", messages);
        let (_, baseline_rps, baseline_mbs) = rates(&b, "blackhole", args.records);
        eprintln!(
            "syslog round {round}: blackhole {baseline_rps:.0} records/s, {baseline_mbs:.1} MB/s"
        );
        baselines.push((baseline_rps, b));
        for (mode, input, port) in [
            ("syslog-relp", "relp", peer.relp_port),
            ("syslog-tls", "tls", peer.tls_port),
        ] {
            let mut a = args.clone();
            a.group = format!("e2e-{mode}-round{round}");
            a.peer_url = format!("127.0.0.1:{}", port.expect("rsyslog input"));
            a.peer_ca = pki.ca.display().to_string();
            let before = process_cpu_s(pid);
            let threads_before = thread_cpu_s(pid);
            let mut r = spawn_child(&a, mode, bootstrap, "e2e", messages);
            let child_done = std::time::Instant::now();
            let out = peer.dir().join(format!("{input}.log"));
            // rsyslog writes each transaction before it answers (RELP) but may still be
            // writing what TLS delivered when the child is done.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut lines = lines_in(&out);
            while lines < args.records && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(200));
                lines = lines_in(&out);
            }
            r.kv.insert("peer_cpu_s".into(), process_cpu_s(pid) - before);
            let threads = busy_threads(&threads_before, &thread_cpu_s(pid));
            // The busiest thread's CPU: the receiver's ceiling when one thread does its work.
            r.kv.insert(
                "peer_top_thread_cpu_s".into(),
                threads.first().map_or(0.0, |t| t.1),
            );
            // How long after the child was done rsyslog still wrote (its queue and buffers).
            let lag_s = child_done.elapsed().as_secs_f64();
            assert!(
                lines >= args.records,
                "{mode}: rsyslog wrote {lines} lines of {} records\n{}",
                args.records,
                peer.diagnostics()
            );
            // omfile appends (O_APPEND), so emptying the file keeps the disk from filling up.
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .open(&out)
                .and_then(|f| f.set_len(0));
            let (secs, rps, mbs) = rates(&r, mode, args.records);
            eprintln!(
                "{mode}: {secs:.2}s, {rps:.0} records/s, {mbs:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB, rsyslog {:.2} CPU-s, {lines} lines, file complete {lag_s:.2}s after the child",
                r.get("user_s"),
                r.get("sys_s"),
                r.get("vmhwm_kib") / 1024.0,
                r.get("peer_cpu_s")
            );
            let threads: Vec<String> = threads
                .iter()
                .map(|(name, cpu)| format!("{name}: {cpu:.2}"))
                .collect();
            eprintln!("{mode}: rsyslog threads (CPU-s): {}", threads.join(", "));
            rows.push(SiemRun {
                round,
                mode,
                baseline_rps,
                rps,
                mbs,
                r,
            });
        }
    }
    (baselines, rows)
}

/// Step 4c: the AMQP rows: the preloaded `peer` read into a blackhole, then the store traffic of
/// one replica owning 32 partitions.
pub fn amqp_rows(
    args: &Args,
    amqp_rt: &tokio::runtime::Runtime,
    peer: &EventHubsPeer,
    messages: u64,
) -> (ChildResult, ChildResult) {
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
    let amqp_row = r;
    let peer32 = event_hubs(amqp_rt, "idle", 32);
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = producers::trickle(peer32.clone(), stop.clone());
    let mut a = args.clone();
    a.amqp_cs = format!("{}|{}", peer32.endpoint(), peer32.connection_string("idle"));
    let r = spawn_child(&a, "amqp-idle32", "", "", u64::MAX);
    stop.store(true, Ordering::Relaxed);
    let _ = trickle.join();
    (amqp_row, r)
}

/// Bytes of every blob in the account's `insights-logs-*` containers (what the `azure_blob`
/// row wrote), listed through the daemon's blob client.
fn archived_blob_bytes(
    rt: &tokio::runtime::Runtime,
    azurite: &entrastream_testkit::Azurite,
) -> u64 {
    let account = azurite.account();
    rt.block_on(async {
        let mut total = 0;
        for container in entrastream_testkit::containers(&account, "insights-logs-").await {
            let blobs = account
                .list_blobs(&container, "")
                .await
                .expect("Azurite answers")
                .unwrap_or_else(|r| panic!("list {container}: {} {}", r.status, r.code));
            total += blobs.iter().map(|b| b.size).sum::<u64>();
        }
        total
    })
}

/// Step 4e: the archive rounds (issue 15): per round a blackhole baseline, then the
/// `archive_dir` sink (hour files under the child's temp dir, fsync as `--no-fsync` says) and
/// the `azure_blob` sink into an Azurite of its own (a fresh one per round, so every round
/// creates its containers and blobs). Each row checks that the archive holds at least the
/// bytes the directory row wrote (the same records, raw, one per line).
pub fn archive_rounds(
    args: &Args,
    bootstrap: &str,
    messages: u64,
) -> (Vec<(f64, ChildResult)>, Vec<SiemRun>) {
    let rt = peer_runtime(1);
    let mut rows: Vec<SiemRun> = Vec::new();
    let mut baselines: Vec<(f64, ChildResult)> = Vec::new();
    for round in 1..=args.siem_rounds.max(1) {
        let mut base_args = args.clone();
        base_args.group = format!("e2e-archive-blackhole-round{round}");
        let b = spawn_child(&base_args, "blackhole", bootstrap, "e2e", messages);
        let (_, baseline_rps, baseline_mbs) = rates(&b, "blackhole", args.records);
        eprintln!(
            "archive round {round}: blackhole {baseline_rps:.0} records/s, {baseline_mbs:.1} MB/s"
        );
        baselines.push((baseline_rps, b));
        let mut dir_bytes = 0.0;
        for mode in ["archive-dir", "azure-blob"] {
            let mut a = args.clone();
            a.group = format!("e2e-{mode}-round{round}");
            let azurite = if mode == "azure-blob" {
                let Some(azurite) = entrastream_testkit::Azurite::start() else {
                    eprintln!("{mode}: azurite-blob is not installed, row skipped");
                    continue;
                };
                a.peer_url = azurite.connection_string();
                Some(azurite)
            } else {
                None
            };
            let before = azurite.as_ref().map_or(0.0, |z| process_cpu_s(z.pid()));
            let mut r = spawn_child(&a, mode, bootstrap, "e2e", messages);
            if let Some(z) = &azurite {
                r.kv.insert("peer_cpu_s".into(), process_cpu_s(z.pid()) - before);
                let bytes = archived_blob_bytes(&rt, z) as f64;
                r.kv.insert("archive_bytes".into(), bytes);
            } else {
                dir_bytes = r.get("archive_bytes");
            }
            let written = r.get("archive_bytes");
            assert!(
                written > 0.0 && written >= dir_bytes,
                "{mode}: the archive holds {written} bytes, the directory row wrote {dir_bytes}"
            );
            let (secs, rps, mbs) = rates(&r, mode, args.records);
            eprintln!(
                "{mode}: {secs:.2}s, {rps:.0} records/s, {mbs:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB, archive {:.1} MB, peer {:.2} CPU-s",
                r.get("user_s"),
                r.get("sys_s"),
                r.get("vmhwm_kib") / 1024.0,
                written / 1e6,
                r.get("peer_cpu_s")
            );
            rows.push(SiemRun {
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
    (baselines, rows)
}

/// The pinned-core rows (issue 16): per round, the blackhole child under `taskset -c 0` and then
/// `taskset -c 0,1`, each with its own consumer group.
pub fn cores_rounds(args: &Args, bootstrap: &str, messages: u64) -> Vec<CoresRun> {
    let mut runs = Vec::new();
    for round in 1..=args.cores_rounds.max(1) {
        for (cpus, cores) in [("0", 1), ("0,1", 2)] {
            let mut a = args.clone();
            a.taskset = cpus.to_string();
            a.group = format!("e2e-blackhole-{cores}core-round{round}");
            let r = spawn_child(&a, "blackhole", bootstrap, "e2e", messages);
            let (secs, rps, mbs) = rates(&r, "blackhole", args.records);
            eprintln!(
                "round {round}: blackhole on {cores} core(s) (taskset -c {cpus}): {secs:.2}s, {rps:.0} records/s, {mbs:.1} MB/s, {:.2} user + {:.2} sys CPU-s, VmHWM {:.0} MiB",
                r.get("user_s"),
                r.get("sys_s"),
                r.get("vmhwm_kib") / 1024.0
            );
            runs.push(CoresRun {
                round,
                cores,
                rps,
                mbs,
                r,
            });
        }
    }
    runs
}
