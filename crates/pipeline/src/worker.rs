//! Sink tasks: one per sink plus one for the dead-letter sink. Each sends its batches in order
//! and retries a retryable failure forever with backoff; the pipeline's byte budget (not the
//! worker) stops intake while a sink is down. A sink that asks for it ([`Sink::coalesce`]) gets
//! consecutive queued batches merged into one send (one fsync, fewer small HTTP requests);
//! every merged batch completes only when that send does. A sink that acknowledges
//! asynchronously ([`Sink::max_outstanding_sends`] > 1) gets its next send started while the
//! earlier ones are still being answered; their outcomes are still settled in order.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use entrastream_sink::{
    Coalesce, EncodedBatch, Outcome, PendingSend, Rejection, RetryPolicy, RetryReason, Sink,
};
use entrastream_telemetry::{Health, Metrics};
use tokio::sync::mpsc;

use crate::deadletter;

/// One batch for one sink.
#[derive(Debug)]
pub(crate) struct Job {
    pub batch_id: u64,
    pub batch: EncodedBatch,
}

/// Reported to the pipeline when one job of a batch is finished for good.
#[derive(Debug)]
pub(crate) struct Completion {
    pub batch_id: u64,
}

/// Takes the next job, plus the jobs queued behind it that the sink's [`Coalesce`] lets it
/// merge (`held` carries a job that did not fit to the next call). None when the pipeline is
/// gone and nothing is left.
async fn next_group(
    jobs: &mut mpsc::UnboundedReceiver<Job>,
    held: &mut Option<Job>,
    coalesce: Option<Coalesce>,
) -> Option<Vec<Job>> {
    let first = match held.take() {
        Some(j) => j,
        None => jobs.recv().await?,
    };
    let Some(c) = coalesce else {
        return Some(vec![first]);
    };
    let deadline = tokio::time::Instant::now() + c.max_wait;
    let mut size = first.batch.data.len();
    let mut group = vec![first];
    while size < c.max_bytes {
        let next = match jobs.try_recv() {
            Ok(j) => j,
            Err(_) if size >= c.min_bytes => break,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, jobs.recv()).await {
                    Ok(Some(j)) => j,
                    Ok(None) | Err(_) => break,
                }
            }
        };
        if size + next.batch.data.len() > c.max_bytes {
            *held = Some(next);
            break;
        }
        size += next.batch.data.len();
        group.push(next);
    }
    Some(group)
}

/// One sink worker's fixed parts: what it reports to and how it retries.
struct WorkerCtx {
    name: String,
    component: String,
    dead_letter: mpsc::UnboundedSender<Job>,
    done: mpsc::UnboundedSender<Completion>,
    retry: RetryPolicy,
    metrics: Metrics,
    health: Health,
}

/// A merged group of jobs whose send has started ([`Sink::start_send`]) and not yet settled.
struct Started {
    /// (batch id, number of records) of each merged job, in order.
    parts: Vec<(u64, usize)>,
    batch: EncodedBatch,
    started: Instant,
    pending: PendingSend,
}

/// The jobs of `group` merged into one batch, and each job's (batch id, number of records).
fn merge(group: Vec<Job>) -> (Vec<(u64, usize)>, EncodedBatch) {
    let parts: Vec<(u64, usize)> = group
        .iter()
        .map(|j| (j.batch_id, j.batch.records.len()))
        .collect();
    let batch = EncodedBatch::concat(group.into_iter().map(|j| j.batch).collect());
    (parts, batch)
}

