//! The report: records/s and MB/s of a child, and the summary tables printed at the end.

use crate::args::Args;
use crate::children::ChildResult;

/// Seconds, records/s and MB/s of a child that must have delivered all `records`.
pub fn rates(r: &ChildResult, mode: &str, records: u64) -> (f64, f64, f64) {
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
pub struct SiemRun {
    pub round: usize,
    pub mode: &'static str,
    pub baseline_rps: f64,
    pub rps: f64,
    pub mbs: f64,
    pub r: ChildResult,
}

/// One pinned-core blackhole run (issue 16).
pub struct CoresRun {
    pub round: usize,
    /// CPUs the child was pinned to (`taskset`).
    pub cores: usize,
    pub rps: f64,
    pub mbs: f64,
    pub r: ChildResult,
}

/// The pinned-core table (issue 16): the single-thread parse + encode baseline, then the median
/// round of the blackhole child on 1 and on 2 cores, as a share of the baseline, and each
/// round's 2-core / 1-core ratio. `baseline` is the parse + encode's (records/s, MB/s, MB per
/// CPU-second). MB per CPU-second compares the rows when the machine is loaded: wall-clock
/// rates then depend on what else runs, CPU time per byte much less.
pub fn cores_table(runs: &[CoresRun], baseline: (f64, f64, f64), records: u64) -> String {
    let (pe_rps, pe_mbs, pe_mb_cpu) = baseline;
    let mut s = String::new();
    if runs.is_empty() {
        return s;
    }
    let rounds = runs.iter().map(|r| r.round).max().unwrap_or(1);
    s.push_str(&format!(
        "\n| pinned cores ({records} records, native schema; median of {rounds} rounds; load average at the end: {}) | records/s | MB/s | % of parse + encode | × 1 core (each round) | MB per CPU-s (% of parse + encode) | peak RSS (VmHWM) |\n",
        load_average()
    ));
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    s.push_str(&format!(
        "| parse + native encode, one thread (no source, no sink) | {pe_rps:.0} | {pe_mbs:.1} | 100% | - | {pe_mb_cpu:.1} (100%) | - |\n"
    ));
    let mb_cpu = |r: &ChildResult| (r.get("bytes_in") / 1e6) / (r.get("user_s") + r.get("sys_s"));
    let one: Vec<&CoresRun> = runs.iter().filter(|r| r.cores == 1).collect();
    for cores in [1, 2] {
        let mut of: Vec<&CoresRun> = runs.iter().filter(|r| r.cores == cores).collect();
        if of.is_empty() {
            continue;
        }
        let ratios: Vec<String> = of
            .iter()
            .filter_map(|r| {
                let base = one.iter().find(|o| o.round == r.round)?;
                Some(format!("{:.2}", r.rps / base.rps))
            })
            .collect();
        of.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let m = of[of.len() / 2];
        let cpus = if cores == 1 { "0" } else { "0,1" };
        s.push_str(&format!(
            "| blackhole, `taskset -c {cpus}` (round {}) | {:.0} | {:.1} | {:.0}% | {} | {:.1} ({:.0}%) | {:.0} MiB |\n",
            m.round,
            m.rps,
            m.mbs,
            m.rps / pe_rps * 100.0,
            if cores == 1 { "1.00".to_string() } else { ratios.join(" / ") },
            mb_cpu(&m.r),
            mb_cpu(&m.r) / pe_mb_cpu * 100.0,
            m.r.get("vmhwm_kib") / 1024.0
        ));
    }
    s
}

/// One disk-buffer round of one sink: the buffered run and the unbuffered run before it.
pub struct BufferRun {
    pub round: usize,
    pub sink: &'static str,
    pub unbuffered_rps: f64,
    pub unbuffered: ChildResult,
    pub rps: f64,
    pub mbs: f64,
    pub r: ChildResult,
}

/// The disk-buffer table (issue 13): per sink, the median round's unbuffered and buffered rows,
/// the buffered one as a share of the unbuffered one of its round, CPU per MB and peak RSS.
pub fn buffer_table(runs: &[BufferRun], records: u64) -> String {
    let mut s = String::new();
    if runs.is_empty() {
        return s;
    }
    let rounds = runs.iter().map(|r| r.round).max().unwrap_or(1);
    s.push_str(&format!(
        "\n| sink ({records} records, native schema; median of {rounds} rounds; load average at the end: {}) | records/s | MB/s | % of unbuffered (each round) | CPU-s per MB | peak RSS (VmHWM) | buffer written / read MB |\n",
        load_average()
    ));
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    for sink in ["blackhole", "hec-ack"] {
        let mut of: Vec<&BufferRun> = runs.iter().filter(|r| r.sink == sink).collect();
        if of.is_empty() {
            continue;
        }
        let each: Vec<String> = of
            .iter()
            .map(|r| format!("{:.0}%", r.rps / r.unbuffered_rps * 100.0))
            .collect();
        of.sort_by(|a, b| (a.rps / a.unbuffered_rps).total_cmp(&(b.rps / b.unbuffered_rps)));
        let m = of[of.len() / 2];
        let pct = m.rps / m.unbuffered_rps * 100.0;
        let label = match sink {
            "blackhole" => "blackhole",
            _ => "Splunk HEC, indexer ack on (peer on loopback)",
        };
        let u = &m.unbuffered;
        s.push_str(&format!(
            "| {label}, unbuffered (round {}) | {:.0} | {:.1} | 100% | {:.4} | {:.0} MiB | - |\n",
            m.round,
            m.unbuffered_rps,
            u.get("bytes_in") / 1e6 / u.get("secs"),
            cpu_s_per_mb(u),
            u.get("vmhwm_kib") / 1024.0
        ));
        s.push_str(&format!(
            "| {label}, disk buffer (round {}) | {:.0} | {:.1} | **{pct:.0}%** ({}) | {:.4} | {:.0} MiB | {:.1} / {:.1} |\n",
            m.round,
            m.rps,
            m.mbs,
            each.join(" / "),
            cpu_s_per_mb(&m.r),
            m.r.get("vmhwm_kib") / 1024.0,
            m.r.get("buffer_written_bytes") / 1e6,
            m.r.get("buffer_read_bytes") / 1e6
        ));
        s.push_str(&format!(
            "target {sink} through the buffer ≥ 80% of unbuffered: {pct:.0}% → {}\n",
            if pct >= 80.0 { "met" } else { "NOT met" }
        ));
    }
    s
}

/// One row of the Kafka table: mode, seconds, records/s, MB/s and the child's result.
pub type Row = (&'static str, f64, f64, f64, ChildResult);

/// Everything the summary reports.
pub struct Summary<'a> {
    pub args: &'a Args,
    pub messages: u64,
    pub input_bytes: u64,
    /// Single-threaded parse + native encode: seconds, records/s, MB/s.
    pub pe_secs: f64,
    pub pe_rps: f64,
    pub pe_mbs: f64,
    pub rows: Vec<Row>,
    pub raw: ChildResult,
    pub amqp_row: Option<ChildResult>,
    pub idle_row: Option<ChildResult>,
    pub siem_baselines: Vec<(f64, ChildResult)>,
    pub siem_rows: Vec<SiemRun>,
    pub buffer_runs: Vec<BufferRun>,
    pub syslog_baselines: Vec<(f64, ChildResult)>,
    pub syslog_rows: Vec<SiemRun>,
    pub stalled: ChildResult,
    pub stall_bytes: u64,
}

impl Summary<'_> {
    /// The tables and target lines, as printed on stdout at the end of a run.
    pub fn render(&self) -> String {
        let Summary {
            args,
            messages,
            input_bytes,
            pe_secs,
            pe_rps,
            pe_mbs,
            rows,
            raw,
            amqp_row,
            idle_row,
            siem_baselines,
            siem_rows,
            buffer_runs,
            syslog_baselines,
            syslog_rows,
            stalled,
            stall_bytes,
        } = self;
        let (messages, input_bytes, pe_secs, pe_rps, pe_mbs, stall_bytes) = (
            *messages,
            *input_bytes,
            *pe_secs,
            *pe_rps,
            *pe_mbs,
            *stall_bytes,
        );
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
        for (mode, _secs, rps, mbs, r) in rows.iter() {
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
            // Compile-time: `--features isal` builds the sinks (this binary's children) on ISA-L.
            let gzip = entrastream_sink_http::GzipBackend::DEFAULT.name();
            s.push_str(&comparison(
                &format!(
                    "SIEM sink (gzip on with {gzip}, native schema, peer on loopback; median of {} rounds)",
                    siem_baselines.len()
                ),
                siem_baselines,
                siem_rows,
                &[
                    ("hec-noack", "Splunk HEC, indexer ack off"),
                    ("hec-ack", "Splunk HEC, indexer ack on"),
                    ("sumo", "Sumo Logic"),
                ],
                ("hec-ack", "HEC with ack on", 70.0),
            ));
        }
        if !syslog_baselines.is_empty() {
            let relp_label = format!("syslog over RELP (window {})", args.syslog_relp_window);
            s.push_str(&comparison(
                &format!(
                    "syslog sink (RFC 5424, native record as MSG, rsyslog on loopback writing to a file; median of {} rounds)",
                    syslog_baselines.len()
                ),
                syslog_baselines,
                syslog_rows,
                &[
                    ("syslog-relp", relp_label.as_str()),
                    ("syslog-tls", "syslog over TLS (octet counting)"),
                ],
                ("syslog-relp", "syslog over RELP", 60.0),
            ));
            if let Some(pct) = median_pct(syslog_rows, "syslog-tls") {
                s.push_str(&format!(
                    "target syslog over TLS ≥ 60% of blackhole (median of {} rounds): {pct:.0}% → {}\n",
                    syslog_baselines.len(),
                    if pct >= 60.0 { "met" } else { "NOT met" }
                ));
            }
        }
        s.push_str(&buffer_table(buffer_runs, args.records));
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
        for (mode, _, rps, _, _) in rows.iter() {
            let pct = rps / pe_rps * 100.0;
            s.push_str(&format!(
                "target end-to-end ≥ 50% of parse+encode ({mode}): {pct:.0}% → {}\n",
                if pct >= 50.0 { "met" } else { "NOT met" }
            ));
        }
        s
    }
}

