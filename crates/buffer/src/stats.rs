//! Live numbers of one buffer, for metrics and `/status`: plain atomics the telemetry layer
//! reads when it is scraped (this crate registers no metric itself).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Counters and gauges of one disk buffer. Gauges are exact after every append and every
/// acknowledgement; the oldest-record time is refreshed when the drain reads a batch, so it may
/// lag by one batch.
#[derive(Debug, Default)]
pub struct BufferStats {
    /// Gauge: frame bytes not yet acknowledged by the wrapped sink.
    pub bytes: AtomicU64,
    /// Gauge: records not yet acknowledged by the wrapped sink.
    pub records: AtomicU64,
    /// Gauge: bytes of all segment files (what `max_size` bounds).
    pub disk_bytes: AtomicU64,
    /// Gauge: segment files.
    pub segments: AtomicU64,
    /// Gauge: append time (Unix ms) of the oldest unacknowledged record; 0 when empty.
    pub oldest_record_unix_ms: AtomicU64,
    /// Gauge: the last append was refused because `max_size` was reached.
    pub full: AtomicBool,
    /// The configured `max_size` in bytes.
    pub max_bytes: AtomicU64,
    /// Counter: frame bytes written (fsynced).
    pub bytes_written: AtomicU64,
    /// Counter: records written (fsynced).
    pub records_written: AtomicU64,
    /// Counter: frame bytes the drain read.
    pub bytes_read: AtomicU64,
    /// Counter: records the wrapped sink accepted.
    pub records_delivered: AtomicU64,
    /// Counter: records the wrapped sink refused for good (dead-lettered, `sink_rejected`).
    pub records_rejected: AtomicU64,
    /// Counter: damaged records skipped (dead-lettered, `buffer_corrupt`).
    pub records_corrupt: AtomicU64,
    /// Counter: bytes of torn tails cut off or skipped (writes a crash cut short; never
    /// acknowledged to the pipeline).
    pub torn_bytes: AtomicU64,
    /// Counter: records read again after a restart because their acknowledgement had not been
    /// persisted (the wrapped sink may receive them twice).
    pub records_replayed: AtomicU64,
    /// Counter: sends to the wrapped sink that failed and were retried.
    pub drain_retries: AtomicU64,
    /// Counter: acknowledged positions written to the `ack` file (the drain writes them
    /// coalesced: one write covers every batch finished during the previous one).
    pub ack_writes: AtomicU64,
    /// Counter: of `bytes_read`, the bytes the drain took from the in-memory tail of recent
    /// appends instead of reading them back from disk.
    pub bytes_from_tail: AtomicU64,
}

impl BufferStats {
    /// How old the oldest unacknowledged record is (`None` when the buffer is empty).
    pub fn oldest_record_age(&self, now: SystemTime) -> Option<Duration> {
        let ms = self.oldest_record_unix_ms.load(Ordering::Relaxed);
        if ms == 0 || self.records.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let at = UNIX_EPOCH + Duration::from_millis(ms);
        Some(now.duration_since(at).unwrap_or_default())
    }

    /// Fill level: disk bytes over `max_size` (0.0 to 1.0, a little over when one batch larger
    /// than the free space was let into an empty buffer).
    pub fn fill_ratio(&self) -> f64 {
        let max = self.max_bytes.load(Ordering::Relaxed);
        if max == 0 {
            return 0.0;
        }
        self.disk_bytes.load(Ordering::Relaxed) as f64 / max as f64
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1)
        .max(1)
}