pub(crate) async fn sink_worker(
    mut sink: Box<dyn Sink>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    dead_letter: mpsc::UnboundedSender<Job>,
    done: mpsc::UnboundedSender<Completion>,
    retry: RetryPolicy,
    metrics: Metrics,
    health: Health,
) {
    let name = sink.name().to_string();
    let mut ctx = WorkerCtx {
        component: format!("sink:{name}"),
        name,
        dead_letter,
        done,
        retry,
        metrics,
        health,
    };
    let coalesce = sink.coalesce();
    let depth = sink.max_outstanding_sends().max(1);
    ctx.health.set(&ctx.component, Ok(()));
    let mut held = None;
    if depth == 1 {
        while let Some(group) = next_group(&mut jobs, &mut held, coalesce).await {
            let (parts, batch) = merge(group);
            send_until_settled(sink.as_mut(), &mut ctx, &parts, &batch, None).await;
        }
        return;
    }
    // Up to `depth` sends outstanding: the next group starts as soon as it is queued, while
    // the peer is still answering for the earlier ones; outcomes are settled oldest first.
    let mut outstanding: VecDeque<Started> = VecDeque::with_capacity(depth);
    let mut jobs_open = true;
    loop {
        let room = outstanding.len() < depth;
        if room && (held.is_some() || (jobs_open && outstanding.is_empty())) {
            match next_group(&mut jobs, &mut held, coalesce).await {
                Some(group) => {
                    let (parts, batch) = merge(group);
                    let started = Instant::now();
                    let pending = sink.start_send(&batch).await;
                    outstanding.push_back(Started {
                        parts,
                        batch,
                        started,
                        pending,
                    });
                }
                None => jobs_open = false,
            }
            continue;
        }
        let Some(oldest) = outstanding.front_mut() else {
            if jobs_open || held.is_some() {
                continue;
            }
            return;
        };
        tokio::select! {
            outcome = &mut oldest.pending => {
                let Some(s) = outstanding.pop_front() else { continue };
                let first = settle(&mut ctx, &s.parts, &s.batch, s.started, outcome);
                if first.is_some() {
                    send_until_settled(sink.as_mut(), &mut ctx, &s.parts, &s.batch, first).await;
                }
            }
            // recv is cancel-safe: a job taken here waits in `held` for the next group.
            job = jobs.recv(), if room && jobs_open && held.is_none() => match job {
                Some(j) => held = Some(j),
                None => jobs_open = false,
            },
        }
    }
}

/// Sends `batch` with [`Sink::send`] until it settles, retrying a retryable failure forever
/// with backoff; `failed` is the retryable outcome of an earlier attempt (a started send).
async fn send_until_settled(
    sink: &mut dyn Sink,
    ctx: &mut WorkerCtx,
    parts: &[(u64, usize)],
    batch: &EncodedBatch,
    failed: Option<RetryReason>,
) {
    let mut attempt = 0u32;
    let mut failed = failed;
    loop {
        if let Some(reason) = failed.take() {
            ctx.health.set(&ctx.component, Err(reason.to_string()));
            ctx.metrics
                .sink_retries
                .with_label_values(&[ctx.name.as_str()])
                .inc();
            let delay = ctx.retry.delay(attempt);
            if attempt == 0 || attempt.is_power_of_two() {
                tracing::warn!(sink = %ctx.name, %reason, attempt, delay_ms = delay.as_millis() as u64, "sink send failed, retrying");
            }
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(delay).await;
        }
        let started = Instant::now();
        let outcome = sink.send(batch).await;
        failed = settle(ctx, parts, batch, started, outcome);
        if failed.is_none() {
            return;
        }
    }
}

