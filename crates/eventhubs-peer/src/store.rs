//! The namespace's state: hubs, partitions (an in-memory log each), attached receivers and
//! counters.
//!
//! Each partition has its own `std::sync::Mutex`, held only for in-memory work (never across an
//! `.await`), so `append` can be called from synchronous test code and delivery tasks on other
//! partitions never contend. Readers copy out `Arc`s to events in bursts and send without the lock.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};

use crate::address::StartFilter;
use crate::config::{DEFAULT_CONSUMER_GROUP, HubSpec};

/// Fixed per-event overhead added to offsets, standing in for the service's stored record header.
/// Offsets therefore grow by more than the body length, are strictly increasing even for empty
/// bodies, and are never equal to sequence numbers, so a consumer cannot confuse the two.
const RECORD_OVERHEAD: u64 = 64;

/// Most receivers the service allows per partition and consumer group without an owner level
/// (<https://learn.microsoft.com/azure/event-hubs/event-hubs-quotas>: "5 concurrent readers").
const MAX_NON_EPOCH_RECEIVERS: usize = 5;

/// One stored event. Shared by `Arc` between the log and in-flight deliveries.
#[derive(Debug)]
pub(crate) struct StoredEvent {
    pub sequence_number: i64,
    pub offset: u64,
    pub enqueued_time: SystemTime,
    pub body: Bytes,
    pub partition_key: Option<String>,
    pub layout: BodyLayout,
}

/// How a stored event's body goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyLayout {
    /// One Data section.
    Data,
    /// Data sections of these lengths (summing to the body's).
    Sections(Vec<usize>),
    /// One AmqpValue section with the body as a string.
    Value,
}

/// Counters behind [`PeerStats`](crate::PeerStats).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub connections: AtomicU64,
    pub cbs_accepted: AtomicU64,
    pub cbs_refused: AtomicU64,
    pub management_reads: AtomicU64,
    pub links_stolen: AtomicU64,
    pub events_delivered: AtomicU64,
}

impl Stats {
    pub(crate) fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }
}

/// A receiver currently attached to a partition.
#[derive(Debug)]
struct ReceiverEntry {
    id: u64,
    consumer_group: String,
    owner_level: Option<i64>,
    connection: u64,
    /// Fired (with the detach description) when a newer owner takes the partition.
    steal: Option<oneshot::Sender<String>>,
}

/// Snapshot of a receiver, for [`EventHubsPeer::receivers`](crate::EventHubsPeer::receivers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceiverSnapshot {
    pub consumer_group: String,
    pub owner_level: Option<i64>,
    pub connection: u64,
}

/// Why a receiver attach was refused; the link is closed with this condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttachRefusal {
    /// `amqp:link:stolen`: an owner with a higher (or any, for a receiver without one) owner
    /// level holds the partition.
    Stolen(String),
    /// `amqp:resource-limit-exceeded`: the per-partition reader quota is used up.
    QuotaExceeded(String),
    /// `com.microsoft:argument-out-of-range`: the start sequence number is beyond the log.
    OutOfRange(String),
}

#[derive(Debug)]
struct PartitionState {
    events: VecDeque<Arc<StoredEvent>>,
    next_sequence: i64,
    next_offset: u64,
    /// The newest event ever appended; kept after retention removes it, as the service reports
    /// `last_enqueued_*` for an expired-empty partition.
    last: Option<(i64, u64, SystemTime)>,
    receivers: Vec<ReceiverEntry>,
}

/// One partition: its log, its receivers and a change signal for waiting delivery tasks.
#[derive(Debug)]
pub(crate) struct Partition {
    pub id: String,
    state: Mutex<PartitionState>,
    /// Carries `next_sequence`; delivery tasks wait on it when they have caught up.
    appended: watch::Sender<i64>,
}

/// What a delivery task gets per read.
#[derive(Debug)]
pub(crate) struct ReadBurst {
    pub events: Vec<Arc<StoredEvent>>,
    /// Where the next read starts (moves past expired events the reader never saw).
    pub next_cursor: i64,
}

/// Partition properties at one instant.
#[derive(Debug, Clone)]
pub(crate) struct PartitionSnapshot {
    pub begin_sequence_number: i64,
    pub last_enqueued_sequence_number: i64,
    pub last_enqueued_offset: String,
    pub last_enqueued_time: Option<SystemTime>,
    pub is_empty: bool,
}

fn millis(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    }
}

