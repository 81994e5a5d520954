//! A durable, bounded disk buffer in front of any sink: [`BufferedSink`] wraps a
//! `Box<dyn Sink>` and is itself a [`Sink`](entrastream_sink::Sink), so one sink's outage no
//! longer holds every partition's checkpoint.
//!
//! # What "delivered" means for a buffered sink
//!
//! [`BufferedSink::send`](entrastream_sink::Sink::send) appends the batch's records (bytes plus
//! partition, offset and category) to the buffer's newest segment file and fsyncs it (group
//! commit: the pipeline merges queued batches into one append, as for the file sink), then
//! returns `Delivered`; the pipeline's watermark moves on without waiting for the remote
//! system. A drain task per buffered sink reads the buffer in order and sends to the wrapped
//! sink with its own batching, retries and rejections. Records leave the buffer (the
//! acknowledged position moves, fully acknowledged segments are deleted) only after the
//! wrapped sink answered `Delivered` or `Rejected` — which for Splunk HEC includes indexer
//! acknowledgement, since that is when the HEC sink says `Delivered`. Records refused for good
//! go to the dead-letter sink with their reason and original partition and offset before they
//! are acknowledged. At-least-once holds end to end: the wrapped sink may see a record twice
//! after a crash, never miss one the pipeline considered delivered.
//!
//! # The drain is a pipeline
//!
//! A serial drain (read a batch, send it, wait for the peer, write the position, read the
//! next) leaves the disk, the peer and the sink idle in turn. The drain (`drain.rs`) instead
//! reads ahead while a batch is in flight (bounded: `lanes + read_ahead` batches past the
//! acknowledged position), sends recent appends from an in-memory tail of the pipeline's own
//! bytes while it keeps up (no read-back, no copy; `store::Tail`), can keep one batch in
//! flight on each of several instances of a network sink ([`BufferedSink::open_lanes`]),
//! moves the acknowledged position only past batches that are finished together with every
//! batch before them (the contiguous watermark, `watermark.rs`), and writes that position
//! from a separate task, one write covering every batch finished during the previous one; no
//! batch is sent more than `lanes + 4` batches past the written position. A crash therefore
//! resends at most those few batches; it never skips one.
//!
//! # Full buffer = backpressure, never drop
//!
//! When an append would take the buffer's files past `max_size`, `send` returns `Retryable`
//! (so do I/O errors, a full disk included; nothing panics). The pipeline's sink worker then
//! retries the batch with its jittered backoff, forever; the batch stays in flight and its
//! bytes stay counted against `max_in_flight_bytes`, and once that budget is full every
//! assigned partition is paused (`crates/pipeline`, delivery contract point 2) — exactly what
//! happens today when an unbuffered sink is down. As the drain frees whole segments, the
//! retried append succeeds and the budget, then the partitions, resume. One exception to the
//! bound: an *empty* buffer accepts any batch, even one larger than `max_size`, so that a small
//! setting can never stall a sink forever. Size `max_size` (and the volume under it, with
//! some headroom for one segment) as *write rate of this sink × longest outage to ride out*:
//! 5 MB/s of encoded records and a 1-hour outage need about 18 GiB.
//!
//! # On-disk format and crash safety
//!
//! The directory holds numbered segment files of checksummed record frames ([`format`]
//! documents the layout), an `ack` file with the acknowledged position (checksummed, replaced
//! atomically) and a `lock` file (one process and one sink per directory). After `kill -9` at
//! any moment, opening the buffer:
//! - cuts off a torn tail of the newest segment (a write the crash interrupted; it was never
//!   acknowledged to the pipeline, which sends it again) and logs how many bytes went;
//! - resumes at the acknowledged position written last and sends everything after it again
//!   (duplicates possible: the wrapped sink may have taken some of it before the crash, at
//!   most `lanes + 4` batches);
//! - falls back to the oldest segment when the `ack` file is missing or damaged.
//!
//! While reading, a record whose checksum fails is skipped — the parser finds the next frame by
//! its magic and verified header — and written to the dead-letter file with reason
//! `buffer_corrupt` (with its partition and offset when only its data is damaged); nothing
//! after it is lost.
//!
//! # Decision: our own small format, not a crate
//!
//! Vector's first disk buffer used LevelDB; its users met compaction CPU spikes, minutes-long
//! start-ups on large buffers, memory-mapped files and unrecoverable corruption after hard
//! stops, and Vector replaced it (2022, "disk buffer v2") with its own append-only files of
//! checksummed records plus a small ledger — the same shape as here. Vector's implementation
//! lives inside its own workspace (tied to its event types, not published for reuse).
//! Embedded databases (sled, redb, fjall) would add a general-purpose store — compaction,
//! B-trees, their own recovery — for what is a FIFO of opaque bytes; persistent-queue crates
//! (yaque, queue-file) are lightly maintained and neither carries per-record metadata nor
//! reports damaged records for dead-lettering. What we need is a few hundred lines, fuzzed
//! (`fuzz/`) and property-tested.
//!
//! # Metrics
//!
//! [`BufferStats`] holds the numbers (bytes, records, oldest record, bytes written and read,
//! segments, full flag, …) as atomics; this crate registers no metric. The composition root
//! (`crates/app/src/buffers.rs`) hands each buffer's stats to the telemetry crate, which reads
//! them when `/metrics` is scraped (`entrastream_buffer_*{sink}`, `entrastream_buffer_full`
//! among them) and for `/status`; alerts and runbooks are in `deploy/monitoring` and
//! `docs/operations.md`.
#![forbid(unsafe_code)]

mod config;
mod drain;
pub mod format;
mod sink;
mod stats;
mod store;
mod watermark;

pub use config::{Config, ConfigError, DiskConfig, MIN_MAX_SIZE};
pub use sink::{BufferedSink, DrainOptions, SharedSink};
pub use stats::BufferStats;
pub use store::{OpenError, Recovery};
