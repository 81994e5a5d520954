//! A Splunk outage several times `max.poll.interval.ms` against a small byte budget and a
//! backlog many times that budget, with many small (one-record) messages and some large ones:
//! the Kafka consumer never leaves its group, nothing is lost, few duplicates; and the retention
//! headroom falls while the sink is down and recovers after.
//!
//! Before the poll thread held messages aside instead of blocking on a full hand-off, this is
//! where librdkafka logged "Application maximum poll interval … exceeded … leaving group" and
//! every partition was revoked and redelivered (issue 12, item 1); whether it happened depended
//! on whether the hand-off channel was full when the budget filled. The deterministic form of
//! that failure is `crates/source-kafka/tests/backpressure.rs`.
//!
//! Durations scale with `E2E_MAX_POLL_SECS` (default 10): the outage lasts 3.5 times that.
//! At the default the test runs about 70 s.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_testkit::{HecPeer, HecPeerOptions};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::*;

const TOPIC: &str = "pollout";
const PARTITIONS: i32 = 4;
const RETENTION_SECS: f64 = 3600.0;

/// `messages` envelopes, round-robin over the partitions: one in 20 carries 25 records, the
/// others one record each.
fn produce_mixed(bootstrap: &str, messages: usize, seed: u64) -> Traffic {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .expect("producer");
    let mut generator = Generator::new(GeneratorConfig {
        seed,
        ..Default::default()
    })
    .expect("generator");
    let mut t = Traffic {
        messages: vec![Vec::new(); PARTITIONS as usize],
        ..Default::default()
    };
    let mut buf = Vec::new();
    for i in 0..messages {
        buf.clear();
        generator.next_envelope_with(if i % 20 == 0 { 25 } else { 1 }, &mut buf);
        let ids = record_ids(&buf);
        let p = (i % PARTITIONS as usize) as i32;
        while producer
            .send(BaseRecord::<(), [u8]>::to(TOPIC).partition(p).payload(&buf))
            .is_err()
        {
            producer.poll(Duration::from_millis(10));
        }
        producer.poll(Duration::ZERO);
        t.records += ids.len();
        t.max_message = t.max_message.max(buf.len());
        t.messages[p as usize].push(ids);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    t
}

fn hec_ids(peer: &HecPeer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in peer.events() {
        let p = &e["event"]["properties"];
        if let Some(id) = p["id"].as_str().or(p["requestId"].as_str()) {
            *out.entry(id.to_owned()).or_insert(0) += 1;
        }
    }
    out
}

/// Values of one metric family from a /metrics scrape, by `partition` label.
fn metric_by_partition(metrics: &str, name: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let Some(labels_end) = rest.find('}') else {
            continue;
        };
        let labels = &rest[..labels_end];
        let Some(p) = labels
            .split(',')
            .find_map(|l| l.trim_start_matches('{').strip_prefix("partition=\""))
        else {
            continue;
        };
        if let Ok(v) = rest[labels_end + 1..].trim().parse::<f64>() {
            out.insert(p.trim_end_matches('"').to_string(), v);
        }
    }
    out
}

