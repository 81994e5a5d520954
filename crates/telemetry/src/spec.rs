//! Every metric's name, help text, label names and buckets, as checked constants.
//!
//! Each constant is built by a `const fn` that applies the rules the `prometheus` crate checks
//! when a metric is created and registered: a valid metric name, a non-empty help text, valid
//! label names that are distinct and not reserved, and strictly increasing buckets. A constant
//! that breaks a rule is a compile error (const evaluation fails), and [`ALL_NAMES`] must be
//! pairwise distinct for the crate to compile, so a duplicate registration cannot be written
//! either. What is left for run time cannot fail; `Metrics::new` relies on it.

/// A metric family: name, help and label names (`N` of them, fixed by the type).
#[derive(Clone, Copy, Debug)]
pub struct MetricSpec<const N: usize> {
    /// Full name, `entrastream_…`.
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Label names, in the order values are given.
    pub labels: [&'static str; N],
}

/// A histogram family: its [`MetricSpec`] and bucket upper bounds.
#[derive(Clone, Copy, Debug)]
pub struct HistogramSpec<const N: usize, const B: usize> {
    /// Name, help and labels.
    pub metric: MetricSpec<N>,
    /// Bucket upper bounds, strictly increasing (`+Inf` is implicit).
    pub buckets: [f64; B],
}

impl<const N: usize> MetricSpec<N> {
    /// Checks every rule; only ever evaluated in a `const` item, so a break is a compile error.
    const fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        assert!(valid_metric_name(name), "invalid metric name");
        assert!(
            name_has_prefix(name),
            "metric name without the entrastream_ prefix"
        );
        assert!(!help.is_empty(), "empty help text");
        let mut i = 0;
        while i < N {
            assert!(
                valid_label_name(labels[i]),
                "invalid or reserved label name"
            );
            let mut j = i + 1;
            while j < N {
                assert!(!str_eq(labels[i], labels[j]), "duplicate label name");
                j += 1;
            }
            i += 1;
        }
        MetricSpec { name, help, labels }
    }
}

