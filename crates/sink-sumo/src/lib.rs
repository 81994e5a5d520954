//! Sumo Logic HTTP source sink: NDJSON (one record per line) POSTed to the source URL, gzip,
//! `X-Sumo-*` metadata headers, requests never above 1 MB uncompressed.
//!
//! Design decision: the source URL *is* the credential, so it lives in a [`Secret`], is never
//! formatted, and every transport error is stripped of its URL before it is logged or
//! returned. As in the HEC sink, a batch is split into requests (grouped by category, since
//! `X-Sumo-Category` is per request), sent `concurrency` at a time, and the records already
//! accepted survive a `Retryable` return so the pipeline's retry resends only the rest.
//! 401/403/404 (bad or deleted URL) are `Retryable` plus an alert, never rejections.
//!
//! No value from the data may stall the sink: the record's category reaches `X-Sumo-Category`
//! only through [`sumo_category`] (an allow-list with a fallback), the configured headers are
//! checked once at start-up, and a request still refused for its content (it cannot be built,
//! or Sumo answers 400/413/431) is split down to the one record it is about, which is
//! dead-lettered with the reason. Redirects are not followed: a 3xx is an error.
//! Layout, as the HEC sink's: [`config`] → [`encoder`] → `request` (batch → requests) →
//! `service` (HTTP, answers) → this file (the `Sink`: send, retry bookkeeping, metrics).
#![forbid(unsafe_code)]

pub mod config;
pub mod encoder;
mod request;
mod service;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entrastream_entra::Schema;
use entrastream_sink::{
    BatchProgress, BuildError, Coalesce, EncodedBatch, NdjsonEncoder, Outcome, RecordEncoder,
    RejectReason, Rejection, RetryReason, Sink, SinkError,
};
use entrastream_sink_http::{
    Refused, client_builder, excerpt, gzip_off_task, is_content_refusal, ndjson_body, read_bounded,
    redirect_reason, split_refused, transport_error,
};
use entrastream_telemetry::SinkStats;

pub use config::{Config, SUMO_MAX_REQUEST, SUMO_MIN_REQUEST};
pub use encoder::{FALLBACK_CATEGORY, default_category, sumo_category};
use futures_util::StreamExt;
use request::Chunk;
use service::Answer;

/// Counters of one Sumo sink.
#[derive(Debug, Default)]
pub struct SumoMetrics {
    /// Requests answered 2xx.
    pub requests_ok: AtomicU64,
    /// Requests answered 429.
    pub throttled: AtomicU64,
    /// Requests failing otherwise (status or network).
    pub requests_failed: AtomicU64,
    /// Records possibly duplicated (resent after a 408).
    pub duplicates: AtomicU64,
    /// Bytes before gzip.
    pub bytes_uncompressed: AtomicU64,
    /// Bytes on the wire.
    pub bytes_sent: AtomicU64,
    /// Largest request body before gzip.
    pub max_request: AtomicU64,
    /// Records accepted.
    pub records_delivered: AtomicU64,
    /// Records dead-lettered (refused for their content).
    pub records_rejected: AtomicU64,
    /// False while the last attempt failed.
    pub healthy: AtomicBool,
}

enum Step {
    Done(Chunk),
    Split(Vec<Chunk>),
    /// A record refused for good; its reason's code is the
    /// `entrastream_sink_dead_lettered_total` label.
    Reject(Rejection),
    Failed(RetryReason),
}

/// The Sumo Logic HTTP source sink.
pub struct SumoSink {
    name: String,
    schema: Schema,
    cfg: Config,
    encoder: Arc<NdjsonEncoder>,
    client: reqwest::Client,
    metrics: Arc<SumoMetrics>,
    stats: SinkStats,
    progress: Option<BatchProgress>,
    last_alert: Option<Instant>,
}

