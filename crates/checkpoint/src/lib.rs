//! Acknowledgement tracking: which messages of each partition are done, and the contiguous low
//! watermark that may be committed.
//!
//! Design decision: one small, synchronous type ([`AckTracker`]) owns the rule "never commit
//! past a message that is not done". Messages are registered in the order the source delivers
//! them (offsets strictly increasing per partition, gaps allowed: Kafka compaction and
//! transaction markers skip offsets); they may be acknowledged in any order. The watermark only
//! advances over a contiguous prefix of acknowledged messages, so a message that a sink has not
//! accepted holds back every later message of its partition, however many were delivered after
//! it. Nothing here panics on bad input: out-of-order registrations and unknown acks are errors.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};

use entrastream_model::{Checkpoint, PartitionId, Position};

/// Why the tracker refused an operation. These indicate a source or pipeline bug; the pipeline
/// logs them and carries on without moving any watermark.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrackError {
    /// A registration did not move forward in its partition.
    #[error("offset {offset} registered out of order in {partition} (last registered {last})")]
    OutOfOrder {
        /// The partition.
        partition: PartitionId,
        /// The offending offset.
        offset: i64,
        /// The highest offset registered before it.
        last: i64,
    },
    /// The partition is not tracked (never assigned, or already revoked).
    #[error("partition {0} is not tracked")]
    UnknownPartition(PartitionId),
    /// The offset was never registered, or is already below the watermark.
    #[error("offset {offset} of {partition} is not in flight")]
    UnknownOffset {
        /// The partition.
        partition: PartitionId,
        /// The offset.
        offset: i64,
    },
}

#[derive(Debug)]
struct PartitionState {
    /// In-flight messages in registration order: (offset, done).
    pending: VecDeque<(i64, bool)>,
    /// Highest offset registered so far (or the start position).
    last_registered: Option<i64>,
    /// Everything at or below it is done.
    watermark: Position,
    /// What was last committed (never ahead of `watermark`).
    committed: Position,
}

/// Per-partition contiguous low-watermark tracker. See the crate docs for the contract.
#[derive(Debug, Default)]
pub struct AckTracker {
    partitions: HashMap<PartitionId, PartitionState>,
}

