//! Local sinks: [`FileSink`] (NDJSON, size-based rotation, fsync before acknowledging; also
//! the dead-letter file), [`StdoutSink`] and [`BlackholeSink`].
//!
//! Design decision: a file sink acknowledges a batch only after `write_all`, `flush` and
//! `sync_data` all succeeded, so "Delivered" means "on disk". Any I/O error is `Retryable`
//! (a full disk or a missing directory may be fixed by an operator); a file sink never rejects
//! a record, since any byte sequence can be written.
//!
//! Records and dead letters hold personal data (names, addresses, IPs): files are created with
//! [`FileOptions::mode`] (`0640` by default, applied on every open so a umask or an older
//! version cannot leave them wider), the directory is fsynced after a create and a rename so
//! a crash cannot lose the file's name, and only [`FileOptions::max_files`] rotated files are
//! kept (oldest removed first, counted by `entrastream_file_rotated_files_removed_total`).
#![forbid(unsafe_code)]

pub mod config;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use entrastream_entra::Schema;
use entrastream_sink::{
    Coalesce, EncodedBatch, NdjsonEncoder, Outcome, RecordEncoder, RetryReason, Sink, SinkError,
};
use tokio::io::AsyncWriteExt;

pub use config::{DeadLetterConfig, FileConfig, FileMode, NoKeys};

/// Permissions and retention of a file sink's files.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// Unix permission bits of the files (`0o640` by default).
    pub mode: u32,
    /// Rotated files kept (`path.N`); the oldest beyond this are removed. 0 keeps all.
    pub max_files: u32,
    /// Counts rotated files removed (the sink's `entrastream_file_rotated_files_removed_total`).
    pub removed: Option<entrastream_telemetry::IntCounter>,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            mode: FileMode::default().0,
            max_files: config::d_max_files(),
            removed: None,
        }
    }
}

/// Most bytes one group commit writes (queued batches merged into one write + fsync).
const GROUP_COMMIT_MAX: usize = 8 << 20;

/// NDJSON file sink with size-based rotation.
#[derive(Debug)]
pub struct FileSink {
    name: String,
    path: PathBuf,
    encoder: Arc<NdjsonEncoder>,
    file: Option<tokio::fs::File>,
    written: u64,
    rotate_bytes: u64,
    fsync: bool,
    options: FileOptions,
}

impl FileSink {
    /// A sink writing `schema` records to `path`. `rotate_bytes == 0` disables rotation; else
    /// before a batch would grow the file past it, the file is renamed to `path.N` (N = 1, 2, …,
    /// the next free number) and a new one started. `fsync = false` skips `sync_data` (only
    /// for benchmarks: it weakens "Delivered" to "handed to the OS").
    pub fn new(
        name: impl Into<String>,
        path: impl Into<PathBuf>,
        schema: Schema,
        rotate_bytes: u64,
        fsync: bool,
    ) -> Self {
        FileSink {
            name: name.into(),
            path: path.into(),
            encoder: Arc::new(NdjsonEncoder { schema }),
            file: None,
            written: 0,
            rotate_bytes,
            fsync,
            options: FileOptions::default(),
        }
    }

    /// The dead-letter file sink (its batches arrive pre-encoded as dead-letter lines).
    pub fn dead_letter(path: impl Into<PathBuf>, rotate_bytes: u64) -> Self {
        Self::new("dead_letter", path, Schema::Raw, rotate_bytes, true)
    }

    /// The sink of a `type = "file"` entry; `removed` counts rotated files removed.
    pub fn from_config(
        name: impl Into<String>,
        schema: Schema,
        config: &FileConfig,
        removed: Option<entrastream_telemetry::IntCounter>,
    ) -> Self {
        Self::new(
            name,
            &config.path,
            schema,
            config.rotate_bytes.0,
            config.fsync,
        )
        .with_options(FileOptions {
            mode: config.file_mode.0,
            max_files: config.max_files,
            removed,
        })
    }

    /// The dead-letter sink of `[dead_letter]` or a `type = "dead_letter"` entry.
    pub fn from_dead_letter(
        config: &DeadLetterConfig,
        removed: Option<entrastream_telemetry::IntCounter>,
    ) -> Self {
        Self::dead_letter(&config.path, config.rotate_bytes.0).with_options(FileOptions {
            mode: config.file_mode.0,
            max_files: config.max_files,
            removed,
        })
    }

    /// Sets the files' permissions and how many rotated files are kept.
    pub fn with_options(mut self, options: FileOptions) -> Self {
        self.options = options;
        self
    }