/// The archive table (issue 15): the blackhole baseline and the `archive_dir` and `azure_blob`
/// rows, each the median round by its share of its own round's blackhole, with CPU per MB
/// (entrastream's), peak RSS, the archive's size and the peer's CPU (Azurite's, node).
pub fn archive_table(baselines: &[(f64, ChildResult)], rows: &[SiemRun], records: u64) -> String {
    if baselines.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\n| archive sink ({records} records, raw schema, layout azure_monitor, no compression; median of {} rounds; load average at the end: {}) | records/s | MB/s | % of blackhole (each round) | CPU-s per MB (entrastream) | peak RSS (VmHWM) | archive MB | peer CPU-s |\n",
        baselines.len(),
        load_average()
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let (bh_rps, bh, each) = median_baseline(baselines);
    s.push_str(&format!(
        "| blackhole, native schema (run before each round; records/s: {}) | {bh_rps:.0} | {:.1} | 100% | {:.4} | {:.0} MiB | - | - |\n",
        each.join(" / "),
        bh.get("bytes_in") / 1e6 / bh.get("secs"),
        cpu_s_per_mb(bh),
        bh.get("vmhwm_kib") / 1024.0
    ));
    for (mode, label) in [
        ("archive-dir", "archive_dir (local disk)"),
        (
            "azure-blob",
            "azure_blob (Azurite on loopback, append blocks ≤ 4 MiB)",
        ),
    ] {
        let Some(m) = median_run(rows, mode) else {
            continue;
        };
        let each: Vec<String> = rows
            .iter()
            .filter(|r| r.mode == mode)
            .map(|r| format!("{:.0}%", r.rps / r.baseline_rps * 100.0))
            .collect();
        let peer = m.r.get("peer_cpu_s");
        s.push_str(&format!(
            "| {label} (median: round {}) | {:.0} | {:.1} | **{:.0}%** ({}) | {:.4} | {:.0} MiB | {:.1} | {} |\n",
            m.round,
            m.rps,
            m.mbs,
            m.rps / m.baseline_rps * 100.0,
            each.join(" / "),
            cpu_s_per_mb(&m.r),
            m.r.get("vmhwm_kib") / 1024.0,
            m.r.get("archive_bytes") / 1e6,
            if peer.is_nan() { "-".to_string() } else { format!("{peer:.2}") }
        ));
    }
    s
}

