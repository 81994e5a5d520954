//! The pipeline: source → parse → fan-out to sinks → acknowledgement → checkpoint.
//!
//! # Delivery contract (at-least-once)
//!
//! This crate is the one place where entrastream decides that a message is *done*, and so the
//! one place that decides what may be committed to the source.
//!
//! 1. **A message is done** when every configured sink has durably accepted every record of it
//!    that the sink's category filter selects, and the dead-letter sink has durably written
//!    every part of it that could not be parsed, encoded or delivered. A record a sink rejects
//!    for good (`Outcome::Rejected`) counts as done only after the dead-letter sink accepts it.
//!    Records out + dead-lettered = records in, always.
//! 2. **Retryable failures are retried, never skipped.** A batch a sink cannot take is retried
//!    with jittered, capped exponential backoff for as long as it takes. Meanwhile the batch
//!    stays in flight, its bytes stay counted against the byte budget, and once the budget is
//!    full every assigned partition is paused and no further message is taken from the source:
//!    in-flight bytes stay within the budget plus one message and its encodings (a message
//!    handed to the parse pool is charged at once for the encodings it will add, one body
//!    length per sink, trued up to their real size when its result joins the open batch; so
//!    a pool full of work pauses the partitions like batches waiting on a sink do), the
//!    source's hand-off channel holds at most 64 more messages, and librdkafka's prefetch is
//!    capped by `queued.max.messages.kbytes` (16 MiB by default here). Nothing is dropped.
//!    Rebalance events are still read over the budget ([`Source::next_rebalance`]), so a
//!    revoke is answered within `drain_timeout` however long a sink is down.
//! 3. **The checkpoint is a contiguous watermark** per partition ([`AckTracker`]): the highest
//!    offset such that every message at or below it is done. A message that is not done holds
//!    back the checkpoint of its partition even when later messages were delivered (the opposite
//!    of Vector's Kafka source, which stores the offset of any delivered message).
//! 4. **When commits happen**: every `checkpoint_interval` (only partitions whose watermark
//!    moved); on partition revoke, after waiting up to `drain_timeout` for the partition's
//!    in-flight messages (whatever is done by then is committed, the rest is redelivered to the
//!    next owner); and on shutdown, after waiting up to `shutdown_timeout`.
//! 5. **Consequences**: a crash or kill loses nothing that the source still holds; it redelivers
//!    at most what was in flight or done-but-uncommitted (bounded by one checkpoint interval of
//!    traffic plus the byte budget). Sinks therefore see duplicates after a crash, never gaps.
//!
//! Design decision: one task owns all pipeline state (tracker, open batch, budget), and sink
//! I/O runs in one task per sink. The state needs no locks, and the tasks talk through channels
//! whose memory is bounded by the byte budget rather than by channel capacity. That state is
//! grouped by job: the sinks and their supervised workers (`SinkSet`), the open and in-flight
//! batches (`Batches`), the byte budget (`Budget`) and what decides the checkpoint
//! (`Checkpointing`); the methods that change it, and so every commit decision, stay on the
//! one `Pipeline` in this file. [`run`] takes the parts a composition root wires: the source,
//! the [`Sinks`], the [`PipelineConfig`] and where to report ([`Telemetry`]).
//!
//! Design decision: parse + encode run on a pool of OS threads (`pool.rs`), sized to the CPUs
//! the process may use ([`cpus`]: affinity mask and cgroup quota) unless `parse_threads` says
//! otherwise, so that a pod with several cores parses several messages at once and no parse
//! holds an async worker. The pool changes nothing of the contract: the run task numbers each
//! message as it takes it from the source and appends the results to the open batch strictly
//! in that order, so batches, the record order each sink sees (per partition and across
//! partitions), the acknowledgements and every commit decision are those of a single-task
//! parse; why a global order rather than partitions pinned to threads is in `pool.rs`.
//!
//! Design decision: the sink tasks are supervised. A sink or dead-letter worker that panics,
//! or ends while batches are still owed to it, fails the run ([`PipelineError::SinkWorker`],
//! exit code 1): its unfinished batches never complete, so no checkpoint moves past its work,
//! and the run commits only what every sink finished, answers revokes and closes the source
//! at once. The release profile keeps `panic = "unwind"` on purpose: with `abort` a sink bug
//! would kill the process with no log line naming the sink, no commit of the work already
//! done (more redelivery) and no clean leave from the consumer group (the group waits for the
//! session timeout); and Cargo ignores `abort` for test targets, so tests would exercise a
//! panic strategy production does not use.
#![forbid(unsafe_code)]

mod batch;
pub mod cpus;
mod deadletter;
mod pool;
mod supervise;
mod worker;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

