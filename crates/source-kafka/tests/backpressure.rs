//! The poll thread against librdkafka's mock cluster while the pipeline reads nothing: the
//! consumer stays in its group, rebalances still reach the pipeline, and messages polled before
//! a revoke are not handed over after it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entrastream_model::Checkpoint;
use entrastream_source::{Source, SourceEvent};
use entrastream_source_kafka::{KafkaSource, KafkaSourceConfig};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

const TOPIC: &str = "t";
const PARTITIONS: i32 = 2;
/// `max.poll.interval.ms` of the source under test (the mock broker refuses session timeouts
/// under 6 s, and librdkafka wants this at least the session timeout).
const MAX_POLL_MS: u64 = 6000;

/// A mock cluster on its own thread (it is not `Send`), dropped with the guard.
struct Cluster {
    bootstrap: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Cluster {
    fn start() -> Cluster {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let cluster = MockCluster::new(1).expect("mock cluster");
            cluster
                .create_topic(TOPIC, PARTITIONS, 1)
                .expect("create topic");
            ready_tx.send(cluster.bootstrap_servers()).unwrap();
            let _ = stop_rx.recv();
        });
        Cluster {
            bootstrap: ready_rx.recv().unwrap(),
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` small messages per partition.
fn produce(bootstrap: &str, n: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for i in 0..n {
        for p in 0..PARTITIONS {
            let body = format!("{{\"records\":[],\"n\":{i}}}");
            producer
                .send(BaseRecord::<(), str>::to(TOPIC).partition(p).payload(&body))
                .unwrap();
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn config(bootstrap: &str, group: &str) -> KafkaSourceConfig {
    let properties: BTreeMap<String, String> = [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        ("max.poll.interval.ms", &MAX_POLL_MS.to_string()),
        ("fetch.wait.max.ms", "50"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    KafkaSourceConfig {
        properties,
        drain_timeout: Duration::from_secs(1),
        ..KafkaSourceConfig::for_brokers(bootstrap, TOPIC, group)
    }
}

async fn next(source: &mut KafkaSource, within: Duration) -> SourceEvent {
    tokio::time::timeout(within, source.next_event())
        .await
        .expect("no event in time")
        .expect("source error")
}

/// Reads until `n` messages arrived (answering nothing else); returns (partition, offset)s.
async fn read_messages(source: &mut KafkaSource, n: usize) -> Vec<(i32, i64)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        match next(source, Duration::from_secs(20)).await {
            SourceEvent::Message(m) => seen.push((m.partition.partition, m.offset)),
            SourceEvent::Assigned(_) => {}
            SourceEvent::Revoked { partitions, .. } => {
                panic!("revoked {partitions:?} after {} messages", seen.len())
            }
            SourceEvent::Eof => panic!("eof"),
            SourceEvent::Committed(_) => {}
        }
    }
    seen
}

/// The production failure in small: the pipeline stops reading (its byte budget is full
/// during a sink outage) for three times `max.poll.interval.ms` while the hand-off channel is
/// full. The consumer must stay in the group: no revoke, and every message exactly once in
/// offset order afterwards (a consumer that left would get its partitions revoked and read
/// them again from the last commit, which is none here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_stays_in_its_group_while_the_pipeline_reads_nothing() {
    let cluster = Cluster::start();
    let per_partition = 2000;
    produce(&cluster.bootstrap, per_partition);
    let mut source = KafkaSource::start(&config(&cluster.bootstrap, "stall"), None).unwrap();
    let mut seen = read_messages(&mut source, 10).await;
    // Let the poll thread fill the channel, then read nothing for 3 × max.poll.interval.ms.
    tokio::time::sleep(Duration::from_millis(MAX_POLL_MS * 3 + 500)).await;
    seen.extend(read_messages(&mut source, per_partition * PARTITIONS as usize - 10).await);
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        let expected: Vec<i64> = (0..per_partition as i64).collect();
        assert!(
            offsets == expected,
            "partition {p}: not every offset exactly once in order ({} messages, first {:?})",
            offsets.len(),
            &offsets[..offsets.len().min(5)]
        );
    }
    // Nothing else is pending: no late revoke either.
    if let Ok(ev) = tokio::time::timeout(Duration::from_secs(1), source.next_event()).await {
        assert!(
            !matches!(ev, Ok(SourceEvent::Revoked { .. })),
            "revoked after the stall"
        );
    }
    source.close().await.unwrap();
}

/// A second member joins while the pipeline reads nothing and the hand-off is full: the revoke
/// still reaches the pipeline (on the rebalance path), and afterwards no message polled before
/// the revoke is handed over (each partition starts again at its committed offset, in order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_reaches_a_backpressured_pipeline_and_drops_stale_messages() {
    let cluster = Cluster::start();
    let per_partition = 2000;
    produce(&cluster.bootstrap, per_partition);
    let mut source = KafkaSource::start(&config(&cluster.bootstrap, "join"), None).unwrap();
    read_messages(&mut source, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // the channel fills
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (bootstrap, stop) = (cluster.bootstrap.clone(), stop.clone());
        std::thread::spawn(move || {
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", "join")
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "500")
                .set("enable.auto.commit", "false")
                .set("auto.offset.reset", "latest")
                .create()
                .unwrap();
            c.subscribe(&[TOPIC]).unwrap();
            while !stop.load(Ordering::SeqCst) {
                let _ = c.poll(Duration::from_millis(50));
            }
            c.unsubscribe();
        })
    };
    // Only rebalance events, as the pipeline reads over its byte budget.
    let started = Instant::now();
    let revoked = tokio::time::timeout(Duration::from_secs(30), source.next_rebalance())
        .await
        .expect("the revoke never reached a pipeline that reads no messages")
        .unwrap();
    let SourceEvent::Revoked {
        partitions,
        drained,
    } = revoked
    else {
        panic!("expected a revoke, got {revoked:?}");
    };
    eprintln!("revoked {partitions:?} after {:?}", started.elapsed());
    drained.send(Checkpoint::new()).unwrap();
    let assigned = loop {
        match tokio::time::timeout(Duration::from_secs(30), source.next_rebalance())
            .await
            .expect("no assignment after the revoke")
            .unwrap()
        {
            SourceEvent::Assigned(a) => break a,
            SourceEvent::Revoked { drained, .. } => drained.send(Checkpoint::new()).unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    };
    let mine: Vec<i32> = assigned.iter().map(|(p, _)| p.partition).collect();
    assert_eq!(mine.len(), 1, "two members, two partitions: {mine:?}");
    // Everything now handed over belongs to the new assignment and starts at offset 0 (nothing
    // was committed), in order: the messages polled before the revoke were dropped.
    let mut expected = 0;
    while expected < 100 {
        match next(&mut source, Duration::from_secs(20)).await {
            SourceEvent::Message(m) => {
                assert_eq!(
                    m.partition.partition, mine[0],
                    "message of a revoked partition"
                );
                assert_eq!(m.offset, expected, "stale or out-of-order message");
                expected += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    source.close().await.unwrap();
    other.join().unwrap();
}
