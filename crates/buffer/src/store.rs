//! The buffer directory: segment files, the acknowledged-position file, recovery at open, and
//! the blocking append / read / acknowledge operations (called from `spawn_blocking`).
//!
//! Layout of `path`:
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: segments, numbered by a counter that never repeats (a stale
//!   acknowledged position can never point into a newer segment of the same number). Only the
//!   newest one is appended to; a new process always starts a new one.
//! - `ack`: the acknowledged position (segment, byte offset, next record number), checksummed,
//!   replaced atomically (write `ack.tmp`, fsync, rename). Losing it costs duplicates only.
//! - `lock`: held with an exclusive file lock while a process uses the directory.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use entrastream_sink::{EncodedBatch, RecordMeta, Rejection};
use xxhash_rust::xxh3::xxh3_64;

use crate::format::{self, FrameMeta, Item};
use crate::stats::{BufferStats, now_ms};

const SEGMENT_SUFFIX: &str = ".seg";
const ACK_FILE: &str = "ack";
const ACK_TMP: &str = "ack.tmp";
const LOCK_FILE: &str = "lock";
const ACK_MAGIC: [u8; 4] = *b"ESBA";
const ACK_LEN: usize = 40;
/// Files hold personal data: owner read-write, group read (as the file sink).
const FILE_MODE: u32 = 0o640;
/// Damaged bytes kept in a dead-letter line at most.
const MAX_DAMAGED_RAW: usize = 64 * 1024;

/// Why the buffer directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another sink of this process) holds the directory.
    #[error(
        "buffer directory {0} is in use by another entrastream process or sink: give every \
         buffered sink its own `buffer.path`"
    )]
    Locked(PathBuf),
    /// No sink to drain into was given.
    #[error("buffer directory {0}: no sink to drain into was given (a bug in the caller)")]
    NoSink(PathBuf),
    /// The directory or a file in it could not be created or read.
    #[error(
        "buffer directory {path}: {what} failed: {error}; check that it exists, is writable and has free space"
    )]
    Io {
        /// The directory.
        path: PathBuf,
        /// Which step.
        what: &'static str,
        /// The OS error.
        error: std::io::Error,
    },
}

/// A position in the buffer: the frame at `offset` of segment `segment`, whose record number
/// is `seq` (when known).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Cursor {
    pub segment: u64,
    pub offset: u64,
    pub seq: u64,
}

/// Which segments exist and how far each is durable; shared by writer, reader and ack.
#[derive(Debug)]
pub(crate) struct Index {
    /// Segment number → bytes durably written (fsynced) in it.
    segments: BTreeMap<u64, u64>,
    next_segment: u64,
    /// Number the next appended record gets.
    next_seq: u64,
    /// The acknowledged position: everything before it left the buffer.
    ack: Cursor,
}

impl Index {
    fn disk_bytes(&self) -> u64 {
        self.segments.values().sum()
    }

    fn unacked_bytes(&self) -> u64 {
        let mut total = 0;
        for (&id, &len) in self.segments.range(self.ack.segment..) {
            total += if id == self.ack.segment {
                len.saturating_sub(self.ack.offset)
            } else {
                len
            };
        }
        total
    }

    fn publish(&self, stats: &BufferStats) {
        stats.disk_bytes.store(self.disk_bytes(), Ordering::Relaxed);
        stats
            .segments
            .store(self.segments.len() as u64, Ordering::Relaxed);
        let unacked = self.unacked_bytes();
        stats.bytes.store(unacked, Ordering::Relaxed);
        let records = if unacked == 0 {
            0
        } else {
            self.next_seq.saturating_sub(self.ack.seq)
        };
        stats.records.store(records, Ordering::Relaxed);
        if records == 0 {
            stats.oldest_record_unix_ms.store(0, Ordering::Relaxed);
        }
    }
}

