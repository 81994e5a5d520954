//! The hand-off between the poll thread and the pipeline, built so that the poll thread never
//! waits on the pipeline.
//!
//! Design decision: librdkafka leaves the consumer group when `poll()` is not called for
//! `max.poll.interval.ms`, so the poll thread must keep polling however long the pipeline
//! stops reading (a sink outage fills the byte budget for as long as it lasts). Messages go
//! through a bounded channel that the poll thread only ever `try_send`s into. A message that
//! finds it full is *held* on the poll thread (in order, before anything newer); if the channel
//! stays full for [`HANDOFF_GRACE`], the poll thread pauses every assigned partition itself and
//! goes on polling (heartbeats, rebalance callbacks, the max-poll timer), and resumes them once
//! the pipeline has taken half the channel. Pausing makes librdkafka drop what it prefetched and
//! fetch again from the last message `poll()` returned, so nothing newer than a held message
//! arrives before the held one is handed over.
//!
//! Two parties pause partitions: the pipeline (byte budget, [`entrastream_source::Source::pause`])
//! and the poll thread (full hand-off). librdkafka has one pause flag per partition, so
//! [`PauseState`] decides for both: a partition is resumed only when neither wants it paused.
//!
//! Rebalance events travel on their own unbounded channel and are always read before messages.
//! Every message carries the rebalance *generation* it was polled in; once a partition is
//! revoked, messages of it from an earlier generation are stale (held, in the channel or not yet
//! read) and are dropped: the next owner (maybe this one) reads them again from the committed
//! offset. At-least-once holds because the revoke commits only what the pipeline finished.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use entrastream_model::{PartitionId, SourceMessage};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

/// How long a message may wait for room in a full hand-off before the poll thread pauses its
/// partitions. Short against `max.poll.interval.ms` (the poll thread does not poll meanwhile),
/// long against the pipeline's per-message time, so a busy-but-moving pipeline never causes a
/// pause (each pause makes librdkafka drop and re-fetch its prefetched messages).
pub const HANDOFF_GRACE: Duration = Duration::from_millis(250);

/// Slots of the message channel. Small on purpose: what sits there is not yet counted against
/// the pipeline's byte budget.
pub const HANDOFF_SLOTS: usize = 64;

/// A polled message and the rebalance generation it was polled in.
#[derive(Debug)]
pub struct Tagged {
    /// The message.
    pub message: SourceMessage,
    /// [`Shared::generation`] when it was polled.
    pub generation: u64,
}

/// Who wants which partition paused.
#[derive(Debug, Default)]
pub struct PauseState {
    /// Partitions the pipeline paused (byte budget) and has not resumed.
    by_pipeline: HashSet<PartitionId>,
    /// The poll thread paused every assigned partition because the hand-off is full.
    by_handoff: bool,
}

/// State the poll thread, its rebalance callbacks and the pipeline's side share.
#[derive(Debug, Default)]
pub struct Shared {
    pause: Mutex<PauseState>,
    /// Incremented on every revoke, before the pipeline hears of it.
    generation: AtomicU64,
    /// Generation in which each partition was last revoked.
    revoked_at: Mutex<HashMap<PartitionId, u64>>,
    /// Set while the poll thread waits for room in the channel.
    waiting_for_room: AtomicBool,
    room_lock: Mutex<()>,
    room: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn tpl_of<'a>(partitions: impl IntoIterator<Item = &'a PartitionId>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(&p.topic, p.partition);
    }
    tpl
}

fn assigned<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Vec<PartitionId> {
    consumer
        .assignment()
        .map(|tpl| {
            tpl.elements()
                .iter()
                .map(|e| PartitionId::new(e.topic(), e.partition()))
                .collect()
        })
        .unwrap_or_default()
}

