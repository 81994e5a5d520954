//! Splunk HTTP Event Collector sink: the event endpoint (JSON envelope per record, the
//! default) or the raw endpoint, gzip, TLS via rustls, and indexer acknowledgement.
//!
//! Design decision: the pipeline calls [`Sink::send`] once per batch, in order, and retries a
//! `Retryable` batch as a whole. To keep throughput with indexer acknowledgement, one batch is
//! split into requests of at most `max_content_length` bytes sent `concurrency` at a time, and
//! `Delivered` is returned only when every request is accepted (and, with ack on, indexed).
//! Which records of the current batch are already done survives a `Retryable` return (the
//! pipeline resends the identical batch), so a retry resends only what Splunk does not have:
//! duplicates come only from ack timeouts and are counted. Authentication and configuration
//! errors are `Retryable` too, never rejections: the data waits while an operator fixes them.
//! Layout: [`config`] → [`encoder`] → [`request`] → [`service`] (status table) → [`ack`].
#![forbid(unsafe_code)]

pub mod ack;
pub mod config;
pub mod encoder;
pub mod request;
pub mod service;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entrastream_sink::{
    BatchProgress, BuildError, Coalesce, EncodedBatch, NdjsonEncoder, Outcome, RecordEncoder,
    RejectReason, Rejection, RetryReason, Sink, SinkError,
};
use entrastream_sink_http::Refused;
use entrastream_telemetry::SinkStats;
use futures_util::StreamExt;

pub use config::{Config, HecApi, TlsOptions, default_sourcetype};
use entrastream_entra::Schema;
use request::Chunk;
use service::{Class, HecService};

/// Counters of one HEC sink (also readable by tests and `check-sinks`).
#[derive(Debug, Default)]
pub struct HecMetrics {
    /// Requests by `status/code` label (`200`, `503`, `network`, …).
    pub requests: Mutex<BTreeMap<String, u64>>,
    /// Bytes of request bodies before gzip.
    pub bytes_uncompressed: AtomicU64,
    /// Bytes put on the wire.
    pub bytes_sent: AtomicU64,
    /// Records accepted (indexed when ack is on).
    pub records_delivered: AtomicU64,
    /// Records dead-lettered.
    pub records_rejected: AtomicU64,
    /// Records resent after an ack timeout (possible duplicates in Splunk).
    pub duplicates: AtomicU64,
    /// `send` calls that returned `Retryable`.
    pub retries: AtomicU64,
    /// Acks being waited for right now.
    pub pending_acks: AtomicU64,
    /// Sum of request latencies in microseconds, and their count.
    pub latency_micros_sum: AtomicU64,
    /// Number of timed requests.
    pub latency_count: AtomicU64,
    /// False while the last attempt failed.
    pub healthy: AtomicBool,
}

impl HecMetrics {
    fn count(&self, label: String) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(label).or_default() += 1;
    }

    /// Requests answered with this label.
    pub fn requests_with(&self, label: &str) -> u64 {
        let m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        m.get(label).copied().unwrap_or(0)
    }
}

/// Result of [`HecSink::probe`].
#[derive(Debug, Clone)]
pub struct Probe {
    /// HEC answered at all.
    pub reachable: bool,
    /// The token was accepted (`None` = could not tell).
    pub authenticated: Option<bool>,
    /// What to fix, when something failed.
    pub problem: Option<String>,
}

/// The Splunk HEC sink.
#[derive(Debug)]
pub struct HecSink {
    name: String,
    cfg: Config,
    encoder: Arc<dyn RecordEncoder>,
    service: HecService,
    metrics: Arc<HecMetrics>,
    stats: SinkStats,
    progress: Option<BatchProgress>,
    last_alert: Option<Instant>,
}

/// Why a send is retried when `indexer_ack = true` and Splunk answers without an ackId.
pub const ACK_OFF: &str = "Splunk HEC accepted the request without an ackId although indexer_ack = true: indexer acknowledgement is off on this token, so nothing can be confirmed as indexed — enable indexer acknowledgement on the token (Settings > Data inputs > HTTP Event Collector > Edit > Enable indexer acknowledgement) or set indexer_ack = false; until then the records are resent and Splunk may hold duplicates";