pub use entrastream_checkpoint::AckTracker;
use entrastream_entra::ParseOptions;
use entrastream_model::{Checkpoint, PartitionId, Position, SourceMessage};
use entrastream_sink::{CategoryFilter, RecordEncoder, RecordObserver, RetryPolicy, Sink};
use entrastream_source::{Source, SourceError, SourceEvent};
use entrastream_telemetry::{Health, Metrics};
use tokio::sync::{mpsc, oneshot, watch};

pub use deadletter::DeadLetterLine;

use batch::{BatchBuilder, InFlightBatch, ParseShared};
use pool::{ParsePool, Parsed};
use supervise::{WorkerName, Workers, panic_text};
use worker::{Completion, Job};

/// Tuning of one pipeline. Defaults match the documented config defaults.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// How often moved watermarks are committed.
    pub checkpoint_interval: Duration,
    /// How long a revoke waits for in-flight messages of the revoked partitions.
    pub drain_timeout: Duration,
    /// How long shutdown waits for in-flight messages.
    pub shutdown_timeout: Duration,
    /// Global budget of message bytes plus encoded bytes in flight; above it every partition
    /// is paused.
    pub max_in_flight_bytes: usize,
    /// A batch is cut when its messages reach this many bytes…
    pub batch_max_bytes: usize,
    /// …or when its first message is this old.
    pub batch_linger: Duration,
    /// Sink retry backoff: first delay.
    pub retry_initial: Duration,
    /// Sink retry backoff: largest delay.
    pub retry_max: Duration,
    /// Called with every parsed record (IAM-health metrics).
    pub observers: Vec<Arc<dyn RecordObserver>>,
    /// The longest the run loop waits on one checkpoint commit. A commit that takes longer is
    /// counted as failed and retried at the next interval: while the loop waits it neither
    /// delivers what the source already fetched nor answers a revoke, and a blackholed group
    /// coordinator holds a Kafka commit for the client's whole socket timeout.
    pub commit_timeout: Duration,
    /// Threads that parse and encode messages; None: as many as the CPUs this
    /// process may use ([`cpus::CpuBudget`]).
    pub parse_threads: Option<NonZeroUsize>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            checkpoint_interval: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
            max_in_flight_bytes: 256 * 1024 * 1024,
            batch_max_bytes: 1024 * 1024,
            batch_linger: Duration::from_millis(50),
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(30),
            observers: Vec::new(),
            commit_timeout: Duration::from_secs(10),
            parse_threads: None,
        }
    }
}

/// A configured sink: the I/O half plus the category filter the pipeline applies.
#[derive(Debug)]
pub struct SinkSlot {
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// Which categories it receives.
    pub filter: CategoryFilter,
}

/// Live counters, readable while the pipeline runs (progress bars, tests).
#[derive(Debug, Default)]
pub struct Progress {
    /// Messages read from the source.
    pub messages_in: AtomicU64,
    /// Message bytes read.
    pub bytes_in: AtomicU64,
    /// Records parsed.
    pub records_in: AtomicU64,
    /// Messages done (see the contract).
    pub messages_done: AtomicU64,
    /// Records parsed whose message is done (delivered to every selecting sink).
    pub records_done: AtomicU64,
    /// Dead-letter entries written by the parse stage (parse or encode failures).
    pub dead_lettered: AtomicU64,
    /// Messages with at least one such entry: one message may yield several entries (a bad
    /// record among good ones, a record no sink's encoder takes), so this counts distinct
    /// (partition, offset) pairs, each message being read once per run.
    pub dead_lettered_messages: AtomicU64,
    /// Checkpoint commits that succeeded.
    pub commits: AtomicU64,
}

/// What a finished run reports.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Last committed position per partition (over the whole run).
    pub committed: Checkpoint,
    /// Messages still in flight when the run ended (not committed; will be redelivered).
    pub abandoned_messages: usize,
}

/// Errors that end a run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source failed for good.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A sink's (or the dead-letter sink's) worker task panicked or ended while the pipeline
    /// still had batches for it. Nothing past its work was committed; restarting redelivers it.
    /// Not one parse thread could be started.
    #[error(
        "could not start the parse threads ({0}); lower [pipeline] parse_threads or raise the \
         process's thread limit (ulimit -u, the container's pids limit)"
    )]
    ParsePool(std::io::Error),
    #[error(
        "sink `{sink}` stopped working ({what}); the run ends so that no offset is committed \
         without it. Nothing it had not written was committed: fix the cause (see the log above) \
         and restart, the uncommitted messages are redelivered"
    )]
    SinkWorker {
        /// The sink's configured name (`dead_letter` for the dead-letter sink).
        sink: String,
        /// What happened to the task (`panicked: …` or `ended unexpectedly`).
        what: String,
    },
}

struct PendingRevoke {
    partitions: Vec<PartitionId>,
    deadline: Instant,
    reply: oneshot::Sender<Checkpoint>,
}