/// A child's CPU time (user + sys) per MB it consumed.
fn cpu_s_per_mb(r: &ChildResult) -> f64 {
    (r.get("user_s") + r.get("sys_s")) / (r.get("bytes_in") / 1e6)
}

/// The median of the rounds' blackhole baselines (records/s and its run), with every round's
/// records/s for the row's label.
fn median_baseline(baselines: &[(f64, ChildResult)]) -> (f64, &ChildResult, Vec<String>) {
    let mut sorted: Vec<&(f64, ChildResult)> = baselines.iter().collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rps, run) = sorted[sorted.len() / 2];
    let each = baselines
        .iter()
        .map(|(rps, _)| format!("{rps:.0}"))
        .collect();
    (*rps, run, each)
}

/// The median run of `mode` by its share of its own round's blackhole.
fn median_run<'a>(rows: &'a [SiemRun], mode: &str) -> Option<&'a SiemRun> {
    let mut runs: Vec<&SiemRun> = rows.iter().filter(|r| r.mode == mode).collect();
    runs.sort_by(|a, b| (a.rps / a.baseline_rps).total_cmp(&(b.rps / b.baseline_rps)));
    runs.get(runs.len() / 2).copied()
}

/// The median run's records/s as a percentage of its round's blackhole.
fn median_pct(rows: &[SiemRun], mode: &str) -> Option<f64> {
    median_run(rows, mode).map(|m| m.rps / m.baseline_rps * 100.0)
}