impl<const N: usize, const B: usize> HistogramSpec<N, B> {
    const fn new(metric: MetricSpec<N>, buckets: [f64; B]) -> Self {
        assert!(B > 0, "a histogram needs buckets");
        let mut i = 1;
        while i < B {
            assert!(
                buckets[i - 1] < buckets[i],
                "buckets must increase strictly"
            );
            i += 1;
        }
        HistogramSpec { metric, buckets }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, as Prometheus (and the `prometheus` crate) require.
const fn valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
            return false;
        }
        i += 1;
    }
    true
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not `__…` (reserved) and not `le` or `quantile` (the
/// histogram's and summary's own labels).
const fn valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.is_empty() || b[0].is_ascii_digit() {
        return false;
    }
    if b.len() >= 2 && b[0] == b'_' && b[1] == b'_' {
        return false;
    }
    if str_eq(name, "le") || str_eq(name, "quantile") {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !(c.is_ascii_alphanumeric() || c == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

const fn name_has_prefix(name: &str) -> bool {
    let (p, b) = (PREFIX.as_bytes(), name.as_bytes());
    if b.len() <= p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if p[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn all_distinct(names: &[&str]) -> bool {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if str_eq(names[i], names[j]) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

/// Every metric name starts with this.
pub const PREFIX: &str = "entrastream_";

const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

// The pipeline's metrics.

pub const MESSAGES_IN: MetricSpec<2> = MetricSpec::new(
    "entrastream_messages_in_total",
    "Messages read from the source",
    ["topic", "partition"],
);
pub const BYTES_IN: MetricSpec<2> = MetricSpec::new(
    "entrastream_bytes_in_total",
    "Message bytes read from the source",
    ["topic", "partition"],
);
pub const RECORDS_IN: MetricSpec<1> = MetricSpec::new(
    "entrastream_records_in_total",
    "Records parsed from messages",
    ["category"],
);
pub const RECORDS_OUT: MetricSpec<2> = MetricSpec::new(
    "entrastream_records_out_total",
    "Records accepted by a sink",
    ["sink", "category"],
);
pub const BYTES_OUT: MetricSpec<1> = MetricSpec::new(
    "entrastream_bytes_out_total",
    "Encoded bytes accepted by a sink",
    ["sink"],
);
pub const DEAD_LETTERED: MetricSpec<1> = MetricSpec::new(
    "entrastream_dead_lettered_total",
    "Records or message parts sent to the dead-letter sink",
    ["reason"],
);
pub const SINK_RETRIES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_retries_total",
    "Batch retries after a retryable sink failure",
    ["sink"],
);
pub const SINK_REQUEST_DURATION: HistogramSpec<2, 15> = HistogramSpec::new(
    MetricSpec::new(
        "entrastream_sink_request_duration_seconds",
        "Time of one batch send to a sink",
        ["sink", "outcome"],
    ),
    LATENCY_BUCKETS,
);
pub const PROCESS_DURATION: HistogramSpec<0, 15> = HistogramSpec::new(
    MetricSpec::new(
        "entrastream_process_duration_seconds",
        "Parse and encode time of one message",
        [],
    ),
    LATENCY_BUCKETS,
);
pub const IN_FLIGHT_BYTES: MetricSpec<0> = MetricSpec::new(
    "entrastream_in_flight_bytes",
    "Bytes of messages and encoded batches in flight",
    [],
);
pub const PARSE_THREADS: MetricSpec<0> = MetricSpec::new(
    "entrastream_parse_threads",
    "Threads that parse and encode messages ([pipeline] parse_threads, or the CPUs the process may use)",
    [],
);
pub const PARSE_QUEUE_MESSAGES: MetricSpec<0> = MetricSpec::new(
    "entrastream_parse_queue_messages",
    "Messages handed to the parse threads and not yet added to a batch",
    [],
);
pub const PAUSED_PARTITIONS: MetricSpec<0> = MetricSpec::new(
    "entrastream_paused_partitions",
    "Partitions paused for backpressure",
    [],
);
pub const PARTITION_PAUSES: MetricSpec<0> = MetricSpec::new(
    "entrastream_partition_pauses_total",
    "Times the byte budget filled and partitions were paused",
    [],
);
pub const ASSIGNED_PARTITIONS: MetricSpec<0> = MetricSpec::new(
    "entrastream_assigned_partitions",
    "Partitions assigned to this instance",
    [],
);
pub const COMMITTED_OFFSET: MetricSpec<2> = MetricSpec::new(
    "entrastream_committed_offset",
    "Last committed offset (next offset to read)",
    ["topic", "partition"],
);
pub const CONSUMER_LAG_MESSAGES: MetricSpec<2> = MetricSpec::new(
    "entrastream_consumer_lag_messages",
    "Messages between the committed offset and the high watermark",
    ["topic", "partition"],
);
pub const CONSUMER_LAG_SECONDS: MetricSpec<2> = MetricSpec::new(
    "entrastream_consumer_lag_seconds",
    "Seconds since the enqueue time of the last processed message",
    ["topic", "partition"],
);
pub const CHECKPOINT_COMMITS: MetricSpec<0> = MetricSpec::new(
    "entrastream_checkpoint_commits_total",
    "Successful checkpoint commits",
    [],
);
pub const CHECKPOINT_COMMIT_FAILURES: MetricSpec<0> = MetricSpec::new(
    "entrastream_checkpoint_commit_failures_total",
    "Failed checkpoint commits",
    [],
);
pub const FILE_ROTATED_FILES_REMOVED: MetricSpec<1> = MetricSpec::new(
    "entrastream_file_rotated_files_removed_total",
    "Rotated files a file sink removed to keep at most max_files",
    ["sink"],
);

// The network sinks' protocol metrics.

pub const SINK_HTTP_REQUESTS: MetricSpec<3> = MetricSpec::new(
    "entrastream_sink_http_requests_total",
    "HTTP requests of a network sink by status (or network) and vendor code",
    ["sink", "status", "code"],
);
pub const SINK_HTTP_REQUEST_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_http_request_bytes_total",
    "Request body bytes of a network sink before compression",
    ["sink"],
);
pub const SINK_HTTP_WIRE_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_http_wire_bytes_total",
    "Request body bytes of a network sink as sent (after gzip when on)",
    ["sink"],
);
pub const SINK_HTTP_REQUEST_SIZE: HistogramSpec<1, 11> = HistogramSpec::new(
    MetricSpec::new(
        "entrastream_sink_http_request_size_bytes",
        "Request body size of a network sink before compression",
        ["sink"],
    ),
    [1e3, 1e4, 5e4, 1e5, 2.5e5, 5e5, 7.5e5, 1e6, 2e6, 5e6, 1e7],
);
pub const SINK_BATCH_RECORDS: HistogramSpec<1, 11> = HistogramSpec::new(
    MetricSpec::new(
        "entrastream_sink_batch_records",
        "Records per batch handed to a network sink",
        ["sink"],
    ),
    [
        1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 50000.0,
    ],
);
pub const SINK_HTTP_REQUEST_DURATION: HistogramSpec<1, 14> = HistogramSpec::new(
    MetricSpec::new(
        "entrastream_sink_http_request_duration_seconds",
        "Time of one HTTP request of a network sink",
        ["sink"],
    ),
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ],
);
pub const SINK_PENDING_ACKS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_pending_acks",
    "Requests waiting for a Splunk indexer acknowledgement",
    ["sink"],
);
pub const SINK_DEAD_LETTERED: MetricSpec<2> = MetricSpec::new(
    "entrastream_sink_dead_lettered_total",
    "Records a network sink refused for good, by reason",
    ["sink", "reason"],
);
pub const SINK_DUPLICATES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_duplicates_total",
    "Records resent after an ack timeout or a 408 (possible duplicates at the peer)",
    ["sink"],
);
pub const SINK_HEALTHY: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_healthy",
    "1 while a network sink's last attempt succeeded, 0 while it fails",
    ["sink"],
);