/// The sinks of a run: the configured ones, each with its category filter, and the
/// dead-letter sink.
#[derive(Debug)]
pub struct Sinks {
    /// The configured sinks, in config order.
    pub slots: Vec<SinkSlot>,
    /// Where records no sink can take go (parse/encode failures, rejections).
    pub dead_letter: Box<dyn Sink>,
}

/// Where a run reports: metrics, readiness and live counters.
#[derive(Clone, Debug)]
pub struct Telemetry {
    /// The `/metrics` families.
    pub metrics: Metrics,
    /// Readiness (`/readyz`).
    pub health: Health,
    /// Live counters (progress bars, tests).
    pub progress: Arc<Progress>,
}

/// Runs the pipeline until `shutdown` becomes true (or the source reports EOF), then drains,
/// commits and returns.
pub async fn run(
    source: Box<dyn Source>,
    sinks: Sinks,
    config: PipelineConfig,
    telemetry: Telemetry,
    shutdown: watch::Receiver<bool>,
) -> Result<RunSummary, PipelineError> {
    let parse = start_parse_pool(&sinks, &config, &telemetry)?;
    let sinks = SinkSet::start(sinks, &config, &telemetry);
    let mut p = Pipeline {
        source,
        parse,
        batches: Batches::new(sinks.encoders.len(), config.batch_max_bytes),
        sinks,
        failed: None,
        budget: Budget::default(),
        checkpoints: Checkpointing::default(),
        config,
        telemetry,
    };
    let result = p.main_loop(shutdown).await;
    if p.failed.is_none() {
        p.finish().await;
    }
    // A worker found dead, in the loop or while draining, fails the run.
    let result = match p.failed.take() {
        Some(e) => {
            p.finish_failed().await;
            Err(e)
        }
        None => result,
    };
    p.sinks.workers.set.abort_all();
    result.map(|()| RunSummary {
        committed: p.checkpoints.committed.clone(),
        abandoned_messages: p.checkpoints.tracker.total_in_flight(),
    })
}

/// Starts the parse threads: `parse_threads` of them, or as many as the CPUs this process
/// may use.
fn start_parse_pool(
    sinks: &Sinks,
    config: &PipelineConfig,
    telemetry: &Telemetry,
) -> Result<ParsePool, PipelineError> {
    let budget = cpus::CpuBudget::detect();
    let threads = config
        .parse_threads
        .map_or_else(|| budget.threads(), |n| n.get());
    let shared = ParseShared {
        encoders: sinks
            .slots
            .iter()
            .map(|s| {
                (
                    s.sink.encoder(),
                    s.filter.clone(),
                    s.sink.name().to_string(),
                )
            })
            .collect(),
        observers: config.observers.clone(),
        opts: ParseOptions::default(),
        metrics: telemetry.metrics.clone(),
    };
    let pool = ParsePool::start(threads, Arc::new(shared)).map_err(PipelineError::ParsePool)?;
    telemetry
        .metrics
        .parse_threads
        .set(i64::try_from(pool.threads()).unwrap_or(i64::MAX));
    tracing::info!(
        threads = pool.threads(),
        configured = ?config.parse_threads,
        affinity_cpus = ?budget.affinity,
        cgroup_quota_cpus = ?budget.quota,
        "parse threads started"
    );
    Ok(pool)
}

/// The sink side of a run: each sink's encoder and filter, the queues to the worker tasks,
/// and the tasks themselves.
struct SinkSet {
    encoders: Vec<(Arc<dyn RecordEncoder>, CategoryFilter, String)>,
    /// One queue per sink, in `encoders` order; emptied when the queues are closed.
    txs: Vec<mpsc::UnboundedSender<Job>>,
    dead_letter_tx: mpsc::UnboundedSender<Job>,
    /// Completions of every worker.
    done_rx: mpsc::UnboundedReceiver<Completion>,
    /// The sink and dead-letter worker tasks, supervised: one that ends early fails the run.
    workers: Workers,
}

impl SinkSet {
    /// Spawns one worker task per sink and one for the dead-letter sink.
    fn start(sinks: Sinks, config: &PipelineConfig, telemetry: &Telemetry) -> SinkSet {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (dead_letter_tx, dl_rx) = mpsc::unbounded_channel();
        let mut workers = Workers::default();
        let mut txs = Vec::new();
        let mut encoders: Vec<(Arc<dyn RecordEncoder>, CategoryFilter, String)> = Vec::new();
        for slot in sinks.slots {
            let (tx, rx) = mpsc::unbounded_channel();
            encoders.push((
                slot.sink.encoder(),
                slot.filter,
                slot.sink.name().to_string(),
            ));
            txs.push(tx);
            let name = slot.sink.name().to_string();
            workers.spawn(
                name,
                worker::sink_worker(
                    slot.sink,
                    rx,
                    dead_letter_tx.clone(),
                    done_tx.clone(),
                    RetryPolicy::new(config.retry_initial, config.retry_max),
                    telemetry.metrics.clone(),
                    telemetry.health.clone(),
                ),
            );
        }
        let dl_name = sinks.dead_letter.name().to_string();
        workers.spawn_dead_letter(
            dl_name,
            worker::dead_letter_worker(
                sinks.dead_letter,
                dl_rx,
                done_tx.clone(),
                RetryPolicy::new(config.retry_initial, config.retry_max),
                telemetry.metrics.clone(),
                telemetry.health.clone(),
            ),
        );
        drop(done_tx);
        SinkSet {
            encoders,
            txs,
            dead_letter_tx,
            done_rx,
            workers,
        }
    }
}

