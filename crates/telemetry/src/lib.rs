//! Metrics, health and logs: the observable surface of the daemon.
//!
//! Design decision: every metric lives in one [`Metrics`] struct registered in its own
//! `prometheus::Registry` (no global default registry), so tests can run several pipelines in
//! one process and compare scrapes. Label values are bounded sets only (category, sink name,
//! reason code, partition) and never carry a secret or a record field. [`Health`] is the state
//! behind `/readyz`, written by the pipeline and read by the admin server.
//!
//! Design decision: a label value that comes from the data or from a peer (a record's
//! category, an HTTP status, Splunk's HEC `code`) goes through a function here that maps it
//! onto a fixed set with an `other` bucket ([`category_label`], [`http_status_label`],
//! [`hec_code_label`]), so no input can grow the number of series. The ceilings are the
//! `*_SERIES_*` constants, documented in docs/operations.md. The HEC `code` is capped here
//! only ([`hec_code_label`]); the sinks pass the peer's value as it came.
//!
//! Design decision: metric registration cannot fail at run time. Every family's name, help,
//! labels and buckets is a constant in [`spec`], built by `const fn`s that apply the rules the
//! `prometheus` crate checks (and that the names are distinct), so a bad definition does not
//! compile; the private `families` module creates and registers them, and a unit test builds every family
//! and runs the scrape through `promtool check metrics`. We keep the `prometheus` crate rather
//! than `prometheus-client` on purpose: the exposition text is a contract (the e2e tests,
//! `deploy/monitoring`'s alerts and dashboards, `promtool check metrics`), and
//! `prometheus-client` would change it: it appends `_total` to counter names itself, writes
//! OpenMetrics (`# EOF`, `# TYPE` without the suffix, other content type) and orders labels as
//! declared instead of sorting them, and its families are typed by label structs that every
//! sink and source crate would have to adopt at once.
#![forbid(unsafe_code)]

mod archive;
mod buffers;
mod families;
mod process;
pub mod spec;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use archive::{ArchiveMetrics, ArchiveSinkStats};
pub use buffers::{BufferMetrics, BufferProbe, BufferReading};
use families::{counter, counter_vec, float_gauge_vec, gauge, gauge_vec, histogram, histogram_vec};
pub use process::{BUILD_INFO, BuildInfo, build_info, register_process_metrics, set_build_info};
pub use prometheus::IntCounter;
use prometheus::{Histogram, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Registry};

/// Every metric the daemon exports (prefix `entrastream_`).
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Messages read from the source, by partition.
    pub messages_in: IntCounterVec,
    /// Message bytes read from the source, by partition.
    pub bytes_in: IntCounterVec,
    /// Records parsed, by category.
    pub records_in: IntCounterVec,
    /// Records accepted by a sink, by sink and category.
    pub records_out: IntCounterVec,
    /// Encoded bytes accepted by a sink, by sink.
    pub bytes_out: IntCounterVec,
    /// Records (or unsplittable message parts) sent to the dead-letter sink, by reason code.
    pub dead_lettered: IntCounterVec,
    /// Time of one sink send, by sink and outcome.
    pub sink_request_duration: HistogramVec,
    /// Retries of a batch after a retryable failure, by sink.
    pub sink_retries: IntCounterVec,
    /// Bytes of messages and encoded batches in flight.
    pub in_flight_bytes: IntGauge,
    /// Threads that parse and encode messages.
    pub parse_threads: IntGauge,
    /// Messages handed to the parse threads and not yet added to a batch.
    pub parse_queue_messages: IntGauge,
    /// Partitions currently paused for backpressure.
    pub paused_partitions: IntGauge,
    /// Assigned partitions.
    pub assigned_partitions: IntGauge,
    /// Times the byte budget filled and partitions were paused.
    pub partition_pauses: IntCounter,
    /// Last committed Kafka offset (exclusive, as Kafka stores it), by partition.
    pub committed_offset: IntGaugeVec,
    /// Messages behind the broker's high watermark, by partition.
    pub consumer_lag_messages: IntGaugeVec,
    /// Seconds between now and the enqueue time of the last processed message, by partition.
    pub consumer_lag_seconds: prometheus::GaugeVec,
    /// Successful checkpoint commits.
    pub checkpoint_commits: IntCounter,
    /// Failed checkpoint commits.
    pub checkpoint_commit_failures: IntCounter,
    /// Parse + encode time per message.
    pub process_duration: Histogram,
    /// Rotated files a file sink removed to keep its `max_files`, by sink.
    pub file_rotated_files_removed: IntCounterVec,
    /// Protocol-level metrics of the network sinks (Splunk HEC, Sumo Logic), by sink.
    pub sinks: SinkMetrics,
    /// The disk buffers in front of sinks (`entrastream_buffer_*`), by sink, read on scrape.
    pub buffers: BufferMetrics,
    /// Transport metrics of the syslog sinks, by sink.
    pub syslog: SyslogMetrics,
    /// Storage metrics of the archive sinks, by sink.
    pub archive: ArchiveMetrics,
}

