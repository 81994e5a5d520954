//! The reading half of a replay, on its own thread: files in order, decompressed member by
//! member, cut into messages of whole lines, selected, handed to the source over a bounded
//! channel (the pipeline's byte budget then holds the reader back).
//!
//! Positions: every message's offset is the byte offset of its first byte in the file's
//! decompressed stream, and its end is recorded in [`Tracking`] before it is sent, so the
//! source can turn a committed offset into "done up to byte N". A damaged compressed member
//! becomes one unreadable message (the incomplete line it cut, if any) that occupies one
//! virtual byte past that line, so offsets stay strictly increasing. After a file's last
//! message an empty marker message at offset = end of file follows; its commit marks the
//! file done.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use entrastream_archive::{Compression, DecodeEvent};
use entrastream_entra::ParseOptions;
use entrastream_model::{PartitionId, SourceMessage};
use tokio::sync::mpsc;

use crate::decode::{Open, decode_stream};
use crate::inputs::InputFile;
use crate::select::Selection;

/// Bytes per message: large enough that per-message work vanishes, small next to the budget.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Message ends and file ends, shared by the reader (writes) and the source's commit (reads).
#[derive(Debug, Default)]
pub struct Tracking {
    /// Per file: message offset → end (exclusive) of the bytes it covers.
    pub ends: HashMap<String, BTreeMap<i64, u64>>,
    /// Per file: the offset of its end-of-file marker.
    pub eof: HashMap<String, u64>,
}

/// Counters the progress bar and the summary read.
#[derive(Debug, Default)]
pub struct ReadCounters {
    /// Bytes of input files read (as stored: compressed when compressed).
    pub file_bytes: AtomicU64,
    /// Decompressed bytes handed to the pipeline (before selection).
    pub bytes: AtomicU64,
    /// Files read to their end.
    pub files_read: AtomicU64,
    /// Files that could not be read at all (named in the log).
    pub files_failed: AtomicU64,
    /// Records left out by `--since/--until/--categories`.
    pub not_selected: AtomicU64,
    /// Damaged gzip members / zstd frames.
    pub damaged_members: AtomicU64,
}

/// What the reader thread needs.
#[derive(Debug)]
pub struct Reader {
    pub files: Vec<InputFile>,
    /// Where each file starts (its committed offset; absent = 0).
    pub start: HashMap<String, u64>,
    pub selection: Selection,
    /// Decompressed bytes per second, at most.
    pub rate: Option<f64>,
    pub opts: ParseOptions,
    pub tracking: Arc<Mutex<Tracking>>,
    pub counters: Arc<ReadCounters>,
    pub stop: Arc<AtomicBool>,
}

impl Reader {
    /// Reads every file, then drops `tx` (the source then reports Eof).
    pub fn run(self, tx: mpsc::Sender<SourceMessage>) {
        let started = Instant::now();
        let mut sent: u64 = 0;
        for f in &self.files {
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            let start = self.start.get(&f.name).copied().unwrap_or(0);
            let mut out = Out {
                reader: &self,
                tx: &tx,
                name: &f.name,
                skip_until: start,
                started,
                sent: &mut sent,
                closed: false,
            };
            let ok = read_file(f, &mut out);
            if out.closed {
                return;
            }
            match ok {
                Ok(()) => {
                    self.counters.files_read.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters.files_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(file = %f.name, error = %e, "cannot read the file; it is left out and stays undone in the state file");
                }
            }
        }
    }
}

/// Where a file's messages go.
struct Out<'a> {
    reader: &'a Reader,
    tx: &'a mpsc::Sender<SourceMessage>,
    name: &'a str,
    skip_until: u64,
    started: Instant,
    sent: &'a mut u64,
    closed: bool,
}