/// The open batch and the batches in flight to the sinks.
struct Batches {
    builder: BatchBuilder,
    in_flight: HashMap<u64, InFlightBatch>,
    next_id: u64,
}

impl Batches {
    fn new(sinks: usize, batch_max_bytes: usize) -> Batches {
        Batches {
            builder: BatchBuilder::new(sinks, batch_max_bytes),
            in_flight: HashMap::new(),
            next_id: 0,
        }
    }
}

/// The byte budget (backpressure): bytes in flight, and whether the partitions are paused.
///
/// In flight means held by this run: the body of every message taken from the source and
/// not yet done, and the encodings made of it. A message handed to the parse pool has no
/// encodings yet but will have them within milliseconds, so it is charged an estimate at
/// submission ([`Budget::charge_submitted`]: one body length per sink) and trued up to its
/// real encoded size when its result joins the open batch ([`Budget::true_up`]); the batch
/// releases both when it is done. So [`Pipeline::apply_budget`] sees what the pool is about
/// to add and pauses the partitions for it, instead of the reader merely stopping.
#[derive(Default)]
struct Budget {
    in_flight_bytes: usize,
    paused: bool,
}

impl Budget {
    /// What a message of `body_len` bytes is expected to add in encodings for `sinks` sinks.
    fn expected_encodings(body_len: usize, sinks: usize) -> usize {
        body_len.saturating_mul(sinks)
    }

    /// A message goes to the parse pool: its body and its encodings-to-be are in flight.
    fn charge_submitted(&mut self, body_len: usize, sinks: usize) {
        self.in_flight_bytes = self
            .in_flight_bytes
            .saturating_add(body_len)
            .saturating_add(Self::expected_encodings(body_len, sinks));
    }

    /// A pooled message's result joins the open batch: its estimate is replaced by what it
    /// really encoded to (every sink's records and its dead-letter lines), which the batch
    /// releases when it is done.
    fn true_up(&mut self, body_len: usize, sinks: usize, encoded: usize) {
        self.in_flight_bytes = self
            .in_flight_bytes
            .saturating_sub(Self::expected_encodings(body_len, sinks))
            .saturating_add(encoded);
    }

    /// Bytes no longer held (a done batch, or one that will never be sent).
    fn release(&mut self, bytes: usize) {
        self.in_flight_bytes = self.in_flight_bytes.saturating_sub(bytes);
    }
}

/// What decides the checkpoint: the per-partition ack tracker, the partitions this instance
/// reads, revokes waiting for their drain, and what was committed.
#[derive(Default)]
struct Checkpointing {
    tracker: AckTracker,
    assigned: Vec<PartitionId>,
    revokes: Vec<PendingRevoke>,
    /// Enqueue time of the last done message, per partition (the lag gauge).
    last_enqueued: HashMap<PartitionId, SystemTime>,
    committed: Checkpoint,
}

/// One run's state, owned by one task (see the design decision above).
struct Pipeline {
    source: Box<dyn Source>,
    /// Parse + encode, off this task, results taken back in source order.
    parse: ParsePool,
    sinks: SinkSet,
    batches: Batches,
    budget: Budget,
    checkpoints: Checkpointing,
    /// Set when a worker is found dead (on its exit, or when its queue refuses a job).
    failed: Option<PipelineError>,
    config: PipelineConfig,
    telemetry: Telemetry,
}

