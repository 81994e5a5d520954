//! The drain task: feeds the wrapped sink from the buffer as a pipeline, so that disk reads,
//! sends, the peer's acknowledgements and the acknowledged-position writes overlap instead of
//! taking turns.
//!
//! - **Read ahead.** While batches are in flight the next ones are read from disk, up to
//!   `lanes + read_ahead` batches past the acknowledged position: that bounds the memory
//!   (each batch is about `batch_bytes`) and what a crash makes the drain send again.
//! - **Lanes.** Each lane is one instance of the wrapped sink with one batch in flight at a
//!   time (a sink's `send` takes `&mut self`); with several lanes, batches go out
//!   concurrently and may finish in any order. A lane retries its batch with backoff until
//!   the sink says `Delivered` or `Rejected`, then writes refusals and damage to the shared
//!   dead-letter sink; only then is the batch finished.
//! - **Contiguous watermark.** The acknowledged position moves past a batch only once it and
//!   every batch before it are finished ([`Watermark`]), so a crash can resend, never skip.
//! - **Position written off the send path.** The watermark updates the in-memory position at
//!   once (metrics, full-buffer check); a separate persister task writes the `ack` file (one
//!   fsync and rename) as soon as its previous write is done, so one write covers every batch
//!   finished meanwhile. The drain sends no batch more than `lanes + unpersisted` batches past
//!   the written position: after `kill -9` at most that many batches are sent again
//!   (duplicates, counted as replayed), never lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use entrastream_pipeline::DeadLetterLine;
use entrastream_sink::{EncodedBatch, Outcome, Rejection, RetryPolicy, Sink};
use tokio::sync::{Mutex, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::store::{self, Cursor, Damaged, ReadBatch, Reader, Shared};
use crate::watermark::Watermark;

/// The drain looks for new records at least this often even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// What the drain sends with and how far it reads ahead.
pub(crate) struct Plan {
    /// Instances of the wrapped sink; one batch in flight on each.
    pub lanes: Vec<Box<dyn Sink>>,
    pub dead_letter: Box<dyn Sink>,
    pub retry: RetryPolicy,
    pub batch_bytes: usize,
    pub separator: &'static [u8],
    /// Batches read beyond the lanes' (at least 1).
    pub read_ahead: usize,
    /// Shortest time between two writes of the `ack` file while the position stays in one
    /// segment (zero: the next write starts as soon as the previous one is done).
    pub ack_interval: Duration,
    /// Finished batches the written position may lag behind before no new batch is sent:
    /// with the batches in flight, what a crash can make the sink receive twice.
    pub unpersisted: usize,
}

struct Lane {
    sink: Box<dyn Sink>,
    retry: RetryPolicy,
}

/// A lane's batch is finished (delivered, refused and dead-lettered, or damage only).
struct Finished {
    lane: Lane,
    id: u64,
    end: Cursor,
}

/// Aborts a task when dropped: the persister lives exactly as long as its drain.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type ReadJob = JoinHandle<(Reader, std::io::Result<Option<ReadBatch>>)>;

/// Runs the drain until it is aborted (the buffered sink is dropped) or a task of it fails.
pub(crate) async fn run(shared: Arc<Shared>, reader: Reader, plan: Plan) {
    let Some(name) = plan.lanes.first().map(|l| l.name().to_string()) else {
        tracing::error!("disk buffer drain started without a sink; it stops");
        return;
    };
    // The watermark (position, first unfinished batch) to the persister; back, the first
    // batch not covered by the position it last wrote.
    let (ack_tx, ack_rx) = watch::channel((store::acknowledged(&shared), 0u64));
    let (written_tx, mut written_rx) = watch::channel(0u64);
    let _persister = AbortOnDrop(tokio::spawn(persister(
        shared.clone(),
        ack_rx,
        written_tx,
        plan.ack_interval,
        name.clone(),
    )));
    let dead_letter = Arc::new(Mutex::new(plan.dead_letter));
    let mut idle: Vec<Lane> = plan
        .lanes
        .into_iter()
        .map(|sink| Lane {
            sink,
            retry: plan.retry.clone(),
        })
        .collect();
    let lanes = idle.len() as u64;
    let window = lanes + plan.read_ahead.max(1) as u64;
    // No batch is sent beyond this many past the written position.
    let unwritten_max = lanes + plan.unpersisted.max(1) as u64;
    let mut ready: VecDeque<(u64, ReadBatch)> = VecDeque::new();
    let mut sending: JoinSet<Finished> = JoinSet::new();
    let mut reader = Some(reader);
    let mut reading: Option<ReadJob> = None;
    let mut watermark = Watermark::new(0);
    let mut next_id = 0u64;
    // The last read found nothing new: wait for an append (or the idle poll).
    let mut caught_up = false;
    let mut read_retry = plan.retry.clone();
    let mut read_failures = 0u32;
    let mut backoff: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let finish = |id: u64, end: Cursor, watermark: &mut Watermark<Cursor>| {
        if let Some(to) = watermark.finish(id, end) {
            store::advance(&shared, to);
            let _ = ack_tx.send((to, watermark.next()));
        }
    };
    loop {
        // Read batches go to free lanes in buffer order, as far as the written position
        // allows.
        let written = *written_rx.borrow_and_update();
        while !idle.is_empty()
            && ready
                .front()
                .is_some_and(|(id, _)| *id < written + unwritten_max)
        {
            if let (Some((id, batch)), Some(lane)) = (ready.pop_front(), idle.pop()) {
                sending.spawn(send_on(
                    lane,
                    id,
                    batch,
                    shared.clone(),
                    dead_letter.clone(),
                    name.clone(),
                ));
            }
        }
        // Read ahead while the window past the acknowledged position has room.
        if reading.is_none()
            && !caught_up
            && backoff.is_none()
            && next_id - watermark.next() < window
            && let Some(mut r) = reader.take()
        {
            let s = shared.clone();
            let (bytes, separator) = (plan.batch_bytes, plan.separator);
            reading = Some(tokio::task::spawn_blocking(move || {
                let got = r.read(&s, bytes, separator);
                (r, got)
            }));
        }
        tokio::select! {
            read = async { reading.as_mut().expect("guarded by the branch condition").await }, if reading.is_some() => {
                reading = None;
                let (r, got) = match read {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::error!(sink = %name, error = %e, "disk buffer reader failed; the drain stops");
                        return;
                    }
                };
                reader = Some(r);
                match got {
                    Ok(Some(batch)) => {
                        read_failures = 0;
                        let id = next_id;
                        next_id += 1;
                        if batch.batch.records.is_empty() && batch.damaged.is_empty() {
                            // Only moves the position (into the next segment).
                            finish(id, batch.end, &mut watermark);
                        } else {
                            ready.push_back((id, batch));
                        }
                    }
                    Ok(None) => caught_up = true,
                    Err(e) => {
                        let delay = read_retry.delay(read_failures);
                        if read_failures == 0 || read_failures.is_power_of_two() {
                            tracing::warn!(sink = %name, error = %e, "disk buffer read failed, retrying");
                        }
                        read_failures = read_failures.saturating_add(1);
                        backoff = Some(Box::pin(tokio::time::sleep(delay)));
                    }
                }
            }
            done = sending.join_next(), if !sending.is_empty() => {
                match done {
                    Some(Ok(f)) => {
                        idle.push(f.lane);
                        finish(f.id, f.end, &mut watermark);
                    }
                    Some(Err(e)) => {
                        tracing::error!(sink = %name, error = %e, "disk buffer send task failed; the drain stops (restart entrastream, the buffer is kept)");
                        return;
                    }
                    None => {}
                }
            }
            changed = written_rx.changed(), if !ready.is_empty() && !idle.is_empty() => {
                if changed.is_err() {
                    tracing::error!(sink = %name, "disk buffer position writer stopped; the drain stops (restart entrastream, the buffer is kept)");
                    return;
                }
            }
            _ = shared.appended.notified(), if caught_up => caught_up = false,
            _ = tokio::time::sleep(IDLE_POLL), if caught_up => caught_up = false,
            _ = async { backoff.as_mut().expect("guarded by the branch condition").await }, if backoff.is_some() => backoff = None,
        }
    }
}