/// Protocol-level metrics of the network sinks (Splunk HEC, Sumo Logic), labelled by sink name.
/// A sink gets its share through [`Metrics::sink_stats`]; retries are the pipeline's
/// `entrastream_sink_retries_total`, which every sink has.
#[derive(Clone, Debug)]
pub struct SinkMetrics {
    /// HTTP requests by sink, HTTP status (or `network`) and vendor code (HEC `code`, else `none`).
    pub requests: IntCounterVec,
    /// Request body bytes before gzip, by sink.
    pub request_bytes: IntCounterVec,
    /// Request body bytes on the wire (after gzip when it is on), by sink.
    pub wire_bytes: IntCounterVec,
    /// Request body size before gzip, by sink.
    pub request_size: HistogramVec,
    /// Records per batch handed to the sink, by sink.
    pub batch_records: HistogramVec,
    /// Time of one HTTP request, by sink.
    pub request_duration: HistogramVec,
    /// Requests waiting for a Splunk indexer acknowledgement, by sink.
    pub pending_acks: IntGaugeVec,
    /// Records the sink refused for good (sent to the dead-letter sink), by sink and reason.
    pub dead_lettered: IntCounterVec,
    /// Records resent after an ack timeout or a 408 (the peer may hold them twice), by sink.
    pub duplicates: IntCounterVec,
    /// 1 while the sink's last attempt succeeded, 0 while it fails, by sink.
    pub healthy: IntGaugeVec,
}

impl SinkMetrics {
    fn new(r: Option<&Registry>) -> Self {
        SinkMetrics {
            requests: counter_vec(r, &spec::SINK_HTTP_REQUESTS),
            request_bytes: counter_vec(r, &spec::SINK_HTTP_REQUEST_BYTES),
            wire_bytes: counter_vec(r, &spec::SINK_HTTP_WIRE_BYTES),
            request_size: histogram_vec(r, &spec::SINK_HTTP_REQUEST_SIZE),
            batch_records: histogram_vec(r, &spec::SINK_BATCH_RECORDS),
            request_duration: histogram_vec(r, &spec::SINK_HTTP_REQUEST_DURATION),
            pending_acks: gauge_vec(r, &spec::SINK_PENDING_ACKS),
            dead_lettered: counter_vec(r, &spec::SINK_DEAD_LETTERED),
            duplicates: counter_vec(r, &spec::SINK_DUPLICATES),
            healthy: gauge_vec(r, &spec::SINK_HEALTHY),
        }
    }
}

/// One sink's share of [`SinkMetrics`]: what a Splunk HEC or Sumo Logic sink records. The sink
/// name is the only label it sets besides bounded status/code/reason values, so nothing secret
/// (token, URL) can reach `/metrics` through it.
#[derive(Clone, Debug)]
pub struct SinkStats {
    sink: String,
    m: SinkMetrics,
    request_bytes: IntCounter,
    wire_bytes: IntCounter,
    request_size: Histogram,
    batch_records: Histogram,
    request_duration: Histogram,
    pending_acks: IntGauge,
    duplicates: IntCounter,
    healthy: IntGauge,
}

impl SinkStats {
    fn bound(sink: &str, m: SinkMetrics) -> Self {
        let l = &[sink];
        let s = SinkStats {
            sink: sink.to_string(),
            request_bytes: m.request_bytes.with_label_values(l),
            wire_bytes: m.wire_bytes.with_label_values(l),
            request_size: m.request_size.with_label_values(l),
            batch_records: m.batch_records.with_label_values(l),
            request_duration: m.request_duration.with_label_values(l),
            pending_acks: m.pending_acks.with_label_values(l),
            duplicates: m.duplicates.with_label_values(l),
            healthy: m.healthy.with_label_values(l),
            m,
        };
        s.healthy.set(1);
        s
    }

