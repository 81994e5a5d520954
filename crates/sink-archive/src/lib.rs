//! Archive sinks: records written in Azure Monitor's storage-export layout
//! (`entrastream-archive`), so an archive made by entrastream and one made by Azure's own
//! diagnostic setting are interchangeable. [`ArchiveDirSink`] (`type = "archive_dir"`) writes
//! the layout under a local directory (a mounted volume); [`AzureBlobSink`]
//! (`type = "azure_blob"`, module [`blob`]) in append blobs of a storage account.
//!
//! Design decision: where a record goes is decided on the parse path, by the encoder
//! ([`ArchiveEncoder`]), because only there is the typed record (category, tenant, event time)
//! at hand; the sink's batch carries only bytes. The encoder therefore writes each record as
//! `<container> <hour directory> <json>`, two space-free names and the record, and the sink
//! splits that before writing `<json>\n` into the hour's file. A record's JSON never holds a raw
//! line break (one is JSON whitespace, written as a space), so every line is one record.
//!
//! Delivery: `Delivered` only after every file the batch touched is written and fsynced, with
//! the directory entries of new files and directories (as the `file` sink). A failure is
//! `Retryable` for the whole batch: groups already written are written again (duplicates,
//! never gaps). Batches queued behind the one being written are merged into one write per
//! file (group commit). With compression every write is one complete gzip member / zstd frame.
#![forbid(unsafe_code)]

pub mod blob;
pub mod config;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use entrastream_archive::{Compression, HourKey, blob_path, container_for, encode_member};
use entrastream_entra::{EncodeContext, Record, Schema, Timestamp};
use entrastream_sink::{
    Coalesce, EncodeError, EncodedBatch, Outcome, RecordEncoder, RejectReason, Rejection,
    RetryReason, Sink, SinkError,
};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

pub use blob::{AzureBlobSink, account_for};
pub use config::{BlobConfig, DirConfig, Layout};

/// Most bytes one group commit merges (as the `file` sink).
const GROUP_COMMIT_MAX: usize = 8 << 20;
/// Open files kept between batches (an hour per tenant and category is usually one or two).
const MAX_OPEN_FILES: usize = 128;
/// Files hold personal data: owner writes, group reads (the `file` sink's default).
const FILE_MODE: u32 = 0o640;

/// Encodes a record in `schema` behind its destination: `<container> <hour dir> <json>`.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveEncoder {
    /// The schema of the archived records (`raw` by default: as Azure writes them).
    pub schema: Schema,
}

impl RecordEncoder for ArchiveEncoder {
    fn encode(
        &self,
        record: &Record<'_>,
        ctx: &EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        // The hour is the record's own (late records land in their hour); a record with no
        // time at all goes to the hour it is written in.
        let secs = record
            .event_time()
            .unwrap_or_else(Timestamp::now)
            .unix_seconds();
        let key = HourKey::from_unix(record.tenant_id().unwrap_or(""), secs);
        out.extend_from_slice(container_for(record.category()).as_bytes());
        out.push(b' ');
        out.extend_from_slice(key.dir().as_bytes());
        out.push(b' ');
        let start = out.len();
        entrastream_entra::encode(self.schema, record, ctx, out)?;
        for b in &mut out[start..] {
            if *b == b'\n' || *b == b'\r' {
                *b = b' ';
            }
        }
        Ok(())
    }
}

/// Splits an [`ArchiveEncoder`] encoding into (container, hour directory, JSON).
pub fn split_routed(encoded: &[u8]) -> Option<(&str, &str, &[u8])> {
    let first = encoded.iter().position(|&b| b == b' ')?;
    let rest = &encoded[first + 1..];
    let second = rest.iter().position(|&b| b == b' ')?;
    let container = std::str::from_utf8(&encoded[..first]).ok()?;
    let dir = std::str::from_utf8(&rest[..second]).ok()?;
    Some((container, dir, &rest[second + 1..]))
}

/// Records grouped by destination file, in batch order within each file.
struct Grouped {
    files: Vec<(String, Vec<u8>)>,
    rejected: Vec<Rejection>,
}

/// Groups a batch's records by their file (relative path `container/hour dir/PT1H.json…`).
fn group(batch: &EncodedBatch, compression: Compression) -> Grouped {
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut rejected = Vec::new();
    for i in 0..batch.records.len() {
        match batch.record(i).and_then(split_routed) {
            Some((container, dir, json)) => {
                let at = *index.entry((container, dir)).or_insert_with(|| {
                    let name = format!("{container}/{dir}/PT1H.json{}", compression.suffix());
                    files.push((name, Vec::new()));
                    files.len() - 1
                });
                let data = &mut files[at].1;
                data.extend_from_slice(json);
                data.push(b'\n');
            }
            None => rejected.push(Rejection {
                index: i,
                reason: RejectReason::Invalid(
                    "record was not encoded by the archive encoder (no destination)".into(),
                ),
            }),
        }
    }
    Grouped { files, rejected }
}

/// `type = "archive_dir"`: the storage-export layout under a local directory.
#[derive(Debug)]
pub struct ArchiveDirSink {
    name: String,
    root: PathBuf,
    compression: Compression,
    fsync: bool,
    encoder: Arc<ArchiveEncoder>,
    open: HashMap<PathBuf, tokio::fs::File>,
}