/// How often the "operator needed" line is logged while the condition lasts.
const ALERT_EVERY: Duration = Duration::from_secs(60);

enum Step {
    Done(Chunk),
    /// A record refused for good; its reason's code is the
    /// `entrastream_sink_dead_lettered_total` label.
    Reject(Rejection),
    RejectAndResend(Rejection, Option<Chunk>),
    Again(Vec<Chunk>),
    Ack(u64, Chunk),
    Failed(RetryReason),
}

impl HecSink {
    /// Builds the sink named `name` (metric label) sending records in `schema` (validates the
    /// settings, builds the HTTP client).
    pub fn new(name: impl Into<String>, schema: Schema, cfg: Config) -> Result<Self, BuildError> {
        let name = name.into();
        cfg.validate()
            .map_err(|e| BuildError::Config(e.to_string()))?;
        let encoder: Arc<dyn RecordEncoder> = match cfg.api {
            HecApi::Event => Arc::new(encoder::HecEventEncoder::new(
                schema,
                cfg.host.as_deref(),
                cfg.source.as_deref(),
                cfg.effective_sourcetype(schema),
                cfg.index.as_deref(),
            )),
            HecApi::Raw => Arc::new(NdjsonEncoder { schema }),
        };
        let service = HecService::new(&name, schema, &cfg)?;
        let metrics = Arc::new(HecMetrics::default());
        metrics.healthy.store(true, Ordering::Relaxed);
        Ok(HecSink {
            stats: SinkStats::detached(&name),
            name,
            cfg,
            encoder,
            service,
            metrics,
            progress: None,
            last_alert: None,
        })
    }

    /// Records into these `/metrics` series (from `Metrics::sink_stats`) from now on.
    pub fn with_stats(mut self, stats: SinkStats) -> Self {
        self.stats = stats;
        self
    }

    /// The sink's counters.
    pub fn metrics(&self) -> Arc<HecMetrics> {
        self.metrics.clone()
    }

    /// What `check-sinks` prints: health endpoint, then an authenticated ack-less probe.
    pub async fn probe(&self) -> Probe {
        let mut p = Probe {
            reachable: true,
            authenticated: None,
            problem: None,
        };
        match self.service.health().await {
            Ok(()) => {}
            Err(SinkError::Unreachable(e)) => {
                p.reachable = false;
                p.problem = Some(format!(
                    "{e} — check endpoint (scheme, host, port 8088), firewalls, and tls.ca_file for a private CA"
                ));
                return p;
            }
            Err(e) => p.problem = Some(e.to_string()),
        }
        match self.service.auth_probe().await {
            Ok(()) => p.authenticated = Some(true),
            Err((auth, m)) => {
                p.authenticated = auth;
                p.problem = Some(m.to_string());
            }
        }
        p
    }

    /// The request channel GUID of this instance.
    pub fn channel(&self) -> &str {
        self.service.channel()
    }

    fn alert(&mut self, msg: &str) {
        let due = self.last_alert.is_none_or(|t| t.elapsed() >= ALERT_EVERY);
        if due {
            self.last_alert = Some(Instant::now());
            tracing::error!(sink = %self.name, "Splunk HEC refuses the data; it is kept and retried, nothing is dropped: {msg}");
        }
    }