    /// Stats that no registry exports (a sink built for `check-sinks` or a unit test).
    pub fn detached(sink: &str) -> Self {
        Self::bound(sink, SinkMetrics::new(None))
    }

    /// One HTTP request: `status` is the HTTP status or `network`; `code` the vendor's code.
    /// Both come from the peer, so both are mapped onto bounded label sets.
    pub fn request(&self, status: &str, code: Option<u64>, seconds: f64) {
        let status = http_status_label(status);
        let code = hec_code_label(code);
        self.m
            .requests
            .with_label_values(&[self.sink.as_str(), &status, &code])
            .inc();
        self.request_duration.observe(seconds);
    }

    /// One request body: its size before gzip and on the wire.
    pub fn body(&self, uncompressed: usize, wire: usize) {
        self.request_bytes.inc_by(uncompressed as u64);
        self.wire_bytes.inc_by(wire as u64);
        self.request_size.observe(uncompressed as f64);
    }

    /// One batch handed to the sink.
    pub fn batch(&self, records: usize) {
        self.batch_records.observe(records as f64);
    }

    /// Requests now waiting for an acknowledgement (positive) or no longer (negative).
    pub fn pending_acks(&self, delta: i64) {
        self.pending_acks.add(delta);
    }

    /// Records refused for good; `reason` is a fixed code (`oversize`, `invalid_event`, …).
    pub fn dead_lettered(&self, reason: &'static str, records: u64) {
        self.m
            .dead_lettered
            .with_label_values(&[self.sink.as_str(), reason])
            .inc_by(records);
    }

    /// Records resent that the peer may already hold.
    pub fn duplicates(&self, records: u64) {
        self.duplicates.inc_by(records);
    }

    /// The sink's health (1/0).
    pub fn healthy(&self, ok: bool) {
        self.healthy.set(i64::from(ok));
    }
}

/// Transport metrics of the syslog sinks, labelled by sink name only. A syslog sink's refusals
/// and health go to the network sinks' `entrastream_sink_dead_lettered_total` and
/// `entrastream_sink_healthy`, so one alert covers every network sink.
#[derive(Clone, Debug)]
pub struct SyslogMetrics {
    /// Messages confirmed (RELP: acknowledged; TCP/TLS: written and flushed).
    pub messages: IntCounterVec,
    /// Bytes written, framing included, before TLS.
    pub bytes: IntCounterVec,
    /// Connections opened after the first.
    pub reconnects: IntCounterVec,
    /// Failed connection attempts.
    pub connect_failures: IntCounterVec,
    /// Records resent after their connection failed unconfirmed.
    pub resent_records: IntCounterVec,
    /// RELP `rsp 200` answers.
    pub relp_acks: IntCounterVec,
    /// RELP answers other than 200.
    pub relp_nacks: IntCounterVec,
    /// RELP messages sent and not yet acknowledged.
    pub relp_in_flight: IntGaugeVec,
    /// RELP messages the sink may have unacknowledged at most.
    pub relp_window: IntGaugeVec,
}

impl SyslogMetrics {
    fn new(r: Option<&Registry>) -> Self {
        SyslogMetrics {
            messages: counter_vec(r, &spec::SINK_SYSLOG_MESSAGES),
            bytes: counter_vec(r, &spec::SINK_SYSLOG_BYTES),
            reconnects: counter_vec(r, &spec::SINK_SYSLOG_RECONNECTS),
            connect_failures: counter_vec(r, &spec::SINK_SYSLOG_CONNECT_FAILURES),
            resent_records: counter_vec(r, &spec::SINK_SYSLOG_RESENT_RECORDS),
            relp_acks: counter_vec(r, &spec::SINK_SYSLOG_RELP_ACKS),
            relp_nacks: counter_vec(r, &spec::SINK_SYSLOG_RELP_NACKS),
            relp_in_flight: gauge_vec(r, &spec::SINK_SYSLOG_RELP_IN_FLIGHT),
            relp_window: gauge_vec(r, &spec::SINK_SYSLOG_RELP_WINDOW),
        }
    }
}