/// State shared by the sink half, the drain and the stats reader.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub max_size: u64,
    pub segment_max: u64,
    index: Mutex<Index>,
    /// Woken by every append (a permit is kept when the drain is not waiting yet).
    pub appended: tokio::sync::Notify,
    pub stats: Arc<BufferStats>,
    /// Recently appended batches the drain sends from memory while it keeps up.
    tail: Mutex<Tail>,
    /// The position the `ack` file holds (what a restart resumes from). Its lock also
    /// serialises the writers of `ack.tmp` (the drain's persister and `Drop`).
    persisted: Mutex<Cursor>,
    /// Held for the life of the buffer: the exclusive lock on `lock`.
    _lock: File,
}

impl Shared {
    fn index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock cannot leave the index half-updated in a way that
        // loses data (every update is a few assignments); keep going with it.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        segment_path(&self.dir, id)
    }

    fn tail(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps up to `max_bytes` of recently appended batches in memory for the drain, whose
    /// records are each followed by `separator` (see [`Tail`]). Off until called.
    pub fn keep_tail(&self, separator: &'static [u8], max_bytes: usize) {
        let mut tail = self.tail();
        tail.separator = Some(separator);
        tail.max_bytes = max_bytes;
    }
}

/// Recently appended batches, kept in memory so that a drain that keeps up sends them as the
/// pipeline encoded them instead of reading back what was just written: no read, no read
/// buffer, no checksum check and no copy (the records are sliced out of the pipeline's
/// buffer). Only batches that are durable (fsynced) and wholly framed enter it; it holds at
/// most `max_bytes`, and an append that does not fit is left out (the drain is behind: it
/// reads that stretch from disk, as after a restart). The drain takes from it only what
/// starts exactly at its read position, so the records, their order and the positions are
/// those of the segment.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    entries: std::collections::VecDeque<TailEntry>,
    bytes: usize,
    max_bytes: usize,
    separator: Option<&'static [u8]>,
}

#[derive(Debug)]
struct TailEntry {
    segment: u64,
    /// Segment offset of the frame of record `next`.
    start: u64,
    /// Record number of record `next`.
    seq: u64,
    appended_ms: u64,
    batch: EncodedBatch,
    /// First record not yet handed to the drain.
    next: usize,
    /// Segment offset where the frame of each record ends.
    ends: Vec<u64>,
}

impl TailEntry {
    fn end(&self) -> u64 {
        self.ends.last().copied().unwrap_or(self.start)
    }
}

/// Records handed out by [`Tail::take`].
struct Taken {
    batch: EncodedBatch,
    /// The read position after them.
    end: Cursor,
    /// Bytes of their frames in the segment.
    frame_bytes: u64,
    appended_ms: u64,
}

/// A batch to append: borrowed, or owned and then kept in the tail.
enum Input<'a> {
    // Only the store's own tests append borrowed batches.
    #[cfg_attr(not(test), allow(dead_code))]
    Borrowed(&'a EncodedBatch),
    Owned(EncodedBatch),
}

impl Input<'_> {
    fn get(&self) -> &EncodedBatch {
        match self {
            Input::Borrowed(b) => b,
            Input::Owned(b) => b,
        }
    }
}

/// What an append wrote, for the tail.
struct Appended {
    segment: u64,
    start: u64,
    first_seq: u64,
    appended_ms: u64,
    ends: Vec<u64>,
}

impl Tail {
    /// True when every record of `batch` is followed by the separator and directly by the
    /// next record, so that any run of records is one contiguous slice of `data`.
    fn contiguous(batch: &EncodedBatch, sep: &[u8]) -> bool {
        let mut records = batch.records.iter().peekable();
        while let Some(m) = records.next() {
            let end = m.range.end + sep.len();
            if batch.data.get(m.range.end..end) != Some(sep) || m.range.start > m.range.end {
                return false;
            }
            if let Some(next) = records.peek()
                && next.range.start != end
            {
                return false;
            }
        }
        true
    }

    fn offer(&mut self, batch: EncodedBatch, at: Appended) {
        let Some(sep) = self.separator else { return };
        let size = batch.data.len();
        if batch.records.is_empty()
            || at.ends.len() != batch.records.len()
            || self.bytes + size > self.max_bytes
            || !Self::contiguous(&batch, sep)
        {
            return;
        }
        self.bytes += size;
        self.entries.push_back(TailEntry {
            segment: at.segment,
            start: at.start,
            seq: at.first_seq,
            appended_ms: at.appended_ms,
            batch,
            next: 0,
            ends: at.ends,
        });
    }