impl Out<'_> {
    /// Sends the bytes `[offset, end)` (`body`), or the unreadable part of a damaged member.
    fn emit(&mut self, offset: u64, end: u64, mut body: Vec<u8>, unreadable: Option<String>) {
        if self.closed || end <= self.skip_until && !(end == offset && offset >= self.skip_until) {
            return;
        }
        let mut offset = offset;
        if offset < self.skip_until {
            // Resuming inside this range (boundaries normally match the last run's): only
            // what follows the committed position is sent again.
            let cut = ((self.skip_until - offset) as usize).min(body.len());
            body.drain(..cut);
            offset = self.skip_until;
        }
        let r = self.reader;
        r.counters
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        if unreadable.is_none() && !r.selection.is_all() && !body.is_empty() {
            let (_, dropped) = r.selection.apply(&mut body, &r.opts);
            r.counters
                .not_selected
                .fetch_add(dropped, Ordering::Relaxed);
            if body.iter().all(u8::is_ascii_whitespace) {
                // Nothing selected: an empty message still carries the position forward.
                body.clear();
            }
        }
        if let Some(rate) = r.rate {
            *self.sent += body.len() as u64;
            let due = Duration::from_secs_f64(*self.sent as f64 / rate);
            let elapsed = self.started.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
        if let Ok(mut t) = r.tracking.lock() {
            t.ends
                .entry(self.name.to_owned())
                .or_default()
                .insert(offset as i64, end);
        }
        let m = SourceMessage {
            partition: PartitionId::new(self.name, 0),
            offset: offset as i64,
            sequence_number: None,
            enqueued_time: None,
            body: Bytes::from(body),
            unreadable,
        };
        if self.tx.blocking_send(m).is_err() || r.stop.load(Ordering::Relaxed) {
            self.closed = true;
        }
    }

    fn end_of_file(&mut self, end: u64) {
        if let Ok(mut t) = self.reader.tracking.lock() {
            t.eof.insert(self.name.to_owned(), end);
        }
        self.emit(end, end, Vec::new(), None);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not known until the first line is complete.
    Unknown,
    /// NDJSON (of records or envelopes): cut at line ends.
    Lines,
    /// One JSON document (pretty-printed, an array): one message, as `parse` reads it.
    Document,
}

/// Cuts a decompressed stream into messages.
struct Chunker<'a, 'b> {
    out: &'a mut Out<'b>,
    buf: Vec<u8>,
    /// Stream position of `buf[0]`.
    at: u64,
    mode: Mode,
}

impl Chunker<'_, '_> {
    fn push(&mut self, data: &[u8]) {
        if self.out.closed {
            return;
        }
        self.buf.extend_from_slice(data);
        if self.mode == Mode::Unknown {
            match entrastream_input::first_line_complete(&self.buf) {
                Some(true) => self.mode = Mode::Lines,
                Some(false) => self.mode = Mode::Document,
                None => return,
            }
        }
        if self.mode == Mode::Lines && self.buf.len() >= CHUNK_BYTES {
            self.emit_lines();
        }
    }

    /// Sends the complete lines in the buffer.
    fn emit_lines(&mut self) {
        if let Some(nl) = self.buf.iter().rposition(|&b| b == b'\n') {
            let rest = self.buf.split_off(nl + 1);
            let body = std::mem::replace(&mut self.buf, rest);
            let end = self.at + body.len() as u64;
            self.out.emit(self.at, end, body, None);
            self.at = end;
        }
    }

    /// A damaged member: the complete lines go on, the line it cut is dead-lettered.
    fn damaged(&mut self, compression: Compression, offset: u64, error: &str) {
        if self.mode != Mode::Document {
            self.emit_lines();
        }
        let partial = std::mem::take(&mut self.buf);
        let end = self.at + partial.len() as u64 + 1;
        let why = format!(
            "damaged {} at compressed byte {offset} ({error}); the data after it up to the next member is lost, the bytes here are the incomplete line it cut",
            match compression {
                Compression::Gzip => "gzip member",
                Compression::Zstd => "zstd frame",
                Compression::None => "data",
            }
        );
        self.out.emit(self.at, end, partial, Some(why));
        self.at = end;
    }

    fn finish(mut self) {
        if !self.buf.is_empty() {
            let body = std::mem::take(&mut self.buf);
            let end = self.at + body.len() as u64;
            self.out.emit(self.at, end, body, None);
            self.at = end;
        }
        let end = self.at;
        self.out.end_of_file(end);
    }
}

fn read_file(f: &InputFile, out: &mut Out<'_>) -> std::io::Result<()> {
    let counters = out.reader.counters.clone();
    let mut chunker = Chunker {
        out,
        buf: Vec::with_capacity(CHUNK_BYTES * 2),
        at: 0,
        mode: Mode::Unknown,
    };
    if let Some(remote) = &f.remote {
        match f.compression {
            Compression::None => {
                // Ranged GETs from the committed byte (a line end): nothing before it is
                // fetched again.
                let start = chunker.out.skip_until;
                chunker.at = start;
                remote.stream(start, |data| {
                    counters
                        .file_bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                    chunker.push(data);
                    !chunker.out.closed
                })?;
                if chunker.out.closed {
                    return Ok(());
                }
            }
            c => {
                // Streamed member by member, one ranged GET at a time (decode.rs).
                let mut open = |at: u64| {
                    Ok(Box::new(Counted {
                        inner: remote.reader_at(at),
                        counters: &counters,
                    }) as Box<dyn Read + '_>)
                };
                decode_compressed(c, &mut open, &mut chunker, &counters)?;
            }
        }
        if !chunker.out.closed {
            chunker.finish();
        }
        return Ok(());
    }
    match f.compression {
        Compression::None => {
            // Streamed: an uncompressed hour file can be large.
            let mut file = std::fs::File::open(&f.path)?;
            let mut buf = vec![0u8; CHUNK_BYTES];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                counters.file_bytes.fetch_add(n as u64, Ordering::Relaxed);
                chunker.push(&buf[..n]);
                if chunker.out.closed {
                    return Ok(());
                }
            }
        }
        c => {
            // Streamed member by member with bounded memory (decode.rs); a damaged member is
            // skipped to the next header.
            let mut open = |at: u64| {
                let mut file = std::fs::File::open(&f.path)?;
                file.seek(SeekFrom::Start(at))?;
                Ok(Box::new(Counted {
                    inner: file,
                    counters: &counters,
                }) as Box<dyn Read + '_>)
            };
            decode_compressed(c, &mut open, &mut chunker, &counters)?;
        }
    }
    if !chunker.out.closed {
        chunker.finish();
    }
    Ok(())
}

/// Member by member over a compressed input, streamed; a damaged member is skipped to the
/// next header. An error is the input's own (the file stays undone).
fn decode_compressed(
    c: Compression,
    open: &mut Open<'_>,
    chunker: &mut Chunker<'_, '_>,
    counters: &ReadCounters,
) -> std::io::Result<()> {
    decode_stream(c, open, |ev| {
        match ev {
            DecodeEvent::Data(d) => chunker.push(d),
            DecodeEvent::Damaged { offset, error } => {
                counters.damaged_members.fetch_add(1, Ordering::Relaxed);
                chunker.damaged(c, offset, &error);
            }
        }
        !chunker.out.closed
    })
    .map(|_| ())
}

/// Counts the input bytes read (as stored) for the progress bar.
struct Counted<'a, R> {
    inner: R,
    counters: &'a ReadCounters,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.counters
            .file_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
