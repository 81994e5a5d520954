//! kill -9 at arbitrary moments while records are written to the buffer and drained to a
//! flapping sink: every record the buffer acknowledged to the pipeline ends up delivered.
//!
//! The test re-executes its own binary as the child (selected by an environment variable):
//! the child writes batches through a `BufferedSink` whose wrapped sink is an fsyncing file
//! sink that fails every third send, and prints `acked N` after each `Delivered`. The parent
//! kills it with SIGKILL five times at varying moments, then drains what is left and checks the
//! file holds every acknowledged record.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entrastream_buffer::BufferedSink;
use entrastream_entra::Schema;
use entrastream_sink::{EncodedBatch, Outcome, RecordEncoder, RetryReason, Sink, SinkError};
use entrastream_sink_file::FileSink;

const CHILD: &str = "ENTRASTREAM_BUFFER_CRASH_CHILD";
const TEST: &str = "kill_9_while_writing_and_draining_loses_nothing_acknowledged";

/// The file sink, failing every third send (a remote sink that flaps).
#[derive(Debug)]
struct Flapping {
    inner: FileSink,
    sends: AtomicU64,
}

#[async_trait]
impl Sink for Flapping {
    fn name(&self) -> &str {
        "flapping"
    }
    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.inner.encoder()
    }
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        if self.sends.fetch_add(1, Ordering::Relaxed) % 3 == 2 {
            return Outcome::Retryable(RetryReason::Unavailable("flap".into()));
        }
        self.inner.send(batch).await
    }
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

fn wrapped(out: &std::path::Path) -> Box<dyn Sink> {
    Box::new(Flapping {
        inner: FileSink::new("flapping", out, Schema::Native, 0, true),
        sends: AtomicU64::new(0),
    })
}

fn child(spec: &str) {
    let mut parts = spec.split('|');
    let (buf, out, dl, start) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap().parse::<u64>().unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut options = common::fast();
        // Small segments and drain batches: rotations, deletions and acknowledgements all
        // happen many times a second, so the kills land in every one of them.
        options.segment_bytes = Some(32 << 10);
        options.batch_max_bytes = Some(4 << 10);
        let mut sink = BufferedSink::open(
            std::path::Path::new(buf),
            64 << 20,
            wrapped(std::path::Path::new(out)),
            Box::new(FileSink::dead_letter(dl, 0)),
            options,
        )
        .unwrap();
        let mut next = start;
        loop {
            match sink.send(&common::batch(next..next + 50)).await {
                Outcome::Delivered => {
                    next += 50;
                    println!("acked {}", next - 1);
                }
                other => panic!("child: {other:?}"),
            }
        }
    });
}

#[test]
fn kill_9_while_writing_and_draining_loses_nothing_acknowledged() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let buf = dir.path().join("buffer");
    let out = dir.path().join("delivered.ndjson");
    let dl = dir.path().join("dead-letter.ndjson");
    let mut acked: Option<u64> = None;
    for round in 0..5u64 {
        let start = acked.map_or(0, |a| a + 1);
        let mut proc = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(
                CHILD,
                format!(
                    "{}|{}|{}|{start}",
                    buf.display(),
                    out.display(),
                    dl.display()
                ),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("acked ") {
                    last = Some(n.parse::<u64>().unwrap());
                }
            }
            last
        });
        // Varying moments: 150 ms to 570 ms after the start.
        std::thread::sleep(Duration::from_millis(150 + round * 105));
        proc.kill().unwrap(); // SIGKILL
        let _ = proc.wait();
        let last = reader.join().unwrap();
        assert!(
            last.is_some() || round > 0,
            "round {round}: child acknowledged nothing"
        );
        acked = last.or(acked);
    }
    let acked = acked.unwrap();
    // Restart once more and let the drain finish.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let recovery = rt.block_on(async {
        let sink = BufferedSink::open(
            &buf,
            64 << 20,
            wrapped(&out),
            Box::new(FileSink::dead_letter(&dl, 0)),
            common::fast(),
        )
        .unwrap();
        let recovery = sink.recovery().clone();
        let stats = sink.stats();
        let deadline = Instant::now() + Duration::from_secs(60);
        while stats.records.load(Ordering::Relaxed) > 0 {
            assert!(Instant::now() < deadline, "drain did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        recovery
    });
    let text = std::fs::read_to_string(&out).unwrap();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut torn_lines = 0;
    for line in text.lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => *seen.entry(v["n"].as_u64().unwrap()).or_default() += 1,
            Err(_) => torn_lines += 1,
        }
    }
    let missing: Vec<u64> = (0..=acked).filter(|i| !seen.contains_key(i)).collect();
    let duplicates: u32 = seen.values().map(|&c| c - 1).sum();
    eprintln!(
        "acknowledged {} records over 5 kills; delivered {} distinct, {duplicates} duplicates, \
         {torn_lines} torn lines in the sink's file; last recovery: {recovery:?}",
        acked + 1,
        seen.len()
    );
    assert!(
        missing.is_empty(),
        "lost {} acknowledged records: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(
        std::fs::read_to_string(&dl).unwrap_or_default().is_empty(),
        "nothing is damaged by a kill"
    );
}