impl ArchiveDirSink {
    /// A sink writing `schema` records under `config.path`.
    pub fn new(name: impl Into<String>, schema: Schema, config: &DirConfig) -> Self {
        ArchiveDirSink {
            name: name.into(),
            root: config.path.clone(),
            compression: config.compression,
            fsync: config.fsync,
            encoder: Arc::new(ArchiveEncoder { schema }),
            open: HashMap::new(),
        }
    }

    /// Where the hour file of `key` in `container` is (always the first file of the hour: a
    /// local file has no block limit, so there are no numbered siblings here).
    pub fn file_path(&self, container: &str, key: &HourKey) -> PathBuf {
        self.root
            .join(container)
            .join(blob_path(key, 0, self.compression))
    }

    async fn file(&mut self, path: &Path) -> std::io::Result<&mut tokio::fs::File> {
        if !self.open.contains_key(path) {
            if self.open.len() >= MAX_OPEN_FILES {
                self.open.clear();
            }
            let file = open_for_append(path, self.compression).await?;
            self.open.insert(path.to_path_buf(), file);
        }
        self.open
            .get_mut(path)
            .ok_or_else(|| std::io::Error::other("file not open"))
    }

    async fn write_batch(&mut self, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
        let mut member = Vec::new();
        for (name, data) in files {
            let path = self.root.join(name);
            member.clear();
            encode_member(self.compression, data, &mut member)?;
            let result = async {
                let f = self.file(&path).await?;
                f.write_all(&member).await?;
                f.flush().await
            }
            .await;
            if let Err(e) = result {
                // Reopen next time: a torn tail is terminated (plain) or skipped by the
                // reader (a damaged member), and the retry writes the whole batch again.
                self.open.remove(&path);
                return Err(annotate(e, &path));
            }
        }
        if self.fsync {
            for (name, _) in files {
                let path = self.root.join(name);
                if let Some(f) = self.open.get_mut(&path)
                    && let Err(e) = f.sync_data().await
                {
                    self.open.remove(&path);
                    return Err(annotate(e, &path));
                }
            }
        }
        Ok(())
    }
}

fn annotate(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Opens (creating it and its directories, durably) an hour file for appending. A plain file
/// whose last line a crash cut short gets a line break first, so the next record starts on a
/// line of its own (the reader dead-letters the torn line; its batch was never acknowledged,
/// so its records are written again).
async fn open_for_append(
    path: &Path,
    compression: Compression,
) -> std::io::Result<tokio::fs::File> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dirs_durably(dir).await?;
    let existed = tokio::fs::try_exists(path).await.unwrap_or(false);
    let mut open = tokio::fs::OpenOptions::new();
    open.create(true).append(true).read(true);
    #[cfg(unix)]
    open.mode(FILE_MODE);
    let mut file = open.open(path).await?;
    if !existed {
        sync_dir(dir).await?;
    }
    let len = file.metadata().await?.len();
    if compression == Compression::None && len > 0 {
        file.seek(std::io::SeekFrom::End(-1)).await?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last).await?;
        if last[0] != b'\n' {
            file.write_all(b"\n").await?;
            file.flush().await?;
        }
    }
    Ok(file)
}

/// `create_dir_all`, then fsyncs the parent of every directory it created, so that a crash
/// cannot lose the path of a file fsynced into it.
async fn create_dirs_durably(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut d = Some(dir);
    while let Some(p) = d {
        if p.as_os_str().is_empty() || tokio::fs::try_exists(p).await.unwrap_or(false) {
            break;
        }
        missing.push(p.to_path_buf());
        d = p.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    tokio::fs::create_dir_all(dir).await?;
    for created in missing.iter().rev() {
        if let Some(parent) = created.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).await?;
        }
    }
    Ok(())
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    tokio::fs::File::open(dir).await?.sync_all().await?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[async_trait]
impl Sink for ArchiveDirSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    fn coalesce(&self) -> Option<Coalesce> {
        Some(Coalesce {
            min_bytes: 0,
            max_bytes: GROUP_COMMIT_MAX,
            max_wait: std::time::Duration::ZERO,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let grouped = group(batch, self.compression);
        match self.write_batch(&grouped.files).await {
            Ok(()) if grouped.rejected.is_empty() => Outcome::Delivered,
            Ok(()) => Outcome::Rejected(grouped.rejected),
            Err(e) => Outcome::Retryable(RetryReason::Io(format!(
                "archive write under {} failed: {e}; check the volume (space, permissions)",
                self.root.display()
            ))),
        }
    }

    /// Creates the root and writes, fsyncs and removes a probe file in it.
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        let probe = self.root.join(".entrastream-write-probe");
        let result = async {
            create_dirs_durably(&self.root).await?;
            let mut f = tokio::fs::File::create(&probe).await?;
            f.write_all(b"probe\n").await?;
            f.sync_data().await?;
            drop(f);
            tokio::fs::remove_file(&probe).await
        }
        .await;
        result.map_err(|e| {
            SinkError::Io(format!(
                "cannot write under {}: {e}; create the directory and let entrastream's user write it",
                self.root.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests;