/// `/metrics` of the child daemon; empty while its admin server is not up yet.
async fn scrape(addr: &str) -> String {
    let addr = addr.to_string();
    tokio::task::spawn_blocking(move || {
        let Ok(mut s) = TcpStream::connect(&addr) else {
            return String::new();
        };
        let mut out = String::new();
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn a_sink_outage_past_max_poll_interval_keeps_the_group_and_loses_nothing() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic(TOPIC, PARTITIONS);
    let max_poll_secs: u64 = std::env::var("E2E_MAX_POLL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let outage = Duration::from_millis(max_poll_secs * 3500);
    let traffic = {
        let b = broker.bootstrap.clone();
        tokio::task::spawn_blocking(move || produce_mixed(&b, 16_000, 12))
            .await
            .unwrap()
    };
    let backlog: usize = traffic.messages.iter().flatten().count();
    let hec = HecPeer::start(HecPeerOptions::default()).await;
    // Down from the start: the budget fills at once and stays full for the whole outage.
    hec.fail_for(503, 9, Duration::from_secs(3600));

    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "m",
        &broker.bootstrap,
        TOPIC,
        "pollout-group",
        "max_in_flight_bytes = \"4MiB\"\nbatch_max_bytes = \"256KiB\"\nretry_max = \"1s\"",
    );
    let admin = format!("127.0.0.1:{}", free_port());
    let text = std::fs::read_to_string(&path).unwrap();
    let sinks = format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\n\n",
        hec.url()
    );
    let text = replace_sinks(&text, &sinks)
        .replace(
            "start_position = \"earliest\"",
            &format!("start_position = \"earliest\"\nretention = \"{RETENTION_SECS}s\""),
        )
        .replace(
            "\"fetch.wait.max.ms\" = \"50\"",
            &format!(
                "\"fetch.wait.max.ms\" = \"50\"\n\"max.poll.interval.ms\" = \"{}\"",
                max_poll_secs * 1000
            ),
        )
        .replace("enabled = false", &format!("listen = \"{admin}\""));
    std::fs::write(&path, text).unwrap();
    let daemon = Daemon::start_with_env(
        &path,
        &[("E2E_HEC_TOKEN".to_string(), hec.token().to_string())],
    );

    // The budget fills and the partitions are paused: the outage, as the daemon sees it, begins.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = scrape(&admin).await;
        if m.lines()
            .any(|l| l.starts_with("entrastream_partition_pauses_total ") && !l.ends_with(" 0"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the budget never filled; daemon log:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outage_began = Instant::now();
    // Headroom at the start of the outage (after one statistics interval, 5 s).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let headroom_early = metric_by_partition(
        &scrape(&admin).await,
        "entrastream_retention_headroom_seconds",
    );
    // A partition none of whose messages was read yet has no known age (the budget may have
    // filled from one partition's fetch): at least the ones that were read are exported.
    assert!(
        !headroom_early.is_empty(),
        "headroom not exported for any partition during the outage"
    );
    tokio::time::sleep(outage.saturating_sub(outage_began.elapsed())).await;
    let headroom_late = metric_by_partition(
        &scrape(&admin).await,
        "entrastream_retention_headroom_seconds",
    );
    assert_eq!(hec.event_count(), 0, "Splunk accepted events while down");
    // It falls as fast as time passes while nothing can be delivered (stats every 5 s).
    let expected_fall = outage.as_secs_f64() - 6.0 - 10.0;
    for (p, early) in &headroom_early {
        let late = headroom_late.get(p).copied().unwrap_or(f64::MAX);
        assert!(
            late < RETENTION_SECS && early - late >= expected_fall,
            "partition {p}: headroom {early} → {late}, expected a fall of at least {expected_fall} s"
        );
    }

    hec.fail_for(503, 9, Duration::ZERO);
    let ids = traffic.ids();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let seen = hec_ids(&hec);
        if ids.iter().all(|id| seen.contains_key(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not everything delivered after the outage: {} of {} ids; daemon log:\n{}",
            ids.iter().filter(|id| seen.contains_key(*id)).count(),
            ids.len(),
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Everything committed: nothing is at risk, the headroom is back to the whole retention.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = metric_by_partition(
            &scrape(&admin).await,
            "entrastream_retention_headroom_seconds",
        );
        if h.len() == PARTITIONS as usize && h.values().all(|v| *v == RETENTION_SECS) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "headroom did not recover after the outage: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut daemon = daemon;
    daemon.term();
    assert!(
        daemon
            .wait_timeout(Duration::from_secs(30))
            .is_some_and(|s| s.success()),
        "daemon did not exit cleanly; log:\n{}",
        daemon.log_text()
    );

    let log = daemon.log_text();
    // librdkafka's facility for leaving the group is MAXPOLL; its message names the interval.
    for bad in [
        "\"MAXPOLL\"",
        "maximum poll interval",
        "partitions revoked",
        "commit on revoke",
    ] {
        assert!(
            !log.contains(bad),
            "the consumer left or lost its group (\"{bad}\"); daemon log:\n{log}"
        );
    }
    let assigned = log.matches("partition assigned").count();
    assert_eq!(
        assigned, PARTITIONS as usize,
        "partitions assigned more than once (a rebalance); daemon log:\n{log}"
    );
    let seen = hec_ids(&hec);
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "backlog {backlog} messages, {} records, max message {} bytes; outage {:?}; duplicates {duplicates}",
        traffic.records, traffic.max_message, outage
    );
    assert!(
        duplicates * 20 < traffic.records,
        "{duplicates} duplicates of {} records (5 % allowed)",
        traffic.records
    );
}