impl fmt::Debug for SumoSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SumoSink")
            .field("name", &self.name)
            .field("schema", &self.schema)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl SumoSink {
    /// Builds the sink named `name` (metric label) sending records in `schema`.
    pub fn new(
        name: impl Into<String>,
        schema: Schema,
        mut cfg: Config,
    ) -> Result<Self, BuildError> {
        let name = name.into();
        let u = cfg.url.expose();
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(BuildError::Config(
                "url must be an http(s):// URL (value not shown: it is a secret)".into(),
            ));
        }
        if reqwest::Url::parse(u).is_err() {
            return Err(BuildError::Config(
                "url is not a valid URL (value not shown: it is a secret)".into(),
            ));
        }
        cfg.max_request_bytes = cfg.max_request_bytes.clamp(1024, SUMO_MAX_REQUEST);
        cfg.concurrency = cfg.concurrency.max(1);
        let client = client_builder(cfg.request_timeout)
            .build()
            .map_err(|e| BuildError::Client(format!("HTTP client: {}", transport_error(e))))?;
        let metrics = Arc::new(SumoMetrics::default());
        metrics.healthy.store(true, Ordering::Relaxed);
        let sink = SumoSink {
            encoder: Arc::new(NdjsonEncoder { schema }),
            stats: SinkStats::detached(&name),
            name,
            schema,
            cfg,
            client,
            metrics,
            progress: None,
            last_alert: None,
        };
        sink.check_configured_headers()?;
        Ok(sink)
    }

    /// Records into these `/metrics` series (from `Metrics::sink_stats`) from now on.
    pub fn with_stats(mut self, stats: SinkStats) -> Self {
        self.stats = stats;
        self
    }

    /// The sink's counters.
    pub fn metrics(&self) -> Arc<SumoMetrics> {
        self.metrics.clone()
    }

    /// A request refused for its content: halves resent on their own, a single record
    /// dead-lettered with `reason`.
    fn refused(chunk: Chunk, reason: RejectReason) -> Step {
        match split_refused(&chunk.indices) {
            Refused::Halves(a, b) => Step::Split(vec![
                Chunk {
                    category: chunk.category.clone(),
                    indices: a,
                },
                Chunk {
                    category: chunk.category,
                    indices: b,
                },
            ]),
            Refused::One(index) => Step::Reject(Rejection { index, reason }),
            Refused::Nothing => Step::Done(chunk),
        }
    }

    async fn one_request(&self, batch: &EncodedBatch, chunk: Chunk) -> Step {
        let body = ndjson_body(batch, &chunk.indices);
        let m = &self.metrics;
        let (status, text) = match self.post(&chunk.category, body).await {
            Answer::Status(s, text) => (s, text),
            Answer::Unbuildable(e) => {
                m.requests_failed.fetch_add(1, Ordering::Relaxed);
                let reason = format!(
                    "the request for this record cannot be built (its metadata is not a valid HTTP header value): {e}"
                );
                return Self::refused(chunk, RejectReason::InvalidMetadata(reason));
            }
            Answer::Transport(e) => {
                m.requests_failed.fetch_add(1, Ordering::Relaxed);
                return Step::Failed(RetryReason::Unreachable(e));
            }
        };
        if (200..300).contains(&status) {
            m.requests_ok.fetch_add(1, Ordering::Relaxed);
            return Step::Done(chunk);
        }
        m.requests_failed.fetch_add(1, Ordering::Relaxed);
        match status {
            429 => {
                m.throttled.fetch_add(1, Ordering::Relaxed);
                Step::Failed(RetryReason::Unavailable(
                    "HTTP 429: Sumo Logic is throttling (ingest quota); backing off".into(),
                ))
            }
            408 => {
                // Sumo may have accepted the data before timing out: the resend may duplicate.
                m.duplicates
                    .fetch_add(chunk.indices.len() as u64, Ordering::Relaxed);
                self.stats.duplicates(chunk.indices.len() as u64);
                Step::Failed(RetryReason::Unavailable(
                    "HTTP 408: request timed out at Sumo Logic (resend may duplicate)".into(),
                ))
            }
            300..=399 => Step::Failed(RetryReason::Operator(redirect_reason(status, "Sumo Logic"))),
            s if is_content_refusal(s) => {
                let reason = match s {
                    413 => RejectReason::TooLarge(format!(
                        "HTTP {s}: record too large for Sumo Logic: {text}"
                    )),
                    431 => RejectReason::TooLarge(format!(
                        "HTTP {s}: the request's headers are too large for Sumo Logic: {text}"
                    )),
                    _ => RejectReason::Invalid(format!(
                        "HTTP {s}: Sumo Logic refused the request as malformed: {text}"
                    )),
                };
                Self::refused(chunk, reason)
            }
            401 | 403 | 404 => Step::Failed(RetryReason::Operator(format!(
                "HTTP {status}: the Sumo Logic HTTP source URL is invalid or was deleted: set a valid url_env / url_file (the data is kept)"
            ))),
            s => Step::Failed(RetryReason::Unavailable(format!(
                "HTTP {s} from Sumo Logic; retrying: {text}"
            ))),
        }
    }
}

