//! The open batch: messages parsed and encoded for every sink, waiting to be cut.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use entrastream_entra::{EncodeContext, ParseOptions, Timestamp, parse_records};
use entrastream_model::{PartitionId, SourceMessage};
use entrastream_sink::{CategoryFilter, EncodedBatch, RecordEncoder, RecordMeta, RecordObserver};
use entrastream_telemetry::Metrics;

use crate::deadletter;

/// A cut batch waiting for its sink jobs to complete.
#[derive(Debug, Default)]
pub(crate) struct InFlightBatch {
    /// (partition, offset, enqueued time) of every message in the batch.
    pub messages: Vec<(PartitionId, i64, Option<SystemTime>)>,
    /// Jobs not yet completed.
    pub remaining: usize,
    /// Message bytes (released when the batch is done).
    pub input_bytes: usize,
    /// Encoded bytes across all sink jobs (released when the batch is done).
    pub encoded_bytes: usize,
    /// Parsed records in the batch.
    pub records: u64,
}

/// Counts from adding one message.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AddStats {
    pub records: u64,
    pub dead_lettered: u64,
}

/// One sink's share of a batch (or of one parsed message): encoded records back to back, and
/// where each one is.
#[derive(Debug, Default)]
pub(crate) struct Part {
    data: Vec<u8>,
    records: Vec<RecordMeta>,
}

/// What parsing and encoding need besides the message, shared by every parse thread.
#[derive(Debug)]
pub(crate) struct ParseShared {
    pub encoders: Vec<(Arc<dyn RecordEncoder>, CategoryFilter, String)>,
    pub observers: Vec<Arc<dyn RecordObserver>>,
    pub opts: ParseOptions,
    pub metrics: Metrics,
}

/// One message parsed and encoded for every sink, off the pipeline task: appended to the open
/// batch in the order the source delivered the messages ([`BatchBuilder::append`]).
#[derive(Debug)]
pub(crate) struct ParsedMessage {
    partition: PartitionId,
    offset: i64,
    enqueued_time: Option<SystemTime>,
    input_bytes: usize,
    /// One per sink, in encoder order.
    parts: Vec<Part>,
    dead_letter: Vec<u8>,
    dl_count: usize,
    pub stats: AddStats,
}

/// Parses one message and encodes its records for every sink that wants them; whatever cannot
/// be split, parsed or encoded becomes a dead-letter line. Pure CPU work (no I/O, no locks
/// beyond the metric counters): this is what the parse pool runs.
pub(crate) fn parse_message(m: &SourceMessage, shared: &ParseShared) -> ParsedMessage {
    let started = Instant::now();
    let metrics = &shared.metrics;
    let ctx = EncodeContext {
        ingest_time: Timestamp::now(),
    };
    let mut out = ParsedMessage {
        partition: m.partition.clone(),
        offset: m.offset,
        enqueued_time: m.enqueued_time,
        input_bytes: m.body.len(),
        parts: (0..shared.encoders.len())
            .map(|_| Part::default())
            .collect(),
        dead_letter: Vec::new(),
        dl_count: 0,
        stats: AddStats::default(),
    };
    let mut last_cat: Option<(String, u64)> = None;
    if let Some(why) = &m.unreadable {
        // The source could not read the body as one payload: parsing what it recovered
        // would pass the message on empty or mangled, so the whole message is a dead letter.
        out.dead_letter_whole(m, why, metrics);
        out.stats.dead_lettered += 1;
    }
    let readable: &[u8] = if m.unreadable.is_some() { &[] } else { &m.body };
    for item in parse_records(readable, &shared.opts) {
        // A part that could not be split and a record that could not be parsed are dead
        // letters alike: same line, same counters.
        let record = match item {
            Ok(r) => r,
            Err(e) => {
                out.dead_letter_parse(
                    m,
                    &e.to_string(),
                    e.reason_code(),
                    Some(e.offset()),
                    e.category(),
                    e.raw(),
                    metrics,
                );
                out.stats.dead_lettered += 1;
                continue;
            }
        };
        for o in &shared.observers {
            o.observe(&record);
        }
        let category = record.category();
        out.stats.records += 1;
        match &mut last_cat {
            Some((c, n)) if c == category => *n += 1,
            _ => {
                if let Some((c, n)) = last_cat.take() {
                    metrics.count_records_in(&c, n);
                }
                last_cat = Some((category.to_string(), 1));
            }
        }
        for (i, (enc, filter, name)) in shared.encoders.iter().enumerate() {
            if !filter.accepts(category) {
                continue;
            }
            let part = &mut out.parts[i];
            if part.data.capacity() == 0 {
                // Encodings are about as large as their input: one allocation per message
                // and sink rather than a series of doublings.
                part.data.reserve(m.body.len() + m.body.len() / 4);
            }
            let start = part.data.len();
            match enc.encode(&record, &ctx, &mut part.data) {
                Ok(()) => {
                    let end = part.data.len();
                    part.data.extend_from_slice(enc.separator());
                    part.records.push(RecordMeta {
                        range: start..end,
                        partition: m.partition.clone(),
                        offset: m.offset,
                        category: category.to_string(),
                    });
                }
                Err(reason) => {
                    part.data.truncate(start);
                    metrics
                        .dead_lettered
                        .with_label_values(&["encode_failed"])
                        .inc();
                    deadletter::write_line(
                        &mut out.dead_letter,
                        &reason.to_string(),
                        "encode_failed",
                        name,
                        &m.partition,
                        m.offset,
                        Some(record.offset()),
                        Some(category),
                        record.raw(),
                    );
                    out.dl_count += 1;
                    out.stats.dead_lettered += 1;
                }
            }
        }
    }
    if let Some((c, n)) = last_cat {
        metrics.count_records_in(&c, n);
    }
    metrics
        .process_duration
        .observe(started.elapsed().as_secs_f64());
    out
}