impl AckTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts tracking a partition whose committed position is `start` (what the broker holds;
    /// `Position::Beginning` when nothing is committed). Re-assigning resets its state.
    pub fn assign(&mut self, partition: PartitionId, start: Position) {
        let last = match start {
            Position::Beginning => None,
            Position::Offset(o) => Some(o),
        };
        self.partitions.insert(
            partition,
            PartitionState {
                pending: VecDeque::new(),
                last_registered: last,
                watermark: start,
                committed: start,
            },
        );
    }

    /// Stops tracking a partition and returns its final watermark.
    pub fn remove(&mut self, partition: &PartitionId) -> Option<Position> {
        self.partitions.remove(partition).map(|s| s.watermark)
    }

    /// True when the partition is tracked.
    pub fn contains(&self, partition: &PartitionId) -> bool {
        self.partitions.contains_key(partition)
    }

    /// Records that a message entered the pipeline. A partition seen for the first time is
    /// tracked implicitly as if assigned just before this offset: the source has resumed from
    /// the committed position, so nothing below it is pending.
    pub fn register(&mut self, partition: &PartitionId, offset: i64) -> Result<(), TrackError> {
        let state = self
            .partitions
            .entry(partition.clone())
            .or_insert_with(|| PartitionState {
                pending: VecDeque::new(),
                last_registered: None,
                watermark: if offset > 0 {
                    Position::Offset(offset - 1)
                } else {
                    Position::Beginning
                },
                committed: Position::Beginning,
            });
        if let Some(last) = state.last_registered
            && offset <= last
        {
            return Err(TrackError::OutOfOrder {
                partition: partition.clone(),
                offset,
                last,
            });
        }
        // Offsets between the last registered message and this one (gaps) belong to nobody:
        // when this message is done the watermark jumps over them, which is what Kafka expects.
        state.last_registered = Some(offset);
        state.pending.push_back((offset, false));
        Ok(())
    }

    /// Marks one message done. Returns true when the watermark moved.
    pub fn ack(&mut self, partition: &PartitionId, offset: i64) -> Result<bool, TrackError> {
        let state = self
            .partitions
            .get_mut(partition)
            .ok_or_else(|| TrackError::UnknownPartition(partition.clone()))?;
        let idx = state
            .pending
            .binary_search_by_key(&offset, |(o, _)| *o)
            .map_err(|_| TrackError::UnknownOffset {
                partition: partition.clone(),
                offset,
            })?;
        if let Some(entry) = state.pending.get_mut(idx) {
            entry.1 = true;
        }
        let mut moved = false;
        while let Some(&(o, true)) = state.pending.front() {
            state.pending.pop_front();
            state.watermark = Position::Offset(o);
            moved = true;
        }
        Ok(moved)
    }

    /// The current watermark of a partition.
    pub fn watermark(&self, partition: &PartitionId) -> Option<Position> {
        self.partitions.get(partition).map(|s| s.watermark)
    }

    /// The last committed position of a partition.
    pub fn committed(&self, partition: &PartitionId) -> Option<Position> {
        self.partitions.get(partition).map(|s| s.committed)
    }

    /// Messages of this partition registered but not yet behind the watermark.
    pub fn in_flight(&self, partition: &PartitionId) -> usize {
        self.partitions
            .get(partition)
            .map_or(0, |s| s.pending.len())
    }

    /// Messages in flight across all partitions.
    pub fn total_in_flight(&self) -> usize {
        self.partitions.values().map(|s| s.pending.len()).sum()
    }

    /// Tracked partitions.
    pub fn partitions(&self) -> impl Iterator<Item = &PartitionId> {
        self.partitions.keys()
    }

    /// The positions that moved since the last commit (empty when nothing moved).
    pub fn pending_commit(&self) -> Checkpoint {
        let mut cp = Checkpoint::new();
        for (p, s) in &self.partitions {
            if s.watermark > s.committed {
                cp.set(p.clone(), s.watermark);
            }
        }
        cp
    }

    /// The watermark of the given partitions, moved or not (used on revoke and shutdown).
    pub fn watermarks_of<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a PartitionId>,
    ) -> Checkpoint {
        let mut cp = Checkpoint::new();
        for p in partitions {
            if let Some(s) = self.partitions.get(p)
                && s.watermark != Position::Beginning
            {
                cp.set(p.clone(), s.watermark);
            }
        }
        cp
    }

    /// Records a successful commit. Positions ahead of the watermark are ignored (cannot happen
    /// through `pending_commit`, and must never be recorded).
    pub fn mark_committed(&mut self, checkpoint: &Checkpoint) {
        for (p, pos) in checkpoint.iter() {
            if let Some(s) = self.partitions.get_mut(p)
                && *pos <= s.watermark
                && *pos > s.committed
            {
                s.committed = *pos;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(n: i32) -> PartitionId {
        PartitionId::new("hub", n)
    }

    #[test]
    fn out_of_order_acks_hold_the_watermark() {
        let mut t = AckTracker::new();
        for o in 10..15 {
            t.register(&p(0), o).unwrap();
        }
        assert_eq!(t.watermark(&p(0)), Some(Position::Offset(9)));
        assert!(!t.ack(&p(0), 12).unwrap());
        assert!(!t.ack(&p(0), 11).unwrap());
        assert_eq!(t.watermark(&p(0)), Some(Position::Offset(9)));
        assert!(t.ack(&p(0), 10).unwrap());
        assert_eq!(t.watermark(&p(0)), Some(Position::Offset(12)));
        assert_eq!(t.in_flight(&p(0)), 2);
    }

    #[test]
    fn errors_instead_of_panics() {
        let mut t = AckTracker::new();
        t.register(&p(0), 5).unwrap();
        assert!(matches!(
            t.register(&p(0), 5),
            Err(TrackError::OutOfOrder { .. })
        ));
        assert!(matches!(
            t.ack(&p(0), 6),
            Err(TrackError::UnknownOffset { .. })
        ));
        assert!(matches!(
            t.ack(&p(1), 6),
            Err(TrackError::UnknownPartition(_))
        ));
    }

    #[test]
    fn commit_bookkeeping() {
        let mut t = AckTracker::new();
        t.assign(p(1), Position::Offset(99));
        assert!(t.pending_commit().is_empty());
        t.register(&p(1), 100).unwrap();
        t.register(&p(1), 103).unwrap(); // gap: 101, 102 do not exist
        t.ack(&p(1), 103).unwrap();
        assert!(t.pending_commit().is_empty());
        t.ack(&p(1), 100).unwrap();
        let cp = t.pending_commit();
        assert_eq!(cp.get(&p(1)), Some(Position::Offset(103)));
        t.mark_committed(&cp);
        assert!(t.pending_commit().is_empty());
        assert_eq!(t.committed(&p(1)), Some(Position::Offset(103)));
    }

    proptest! {
        /// For any set of offsets and any ack order, the watermark is always the largest offset
        /// whose whole prefix is acked, never beyond an unacked message.
        #[test]
        fn watermark_is_the_contiguous_acked_prefix(
            gaps in proptest::collection::vec(1i64..4, 1..60),
            order in proptest::collection::vec(any::<prop::sample::Index>(), 0..80),
        ) {
            let mut offsets = Vec::new();
            let mut o = 0i64;
            for g in &gaps { o += g; offsets.push(o); }
            let mut t = AckTracker::new();
            for &off in &offsets { t.register(&p(0), off).unwrap(); }
            let mut acked = vec![false; offsets.len()];
            for idx in order {
                let i = idx.index(offsets.len());
                let r = t.ack(&p(0), offsets[i]);
                if acked[i] {
                    // already behind the watermark or already acked: either error or no-op
                    let _ = r;
                } else {
                    prop_assert!(r.is_ok());
                }
                acked[i] = true;
                let prefix = acked.iter().take_while(|a| **a).count();
                let expected = if prefix == 0 { Position::Offset(offsets[0] - 1) } else { Position::Offset(offsets[prefix - 1]) };
                prop_assert_eq!(t.watermark(&p(0)), Some(expected));
                prop_assert_eq!(t.in_flight(&p(0)), offsets.len() - prefix);
                // a commit never exceeds the watermark
                let cp = t.pending_commit();
                if let Some(pos) = cp.get(&p(0)) { prop_assert!(pos <= expected); }
                t.mark_committed(&cp);
            }
        }
    }
}