impl Pipeline {
    async fn main_loop(
        &mut self,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), PipelineError> {
        let tick_every = (self.config.batch_linger / 2)
            .clamp(Duration::from_millis(5), Duration::from_millis(100));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_commit = Instant::now();
        let mut eof = false;
        loop {
            if self.failed.is_some() {
                return Ok(()); // `run` reports the failure and commits only what is done
            }
            if *shutdown.borrow() {
                return Ok(());
            }
            if eof
                && self.parse.is_idle()
                && self.batches.builder.is_empty()
                && self.batches.in_flight.is_empty()
            {
                return Ok(());
            }
            // Over the byte budget nothing more is taken from the source (besides pausing its
            // partitions), so in-flight bytes stay within budget + one message.
            // Nor while the parse pool's reassembly window is full (it empties in
            // milliseconds: parsing is CPU work only).
            // The pooled messages' encodings-to-be are in `in_flight_bytes` already
            // ([`Budget`]), so a full budget stops submissions to the pool too.
            let can_read = !eof
                && self.checkpoints.revokes.is_empty()
                && self.budget.in_flight_bytes < self.config.max_in_flight_bytes
                && self.parse.has_room();
            // …but rebalance events still are: a revoke waits for its answer, and the group
            // waits for the revoke, however long a sink is down.
            let rebalances_only = !eof && self.checkpoints.revokes.is_empty() && !can_read;
            tokio::select! {
                biased;
                Some(c) = self.sinks.done_rx.recv() => {
                    self.complete(c.batch_id);
                    // Drain whatever else completed without going round the select.
                    while let Ok(c) = self.sinks.done_rx.try_recv() {
                        self.complete(c.batch_id);
                    }
                    self.check_revokes();
                }
                Some(ended) = self.sinks.workers.set.join_next_with_id() => {
                    self.on_worker_end(ended);
                }
                Some((seq, parsed)) = self.parse.results.recv(), if !self.parse.is_idle() => {
                    self.on_parsed(seq, parsed);
                    while let Ok((seq, parsed)) = self.parse.results.try_recv() {
                        self.on_parsed(seq, parsed);
                    }
                }
                _ = shutdown.changed() => {}
                ev = next_source_event(self.source.as_mut(), can_read), if can_read || rebalances_only => {
                    match ev {
                        Ok(SourceEvent::Message(m)) => self.on_message(m),
                        Ok(SourceEvent::Assigned(parts)) => self.on_assigned(parts),
                        Ok(SourceEvent::Revoked { partitions, drained }) => {
                            self.drain_parse_pool().await;
                            self.flush_batch();
                            self.checkpoints.revokes.push(PendingRevoke {
                                partitions,
                                deadline: Instant::now() + self.config.drain_timeout,
                                reply: drained,
                            });
                            self.check_revokes();
                        }
                        Ok(SourceEvent::Committed(cp)) => self.on_confirmed_commit(&cp),
                        Ok(SourceEvent::Eof) => {
                            eof = true;
                            self.drain_parse_pool().await;
                            self.flush_batch();
                            self.close_sink_queues();
                        }
                        Err(SourceError::Fatal(e)) => {
                            tracing::error!(error = %e, "source failed");
                            return Err(PipelineError::Source(SourceError::Fatal(e)));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "source error");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
                _ = tick.tick() => {
                    if self.batches.builder.age().is_some_and(|a| a >= self.config.batch_linger) {
                        self.flush_batch();
                    }
                    self.check_revokes();
                    if last_commit.elapsed() >= self.config.checkpoint_interval {
                        last_commit = Instant::now();
                        self.commit_moved().await;
                        self.update_lag();
                    }
                }
            }
        }
    }

    /// Shutdown: stop reading, flush, wait for in-flight batches up to `shutdown_timeout`,
    /// commit what is done, close the source.
    async fn finish(&mut self) {
        self.drain_parse_pool().await;
        self.flush_batch();
        self.close_sink_queues();
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        while !self.batches.in_flight.is_empty() && self.failed.is_none() {
            tokio::select! {
                biased;
                c = self.sinks.done_rx.recv() => match c {
                    Some(c) => self.complete(c.batch_id),
                    None => break,
                },
                Some(ended) = self.sinks.workers.set.join_next_with_id() => self.on_worker_end(ended),
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        batches = self.batches.in_flight.len(),
                        "shutdown timeout: in-flight batches left uncommitted"
                    );
                    break;
                }
            }
        }
        if self.failed.is_some() {
            return; // finish_failed commits and closes
        }
        self.answer_revokes_and_close().await;
    }

    /// After a failure: takes what other workers already reported done (their completions
    /// only ever make done messages of healthy sinks), commits the contiguous watermark (which
    /// a dead worker's unfinished batches hold back), answers revokes, closes the source.
    /// Nothing waits for the dead worker, so the run ends promptly.
    async fn finish_failed(&mut self) {
        while let Ok(c) = self.sinks.done_rx.try_recv() {
            self.complete(c.batch_id);
        }
        self.answer_revokes_and_close().await;
    }

    async fn answer_revokes_and_close(&mut self) {
        // Answer any pending revoke with what is done so far.
        let revokes = std::mem::take(&mut self.checkpoints.revokes);
        for r in revokes {
            let cp = self.checkpoints.tracker.watermarks_of(&r.partitions);
            let _ = r.reply.send(cp);
        }
        self.commit_moved().await;
        if let Err(e) = self.source.close().await {
            tracing::warn!(error = %e, "source close failed");
        }
    }

    /// No batch follows: closing the sink queues lets a worker that waits to merge more
    /// batches ([`entrastream_sink::Coalesce`]) send what it holds at once.
    fn close_sink_queues(&mut self) {
        self.sinks.txs.clear();
    }