/// One syslog sink's share of [`SyslogMetrics`] (and of the network sinks' dead-letter and
/// health families). The sink name is its only label besides the fixed `reason` codes, so a
/// syslog sink adds at most [`SYSLOG_SERIES_PER_SINK_MAX`] series.
#[derive(Clone, Debug)]
pub struct SyslogSinkStats {
    sink: String,
    dead_lettered: IntCounterVec,
    messages: IntCounter,
    bytes: IntCounter,
    reconnects: IntCounter,
    connect_failures: IntCounter,
    resent_records: IntCounter,
    relp_acks: IntCounter,
    relp_nacks: IntCounter,
    relp_in_flight: IntGauge,
    relp_window: IntGauge,
    healthy: IntGauge,
}

/// The `reason` values a syslog sink dead-letters under (the sink seam's reason codes).
pub const SYSLOG_DEAD_LETTER_REASONS: [&str; 1] = ["too_large"];

/// Series one syslog sink adds at most: nine transport families, health, and one
/// dead-letter series per reason plus `other`.
pub const SYSLOG_SERIES_PER_SINK_MAX: usize = 9 + 1 + SYSLOG_DEAD_LETTER_REASONS.len() + 1;

impl SyslogSinkStats {
    fn bound(sink: &str, m: &SyslogMetrics, s: &SinkMetrics) -> Self {
        let l = &[sink];
        let stats = SyslogSinkStats {
            sink: sink.to_string(),
            dead_lettered: s.dead_lettered.clone(),
            messages: m.messages.with_label_values(l),
            bytes: m.bytes.with_label_values(l),
            reconnects: m.reconnects.with_label_values(l),
            connect_failures: m.connect_failures.with_label_values(l),
            resent_records: m.resent_records.with_label_values(l),
            relp_acks: m.relp_acks.with_label_values(l),
            relp_nacks: m.relp_nacks.with_label_values(l),
            relp_in_flight: m.relp_in_flight.with_label_values(l),
            relp_window: m.relp_window.with_label_values(l),
            healthy: s.healthy.with_label_values(l),
        };
        stats.healthy.set(1);
        stats
    }

    /// Stats that no registry exports (`check-sinks`, unit tests).
    pub fn detached(sink: &str) -> Self {
        Self::bound(sink, &SyslogMetrics::new(None), &SinkMetrics::new(None))
    }

    /// `messages` confirmed.
    pub fn sent(&self, messages: u64) {
        self.messages.inc_by(messages);
    }

    /// `bytes` written (framing included).
    pub fn bytes(&self, bytes: u64) {
        self.bytes.inc_by(bytes);
    }

    /// A connection opened after the first.
    pub fn reconnect(&self) {
        self.reconnects.inc();
    }

    /// A connection attempt failed.
    pub fn connect_failure(&self) {
        self.connect_failures.inc();
    }

    /// `records` to be sent again.
    pub fn resent(&self, records: u64) {
        self.resent_records.inc_by(records);
    }

    /// A RELP answer: acknowledged (200) or not.
    pub fn relp_answer(&self, ok: bool) {
        if ok {
            self.relp_acks.inc();
        } else {
            self.relp_nacks.inc();
        }
    }

    /// RELP messages now in flight (positive) or no longer (negative).
    pub fn relp_in_flight(&self, delta: i64) {
        self.relp_in_flight.add(delta);
    }

    /// The most RELP messages that may be unacknowledged at once.
    pub fn relp_window(&self, messages: u64) {
        self.relp_window
            .set(i64::try_from(messages).unwrap_or(i64::MAX));
    }

    /// Records refused for good; a reason outside [`SYSLOG_DEAD_LETTER_REASONS`] counts as
    /// `other`, so the series stay bounded.
    pub fn dead_lettered(&self, reason: &str, records: u64) {
        let reason = SYSLOG_DEAD_LETTER_REASONS
            .iter()
            .find(|r| **r == reason)
            .copied()
            .unwrap_or("other");
        self.dead_lettered
            .with_label_values(&[self.sink.as_str(), reason])
            .inc_by(records);
    }

    /// The sink's health (1/0).
    pub fn healthy(&self, ok: bool) {
        self.healthy.set(i64::from(ok));
    }
}

/// Label values of `category`: the named Entra categories plus `other`.
pub const CATEGORY_LABELS: usize = entrastream_entra::Category::ALL.len() + 1;

/// Series of `entrastream_records_in_total` at most.
pub const RECORDS_IN_SERIES_MAX: usize = CATEGORY_LABELS;

/// Series of `entrastream_records_out_total` per configured sink at most.
pub const RECORDS_OUT_SERIES_PER_SINK_MAX: usize = CATEGORY_LABELS;