    /// Where the first batch of the tail that starts in `segment` after `offset` starts.
    fn next_start(&self, segment: u64, offset: u64) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.segment == segment && e.start > offset)
            .map(|e| e.start)
    }

    /// Up to `max_bytes` of frames' records starting exactly at `at`, when the tail holds them:
    /// the batch and the cursor after it. Entries the drain has passed are dropped.
    fn take(&mut self, at: Cursor, max_bytes: usize) -> Option<Taken> {
        let sep = self.separator?;
        while let Some(e) = self.entries.front() {
            if (e.segment, e.end()) <= (at.segment, at.offset) {
                self.bytes -= e.batch.data.len();
                self.entries.pop_front();
            } else {
                break;
            }
        }
        let e = self.entries.front_mut()?;
        if (e.segment, e.start) != (at.segment, at.offset) {
            return None;
        }
        let records = &e.batch.records[e.next..];
        let base = records.first()?.range.start;
        // As many whole frames as fit in `max_bytes` (at least one), as a read from disk.
        let ends = &e.ends[e.next..];
        let n = ends
            .iter()
            .take_while(|&&end| end - e.start <= max_bytes as u64)
            .count()
            .max(1);
        let last = &records[n - 1];
        let data = e.batch.data.slice(base..last.range.end + sep.len());
        let metas = records[..n]
            .iter()
            .map(|m| RecordMeta {
                range: m.range.start - base..m.range.end - base,
                partition: m.partition.clone(),
                offset: m.offset,
                category: m.category.clone(),
            })
            .collect();
        let end = e.ends[e.next + n - 1];
        let consumed = end - e.start;
        let appended_ms = e.appended_ms;
        e.next += n;
        e.seq += n as u64;
        e.start = end;
        let cursor = Cursor {
            segment: e.segment,
            offset: end,
            seq: e.seq,
        };
        if e.next == e.batch.records.len() {
            self.bytes -= e.batch.data.len();
            self.entries.pop_front();
        }
        Some(Taken {
            batch: EncodedBatch {
                data,
                records: metas,
            },
            end: cursor,
            frame_bytes: consumed,
            appended_ms,
        })
    }
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

/// What [`open`] found and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Segments found.
    pub segments: usize,
    /// Bytes cut off the newest segment's end (a write cut short by a crash).
    pub torn_bytes: u64,
    /// Records found not yet acknowledged by the wrapped sink (they are sent again).
    pub pending_records: u64,
    /// The acknowledged-position file was missing or damaged (everything is sent again).
    pub ack_lost: bool,
}

