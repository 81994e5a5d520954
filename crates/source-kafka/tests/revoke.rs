//! The commit on revoke against the real nisshi broker, with the testkit's fault proxy on the
//! address nisshi advertises (every connection after bootstrap crosses it):
//!
//! * behind a blackholed path the group session times out and librdkafka revokes the lost
//!   assignment; the source must not then hold its poll thread (and with it librdkafka's
//!   unassign, rejoin and a shutdown) in a commit the group cannot accept;
//! * on a healthy path a revoke still commits exactly the pipeline's drained watermark, and
//!   before the next owner reads the group's offsets;
//! * a commit is reported as done ([`SourceEvent::Committed`], which moves
//!   `entrastream_committed_offset`) only when the group holds it, never for a revoke answer
//!   whose commit was skipped or failed;
//! * a periodic commit waiting on a silent coordinator gives up as soon as the session is
//!   lost, so the pipeline answers the revoke at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use entrastream_model::{Checkpoint, PartitionId, Position};
use entrastream_source::{Source, SourceEvent};
use entrastream_source_kafka::{KafkaSource, KafkaSourceConfig};
use entrastream_testkit::kafka::{Broker, produce};
use entrastream_testkit::{FaultMode, FaultProxy, free_port};

const PARTITIONS: i32 = 2;
const SESSION_MS: u64 = 6000;
/// The source's drain timeout; the blackhole test answers the revoke [`ANSWER_AFTER`] into
/// it, as a pipeline does whose sinks still finish in-flight batches.
const DRAIN: Duration = Duration::from_secs(10);
const ANSWER_AFTER: Duration = Duration::from_secs(2);

