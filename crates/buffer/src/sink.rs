//! [`BufferedSink`]: the pipeline-facing half (append, fsync, `Delivered`) and the drain task
//! that feeds the wrapped sink from the buffer.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_pipeline::DeadLetterLine;
use entrastream_sink::{
    Coalesce, EncodedBatch, Outcome, RecordEncoder, Rejection, RetryPolicy, RetryReason, Sink,
    SinkError,
};
use tokio::task::JoinHandle;

use crate::stats::BufferStats;
use crate::store::{self, Damaged, OpenError, ReadBatch, Reader, Recovery, Shared, Writer};

/// Most bytes one group commit writes (queued pipeline batches merged into one append and
/// one fsync), as the file sink.
const GROUP_COMMIT_MAX: usize = 8 << 20;
/// Drain batch size for a wrapped sink that states no [`Coalesce`] (the pipeline's default
/// batch size).
const DEFAULT_DRAIN_BYTES: usize = 1 << 20;
/// Segment size: an eighth of `max_size` within these bounds, so that space is given back in
/// steps of at most an eighth and a 20 GiB buffer has a few hundred files.
const SEGMENT_MIN: u64 = 64 << 10;
const SEGMENT_MAX: u64 = 64 << 20;
/// The drain looks for new records at least this often even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// How a [`BufferedSink`] drains.
#[derive(Debug, Clone, Default)]
pub struct DrainOptions {
    /// Backoff between failed sends to the wrapped sink (and to the dead-letter sink); the
    /// pipeline's `retry_initial` / `retry_max` are the natural choice.
    pub retry: RetryPolicy,
    /// Bytes per send to the wrapped sink. `None`: the sink's own [`Sink::coalesce`]
    /// `max_bytes`, else 1 MiB.
    pub batch_max_bytes: Option<usize>,
    /// Segment file size. `None`: `max_size / 8`, between 64 KiB and 64 MiB.
    pub segment_bytes: Option<u64>,
}

/// A sink wrapped in a durable disk buffer. See the crate documentation.
#[derive(Debug)]
pub struct BufferedSink {
    name: String,
    encoder: Arc<dyn RecordEncoder>,
    shared: Arc<Shared>,
    writer: Arc<Mutex<Writer>>,
    drain: JoinHandle<()>,
    recovery: Recovery,
}

impl BufferedSink {
    /// Opens (or creates) the buffer in `path`, recovers it (torn tail cut off, position
    /// restored), and starts the drain task that sends its records to `inner`; records `inner`
    /// refuses for good and damaged records go to `dead_letter` (share the pipeline's with
    /// [`SharedSink`]). Must run inside a Tokio runtime. Blocks while recovering (it reads the
    /// newest segment, at most 64 MiB): call it at start-up.
    pub fn open(
        path: &Path,
        max_size: u64,
        inner: Box<dyn Sink>,
        dead_letter: Box<dyn Sink>,
        options: DrainOptions,
    ) -> Result<Self, OpenError> {
        let segment_max = options
            .segment_bytes
            .unwrap_or((max_size / 8).clamp(SEGMENT_MIN, SEGMENT_MAX));
        let stats = Arc::new(BufferStats::default());
        let (shared, writer, reader, recovery) = store::open(path, max_size, segment_max, stats)?;
        if recovery.torn_bytes > 0 || recovery.pending_records > 0 || recovery.ack_lost {
            tracing::info!(sink = inner.name(), path = %path.display(), ?recovery, "disk buffer recovered; sending its records again");
        }
        let name = inner.name().to_string();
        let encoder = inner.encoder();
        let batch_bytes = options
            .batch_max_bytes
            .or_else(|| inner.coalesce().map(|c| c.max_bytes))
            .filter(|&b| b > 0)
            .unwrap_or(DEFAULT_DRAIN_BYTES);
        let drain = tokio::spawn(drain(
            shared.clone(),
            reader,
            inner,
            dead_letter,
            options.retry,
            batch_bytes,
            encoder.separator(),
        ));
        Ok(BufferedSink {
            name,
            encoder,
            shared,
            writer: Arc::new(Mutex::new(writer)),
            drain,
            recovery,
        })
    }

    /// The live numbers of this buffer (export them as metrics).
    pub fn stats(&self) -> Arc<BufferStats> {
        self.shared.stats.clone()
    }

    /// What opening the buffer found and repaired.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }
}

impl Drop for BufferedSink {
    /// Stops the drain: what it had not finished stays in the buffer and is sent again by the
    /// next process.
    fn drop(&mut self) {
        self.drain.abort();
    }
}