    async fn one_request(&self, batch: &EncodedBatch, chunk: Chunk) -> Step {
        let body = request::body(batch, &chunk);
        let raw_len = body.len() as u64;
        let started = Instant::now();
        let answer = self.service.post(body).await;
        let elapsed = started.elapsed();
        let m = &self.metrics;
        m.latency_micros_sum
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        m.latency_count.fetch_add(1, Ordering::Relaxed);
        let (status, text, wire) = match answer {
            Ok(a) => a,
            Err(e) => {
                m.count("network".into());
                self.stats.request("network", None, elapsed.as_secs_f64());
                return Step::Failed(RetryReason::Unreachable(e.0));
            }
        };
        m.bytes_uncompressed.fetch_add(raw_len, Ordering::Relaxed);
        m.bytes_sent.fetch_add(wire as u64, Ordering::Relaxed);
        self.stats.body(raw_len as usize, wire);
        let (class, code) = service::classify_with_code(status, &text);
        // The code comes from the server: telemetry caps it to a bounded label (one place).
        self.stats
            .request(&status.to_string(), code, elapsed.as_secs_f64());
        m.count(match code {
            Some(_) => format!("{status}/{}", entrastream_telemetry::hec_code_label(code)),
            None => status.to_string(),
        });
        match class {
            Class::Accepted(Some(id)) if self.cfg.indexer_ack => Step::Ack(id, chunk),
            Class::Accepted(None) if self.cfg.indexer_ack => {
                // Splunk took the data but will never confirm it is indexed: with the token's
                // acknowledgement off, "accepted" is not the durable answer the contract needs.
                // The records are resent (each time, Splunk may index them again).
                m.duplicates
                    .fetch_add(chunk.indices.len() as u64, Ordering::Relaxed);
                self.stats.duplicates(chunk.indices.len() as u64);
                Step::Failed(RetryReason::Operator(ACK_OFF.to_string()))
            }
            Class::Accepted(_) => Step::Done(chunk),
            Class::Retry(msg) => Step::Failed(RetryReason::Unavailable(msg)),
            Class::Operator(msg) => Step::Failed(RetryReason::Operator(msg)),
            Class::InvalidEvent { number, reason } => match chunk.indices.get(number) {
                Some(&bad) => {
                    // Reject only the bad event; resend the others (none is indexed when
                    // Splunk refuses a request).
                    let rest: Vec<usize> = chunk
                        .indices
                        .iter()
                        .copied()
                        .filter(|&i| i != bad)
                        .collect();
                    Step::RejectAndResend(
                        Rejection {
                            index: bad,
                            reason: RejectReason::Invalid(reason),
                        },
                        (!rest.is_empty()).then_some(Chunk { indices: rest }),
                    )
                }
                None => bisect(chunk, RejectReason::Invalid(reason)),
            },
            Class::BadData(msg) => bisect(
                chunk,
                RejectReason::Invalid(format!("Splunk HEC rejected the event: {msg}")),
            ),
            Class::TooLarge => bisect(
                chunk,
                RejectReason::TooLarge(
                    "HTTP 413: this single event is larger than Splunk's [http_input] max_content_length".into(),
                ),
            ),
        }
    }
}

/// A request refused for its content: halves resent on their own (the shared rule of the HTTP
/// sinks, [`entrastream_sink_http::split_refused`]), a single record dead-lettered with `reason`.
fn bisect(chunk: Chunk, reason: RejectReason) -> Step {
    match entrastream_sink_http::split_refused(&chunk.indices) {
        Refused::Halves(a, b) => Step::Again(vec![Chunk { indices: a }, Chunk { indices: b }]),
        Refused::One(index) => Step::Reject(Rejection { index, reason }),
        Refused::Nothing => Step::Done(chunk),
    }
}