/// Opens (creating if needed) and recovers the buffer in `dir`.
pub(crate) fn open(
    dir: &Path,
    max_size: u64,
    segment_max: u64,
    stats: Arc<BufferStats>,
) -> Result<(Arc<Shared>, Writer, Reader, Recovery), OpenError> {
    let io = |what: &'static str| {
        let path = dir.to_path_buf();
        move |error| OpenError::Io { path, what, error }
    };
    if !dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(io("create directory"))?;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(dir.join(LOCK_FILE))
        .map_err(io("open lock file"))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(OpenError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
    }
    let mut recovery = Recovery::default();
    let mut segments = list_segments(dir).map_err(io("list segments"))?;
    let ack = match read_ack(dir) {
        Ok(a) => a,
        Err(reason) => {
            if !segments.is_empty() {
                tracing::warn!(dir = %dir.display(), %reason, "buffer acknowledged position unreadable; everything buffered is sent again (duplicates possible)");
                recovery.ack_lost = true;
            }
            None
        }
    };
    // Segments wholly before the acknowledged position: a crash came between the
    // acknowledgement and their removal.
    if let Some(a) = ack {
        for &id in segments.keys().filter(|&&id| id < a.segment) {
            std::fs::remove_file(segment_path(dir, id))
                .map_err(io("remove acknowledged segment"))?;
        }
        segments.retain(|&id, _| id >= a.segment);
    }
    // Repair the newest segment's tail, and learn the next record number from the newest
    // segment that holds a record.
    let mut next_seq = None;
    let newest = segments.keys().next_back().copied();
    for (&id, len) in segments.iter_mut().rev() {
        let path = segment_path(dir, id);
        let bytes = std::fs::read(&path).map_err(io("read segment"))?;
        let parsed = format::parse_window(&bytes, true);
        if Some(id) == newest
            && let Some(Item::Torn { range }) = parsed.items.last()
        {
            let cut = range.len() as u64;
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io("open segment"))?;
            f.set_len(range.start as u64)
                .and_then(|()| f.sync_all())
                .map_err(io("truncate torn tail"))?;
            tracing::warn!(segment = %path.display(), bytes = cut, "buffer: torn tail of the newest segment cut off (a write a crash interrupted; it was never acknowledged, the pipeline resends it)");
            recovery.torn_bytes += cut;
            *len = range.start as u64;
        } else {
            *len = bytes.len() as u64;
        }
        if next_seq.is_none() {
            next_seq = parsed.items.iter().rev().find_map(|i| match i {
                Item::Record { meta, .. }
                | Item::Damaged {
                    meta: Some(meta), ..
                } => Some(meta.seq + 1),
                _ => None,
            });
        }
    }
    recovery.segments = segments.len();
    let next_segment = segments
        .keys()
        .next_back()
        .copied()
        .max(ack.map(|a| a.segment))
        .map_or(0, |id| id + 1);
    // Where the drain starts: the acknowledged position, moved to the first segment that
    // still exists, and never past a segment's end.
    let mut cursor = ack.unwrap_or_default();
    match segments.range(cursor.segment..).next() {
        Some((&id, &len)) if id == cursor.segment => {
            if cursor.offset > len {
                tracing::warn!(
                    segment = id,
                    offset = cursor.offset,
                    len,
                    "buffer: acknowledged position past the segment's end; continuing from its end"
                );
                cursor.offset = len;
            }
        }
        Some((&id, _)) => {
            cursor = Cursor {
                segment: id,
                offset: 0,
                seq: cursor.seq,
            }
        }
        None => {
            cursor = Cursor {
                segment: next_segment,
                offset: 0,
                seq: cursor.seq,
            }
        }
    }
    // The first unacknowledged record's number and age (stats only).
    let first = peek(
        dir,
        cursor,
        segments.get(&cursor.segment).copied().unwrap_or(0),
    );
    if let Some(m) = &first {
        cursor.seq = m.seq;
        stats
            .oldest_record_unix_ms
            .store(m.appended_ms, Ordering::Relaxed);
    }
    let next_seq = next_seq.unwrap_or(cursor.seq).max(cursor.seq);
    let index = Index {
        segments,
        next_segment,
        next_seq,
        ack: cursor,
    };
    recovery.pending_records = if index.unacked_bytes() > 0 {
        next_seq - cursor.seq
    } else {
        0
    };
    stats.max_bytes.store(max_size, Ordering::Relaxed);
    stats
        .torn_bytes
        .fetch_add(recovery.torn_bytes, Ordering::Relaxed);
    stats
        .records_replayed
        .fetch_add(recovery.pending_records, Ordering::Relaxed);
    index.publish(&stats);
    let shared = Arc::new(Shared {
        dir: dir.to_path_buf(),
        max_size,
        segment_max,
        index: Mutex::new(index),
        appended: tokio::sync::Notify::new(),
        stats,
        tail: Mutex::new(Tail::default()),
        persisted: Mutex::new(ack.unwrap_or_default()),
        _lock: lock,
    });
    Ok((
        shared,
        Writer {
            file: None,
            id: 0,
            len: 0,
        },
        Reader { cursor, file: None },
        recovery,
    ))
}

fn list_segments(dir: &Path) -> std::io::Result<BTreeMap<u64, u64>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.insert(id, entry.metadata()?.len());
    }
    Ok(out)
}