/// HTTP statuses that keep their own `status` label; any other status counts under its class
/// (`1xx` … `5xx`) or `other`.
const KNOWN_HTTP_STATUSES: [u16; 25] = [
    200, 201, 202, 204, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 408, 409, 411, 413, 415,
    429, 431, 500, 502, 503, 504,
];

/// HEC codes below this keep their number as `code` label (Splunk documents codes 0 to 27;
/// the margin takes a few new ones); any other code is `other`. The one cap of the `code`
/// label: sinks pass the server's code unchanged.
pub const HEC_CODES_KEPT: u64 = 32;

/// Values of the `status` label that are not HTTP statuses: failures without an answer. Only
/// the sinks' own code chooses these, never a peer.
const NON_HTTP_STATUSES: [&str; 2] = ["network", "unbuildable"];

/// Series of `entrastream_sink_http_requests_total` per network sink at most: every `status`
/// (known statuses, five classes, `other`, `network`, `unbuildable`) times every `code` (kept codes,
/// `other`, `none`).
pub const HTTP_REQUESTS_SERIES_PER_SINK_MAX: usize =
    (KNOWN_HTTP_STATUSES.len() + 5 + 1 + NON_HTTP_STATUSES.len()) * (HEC_CODES_KEPT as usize + 2);

/// The `category` label of a record category taken from the data: the canonical name of a
/// known Entra category (matched as [`entrastream_entra::Category::from_name`] does), else
/// `other`. A tenant's new category or a made-up one never adds a series.
pub fn category_label(category: &str) -> &'static str {
    match entrastream_entra::Category::from_name(category) {
        entrastream_entra::Category::Other => "other",
        c => c.name(),
    }
}

/// The `status` label of an HTTP answer (or a non-HTTP outcome such as `network`): known
/// statuses as themselves, others by class, anything else `other`.
pub fn http_status_label(status: &str) -> String {
    if let Some(s) = NON_HTTP_STATUSES.iter().find(|s| **s == status) {
        return (*s).to_string();
    }
    match status.parse::<u16>() {
        Ok(code) if KNOWN_HTTP_STATUSES.contains(&code) => code.to_string(),
        Ok(code @ 100..=599) => format!("{}xx", code / 100),
        _ => "other".to_string(),
    }
}

/// The `code` label of a Splunk HEC answer: the code when it is one Splunk documents (with a
/// margin), `other` for anything else a server might send, `none` when there is none.
pub fn hec_code_label(code: Option<u64>) -> String {
    match code {
        None => "none".to_string(),
        Some(c) if c < HEC_CODES_KEPT => c.to_string(),
        Some(_) => "other".to_string(),
    }
}

