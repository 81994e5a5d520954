//! Sink tasks: one per sink plus one for the dead-letter sink. Each sends its batches in order
//! and retries a retryable failure forever with backoff; the pipeline's byte budget (not the
//! worker) stops intake while a sink is down. A sink that asks for it ([`Sink::coalesce`]) gets
//! consecutive queued batches merged into one send (one fsync, fewer small HTTP requests);
//! every merged batch completes only when that send does.

use std::time::Instant;

use bytes::Bytes;
use entrastream_sink::{Coalesce, EncodedBatch, Outcome, Rejection, RetryPolicy, Sink};
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

pub(crate) async fn sink_worker(
    mut sink: Box<dyn Sink>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    dead_letter: mpsc::UnboundedSender<Job>,
    done: mpsc::UnboundedSender<Completion>,
    mut retry: RetryPolicy,
    metrics: Metrics,
    health: Health,
) {
    let name = sink.name().to_string();
    let component = format!("sink:{name}");
    let coalesce = sink.coalesce();
    health.set(&component, Ok(()));
    let mut held = None;
    while let Some(group) = next_group(&mut jobs, &mut held, coalesce).await {
        // (batch id, number of records) of each merged job, in order.
        let parts: Vec<(u64, usize)> = group
            .iter()
            .map(|j| (j.batch_id, j.batch.records.len()))
            .collect();
        let batch = EncodedBatch::concat(group.into_iter().map(|j| j.batch).collect());
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let outcome = sink.send(&batch).await;
            let label = match &outcome {
                Outcome::Delivered => "delivered",
                Outcome::Rejected(_) => "rejected",
                Outcome::Retryable(_) => "retryable",
            };
            metrics
                .sink_request_duration
                .with_label_values(&[name.as_str(), label])
                .observe(started.elapsed().as_secs_f64());
            match outcome {
                Outcome::Delivered => {
                    count_out(&metrics, &name, &batch, &[]);
                    health.set(&component, Ok(()));
                    for (batch_id, _) in &parts {
                        let _ = done.send(Completion {
                            batch_id: *batch_id,
                        });
                    }
                    break;
                }
                Outcome::Rejected(rejections) => {
                    let rejected: Vec<usize> = rejections.iter().map(|r| r.index).collect();
                    count_out(&metrics, &name, &batch, &rejected);
                    health.set(&component, Ok(()));
                    let mut start = 0;
                    for (batch_id, len) in &parts {
                        let range = start..start + len;
                        start += len;
                        let mine: Vec<&Rejection> = rejections
                            .iter()
                            .filter(|r| range.contains(&r.index))
                            .collect();
                        if mine.is_empty() {
                            let _ = done.send(Completion {
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
                            metrics
                                .dead_lettered
                                .with_label_values(&["sink_rejected"])
                                .inc();
                            deadletter::write_line(
                                &mut data,
                                &r.reason.to_string(),
                                "sink_rejected",
                                &name,
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
                        if dead_letter.send(dl).is_err() {
                            tracing::error!(sink = %name, "dead-letter worker gone; batch stays unacknowledged");
                        }
                    }
                    break;
                }
                Outcome::Retryable(reason) => {
                    health.set(&component, Err(reason.to_string()));
                    metrics
                        .sink_retries
                        .with_label_values(&[name.as_str()])
                        .inc();
                    let delay = retry.delay(attempt);
                    if attempt == 0 || attempt.is_power_of_two() {
                        tracing::warn!(sink = %name, %reason, attempt, delay_ms = delay.as_millis() as u64, "sink send failed, retrying");
                    }
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(delay).await;
                }
            }
        }
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