// The disk buffers in front of sinks (`buffer = { type = "disk", … }`), read from each
// buffer's live numbers when /metrics is scraped.

pub const BUFFER_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_bytes",
    "Bytes of records in a sink's disk buffer that the sink has not acknowledged yet",
    ["sink"],
);
pub const BUFFER_DISK_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_disk_bytes",
    "Bytes of a sink's disk buffer segment files, what buffer.max_size bounds",
    ["sink"],
);
pub const BUFFER_MAX_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_max_bytes",
    "The configured buffer.max_size of a sink's disk buffer in bytes",
    ["sink"],
);
pub const BUFFER_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_records",
    "Records in a sink's disk buffer that the sink has not acknowledged yet",
    ["sink"],
);
pub const BUFFER_SEGMENTS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_segments",
    "Segment files of a sink's disk buffer",
    ["sink"],
);
pub const BUFFER_OLDEST_RECORD_AGE: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_oldest_record_age_seconds",
    "Seconds since the oldest record not yet acknowledged by the sink was buffered (0 when empty)",
    ["sink"],
);
pub const BUFFER_FULL: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_full",
    "1 while a sink's disk buffer refuses records because max_size is reached (backpressure), else 0",
    ["sink"],
);
pub const BUFFER_WRITTEN_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_written_bytes_total",
    "Bytes written and fsynced to a sink's disk buffer",
    ["sink"],
);
pub const BUFFER_WRITTEN_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_written_records_total",
    "Records written and fsynced to a sink's disk buffer",
    ["sink"],
);
pub const BUFFER_READ_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_read_bytes_total",
    "Bytes the drain read from a sink's disk buffer",
    ["sink"],
);
pub const BUFFER_DELIVERED_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_delivered_records_total",
    "Records drained from a sink's disk buffer that the sink accepted",
    ["sink"],
);
pub const BUFFER_REJECTED_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_rejected_records_total",
    "Records drained from a sink's disk buffer that the sink refused for good (dead-lettered)",
    ["sink"],
);
pub const BUFFER_CORRUPT_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_corrupt_records_total",
    "Damaged records skipped in a sink's disk buffer (dead-lettered as buffer_corrupt)",
    ["sink"],
);
pub const BUFFER_TORN_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_torn_bytes_total",
    "Bytes of torn writes cut off a sink's disk buffer (never acknowledged to the pipeline)",
    ["sink"],
);
pub const BUFFER_REPLAYED_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_replayed_records_total",
    "Records sent again after a restart because their acknowledgement was not persisted (possible duplicates)",
    ["sink"],
);
pub const BUFFER_DRAIN_RETRIES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_drain_retries_total",
    "Failed sends from a sink's disk buffer to the sink, retried",
    ["sink"],
);
pub const BUFFER_POSITION_WRITES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_position_writes_total",
    "Writes of a sink's disk-buffer acknowledged position (each one fsync; one write covers every batch finished meanwhile)",
    ["sink"],
);
pub const BUFFER_READ_FROM_MEMORY_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_buffer_read_from_memory_bytes_total",
    "Of the bytes drained from a sink's disk buffer, those sent from memory (recent appends) instead of read back from disk",
    ["sink"],
);
// The syslog sink's transport metrics (its refusals and health are the network sinks'
// `entrastream_sink_dead_lettered_total` and `entrastream_sink_healthy`).

