//! One task per owned partition: an owner-level-0 receiver whose events go to the pipeline.
//!
//! The receiver is opened with owner level (epoch) 0, as every Azure SDK processor does, so a
//! replica that takes the partition over detaches this one (`amqp:link:stolen`) and the two
//! never read it at the same time. Transient errors reopen the receiver just after the last
//! event handed over, so a reconnect neither skips nor repeats events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use azure_messaging_eventhubs::{OpenReceiverOptions, StartLocation, StartPosition};
use entrastream_model::{PartitionId, SourceMessage};
use entrastream_source::SourceEvent;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::error::{AmqpSourceError, Operation, classify};
use crate::metrics::AmqpMetrics;

/// One event handed to the pipeline and not yet covered by a written checkpoint.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub sequence_number: i64,
    pub offset: Option<String>,
    pub enqueued_time: Option<SystemTime>,
}

/// Events handed over and not yet covered by a written checkpoint, plus the last sequence
/// number handed over; one lock, taken once per event.
#[derive(Debug, Default)]
pub(crate) struct HandedOver {
    queue: VecDeque<Delivered>,
    last: Option<i64>,
}

/// What the source knows about a partition it owns, shared by its reader and `commit`.
#[derive(Debug, Default)]
pub(crate) struct PartitionTrack {
    handed_over: Mutex<HandedOver>,
    /// Highest sequence number every sink accepted (the last committed watermark).
    pub processed: Mutex<Option<Delivered>>,
}

impl PartitionTrack {
    fn handed_over(&self) -> std::sync::MutexGuard<'_, HandedOver> {
        self.handed_over.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event handed to the pipeline. Returns how many sequence numbers were
    /// skipped since the previous one: they are contiguous in a partition, so a jump means
    /// the hub dropped events (retention) before they were read.
    pub fn hand_over(&self, d: Delivered) -> i64 {
        let mut h = self.handed_over();
        let skipped = h
            .last
            .map_or(0, |last| (d.sequence_number - last - 1).max(0));
        h.last = Some(d.sequence_number);
        h.queue.push_back(d);
        skipped
    }

    /// The last sequence number handed over (or the checkpoint it starts after).
    pub fn last_handed_over(&self) -> Option<i64> {
        self.handed_over().last
    }

    /// Sets where gap detection starts: the checkpoint, or `None` once a gap is counted.
    pub fn set_last_handed_over(&self, sequence_number: Option<i64>) {
        self.handed_over().last = sequence_number;
    }

    /// Marks everything up to `sequence_number` as processed and returns its offset and
    /// enqueue time, or `None` if that event was never handed over by this replica.
    pub fn mark_processed(&self, sequence_number: i64) -> Option<Delivered> {
        let mut found = None;
        {
            let mut h = self.handed_over();
            while h
                .queue
                .front()
                .is_some_and(|d| d.sequence_number <= sequence_number)
            {
                let d = h.queue.pop_front();
                if d.as_ref()
                    .is_some_and(|d| d.sequence_number == sequence_number)
                {
                    found = d;
                }
            }
        }
        if let Some(d) = &found {
            *self.processed.lock().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
        }
        found
    }

    /// The enqueue time of the oldest event not yet processed, if it is known.
    pub fn oldest_unprocessed(&self) -> Option<SystemTime> {
        self.handed_over()
            .queue
            .front()
            .and_then(|d| d.enqueued_time)
    }
}

/// Everything a reader task needs.
pub(crate) struct Reader {
    pub shared: Arc<crate::Shared>,
    pub partition_id: String,
    pub id: PartitionId,
    pub start: StartPosition,
    pub prefetch: u32,
    pub events: mpsc::Sender<SourceEvent>,
    /// Bytes of message bodies queued towards the pipeline (bounds the channel by size).
    pub queued_bytes: Arc<Semaphore>,
    pub paused: watch::Receiver<bool>,
    pub stop: watch::Receiver<bool>,
    pub track: Arc<PartitionTrack>,
    pub metrics: AmqpMetrics,
    pub context: crate::OwnedContext,
}

/// Why a reader ended.
#[derive(Debug)]
pub(crate) enum ReaderExit {
    /// Asked to stop.
    Stopped,
    /// Another receiver took the partition (another replica owns it).
    Stolen,
    /// An error no retry fixes (unknown consumer group, revoked rights).
    Fatal(AmqpSourceError),
}

