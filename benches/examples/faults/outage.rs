//! Scenario 2: Splunk (the HEC peer) down for `--outage-secs` with librdkafka's real default
//! `max.poll.interval.ms` (300 s), a backlog many times the byte budget arriving meanwhile.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use entrastream_testkit::kafka::{Broker, produce};
use entrastream_testkit::{HecPeer, HecPeerOptions, record_id};

use crate::Args;
use crate::harness::{Daemon, DaemonConfig, Row, group_loss_lines, verdict, wait_for};

/// A Splunk HEC sink block (native schema) for `endpoint`.
pub fn hec_sink(endpoint: &str, token: &str, ack: bool) -> String {
    format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nschema = \"native\"\nendpoint = {endpoint:?}\ntoken = {token:?}\nindexer_ack = {ack}\n"
    )
}

/// Ids of the records the peer indexed, with their number of occurrences.
pub fn hec_ids(peer: &HecPeer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in peer.events() {
        if let Some(id) = record_id(&e["event"]) {
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

pub fn outage(a: &Args, rt: &tokio::runtime::Runtime) -> Row {
    let peer = rt.block_on(HecPeer::start(HecPeerOptions {
        ack: a.ack,
        ..Default::default()
    }));
    let broker = Broker::start().expect("nisshi");
    broker.create_topic("outage", a.partitions);
    let dir = tempfile::tempdir().expect("temp dir");
    // max.poll.interval.ms stays at librdkafka's default (300000): the point of the test.
    let config = DaemonConfig::from_args(
        a,
        &broker.bootstrap,
        "outage",
        hec_sink(&peer.url(), peer.token(), a.ack),
    )
    .write(dir.path(), "outage");
    let log = dir.path().join("outage.log");
    let mut daemon = Daemon::start(&config, &log);
    // A tenth before the outage, delivered; the rest while Splunk is down.
    let first = produce(
        &broker.bootstrap,
        "outage",
        a.partitions,
        a.records / 10,
        0,
        a.seed,
    );
    let delivered = wait_for(Duration::from_secs(120), || {
        peer.event_count() >= first.records
    });
    assert!(
        delivered,
        "outage: first tenth not delivered before the outage"
    );
    let outage = Duration::from_secs(a.outage_secs);
    peer.refuse_connections_for(outage);
    let down = Instant::now();
    eprintln!("outage: HEC peer down for {}s", a.outage_secs);
    let rest = produce(
        &broker.bootstrap,
        "outage",
        a.partitions,
        a.records - first.records,
        0,
        a.seed + 1,
    );
    let produced_mb = (rest.records as f64 * 4.4) / 1000.0;
    while down.elapsed() < outage {
        daemon.sample_rss();
        assert!(daemon.alive(), "outage: daemon exited during the outage");
        std::thread::sleep(Duration::from_millis(500));
    }
    let back = Instant::now();
    let before = peer.event_count();
    let mut recovery = None;
    let end: Vec<i64> = first
        .end_offsets()
        .iter()
        .zip(rest.end_offsets())
        .map(|(x, y)| x + y)
        .collect();
    let total = first.records + rest.records;
    let done = wait_for(Duration::from_secs(600), || {
        daemon.sample_rss();
        if recovery.is_none() && peer.event_count() > before {
            recovery = Some(back.elapsed());
        }
        peer.event_count() >= total && broker.committed("faults", "outage", a.partitions) == end
    });
    daemon.stop(Duration::from_secs(20));
    let got = hec_ids(&peer);
    let want: HashSet<String> = first.ids().union(&rest.ids()).cloned().collect();
    let lost = want.iter().filter(|id| !got.contains_key(*id)).count();
    let dups: usize = got.values().map(|n| n - 1).sum();
    let left_group = group_loss_lines(&log);
    // Proof that the log was captured at all: the first assignment is always logged.
    let assigned = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("partition assigned")
        .count();
    for l in left_group.iter().take(10) {
        eprintln!("outage: group line: {l}");
    }
    let limit = a.budget_mib as f64 + 64.0;
    let rss = daemon.peak_rss_mib();
    let mut problems = Vec::new();
    if lost > 0 {
        problems.push(format!("{lost} lost"));
    }
    if !done {
        problems.push("not all delivered and committed in 600 s".into());
    }
    if rss > limit {
        problems.push(format!("RSS {rss:.0} > {limit:.0} MiB"));
    }
    if !left_group.is_empty() {
        problems.push(format!("{} group-loss log lines", left_group.len()));
    }
    Row {
        scenario: format!(
            "2. Splunk down {} s, default max.poll.interval.ms",
            a.outage_secs
        ),
        records: total,
        lost,
        duplicates: dups,
        max_stall: recovery.unwrap_or(back.elapsed()),
        peak_rss_mib: rss,
        verdict: verdict(&problems),
        notes: format!(
            "~{produced_mb:.0} MB arrived during the outage, budget {} MiB (RSS limit {limit:.0} MiB); stall = first delivery after Splunk came back; group-loss log lines: {} (partition-assigned lines: {assigned})",
            a.budget_mib,
            left_group.len()
        ),
        command: format!(
            "faults outage --records {} --outage-secs {} --budget-mib {}",
            a.records, a.outage_secs, a.budget_mib
        ),
    }
}
