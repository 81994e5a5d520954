//! The `entrastream_buffer_*` families: one series per buffered sink, read from the buffer's
//! own live numbers when the registry is scraped.
//!
//! Design decision: a disk buffer keeps its numbers as plain atomics (crate
//! `entrastream-buffer`, which knows nothing of Prometheus), and this crate knows nothing of
//! the buffer crate. The composition root hands each buffer over as a [`BufferProbe`] (a
//! closure returning a [`BufferReading`]); [`BufferMetrics`] is a collector that calls every
//! probe on scrape, sets its families from the readings and returns them. A scrape therefore
//! shows the buffer as it is at that moment, with no copying task and nothing to fall behind.

use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec};

use crate::families::{counter_vec, float_gauge_vec, gauge_vec};
use crate::spec;

/// One disk buffer's numbers at one moment (what its `BufferStats` hold).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BufferReading {
    /// Bytes of records not yet acknowledged by the sink.
    pub bytes: u64,
    /// Bytes of the segment files (what `max_size` bounds).
    pub disk_bytes: u64,
    /// The configured `max_size`.
    pub max_bytes: u64,
    /// Records not yet acknowledged by the sink.
    pub records: u64,
    /// Segment files.
    pub segments: u64,
    /// Seconds since the oldest unacknowledged record was buffered; 0 when empty.
    pub oldest_record_age_seconds: f64,
    /// The buffer refuses records because `max_size` is reached.
    pub full: bool,
    /// Counter: bytes written and fsynced.
    pub written_bytes: u64,
    /// Counter: records written and fsynced.
    pub written_records: u64,
    /// Counter: bytes the drain read.
    pub read_bytes: u64,
    /// Counter: records the sink accepted from the buffer.
    pub delivered_records: u64,
    /// Counter: records the sink refused for good.
    pub rejected_records: u64,
    /// Counter: damaged records skipped.
    pub corrupt_records: u64,
    /// Counter: bytes of torn tails cut off.
    pub torn_bytes: u64,
    /// Counter: records sent again after a restart.
    pub replayed_records: u64,
    /// Counter: failed sends to the sink, retried.
    pub drain_retries: u64,
    /// Counter: acknowledged positions written (each an fsync).
    pub position_writes: u64,
    /// Counter: of `read_bytes`, those sent from memory instead of read from disk.
    pub read_from_memory_bytes: u64,
}

/// Reads one buffer's numbers; called on every scrape, so it must be cheap (atomic loads).
pub type BufferProbe = Arc<dyn Fn() -> BufferReading + Send + Sync>;

/// The buffer families and the probes that feed them. Registered once in the [`crate::Metrics`]
/// registry as a single collector.
#[derive(Clone)]
pub struct BufferMetrics {
    inner: Arc<Inner>,
}

struct Inner {
    families: Families,
    /// The probes, by sink name. The lock also serialises scrapes, so that two concurrent
    /// scrapes cannot both add the same counter increase.
    probes: Mutex<Vec<(String, BufferProbe)>>,
}

struct Families {
    bytes: IntGaugeVec,
    disk_bytes: IntGaugeVec,
    max_bytes: IntGaugeVec,
    records: IntGaugeVec,
    segments: IntGaugeVec,
    oldest_record_age: GaugeVec,
    full: IntGaugeVec,
    written_bytes: IntCounterVec,
    written_records: IntCounterVec,
    read_bytes: IntCounterVec,
    delivered_records: IntCounterVec,
    rejected_records: IntCounterVec,
    corrupt_records: IntCounterVec,
    torn_bytes: IntCounterVec,
    replayed_records: IntCounterVec,
    drain_retries: IntCounterVec,
    position_writes: IntCounterVec,
    read_from_memory_bytes: IntCounterVec,
}