/// Writes the acknowledged position the drain publishes: as soon as the previous write is
/// done (or `interval` after it, while the position stays in one segment), the latest
/// position wins, intermediate ones are never written; then tells the drain which batches
/// the written position covers (also after a failed write: that costs duplicates after a
/// crash, while stopping the drain would keep a full disk full).
async fn persister(
    shared: Arc<Shared>,
    mut positions: watch::Receiver<(Cursor, u64)>,
    written: watch::Sender<u64>,
    interval: Duration,
    name: String,
) {
    let mut written_segment = positions.borrow().0.segment;
    let mut written_at: Option<Instant> = None;
    while positions.changed().await.is_ok() {
        let (to, _) = *positions.borrow_and_update();
        if !interval.is_zero()
            && to.segment == written_segment
            && let Some(at) = written_at
        {
            tokio::time::sleep_until(at + interval).await;
        }
        let (to, covered) = *positions.borrow_and_update();
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || store::persist(&s, to)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(sink = %name, error = %e, "disk buffer: persisting the acknowledged position failed (a restart would send some records again)");
            }
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "disk buffer: the acknowledged-position writer failed (a restart would send some records again)");
            }
        }
        written_segment = to.segment;
        written_at = Some(Instant::now());
        let _ = written.send(covered);
    }
}