/// The frame at `at`, if a verified header is there.
fn peek(dir: &Path, at: Cursor, len: u64) -> Option<FrameMeta> {
    if at.offset >= len {
        return None;
    }
    let file = File::open(segment_path(dir, at.segment)).ok()?;
    let want = (len - at.offset).min((format::HEADER_LEN + format::MAX_META as usize) as u64);
    let buf = read_at(&file, at.offset, want as usize).ok()?;
    match format::decode(&buf) {
        format::Decoded::Frame { meta, .. } | format::Decoded::BadData { meta, .. } => Some(meta),
        _ => None,
    }
}

fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

fn read_ack(dir: &Path) -> Result<Option<Cursor>, String> {
    let bytes = match std::fs::read(dir.join(ACK_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(e.to_string()),
    };
    if bytes.len() != ACK_LEN || bytes[..4] != ACK_MAGIC {
        return Err(format!("{} bytes, not a position file", bytes.len()));
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    };
    if xxh3_64(&bytes[..32]) != u64_at(32) {
        return Err("checksum mismatch".into());
    }
    Ok(Some(Cursor {
        segment: u64_at(8),
        offset: u64_at(16),
        seq: u64_at(24),
    }))
}

fn write_ack(dir: &Path, at: Cursor) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(ACK_LEN);
    bytes.extend_from_slice(&ACK_MAGIC);
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&at.segment.to_le_bytes());
    bytes.extend_from_slice(&at.offset.to_le_bytes());
    bytes.extend_from_slice(&at.seq.to_le_bytes());
    let sum = xxh3_64(&bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    let tmp = dir.join(ACK_TMP);
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_data()?;
    std::fs::rename(&tmp, dir.join(ACK_FILE))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Why an append was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    #[error(
        "disk buffer full ({disk} of {max} bytes used, {pending} not yet delivered): waiting \
         for the sink to drain it; raise `buffer.max_size` (and the volume) if the sink's \
         outages last longer"
    )]
    Full { disk: u64, max: u64, pending: u64 },
    #[error(
        "disk buffer write to {path} failed: {error}; check free space and permissions of the buffer volume"
    )]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The append half: owns the newest segment's file.
#[derive(Debug)]
pub(crate) struct Writer {
    file: Option<File>,
    id: u64,
    len: u64,
}