pub const SINK_SYSLOG_MESSAGES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_messages_total",
    "Syslog messages confirmed (RELP: acknowledged; TCP/TLS: written and flushed)",
    ["sink"],
);
pub const SINK_SYSLOG_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_bytes_total",
    "Syslog bytes written, framing included, before TLS",
    ["sink"],
);
pub const SINK_SYSLOG_RECONNECTS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_reconnects_total",
    "Syslog connections opened after the first (each follows an error or a closed connection)",
    ["sink"],
);
pub const SINK_SYSLOG_CONNECT_FAILURES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_connect_failures_total",
    "Syslog connection attempts that failed (refused, timed out, TLS handshake or RELP open)",
    ["sink"],
);
pub const SINK_SYSLOG_RESENT_RECORDS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_resent_records_total",
    "Syslog records sent again after their connection failed unconfirmed (possible duplicates)",
    ["sink"],
);
pub const SINK_SYSLOG_RELP_ACKS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_relp_acks_total",
    "RELP rsp 200 acknowledgements received",
    ["sink"],
);
pub const SINK_SYSLOG_RELP_NACKS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_relp_nacks_total",
    "RELP answers other than 200 (the record is kept and resent)",
    ["sink"],
);
pub const SINK_SYSLOG_RELP_IN_FLIGHT: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_relp_in_flight",
    "RELP messages sent and not yet acknowledged, over all connections",
    ["sink"],
);
pub const SINK_SYSLOG_RELP_WINDOW: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_syslog_relp_window",
    "RELP messages one connection may have unacknowledged (relp_window) times concurrency",
    ["sink"],
);

// The archive sinks' metrics (`azure_blob`: one block per Append Block call).

pub const SINK_ARCHIVE_BLOBS_CREATED: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_archive_blobs_created_total",
    "Archive blobs (hour files and their numbered siblings) this process created",
    ["sink"],
);
pub const SINK_ARCHIVE_BLOCKS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_archive_blocks_total",
    "Archive blocks committed (Append Block answered 201)",
    ["sink"],
);
pub const SINK_ARCHIVE_BYTES: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_archive_bytes_total",
    "Archive bytes committed, as stored (after compression)",
    ["sink"],
);
pub const SINK_ARCHIVE_ROLLOVERS: MetricSpec<1> = MetricSpec::new(
    "entrastream_sink_archive_rollovers_total",
    "Hour blobs that reached the block limit, so writing went on in a numbered sibling",
    ["sink"],
);
pub const SINK_ARCHIVE_ERRORS: MetricSpec<2> = MetricSpec::new(
    "entrastream_sink_archive_errors_total",
    "Failed archive storage requests, by HTTP status (or network, timeout)",
    ["sink", "status"],
);
pub const SINK_ARCHIVE_REQUEST_DURATION: HistogramSpec<1, 15> = HistogramSpec::new(
    MetricSpec::new(
        "entrastream_sink_archive_request_duration_seconds",
        "Time of one archive storage request (Append Block, create, list)",
        ["sink"],
    ),
    LATENCY_BUCKETS,
);

