//! A buffered sink in front of a scriptable peer: round trip, outage, full buffer, rejections
//! and damaged records to the dead-letter sink, disk full.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{DeadLetters, Peer, batch, batch_of, expected, fast};
use entrastream_buffer::{BufferedSink, SharedSink};
use entrastream_sink::{Outcome, Sink};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_in_order_and_the_buffer_empties() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    let dl = DeadLetters::default();
    let mut sink = BufferedSink::open(dir.path(), 1 << 20, peer.sink(), dl.sink(), fast()).unwrap();
    assert_eq!(sink.name(), "peer");
    assert!(sink.coalesce().is_some(), "group commit");
    sink.healthcheck().await.unwrap();
    for k in 0..10 {
        assert_eq!(
            sink.send(&batch(k * 10..k * 10 + 10)).await,
            Outcome::Delivered
        );
    }
    peer.wait_for(100, 10).await;
    assert_eq!(peer.received(), expected(0..100));
    let stats = sink.stats();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while stats.records.load(Ordering::Relaxed) > 0 {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stats.records_written.load(Ordering::Relaxed), 100);
    assert_eq!(stats.records_delivered.load(Ordering::Relaxed), 100);
    assert_eq!(stats.bytes.load(Ordering::Relaxed), 0);
    assert!(stats.bytes_written.load(Ordering::Relaxed) > 0);
    assert_eq!(
        stats.bytes_read.load(Ordering::Relaxed),
        stats.bytes_written.load(Ordering::Relaxed)
    );
    assert!(dl.lines.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_down_then_up_delivers_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    peer.down.store(true, Ordering::Relaxed);
    let mut sink = BufferedSink::open(
        dir.path(),
        8 << 20,
        peer.sink(),
        DeadLetters::default().sink(),
        fast(),
    )
    .unwrap();
    // The pipeline's view: every batch is delivered while the peer is down.
    for k in 0..50 {
        assert_eq!(
            sink.send(&batch(k * 20..k * 20 + 20)).await,
            Outcome::Delivered
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(peer.received().is_empty());
    assert!(
        peer.sends.load(Ordering::Relaxed) > 1,
        "the drain keeps retrying"
    );
    let stats = sink.stats();
    assert_eq!(stats.records.load(Ordering::Relaxed), 1000);
    assert!(stats.drain_retries.load(Ordering::Relaxed) > 0);
    let age = stats
        .oldest_record_age(std::time::SystemTime::now())
        .unwrap();
    assert!(age >= Duration::from_millis(150), "{age:?}");
    peer.down.store(false, Ordering::Relaxed);
    // More arrives while it drains.
    for k in 50..60 {
        assert_eq!(
            sink.send(&batch(k * 20..k * 20 + 20)).await,
            Outcome::Delivered
        );
    }
    peer.wait_for(1200, 20).await;
    assert_eq!(peer.received(), expected(0..1200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_is_retryable_until_the_peer_drains_it() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    peer.down.store(true, Ordering::Relaxed);
    let mut options = fast();
    options.segment_bytes = Some(4096);
    let mut sink = BufferedSink::open(
        dir.path(),
        32 << 10,
        peer.sink(),
        DeadLetters::default().sink(),
        options,
    )
    .unwrap();
    let mut next = 0u64;
    let reason = loop {
        match sink.send(&batch(next..next + 10)).await {
            Outcome::Delivered => next += 10,
            Outcome::Retryable(r) => break r,
            Outcome::Rejected(r) => panic!("rejected {r:?}"),
        }
        assert!(next < 100_000, "never full");
    };
    assert!(reason.contains("full"), "{reason}");
    let stats = sink.stats();
    assert!(stats.full.load(Ordering::Relaxed));
    assert!(stats.disk_bytes.load(Ordering::Relaxed) <= 32 << 10);
    assert!(stats.fill_ratio() > 0.8);
    // Still full: nothing dropped, nothing accepted.
    assert!(sink.send(&batch(next..next + 10)).await.is_retryable());
    peer.down.store(false, Ordering::Relaxed);
    // The pipeline retries; the drain frees segments; the same batch is then accepted.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sink.send(&batch(next..next + 10)).await {
            Outcome::Delivered => break,
            other => assert!(other.is_retryable()),
        }
        assert!(std::time::Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!stats.full.load(Ordering::Relaxed));
    peer.wait_for(next as usize + 10, 10).await;
    assert_eq!(peer.received(), expected(0..next + 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_records_reach_the_shared_dead_letter_file_with_their_origin() {
    let dir = tempfile::tempdir().unwrap();
    let dl_path = dir.path().join("dead-letter.ndjson");
    let dl = SharedSink::new(Box::new(entrastream_sink_file::FileSink::dead_letter(
        &dl_path, 0,
    )));
    let peer = Peer::default();
    let mut sink = BufferedSink::open(
        &dir.path().join("buf"),
        1 << 20,
        peer.sink(),
        Box::new(dl.clone()),
        fast(),
    )
    .unwrap();
    // The pipeline's dead-letter worker writes through another clone meanwhile.
    let mut pipeline_side: Box<dyn Sink> = Box::new(dl.clone());
    let b = batch_of([
        (1, "{\"n\":1}".to_string()),
        (6, "{\"refuse\":6}".to_string()),
        (7, "{\"n\":7}".to_string()),
    ]);
    assert_eq!(sink.send(&b).await, Outcome::Delivered);
    peer.wait_for(2, 10).await;
    assert_eq!(peer.received(), ["{\"n\":1}", "{\"n\":7}"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let text = std::fs::read_to_string(&dl_path).unwrap_or_default();
        if let Some(l) = text.lines().next() {
            break serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(line["reason"], "sink_rejected");
    assert_eq!(line["source"], "peer");
    assert_eq!(line["error"], "peer refuses this one");
    assert_eq!(line["topic"], "hub");
    assert_eq!(line["partition"], 2);
    assert_eq!(line["offset"], 6);
    assert_eq!(line["category"], "SignInLogs");
    assert_eq!(line["raw"], "{\"refuse\":6}");
    let other = entrastream_sink::EncodedBatch {
        data: bytes::Bytes::from_static(b"{\"reason\":\"malformed_json\"}\n"),
        records: Vec::new(),
    };
    assert_eq!(pipeline_side.send(&other).await, Outcome::Delivered);
    let text = std::fs::read_to_string(&dl_path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    let stats = sink.stats();
    assert_eq!(stats.records_rejected.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_is_dead_lettered_and_nothing_after_it_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let peer = Peer::default();
    peer.down.store(true, Ordering::Relaxed);
    {
        let mut sink = BufferedSink::open(
            dir.path(),
            1 << 20,
            peer.sink(),
            DeadLetters::default().sink(),
            fast(),
        )
        .unwrap();
        assert_eq!(sink.send(&batch(0..20)).await, Outcome::Delivered);
    }
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.windows(8).position(|w| w == b"{\"n\":13}").unwrap();
    bytes[at + 5] = b'9';
    std::fs::write(&seg, bytes).unwrap();
    peer.down.store(false, Ordering::Relaxed);
    let dl = DeadLetters::default();
    let sink = BufferedSink::open(dir.path(), 1 << 20, peer.sink(), dl.sink(), fast()).unwrap();
    peer.wait_for(19, 10).await;
    let want: Vec<String> = expected((0..20).filter(|&i| i != 13));
    assert_eq!(peer.received(), want);
    let lines = dl.wait_for(1, 10).await;
    assert_eq!(lines[0]["reason"], "buffer_corrupt");
    assert_eq!(lines[0]["offset"], 13);
    assert_eq!(lines[0]["partition"], 1);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("record checksum mismatch")
    );
    assert_eq!(sink.stats().records_corrupt.load(Ordering::Relaxed), 1);
}

/// Disk full under the buffer: `Retryable`, no panic, and it recovers once space is freed.
/// Needs a small tmpfs (root); skipped elsewhere unless CI=true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_is_retryable_and_recovers() {
    let mnt = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(mnt.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "cannot mount a tmpfs to fill (needs root)"
        );
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.path().to_path_buf());
    let peer = Peer::default();
    peer.down.store(true, Ordering::Relaxed);
    let mut options = fast();
    options.segment_bytes = Some(16 << 10);
    // max_size far above the volume: the disk fills first.
    let mut sink = BufferedSink::open(
        &mnt.path().join("buf"),
        64 << 20,
        peer.sink(),
        DeadLetters::default().sink(),
        options,
    )
    .unwrap();
    let mut next = 0u64;
    let reason = loop {
        let b = batch_of(
            (next..next + 50)
                .map(|i| (i, format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(100)))),
        );
        match sink.send(&b).await {
            Outcome::Delivered => next += 50,
            Outcome::Retryable(r) => break r,
            Outcome::Rejected(r) => panic!("{r:?}"),
        }
        assert!(next < 1_000_000);
    };
    assert!(
        reason.contains("No space left") || reason.contains("space"),
        "{reason}"
    );
    peer.down.store(false, Ordering::Relaxed);
    peer.wait_for(next as usize, 20).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let b = batch_of(
            (next..next + 50)
                .map(|i| (i, format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(100)))),
        );
        match sink.send(&b).await {
            Outcome::Delivered => break,
            other => assert!(other.is_retryable()),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recovered from disk full"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    peer.wait_for(next as usize + 50, 20).await;
    let got = peer.received();
    let ids: Vec<u64> = got
        .iter()
        .map(|r| r[5..r.find(',').unwrap()].parse().unwrap())
        .collect();
    assert_eq!(ids, (0..next + 50).collect::<Vec<_>>());
}