impl Metrics {
    /// A fresh registry with every metric registered. Cannot fail: every name, label and
    /// bucket list is a constant checked at compile time ([`spec`]).
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = Some(&registry);
        Metrics {
            messages_in: counter_vec(r, &spec::MESSAGES_IN),
            bytes_in: counter_vec(r, &spec::BYTES_IN),
            records_in: counter_vec(r, &spec::RECORDS_IN),
            records_out: counter_vec(r, &spec::RECORDS_OUT),
            bytes_out: counter_vec(r, &spec::BYTES_OUT),
            dead_lettered: counter_vec(r, &spec::DEAD_LETTERED),
            sink_retries: counter_vec(r, &spec::SINK_RETRIES),
            sink_request_duration: histogram_vec(r, &spec::SINK_REQUEST_DURATION),
            in_flight_bytes: gauge(r, &spec::IN_FLIGHT_BYTES),
            parse_threads: gauge(r, &spec::PARSE_THREADS),
            parse_queue_messages: gauge(r, &spec::PARSE_QUEUE_MESSAGES),
            paused_partitions: gauge(r, &spec::PAUSED_PARTITIONS),
            partition_pauses: counter(r, &spec::PARTITION_PAUSES),
            assigned_partitions: gauge(r, &spec::ASSIGNED_PARTITIONS),
            committed_offset: gauge_vec(r, &spec::COMMITTED_OFFSET),
            consumer_lag_messages: gauge_vec(r, &spec::CONSUMER_LAG_MESSAGES),
            consumer_lag_seconds: float_gauge_vec(r, &spec::CONSUMER_LAG_SECONDS),
            checkpoint_commits: counter(r, &spec::CHECKPOINT_COMMITS),
            checkpoint_commit_failures: counter(r, &spec::CHECKPOINT_COMMIT_FAILURES),
            process_duration: histogram(r, &spec::PROCESS_DURATION),
            file_rotated_files_removed: counter_vec(r, &spec::FILE_ROTATED_FILES_REMOVED),
            sinks: SinkMetrics::new(r),
            buffers: families::registered(r, "entrastream_buffer_*", BufferMetrics::new()),
            syslog: SyslogMetrics::new(r),
            archive: ArchiveMetrics::new(r),
            registry,
        }
    }

    /// Counts `n` records parsed of `category` (bounded by [`category_label`]).
    pub fn count_records_in(&self, category: &str, n: u64) {
        self.records_in
            .with_label_values(&[category_label(category)])
            .inc_by(n);
    }

    /// Counts `n` records of `category` accepted by `sink` (bounded by [`category_label`]).
    pub fn count_records_out(&self, sink: &str, category: &str, n: u64) {
        self.records_out
            .with_label_values(&[sink, category_label(category)])
            .inc_by(n);
    }

    /// The counter of rotated files the file sink `sink` removed.
    pub fn file_rotated_files_removed(&self, sink: &str) -> IntCounter {
        self.file_rotated_files_removed.with_label_values(&[sink])
    }

    /// The network-sink metrics of the sink named `sink`, exported by this registry.
    pub fn sink_stats(&self, sink: &str) -> SinkStats {
        SinkStats::bound(sink, self.sinks.clone())
    }

    /// The transport metrics of the syslog sink named `sink`, exported by this registry.
    pub fn syslog_stats(&self, sink: &str) -> SyslogSinkStats {
        SyslogSinkStats::bound(sink, &self.syslog, &self.sinks)
    }

    /// The storage metrics of the archive sink named `sink`, exported by this registry.
    pub fn archive_stats(&self, sink: &str) -> ArchiveSinkStats {
        ArchiveSinkStats::bound(sink, &self.archive)
    }

    /// The registry (for the admin server).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let families = self.registry.gather();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Readiness state, per component (`source`, `sink:<name>`): healthy or not, with a reason.
#[derive(Clone, Debug, Default)]
pub struct Health {
    inner: Arc<Mutex<BTreeMap<String, Result<(), String>>>>,
}

