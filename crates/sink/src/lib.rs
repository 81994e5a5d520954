//! The [`Sink`] trait and what flows through it: [`EncodedBatch`] in, [`Outcome`] out.
//!
//! Design decision: encoding and I/O are split. A sink hands the pipeline a [`RecordEncoder`]
//! (pure, `Sync`, used on the parse thread to turn borrowed typed records into bytes in the
//! sink's schema) and keeps the I/O half, [`Sink::send`], for its own task. A batch's
//! [`Outcome`] decides everything that follows: `Delivered` acknowledges it, `Rejected` sends
//! the named records to the dead-letter sink (they count as done once that sink accepts them),
//! `Retryable` retries the whole batch after a jittered, capped exponential backoff
//! ([`RetryPolicy`]). Adding a sink = one type implementing [`Sink`] plus one config variant
//! (see `docs/sinks.md`).
#![forbid(unsafe_code)]

mod error;
mod progress;
mod retry;

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_entra::{EncodeContext, Record, Schema};
use entrastream_model::PartitionId;

pub use error::{BuildError, EncodeError, RejectReason, RetryReason, SinkError};
pub use progress::BatchProgress;
pub use retry::RetryPolicy;

/// Where one encoded record sits in a batch, and where it came from.
#[derive(Clone, Debug)]
pub struct RecordMeta {
    /// Byte range of the record in [`EncodedBatch::data`] (without the trailing newline).
    pub range: Range<usize>,
    /// Source partition of the message that carried the record.
    pub partition: PartitionId,
    /// Offset of that message.
    pub offset: i64,
    /// Diagnostic category (e.g. `SignInLogs`).
    pub category: String,
}

/// A batch of records encoded for one sink: the concatenated encodings plus per-record metadata.
#[derive(Clone, Default)]
pub struct EncodedBatch {
    /// The encoded records. For the default NDJSON encoder: one JSON object per line.
    pub data: Bytes,
    /// One entry per record, in order.
    pub records: Vec<RecordMeta>,
}

impl fmt::Debug for EncodedBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedBatch")
            .field("bytes", &self.data.len())
            .field("records", &self.records.len())
            .finish()
    }
}

impl EncodedBatch {
    /// The bytes of record `i`, if it exists.
    pub fn record(&self, i: usize) -> Option<&[u8]> {
        self.records
            .get(i)
            .and_then(|m| self.data.get(m.range.clone()))
    }
}

impl EncodedBatch {
    /// One batch holding `parts` back to back, in order: the data concatenated and every
    /// record range shifted to its place. A single part is returned as is (no copy).
    pub fn concat(mut parts: Vec<EncodedBatch>) -> EncodedBatch {
        if parts.len() == 1 {
            return parts.pop().unwrap_or_default();
        }
        let bytes = parts.iter().map(|p| p.data.len()).sum();
        let records = parts.iter().map(|p| p.records.len()).sum();
        let mut data = Vec::with_capacity(bytes);
        let mut metas = Vec::with_capacity(records);
        for p in parts {
            let base = data.len();
            data.extend_from_slice(&p.data);
            metas.extend(p.records.into_iter().map(|mut m| {
                m.range = m.range.start + base..m.range.end + base;
                m
            }));
        }
        EncodedBatch {
            data: Bytes::from(data),
            records: metas,
        }
    }
}

/// How a sink wants consecutive pipeline batches merged before one [`Sink::send`]
/// ([`Sink::coalesce`]). The sink's worker in the pipeline does the merging: it takes the next
/// batch, then keeps adding the batches queued behind it while the merged size stays within
/// `max_bytes`, and while it is below `min_bytes` it waits for more, up to `max_wait` after the
/// first one arrived. Every merged batch is acknowledged only when the merged send is, so the
/// delivery contract is unchanged; what changes is how many sends (fsyncs, HTTP requests) the
/// same records cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coalesce {
    /// Wait for further batches while the merged encoded size is below this (0 = never wait).
    pub min_bytes: usize,
    /// Never merge past this many encoded bytes (a single larger batch is sent alone).
    pub max_bytes: usize,
    /// The longest wait for further batches, counted from the arrival of the first.
    pub max_wait: Duration,
}

/// One record a sink refused for good, with the sink's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Index into [`EncodedBatch::records`].
    pub index: usize,
    /// Why (its class, and the peer's message, a status code); the message goes into the
    /// dead-letter line.
    pub reason: RejectReason,
}

/// What became of one batch.
///
/// ```
/// use entrastream_sink::{Outcome, RejectReason, Rejection, RetryReason};
/// // a Splunk 400 for the second event only:
/// let reason = RejectReason::Invalid("invalid event".into());
/// let o = Outcome::Rejected(vec![Rejection { index: 1, reason }]);
/// assert!(!o.is_retryable());
/// assert!(Outcome::Retryable(RetryReason::Unavailable("503 server busy".into())).is_retryable());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every record is durably accepted.
    Delivered,
    /// These records are refused for good (they go to the dead-letter sink); all others are
    /// accepted.
    Rejected(Vec<Rejection>),
    /// Nothing is accepted; send the same batch again later.
    Retryable(RetryReason),
}

impl Outcome {
    /// True for [`Outcome::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Outcome::Retryable(_))
    }
}

