//! Scenario 3: connection faults from the fault proxy between the daemon and the broker and
//! between the daemon and the HEC peer, while traffic flows.
//!
//! nisshi advertises one listener, so every Kafka client connects to that address after
//! bootstrap. The advertised address is a [`ClientRouter`]: the daemon's connections go on
//! through the broker fault proxy, the bench's producer and read-back consumer straight to
//! nisshi, so a broker fault stalls only the daemon. What was produced is still read back from
//! the topic at the end and loss and duplicates are counted against it (a producer retry that
//! wrote a message twice is not the daemon's duplicate).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use entrastream_source_kafka::SOCKET_TIMEOUT_MS;
use entrastream_testkit::kafka::Broker;
use entrastream_testkit::{FaultMode, FaultProxy, HecPeer, HecPeerOptions, free_port, record_ids};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::Args;
use crate::harness::{Daemon, DaemonConfig, Row, SteadyProducer, verdict, wait_for};
use crate::outage::{hec_ids, hec_sink};
use crate::router::ClientRouter;

/// The daemon's Kafka `client.id` (set by the source): what the router sends through the proxy.
const DAEMON_CLIENT_ID: &str = "entrastream";

/// The HEC sink's default `request_timeout`.
const HEC_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `fetch.wait.max.ms` of the suite's daemon config (`DaemonConfig::write`).
const FETCH_WAIT_MAX: Duration = Duration::from_millis(50);

/// Every record id in the topic, with its number of copies, and the end offsets.
fn read_back(bootstrap: &str, topic: &str, partitions: i32) -> (HashMap<String, usize>, Vec<i64>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "faults-read-back")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut ends = Vec::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(30))
            .expect("watermarks");
        ends.push(high);
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let total: i64 = ends.iter().sum();
    let mut ids = HashMap::new();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while n < total && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            n += 1;
            for id in record_ids(m.payload().unwrap_or_default()) {
                *ids.entry(id).or_insert(0) += 1;
            }
        }
    }
    assert_eq!(n, total, "read back the whole topic");
    (ids, ends)
}