impl Partition {
    fn new(id: String) -> Self {
        Self {
            id,
            state: Mutex::new(PartitionState {
                events: VecDeque::new(),
                next_sequence: 0,
                next_offset: 0,
                last: None,
                receivers: Vec::new(),
            }),
            appended: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PartitionState> {
        // A panic while holding this lock can only come from a bug in this module; the state is
        // still consistent (every mutation is a single push/pop), so keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes events older than `now - retention`, oldest first, stopping at the first one still
    /// retained: the service expires whole storage segments in order and never leaves holes.
    fn purge(state: &mut PartitionState, retention: Duration, now: SystemTime) {
        let Some(cutoff) = now.checked_sub(retention) else {
            return;
        };
        while state
            .events
            .front()
            .is_some_and(|e| e.enqueued_time < cutoff)
        {
            state.events.pop_front();
        }
    }

    pub(crate) fn append(
        &self,
        body: Bytes,
        partition_key: Option<String>,
        enqueued_time: SystemTime,
        retention: Duration,
    ) -> Arc<StoredEvent> {
        self.append_with_layout(
            body,
            partition_key,
            enqueued_time,
            retention,
            BodyLayout::Data,
        )
    }

    pub(crate) fn append_with_layout(
        &self,
        body: Bytes,
        partition_key: Option<String>,
        enqueued_time: SystemTime,
        retention: Duration,
        layout: BodyLayout,
    ) -> Arc<StoredEvent> {
        let event = {
            let mut state = self.lock();
            let size = body.len() as u64
                + partition_key.as_ref().map_or(0, |k| k.len() as u64)
                + RECORD_OVERHEAD;
            let event = Arc::new(StoredEvent {
                sequence_number: state.next_sequence,
                offset: state.next_offset,
                enqueued_time,
                body,
                partition_key,
                layout,
            });
            state.next_sequence += 1;
            state.next_offset += size;
            state.last = Some((event.sequence_number, event.offset, enqueued_time));
            state.events.push_back(event.clone());
            Self::purge(&mut state, retention, SystemTime::now());
            event
        };
        self.appended.send_replace(event.sequence_number + 1);
        event
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }

    pub(crate) fn snapshot(&self, retention: Duration, now: SystemTime) -> PartitionSnapshot {
        let mut state = self.lock();
        Self::purge(&mut state, retention, now);
        let begin = state
            .events
            .front()
            .map_or(state.next_sequence, |e| e.sequence_number);
        let (last_seq, last_offset, last_time) = match state.last {
            Some((s, o, t)) => (s, o.to_string(), Some(t)),
            None => (-1, "-1".to_owned(), None),
        };
        PartitionSnapshot {
            begin_sequence_number: begin,
            last_enqueued_sequence_number: last_seq,
            last_enqueued_offset: last_offset,
            last_enqueued_time: last_time,
            is_empty: state.events.is_empty(),
        }
    }

    /// Resolves a start filter to the first sequence number to deliver. A position that expired
    /// resolves to the oldest retained event, as the service does.
    pub(crate) fn resolve_start(
        &self,
        filter: StartFilter,
        retention: Duration,
        now: SystemTime,
    ) -> Result<i64, AttachRefusal> {
        let mut state = self.lock();
        Self::purge(&mut state, retention, now);
        let next = state.next_sequence;
        let first_where = |pred: &dyn Fn(&StoredEvent) -> bool| {
            state
                .events
                .iter()
                .find(|e| pred(e))
                .map_or(next, |e| e.sequence_number)
        };
        let start = match filter {
            StartFilter::Earliest => first_where(&|_| true),
            StartFilter::Latest => next,
            StartFilter::Offset { offset, inclusive } => first_where(&|e| {
                if inclusive {
                    e.offset >= offset
                } else {
                    e.offset > offset
                }
            }),
            StartFilter::EnqueuedTime {
                millis: ms,
                inclusive,
            } => first_where(&|e| {
                let t = millis(e.enqueued_time);
                if inclusive {
                    t >= ms as i128
                } else {
                    t > ms as i128
                }
            }),
            StartFilter::Sequence {
                sequence,
                inclusive,
            } => {
                let wanted = if inclusive {
                    sequence
                } else {
                    sequence.saturating_add(1)
                };
                if wanted > next {
                    // The service refuses a sequence number past the end of the log rather than
                    // waiting for it: the position cannot exist yet.
                    return Err(AttachRefusal::OutOfRange(format!(
                        "the supplied sequence number '{sequence}' is invalid: the last sequence \
                         number in partition '{}' is '{}'",
                        self.id,
                        next - 1
                    )));
                }
                let oldest = state.events.front().map_or(next, |e| e.sequence_number);
                wanted.max(oldest)
            }
        };
        Ok(start)
    }

    /// Reads up to `max` events from `cursor`, after removing expired ones.
    pub(crate) fn read(
        &self,
        cursor: i64,
        max: usize,
        retention: Duration,
        now: SystemTime,
    ) -> ReadBurst {
        let mut state = self.lock();
        Self::purge(&mut state, retention, now);
        let Some(front) = state.events.front().map(|e| e.sequence_number) else {
            return ReadBurst {
                events: Vec::new(),
                next_cursor: cursor.max(state.next_sequence),
            };
        };
        // A reader that fell behind retention continues at the oldest retained event.
        let cursor = cursor.max(front);
        let skip = (cursor - front) as usize;
        let events: Vec<_> = state.events.iter().skip(skip).take(max).cloned().collect();
        let next_cursor = events.last().map_or(cursor, |e| e.sequence_number + 1);
        ReadBurst {
            events,
            next_cursor,
        }
    }

    /// Registers a receiver, applying the owner-level (epoch) rules
    /// (<https://learn.microsoft.com/azure/event-hubs/event-hubs-event-processor-host#epoch>):
    /// an owner level at least as high as every current one takes the partition and every other
    /// receiver of the consumer group is detached with `amqp:link:stolen`; a lower one is refused;
    /// a receiver without owner level is refused while an owner holds the partition.
    pub(crate) fn attach_receiver(
        &self,
        id: u64,
        consumer_group: &str,
        owner_level: Option<i64>,
        connection: u64,
        links_stolen: &AtomicU64,
    ) -> Result<oneshot::Receiver<String>, AttachRefusal> {
        let mut state = self.lock();
        let same_group = |e: &&ReceiverEntry| e.consumer_group.eq_ignore_ascii_case(consumer_group);
        let highest = state
            .receivers
            .iter()
            .filter(same_group)
            .filter_map(|e| e.owner_level)
            .max();
        match (owner_level, highest) {
            (Some(new), Some(old)) if new < old => {
                return Err(AttachRefusal::Stolen(format!(
                    "receiver with epoch '{new}' refused: a receiver with higher epoch '{old}' \
                     already owns partition '{}' in consumer group '{consumer_group}'",
                    self.id
                )));
            }
            (None, Some(old)) => {
                return Err(AttachRefusal::Stolen(format!(
                    "receiver without epoch refused: a receiver with epoch '{old}' owns \
                     partition '{}' in consumer group '{consumer_group}'",
                    self.id
                )));
            }
            (None, None) => {
                let readers = state.receivers.iter().filter(same_group).count();
                if readers >= MAX_NON_EPOCH_RECEIVERS {
                    return Err(AttachRefusal::QuotaExceeded(format!(
                        "exceeded the maximum number of allowed receivers per partition in a \
                         consumer group, which is {MAX_NON_EPOCH_RECEIVERS}: partition '{}', \
                         consumer group '{consumer_group}'",
                        self.id
                    )));
                }
            }
            (Some(new), _) => {
                // Take the partition: detach every receiver of this consumer group.
                let mut kept = Vec::with_capacity(state.receivers.len());
                for mut entry in state.receivers.drain(..) {
                    if entry.consumer_group.eq_ignore_ascii_case(consumer_group) {
                        let old = entry
                            .owner_level
                            .map_or_else(|| "none".to_owned(), |l| l.to_string());
                        if let Some(steal) = entry.steal.take() {
                            let _ = steal.send(format!(
                                "a new receiver with epoch '{new}' (not lower than this \
                                 receiver's epoch '{old}') took partition '{}' in consumer group \
                                 '{consumer_group}', so this receiver is disconnected",
                                self.id
                            ));
                        }
                        Stats::bump(links_stolen, 1);
                    } else {
                        kept.push(entry);
                    }
                }
                state.receivers = kept;
            }
        }
        let (tx, rx) = oneshot::channel();
        state.receivers.push(ReceiverEntry {
            id,
            consumer_group: consumer_group.to_owned(),
            owner_level,
            connection,
            steal: Some(tx),
        });
        Ok(rx)
    }

    pub(crate) fn detach_receiver(&self, id: u64) {
        self.lock().receivers.retain(|e| e.id != id);
    }

    pub(crate) fn receivers(&self) -> Vec<ReceiverSnapshot> {
        self.lock()
            .receivers
            .iter()
            .map(|e| ReceiverSnapshot {
                consumer_group: e.consumer_group.clone(),
                owner_level: e.owner_level,
                connection: e.connection,
            })
            .collect()
    }
}

/// One event hub.
#[derive(Debug)]
pub(crate) struct Hub {
    pub name: String,
    pub created_at: SystemTime,
    pub consumer_groups: Vec<String>,
    retention_millis: AtomicU64,
    pub partitions: Vec<Arc<Partition>>,
}

impl Hub {
    pub(crate) fn new(spec: &HubSpec) -> Self {
        let mut consumer_groups = vec![DEFAULT_CONSUMER_GROUP.to_owned()];
        for cg in &spec.consumer_groups {
            if !consumer_groups.iter().any(|c| c.eq_ignore_ascii_case(cg)) {
                consumer_groups.push(cg.clone());
            }
        }
        Self {
            name: spec.name.clone(),
            created_at: SystemTime::now(),
            consumer_groups,
            retention_millis: AtomicU64::new(spec.retention.as_millis() as u64),
            partitions: (0..spec.partitions)
                .map(|i| Arc::new(Partition::new(i.to_string())))
                .collect(),
        }
    }

    pub(crate) fn retention(&self) -> Duration {
        Duration::from_millis(self.retention_millis.load(Ordering::Relaxed))
    }

    pub(crate) fn set_retention(&self, retention: Duration) {
        self.retention_millis
            .store(retention.as_millis() as u64, Ordering::Relaxed);
    }

    pub(crate) fn partition(&self, id: &str) -> Option<&Arc<Partition>> {
        self.partitions.iter().find(|p| p.id == id)
    }

    /// The configured spelling of a consumer group, matched case-insensitively.
    pub(crate) fn consumer_group(&self, name: &str) -> Option<&str> {
        self.consumer_groups
            .iter()
            .find(|c| c.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }
}

/// Monotonic ids for connections and receivers.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    next: AtomicU64,
}

impl Ids {
    pub(crate) fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part() -> Partition {
        Partition::new("0".into())
    }
    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn offsets_grow_by_size_and_sequence_numbers_by_one() {
        let p = part();
        let now = SystemTime::now();
        let a = p.append(Bytes::from_static(b"abc"), None, now, DAY);
        let b = p.append(Bytes::new(), Some("k".into()), now, DAY);
        let c = p.append(Bytes::new(), None, now, DAY);
        assert_eq!((a.sequence_number, a.offset), (0, 0));
        assert_eq!((b.sequence_number, b.offset), (1, 3 + RECORD_OVERHEAD));
        assert_eq!(c.offset, b.offset + 1 + RECORD_OVERHEAD);
    }

    #[test]
    fn retention_removes_in_order_and_readers_skip_ahead() {
        let p = part();
        let now = SystemTime::now();
        let old = now - Duration::from_secs(3600);
        for _ in 0..3 {
            p.append(Bytes::from_static(b"x"), None, old, DAY);
        }
        p.append(Bytes::from_static(b"y"), None, now, DAY);
        let snap = p.snapshot(Duration::from_secs(60), now);
        assert_eq!(snap.begin_sequence_number, 3);
        assert_eq!(snap.last_enqueued_sequence_number, 3);
        let burst = p.read(0, 10, Duration::from_secs(60), now);
        assert_eq!(burst.events.len(), 1);
        assert_eq!(burst.events[0].sequence_number, 3);
        assert_eq!(burst.next_cursor, 4);
        assert_eq!(
            p.resolve_start(
                StartFilter::Sequence {
                    sequence: 1,
                    inclusive: true
                },
                Duration::from_secs(60),
                now
            ),
            Ok(3)
        );
    }

    #[test]
    fn epoch_rules() {
        let p = part();
        let stolen = AtomicU64::new(0);
        let mut first = p
            .attach_receiver(1, "$Default", Some(0), 1, &stolen)
            .unwrap();
        let _second = p
            .attach_receiver(2, "$default", Some(0), 2, &stolen)
            .unwrap();
        assert!(first.try_recv().is_ok(), "equal epoch takes over");
        assert!(matches!(
            p.attach_receiver(3, "$Default", None, 3, &stolen),
            Err(AttachRefusal::Stolen(_))
        ));
        assert!(matches!(
            p.attach_receiver(4, "$Default", Some(-1), 3, &stolen),
            Err(AttachRefusal::Stolen(_))
        ));
        // Other consumer groups are independent.
        assert!(p.attach_receiver(5, "other", None, 3, &stolen).is_ok());
        assert_eq!(stolen.load(Ordering::Relaxed), 1);
        assert_eq!(p.receivers().len(), 2);
    }
}
