//! A scriptable wrapped sink and batch helpers for the buffer's tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_entra::Schema;
use entrastream_model::PartitionId;
use entrastream_sink::{
    EncodedBatch, NdjsonEncoder, Outcome, RecordEncoder, RecordMeta, RejectReason, Rejection,
    RetryReason, Sink, SinkError,
};

/// Records what it accepts; can be taken down and can refuse records containing a marker.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub received: Arc<Mutex<Vec<String>>>,
    pub down: Arc<AtomicBool>,
    pub sends: Arc<std::sync::atomic::AtomicU64>,
}

impl Peer {
    pub fn sink(&self) -> Box<dyn Sink> {
        Box::new(PeerSink {
            peer: self.clone(),
            encoder: Arc::new(NdjsonEncoder {
                schema: Schema::Native,
            }),
        })
    }

    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until the peer holds `n` records (panics after `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.received.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "peer has {} of {n} records",
                self.received.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[derive(Debug)]
struct PeerSink {
    peer: Peer,
    encoder: Arc<NdjsonEncoder>,
}

#[async_trait]
impl Sink for PeerSink {
    fn name(&self) -> &str {
        "peer"
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        self.peer
            .sends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.peer.down.load(Ordering::Relaxed) {
            return Outcome::Retryable(RetryReason::Unavailable("peer down".into()));
        }
        let mut rejected = Vec::new();
        let mut got = self.peer.received.lock().unwrap();
        for i in 0..batch.records.len() {
            let text = String::from_utf8(batch.record(i).unwrap().to_vec()).unwrap();
            if text.contains("refuse") {
                rejected.push(Rejection {
                    index: i,
                    reason: RejectReason::Invalid("peer refuses this one".into()),
                });
            } else {
                got.push(text);
            }
        }
        // The separator the buffer put back after each record.
        assert!(
            batch
                .records
                .iter()
                .all(|m| batch.data.get(m.range.end) == Some(&b'\n'))
        );
        if rejected.is_empty() {
            Outcome::Delivered
        } else {
            Outcome::Rejected(rejected)
        }
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A batch of `{"n":i}` records for i in `ids`, from partition `i % 4` at offset `i`.
pub fn batch(ids: impl IntoIterator<Item = u64>) -> EncodedBatch {
    batch_of(ids.into_iter().map(|i| (i, format!("{{\"n\":{i}}}"))))
}

pub fn batch_of(items: impl IntoIterator<Item = (u64, String)>) -> EncodedBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for (i, text) in items {
        let start = data.len();
        data.extend_from_slice(text.as_bytes());
        records.push(RecordMeta {
            range: start..data.len(),
            partition: PartitionId::new("hub", (i % 4) as i32),
            offset: i as i64,
            category: "SignInLogs".into(),
        });
        data.push(b'\n');
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

pub fn expected(ids: impl IntoIterator<Item = u64>) -> Vec<String> {
    ids.into_iter().map(|i| format!("{{\"n\":{i}}}")).collect()
}

/// Fast retries for tests.
pub fn fast() -> entrastream_buffer::DrainOptions {
    entrastream_buffer::DrainOptions {
        retry: entrastream_sink::RetryPolicy::new(
            Duration::from_millis(5),
            Duration::from_millis(50),
        ),
        ..Default::default()
    }
}

/// A dead-letter sink that accepts everything and keeps the lines.
#[derive(Debug, Clone, Default)]
pub struct DeadLetters {
    pub lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl DeadLetters {
    pub fn sink(&self) -> Box<dyn Sink> {
        Box::new(DeadLetterSink(self.clone()))
    }

    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} dead letters",
                lines.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[derive(Debug)]
struct DeadLetterSink(DeadLetters);

#[async_trait]
impl Sink for DeadLetterSink {
    fn name(&self) -> &str {
        "dead_letter"
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        Arc::new(NdjsonEncoder {
            schema: Schema::Raw,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let mut lines = self.0.lines.lock().unwrap();
        for line in batch.data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines.push(serde_json::from_slice(line).unwrap());
        }
        Outcome::Delivered
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