/// Turns a typed record into this sink's bytes. Runs on the parse path: no I/O, no blocking.
pub trait RecordEncoder: Send + Sync + fmt::Debug {
    /// Appends one encoded record to `out` (without separator); the error is the reason the
    /// record goes to the dead-letter sink.
    fn encode(
        &self,
        record: &Record<'_>,
        ctx: &EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;

    /// Bytes written after each record (a newline for NDJSON).
    fn separator(&self) -> &'static [u8] {
        b"\n"
    }
}

/// Sees every record that parsed, once, before any sink encodes it: for counters about the
/// logs themselves (the IAM-health metrics) rather than about delivery. Runs on the parse
/// path: no I/O, no blocking, nothing per record that allocates.
pub trait RecordObserver: Send + Sync + fmt::Debug {
    fn observe(&self, record: &Record<'_>);
}

/// The default encoder: one JSON object per line in the chosen schema.
#[derive(Debug, Clone, Copy)]
pub struct NdjsonEncoder {
    /// raw | native | ecs | ocsf
    pub schema: Schema,
}

impl RecordEncoder for NdjsonEncoder {
    fn encode(
        &self,
        record: &Record<'_>,
        ctx: &EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        Ok(entrastream_entra::encode(self.schema, record, ctx, out)?)
    }
}

/// Which records a sink wants.
#[derive(Clone, Debug, Default)]
pub struct CategoryFilter {
    allowed: Option<HashSet<String>>,
}

impl CategoryFilter {
    /// `None` = every category; otherwise only these (exact, case-sensitive as Azure sends them).
    pub fn new(categories: Option<Vec<String>>) -> Self {
        CategoryFilter {
            allowed: categories.map(|c| c.into_iter().collect()),
        }
    }

    /// True when the sink wants records of this category.
    pub fn accepts(&self, category: &str) -> bool {
        self.allowed.as_ref().is_none_or(|a| a.contains(category))
    }
}

/// The I/O half of a sink. One task owns it; batches arrive in order.
#[async_trait]
pub trait Sink: Send + fmt::Debug + 'static {
    /// The configured name (metric label, dead-letter `source`).
    fn name(&self) -> &str;

    /// The encoder the pipeline uses for this sink's records.
    fn encoder(&self) -> std::sync::Arc<dyn RecordEncoder>;

    /// Sends one batch. Must be durable before `Delivered` (a file sink fsyncs). Must not
    /// panic; map every failure to an [`Outcome`].
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome;

    /// Checks the peer is reachable and accepts writes (start-up and while retrying).
    async fn healthcheck(&mut self) -> Result<(), SinkError>;

    /// Whether the pipeline may merge consecutive batches into one `send` (see [`Coalesce`]).
    /// `None` (the default): one `send` per pipeline batch.
    fn coalesce(&self) -> Option<Coalesce> {
        None
    }

    /// How many sends the pipeline may keep outstanding at once through [`Sink::start_send`]
    /// (default 1: each send finishes before the next starts). A sink whose peer
    /// acknowledges asynchronously (RELP) says more, so the next batch goes out while the
    /// previous one's acknowledgements are still coming back and the peer never waits for it.
    fn max_outstanding_sends(&self) -> usize {
        1
    }

    /// Hands `batch` to the peer and returns once it is handed over (written, within the
    /// sink's window), with a future that resolves to the batch's [`Outcome`] when the peer
    /// has answered for every record; the delivery contract of [`Sink::send`] holds for that
    /// outcome. After `Retryable` the pipeline resends the batch with [`Sink::send`].
    /// Default: the whole [`Sink::send`], then its outcome.
    async fn start_send(&mut self, batch: &EncodedBatch) -> PendingSend {
        let outcome = self.send(batch).await;
        Box::pin(std::future::ready(outcome))
    }
}

/// The outcome of a send started with [`Sink::start_send`], still to come.
pub type PendingSend =
    std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + 'static>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_shifts_ranges_and_keeps_order() {
        let p = PartitionId::new("t", 0);
        let batch = |text: &'static str, offset: i64| {
            let mut records = Vec::new();
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                records.push(RecordMeta {
                    range: start..start + line.len() - 1,
                    partition: p.clone(),
                    offset,
                    category: "SignInLogs".into(),
                });
                start += line.len();
            }
            EncodedBatch {
                data: Bytes::from_static(text.as_bytes()),
                records,
            }
        };
        let merged = EncodedBatch::concat(vec![batch("a\nbb\n", 1), batch("ccc\n", 2)]);
        assert_eq!(&merged.data[..], b"a\nbb\nccc\n");
        let got: Vec<&[u8]> = (0..3).map(|i| merged.record(i).unwrap()).collect();
        assert_eq!(got, [&b"a"[..], b"bb", b"ccc"]);
        assert_eq!(merged.records[2].offset, 2);
        let single = batch("x\n", 3);
        let data = single.data.clone();
        let same = EncodedBatch::concat(vec![single]);
        assert_eq!(same.data.as_ptr(), data.as_ptr(), "one part is not copied");
    }

    #[test]
    fn filter() {
        let f = CategoryFilter::new(Some(vec!["SignInLogs".into()]));
        assert!(f.accepts("SignInLogs"));
        assert!(!f.accepts("AuditLogs"));
        assert!(CategoryFilter::new(None).accepts("anything"));
    }
}