    fn on_assigned(&mut self, parts: Vec<(PartitionId, Position)>) {
        let mut ids = Vec::new();
        for (p, pos) in parts {
            tracing::info!(partition = %p, start = ?pos, "partition assigned");
            self.checkpoints.tracker.assign(p.clone(), pos);
            if let Some(k) = pos.kafka_commit_offset() {
                self.checkpoints.committed.set(p.clone(), pos);
                self.telemetry
                    .metrics
                    .committed_offset
                    .with_label_values(&[p.topic.as_str(), &p.partition.to_string()])
                    .set(k);
            }
            if !self.checkpoints.assigned.contains(&p) {
                self.checkpoints.assigned.push(p.clone());
            }
            ids.push(p);
        }
        self.telemetry
            .metrics
            .assigned_partitions
            .set(self.checkpoints.assigned.len() as i64);
        if self.budget.paused
            && let Err(e) = self.source.pause(&ids)
        {
            tracing::warn!(error = %e, "pause of newly assigned partitions failed");
        }
        self.telemetry.health.set("source", Ok(()));
    }

    fn on_message(&mut self, m: SourceMessage) {
        if let Err(e) = self.checkpoints.tracker.register(&m.partition, m.offset) {
            tracing::warn!(error = %e, "message ignored");
            return;
        }
        if !self.checkpoints.assigned.contains(&m.partition) {
            self.checkpoints.assigned.push(m.partition.clone());
            self.telemetry
                .metrics
                .assigned_partitions
                .set(self.checkpoints.assigned.len() as i64);
        }
        let len = m.body.len();
        let pstr = m.partition.partition.to_string();
        self.telemetry
            .metrics
            .messages_in
            .with_label_values(&[m.partition.topic.as_str(), &pstr])
            .inc();
        self.telemetry
            .metrics
            .bytes_in
            .with_label_values(&[m.partition.topic.as_str(), &pstr])
            .inc_by(len as u64);
        self.telemetry
            .progress
            .messages_in
            .fetch_add(1, Ordering::Relaxed);
        self.telemetry
            .progress
            .bytes_in
            .fetch_add(len as u64, Ordering::Relaxed);
        self.budget.charge_submitted(len, self.sinks.encoders.len());
        self.parse.submit(m);
        self.apply_budget();
    }

    /// A message back from the parse pool (in any order): appends every message now next in
    /// source order to the open batch, so each sink sees records in the order they were read.
    fn on_parsed(&mut self, seq: u64, parsed: Parsed) {
        self.parse.accept(seq, parsed);
        while let Some(next) = self.parse.next_in_order() {
            let parsed = match next {
                Parsed::Done(p) => p,
                // As when this task parsed on its own: a parser or encoder bug ends the run
                // before anything of the message is acknowledged.
                Parsed::Panicked(panic) => std::panic::resume_unwind(panic),
            };
            let stats = parsed.stats;
            self.budget.true_up(
                parsed.input_bytes(),
                self.sinks.encoders.len(),
                parsed.encoded_bytes(),
            );
            self.batches.builder.append(parsed);
            self.telemetry
                .progress
                .records_in
                .fetch_add(stats.records, Ordering::Relaxed);
            self.telemetry
                .progress
                .dead_lettered
                .fetch_add(stats.dead_lettered, Ordering::Relaxed);
            if stats.dead_lettered > 0 {
                self.telemetry
                    .progress
                    .dead_lettered_messages
                    .fetch_add(1, Ordering::Relaxed);
            }
            if self.batches.builder.input_bytes() >= self.config.batch_max_bytes {
                self.flush_batch();
            }
        }
        self.apply_budget();
    }

    /// Waits for every message in the parse pool and appends them (before a batch is cut for
    /// a revoke, at the end of input, at shutdown). Parsing is CPU work only, so this is short.
    async fn drain_parse_pool(&mut self) {
        while !self.parse.is_idle() {
            match self.parse.results.recv().await {
                Some((seq, parsed)) => self.on_parsed(seq, parsed),
                None => break, // unreachable: the pool's threads hold the senders
            }
        }
    }