fn config(bootstrap: &str, topic: &str) -> KafkaSourceConfig {
    let mut properties: BTreeMap<String, String> = [
        ("session.timeout.ms", SESSION_MS.to_string()),
        ("heartbeat.interval.ms", "500".to_string()),
        ("fetch.wait.max.ms", "50".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // librdkafka's own debug contexts, when a run needs explaining (e.g. `cgrp,broker` with
    // `RUST_LOG=librdkafka=debug` and `--nocapture`).
    if let Ok(d) = std::env::var("RDKAFKA_DEBUG") {
        properties.insert("debug".into(), d);
    }
    KafkaSourceConfig {
        properties,
        drain_timeout: DRAIN,
        ..KafkaSourceConfig::for_brokers(bootstrap, topic, topic)
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// nisshi advertising a fault proxy in front of itself; a topic with traffic on it.
async fn broker_behind_proxy(topic: &str) -> Option<(Broker, FaultProxy)> {
    let proxy_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let broker = Broker::start_advertising(Some(&proxy_addr.to_string()))?;
    let proxy = FaultProxy::start_on(proxy_addr, broker.bootstrap.parse().unwrap())
        .await
        .expect("fault proxy");
    broker.create_topic(topic, PARTITIONS);
    produce(&broker.bootstrap, topic, PARTITIONS, 2000, 0, 7);
    Some((broker, proxy))
}

/// Reads until a message of every assigned partition came; the last offset read of each.
async fn read_some(source: &mut KafkaSource) -> BTreeMap<i32, i64> {
    let mut assigned: Option<usize> = None;
    let mut last = BTreeMap::new();
    while assigned.is_none_or(|n| last.len() < n) {
        match tokio::time::timeout(Duration::from_secs(30), source.next_event())
            .await
            .expect("no messages")
            .unwrap()
        {
            SourceEvent::Message(m) => {
                last.insert(m.partition.partition, m.offset);
            }
            SourceEvent::Assigned(a) => assigned = Some(a.len()),
            other => panic!("unexpected {other:?}"),
        }
    }
    last
}

/// The next rebalance event, which must be a revoke arriving within `within` (`why` names
/// what should have caused it); returns where the drained checkpoint is to be sent.
async fn next_revoke(
    source: &mut KafkaSource,
    within: Duration,
    why: &str,
) -> tokio::sync::oneshot::Sender<Checkpoint> {
    let revoked = tokio::time::timeout(within, source.next_rebalance())
        .await
        .unwrap_or_else(|_| panic!("no revoke {why}"))
        .unwrap();
    let SourceEvent::Revoked { drained, .. } = revoked else {
        panic!("expected a revoke, got {revoked:?}");
    };
    drained
}

fn checkpoint(topic: &str, last: &BTreeMap<i32, i64>) -> Checkpoint {
    let mut cp = Checkpoint::new();
    for (p, o) in last {
        cp.set(PartitionId::new(topic, *p), Position::Offset(*o));
    }
    cp
}

/// The fault suite's network stall in small: the path to the broker goes silent, the session
/// times out and librdkafka revokes the (lost) assignment. Once the pipeline answered, the
/// poll thread must be free at once. Before the fix it committed synchronously inside the
/// rebalance callback and waited until that commit failed (6.5 s to more than two minutes
/// in runs here, as long as the path stayed dead; 36 s in the fault suite), during which
/// librdkafka can neither unassign nor rejoin; `close()` joins the poll thread, so it
/// measures that hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_assignment_is_not_held_in_a_commit_behind_a_blackholed_broker() {
    init_logs();
    let topic = "revoke-lost";
    let Some((broker, proxy)) = broker_behind_proxy(topic).await else {
        return;
    };
    let mut source = KafkaSource::start(&config(&broker.bootstrap, topic), None).unwrap();
    let last = read_some(&mut source).await;
    proxy.set_mode(FaultMode::Blackhole);
    let blackholed = Instant::now();
    let drained = next_revoke(
        &mut source,
        Duration::from_secs(60),
        "after the session timed out",
    )
    .await;
    eprintln!("revoked {:?} after the blackhole", blackholed.elapsed());
    tokio::time::sleep(ANSWER_AFTER).await;
    drained.send(checkpoint(topic, &last)).unwrap();
    let answered = Instant::now();
    // Give the callback a moment to see the answer, then ask the poll thread to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Bounded: before the fix the commit held the thread for as long as the path stayed dead.
    let closed = tokio::time::timeout(Duration::from_secs(15), source.close()).await;
    let held = answered.elapsed();
    eprintln!("poll thread free {held:?} after the answer");
    // Heal the path so that a thread still held can finish and the consumer can be dropped.
    proxy.set_mode(FaultMode::Pass);
    assert!(
        closed.is_ok() && held < Duration::from_secs(3),
        "the poll thread was held {held:?} (still held: {}) after the pipeline answered the revoke of a lost assignment",
        closed.is_err()
    );
    // Nothing was committed: the group refuses a lost member's commit anyway.
    assert_eq!(broker.committed(topic, topic, PARTITIONS), vec![0, 0]);
}

/// A revoke on a healthy path (a second member joins): the commit is asynchronous now, but
/// it still lands before the next owner reads the group's offsets, and it is exactly the
/// drained watermark the pipeline answered (never more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_commits_the_drained_watermark_before_the_next_owner_starts() {
    init_logs();
    let topic = "revoke-healthy";
    let Some((broker, _proxy)) = broker_behind_proxy(topic).await else {
        return;
    };
    let mut first = KafkaSource::start(&config(&broker.bootstrap, topic), None).unwrap();
    let last = read_some(&mut first).await;
    assert_eq!(last.len(), PARTITIONS as usize, "one member owns both");
    // The watermark the pipeline answers: below what was read, as a pipeline with undelivered
    // messages would answer.
    let drained: BTreeMap<i32, i64> = last.iter().map(|(p, o)| (*p, o / 2)).collect();
    let mut second = KafkaSource::start(&config(&broker.bootstrap, topic), None).unwrap();
    let reply = next_revoke(
        &mut first,
        Duration::from_secs(60),
        "when a second member joined",
    )
    .await;
    reply.send(checkpoint(topic, &drained)).unwrap();
    let mut confirmed = Vec::new();
    // Both members must keep polling for the group to settle.
    let (assigned_first, assigned_second) = tokio::join!(
        async {
            loop {
                match tokio::time::timeout(Duration::from_secs(60), first.next_rebalance())
                    .await
                    .expect("first member: no assignment")
                    .unwrap()
                {
                    SourceEvent::Assigned(a) => break a,
                    // A further rebalance while the group settles: nothing more to commit.
                    SourceEvent::Revoked { drained, .. } => {
                        drained.send(Checkpoint::new()).unwrap()
                    }
                    SourceEvent::Committed(cp) => confirmed.push(cp),
                    other => panic!("first member: unexpected {other:?}"),
                }
            }
        },
        async {
            loop {
                match tokio::time::timeout(Duration::from_secs(60), second.next_rebalance())
                    .await
                    .expect("second member: no assignment")
                    .unwrap()
                {
                    SourceEvent::Assigned(a) => break a,
                    SourceEvent::Revoked { drained, .. } => {
                        drained.send(Checkpoint::new()).unwrap()
                    }
                    other => panic!("second member: unexpected {other:?}"),
                }
            }
        }
    );
    // Whoever owns a partition now starts exactly at the answered watermark.
    for (p, pos) in assigned_first.iter().chain(&assigned_second) {
        assert_eq!(
            *pos,
            Position::Offset(drained[&p.partition]),
            "{p}: the next owner does not start at the drained watermark"
        );
    }
    let want: Vec<i64> = (0..PARTITIONS).map(|p| drained[&p] + 1).collect();
    assert_eq!(broker.committed(topic, topic, PARTITIONS), want);
    // The commit is reported as done (the pipeline's committed-offset gauge moves on this),
    // with exactly the answered watermark, once the group holds it.
    while confirmed.is_empty() {
        match tokio::time::timeout(Duration::from_secs(30), first.next_rebalance())
            .await
            .expect("the commit on revoke was never confirmed")
            .unwrap()
        {
            SourceEvent::Committed(cp) => confirmed.push(cp),
            other => panic!("first member: unexpected {other:?}"),
        }
    }
    assert_eq!(confirmed, vec![checkpoint(topic, &drained)]);
    first.close().await.unwrap();
    second.close().await.unwrap();
}

/// The fault suite's network row, the pipeline's side: a periodic commit is in flight when the
/// path to the broker goes silent. It cannot succeed once the session is lost, and the pipeline
/// awaits it before it reads the revoke: it must give up when librdkafka revokes the lost
/// assignment (about `session.timeout.ms` after the blackhole), not wait out the request
/// timeout (`socket.timeout.ms`, 30 s; before the fix the pipeline's own 10 s commit bound was
/// what released it). And the revoke's answer then commits nothing, so nothing is reported as
/// committed: `entrastream_committed_offset` stays where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_behind_a_blackholed_broker_gives_up_when_the_session_is_lost() {
    init_logs();
    let topic = "revoke-commit-lost";
    let Some((broker, proxy)) = broker_behind_proxy(topic).await else {
        return;
    };
    let mut source = KafkaSource::start(&config(&broker.bootstrap, topic), None).unwrap();
    let last = read_some(&mut source).await;
    let cp = checkpoint(topic, &last);
    proxy.set_mode(FaultMode::Blackhole);
    let blackholed = Instant::now();
    let committed = tokio::time::timeout(Duration::from_secs(60), source.commit(&cp)).await;
    let waited = blackholed.elapsed();
    eprintln!("the commit returned {committed:?} after {waited:?}");
    let committed = committed.expect("the commit was still waiting after 60 s");
    assert!(committed.is_err(), "a commit behind a blackhole succeeded");
    assert!(
        waited < Duration::from_millis(SESSION_MS) + Duration::from_secs(5),
        "the commit held the pipeline {waited:?} after the blackhole; the session times out after {SESSION_MS} ms"
    );
    let drained = next_revoke(
        &mut source,
        Duration::from_secs(30),
        "after the session timed out",
    )
    .await;
    drained.send(cp).unwrap();
    // Nothing is committed for a lost assignment, so nothing is reported as committed.
    match tokio::time::timeout(Duration::from_secs(3), source.next_rebalance()).await {
        Err(_) => {}
        Ok(Ok(SourceEvent::Committed(cp))) => {
            panic!("a commit was reported behind a blackhole: {cp:?}")
        }
        Ok(other) => panic!("unexpected {other:?}"),
    }
    proxy.set_mode(FaultMode::Pass);
    source.close().await.unwrap();
    assert_eq!(broker.committed(topic, topic, PARTITIONS), vec![0, 0]);
}

/// How long the path stays blackholed in the recovery test: longer than the session, shorter
/// than the request timeout (the fault suite's 15 s, scaled to the 6 s session).
const BLACKHOLE: Duration = Duration::from_secs(8);

/// The fault suite's network row, whole: the path to the broker goes silent with a fetch and
/// a periodic commit in flight, the session is lost, the path heals. Messages must flow again
/// well before `socket.timeout.ms` (30 s): librdkafka cannot stop the fetcher of a fetch that
/// went into the silence, so the unassign of the lost partitions, and with it the rejoin,
/// waited until that fetch timed out (30.4–30.7 s in runs here; 41–48 s in the fault suite,
/// where the rejoin then fell into the next fault). The source's watchdog probes the silent
/// connection with a short-timeout request, and librdkafka drops the connection when it times
/// out, so the fetch fails at once and the consumer rejoins on the healed path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_resumes_soon_after_a_blackholed_broker_path_heals() {
    init_logs();
    let topic = "revoke-resume";
    let Some((broker, proxy)) = broker_behind_proxy(topic).await else {
        return;
    };
    let mut source = KafkaSource::start(&config(&broker.bootstrap, topic), None).unwrap();
    let last = read_some(&mut source).await;
    let cp = checkpoint(topic, &last);
    proxy.set_mode(FaultMode::Blackhole);
    let blackholed = Instant::now();
    // The pipeline's periodic commit, sent into the silence: it gives up when the session is
    // lost (see the test above).
    let committed = tokio::time::timeout(Duration::from_secs(60), source.commit(&cp))
        .await
        .expect("the commit was still waiting after 60 s");
    assert!(committed.is_err(), "a commit behind a blackhole succeeded");
    let drained = next_revoke(
        &mut source,
        Duration::from_secs(30),
        "after the session timed out",
    )
    .await;
    drained.send(cp).unwrap();
    tokio::time::sleep(BLACKHOLE.saturating_sub(blackholed.elapsed())).await;
    proxy.set_mode(FaultMode::Pass);
    eprintln!("path healed {:?} after the blackhole", blackholed.elapsed());
    // Until the first message after the new assignment.
    let mut assigned = None;
    let resumed = loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), source.next_event())
            .await
            .expect("nothing for 60 s after the path healed")
            .unwrap();
        match ev {
            SourceEvent::Assigned(_) => assigned = Some(blackholed.elapsed()),
            SourceEvent::Message(_) if assigned.is_some() => break blackholed.elapsed(),
            SourceEvent::Revoked { drained, .. } => drained.send(Checkpoint::new()).unwrap(),
            _ => {}
        }
    };
    eprintln!("assigned after {assigned:?}, first message after {resumed:?} from the blackhole");
    source.close().await.unwrap();
    // socket.timeout.ms is 30 s: without the watchdog nothing resumes before it.
    assert!(
        resumed < Duration::from_secs(24),
        "messages resumed {resumed:?} after a {BLACKHOLE:?} blackhole (healed {BLACKHOLE:?} in); the silent fetch connection held the rejoin until its request timed out"
    );
}