impl Health {
    /// An empty state (ready, since no component reported).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a component's state.
    pub fn set(&self, component: &str, state: Result<(), String>) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(component.to_string(), state);
        }
    }

    /// `Ok` when every component is healthy, otherwise the unhealthy ones with reasons.
    pub fn ready(&self) -> Result<(), Vec<(String, String)>> {
        let m = match self.inner.lock() {
            Ok(m) => m,
            Err(_) => return Err(vec![("health".into(), "state poisoned".into())]),
        };
        let bad: Vec<_> = m
            .iter()
            .filter_map(|(k, v)| v.as_ref().err().map(|e| (k.clone(), e.clone())))
            .collect();
        if bad.is_empty() { Ok(()) } else { Err(bad) }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber (logs to stderr; filter from `RUST_LOG`, else
/// `default_level`). A second call is a no-op.
pub fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_the_prefix_and_renders() {
        let m = Metrics::new();
        m.records_in.with_label_values(&["SignInLogs"]).inc();
        m.sink_request_duration
            .with_label_values(&["file", "delivered"])
            .observe(0.01);
        m.consumer_lag_seconds
            .with_label_values(&["hub", "0"])
            .set(1.5);
        let text = m.render();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("entrastream_"), "{line}");
        }
        assert!(text.contains("entrastream_records_in_total{category=\"SignInLogs\"} 1"));
    }

    #[test]
    fn sink_stats_are_labelled_by_sink_and_only_exported_when_registered() {
        let m = Metrics::new();
        let hec = m.sink_stats("splunk");
        hec.request("400", Some(6), 0.01);
        hec.body(1000, 200);
        hec.batch(10);
        hec.pending_acks(2);
        hec.pending_acks(-1);
        hec.dead_lettered("invalid_event", 1);
        hec.duplicates(3);
        hec.healthy(false);
        let text = m.render();
        for want in [
            "entrastream_sink_http_requests_total{code=\"6\",sink=\"splunk\",status=\"400\"} 1",
            "entrastream_sink_http_request_bytes_total{sink=\"splunk\"} 1000",
            "entrastream_sink_http_wire_bytes_total{sink=\"splunk\"} 200",
            "entrastream_sink_http_request_size_bytes_count{sink=\"splunk\"} 1",
            "entrastream_sink_batch_records_sum{sink=\"splunk\"} 10",
            "entrastream_sink_http_request_duration_seconds_count{sink=\"splunk\"} 1",
            "entrastream_sink_pending_acks{sink=\"splunk\"} 1",
            "entrastream_sink_dead_lettered_total{reason=\"invalid_event\",sink=\"splunk\"} 1",
            "entrastream_sink_duplicates_total{sink=\"splunk\"} 3",
            "entrastream_sink_healthy{sink=\"splunk\"} 0",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        let detached = SinkStats::detached("other");
        detached.request("200", None, 0.01);
        assert!(!m.render().contains("other"));
        // no SIEM sink: the families export nothing
        assert!(!Metrics::new().render().contains("entrastream_sink_http"));
    }

    /// Series of one metric family in a scrape.
    fn series(text: &str, family: &str) -> usize {
        text.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .count()
    }

    #[test]
    fn made_up_categories_and_server_codes_keep_the_series_below_the_ceiling() {
        let m = Metrics::new();
        for i in 0..10_000 {
            let made_up = format!("MadeUpCategory{i}\n\u{1}é");
            m.count_records_in(&made_up, 1);
            m.count_records_out("file", &made_up, 1);
        }
        m.count_records_in("SignInLogs", 1);
        m.count_records_in("auditlogs", 1);
        let hec = m.sink_stats("splunk");
        for i in 0..10_000u64 {
            hec.request(&(i % 1000).to_string(), Some(i), 0.001);
        }
        hec.request("network", None, 0.001);
        hec.request("not a status\n", Some(u64::MAX), 0.001);
        let text = m.render();
        assert_eq!(series(&text, "entrastream_records_in_total"), 3);
        assert!(series(&text, "entrastream_records_in_total") <= RECORDS_IN_SERIES_MAX);
        assert!(series(&text, "entrastream_records_out_total") <= RECORDS_OUT_SERIES_PER_SINK_MAX);
        assert!(text.contains("entrastream_records_in_total{category=\"other\"} 10000"));
        assert!(text.contains("entrastream_records_in_total{category=\"AuditLogs\"} 1"));
        let requests = series(&text, "entrastream_sink_http_requests_total");
        assert!(
            requests <= HTTP_REQUESTS_SERIES_PER_SINK_MAX,
            "{requests} series"
        );
        assert!(!text.contains("MadeUp"));
        for want in [
            "code=\"7\",sink=\"splunk\",status=\"other\"",
            "code=\"other\",sink=\"splunk\",status=\"5xx\"",
            "code=\"none\",sink=\"splunk\",status=\"network\"",
        ] {
            assert!(text.contains(want), "{want} missing");
        }
    }

    #[test]
    fn labels_keep_known_values() {
        assert_eq!(category_label("SignInLogs"), "SignInLogs");
        assert_eq!(category_label("NetworkAccessTrafficLogs"), "other");
        assert_eq!(http_status_label("503"), "503");
        assert_eq!(http_status_label("418"), "4xx");
        assert_eq!(http_status_label("network"), "network");
        assert_eq!(http_status_label("999"), "other");
        assert_eq!(hec_code_label(Some(9)), "9");
        assert_eq!(hec_code_label(Some(1_000_000)), "other");
        assert_eq!(hec_code_label(None), "none");
    }

    /// Every family of `spec` is created and registered (none dropped with a logged error),
    /// the registry holds no other, and a scrape with every family populated passes
    /// `promtool check metrics`.
    #[test]
    fn every_spec_is_registered_and_the_scrape_passes_promtool() {
        let m = Metrics::new();
        let hec = m.sink_stats("splunk");
        hec.request("200", Some(0), 0.01);
        hec.body(10, 5);
        hec.batch(1);
        hec.dead_lettered("oversize", 1);
        hec.duplicates(1);
        let syslog = m.syslog_stats("qradar");
        syslog.sent(1);
        syslog.bytes(10);
        syslog.reconnect();
        syslog.connect_failure();
        syslog.resent(1);
        syslog.relp_answer(true);
        syslog.relp_answer(false);
        syslog.relp_in_flight(1);
        syslog.relp_window(128);
        syslog.dead_lettered("too_large", 1);
        let archive = m.archive_stats("archive");
        archive.blob_created();
        archive.block(10);
        archive.rollover();
        archive.error("503");
        archive.request(0.01);
        m.messages_in.with_label_values(&["hub", "0"]).inc();
        m.bytes_in.with_label_values(&["hub", "0"]).inc();
        m.count_records_in("SignInLogs", 1);
        m.count_records_out("file", "SignInLogs", 1);
        m.bytes_out.with_label_values(&["file"]).inc();
        m.dead_lettered.with_label_values(&["parse"]).inc();
        m.sink_retries.with_label_values(&["file"]).inc();
        m.sink_request_duration
            .with_label_values(&["file", "delivered"])
            .observe(0.01);
        m.committed_offset.with_label_values(&["hub", "0"]).set(1);
        m.consumer_lag_messages
            .with_label_values(&["hub", "0"])
            .set(1);
        m.consumer_lag_seconds
            .with_label_values(&["hub", "0"])
            .set(1.0);
        m.file_rotated_files_removed("file").inc();
        m.buffers.watch(
            "sumo",
            Arc::new(|| BufferReading {
                bytes: 10,
                full: true,
                oldest_record_age_seconds: 2.5,
                ..Default::default()
            }),
        );
        let mut names: Vec<String> = m
            .registry()
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        names.sort();
        let mut want: Vec<String> = spec::ALL_NAMES.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(names, want);
        let text = m.render();
        if let Some(check) = entrastream_testkit::promtool::check_metrics(&text) {
            assert!(check.success, "promtool: {}\n{text}", check.output);
        }
    }

    #[test]
    fn syslog_stats_are_labelled_by_sink_bounded_and_only_exported_when_registered() {
        let m = Metrics::new();
        let s = m.syslog_stats("qradar");
        s.sent(3);
        s.bytes(300);
        s.reconnect();
        s.connect_failure();
        s.connect_failure();
        s.resent(2);
        s.relp_answer(true);
        s.relp_answer(false);
        s.relp_in_flight(5);
        s.relp_in_flight(-2);
        s.relp_window(256);
        s.healthy(false);
        for i in 0..1000 {
            s.dead_lettered(&format!("made_up_{i}"), 1);
        }
        s.dead_lettered("too_large", 4);
        let text = m.render();
        for want in [
            "entrastream_sink_syslog_messages_total{sink=\"qradar\"} 3",
            "entrastream_sink_syslog_bytes_total{sink=\"qradar\"} 300",
            "entrastream_sink_syslog_reconnects_total{sink=\"qradar\"} 1",
            "entrastream_sink_syslog_connect_failures_total{sink=\"qradar\"} 2",
            "entrastream_sink_syslog_resent_records_total{sink=\"qradar\"} 2",
            "entrastream_sink_syslog_relp_acks_total{sink=\"qradar\"} 1",
            "entrastream_sink_syslog_relp_nacks_total{sink=\"qradar\"} 1",
            "entrastream_sink_syslog_relp_in_flight{sink=\"qradar\"} 3",
            "entrastream_sink_syslog_relp_window{sink=\"qradar\"} 256",
            "entrastream_sink_healthy{sink=\"qradar\"} 0",
            "entrastream_sink_dead_lettered_total{reason=\"too_large\",sink=\"qradar\"} 4",
            "entrastream_sink_dead_lettered_total{reason=\"other\",sink=\"qradar\"} 1000",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains("sink=\"qradar\""))
            .count();
        assert_eq!(series, SYSLOG_SERIES_PER_SINK_MAX, "{text}");
        assert!(!text.contains("made_up"));
        // no HTTP families for a syslog sink
        assert!(!text.contains("entrastream_sink_http"));
        SyslogSinkStats::detached("elsewhere").sent(1);
        assert!(!m.render().contains("elsewhere"));
        assert!(!Metrics::new().render().contains("entrastream_sink_syslog"));
    }

    #[test]
    fn hec_codes_are_kept_up_to_the_documented_31() {
        assert_eq!(hec_code_label(Some(27)), "27");
        assert_eq!(hec_code_label(Some(31)), "31");
        assert_eq!(hec_code_label(Some(32)), "other");
    }

    #[test]
    fn health() {
        let h = Health::new();
        assert!(h.ready().is_ok());
        h.set("sink:file", Err("disk full".into()));
        assert_eq!(h.ready().unwrap_err()[0].1, "disk full");
        h.set("sink:file", Ok(()));
        assert!(h.ready().is_ok());
    }
}