/// How long opening a receiver may take. The SDK's own retries have no overall bound, and a
/// reader stuck in an open holds its partition without reading it; after this the open is
/// abandoned and retried (a fresh client after two failures in a row).
pub(crate) const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The event's payload: the body when it is exactly one AMQP Data section, as every Event Hubs
/// producer writes it. Otherwise what could be recovered of it (for the dead-letter line) and
/// why it cannot be read; the SDK would hand such an event over with an empty body.
pub(crate) fn payload(message: &azure_core_amqp::AmqpMessage) -> (bytes::Bytes, Option<String>) {
    use azure_core_amqp::message::AmqpMessageBody;
    match &message.body {
        AmqpMessageBody::Binary(sections) if sections.len() == 1 => {
            (bytes::Bytes::copy_from_slice(&sections[0]), None)
        }
        AmqpMessageBody::Binary(sections) => (
            bytes::Bytes::from(sections.concat()),
            Some(format!(
                "the event's body has {} Data sections; an Event Hubs event carries its payload in exactly one (the sections are joined in the raw field)",
                sections.len()
            )),
        ),
        AmqpMessageBody::Value(v) => {
            let raw = match v {
                azure_core_amqp::AmqpValue::Binary(b) => bytes::Bytes::copy_from_slice(b),
                azure_core_amqp::AmqpValue::String(s) => bytes::Bytes::copy_from_slice(s.as_bytes()),
                other => bytes::Bytes::from(format!("{other:?}")),
            };
            (
                raw,
                Some("the event's body is an AmqpValue section, not one Data section; the producer must send the payload as bytes".to_string()),
            )
        }
        AmqpMessageBody::Sequence(s) => (
            bytes::Bytes::from(format!("{s:?}")),
            Some("the event's body is an AmqpSequence section, not one Data section; the producer must send the payload as bytes".to_string()),
        ),
        AmqpMessageBody::Empty => (
            bytes::Bytes::new(),
            Some("the event has no body section".to_string()),
        ),
    }
}

/// Largest share of the queued-bytes budget one message takes (a message bigger than the whole
/// budget still goes through, alone).
pub(crate) fn permits_for(len: usize, budget: usize) -> u32 {
    u32::try_from(len.clamp(1, budget)).unwrap_or(u32::MAX)
}

