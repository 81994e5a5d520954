//! Retention headroom: how long until the oldest message this consumer has not committed
//! leaves the hub's retention (then a restart, a rebalance or a long outage loses it).
//!
//! Design decision: the source, not the pipeline, tracks it, because only the source sees both
//! ends: every message it polls (with its Kafka timestamp) and every commit. Per partition it
//! keeps the timestamps of polled-but-uncommitted messages as *runs*: a new run starts only when
//! a message is at least [`RUN_MS`] newer than the current run's oldest, so memory grows with
//! the seconds of traffic in flight, not with the number of messages. A run's timestamp is the
//! oldest of its messages, so the headroom is pessimistic by under a second, never optimistic.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use entrastream_model::PartitionId;

/// Messages within this many milliseconds of a run's oldest one join that run.
pub const RUN_MS: i64 = 1000;

/// One partition's polled-but-uncommitted messages.
#[derive(Debug, Default)]
struct Runs {
    /// (first offset of the run, oldest timestamp in it, ms since the epoch); offsets increase.
    /// A run covers offsets up to the next run's first offset.
    runs: VecDeque<(i64, i64)>,
    /// Newest offset polled.
    last_polled: Option<i64>,
    /// Timestamp of the last run that was committed entirely.
    last_committed_ms: Option<i64>,
}

/// What is at risk in a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oldest {
    /// The oldest uncommitted message is (at least) this old: ms since the epoch.
    At(i64),
    /// Everything the broker holds is committed.
    Nothing,
    /// Messages wait on the broker but none was polled yet: unknown age.
    Unknown,
}

/// Uncommitted message timestamps per partition.
#[derive(Debug, Default)]
pub struct Uncommitted {
    parts: HashMap<PartitionId, Runs>,
}

impl Uncommitted {
    /// A partition is assigned: it starts with nothing polled.
    pub fn assign(&mut self, p: &PartitionId) {
        self.parts.insert(p.clone(), Runs::default());
    }

    /// A partition is revoked.
    pub fn remove(&mut self, p: &PartitionId) {
        self.parts.remove(p);
    }

    /// A message was polled (messages of a partition arrive in offset order).
    pub fn polled(&mut self, p: &PartitionId, offset: i64, timestamp_ms: Option<i64>) {
        let runs = self.parts.entry(p.clone()).or_default();
        runs.last_polled = Some(offset);
        let Some(ts) = timestamp_ms else { return };
        match runs.runs.back_mut() {
            Some((_, oldest)) if ts < *oldest + RUN_MS => *oldest = (*oldest).min(ts),
            _ => runs.runs.push_back((offset, ts)),
        }
    }

    /// Everything of `p` below offset `next` is committed.
    pub fn committed(&mut self, p: &PartitionId, next: i64) {
        let Some(runs) = self.parts.get_mut(p) else {
            return;
        };
        // A run is done when the next one starts at or below `next`.
        while runs.runs.len() >= 2 && runs.runs[1].0 <= next {
            if let Some((_, ts)) = runs.runs.pop_front() {
                runs.last_committed_ms = Some(ts);
            }
        }
        if runs.last_polled.is_some_and(|last| last < next) {
            if let Some((_, ts)) = runs.runs.pop_front() {
                runs.last_committed_ms = Some(ts);
            }
            runs.runs.clear();
        }
    }

    /// The oldest message of `p` not yet committed. `broker_lag` is librdkafka's consumer lag
    /// (messages on the broker beyond the committed offset), when known.
    pub fn oldest(&self, p: &PartitionId, broker_lag: Option<i64>) -> Oldest {
        let runs = self.parts.get(p);
        if let Some((_, ts)) = runs.and_then(|r| r.runs.front()) {
            return Oldest::At(*ts);
        }
        match broker_lag {
            Some(0) => Oldest::Nothing,
            // The next message is newer than the last committed one: a safe stand-in.
            _ => runs
                .and_then(|r| r.last_committed_ms)
                .map_or(Oldest::Unknown, Oldest::At),
        }
    }

    /// Partitions tracked.
    pub fn partitions(&self) -> Vec<PartitionId> {
        self.parts.keys().cloned().collect()
    }
}

/// Seconds until a message as old as `oldest` leaves a retention of `retention`, at `now`.
pub fn headroom(oldest: Oldest, retention: Duration, now: SystemTime) -> Option<f64> {
    let retention = retention.as_secs_f64();
    match oldest {
        Oldest::Nothing => Some(retention),
        Oldest::Unknown => None,
        Oldest::At(ms) => {
            let now_ms = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as f64;
            let age = ((now_ms - ms as f64) / 1000.0).max(0.0);
            Some((retention - age).max(0.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PartitionId {
        PartitionId::new("t", 0)
    }

    #[test]
    fn the_oldest_uncommitted_message_moves_with_commits() {
        let mut u = Uncommitted::default();
        u.assign(&p());
        assert_eq!(u.oldest(&p(), Some(0)), Oldest::Nothing);
        assert_eq!(u.oldest(&p(), Some(5)), Oldest::Unknown);
        // offsets 0..=9 at 10 s, 10..=19 at 20 s (one run each), 20 at 30 s
        for o in 0..10 {
            u.polled(&p(), o, Some(10_000 + o));
        }
        for o in 10..20 {
            u.polled(&p(), o, Some(20_000));
        }
        u.polled(&p(), 20, Some(30_000));
        assert_eq!(u.oldest(&p(), Some(21)), Oldest::At(10_000));
        u.committed(&p(), 5); // the first run still holds offsets 5..=9
        assert_eq!(u.oldest(&p(), Some(16)), Oldest::At(10_000));
        u.committed(&p(), 10);
        assert_eq!(u.oldest(&p(), Some(11)), Oldest::At(20_000));
        u.committed(&p(), 21);
        assert_eq!(u.oldest(&p(), Some(0)), Oldest::Nothing);
        // more on the broker, none polled: the last committed run's age stands in
        assert_eq!(u.oldest(&p(), Some(3)), Oldest::At(30_000));
    }

    #[test]
    fn an_older_timestamp_inside_a_run_makes_the_run_older() {
        let mut u = Uncommitted::default();
        u.polled(&p(), 0, Some(50_000));
        u.polled(&p(), 1, Some(49_000));
        u.polled(&p(), 2, Some(50_500));
        assert_eq!(u.oldest(&p(), None), Oldest::At(49_000));
        u.polled(&p(), 3, None); // no timestamp: counted as polled, no run
        u.committed(&p(), 4);
        assert_eq!(u.oldest(&p(), Some(0)), Oldest::Nothing);
    }

    #[test]
    fn runs_grow_with_seconds_of_traffic_not_with_messages() {
        let mut u = Uncommitted::default();
        for o in 0..100_000 {
            u.polled(&p(), o, Some(1_000_000 + o)); // 1000 messages a second for 100 s
        }
        assert!(
            u.parts[&p()].runs.len() <= 101,
            "{}",
            u.parts[&p()].runs.len()
        );
    }

    #[test]
    fn headroom_is_retention_minus_age_floored_at_zero() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let day = Duration::from_secs(86_400);
        assert_eq!(headroom(Oldest::Nothing, day, now), Some(86_400.0));
        assert_eq!(headroom(Oldest::Unknown, day, now), None);
        assert_eq!(headroom(Oldest::At(900_000), day, now), Some(86_300.0));
        assert_eq!(
            headroom(Oldest::At(0), Duration::from_secs(10), now),
            Some(0.0)
        );
    }
}