#[async_trait]
impl Sink for BufferedSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    /// Appends the batch to the buffer and fsyncs it: `Delivered` means "durably buffered".
    /// A full buffer or an I/O error (disk full included) is `Retryable`.
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        if self.drain.is_finished() {
            return Outcome::Retryable(RetryReason::Operator(format!(
                "the disk buffer of sink `{}` stopped draining (see the error above); restart \
                 entrastream, the buffer is kept",
                self.name
            )));
        }
        let shared = self.shared.clone();
        let writer = self.writer.clone();
        let batch = batch.clone();
        let appended = tokio::task::spawn_blocking(move || {
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            w.append(&shared, &batch)
        })
        .await;
        match appended {
            Ok(Ok(rejections)) if rejections.is_empty() => Outcome::Delivered,
            Ok(Ok(rejections)) => Outcome::Rejected(rejections),
            Ok(Err(e)) => Outcome::Retryable(RetryReason::Io(e.to_string())),
            Err(e) => {
                Outcome::Retryable(RetryReason::Io(format!("disk buffer append failed: {e}")))
            }
        }
    }

    /// The buffer's own health: its directory is there and its drain runs. The wrapped
    /// sink's peer is not asked (a buffered sink accepts records while its peer is down).
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        if self.drain.is_finished() {
            return Err(SinkError::Io(format!(
                "the disk buffer of sink `{}` stopped draining; restart entrastream",
                self.name
            )));
        }
        let dir = self.shared.dir.clone();
        match tokio::fs::metadata(&dir).await {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(SinkError::Io(format!(
                "buffer path {} is not a directory",
                dir.display()
            ))),
            Err(e) => Err(SinkError::Io(format!(
                "buffer directory {} unusable: {e}",
                dir.display()
            ))),
        }
    }

    /// Group commit, as the file sink: queued batches go into one append and one fsync.
    fn coalesce(&self) -> Option<Coalesce> {
        Some(Coalesce {
            min_bytes: 0,
            max_bytes: GROUP_COMMIT_MAX,
            max_wait: Duration::ZERO,
        })
    }
}

