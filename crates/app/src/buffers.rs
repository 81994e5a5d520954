//! Disk buffers in front of the sinks that ask for one (`buffer = { type = "disk", … }`).
//!
//! Done at start only (not by `check-config` or `check-sinks`): opening a buffer takes its
//! directory's lock and starts its drain task, which a config check must not do while the
//! daemon runs. The dead-letter file is shared between the pipeline and every drain, so a
//! record a buffered sink's peer refuses for good still lands there with its partition and
//! offset.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use entrastream_buffer::{BufferStats, BufferedSink, DiskConfig, DrainOptions, SharedSink};
use entrastream_config::{Config, SinkKind};
use entrastream_pipeline::SinkSlot;
use entrastream_sink::{RetryPolicy, Sink};
use entrastream_telemetry::{BufferProbe, BufferReading, Metrics};

use crate::AppError;

/// One opened disk buffer: its sink, settings and live numbers.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    pub(crate) sink: String,
    pub(crate) settings: DiskConfig,
    pub(crate) stats: Arc<BufferStats>,
}

/// What a scrape or `/status` reads of one buffer's stats: atomic loads only.
pub(crate) fn reading(stats: &BufferStats) -> BufferReading {
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    BufferReading {
        bytes: n(&stats.bytes),
        disk_bytes: n(&stats.disk_bytes),
        max_bytes: n(&stats.max_bytes),
        records: n(&stats.records),
        segments: n(&stats.segments),
        oldest_record_age_seconds: stats
            .oldest_record_age(SystemTime::now())
            .map_or(0.0, |d| d.as_secs_f64()),
        full: stats.full.load(Ordering::Relaxed),
        written_bytes: n(&stats.bytes_written),
        written_records: n(&stats.records_written),
        read_bytes: n(&stats.bytes_read),
        delivered_records: n(&stats.records_delivered),
        rejected_records: n(&stats.records_rejected),
        corrupt_records: n(&stats.records_corrupt),
        torn_bytes: n(&stats.torn_bytes),
        replayed_records: n(&stats.records_replayed),
        drain_retries: n(&stats.drain_retries),
        position_writes: n(&stats.ack_writes),
        read_from_memory_bytes: n(&stats.bytes_from_tail),
    }
}

/// Exports every opened buffer on `/metrics` (`entrastream_buffer_*{sink}`).
pub(crate) fn export(metrics: &Metrics, opened: &[Opened]) {
    for o in opened {
        let stats = o.stats.clone();
        let probe: BufferProbe = Arc::new(move || reading(&stats));
        metrics.buffers.watch(&o.sink, probe);
    }
}

/// `/status`'s view of the buffers: each buffered sink's settings and its numbers now.
pub(crate) fn status(opened: &[Opened]) -> serde_json::Value {
    let sinks: Vec<serde_json::Value> = opened
        .iter()
        .map(|o| {
            let r = reading(&o.stats);
            serde_json::json!({
                "sink": o.sink,
                "type": "disk",
                "path": o.settings.path,
                "max_size": o.settings.max_size,
                "max_bytes": r.max_bytes,
                "bytes": r.bytes,
                "disk_bytes": r.disk_bytes,
                "records": r.records,
                "segments": r.segments,
                "oldest_record_age_seconds": r.oldest_record_age_seconds,
                "full": r.full,
            })
        })
        .collect();
    serde_json::Value::Array(sinks)
}

/// The sinks the pipeline is to use once the buffered ones are wrapped.
pub(crate) struct Wrapped {
    /// The sink slots, buffered sinks wrapped.
    pub(crate) slots: Vec<SinkSlot>,
    /// The dead-letter sink (shared with every drain when a buffer is open).
    pub(crate) dead_letter: Box<dyn Sink>,
    /// The buffers opened.
    pub(crate) opened: Vec<Opened>,
}

/// Wraps the buffered sinks of `slots` (built from `config.sinks`, in order, without the
/// dead-letter entries) and returns the dead-letter sink the pipeline is to use, with the
/// buffers it opened.
pub(crate) fn wrap(
    config: &Config,
    slots: Vec<SinkSlot>,
    dead_letter: Box<dyn Sink>,
) -> Result<Wrapped, AppError> {
    let settings: Vec<_> = config
        .sinks
        .iter()
        .filter(|s| !matches!(s.kind, SinkKind::DeadLetter(_)))
        .map(|s| (s.name.clone(), s.disk_buffer().cloned()))
        .collect();
    if settings.iter().all(|(_, b)| b.is_none()) {
        return Ok(Wrapped {
            slots,
            dead_letter,
            opened: Vec::new(),
        });
    }
    let shared = SharedSink::new(dead_letter);
    let retry = RetryPolicy::new(config.pipeline.retry_initial.0, config.pipeline.retry_max.0);
    let mut out = Vec::with_capacity(slots.len());
    let mut opened = Vec::new();
    let mut settings = settings.into_iter();
    for slot in slots {
        // Slots past the configured ones (a hook's extra sinks) have no buffer.
        let Some((name, Some(disk))) = settings.next() else {
            out.push(slot);
            continue;
        };
        let options = DrainOptions {
            retry: retry.clone(),
            ..Default::default()
        };
        let sink = BufferedSink::open(
            &disk.path,
            disk.max_size.0,
            slot.sink,
            Box::new(shared.clone()),
            options,
        )
        .map_err(|error| AppError::Buffer {
            sink: name.clone(),
            error,
        })?;
        opened.push(Opened {
            sink: name,
            settings: disk,
            stats: sink.stats(),
        });
        out.push(SinkSlot {
            sink: Box::new(sink),
            filter: slot.filter,
        });
    }
    Ok(Wrapped {
        slots: out,
        dead_letter: Box::new(shared),
        opened,
    })
}