/// A table of sinks against a peer, each run compared with the blackhole run of its own round
/// (`modes`: mode and label), and the target line of `target` (mode, label, percent).
fn comparison(
    heading: &str,
    baselines: &[(f64, ChildResult)],
    rows: &[SiemRun],
    modes: &[(&str, &str)],
    target: (&str, &str, f64),
) -> String {
    let rounds = baselines.len();
    let mut s = format!(
        "\n| {heading} | records/s | MB/s | % of blackhole (each round) | CPU-s per MB (entrastream) | peak RSS (VmHWM) | peer CPU-s |\n"
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let (bh_rps, bh, each) = median_baseline(baselines);
    s.push_str(&format!(
        "| blackhole (run before each round; records/s: {}) | {bh_rps:.0} | {:.1} | 100% | {:.4} | {:.0} MiB | - |\n",
        each.join(" / "),
        bh.get("bytes_in") / 1e6 / bh.get("secs"),
        cpu_s_per_mb(bh),
        bh.get("vmhwm_kib") / 1024.0
    ));
    for (mode, label) in modes {
        let Some(m) = median_run(rows, mode) else {
            continue;
        };
        let each: Vec<String> = rows
            .iter()
            .filter(|r| r.mode == *mode)
            .map(|r| format!("{:.0}%", r.rps / r.baseline_rps * 100.0))
            .collect();
        let pct = m.rps / m.baseline_rps * 100.0;
        s.push_str(&format!(
            "| {label} (median: round {}) | {:.0} | {:.1} | **{pct:.0}%** ({}) | {:.4} | {:.0} MiB | {:.2} |\n",
            m.round,
            m.rps,
            m.mbs,
            each.join(" / "),
            cpu_s_per_mb(&m.r),
            m.r.get("vmhwm_kib") / 1024.0,
            m.r.get("peer_cpu_s")
        ));
    }
    let (mode, label, want) = target;
    if let Some(pct) = median_pct(rows, mode) {
        s.push_str(&format!(
            "target {label} ≥ {want:.0}% of blackhole (median of {rounds} rounds): {pct:.0}% → {}\n",
            if pct >= want { "met" } else { "NOT met" }
        ));
    }
    s
}

/// The 1-, 5- and 15-minute load averages, for the tables' headers: on this shared machine a
/// row's wall-clock rate means little without them.
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