impl ParsedMessage {
    /// Bytes of the message's body.
    pub fn input_bytes(&self) -> usize {
        self.input_bytes
    }

    /// Bytes it adds to the open batch: every sink's encodings and its dead-letter lines.
    pub fn encoded_bytes(&self) -> usize {
        self.parts.iter().map(|p| p.data.len()).sum::<usize>() + self.dead_letter.len()
    }

    /// A message the source could not read: one dead-letter line with the source's reason.
    fn dead_letter_whole(&mut self, m: &SourceMessage, why: &str, metrics: &Metrics) {
        const REASON: &str = "unreadable_body";
        metrics.dead_lettered.with_label_values(&[REASON]).inc();
        deadletter::write_line(
            &mut self.dead_letter,
            why,
            REASON,
            "source",
            &m.partition,
            m.offset,
            None,
            None,
            &m.body,
        );
        self.dl_count += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn dead_letter_parse(
        &mut self,
        m: &SourceMessage,
        error: &str,
        reason: &'static str,
        body_offset: Option<usize>,
        category: Option<&str>,
        raw: &[u8],
        metrics: &Metrics,
    ) {
        metrics.dead_lettered.with_label_values(&[reason]).inc();
        deadletter::write_line(
            &mut self.dead_letter,
            error,
            reason,
            "parser",
            &m.partition,
            m.offset,
            body_offset,
            category,
            raw,
        );
        self.dl_count += 1;
    }
}

/// How many bytes to reserve in a sink's batch buffer that holds `held` bytes and must take
/// `adding` more, `input` bytes of messages in the batch (this one included): room for what the
/// batch will hold when it is cut at `max_input` bytes of input, at the encoded-to-input ratio
/// seen so far, plus one more message of this size (the cut comes after the message that crosses
/// the limit). One reservation instead of a series of doublings, each of which copies the
/// buffer again (on the 1-core e2e row, copying encodings into the batch is the pipeline
/// task's largest cost).
fn batch_room(held: usize, adding: usize, input: usize, max_input: usize) -> usize {
    let total = held.saturating_add(adding);
    if input == 0 || input >= max_input {
        // This message fills the batch: it is cut right after it.
        return adding;
    }
    // u128: no overflow whatever the sizes.
    let at_cut = total as u128 * max_input as u128 / input as u128;
    usize::try_from(at_cut)
        .unwrap_or(usize::MAX)
        .saturating_add(adding)
        .saturating_sub(held)
}

#[derive(Debug)]
pub(crate) struct BatchBuilder {
    /// Input bytes at which the batch is cut (`batch_max_bytes`).
    max_input_bytes: usize,
    parts: Vec<Part>,
    dead_letter: Vec<u8>,
    dl_count: usize,
    batch: InFlightBatch,
    started: Option<Instant>,
}

impl BatchBuilder {
    pub fn new(sinks: usize, max_input_bytes: usize) -> Self {
        BatchBuilder {
            max_input_bytes,
            parts: (0..sinks).map(|_| Part::default()).collect(),
            dead_letter: Vec::new(),
            dl_count: 0,
            batch: InFlightBatch::default(),
            started: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.batch.messages.is_empty()
    }

    pub fn input_bytes(&self) -> usize {
        self.batch.input_bytes
    }

    pub fn age(&self) -> Option<std::time::Duration> {
        self.started.map(|s| s.elapsed())
    }

    /// Adds one parsed message to the open batch, after every message appended before it:
    /// each sink's records keep the order of the calls.
    pub fn append(&mut self, parsed: ParsedMessage) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        let encoded = parsed.encoded_bytes();
        let input_so_far = self.batch.input_bytes + parsed.input_bytes;
        for (part, mut add) in self.parts.iter_mut().zip(parsed.parts) {
            if add.records.is_empty() {
                continue;
            }
            if part.records.is_empty() {
                // The first message of the batch for this sink: its buffer becomes the batch's.
                part.data = add.data;
                part.records = add.records;
                continue;
            }
            let base = part.data.len();
            if part.data.capacity() - base < add.data.len() {
                part.data.reserve_exact(batch_room(
                    base,
                    add.data.len(),
                    input_so_far,
                    self.max_input_bytes,
                ));
            }
            part.data.extend_from_slice(&add.data);
            for r in &mut add.records {
                r.range = r.range.start + base..r.range.end + base;
            }
            part.records.append(&mut add.records);
        }
        if parsed.dl_count > 0 {
            self.dead_letter.extend_from_slice(&parsed.dead_letter);
            self.dl_count += parsed.dl_count;
        }
        self.batch
            .messages
            .push((parsed.partition, parsed.offset, parsed.enqueued_time));
        self.batch.input_bytes += parsed.input_bytes;
        self.batch.encoded_bytes += encoded;
        self.batch.records += parsed.stats.records;
    }