#[async_trait]
impl Sink for SumoSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    /// Requests between 100 KB and the 1 MB limit: small pipeline batches (a quiet tenant, a
    /// short linger) are merged until they reach [`SUMO_MIN_REQUEST`] or `batch_timeout`
    /// passes; merging stops at `concurrency` × `max_request_bytes` (what is already queued
    /// then fills the concurrent requests of one send), and [`SumoSink::send`] cuts whatever
    /// it gets into as few requests of at most `max_request_bytes` as possible, of even size.
    fn coalesce(&self) -> Option<Coalesce> {
        Some(Coalesce {
            min_bytes: SUMO_MIN_REQUEST.min(self.cfg.max_request_bytes),
            max_bytes: self
                .cfg
                .max_request_bytes
                .saturating_mul(self.cfg.concurrency),
            max_wait: self.cfg.batch_timeout,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let mut progress = BatchProgress::resume(self.progress.take(), batch);
        let todo = progress.pending();
        let (mut queue, oversize) = self.plan(batch, &todo);
        self.stats.dead_lettered("oversize", oversize.len() as u64);
        for r in oversize {
            progress.reject(r);
        }
        let mut failure: Option<RetryReason> = None;
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
                    Step::Done(c) => c.indices.iter().for_each(|&i| progress.done[i] = true),
                    Step::Split(c) => queue.extend(c),
                    Step::Reject(r) => {
                        self.stats.dead_lettered(r.reason.code(), 1);
                        progress.reject(r);
                    }
                    Step::Failed(reason) => {
                        // The first failure an operator must fix wins over transient ones.
                        if failure.as_ref().is_none_or(|f| !f.needs_operator()) {
                            failure = Some(reason);
                        }
                    }
                }
            }
        }
        if let Some(reason) = failure {
            self.metrics.healthy.store(false, Ordering::Relaxed);
            self.stats.healthy(false);
            if reason.needs_operator()
                && self
                    .last_alert
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
            {
                self.last_alert = Some(Instant::now());
                tracing::error!(sink = %self.name, "Sumo Logic refuses the data; it is kept and retried, nothing is dropped: {reason}");
            }
            self.progress = Some(progress);
            return Outcome::Retryable(reason);
        }
        self.stats.healthy(true);
        self.stats.batch(batch.records.len());
        if !self.metrics.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(sink = %self.name, "Sumo Logic accepts data again");
            self.last_alert = None;
        }
        let rejected = progress.rejections.len();
        self.metrics
            .records_rejected
            .fetch_add(rejected as u64, Ordering::Relaxed);
        self.metrics
            .records_delivered
            .fetch_add((batch.records.len() - rejected) as u64, Ordering::Relaxed);
        if rejected == 0 {
            Outcome::Delivered
        } else {
            let mut r = progress.rejections;
            r.sort_by_key(|r| r.index);
            Outcome::Rejected(r)
        }
    }

    /// Sends one clearly marked test event (Sumo has no health endpoint).
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        match self.probe().await {
            (true, Some(true), _) => Ok(()),
            (reachable, _, problem) => {
                let problem = problem.unwrap_or_else(|| "check failed".into());
                Err(if reachable {
                    SinkError::Refused(problem)
                } else {
                    SinkError::Unreachable(problem)
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrastream_secret::Secret;

    #[test]
    fn categories() {
        assert_eq!(default_category("SignInLogs"), "azure/entra/signin");
        assert_eq!(default_category("AuditLogs"), "azure/entra/audit");
        assert_eq!(default_category("NewThing"), "azure/entra/newthing");
    }

    #[test]
    fn debug_hides_url() {
        let s = SumoSink::new(
            "s",
            Schema::Native,
            Config::new(Secret::new("https://x/receiver/v1/http/SECRETTOKEN")),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("SECRETTOKEN"));
    }
}
