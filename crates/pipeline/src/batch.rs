//! The open batch: messages parsed and encoded for every sink, waiting to be cut.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use entrastream_entra::{EncodeContext, ParseOptions, Timestamp, parse_record, split};
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

#[derive(Debug, Default)]
struct Part {
    data: Vec<u8>,
    records: Vec<RecordMeta>,
}

#[derive(Debug)]
pub(crate) struct BatchBuilder {
    parts: Vec<Part>,
    dead_letter: Vec<u8>,
    dl_count: usize,
    batch: InFlightBatch,
    started: Option<Instant>,
    ctx: EncodeContext,
}

impl BatchBuilder {
    pub fn new(sinks: usize) -> Self {
        BatchBuilder {
            parts: (0..sinks).map(|_| Part::default()).collect(),
            dead_letter: Vec::new(),
            dl_count: 0,
            batch: InFlightBatch::default(),
            started: None,
            ctx: EncodeContext {
                ingest_time: Timestamp::now(),
            },
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

    /// Parses one message and encodes its records for every sink that wants them; whatever
    /// cannot be split, parsed or encoded becomes a dead-letter line.
    pub fn add_message(
        &mut self,
        m: &SourceMessage,
        encoders: &[(Arc<dyn RecordEncoder>, CategoryFilter, String)],
        observers: &[Arc<dyn RecordObserver>],
        opts: &ParseOptions,
        metrics: &Metrics,
    ) -> AddStats {
        if self.started.is_none() {
            self.started = Some(Instant::now());
            self.ctx = EncodeContext {
                ingest_time: Timestamp::now(),
            };
        }
        let mut stats = AddStats::default();
        let mut last_cat: Option<(String, u64)> = None;
        if let Some(why) = &m.unreadable {
            // The source could not read the body as one payload: parsing what it recovered
            // would pass the message on empty or mangled, so the whole message is a dead letter.
            self.dead_letter_whole(m, why, metrics);
            stats.dead_lettered += 1;
        }
        let readable: &[u8] = if m.unreadable.is_some() { &[] } else { &m.body };
        for item in split(readable) {
            // A part that could not be split and a record that could not be parsed are dead
            // letters alike: same line, same counters.
            let record = match item.and_then(|slice| parse_record(slice, opts)) {
                Ok(r) => r,
                Err(e) => {
                    self.dead_letter_parse(
                        m,
                        &e.to_string(),
                        e.reason_code(),
                        Some(e.offset()),
                        e.category(),
                        e.raw(),
                        metrics,
                    );
                    stats.dead_lettered += 1;
                    continue;
                }
            };
            for o in observers {
                o.observe(&record);
            }
            let category = record.category();
            stats.records += 1;
            match &mut last_cat {
                Some((c, n)) if c == category => *n += 1,
                _ => {
                    if let Some((c, n)) = last_cat.take() {
                        metrics.count_records_in(&c, n);
                    }
                    last_cat = Some((category.to_string(), 1));
                }
            }
            for (i, (enc, filter, name)) in encoders.iter().enumerate() {
                if !filter.accepts(category) {
                    continue;
                }
                let part = &mut self.parts[i];
                let start = part.data.len();
                match enc.encode(&record, &self.ctx, &mut part.data) {
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
                            &mut self.dead_letter,
                            &reason.to_string(),
                            "encode_failed",
                            name,
                            &m.partition,
                            m.offset,
                            Some(record.offset()),
                            Some(category),
                            record.raw(),
                        );
                        self.dl_count += 1;
                        stats.dead_lettered += 1;
                    }
                }
            }
        }
        if let Some((c, n)) = last_cat {
            metrics.count_records_in(&c, n);
        }
        self.batch
            .messages
            .push((m.partition.clone(), m.offset, m.enqueued_time));
        self.batch.input_bytes += m.body.len();
        self.batch.records += stats.records;
        stats
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
                let cap = p.data.capacity();
                let data = std::mem::replace(&mut p.data, Vec::with_capacity(cap.min(4 << 20)));
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
        let mut batch = std::mem::take(&mut self.batch);
        batch.encoded_bytes = encoded;
        (jobs, dl, batch)
    }
}