/// Acts on one outcome of `batch` (merged from `parts`): completes its jobs when delivered,
/// hands refused records to the dead-letter worker; returns the reason when it is to be
/// retried.
fn settle(
    ctx: &mut WorkerCtx,
    parts: &[(u64, usize)],
    batch: &EncodedBatch,
    started: Instant,
    outcome: Outcome,
) -> Option<RetryReason> {
    let name = ctx.name.as_str();
    let label = match &outcome {
        Outcome::Delivered => "delivered",
        Outcome::Rejected(_) => "rejected",
        Outcome::Retryable(_) => "retryable",
    };
    ctx.metrics
        .sink_request_duration
        .with_label_values(&[name, label])
        .observe(started.elapsed().as_secs_f64());
    match outcome {
        Outcome::Delivered => {
            count_out(&ctx.metrics, name, batch, &[]);
            ctx.health.set(&ctx.component, Ok(()));
            for (batch_id, _) in parts {
                let _ = ctx.done.send(Completion {
                    batch_id: *batch_id,
                });
            }
            None
        }
        Outcome::Rejected(rejections) => {
            let rejected: Vec<usize> = rejections.iter().map(|r| r.index).collect();
            count_out(&ctx.metrics, name, batch, &rejected);
            ctx.health.set(&ctx.component, Ok(()));
            let mut start = 0;
            for (batch_id, len) in parts {
                let range = start..start + len;
                start += len;
                let mine: Vec<&Rejection> = rejections
                    .iter()
                    .filter(|r| range.contains(&r.index))
                    .collect();
                if mine.is_empty() {
                    let _ = ctx.done.send(Completion {
                        batch_id: *batch_id,
                    });
                    continue;
                }
                let mut data = Vec::new();
                for r in mine {
                    let (Some(meta), Some(raw)) =
                        (batch.records.get(r.index), batch.record(r.index))
                    else {
                        continue;
                    };
                    ctx.metrics
                        .dead_lettered
                        .with_label_values(&["sink_rejected"])
                        .inc();
                    deadletter::write_line(
                        &mut data,
                        &r.reason.to_string(),
                        "sink_rejected",
                        name,
                        &meta.partition,
                        meta.offset,
                        None,
                        Some(&meta.category),
                        raw,
                    );
                }
                // The dead-letter worker reports the completion of this job once it
                // has written the refused records: only then are they done.
                let dl = Job {
                    batch_id: *batch_id,
                    batch: EncodedBatch {
                        data: Bytes::from(data),
                        records: Vec::new(),
                    },
                };
                if ctx.dead_letter.send(dl).is_err() {
                    tracing::error!(sink = %name, "dead-letter worker gone; batch stays unacknowledged");
                }
            }
            None
        }
        Outcome::Retryable(reason) => Some(reason),
    }
}

fn count_out(metrics: &Metrics, name: &str, batch: &EncodedBatch, rejected: &[usize]) {
    let mut bytes = 0u64;
    // Batches are mostly one or two categories: count runs to keep label lookups few.
    let mut run: Option<(&str, u64)> = None;
    for (i, meta) in batch.records.iter().enumerate() {
        if rejected.contains(&i) {
            continue;
        }
        bytes += meta.range.len() as u64;
        match &mut run {
            Some((cat, n)) if *cat == meta.category.as_str() => *n += 1,
            _ => {
                if let Some((cat, n)) = run.take() {
                    metrics.count_records_out(name, cat, n);
                }
                run = Some((meta.category.as_str(), 1));
            }
        }
    }
    if let Some((cat, n)) = run {
        metrics.count_records_out(name, cat, n);
    }
    metrics.bytes_out.with_label_values(&[name]).inc_by(bytes);
}