    /// Cuts the open batch and hands its parts to the sink workers.
    fn flush_batch(&mut self) {
        if self.batches.builder.is_empty() {
            return;
        }
        let id = self.batches.next_id;
        self.batches.next_id += 1;
        let (jobs, dl, mut inflight) = self.batches.builder.take();
        if self.sinks.txs.len() < self.sinks.encoders.len() {
            // Unreachable (nothing is read after the queues close), but never acknowledge a
            // batch no sink received: its messages stay unacknowledged and are redelivered.
            tracing::error!(
                messages = inflight.messages.len(),
                "batch cut after the sink queues closed; left unacknowledged"
            );
            // Nothing holds its bytes any more: left charged, they would fill the budget
            // for good and stall every partition.
            self.budget
                .release(inflight.input_bytes + inflight.encoded_bytes);
            return;
        }
        for (i, batch) in jobs.into_iter().enumerate() {
            let (Some(batch), Some(tx)) = (batch, self.sinks.txs.get(i)) else {
                continue;
            };
            // Counted either way: a job whose worker is gone never completes, so the batch
            // (and every later message of its partitions) is never acknowledged.
            inflight.remaining += 1;
            if tx
                .send(Job {
                    batch_id: id,
                    batch,
                })
                .is_err()
            {
                let sink = self.sinks.encoders[i].2.clone();
                self.worker_gone(sink, "its queue is closed: the task ended".into());
            }
        }
        if let Some(batch) = dl {
            inflight.remaining += 1;
            if self
                .sinks
                .dead_letter_tx
                .send(Job {
                    batch_id: id,
                    batch,
                })
                .is_err()
            {
                let sink = self.sinks.workers.dead_letter_name();
                self.worker_gone(sink, "its queue is closed: the task ended".into());
            }
        }
        if inflight.remaining == 0 {
            self.finish_batch(inflight);
        } else {
            self.batches.in_flight.insert(id, inflight);
        }
        self.apply_budget();
    }

    /// A worker task ended. Sink workers end normally once their queue is closed and drained,
    /// and the dead-letter worker once every sender is gone; any other end, and any panic, is
    /// a failure of the run.
    fn on_worker_end(&mut self, ended: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let (id, what) = match ended {
            Ok((id, ())) => (id, None),
            Err(e) if e.is_panic() => {
                let id = e.id();
                (
                    id,
                    Some(format!("panicked: {}", panic_text(e.into_panic()))),
                )
            }
            Err(e) => (e.id(), Some("was cancelled".to_string())),
        };
        let Some(kind) = self.sinks.workers.names.remove(&id) else {
            return;
        };
        let queue_open = match &kind {
            WorkerName::Sink(_) => !self.sinks.txs.is_empty(),
            // The pipeline holds a dead-letter sender until the run ends.
            WorkerName::DeadLetter(_) => true,
        };
        let what = match what {
            Some(w) => w,
            None if queue_open => "ended unexpectedly".to_string(),
            None => return, // queue closed and drained: a normal end
        };
        self.worker_gone(kind.name().to_string(), what);
    }

    fn worker_gone(&mut self, sink: String, what: String) {
        if self.failed.is_some() {
            return;
        }
        tracing::error!(
            sink = %sink,
            what = %what,
            "sink worker stopped; ending the run without committing past its work (restart to redeliver)"
        );
        self.telemetry
            .health
            .set(&format!("sink:{sink}"), Err(format!("worker {what}")));
        self.failed = Some(PipelineError::SinkWorker { sink, what });
    }

    fn complete(&mut self, batch_id: u64) {
        let Some(b) = self.batches.in_flight.get_mut(&batch_id) else {
            return;
        };
        b.remaining = b.remaining.saturating_sub(1);
        if b.remaining == 0
            && let Some(b) = self.batches.in_flight.remove(&batch_id)
        {
            self.finish_batch(b);
        }
        self.apply_budget();
    }

    fn finish_batch(&mut self, b: InFlightBatch) {
        for (p, offset, enqueued) in &b.messages {
            if !self.checkpoints.tracker.contains(p) {
                continue; // revoked meanwhile: the next owner redelivers it
            }
            if let Err(e) = self.checkpoints.tracker.ack(p, *offset) {
                tracing::warn!(error = %e, "ack ignored");
            }
            if let Some(t) = enqueued {
                self.checkpoints.last_enqueued.insert(p.clone(), *t);
            }
        }
        self.budget.release(b.input_bytes + b.encoded_bytes);
        self.telemetry
            .progress
            .messages_done
            .fetch_add(b.messages.len() as u64, Ordering::Relaxed);
        self.telemetry
            .progress
            .records_done
            .fetch_add(b.records, Ordering::Relaxed);
    }

