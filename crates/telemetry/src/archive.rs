//! The archive sinks' storage metrics (`entrastream_sink_archive_*`), labelled by sink and,
//! for errors, by a bounded status label.

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, Registry};

use crate::families::{counter_vec, histogram_vec};
use crate::spec;

/// The families, shared by every archive sink.
#[derive(Clone, Debug)]
pub struct ArchiveMetrics {
    /// Blobs created.
    pub blobs_created: IntCounterVec,
    /// Blocks committed.
    pub blocks: IntCounterVec,
    /// Bytes committed.
    pub bytes: IntCounterVec,
    /// Rolls to a numbered sibling.
    pub rollovers: IntCounterVec,
    /// Failed requests by status.
    pub errors: IntCounterVec,
    /// Request time.
    pub request_duration: HistogramVec,
}

impl ArchiveMetrics {
    pub(crate) fn new(r: Option<&Registry>) -> Self {
        ArchiveMetrics {
            blobs_created: counter_vec(r, &spec::SINK_ARCHIVE_BLOBS_CREATED),
            blocks: counter_vec(r, &spec::SINK_ARCHIVE_BLOCKS),
            bytes: counter_vec(r, &spec::SINK_ARCHIVE_BYTES),
            rollovers: counter_vec(r, &spec::SINK_ARCHIVE_ROLLOVERS),
            errors: counter_vec(r, &spec::SINK_ARCHIVE_ERRORS),
            request_duration: histogram_vec(r, &spec::SINK_ARCHIVE_REQUEST_DURATION),
        }
    }
}

/// One archive sink's share of [`ArchiveMetrics`].
#[derive(Clone, Debug)]
pub struct ArchiveSinkStats {
    sink: String,
    blobs_created: IntCounter,
    blocks: IntCounter,
    bytes: IntCounter,
    rollovers: IntCounter,
    errors: IntCounterVec,
    request_duration: Histogram,
}

impl ArchiveSinkStats {
    pub(crate) fn bound(sink: &str, m: &ArchiveMetrics) -> Self {
        let l = &[sink];
        ArchiveSinkStats {
            sink: sink.to_string(),
            blobs_created: m.blobs_created.with_label_values(l),
            blocks: m.blocks.with_label_values(l),
            bytes: m.bytes.with_label_values(l),
            rollovers: m.rollovers.with_label_values(l),
            errors: m.errors.clone(),
            request_duration: m.request_duration.with_label_values(l),
        }
    }

    /// Stats that no registry exports (`check-sinks`, unit tests).
    pub fn detached(sink: &str) -> Self {
        Self::bound(sink, &ArchiveMetrics::new(None))
    }

    /// A blob was created.
    pub fn blob_created(&self) {
        self.blobs_created.inc();
    }

    /// A block of `bytes` was committed.
    pub fn block(&self, bytes: u64) {
        self.blocks.inc();
        self.bytes.inc_by(bytes);
    }

    /// Writing rolled to a numbered sibling.
    pub fn rollover(&self) {
        self.rollovers.inc();
    }

    /// A request failed with HTTP `status`, or `network` / `timeout`. Anything else is
    /// counted as `other`, so the label stays bounded.
    pub fn error(&self, status: &str) {
        let ok = status == "network"
            || status == "timeout"
            || (status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()));
        self.errors
            .with_label_values(&[self.sink.as_str(), if ok { status } else { "other" }])
            .inc();
    }

    /// One request took `seconds`.
    pub fn request(&self, seconds: f64) {
        self.request_duration.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use crate::Metrics;

    #[test]
    fn archive_stats_are_labelled_and_bounded() {
        let m = Metrics::new();
        let s = m.archive_stats("archive");
        s.blob_created();
        s.block(100);
        s.block(50);
        s.rollover();
        s.error("503");
        s.error("timeout");
        s.error("made up\n");
        s.request(0.01);
        let text = m.render();
        for want in [
            "entrastream_sink_archive_blobs_created_total{sink=\"archive\"} 1",
            "entrastream_sink_archive_blocks_total{sink=\"archive\"} 2",
            "entrastream_sink_archive_bytes_total{sink=\"archive\"} 150",
            "entrastream_sink_archive_rollovers_total{sink=\"archive\"} 1",
            "entrastream_sink_archive_errors_total{sink=\"archive\",status=\"503\"} 1",
            "entrastream_sink_archive_errors_total{sink=\"archive\",status=\"timeout\"} 1",
            "entrastream_sink_archive_errors_total{sink=\"archive\",status=\"other\"} 1",
            "entrastream_sink_archive_request_duration_seconds_count{sink=\"archive\"} 1",
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
    }
}