impl Writer {
    /// Appends every record of `batch` as frames, fsynced. Records that cannot be framed
    /// (impossibly large) are returned as rejections; everything else is durable on `Ok`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn append(
        &mut self,
        shared: &Shared,
        batch: &EncodedBatch,
    ) -> Result<Vec<Rejection>, AppendError> {
        self.write(shared, Input::Borrowed(batch))
    }

    /// [`append`](Self::append), and the batch goes to the drain's in-memory tail (see
    /// [`Tail`]) when every record of it was framed, before the drain learns of it.
    pub fn append_owned(
        &mut self,
        shared: &Shared,
        batch: EncodedBatch,
    ) -> Result<Vec<Rejection>, AppendError> {
        self.write(shared, Input::Owned(batch))
    }

    fn write(&mut self, shared: &Shared, input: Input<'_>) -> Result<Vec<Rejection>, AppendError> {
        let batch = input.get();
        let now = now_ms();
        let first_seq = shared.index().next_seq;
        let mut buf = Vec::with_capacity(batch.data.len() + batch.records.len() * 80);
        let mut rejections = Vec::new();
        let mut ends = Vec::with_capacity(batch.records.len());
        let mut seq = first_seq;
        for (i, meta) in batch.records.iter().enumerate() {
            let data = batch.data.get(meta.range.clone()).unwrap_or_default();
            match format::encode_frame(&mut buf, seq, now, meta, data) {
                Ok(()) => {
                    seq += 1;
                    ends.push(buf.len() as u64);
                }
                Err(reason) => rejections.push(Rejection {
                    index: i,
                    reason: entrastream_sink::RejectReason::TooLarge(reason),
                }),
            }
        }
        let written = seq - first_seq;
        if written == 0 {
            return Ok(rejections);
        }
        let size = buf.len() as u64;
        {
            let idx = shared.index();
            let disk = idx.disk_bytes();
            let pending = idx.unacked_bytes();
            // An empty buffer takes any batch, even one over the limit: refusing it would
            // stall the sink forever.
            if disk + size > shared.max_size && pending > 0 {
                shared.stats.full.store(true, Ordering::Relaxed);
                return Err(AppendError::Full {
                    disk,
                    max: shared.max_size,
                    pending,
                });
            }
        }
        let rotate = match &self.file {
            None => true,
            Some(_) => self.len > 0 && self.len + size > shared.segment_max,
        };
        if rotate {
            self.start_segment(shared)?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(self.io_error(shared, std::io::Error::other("no segment open")));
        };
        let result = file.write_all(&buf).and_then(|()| file.sync_data());
        if let Err(error) = result {
            // Cut the partial write off so that the segment ends at a frame boundary, and
            // start a fresh segment next time: after a failed fsync the kernel may have
            // dropped dirty pages of this file, so nothing more is trusted to it.
            let _ = file.set_len(self.len);
            self.file = None;
            return Err(self.io_error(shared, error));
        }
        let start = self.len;
        self.len += size;
        // The tail first: a drain woken by this append finds the batch there.
        if let Input::Owned(batch) = input
            && rejections.is_empty()
        {
            let at = Appended {
                segment: self.id,
                start,
                first_seq,
                appended_ms: now,
                ends: ends.into_iter().map(|e| start + e).collect(),
            };
            shared.tail().offer(batch, at);
        }
        {
            let mut idx = shared.index();
            idx.segments.insert(self.id, self.len);
            idx.next_seq = seq;
            idx.publish(&shared.stats);
        }
        let stats = &shared.stats;
        stats.full.store(false, Ordering::Relaxed);
        stats.bytes_written.fetch_add(size, Ordering::Relaxed);
        stats.records_written.fetch_add(written, Ordering::Relaxed);
        let _ = stats.oldest_record_unix_ms.compare_exchange(
            0,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        shared.appended.notify_one();
        Ok(rejections)
    }

    fn io_error(&self, shared: &Shared, error: std::io::Error) -> AppendError {
        AppendError::Io {
            path: shared.segment_path(self.id),
            error,
        }
    }

    fn start_segment(&mut self, shared: &Shared) -> Result<(), AppendError> {
        let id = {
            let mut idx = shared.index();
            let id = idx.next_segment;
            idx.next_segment += 1;
            id
        };
        self.file = None;
        self.id = id;
        self.len = 0;
        let path = shared.segment_path(id);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(FILE_MODE)
            .open(&path)
            .and_then(|f| sync_dir(&shared.dir).map(|()| f))
            .map_err(|e| self.io_error(shared, e))?;
        self.file = Some(file);
        let mut idx = shared.index();
        idx.segments.insert(id, 0);
        idx.publish(&shared.stats);
        Ok(())
    }
}

/// One damaged stretch of a segment: skipped, and dead-lettered with this reason.
#[derive(Debug, Clone)]
pub(crate) struct Damaged {
    pub segment: u64,
    pub range: std::ops::Range<u64>,
    pub reason: &'static str,
    /// The record's origin when its header verified (only its data is damaged).
    pub meta: Option<FrameMeta>,
    /// The damaged bytes (at most 64 KiB of them).
    pub raw: Vec<u8>,
}

/// A batch read from the buffer for the wrapped sink.
#[derive(Debug)]
pub(crate) struct ReadBatch {
    pub batch: EncodedBatch,
    pub damaged: Vec<Damaged>,
    /// Where the acknowledged position moves once this batch is done.
    pub end: Cursor,
}

/// The read half: the drain's position and its open segment.
#[derive(Debug)]
pub(crate) struct Reader {
    cursor: Cursor,
    file: Option<(u64, File)>,
}

