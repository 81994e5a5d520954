//! Disk buffers in front of the sinks that ask for one (`buffer = { type = "disk", … }`).
//!
//! Done at start only (not by `check-config` or `check-sinks`): opening a buffer takes its
//! directory's lock and starts its drain task, which a config check must not do while the
//! daemon runs. The dead-letter file is shared between the pipeline and every drain, so a
//! record a buffered sink's peer refuses for good still lands there with its partition and
//! offset.

use entrastream_buffer::{BufferedSink, DrainOptions, SharedSink};
use entrastream_config::{Config, SinkKind};
use entrastream_pipeline::SinkSlot;
use entrastream_sink::{RetryPolicy, Sink};

use crate::AppError;

/// Wraps the buffered sinks of `slots` (built from `config.sinks`, in order, without the
/// dead-letter entries) and returns the dead-letter sink the pipeline is to use.
pub(crate) fn wrap(
    config: &Config,
    slots: Vec<SinkSlot>,
    dead_letter: Box<dyn Sink>,
) -> Result<(Vec<SinkSlot>, Box<dyn Sink>), AppError> {
    let settings: Vec<_> = config
        .sinks
        .iter()
        .filter(|s| !matches!(s.kind, SinkKind::DeadLetter(_)))
        .map(|s| (s.name.clone(), s.disk_buffer().cloned()))
        .collect();
    if settings.iter().all(|(_, b)| b.is_none()) {
        return Ok((slots, dead_letter));
    }
    let shared = SharedSink::new(dead_letter);
    let retry = RetryPolicy::new(config.pipeline.retry_initial.0, config.pipeline.retry_max.0);
    let mut out = Vec::with_capacity(slots.len());
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
        .map_err(|error| AppError::Buffer { sink: name, error })?;
        out.push(SinkSlot {
            sink: Box::new(sink),
            filter: slot.filter,
        });
    }
    Ok((out, Box::new(shared)))
}
