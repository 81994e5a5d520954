//! What a sink has already had accepted of a batch, kept across `Retryable` returns.
//!
//! The pipeline resends the whole batch after `Retryable`; a sink that sends a batch as several
//! requests keeps this so the resend skips what the peer already took (fewer duplicates).

use crate::{EncodedBatch, Rejection};

/// Identifies a batch well enough to tell a resend of the same batch from the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BatchKey {
    records: usize,
    bytes: usize,
    first: Option<(String, i32, i64)>,
    last: Option<(String, i32, i64)>,
}

impl BatchKey {
    fn of(b: &EncodedBatch) -> Self {
        let id =
            |m: &crate::RecordMeta| (m.partition.topic.clone(), m.partition.partition, m.offset);
        BatchKey {
            records: b.records.len(),
            bytes: b.data.len(),
            first: b.records.first().map(id),
            last: b.records.last().map(id),
        }
    }
}

/// Per-record state of the batch being sent.
#[derive(Debug)]
pub struct BatchProgress {
    key: BatchKey,
    /// `done[i]`: record `i` was accepted or rejected for good.
    pub done: Vec<bool>,
    /// Records refused for good so far.
    pub rejections: Vec<Rejection>,
}

impl BatchProgress {
    /// Continues `previous` when `batch` is a resend of the same batch, else starts afresh.
    pub fn resume(previous: Option<BatchProgress>, batch: &EncodedBatch) -> BatchProgress {
        let key = BatchKey::of(batch);
        match previous {
            Some(p) if p.key == key => p,
            _ => BatchProgress {
                key,
                done: vec![false; batch.records.len()],
                rejections: Vec::new(),
            },
        }
    }

    /// True when `batch` is (a resend of) the batch this progress is about.
    pub fn is_for(&self, batch: &EncodedBatch) -> bool {
        self.key == BatchKey::of(batch)
    }

    /// Indices of the records still to send.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.done.len()).filter(|&i| !self.done[i]).collect()
    }

    /// Records one rejection and marks its record done.
    pub fn reject(&mut self, r: Rejection) {
        if let Some(d) = self.done.get_mut(r.index) {
            *d = true;
        }
        self.rejections.push(r);
    }
}