#[async_trait]
impl Sink for HecSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    /// Up to `concurrency` requests' worth of the batches already queued behind the next one
    /// (no waiting) go into one `send`, so that its requests are sent (and gzipped) in
    /// parallel and share one ack round trip; with 1 MiB pipeline batches a send would
    /// otherwise be one request at a time. Every merged batch is still acknowledged only when
    /// that send is `Delivered` (with indexer ack on: indexed).
    fn coalesce(&self) -> Option<Coalesce> {
        Some(Coalesce {
            min_bytes: 0,
            max_bytes: self
                .cfg
                .max_content_length
                .saturating_mul(self.cfg.concurrency),
            max_wait: Duration::ZERO,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let mut progress = BatchProgress::resume(self.progress.take(), batch);
        let todo = progress.pending();
        let (mut queue, oversize) = request::plan(batch, todo, self.cfg.max_content_length);
        self.stats.dead_lettered("oversize", oversize.len() as u64);
        for r in oversize {
            progress.reject(r);
        }
        let mut failure: Option<RetryReason> = None;
        let mut pending = Vec::new();
        while !queue.is_empty() && failure.is_none() {
            let wave = std::mem::take(&mut queue);
            let this = &*self;
            let steps: Vec<Step> = futures_util::stream::iter(wave)
                .map(|c| this.one_request(batch, c))
                .buffer_unordered(self.cfg.concurrency)
                .collect()
                .await;
            for step in steps {
                match step {
                    Step::Done(c) => {
                        for i in c.indices {
                            progress.done[i] = true;
                        }
                    }
                    Step::Reject(r) => {
                        self.stats.dead_lettered(r.reason.code(), 1);
                        progress.reject(r);
                    }
                    Step::RejectAndResend(r, rest) => {
                        self.stats.dead_lettered(r.reason.code(), 1);
                        progress.reject(r);
                        queue.extend(rest);
                    }
                    Step::Again(chunks) => queue.extend(chunks),
                    Step::Ack(id, c) => pending.push(ack::PendingAck {
                        ack_id: id,
                        sent_at: Instant::now(),
                        item: c,
                    }),
                    Step::Failed(reason) => {
                        // The first failure an operator must fix wins over transient ones.
                        if failure.as_ref().is_none_or(|f| !f.needs_operator()) {
                            failure = Some(reason);
                        }
                    }
                }
            }
        }
        if !pending.is_empty() {
            self.metrics
                .pending_acks
                .fetch_add(pending.len() as u64, Ordering::Relaxed);
            let n = pending.len() as u64;
            self.stats.pending_acks(n as i64);
            let res = ack::wait_for_acks(
                &self.service,
                pending,
                self.cfg.ack_timeout,
                self.cfg.ack_poll_interval,
            )
            .await;
            self.metrics.pending_acks.fetch_sub(n, Ordering::Relaxed);
            self.stats.pending_acks(-(n as i64));
            for c in res.acked {
                for i in c.indices {
                    progress.done[i] = true;
                }
            }
            if !res.timed_out.is_empty() {
                let records: usize = res.timed_out.iter().map(|c| c.indices.len()).sum();
                self.metrics
                    .duplicates
                    .fetch_add(records as u64, Ordering::Relaxed);
                self.stats.duplicates(records as u64);
                tracing::warn!(
                    sink = %self.name,
                    requests = res.timed_out.len(),
                    records,
                    last_poll_error = res.last_error.as_deref().unwrap_or("none"),
                    "indexer ack not received within ack_timeout; resending (Splunk may now hold duplicates)"
                );
                if failure.is_none() {
                    failure = Some(RetryReason::Unconfirmed(format!(
                        "{} request(s) not acknowledged within {:?}; resending",
                        res.timed_out.len(),
                        self.cfg.ack_timeout
                    )));
                }
            }
        }
        if let Some(reason) = failure {
            self.metrics.retries.fetch_add(1, Ordering::Relaxed);
            self.metrics.healthy.store(false, Ordering::Relaxed);
            self.stats.healthy(false);
            if reason.needs_operator() {
                self.alert(&reason.to_string());
            }
            self.progress = Some(progress);
            return Outcome::Retryable(reason);
        }
        self.stats.healthy(true);
        self.stats.batch(batch.records.len());
        if !self.metrics.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(sink = %self.name, "Splunk HEC accepts data again");
            self.last_alert = None;
        }
        let rejected = progress.rejections.len() as u64;
        self.metrics
            .records_rejected
            .fetch_add(rejected, Ordering::Relaxed);
        self.metrics
            .records_delivered
            .fetch_add(batch.records.len() as u64 - rejected, Ordering::Relaxed);
        if progress.rejections.is_empty() {
            Outcome::Delivered
        } else {
            let mut r = progress.rejections;
            r.sort_by_key(|r| r.index);
            Outcome::Rejected(r)
        }
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        self.service.health().await?;
        self.service.auth_probe().await.map_err(|(_, e)| e)
    }
}