    /// Pauses every assigned partition when the byte budget is full; resumes below 3/4 of it.
    fn apply_budget(&mut self) {
        self.telemetry
            .metrics
            .in_flight_bytes
            .set(self.budget.in_flight_bytes as i64);
        self.telemetry
            .metrics
            .parse_queue_messages
            .set(self.parse.outstanding() as i64);
        let budget = self.config.max_in_flight_bytes;
        if !self.budget.paused && self.budget.in_flight_bytes >= budget {
            match self.source.pause(&self.checkpoints.assigned) {
                Ok(()) => {
                    self.budget.paused = true;
                    self.telemetry
                        .metrics
                        .paused_partitions
                        .set(self.checkpoints.assigned.len() as i64);
                    self.telemetry.metrics.partition_pauses.inc();
                    self.telemetry.health.set(
                        "backpressure",
                        Err(format!(
                            "in-flight bytes {} over budget {budget}",
                            self.budget.in_flight_bytes
                        )),
                    );
                    tracing::info!(
                        in_flight_bytes = self.budget.in_flight_bytes,
                        budget,
                        "byte budget full, partitions paused"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "pause failed"),
            }
        } else if self.budget.paused && self.budget.in_flight_bytes <= budget / 4 * 3 {
            match self.source.resume(&self.checkpoints.assigned) {
                Ok(()) => {
                    self.budget.paused = false;
                    self.telemetry.metrics.paused_partitions.set(0);
                    self.telemetry.health.set("backpressure", Ok(()));
                    tracing::info!(
                        in_flight_bytes = self.budget.in_flight_bytes,
                        "partitions resumed"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "resume failed"),
            }
        }
    }

    fn check_revokes(&mut self) {
        if self.checkpoints.revokes.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.checkpoints.revokes.len() {
            let r = &self.checkpoints.revokes[i];
            let drained = r
                .partitions
                .iter()
                .all(|p| self.checkpoints.tracker.in_flight(p) == 0);
            if drained || now >= r.deadline {
                let r = self.checkpoints.revokes.swap_remove(i);
                if !drained {
                    tracing::warn!(partitions = ?r.partitions, "drain timeout on revoke; undone messages go to the next owner");
                }
                let cp = self.checkpoints.tracker.watermarks_of(&r.partitions);
                tracing::info!(checkpoint = ?cp, "partitions revoked");
                // The answer is not a commit: the source may skip it (the group session is
                // lost, or ownership is gone) or it may fail. The committed offsets move only
                // when the source confirms it ([`SourceEvent::Committed`]).
                for p in &r.partitions {
                    self.checkpoints.tracker.remove(p);
                    self.checkpoints.assigned.retain(|a| a != p);
                    self.checkpoints.last_enqueued.remove(p);
                }
                self.telemetry
                    .metrics
                    .assigned_partitions
                    .set(self.checkpoints.assigned.len() as i64);
                if self.budget.paused {
                    self.telemetry
                        .metrics
                        .paused_partitions
                        .set(self.checkpoints.assigned.len() as i64);
                }
                let _ = r.reply.send(cp);
            } else {
                i += 1;
            }
        }
    }

    /// A commit the source made on its own (on revoke) and the broker confirmed.
    fn on_confirmed_commit(&mut self, cp: &Checkpoint) {
        tracing::debug!(checkpoint = ?cp, "commit on revoke confirmed");
        self.record_committed(cp);
    }

    /// What the source really wrote: the run's summary and `entrastream_committed_offset`.
    fn record_committed(&mut self, written: &Checkpoint) {
        for (p, pos) in written.iter() {
            self.checkpoints.committed.set(p.clone(), *pos);
            if let Some(k) = pos.kafka_commit_offset() {
                self.telemetry
                    .metrics
                    .committed_offset
                    .with_label_values(&[p.topic.as_str(), &p.partition.to_string()])
                    .set(k);
            }
        }
    }

    async fn commit_moved(&mut self) {
        let cp = self.checkpoints.tracker.pending_commit();
        if cp.is_empty() {
            return;
        }
        let attempt = tokio::time::timeout(self.config.commit_timeout, self.source.commit(&cp));
        let result = match attempt.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            // Dropping the commit leaves the tracker as it was: the same watermark (or a later
            // one) is committed at the next interval, so a slow commit costs duplicates at most.
            Err(_) => Err(format!(
                "no answer within {:?}; the broker or checkpoint store is unreachable or slow",
                self.config.commit_timeout
            )),
        };
        match result {
            Ok(()) => {
                self.checkpoints.tracker.mark_committed(&cp);
                self.telemetry.metrics.checkpoint_commits.inc();
                self.telemetry
                    .progress
                    .commits
                    .fetch_add(1, Ordering::Relaxed);
                // Only what the source really wrote counts as committed.
                let written = self
                    .source
                    .written_by_last_commit()
                    .unwrap_or_else(|| cp.clone());
                self.record_committed(&written);
                tracing::debug!(checkpoint = ?cp, "committed");
            }
            Err(e) => {
                self.telemetry.metrics.checkpoint_commit_failures.inc();
                tracing::warn!(error = %e, "checkpoint commit failed; retrying at the next interval");
            }
        }
    }

    fn update_lag(&self) {
        let now = SystemTime::now();
        for (p, t) in &self.checkpoints.last_enqueued {
            let secs = now
                .duration_since(*t)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.telemetry
                .metrics
                .consumer_lag_seconds
                .with_label_values(&[p.topic.as_str(), &p.partition.to_string()])
                .set(secs);
        }
    }
}

/// The source's next event, or only its next rebalance event when `messages` is false.
async fn next_source_event(
    source: &mut dyn Source,
    messages: bool,
) -> Result<SourceEvent, SourceError> {
    if messages {
        source.next_event().await
    } else {
        source.next_rebalance().await
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod order_tests;
