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

mod progress;
mod retry;

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_entra::{EncodeContext, Record, Schema};
use entrastream_model::PartitionId;

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

/// One record a sink refused for good, with the sink's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Index into [`EncodedBatch::records`].
    pub index: usize,
    /// Why (the peer's message, a status code); goes into the dead-letter line.
    pub reason: String,
}

/// What became of one batch.
///
/// ```
/// use entrastream_sink::{Outcome, Rejection};
/// // a Splunk 400 for the second event only:
/// let o = Outcome::Rejected(vec![Rejection { index: 1, reason: "invalid event".into() }]);
/// assert!(!o.is_retryable());
/// assert!(Outcome::Retryable("503 server busy".into()).is_retryable());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every record is durably accepted.
    Delivered,
    /// These records are refused for good (they go to the dead-letter sink); all others are
    /// accepted.
    Rejected(Vec<Rejection>),
    /// Nothing is accepted; send the same batch again later.
    Retryable(String),
}

impl Outcome {
    /// True for [`Outcome::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Outcome::Retryable(_))
    }
}

/// A health check failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Turns a typed record into this sink's bytes. Runs on the parse path: no I/O, no blocking.
pub trait RecordEncoder: Send + Sync + fmt::Debug {
    /// Appends one encoded record to `out` (without separator); the error is the reason the
    /// record goes to the dead-letter sink.
    fn encode(
        &self,
        record: &Record<'_>,
        ctx: &EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), String>;

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
    ) -> Result<(), String> {
        entrastream_entra::encode(self.schema, record, ctx, out).map_err(|e| e.to_string())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter() {
        let f = CategoryFilter::new(Some(vec!["SignInLogs".into()]));
        assert!(f.accepts("SignInLogs"));
        assert!(!f.accepts("AuditLogs"));
        assert!(CategoryFilter::new(None).accepts("anything"));
    }
}