impl Reader {
    /// Reads the next records (about `max_bytes` of them, at least one), each followed by
    /// `separator`. `None` when nothing new is durable. A batch with no record and no damage
    /// only moves the position (into the next segment), so that older segments can go.
    pub fn read(
        &mut self,
        shared: &Shared,
        max_bytes: usize,
        separator: &[u8],
    ) -> std::io::Result<Option<ReadBatch>> {
        let start = self.cursor;
        loop {
            let (id, end) = {
                let idx = shared.index();
                match idx.segments.range(self.cursor.segment..).next() {
                    Some((&id, &len)) => {
                        let next = idx.segments.range(id + 1..).next().map(|(&n, _)| n);
                        if id == self.cursor.segment && self.cursor.offset >= len {
                            match next {
                                Some(n) => {
                                    self.cursor = Cursor {
                                        segment: n,
                                        offset: 0,
                                        ..self.cursor
                                    };
                                    continue;
                                }
                                None => {
                                    return Ok((self.cursor != start).then(|| ReadBatch {
                                        batch: EncodedBatch::default(),
                                        damaged: Vec::new(),
                                        end: self.cursor,
                                    }));
                                }
                            }
                        }
                        if id != self.cursor.segment {
                            self.cursor = Cursor {
                                segment: id,
                                offset: 0,
                                ..self.cursor
                            };
                        }
                        (id, len)
                    }
                    None => return Ok(None),
                }
            };
            if let Some(t) = shared.tail().take(self.cursor, max_bytes) {
                return Ok(Some(self.take_from_tail(shared, t)));
            }
            let offset = self.cursor.offset;
            // Stop a disk read where the tail's next batch starts, so that the read after it
            // is served from memory.
            let end = shared.tail().next_start(id, offset).unwrap_or(end).min(end);
            let file = self.segment_file(shared, id)?;
            let available = (end - offset) as usize;
            let mut want = available.min(max_bytes.max(1));
            let (buf, parsed) = loop {
                let buf = read_at(file, offset, want)?;
                let parsed = format::parse_window(&buf, want == available);
                match parsed.want {
                    Some(w) if parsed.items.is_empty() && want < available => {
                        want = w.min(available).max(want + 1);
                    }
                    _ => break (buf, parsed),
                }
            };
            return Ok(Some(
                self.assemble(shared, id, offset, &buf, parsed, separator),
            ));
        }
    }

    /// Records the tail handed out: the position moves past their frames, as if read.
    fn take_from_tail(&mut self, shared: &Shared, t: Taken) -> ReadBatch {
        self.cursor = t.end;
        let stats = &shared.stats;
        stats
            .oldest_record_unix_ms
            .store(t.appended_ms, Ordering::Relaxed);
        stats.bytes_read.fetch_add(t.frame_bytes, Ordering::Relaxed);
        stats
            .bytes_from_tail
            .fetch_add(t.frame_bytes, Ordering::Relaxed);
        ReadBatch {
            batch: t.batch,
            damaged: Vec::new(),
            end: t.end,
        }
    }

    fn segment_file(&mut self, shared: &Shared, id: u64) -> std::io::Result<&File> {
        if self.file.as_ref().is_none_or(|(open, _)| *open != id) {
            self.file = Some((id, File::open(shared.segment_path(id))?));
        }
        match &self.file {
            Some((_, f)) => Ok(f),
            None => Err(std::io::Error::other("segment not open")),
        }
    }