/// One lane's batch: deliver it, then hand the lane back with the batch's end.
async fn send_on(
    mut lane: Lane,
    id: u64,
    batch: ReadBatch,
    shared: Arc<Shared>,
    dead_letter: Arc<Mutex<Box<dyn Sink>>>,
    name: String,
) -> Finished {
    deliver(
        &name,
        &shared,
        lane.sink.as_mut(),
        &dead_letter,
        &mut lane.retry,
        &batch,
    )
    .await;
    Finished {
        lane,
        id,
        end: batch.end,
    }
}

/// Sends `read` until the sink is done with it, then writes its refusals and damage to the
/// dead-letter sink (retrying until that succeeds).
async fn deliver(
    name: &str,
    shared: &Shared,
    inner: &mut dyn Sink,
    dead_letter: &Mutex<Box<dyn Sink>>,
    retry: &mut RetryPolicy,
    read: &ReadBatch,
) {
    let stats = &shared.stats;
    let mut lines = Vec::new();
    let records = read.batch.records.len() as u64;
    let mut attempt = 0u32;
    // A batch that holds only damage has nothing for the wrapped sink.
    let mut pending = records > 0;
    while pending {
        match inner.send(&read.batch).await {
            Outcome::Delivered => {
                stats
                    .records_delivered
                    .fetch_add(records, Ordering::Relaxed);
                break;
            }
            Outcome::Rejected(rejections) => {
                let refused = rejections.len() as u64;
                stats
                    .records_delivered
                    .fetch_add(records.saturating_sub(refused), Ordering::Relaxed);
                stats.records_rejected.fetch_add(refused, Ordering::Relaxed);
                for r in &rejections {
                    rejection_line(&mut lines, name, &read.batch, r);
                }
                pending = false;
            }
            Outcome::Retryable(reason) => {
                stats.drain_retries.fetch_add(1, Ordering::Relaxed);
                let delay = retry.delay(attempt);
                if attempt == 0 || attempt.is_power_of_two() {
                    tracing::warn!(sink = %name, %reason, attempt, delay_ms = delay.as_millis() as u64, "buffered sink send failed, retrying (records stay in the disk buffer)");
                }
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
    for d in &read.damaged {
        damaged_line(&mut lines, name, d);
    }
    if lines.is_empty() {
        return;
    }
    let batch = EncodedBatch {
        data: Bytes::from(lines),
        records: Vec::new(),
    };
    let mut attempt = 0u32;
    let mut dead_letter = dead_letter.lock().await;
    loop {
        match dead_letter.send(&batch).await {
            Outcome::Delivered => return,
            other => {
                let delay = retry.delay(attempt);
                tracing::warn!(sink = %name, outcome = ?other, "dead-letter write for the buffered sink failed, retrying (the records stay in the buffer until written)");
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn push_line(out: &mut Vec<u8>, line: &DeadLetterLine<'_>) {
    // Serializing a struct of strings and integers into a Vec cannot fail.
    if serde_json::to_writer(&mut *out, line).is_ok() {
        out.push(b'\n');
    }
}

/// A record the wrapped sink refused for good, in the pipeline's dead-letter format.
fn rejection_line(out: &mut Vec<u8>, sink: &str, batch: &EncodedBatch, r: &Rejection) {
    let (Some(meta), Some(raw)) = (batch.records.get(r.index), batch.record(r.index)) else {
        return;
    };
    push_line(
        out,
        &DeadLetterLine {
            error: &r.reason,
            reason: "sink_rejected",
            source: sink,
            topic: &meta.partition.topic,
            partition: meta.partition.partition,
            offset: meta.offset,
            body_offset: None,
            category: Some(&meta.category),
            raw: &String::from_utf8_lossy(raw),
        },
    );
}

/// A damaged stretch of a segment. Its origin is known when only its data is damaged;
/// otherwise partition and offset are -1 and the topic is empty.
fn damaged_line(out: &mut Vec<u8>, sink: &str, d: &Damaged) {
    let error = format!(
        "disk buffer segment {} bytes {}..{}: {}{}",
        d.segment,
        d.range.start,
        d.range.end,
        d.reason,
        if d.meta.is_some() {
            ""
        } else {
            "; origin unknown"
        }
    );
    let raw = String::from_utf8_lossy(&d.raw);
    let (topic, partition, offset, category) = match &d.meta {
        Some(m) => (
            m.partition.topic.as_str(),
            m.partition.partition,
            m.offset,
            Some(m.category.as_str()),
        ),
        None => ("", -1, -1, None),
    };
    push_line(
        out,
        &DeadLetterLine {
            error: &error,
            reason: "buffer_corrupt",
            source: sink,
            topic,
            partition,
            offset,
            body_offset: None,
            category,
            raw: &raw,
        },
    );
}