/// The drain task: read, send to the wrapped sink until it is done with the batch, hand
/// refusals and damage to the dead-letter sink, then acknowledge. One batch at a time, in
/// buffer order.
async fn drain(
    shared: Arc<Shared>,
    reader: Reader,
    mut inner: Box<dyn Sink>,
    mut dead_letter: Box<dyn Sink>,
    mut retry: RetryPolicy,
    batch_bytes: usize,
    separator: &'static [u8],
) {
    let name = inner.name().to_string();
    let mut reader = Some(reader);
    let mut read_failures = 0u32;
    loop {
        let Some(r) = reader.take() else { return };
        let s = shared.clone();
        let read = tokio::task::spawn_blocking(move || {
            let mut r = r;
            let got = r.read(&s, batch_bytes, separator);
            (r, got)
        })
        .await;
        let (r, got) = match read {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(sink = %name, error = %e, "disk buffer reader failed; the drain stops");
                return;
            }
        };
        reader = Some(r);
        match got {
            Ok(Some(batch)) => {
                read_failures = 0;
                deliver(
                    &name,
                    &shared,
                    inner.as_mut(),
                    dead_letter.as_mut(),
                    &mut retry,
                    &batch,
                )
                .await;
                let s = shared.clone();
                let end = batch.end;
                match tokio::task::spawn_blocking(move || store::acknowledge(&s, end)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(sink = %name, error = %e, "disk buffer: persisting the acknowledged position failed (a restart would send some records again)");
                    }
                    Err(e) => {
                        tracing::error!(sink = %name, error = %e, "disk buffer acknowledgement failed; the drain stops");
                        return;
                    }
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = shared.appended.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Err(e) => {
                let delay = retry.delay(read_failures);
                if read_failures.is_power_of_two() || read_failures == 0 {
                    tracing::warn!(sink = %name, error = %e, "disk buffer read failed, retrying");
                }
                read_failures = read_failures.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn deliver(
    name: &str,
    shared: &Shared,
    inner: &mut dyn Sink,
    dead_letter: &mut dyn Sink,
    retry: &mut RetryPolicy,
    read: &ReadBatch,
) {
    let stats = &shared.stats;
    let mut lines = Vec::new();
    let records = read.batch.records.len() as u64;
    let mut attempt = 0u32;
    // A batch that only moves the position past a segment, or holds only damage, has nothing
    // for the wrapped sink.
    let mut pending = records > 0;
    while pending {
        match inner.send(&read.batch).await {
            Outcome::Delivered => {
                stats
                    .records_delivered
                    .fetch_add(records, Ordering::Relaxed);
                break;
            }
            Outcome::Rejected(rejections) => {
                let refused = rejections.len() as u64;
                stats
                    .records_delivered
                    .fetch_add(records.saturating_sub(refused), Ordering::Relaxed);
                stats.records_rejected.fetch_add(refused, Ordering::Relaxed);
                for r in &rejections {
                    rejection_line(&mut lines, name, &read.batch, r);
                }
                pending = false;
            }
            Outcome::Retryable(reason) => {
                stats.drain_retries.fetch_add(1, Ordering::Relaxed);
                let delay = retry.delay(attempt);
                if attempt == 0 || attempt.is_power_of_two() {
                    tracing::warn!(sink = %name, %reason, attempt, delay_ms = delay.as_millis() as u64, "buffered sink send failed, retrying (records stay in the disk buffer)");
                }
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
    for d in &read.damaged {
        damaged_line(&mut lines, name, d);
    }
    if lines.is_empty() {
        return;
    }
    let batch = EncodedBatch {
        data: Bytes::from(lines),
        records: Vec::new(),
    };
    let mut attempt = 0u32;
    loop {
        match dead_letter.send(&batch).await {
            Outcome::Delivered => return,
            other => {
                let delay = retry.delay(attempt);
                tracing::warn!(sink = %name, outcome = ?other, "dead-letter write for the buffered sink failed, retrying (the records stay in the buffer until written)");
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, line: &DeadLetterLine<'_>) {
    // Serializing a struct of strings and integers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, line).is_ok() {
        out.push(b'\n');
    }
}

/// A record the wrapped sink refused for good, in the pipeline's dead-letter format.
fn rejection_line(out: &mut Vec<u8>, sink: &str, batch: &EncodedBatch, r: &Rejection) {
    let (Some(meta), Some(raw)) = (batch.records.get(r.index), batch.record(r.index)) else {
        return;
    };
    push_line(
        out,
        &DeadLetterLine {
            error: &r.reason,
            reason: "sink_rejected",
            source: sink,
            topic: &meta.partition.topic,
            partition: meta.partition.partition,
            offset: meta.offset,
            body_offset: None,
            category: Some(&meta.category),
            raw: &String::from_utf8_lossy(raw),
        },
    );
}

/// A damaged stretch of a segment. Its origin is known when only its data is damaged;
/// otherwise partition and offset are -1 and the topic is empty.
fn damaged_line(out: &mut Vec<u8>, sink: &str, d: &Damaged) {
    let error = format!(
        "disk buffer segment {} bytes {}..{}: {}{}",
        d.segment,
        d.range.start,
        d.range.end,
        d.reason,
        if d.meta.is_some() {
            ""
        } else {
            "; origin unknown"
        }
    );
    let raw = String::from_utf8_lossy(&d.raw);
    let (topic, partition, offset, category) = match &d.meta {
        Some(m) => (
            m.partition.topic.as_str(),
            m.partition.partition,
            m.offset,
            Some(m.category.as_str()),
        ),
        None => ("", -1, -1, None),
    };
    push_line(
        out,
        &DeadLetterLine {
            error: &error,
            reason: "buffer_corrupt",
            source: sink,
            topic,
            partition,
            offset,
            body_offset: None,
            category,
            raw: &raw,
        },
    );
}

/// One sink shared by several owners, one `send` at a time: hands the pipeline's dead-letter
/// file to every buffered sink's drain as well, so that there is one dead-letter file with one
/// writer and one rotation.
#[derive(Debug, Clone)]
pub struct SharedSink {
    name: String,
    encoder: Arc<dyn RecordEncoder>,
    inner: Arc<tokio::sync::Mutex<Box<dyn Sink>>>,
}

impl SharedSink {
    /// Shares `sink`; clone the result for each owner.
    pub fn new(sink: Box<dyn Sink>) -> Self {
        SharedSink {
            name: sink.name().to_string(),
            encoder: sink.encoder(),
            inner: Arc::new(tokio::sync::Mutex::new(sink)),
        }
    }
}

#[async_trait]
impl Sink for SharedSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        self.inner.lock().await.send(batch).await
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        self.inner.lock().await.healthcheck().await
    }

    fn coalesce(&self) -> Option<Coalesce> {
        self.inner.try_lock().ok().and_then(|s| s.coalesce())
    }
}