impl Reader {
    pub async fn run(mut self) -> ReaderExit {
        let mut backoff = Duration::from_millis(200);
        let mut failures_on_this_client = 0u32;
        let mut last_generation = u64::MAX;
        loop {
            if *self.stop.borrow() {
                return ReaderExit::Stopped;
            }
            let (client, generation) = self.shared.client().await;
            if generation != last_generation {
                last_generation = generation;
                failures_on_this_client = 0;
            }
            let options = OpenReceiverOptions {
                owner_level: Some(0),
                prefetch: Some(self.prefetch),
                start_position: Some(self.start.clone()),
                receive_timeout: None,
            };
            let opening = tokio::time::timeout(
                OPEN_TIMEOUT,
                client.open_receiver_on_partition(self.partition_id.clone(), Some(options)),
            );
            let opened = tokio::select! {
                r = opening => r,
                _ = self.stop.changed() => return ReaderExit::Stopped,
            };
            let opened = match opened {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!(partition = %self.partition_id, timeout_s = OPEN_TIMEOUT.as_secs(), "opening the receiver timed out; retrying");
                    failures_on_this_client += 1;
                    if failures_on_this_client >= 2 {
                        self.shared.reconnect(generation).await;
                    }
                    if self.sleep(&mut backoff).await {
                        return ReaderExit::Stopped;
                    }
                    continue;
                }
            };
            let receiver = match opened {
                Ok(r) => r,
                Err(e) => match self.judge(&e) {
                    Some(exit) => return exit,
                    None => {
                        failures_on_this_client += 1;
                        if failures_on_this_client >= 2 {
                            self.shared.reconnect(generation).await;
                        }
                        if self.sleep(&mut backoff).await {
                            return ReaderExit::Stopped;
                        }
                        continue;
                    }
                },
            };
            let delivered_before = self.track.last_handed_over();
            let exit = self.pump(&receiver, &mut backoff).await;
            if self.track.last_handed_over() > delivered_before {
                failures_on_this_client = 0;
            } else {
                // Attached (lazily) but nothing came before the failure: the connection may
                // be dead; after two such failures on one client, open a new one.
                failures_on_this_client += 1;
                if exit.is_none() && failures_on_this_client >= 2 {
                    self.shared.reconnect(generation).await;
                }
            }
            // Detach before reopening or leaving, so the hub does not count a stale receiver;
            // bounded, because a detach the peer never answers must not hold up a shutdown.
            let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close()).await;
            match exit {
                Some(exit) => return exit,
                None => {
                    if self.sleep(&mut backoff).await {
                        return ReaderExit::Stopped;
                    }
                }
            }
        }
    }

    /// Moves events until the stream fails (`None`: reopen) or the reader must end.
    async fn pump(
        &mut self,
        receiver: &azure_messaging_eventhubs::EventReceiver,
        backoff: &mut Duration,
    ) -> Option<ReaderExit> {
        let stream = receiver.stream_events();
        futures::pin_mut!(stream);
        loop {
            while *self.paused.borrow() {
                tokio::select! {
                    _ = self.paused.changed() => {}
                    _ = self.stop.changed() => return Some(ReaderExit::Stopped),
                }
            }
            let next = tokio::select! {
                n = stream.next() => n,
                _ = self.stop.changed() => return Some(ReaderExit::Stopped),
                _ = self.paused.changed() => continue,
            };
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(e)) => return self.judge(&e),
                None => return None,
            };
            let Some(sequence_number) = event.sequence_number() else {
                tracing::warn!(partition = %self.partition_id, "event without a sequence number skipped: the hub always sets one, so this is a protocol error");
                continue;
            };
            let (body, unreadable) = payload(event.raw_amqp_message());
            if let Some(why) = &unreadable {
                tracing::warn!(partition = %self.partition_id, sequence_number, reason = %why, "event dead-lettered: its body is not one Data section");
            }
            let enqueued_time = event.enqueued_time();
            let permits = permits_for(body.len(), crate::QUEUED_BYTES_BUDGET);
            let acquired = tokio::select! {
                p = self.queued_bytes.acquire_many(permits) => p,
                _ = self.stop.changed() => return Some(ReaderExit::Stopped),
            };
            match acquired {
                Ok(p) => p.forget(),
                Err(_) => return Some(ReaderExit::Stopped),
            }
            let skipped = self.track.hand_over(Delivered {
                sequence_number,
                offset: event.offset().clone(),
                enqueued_time,
            });
            if skipped > 0 {
                self.report_gap(sequence_number, skipped);
            }
            let message = SourceMessage {
                partition: self.id.clone(),
                offset: sequence_number,
                sequence_number: Some(sequence_number),
                enqueued_time,
                body,
                unreadable,
            };
            // Sent whatever `stop` says: the event is registered above, and its permits are
            // only returned when the pipeline takes it.
            if self
                .events
                .send(SourceEvent::Message(message))
                .await
                .is_err()
            {
                return Some(ReaderExit::Stopped);
            }
            // A reconnect resumes right after what was handed over.
            self.start = StartPosition {
                location: StartLocation::SequenceNumber(sequence_number),
                inclusive: false,
            };
            *backoff = Duration::from_millis(200);
        }
    }

    /// Events the hub dropped (retention) between two that were read: counted and logged.
    fn report_gap(&self, sequence_number: i64, lost: i64) {
        self.metrics
            .count_lost_to_retention(&self.id.topic, &self.partition_id, lost);
        tracing::warn!(
            partition = %self.partition_id,
            lost,
            after_sequence_number = sequence_number - lost - 1,
            "events left the hub's retention before they were read; they are lost. Add replicas or sink capacity, or raise the hub's retention"
        );
    }

    /// `Some(exit)` when the error ends the reader, `None` to retry.
    fn judge(&self, e: &azure_messaging_eventhubs::EventHubsError) -> Option<ReaderExit> {
        let classified = classify(
            e,
            Operation::Receive,
            Some(&self.partition_id),
            &self.context.as_context(),
        );
        match classified {
            AmqpSourceError::Stolen { .. } => Some(ReaderExit::Stolen),
            c if c.is_permanent() => Some(ReaderExit::Fatal(c)),
            c => {
                tracing::warn!(partition = %self.partition_id, error = %c, "receive failed; reconnecting");
                None
            }
        }
    }

    /// Sleeps with jittered exponential backoff; true if stopped meanwhile.
    async fn sleep(&mut self, backoff: &mut Duration) -> bool {
        let jitter = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()) % 100)
            .unwrap_or_default();
        let wait = *backoff + Duration::from_millis(jitter);
        *backoff = (*backoff * 2).min(Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = self.stop.changed() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seq: i64) -> Delivered {
        Delivered {
            sequence_number: seq,
            offset: Some(format!("{}", seq * 100)),
            enqueued_time: None,
        }
    }

    #[test]
    fn mark_processed_pops_up_to_the_watermark() {
        let t = PartitionTrack::default();
        for x in [3, 4, 5, 7] {
            t.hand_over(d(x));
        }
        let got = t.mark_processed(5).unwrap();
        assert_eq!(got.offset.as_deref(), Some("500"));
        assert_eq!(t.handed_over().queue.len(), 1);
        assert!(t.mark_processed(6).is_none(), "6 was never handed over");
        assert_eq!(t.handed_over().queue.len(), 1);
    }

    #[test]
    fn permits_are_clamped() {
        assert_eq!(permits_for(0, 100), 1);
        assert_eq!(permits_for(50, 100), 50);
        assert_eq!(permits_for(5000, 100), 100);
    }
}
