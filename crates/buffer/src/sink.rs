//! [`BufferedSink`]: the pipeline-facing half (append, fsync, `Delivered`) and the drain task
//! that feeds the wrapped sink from the buffer.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use entrastream_sink::{
    Coalesce, EncodedBatch, Outcome, RecordEncoder, RetryPolicy, RetryReason, Sink, SinkError,
};
use tokio::task::JoinHandle;

use crate::drain::{self, Plan};
use crate::stats::BufferStats;
use crate::store::{self, OpenError, Recovery, Shared, Writer};

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
/// Most bytes of recent appends the drain's in-memory tail holds (see `store::Tail`).
const TAIL_MAX: usize = 4 * GROUP_COMMIT_MAX;
/// Batches the drain reads ahead of those in flight, by default.
const DEFAULT_READ_AHEAD: usize = 2;
/// Finished batches the written acknowledged position may lag behind, by default.
const DEFAULT_UNPERSISTED: usize = 4;

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
    /// Batches read from disk ahead of those in flight, so that the next send never waits
    /// for a read. `None`: 2. Memory held by the drain is about `(lanes + read_ahead) ×
    /// batch bytes`.
    pub read_ahead: Option<usize>,
    /// Shortest time between two writes of the acknowledged position (one fsync and rename
    /// each) while it stays in one segment. `None`: zero, the next write starts as soon as
    /// the previous one is done (one write then covers every batch finished meanwhile).
    pub ack_interval: Option<Duration>,
    /// Finished batches the written position may lag behind before the drain waits for it:
    /// after `kill -9`, the sink receives again at most this many batches plus those in
    /// flight. `None`: 4.
    pub unpersisted_batches: Option<usize>,
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
        Self::open_lanes(path, max_size, vec![inner], dead_letter, options)
    }

    /// [`open`](Self::open) with several instances of the wrapped sink (`lanes`, at least
    /// one; the first gives the name, encoder and batch size): the drain keeps one batch in
    /// flight on each, so a sink whose acknowledgements are slow (Splunk indexer ack) is sent
    /// to concurrently. Batches may then reach the peer out of buffer order; the
    /// acknowledged position still only moves past a batch once every batch before it is
    /// done. Only for sinks whose instances can write side by side (network sinks), never a
    /// file.
    pub fn open_lanes(
        path: &Path,
        max_size: u64,
        lanes: Vec<Box<dyn Sink>>,
        dead_letter: Box<dyn Sink>,
        options: DrainOptions,
    ) -> Result<Self, OpenError> {
        let Some(first) = lanes.first() else {
            return Err(OpenError::NoSink(path.to_path_buf()));
        };
        let name = first.name().to_string();
        let encoder = first.encoder();
        let batch_bytes = options
            .batch_max_bytes
            .or_else(|| first.coalesce().map(|c| c.max_bytes))
            .filter(|&b| b > 0)
            .unwrap_or(DEFAULT_DRAIN_BYTES);
        let segment_max = options
            .segment_bytes
            .unwrap_or((max_size / 8).clamp(SEGMENT_MIN, SEGMENT_MAX));
        let stats = Arc::new(BufferStats::default());
        let (shared, writer, reader, recovery) = store::open(path, max_size, segment_max, stats)?;
        if recovery.torn_bytes > 0 || recovery.pending_records > 0 || recovery.ack_lost {
            tracing::info!(sink = %name, path = %path.display(), ?recovery, "disk buffer recovered; sending its records again");
        }
        // The drain sends recent appends from memory while it keeps up: up to four group
        // commits (at most 32 MiB) beyond the batches it holds itself.
        shared.keep_tail(encoder.separator(), TAIL_MAX);
        let drain = tokio::spawn(drain::run(
            shared.clone(),
            reader,
            Plan {
                lanes,
                dead_letter,
                retry: options.retry,
                batch_bytes,
                separator: encoder.separator(),
                read_ahead: options.read_ahead.unwrap_or(DEFAULT_READ_AHEAD),
                ack_interval: options.ack_interval.unwrap_or_default(),
                unpersisted: options.unpersisted_batches.unwrap_or(DEFAULT_UNPERSISTED),
            },
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
    /// Stops the drain and writes the acknowledged position it reached (the persister may be
    /// a few batches behind): what it had not finished stays in the buffer and is sent
    /// again by the next process.
    fn drop(&mut self) {
        self.drain.abort();
        let to = store::acknowledged(&self.shared);
        if let Err(e) = store::persist(&self.shared, to) {
            tracing::warn!(sink = %self.name, error = %e, "disk buffer: writing the acknowledged position at shutdown failed (the next start sends some records again)");
        }
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
            w.append_owned(&shared, batch)
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
