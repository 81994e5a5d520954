//! The pipelined drain: reads ahead while a batch is in flight, several lanes whose batches
//! finish out of order, a failing middle batch, and crashes between a delivery and the write
//! of the acknowledged position (resend, never a gap).

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::{DeadLetters, batch, fast};
use entrastream_buffer::{BufferStats, BufferedSink, DrainOptions};
use entrastream_entra::Schema;
use entrastream_sink::{
    EncodedBatch, NdjsonEncoder, Outcome, RecordEncoder, RetryReason, Sink, SinkError,
};

/// A peer shared by every lane: holds batches with chosen records until released, fails
/// batches with chosen records (retryable) while told to, and records what it accepted.
#[derive(Debug, Clone, Default)]
struct Script {
    received: Arc<Mutex<Vec<u64>>>,
    hold: Arc<Mutex<HashSet<u64>>>,
    failing: Arc<Mutex<HashMap<u64, u32>>>,
    in_send: Arc<AtomicU64>,
}

impl Script {
    fn sink(&self) -> Box<dyn Sink> {
        Box::new(ScriptSink(self.clone()))
    }

    fn received(&self) -> Vec<u64> {
        self.received.lock().unwrap().clone()
    }

    async fn wait(&self, what: &str, secs: u64, done: impl Fn(&Script) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: received {:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn ids(batch: &EncodedBatch) -> Vec<u64> {
    (0..batch.records.len())
        .map(|i| {
            let text = std::str::from_utf8(batch.record(i).unwrap()).unwrap();
            text.trim_start_matches("{\"n\":")
                .trim_end_matches('}')
                .parse()
                .unwrap()
        })
        .collect()
}

#[derive(Debug)]
struct ScriptSink(Script);

#[async_trait]
impl Sink for ScriptSink {
    fn name(&self) -> &str {
        "script"
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        Arc::new(NdjsonEncoder {
            schema: Schema::Native,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let s = &self.0;
        let ids = ids(batch);
        s.in_send.fetch_add(1, Ordering::SeqCst);
        while ids.iter().any(|i| s.hold.lock().unwrap().contains(i)) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let fail = {
            let mut failing = s.failing.lock().unwrap();
            ids.iter().any(|i| match failing.get_mut(i) {
                Some(left) if *left > 0 => {
                    *left -= 1;
                    true
                }
                _ => false,
            })
        };
        s.in_send.fetch_sub(1, Ordering::SeqCst);
        if fail {
            return Outcome::Retryable(RetryReason::Unavailable("scripted failure".into()));
        }
        s.received.lock().unwrap().extend(ids);
        Outcome::Delivered
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A 1 MiB buffer in `dir` draining into `lanes` (one batch in flight on each).
fn open_buffer(dir: &Path, lanes: Vec<Box<dyn Sink>>, options: DrainOptions) -> BufferedSink {
    BufferedSink::open_lanes(dir, 1 << 20, lanes, DeadLetters::default().sink(), options)
        .expect("open the buffer")
}

/// One record per drain batch, so that batch numbers are record ids.
fn one_record_batches() -> DrainOptions {
    DrainOptions {
        batch_max_bytes: Some(1),
        ..fast()
    }
}

async fn append(sink: &mut BufferedSink, ids: std::ops::Range<u64>) {
    for i in ids {
        assert_eq!(sink.send(&batch(i..i + 1)).await, Outcome::Delivered);
    }
}

async fn wait_drained(stats: &BufferStats, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while stats.records.load(Ordering::Relaxed) > 0 {
        assert!(Instant::now() < deadline, "buffer never drained");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The buffer's files as a `kill -9` at this moment would leave them.
fn snapshot(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".seg") || name == "ack" {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_batches_are_read_while_one_is_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Script::default();
    peer.hold.lock().unwrap().insert(0);
    let mut sink = open_buffer(dir.path(), vec![peer.sink()], one_record_batches());
    append(&mut sink, 0..20).await;
    let stats = sink.stats();
    peer.wait("first send", 10, |p| p.in_send.load(Ordering::SeqCst) == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Frames differ only by the digits of their id: the longest is at most 1 byte over the
    // mean.
    let written = stats.bytes_written.load(Ordering::Relaxed);
    let frame = written / 20;
    let read = stats.bytes_read.load(Ordering::Relaxed);
    assert!(
        read > frame + 1,
        "only the batch in flight was read ({read} bytes, a frame is ~{frame})"
    );
    assert!(
        read <= 3 * (frame + 1),
        "read ahead past the window of 1 lane + 2 batches: {read} bytes, a frame is ~{frame}"
    );
    assert_eq!(stats.records.load(Ordering::Relaxed), 20);
    peer.hold.lock().unwrap().clear();
    wait_drained(&stats, 10).await;
    assert_eq!(
        peer.received(),
        (0..20).collect::<Vec<_>>(),
        "one lane keeps order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_finishes_move_the_position_only_past_contiguous_batches() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Script::default();
    peer.hold.lock().unwrap().insert(0);
    let mut sink = open_buffer(
        dir.path(),
        vec![peer.sink(), peer.sink()],
        one_record_batches(),
    );
    append(&mut sink, 0..10).await;
    let stats = sink.stats();
    // Batch 0 is held on one lane; the other lane delivers the rest of the window
    // (2 lanes + 2 read ahead = 4 batches past the position: 1, 2 and 3).
    peer.wait("batches 1..=3", 10, |p| p.received() == [1, 2, 3])
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        peer.received(),
        [1, 2, 3],
        "the window bounds the read-ahead"
    );
    assert_eq!(
        stats.records.load(Ordering::Relaxed),
        10,
        "nothing is acknowledged while batch 0 is out"
    );
    // A crash now resends from batch 0.
    let crashed = tempfile::tempdir().unwrap();
    snapshot(dir.path(), crashed.path());
    peer.hold.lock().unwrap().clear();
    wait_drained(&stats, 10).await;
    let got: BTreeSet<u64> = peer.received().into_iter().collect();
    assert_eq!(got, (0..10).collect());
    assert_eq!(peer.received().len(), 10, "each batch sent once");

    let again = Script::default();
    let reopened = open_buffer(crashed.path(), vec![again.sink()], one_record_batches());
    assert_eq!(reopened.recovery().pending_records, 10);
    wait_drained(&reopened.stats(), 10).await;
    assert_eq!(again.received(), (0..10).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_middle_batch_holds_the_position_until_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Script::default();
    peer.failing.lock().unwrap().insert(1, u32::MAX);
    let mut sink = open_buffer(
        dir.path(),
        vec![peer.sink(), peer.sink()],
        one_record_batches(),
    );
    append(&mut sink, 0..10).await;
    let stats = sink.stats();
    // Batch 1 is retried on one lane; the other delivers 0, then 2..=4 (the window past the
    // position, which stays behind batch 1).
    peer.wait("batches 0, 2..=4", 10, |p| {
        p.received().into_iter().collect::<BTreeSet<_>>() == BTreeSet::from([0, 2, 3, 4])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(peer.received().len(), 4);
    assert!(stats.drain_retries.load(Ordering::Relaxed) > 0);
    assert_eq!(
        stats.records.load(Ordering::Relaxed),
        9,
        "only batch 0 is acknowledged while batch 1 fails"
    );
    // A crash now: batch 1 and everything after it comes again, nothing is skipped.
    let crashed = tempfile::tempdir().unwrap();
    snapshot(dir.path(), crashed.path());
    let again = Script::default();
    let reopened = open_buffer(crashed.path(), vec![again.sink()], one_record_batches());
    wait_drained(&reopened.stats(), 10).await;
    let resent = again.received();
    assert!(
        (1..10).all(|i| resent.contains(&i)),
        "a gap after the crash: {resent:?}"
    );
    drop(reopened);
    // The peer recovers: batch 1 goes through, then the rest.
    peer.failing.lock().unwrap().clear();
    wait_drained(&stats, 10).await;
    let got: BTreeSet<u64> = peer.received().into_iter().collect();
    assert_eq!(got, (0..10).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_delivery_and_the_position_write_resends_never_skips() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Script::default();
    let options = DrainOptions {
        // The position is written once (the first move), then not again for an hour, and the
        // drain may run that far ahead of it.
        ack_interval: Some(Duration::from_secs(3600)),
        unpersisted_batches: Some(100),
        ..one_record_batches()
    };
    let mut sink = open_buffer(dir.path(), vec![peer.sink()], options.clone());
    let stats = sink.stats();
    // The first move of the position is written at once; the next ones wait an hour.
    append(&mut sink, 0..1).await;
    wait_drained(&stats, 10).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.ack_writes.load(Ordering::Relaxed) < 1 {
        assert!(
            Instant::now() < deadline,
            "the first position never written"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    append(&mut sink, 1..20).await;
    wait_drained(&stats, 10).await;
    assert_eq!(peer.received(), (0..20).collect::<Vec<_>>());
    assert_eq!(stats.ack_writes.load(Ordering::Relaxed), 1);
    // kill -9 now: delivered, but the position on disk is behind.
    let crashed = tempfile::tempdir().unwrap();
    snapshot(dir.path(), crashed.path());
    let again = Script::default();
    let reopened = open_buffer(crashed.path(), vec![again.sink()], options.clone());
    assert_eq!(
        reopened.recovery().pending_records,
        19,
        "the records delivered after the position write come again"
    );
    wait_drained(&reopened.stats(), 10).await;
    assert_eq!(
        again.received(),
        (1..20).collect::<Vec<_>>(),
        "resent from the written position on, without a gap"
    );
    // A clean stop writes the position reached: the next start sends nothing again.
    drop(sink);
    let after = Script::default();
    // The aborted drain lets go of the directory's lock as soon as its task is dropped.
    let deadline = Instant::now() + Duration::from_secs(10);
    let clean = loop {
        match BufferedSink::open(
            dir.path(),
            1 << 20,
            after.sink(),
            DeadLetters::default().sink(),
            options.clone(),
        ) {
            Ok(s) => break s,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(clean.recovery().pending_records, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(after.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_position_is_written_coalesced_not_once_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Script::default();
    let options = DrainOptions {
        ack_interval: Some(Duration::from_secs(1)),
        unpersisted_batches: Some(1000),
        ..one_record_batches()
    };
    let mut sink = open_buffer(dir.path(), vec![peer.sink()], options);
    let started = Instant::now();
    append(&mut sink, 0..100).await;
    let stats = sink.stats();
    wait_drained(&stats, 20).await;
    assert_eq!(peer.received().len(), 100, "100 batches");
    let writes = stats.ack_writes.load(Ordering::Relaxed);
    let bound = 2 + started.elapsed().as_secs();
    assert!(
        writes <= bound,
        "{writes} position writes for 100 batches in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_one_position_write_covers_the_batches_finished_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Script::default();
    let mut sink = open_buffer(dir.path(), vec![peer.sink()], one_record_batches());
    append(&mut sink, 0..200).await;
    let stats = sink.stats();
    wait_drained(&stats, 20).await;
    assert_eq!(peer.received(), (0..200).collect::<Vec<_>>());
    // Each write is an fsync; the drain goes on meanwhile (up to 1 lane + 4 batches past
    // the written position), so writes are far fewer than batches.
    let writes = stats.ack_writes.load(Ordering::Relaxed);
    assert!(
        (1..=150).contains(&writes),
        "{writes} position writes for 200 batches"
    );
}
