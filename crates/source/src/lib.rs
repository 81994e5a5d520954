//! The [`Source`] trait: where messages come from, partition by partition.
//!
//! Design decision: a source is a stream of [`SourceEvent`]s (messages, partitions assigned,
//! partitions revoked) plus a separate [`Source::commit`] that the pipeline calls only with
//! positions every sink has accepted. The source never decides on its own that something is
//! done; it does not auto-commit. A revoke carries a reply channel: the source waits (bounded by
//! its drain timeout) for the pipeline to hand back the final watermark of the revoked
//! partitions, and commits it before giving them up, so the next owner starts exactly there.
//! Pause and resume are per partition, for byte-budget backpressure.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use async_trait::async_trait;
use entrastream_model::{Checkpoint, PartitionId, Position, SourceMessage};
use tokio::sync::oneshot;

/// Errors a source reports. `Fatal` stops the pipeline; the others are logged and retried.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The connection or the protocol failed in a way the source may recover from.
    #[error("source transport error: {0}")]
    Transport(String),
    /// A commit was refused or failed; the pipeline retries with a later checkpoint.
    #[error("checkpoint commit failed: {0}")]
    Commit(String),
    /// The source cannot go on (bad credentials, unknown topic, closed).
    #[error("source failed: {0}")]
    Fatal(String),
}

impl SourceError {
    /// Stable class name (metric label): what the pipeline does about it is the variant, never
    /// the text.
    pub fn code(&self) -> &'static str {
        match self {
            SourceError::Transport(_) => "transport",
            SourceError::Commit(_) => "commit",
            SourceError::Fatal(_) => "fatal",
        }
    }
}

/// What a source hands to the pipeline. Offsets within a partition only move forward.
#[derive(Debug)]
pub enum SourceEvent {
    /// One message.
    Message(SourceMessage),
    /// The source now owns these partitions, starting after these committed positions.
    Assigned(Vec<(PartitionId, Position)>),
    /// The source is losing these partitions. The pipeline drains what is in flight for them
    /// (bounded by its drain timeout) and replies with their final acked watermark, which the
    /// source commits before letting them go. Dropping the sender means "nothing to commit".
    Revoked {
        /// Partitions being revoked.
        partitions: Vec<PartitionId>,
        /// Where to send the final checkpoint of these partitions.
        drained: oneshot::Sender<Checkpoint>,
    },
    /// The source has no more messages and will not produce any (finite sources, tests).
    Eof,
    /// The broker confirmed these positions committed by a commit the source made on its own
    /// (the commit on revoke, which [`Source::commit`] does not cover). The pipeline reports
    /// committed offsets from this and from successful [`Source::commit`] calls only: answering
    /// a revoke is not a commit (it may be skipped, or fail), so it moves no metric.
    Committed(Checkpoint),
}

/// A partition-aware message source (Kafka endpoint, AMQP, test doubles).
#[async_trait]
pub trait Source: Send + 'static {
    /// The next event. Cancel-safe: dropping the future loses nothing.
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError>;

    /// The next rebalance event ([`SourceEvent::Assigned`], [`SourceEvent::Revoked`]) or
    /// error, leaving messages where they are. The pipeline waits on this instead of
    /// [`Source::next_event`] while it takes no messages (byte budget full), so that a revoke
    /// is answered during a sink outage instead of holding up the consumer group. Sources
    /// whose rebalance events need no answer during backpressure keep the default, which never
    /// resolves. Cancel-safe.
    async fn next_rebalance(&mut self) -> Result<SourceEvent, SourceError> {
        std::future::pending().await
    }

    /// Commits positions that every sink (or the dead-letter sink) has accepted. Called by the
    /// pipeline only; never with a position beyond an unaccepted message.
    async fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), SourceError>;

    /// The positions the last successful [`Source::commit`] really wrote, for a source that
    /// may write only part of what it is given (the AMQP source skips partitions it no longer
    /// owns); `None` (the default) means all of it. The pipeline reports committed offsets
    /// from this, so a metric never claims a commit that did not happen.
    fn written_by_last_commit(&self) -> Option<Checkpoint> {
        None
    }

    /// Stops fetching these partitions (messages already handed over are still processed).
    fn pause(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError>;

    /// Resumes fetching these partitions.
    fn resume(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError>;

    /// Stops the source after a final commit: no more events, connections closed.
    async fn close(&mut self) -> Result<(), SourceError>;

    /// A JSON description for `/status` and logs: kind, topic, assignment. Never secrets.
    fn describe(&self) -> serde_json::Value;
}

/// An in-memory source for tests: one partition per inner vector, all assigned up front, then
/// the messages in round-robin order, then [`SourceEvent::Eof`]. It records commits and pauses.
#[derive(Debug, Default)]
pub struct VecSource {
    queue: VecDeque<SourceEvent>,
    /// Every checkpoint the pipeline committed, in order.
    pub commits: Vec<Checkpoint>,
    /// Partitions currently paused.
    pub paused: Vec<PartitionId>,
    /// How many times any partition was paused.
    pub pause_count: usize,
}

impl VecSource {
    /// Builds a source over `partitions[i]` = bodies of partition `i` of topic `topic`.
    pub fn new(topic: &str, partitions: Vec<Vec<bytes::Bytes>>) -> Self {
        let mut queue = VecDeque::new();
        let assigned: Vec<_> = (0..partitions.len())
            .map(|i| (PartitionId::new(topic, i as i32), Position::Beginning))
            .collect();
        queue.push_back(SourceEvent::Assigned(assigned));
        let longest = partitions.iter().map(Vec::len).max().unwrap_or(0);
        for off in 0..longest {
            for (i, bodies) in partitions.iter().enumerate() {
                if let Some(body) = bodies.get(off) {
                    queue.push_back(SourceEvent::Message(SourceMessage {
                        partition: PartitionId::new(topic, i as i32),
                        offset: off as i64,
                        sequence_number: Some(off as i64),
                        enqueued_time: None,
                        body: body.clone(),
                        unreadable: None,
                    }));
                }
            }
        }
        queue.push_back(SourceEvent::Eof);
        VecSource {
            queue,
            ..Default::default()
        }
    }

    /// The last committed position of each partition, merged over all commits.
    pub fn committed(&self) -> Checkpoint {
        let mut merged = Checkpoint::new();
        for c in &self.commits {
            for (p, pos) in c.iter() {
                merged.set(p.clone(), *pos);
            }
        }
        merged
    }
}

#[async_trait]
impl Source for VecSource {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        match self.queue.pop_front() {
            Some(ev) => Ok(ev),
            None => Ok(SourceEvent::Eof),
        }
    }

    async fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), SourceError> {
        self.commits.push(checkpoint.clone());
        Ok(())
    }

    fn pause(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        for p in partitions {
            if !self.paused.contains(p) {
                self.paused.push(p.clone());
                self.pause_count += 1;
            }
        }
        Ok(())
    }

    fn resume(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        self.paused.retain(|p| !partitions.contains(p));
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        self.queue.clear();
        Ok(())
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "kind": "vec", "remaining": self.queue.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn vec_source_round_robins_then_eof() {
        let mut s = VecSource::new("t", vec![vec!["a".into(), "b".into()], vec!["c".into()]]);
        assert!(matches!(s.next_event().await.unwrap(), SourceEvent::Assigned(a) if a.len() == 2));
        let mut seen = Vec::new();
        loop {
            match s.next_event().await.unwrap() {
                SourceEvent::Message(m) => seen.push((m.partition.partition, m.offset)),
                SourceEvent::Eof => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, vec![(0, 0), (1, 0), (0, 1)]);
    }
}