    fn assemble(
        &mut self,
        shared: &Shared,
        segment: u64,
        offset: u64,
        buf: &[u8],
        parsed: format::Parsed,
        separator: &[u8],
    ) -> ReadBatch {
        let mut data = Vec::with_capacity(parsed.consumed);
        let mut records = Vec::new();
        let mut damaged = Vec::new();
        let mut next_seq = self.cursor.seq;
        let mut oldest = None;
        for item in parsed.items {
            match item {
                Item::Record { meta, data: range } => {
                    let start = data.len();
                    data.extend_from_slice(&buf[range]);
                    records.push(RecordMeta {
                        range: start..data.len(),
                        partition: meta.partition,
                        offset: meta.offset,
                        category: meta.category,
                    });
                    data.extend_from_slice(separator);
                    next_seq = meta.seq + 1;
                    oldest.get_or_insert(meta.appended_ms);
                }
                Item::Damaged {
                    range,
                    reason,
                    meta,
                } => {
                    if let Some(m) = &meta {
                        next_seq = m.seq + 1;
                    }
                    tracing::warn!(
                        segment,
                        at = offset + range.start as u64,
                        bytes = range.len(),
                        reason,
                        "buffer: damaged record skipped; it goes to the dead-letter file"
                    );
                    shared.stats.records_corrupt.fetch_add(1, Ordering::Relaxed);
                    let raw_end = range.end.min(range.start + MAX_DAMAGED_RAW);
                    damaged.push(Damaged {
                        segment,
                        range: offset + range.start as u64..offset + range.end as u64,
                        reason,
                        meta,
                        raw: buf[range.start..raw_end].to_vec(),
                    });
                }
                Item::Torn { range } => {
                    tracing::warn!(
                        segment,
                        at = offset + range.start as u64,
                        bytes = range.len(),
                        "buffer: torn end of a segment skipped (a write that failed or a crash interrupted; never acknowledged)"
                    );
                    shared
                        .stats
                        .torn_bytes
                        .fetch_add(range.len() as u64, Ordering::Relaxed);
                }
            }
        }
        if let Some(t) = oldest {
            shared
                .stats
                .oldest_record_unix_ms
                .store(t, Ordering::Relaxed);
        }
        self.cursor = Cursor {
            segment,
            offset: offset + parsed.consumed as u64,
            seq: next_seq,
        };
        shared
            .stats
            .bytes_read
            .fetch_add(parsed.consumed as u64, Ordering::Relaxed);
        ReadBatch {
            batch: EncodedBatch {
                data: Bytes::from(data),
                records,
            },
            damaged,
            end: self.cursor,
        }
    }
}

impl Cursor {
    /// Buffer order: segment, then byte offset.
    fn key(&self) -> (u64, u64) {
        (self.segment, self.offset)
    }
}

/// Moves the acknowledged position to `to` in memory (everything before it left the buffer:
/// the numbers on `/metrics` and the full-buffer check see it at once) without writing it:
/// [`persist`] does that, off the send path. Never moves it back.
pub(crate) fn advance(shared: &Shared, to: Cursor) {
    let mut idx = shared.index();
    if to.key() > idx.ack.key() {
        idx.ack = to;
        idx.publish(&shared.stats);
    }
}

/// The acknowledged position in memory (what [`persist`] would write).
pub(crate) fn acknowledged(shared: &Shared) -> Cursor {
    shared.index().ack
}

/// Writes the acknowledged position `to` to the `ack` file (fsynced, replaced atomically)
/// and removes the segments wholly before it. A position not past the one already written is
/// skipped. A failure to write the position costs duplicates after a crash, never data (a
/// restart resumes from the older position, or from the first segment still there), so the
/// segments are removed either way: that is what frees a full disk.
pub(crate) fn persist(shared: &Shared, to: Cursor) -> std::io::Result<()> {
    let mut persisted = shared.persisted.lock().unwrap_or_else(|p| p.into_inner());
    if to.key() <= persisted.key() {
        return Ok(());
    }
    let written = write_ack(&shared.dir, to);
    if written.is_ok() {
        *persisted = to;
        shared.stats.ack_writes.fetch_add(1, Ordering::Relaxed);
    }
    let gone: Vec<u64> = {
        let mut idx = shared.index();
        let gone: Vec<u64> = idx
            .segments
            .range(..to.segment)
            .map(|(&id, _)| id)
            .collect();
        for id in &gone {
            idx.segments.remove(id);
        }
        idx.publish(&shared.stats);
        gone
    };
    let mut removed = Ok(());
    for id in &gone {
        if let Err(e) = std::fs::remove_file(shared.segment_path(*id))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            removed = Err(e);
        }
    }
    if !gone.is_empty() {
        let _ = sync_dir(&shared.dir);
    }
    written.and(removed)
}

/// Moves the acknowledged position to `to` and persists it at once ([`advance`], then
/// [`persist`]): one batch at a time, as the store's own tests drain.
#[cfg(test)]
pub(crate) fn acknowledge(shared: &Shared, to: Cursor) -> std::io::Result<()> {
    advance(shared, to);
    persist(shared, to)
}

#[cfg(test)]
mod tests;