impl Shared {
    /// The current rebalance generation (tag for messages polled now).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A revoke begins: later reads drop older messages of these partitions, and the pipeline's
    /// pauses of them are forgotten (a later assignment starts from the pipeline's current view).
    pub fn revoke(&self, partitions: &[PartitionId]) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let mut revoked = lock(&self.revoked_at);
        for p in partitions {
            revoked.insert(p.clone(), generation);
        }
        let mut pause = lock(&self.pause);
        for p in partitions {
            pause.by_pipeline.remove(p);
        }
    }

    /// Whether a message was polled before its partition was revoked.
    pub fn is_stale(&self, m: &Tagged) -> bool {
        lock(&self.revoked_at)
            .get(&m.message.partition)
            .is_some_and(|g| m.generation < *g)
    }

    /// The pipeline pauses partitions (byte budget).
    pub fn pipeline_pause<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &[PartitionId],
    ) -> Result<(), KafkaError> {
        let mut pause = lock(&self.pause);
        pause.by_pipeline.extend(partitions.iter().cloned());
        consumer.pause(&tpl_of(partitions))
    }

    /// The pipeline resumes partitions; those the poll thread holds paused stay paused until
    /// the hand-off has room.
    pub fn pipeline_resume<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &[PartitionId],
    ) -> Result<(), KafkaError> {
        let mut pause = lock(&self.pause);
        for p in partitions {
            pause.by_pipeline.remove(p);
        }
        if pause.by_handoff {
            return Ok(());
        }
        consumer.resume(&tpl_of(partitions))
    }

    /// Whether the poll thread has paused the assignment.
    pub fn handoff_paused(&self) -> bool {
        lock(&self.pause).by_handoff
    }

    /// The hand-off stayed full: pause every assigned partition the pipeline has not paused.
    pub fn handoff_pause<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaError> {
        let mut pause = lock(&self.pause);
        pause.by_handoff = true;
        let parts = assigned(consumer);
        let tpl = tpl_of(parts.iter().filter(|p| !pause.by_pipeline.contains(*p)));
        if tpl.count() == 0 {
            return Ok(());
        }
        consumer.pause(&tpl)
    }

    /// The hand-off has room again: resume what the pipeline does not hold paused.
    pub fn handoff_resume<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), KafkaError> {
        let mut pause = lock(&self.pause);
        pause.by_handoff = false;
        let parts = assigned(consumer);
        let tpl = tpl_of(parts.iter().filter(|p| !pause.by_pipeline.contains(*p)));
        if tpl.count() == 0 {
            return Ok(());
        }
        consumer.resume(&tpl)
    }

    /// Newly assigned partitions start paused if the hand-off is full, and running otherwise
    /// (whatever librdkafka remembered of an earlier assignment); the pipeline pauses them
    /// itself when it hears of them, if its budget is full.
    pub fn assigned<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &[PartitionId],
    ) -> Result<(), KafkaError> {
        let pause = lock(&self.pause);
        if partitions.is_empty() {
            return Ok(());
        }
        let tpl = tpl_of(partitions);
        if pause.by_handoff {
            consumer.pause(&tpl)
        } else {
            consumer.resume(&tpl)
        }
    }

    /// The pipeline took a message: wake the poll thread if it waits for room.
    pub fn took_one(&self) {
        if self.waiting_for_room.load(Ordering::SeqCst) {
            let _guard = lock(&self.room_lock);
            self.room.notify_all();
        }
    }

    /// Waits up to `timeout` until `has_room()` holds (the pipeline took a message).
    pub fn wait_for_room(&self, timeout: Duration, has_room: impl Fn() -> bool) {
        let guard = lock(&self.room_lock);
        self.waiting_for_room.store(true, Ordering::SeqCst);
        // Checked under the lock `took_one` takes to notify: no wake-up is missed.
        if !has_room() {
            let _ = self.room.wait_timeout(guard, timeout);
        }
        self.waiting_for_room.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(partition: i32, offset: i64, generation: u64) -> Tagged {
        Tagged {
            message: SourceMessage {
                partition: PartitionId::new("t", partition),
                offset,
                sequence_number: None,
                enqueued_time: None,
                body: bytes::Bytes::new(),
                unreadable: None,
            },
            generation,
        }
    }

    #[test]
    fn messages_polled_before_a_revoke_of_their_partition_are_stale() {
        let s = Shared::default();
        let before = tagged(0, 5, s.generation());
        let other = tagged(1, 5, s.generation());
        s.revoke(&[PartitionId::new("t", 0)]);
        let after = tagged(0, 5, s.generation());
        assert!(s.is_stale(&before));
        assert!(!s.is_stale(&other), "a partition that was not revoked");
        assert!(!s.is_stale(&after), "polled after the revoke (re-assigned)");
    }

    #[test]
    fn waiting_for_room_ends_when_the_pipeline_takes_a_message() {
        let s = std::sync::Arc::new(Shared::default());
        let room = std::sync::Arc::new(AtomicBool::new(false));
        let waker = {
            let (s, room) = (s.clone(), room.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                room.store(true, Ordering::SeqCst);
                s.took_one();
            })
        };
        let started = std::time::Instant::now();
        s.wait_for_room(Duration::from_secs(10), || room.load(Ordering::SeqCst));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "missed the wake-up"
        );
        waker.join().unwrap();
        // With room already there it does not wait at all.
        let started = std::time::Instant::now();
        s.wait_for_room(Duration::from_secs(10), || true);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