    /// The directory holding the file (`.` for a bare file name).
    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    async fn open(&mut self) -> std::io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let existed = tokio::fs::try_exists(&self.path).await.unwrap_or(false);
        let mut open = tokio::fs::OpenOptions::new();
        open.create(true).append(true);
        #[cfg(unix)]
        open.mode(self.options.mode);
        let mut file = open.open(&self.path).await?;
        set_mode(&self.path, self.options.mode).await?;
        if !existed {
            // The new name must survive a crash along with the data fsynced into it.
            sync_dir(&self.dir()).await?;
        }
        self.written = file.metadata().await?.len();
        if self.written > 0 && !ends_with_newline(&self.path).await? {
            // A previous process died mid-write (kill -9, power loss): terminate the torn line
            // so that the next record starts on a line of its own. Readers skip the torn line;
            // its record is redelivered because its batch was never acknowledged.
            file.write_all(b"\n").await?;
            file.flush().await?;
            self.written += 1;
        }
        self.file = Some(file);
        Ok(())
    }

    async fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
        }
        let n = next_rotation_index(&self.path).await;
        let mut target = self.path.clone().into_os_string();
        target.push(format!(".{n}"));
        tokio::fs::rename(&self.path, PathBuf::from(target)).await?;
        sync_dir(&self.dir()).await?;
        self.written = 0;
        self.remove_oldest().await?;
        self.open().await
    }

    /// Keeps the newest `max_files` rotated files and removes the rest.
    async fn remove_oldest(&mut self) -> std::io::Result<()> {
        let keep = self.options.max_files as usize;
        if keep == 0 {
            return Ok(());
        }
        let mut rotated = rotation_indexes(&self.path).await;
        if rotated.len() <= keep {
            return Ok(());
        }
        rotated.sort_unstable();
        let excess = rotated.len() - keep;
        for n in &rotated[..excess] {
            let mut old = self.path.clone().into_os_string();
            old.push(format!(".{n}"));
            match tokio::fs::remove_file(PathBuf::from(old)).await {
                Ok(()) => {
                    if let Some(c) = &self.options.removed {
                        c.inc();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        sync_dir(&self.dir()).await
    }

    async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.open().await?;
        if self.rotate_bytes > 0
            && self.written > 0
            && self.written + data.len() as u64 > self.rotate_bytes
        {
            self.rotate().await?;
        }
        let file = match self.file.as_mut() {
            Some(f) => f,
            None => return Err(std::io::Error::other("file not open")),
        };
        let result = async {
            file.write_all(data).await?;
            file.flush().await?;
            if self.fsync {
                file.sync_data().await?;
            }
            Ok::<_, std::io::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                self.written += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Reopen on the next attempt; a partial write leaves a partial line that a
                // retry follows with the full batch (at-least-once: readers skip torn lines).
                self.file = None;
                Err(e)
            }
        }
    }
}

async fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut f = tokio::fs::File::open(path).await?;
    f.seek(std::io::SeekFrom::End(-1)).await?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last).await?;
    Ok(last[0] == b'\n')
}