/// Every family name this crate registers, one entry per constant above.
pub const ALL_NAMES: [&str; 64] = [
    MESSAGES_IN.name,
    BYTES_IN.name,
    RECORDS_IN.name,
    RECORDS_OUT.name,
    BYTES_OUT.name,
    DEAD_LETTERED.name,
    SINK_RETRIES.name,
    SINK_REQUEST_DURATION.metric.name,
    PROCESS_DURATION.metric.name,
    IN_FLIGHT_BYTES.name,
    PARSE_THREADS.name,
    PARSE_QUEUE_MESSAGES.name,
    PAUSED_PARTITIONS.name,
    PARTITION_PAUSES.name,
    ASSIGNED_PARTITIONS.name,
    COMMITTED_OFFSET.name,
    CONSUMER_LAG_MESSAGES.name,
    CONSUMER_LAG_SECONDS.name,
    CHECKPOINT_COMMITS.name,
    CHECKPOINT_COMMIT_FAILURES.name,
    FILE_ROTATED_FILES_REMOVED.name,
    SINK_HTTP_REQUESTS.name,
    SINK_HTTP_REQUEST_BYTES.name,
    SINK_HTTP_WIRE_BYTES.name,
    SINK_HTTP_REQUEST_SIZE.metric.name,
    SINK_BATCH_RECORDS.metric.name,
    SINK_HTTP_REQUEST_DURATION.metric.name,
    SINK_PENDING_ACKS.name,
    SINK_DEAD_LETTERED.name,
    SINK_DUPLICATES.name,
    SINK_HEALTHY.name,
    BUFFER_BYTES.name,
    BUFFER_DISK_BYTES.name,
    BUFFER_MAX_BYTES.name,
    BUFFER_RECORDS.name,
    BUFFER_SEGMENTS.name,
    BUFFER_OLDEST_RECORD_AGE.name,
    BUFFER_FULL.name,
    BUFFER_WRITTEN_BYTES.name,
    BUFFER_WRITTEN_RECORDS.name,
    BUFFER_READ_BYTES.name,
    BUFFER_DELIVERED_RECORDS.name,
    BUFFER_REJECTED_RECORDS.name,
    BUFFER_CORRUPT_RECORDS.name,
    BUFFER_TORN_BYTES.name,
    BUFFER_REPLAYED_RECORDS.name,
    BUFFER_DRAIN_RETRIES.name,
    BUFFER_POSITION_WRITES.name,
    BUFFER_READ_FROM_MEMORY_BYTES.name,
    SINK_SYSLOG_MESSAGES.name,
    SINK_SYSLOG_BYTES.name,
    SINK_SYSLOG_RECONNECTS.name,
    SINK_SYSLOG_CONNECT_FAILURES.name,
    SINK_SYSLOG_RESENT_RECORDS.name,
    SINK_SYSLOG_RELP_ACKS.name,
    SINK_SYSLOG_RELP_NACKS.name,
    SINK_SYSLOG_RELP_IN_FLIGHT.name,
    SINK_SYSLOG_RELP_WINDOW.name,
    SINK_ARCHIVE_BLOBS_CREATED.name,
    SINK_ARCHIVE_BLOCKS.name,
    SINK_ARCHIVE_BYTES.name,
    SINK_ARCHIVE_ROLLOVERS.name,
    SINK_ARCHIVE_ERRORS.name,
    SINK_ARCHIVE_REQUEST_DURATION.metric.name,
];

const _: () = assert!(all_distinct(&ALL_NAMES), "two metrics share a name");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_rules_match_prometheus() {
        assert!(valid_metric_name("entrastream_a:b_1"));
        assert!(!valid_metric_name("1abc"));
        assert!(!valid_metric_name("a-b"));
        assert!(!valid_metric_name(""));
        assert!(valid_label_name("sink"));
        for bad in ["__x", "le", "quantile", "a-b", "9a", ""] {
            assert!(!valid_label_name(bad), "{bad}");
        }
        assert!(all_distinct(&["a", "b"]));
        assert!(!all_distinct(&["a", "b", "a"]));
    }
}