/// The dead-letter worker: like a sink worker, but a refusal is retried too (there is nowhere
/// further to send it), so nothing it was given is ever acknowledged unwritten.
pub(crate) async fn dead_letter_worker(
    mut sink: Box<dyn Sink>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    done: mpsc::UnboundedSender<Completion>,
    mut retry: RetryPolicy,
    metrics: Metrics,
    health: Health,
) {
    let name = sink.name().to_string();
    let component = format!("sink:{name}");
    health.set(&component, Ok(()));
    while let Some(job) = jobs.recv().await {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let outcome = sink.send(&job.batch).await;
            metrics
                .sink_request_duration
                .with_label_values(&[
                    name.as_str(),
                    if outcome == Outcome::Delivered {
                        "delivered"
                    } else {
                        "retryable"
                    },
                ])
                .observe(started.elapsed().as_secs_f64());
            if outcome == Outcome::Delivered {
                health.set(&component, Ok(()));
                metrics
                    .bytes_out
                    .with_label_values(&[name.as_str()])
                    .inc_by(job.batch.data.len() as u64);
                let _ = done.send(Completion {
                    batch_id: job.batch_id,
                });
                break;
            }
            let reason = match outcome {
                Outcome::Retryable(r) => r.to_string(),
                Outcome::Rejected(r) => format!("dead-letter sink refused {} lines", r.len()),
                Outcome::Delivered => String::new(),
            };
            health.set(&component, Err(reason.clone()));
            metrics
                .sink_retries
                .with_label_values(&[name.as_str()])
                .inc();
            let delay = retry.delay(attempt);
            tracing::warn!(sink = %name, %reason, attempt, "dead-letter write failed, retrying");
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod outstanding_tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use entrastream_sink::{NdjsonEncoder, RecordEncoder, SinkError};
    use tokio::sync::oneshot;

    use super::*;

    /// A sink whose sends are answered only when the test opens their gate.
    #[derive(Debug, Default)]
    struct Gated {
        /// Bytes of each batch whose send has started, in order.
        started: Arc<Mutex<Vec<usize>>>,
        gates: Arc<Mutex<Vec<oneshot::Sender<()>>>>,
    }

    #[async_trait]
    impl Sink for Gated {
        fn name(&self) -> &str {
            "gated"
        }
        fn encoder(&self) -> std::sync::Arc<dyn RecordEncoder> {
            std::sync::Arc::new(NdjsonEncoder {
                schema: entrastream_entra::Schema::Raw,
            })
        }
        async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
            self.start_send(batch).await.await
        }
        async fn healthcheck(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn max_outstanding_sends(&self) -> usize {
            2
        }
        async fn start_send(&mut self, batch: &EncodedBatch) -> PendingSend {
            let (tx, rx) = oneshot::channel();
            self.started.lock().unwrap().push(batch.data.len());
            self.gates.lock().unwrap().push(tx);
            Box::pin(async move {
                match rx.await {
                    Ok(()) => Outcome::Delivered,
                    Err(_) => Outcome::Retryable(RetryReason::Unreachable("gate dropped".into())),
                }
            })
        }
    }

    fn job(id: u64, bytes: usize) -> Job {
        Job {
            batch_id: id,
            batch: EncodedBatch {
                data: Bytes::from(vec![b'x'; bytes]),
                records: Vec::new(),
            },
        }
    }

    /// The next batch is handed to the sink while the first is still unanswered (a RELP
    /// window kept full across sends); completions still come for both.
    #[tokio::test]
    async fn next_send_starts_before_the_previous_one_is_answered() {
        let sink = Gated::default();
        let started = sink.started.clone();
        let gates = sink.gates.clone();
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let (dl_tx, _dl_rx) = mpsc::unbounded_channel();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let worker = tokio::spawn(sink_worker(
            Box::new(sink),
            jobs_rx,
            dl_tx,
            done_tx,
            RetryPolicy::default(),
            Metrics::new(),
            Health::new(),
        ));
        jobs_tx.send(job(1, 10)).unwrap();
        jobs_tx.send(job(2, 20)).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while started.lock().unwrap().len() < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            *started.lock().unwrap(),
            [10, 20],
            "both sends start before the first is answered"
        );
        assert!(done_rx.try_recv().is_err(), "nothing completes unanswered");
        for gate in gates.lock().unwrap().drain(..) {
            gate.send(()).unwrap();
        }
        let mut ids = vec![
            done_rx.recv().await.unwrap().batch_id,
            done_rx.recv().await.unwrap().batch_id,
        ];
        ids.sort();
        assert_eq!(ids, [1, 2]);
        drop(jobs_tx);
        tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .expect("the worker ends when the jobs end")
            .unwrap();
    }
}