pub fn network(a: &Args, rt: &tokio::runtime::Runtime) -> Row {
    let peer = rt.block_on(HecPeer::start(HecPeerOptions {
        ack: a.ack,
        ..Default::default()
    }));
    let hec_addr: std::net::SocketAddr = peer
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("peer address");
    let hec_proxy = rt.block_on(FaultProxy::start(hec_addr)).expect("HEC proxy");
    // The router's port must be known before nisshi starts (it is what nisshi advertises);
    // nisshi's listener, where the proxy and the router forward to, only after.
    let advertised = format!("127.0.0.1:{}", free_port());
    let broker = Broker::start_advertising(Some(&advertised)).expect("nisshi");
    let nisshi: std::net::SocketAddr = broker.bootstrap.parse().expect("address");
    let kafka_proxy = rt
        .block_on(FaultProxy::start(nisshi))
        .expect("broker proxy");
    let _router = rt
        .block_on(ClientRouter::start_on(
            advertised.parse().expect("address"),
            DAEMON_CLIENT_ID,
            kafka_proxy.addr(),
            nisshi,
        ))
        .expect("client router");
    broker.create_topic("network", a.partitions);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = DaemonConfig::from_args(
        a,
        &advertised,
        "network",
        hec_sink(&format!("http://{}", hec_proxy.addr()), peer.token(), a.ack),
    );
    // librdkafka's own account of a stall (e.g. `FAULTS_RDKAFKA_DEBUG=cgrp,broker,fetch`, with
    // `FAULTS_KEEP_LOGS`): which request timed out, when the group rejoined.
    let rdkafka_debug = std::env::var("FAULTS_RDKAFKA_DEBUG").ok();
    if let Some(d) = &rdkafka_debug {
        config.properties.push(("debug".into(), d.clone()));
    }
    let config = config.write(dir.path(), "network");
    let log = dir.path().join("network.log");
    let mut daemon = if rdkafka_debug.is_some() {
        Daemon::start_env(&config, &log, &[("RUST_LOG", "info,librdkafka=debug")])
    } else {
        Daemon::start(&config, &log)
    };
    let producer =
        SteadyProducer::start(&broker.bootstrap, "network", a.partitions, a.rate, a.seed);
    let spike = Duration::from_millis(a.latency_ms);
    let phases = [
        ("broker", FaultMode::Reset),
        ("broker", FaultMode::Blackhole),
        ("broker", FaultMode::Latency(spike)),
        ("hec", FaultMode::Reset),
        ("hec", FaultMode::Blackhole),
        ("hec", FaultMode::Latency(spike)),
    ];
    // Longest time without a new delivery while more was sent than delivered.
    let mut max_stall = Duration::ZERO;
    let mut stall_phase = String::new();
    let mut last_count = 0;
    let mut last_new = Instant::now();
    let mut stall_from = String::new();
    // Every stall over 3 s, for the notes: consecutive faults can chain into one stall.
    let mut stalls: Vec<String> = Vec::new();
    let mut watch = |phase: &str, until: Instant, daemon: &mut Daemon| {
        while Instant::now() < until {
            daemon.sample_rss();
            let n = peer.event_count();
            if n > last_count || producer.sent_count() <= n {
                if last_new.elapsed() > Duration::from_secs(3) {
                    stalls.push(format!(
                        "{:.1} s from '{stall_from}' to '{phase}'",
                        last_new.elapsed().as_secs_f64()
                    ));
                }
                last_count = n;
                last_new = Instant::now();
                stall_from = phase.to_string();
            } else if last_new.elapsed() > max_stall {
                max_stall = last_new.elapsed();
                stall_phase = format!("from '{stall_from}' to '{phase}'");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    watch(
        "warm-up",
        Instant::now() + Duration::from_secs(a.pass_secs),
        &mut daemon,
    );
    for (target, mode) in phases {
        let proxy = if target == "broker" {
            &kafka_proxy
        } else {
            &hec_proxy
        };
        let name = format!("{target} {mode:?}");
        eprintln!(
            "network: {name} for {}s from {} UTC",
            a.fault_secs,
            utc_now()
        );
        proxy.set_mode(mode);
        watch(
            &name,
            Instant::now() + Duration::from_secs(a.fault_secs),
            &mut daemon,
        );
        proxy.set_mode(FaultMode::Pass);
        watch(
            &format!("after {name}"),
            Instant::now() + Duration::from_secs(a.pass_secs),
            &mut daemon,
        );
    }
    let alive = daemon.alive();
    producer.finish();
    let (in_topic, end) = read_back(&broker.bootstrap, "network", a.partitions);
    let done = wait_for(Duration::from_secs(300), || {
        peer.event_count() >= in_topic.values().sum::<usize>()
            && broker.committed("faults", "network", a.partitions) == end
    });
    daemon.stop(Duration::from_secs(20));
    // The daemon's log, for reading a stall against its own lines (JSON, UTC timestamps).
    if let Some(keep) = std::env::var_os("FAULTS_KEEP_LOGS") {
        let to = std::path::Path::new(&keep).join("network-daemon.log");
        if std::fs::copy(&log, &to).is_ok() {
            eprintln!("network: daemon log kept in {}", to.display());
        }
    }
    eprintln!("network: stalls over 3 s: {stalls:?}");
    let got = hec_ids(&peer);
    let lost = in_topic.keys().filter(|id| !got.contains_key(*id)).count();
    let dups: usize = got
        .iter()
        .map(|(id, n)| n.saturating_sub(in_topic.get(id).copied().unwrap_or(1)))
        .sum();
    let producer_copies: usize = in_topic.values().map(|n| n - 1).sum();
    let (k, h) = (kafka_proxy.stats(), hec_proxy.stats());
    let mut problems = Vec::new();
    if lost > 0 {
        problems.push(format!("{lost} lost"));
    }
    if !alive {
        problems.push("daemon exited".into());
    }
    if !done {
        problems.push("not all delivered and committed in 300 s after the faults".into());
    }
    // The longest configured wait: the source's socket.timeout.ms (a blackholed broker
    // connection; a fetch waits fetch.wait.max.ms on top) or the HEC request_timeout; plus one
    // latency spike.
    let socket_timeout = Duration::from_millis(
        SOCKET_TIMEOUT_MS
            .parse()
            .expect("socket.timeout.ms is a number"),
    );
    let allowed = (socket_timeout + FETCH_WAIT_MAX).max(HEC_REQUEST_TIMEOUT) + spike;
    if max_stall > allowed {
        problems.push(format!(
            "stall {:.1} s > {:.0} s of configured timeouts",
            max_stall.as_secs_f64(),
            allowed.as_secs_f64()
        ));
    }
    Row {
        scenario: format!(
            "3. proxy faults: reset, blackhole, {} ms latency × broker, HEC ({} s each)",
            a.latency_ms, a.fault_secs
        ),
        records: in_topic.len(),
        lost,
        duplicates: dups,
        max_stall,
        peak_rss_mib: daemon.peak_rss_mib(),
        verdict: verdict(&problems),
        notes: format!(
            "longest stall {stall_phase}; all stalls over 3 s: {}; bound {:.0} s; timeouts: HEC request_timeout {} s, socket.timeout.ms {} (+ fetch.wait.max.ms {}), session.timeout.ms {}; resets broker {} / HEC {}, connections broker {} / HEC {}; the producer bypasses the broker proxy; {producer_copies} producer-side copies in the topic (not counted as duplicates)",
            if stalls.is_empty() {
                "none".to_string()
            } else {
                stalls.join(", ")
            },
            allowed.as_secs_f64(),
            HEC_REQUEST_TIMEOUT.as_secs(),
            SOCKET_TIMEOUT_MS,
            FETCH_WAIT_MAX.as_millis(),
            a.session_ms,
            k.resets,
            h.resets,
            k.connections,
            h.connections
        ),
        command: format!(
            "faults network --rate {} --fault-secs {} --pass-secs {} --latency-ms {} --seed {}",
            a.rate, a.fault_secs, a.pass_secs, a.latency_ms, a.seed
        ),
    }
}

/// The wall-clock time of day, `HH:MM:SS.mmm` (UTC), to find a moment in the daemon's log.
fn utc_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let day_ms = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}