/// Sets the permission bits (Unix; elsewhere a no-op).
async fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = tokio::fs::metadata(path).await?.permissions().mode() & 0o7777;
        if current != mode {
            tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// fsyncs a directory so that a create, rename or remove in it is durable (Unix; elsewhere
/// the file system offers no such call and this is a no-op).
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    tokio::fs::File::open(dir).await?.sync_all().await?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

async fn next_rotation_index(path: &Path) -> u64 {
    rotation_indexes(path).await.into_iter().max().unwrap_or(0) + 1
}

/// The numbers N of the rotated files `path.N` that exist.
async fn rotation_indexes(path: &Path) -> Vec<u64> {
    let mut found = Vec::new();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return found;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(mut rd) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = rd.next_entry().await {
            if let Some(rest) = entry
                .file_name()
                .to_str()
                .and_then(|f| f.strip_prefix(name).map(str::to_owned))
                && let Some(n) = rest.strip_prefix('.').and_then(|n| n.parse::<u64>().ok())
            {
                found.push(n);
            }
        }
    }
    found
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    /// Group commit: the batches queued behind the one being written go into the same
    /// `write` + `fsync`. One fsync per pipeline batch capped the file sink at one batch per
    /// disk flush (benches/README.md); merging what is already queued costs no latency.
    fn coalesce(&self) -> Option<Coalesce> {
        let cap = if self.rotate_bytes > 0 {
            (self.rotate_bytes as usize).min(GROUP_COMMIT_MAX)
        } else {
            GROUP_COMMIT_MAX
        };
        Some(Coalesce {
            min_bytes: 0,
            max_bytes: cap,
            max_wait: std::time::Duration::ZERO,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        match self.write(&batch.data).await {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Retryable(RetryReason::Io(format!(
                "write to {} failed: {e}",
                self.path.display()
            ))),
        }
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        self.open()
            .await
            .map_err(|e| SinkError::Io(format!("cannot open {}: {e}", self.path.display())))
    }
}

/// Writes NDJSON to standard output.
#[derive(Debug)]
pub struct StdoutSink {
    name: String,
    encoder: Arc<NdjsonEncoder>,
}

impl StdoutSink {
    /// A stdout sink in the given schema.
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        StdoutSink {
            name: name.into(),
            encoder: Arc::new(NdjsonEncoder { schema }),
        }
    }
}

#[async_trait]
impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let mut out = tokio::io::stdout();
        match async {
            out.write_all(&batch.data).await?;
            out.flush().await
        }
        .await
        {
            Ok(()) => Outcome::Delivered,
            Err(e) => Outcome::Retryable(RetryReason::Io(format!("stdout write failed: {e}"))),
        }
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Accepts everything and keeps only counts (benchmarks, dry runs).
#[derive(Debug, Clone)]
pub struct BlackholeSink {
    name: String,
    encoder: Arc<NdjsonEncoder>,
    /// Records accepted so far.
    pub records: Arc<AtomicU64>,
    /// Bytes accepted so far.
    pub bytes: Arc<AtomicU64>,
}

impl BlackholeSink {
    /// A blackhole that still encodes in `schema` (so benchmarks measure encoding).
    pub fn new(name: impl Into<String>, schema: Schema) -> Self {
        BlackholeSink {
            name: name.into(),
            encoder: Arc::new(NdjsonEncoder { schema }),
            records: Arc::default(),
            bytes: Arc::default(),
        }
    }
}

#[async_trait]
impl Sink for BlackholeSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        self.records
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        self.bytes
            .fetch_add(batch.data.len() as u64, Ordering::Relaxed);
        Outcome::Delivered
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn batch(s: &str) -> EncodedBatch {
        EncodedBatch {
            data: Bytes::from(s.to_string()),
            records: Vec::new(),
        }
    }

    #[tokio::test]
    async fn writes_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/records.ndjson");
        let mut sink = FileSink::new("f", &path, Schema::Native, 10, true);
        sink.healthcheck().await.unwrap();
        assert_eq!(sink.send(&batch("{\"a\":1}\n")).await, Outcome::Delivered);
        assert_eq!(sink.send(&batch("{\"b\":2}\n")).await, Outcome::Delivered);
        assert_eq!(sink.send(&batch("{\"c\":3}\n")).await, Outcome::Delivered);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"c\":3}\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/records.ndjson.1")).unwrap(),
            "{\"a\":1}\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/records.ndjson.2")).unwrap(),
            "{\"b\":2}\n"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_created_with_the_configured_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.ndjson");
        let mut sink = FileSink::new("f", &path, Schema::Native, 10, true);
        assert_eq!(sink.send(&batch("{\"a\":1}\n")).await, Outcome::Delivered);
        assert_eq!(sink.send(&batch("{\"b\":2}\n")).await, Outcome::Delivered);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o640, "default mode");
        assert_eq!(mode(&dir.path().join("records.ndjson.1")), 0o640);
        // An existing wider file is narrowed on open.
        let other = dir.path().join("dead-letter.ndjson");
        std::fs::write(&other, "").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut dl = FileSink::dead_letter(&other, 0).with_options(FileOptions {
            mode: 0o600,
            ..FileOptions::default()
        });
        assert_eq!(dl.send(&batch("x\n")).await, Outcome::Delivered);
        assert_eq!(mode(&other), 0o600);
    }

    #[tokio::test]
    async fn only_max_files_rotated_files_are_kept_and_removals_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.ndjson");
        let removed = entrastream_telemetry::Metrics::new().file_rotated_files_removed("f");
        let mut sink =
            FileSink::new("f", &path, Schema::Native, 10, true).with_options(FileOptions {
                max_files: 3,
                removed: Some(removed.clone()),
                ..FileOptions::default()
            });
        for i in 0..8 {
            let line = format!("{{\"n\":{i}}}\n");
            assert_eq!(sink.send(&batch(&line)).await, Outcome::Delivered);
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "records.ndjson",
                "records.ndjson.5",
                "records.ndjson.6",
                "records.ndjson.7"
            ]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":7}\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("records.ndjson.7")).unwrap(),
            "{\"n\":6}\n"
        );
        assert_eq!(removed.get(), 4);
    }

    #[tokio::test]
    async fn a_torn_last_line_is_terminated_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.ndjson");
        std::fs::write(&path, "{\"a\":1}\n{\"b\":").unwrap();
        let mut sink = FileSink::new("f", &path, Schema::Native, 0, true);
        assert_eq!(sink.send(&batch("{\"c\":3}\n")).await, Outcome::Delivered);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":\n{\"c\":3}\n"
        );
    }

    #[tokio::test]
    async fn unwritable_path_is_retryable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let mut sink = FileSink::new(
            "f",
            dir.path().join("file/records.ndjson"),
            Schema::Native,
            0,
            true,
        );
        assert!(sink.send(&batch("x\n")).await.is_retryable());
        assert!(sink.healthcheck().await.is_err());
    }
}