impl std::fmt::Debug for BufferMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sinks: Vec<String> = match self.inner.probes.lock() {
            Ok(p) => p.iter().map(|(s, _)| s.clone()).collect(),
            Err(_) => Vec::new(),
        };
        f.debug_struct("BufferMetrics")
            .field("sinks", &sinks)
            .finish_non_exhaustive()
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Moves a counter to `value` (the buffer's own counter is the truth). Counters only grow;
/// should the source ever go back (it cannot within one process), the series restarts as after
/// a process restart, which `rate()` handles.
fn set_counter(c: &IntCounterVec, sink: &str, value: u64) {
    let c = c.with_label_values(&[sink]);
    let now = c.get();
    if value >= now {
        c.inc_by(value - now);
    } else {
        c.reset();
        c.inc_by(value);
    }
}

impl Families {
    /// Unregistered families; [`BufferMetrics`] collects them.
    fn new() -> Self {
        Families {
            bytes: gauge_vec(None, &spec::BUFFER_BYTES),
            disk_bytes: gauge_vec(None, &spec::BUFFER_DISK_BYTES),
            max_bytes: gauge_vec(None, &spec::BUFFER_MAX_BYTES),
            records: gauge_vec(None, &spec::BUFFER_RECORDS),
            segments: gauge_vec(None, &spec::BUFFER_SEGMENTS),
            oldest_record_age: float_gauge_vec(None, &spec::BUFFER_OLDEST_RECORD_AGE),
            full: gauge_vec(None, &spec::BUFFER_FULL),
            written_bytes: counter_vec(None, &spec::BUFFER_WRITTEN_BYTES),
            written_records: counter_vec(None, &spec::BUFFER_WRITTEN_RECORDS),
            read_bytes: counter_vec(None, &spec::BUFFER_READ_BYTES),
            delivered_records: counter_vec(None, &spec::BUFFER_DELIVERED_RECORDS),
            rejected_records: counter_vec(None, &spec::BUFFER_REJECTED_RECORDS),
            corrupt_records: counter_vec(None, &spec::BUFFER_CORRUPT_RECORDS),
            torn_bytes: counter_vec(None, &spec::BUFFER_TORN_BYTES),
            replayed_records: counter_vec(None, &spec::BUFFER_REPLAYED_RECORDS),
            drain_retries: counter_vec(None, &spec::BUFFER_DRAIN_RETRIES),
            position_writes: counter_vec(None, &spec::BUFFER_POSITION_WRITES),
            read_from_memory_bytes: counter_vec(None, &spec::BUFFER_READ_FROM_MEMORY_BYTES),
        }
    }

    fn gauges(&self) -> [&IntGaugeVec; 6] {
        [
            &self.bytes,
            &self.disk_bytes,
            &self.max_bytes,
            &self.records,
            &self.segments,
            &self.full,
        ]
    }

    fn counters(&self) -> [&IntCounterVec; 11] {
        [
            &self.written_bytes,
            &self.written_records,
            &self.read_bytes,
            &self.delivered_records,
            &self.rejected_records,
            &self.corrupt_records,
            &self.torn_bytes,
            &self.replayed_records,
            &self.drain_retries,
            &self.position_writes,
            &self.read_from_memory_bytes,
        ]
    }

    fn set(&self, sink: &str, r: &BufferReading) {
        let l = &[sink];
        self.bytes.with_label_values(l).set(to_i64(r.bytes));
        self.disk_bytes
            .with_label_values(l)
            .set(to_i64(r.disk_bytes));
        self.max_bytes.with_label_values(l).set(to_i64(r.max_bytes));
        self.records.with_label_values(l).set(to_i64(r.records));
        self.segments.with_label_values(l).set(to_i64(r.segments));
        self.oldest_record_age
            .with_label_values(l)
            .set(r.oldest_record_age_seconds);
        self.full.with_label_values(l).set(i64::from(r.full));
        set_counter(&self.written_bytes, sink, r.written_bytes);
        set_counter(&self.written_records, sink, r.written_records);
        set_counter(&self.read_bytes, sink, r.read_bytes);
        set_counter(&self.delivered_records, sink, r.delivered_records);
        set_counter(&self.rejected_records, sink, r.rejected_records);
        set_counter(&self.corrupt_records, sink, r.corrupt_records);
        set_counter(&self.torn_bytes, sink, r.torn_bytes);
        set_counter(&self.replayed_records, sink, r.replayed_records);
        set_counter(&self.drain_retries, sink, r.drain_retries);
        set_counter(&self.position_writes, sink, r.position_writes);
        set_counter(&self.read_from_memory_bytes, sink, r.read_from_memory_bytes);
    }
}

impl BufferMetrics {
    pub(crate) fn new() -> Self {
        BufferMetrics {
            inner: Arc::new(Inner {
                families: Families::new(),
                probes: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Exports the buffer of sink `sink` through `probe` from now on (the `sink` label). A
    /// second probe for the same sink replaces the first.
    pub fn watch(&self, sink: &str, probe: BufferProbe) {
        let mut probes = self.inner.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes.retain(|(s, _)| s != sink);
        probes.push((sink.to_string(), probe));
    }

    /// The readings of every watched buffer, by sink name (for `/status`).
    pub fn readings(&self) -> Vec<(String, BufferReading)> {
        let probes = self.inner.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes.iter().map(|(s, p)| (s.clone(), p())).collect()
    }
}

impl Collector for BufferMetrics {
    fn desc(&self) -> Vec<&Desc> {
        let f = &self.inner.families;
        let mut d = Vec::new();
        for g in f.gauges() {
            d.extend(g.desc());
        }
        d.extend(f.oldest_record_age.desc());
        for c in f.counters() {
            d.extend(c.desc());
        }
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let probes = self.inner.probes.lock().unwrap_or_else(|p| p.into_inner());
        let f = &self.inner.families;
        for (sink, probe) in probes.iter() {
            f.set(sink, &probe());
        }
        let mut out = Vec::new();
        for g in f.gauges() {
            out.extend(g.collect());
        }
        out.extend(f.oldest_record_age.collect());
        for c in f.counters() {
            out.extend(c.collect());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    #[test]
    fn a_scrape_reads_the_probe_at_that_moment_and_counters_follow_it() {
        let m = crate::Metrics::new();
        assert!(
            !m.render().contains("entrastream_buffer_"),
            "no buffer, no series"
        );
        let written = Arc::new(AtomicU64::new(100));
        let w = written.clone();
        m.buffers.watch(
            "sumo",
            Arc::new(move || BufferReading {
                bytes: 70,
                disk_bytes: 4096,
                max_bytes: 1 << 20,
                records: 3,
                segments: 2,
                oldest_record_age_seconds: 1.5,
                full: true,
                written_bytes: w.load(Ordering::Relaxed),
                corrupt_records: 1,
                torn_bytes: 9,
                replayed_records: 4,
                position_writes: 6,
                read_from_memory_bytes: 50,
                ..Default::default()
            }),
        );
        let text = m.render();
        for want in [
            "entrastream_buffer_bytes{sink=\"sumo\"} 70",
            "entrastream_buffer_disk_bytes{sink=\"sumo\"} 4096",
            "entrastream_buffer_max_bytes{sink=\"sumo\"} 1048576",
            "entrastream_buffer_records{sink=\"sumo\"} 3",
            "entrastream_buffer_segments{sink=\"sumo\"} 2",
            "entrastream_buffer_oldest_record_age_seconds{sink=\"sumo\"} 1.5",
            "entrastream_buffer_full{sink=\"sumo\"} 1",
            "entrastream_buffer_written_bytes_total{sink=\"sumo\"} 100",
            "entrastream_buffer_corrupt_records_total{sink=\"sumo\"} 1",
            "entrastream_buffer_torn_bytes_total{sink=\"sumo\"} 9",
            "entrastream_buffer_replayed_records_total{sink=\"sumo\"} 4",
            "entrastream_buffer_read_bytes_total{sink=\"sumo\"} 0",
            "entrastream_buffer_position_writes_total{sink=\"sumo\"} 6",
            "entrastream_buffer_read_from_memory_bytes_total{sink=\"sumo\"} 50",
            "# TYPE entrastream_buffer_written_bytes_total counter",
            "# TYPE entrastream_buffer_full gauge",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        written.store(250, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("entrastream_buffer_written_bytes_total{sink=\"sumo\"} 250"));
        // Scraping again without a change adds nothing.
        let text = m.render();
        assert!(text.contains("entrastream_buffer_written_bytes_total{sink=\"sumo\"} 250"));
        assert_eq!(m.buffers.readings()[0].1.written_bytes, 250);
    }
}