    /// Cuts the batch: one optional job per sink (None when it selected no record), the
    /// dead-letter job, and the bookkeeping entry.
    pub fn take(
        &mut self,
    ) -> (
        Vec<Option<EncodedBatch>>,
        Option<EncodedBatch>,
        InFlightBatch,
    ) {
        let mut encoded = 0;
        let jobs = self
            .parts
            .iter_mut()
            .map(|p| {
                if p.records.is_empty() {
                    p.data.clear();
                    return None;
                }
                let data = std::mem::take(&mut p.data);
                encoded += data.len();
                Some(EncodedBatch {
                    data: Bytes::from(data),
                    records: std::mem::take(&mut p.records),
                })
            })
            .collect();
        let dl = if self.dl_count > 0 {
            let data = std::mem::take(&mut self.dead_letter);
            encoded += data.len();
            Some(EncodedBatch {
                data: Bytes::from(data),
                records: Vec::new(),
            })
        } else {
            None
        };
        self.dl_count = 0;
        self.started = None;
        let batch = std::mem::take(&mut self.batch);
        // What `append` counted (and the budget was trued up to) is what the jobs carry.
        debug_assert_eq!(batch.encoded_bytes, encoded);
        (jobs, dl, batch)
    }
}

#[cfg(test)]
mod tests {
    use super::batch_room;

    #[test]
    fn the_batch_buffer_is_reserved_once_for_the_whole_batch() {
        // 2 messages of 120 kB in, 150 kB out each; cut at 1 MB of input: room for ~1.25 MB
        // at the cut plus one more message, less what is held.
        let room = batch_room(150_000, 150_000, 240_000, 1_000_000);
        assert_eq!(room, 1_250_000 + 150_000 - 150_000);
        // This message fills the batch (one huge message): room for it, nothing more.
        assert_eq!(batch_room(10, 5_000_000, 4_000_000, 1_000_000), 5_000_000);
        // Degenerate sizes never panic and always leave room for what is added.
        assert!(batch_room(0, 7, 0, 1_000_000) >= 7);
        assert!(batch_room(usize::MAX / 2, 8, 1, usize::MAX) >= 8);
    }
}
