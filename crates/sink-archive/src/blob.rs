//! `type = "azure_blob"`: the storage-export layout in append blobs.
//!
//! Calls ([REST reference](https://learn.microsoft.com/rest/api/storageservices/append-block)):
//! Append Block (`PUT ?comp=appendblock`), Put Blob with `x-ms-blob-type: AppendBlob` and
//! `If-None-Match: *` (create, never overwrite another replica's blob), Create Container,
//! Get Blob Properties (`HEAD`, `x-ms-blob-committed-block-count`).
//!
//! Delivery: a batch's records are grouped by hour blob, packed into blocks of whole lines (a
//! block never splits a record, and is at most `max_block_bytes` as stored), and appended one
//! block after the other. The batch is `Delivered` only after every block was answered 201;
//! any failure makes the whole batch `Retryable`, so blocks already committed are written again
//! (duplicates, never gaps: at-least-once, as every sink). Append Block is atomic per block,
//! so several replicas appending to one hour blob interleave whole blocks, never lines.
//!
//! Rollover: after `max_blocks_per_blob` blocks (Azure's 50,000 by default), or when the
//! service answers `409 BlockCountExceedsLimit`, writing goes on in the numbered sibling
//! `PT1H.1.json`, `PT1H.2.json`, … (`entrastream_archive::blob_path`), which `replay` reads in
//! order after `PT1H.json`. The first write to an hour blob after start-up asks its block
//! count (HEAD) and skips full siblings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_archive::{Compression, encode_member, hour_file_name};
use entrastream_blob_client::{
    Account, Auth, AuthError, Method, Reply, Request, SendError, TokenCredential,
};
use entrastream_entra::Schema;
use entrastream_sink::{
    Coalesce, EncodedBatch, Outcome, RecordEncoder, RejectReason, Rejection, RetryReason, Sink,
    SinkError,
};
use entrastream_telemetry::ArchiveSinkStats;

use crate::{ArchiveEncoder, BlobConfig, split_routed};

/// Hour blobs whose state is kept between batches; beyond, the map starts over (a forgotten
/// blob costs one HEAD on its next write).
const MAX_KNOWN_BLOBS: usize = 4096;
/// Create / roll / append steps for one block before giving up with a retryable error (each
/// step fixes one answer: container missing, blob missing, blob full).
const MAX_STEPS_PER_BLOCK: usize = 16;
/// Written (and removed) by `check-sinks`, in its own container so no reader sees it.
const CHECK_CONTAINER: &str = "entrastream-access-check";

/// Where writing to one hour blob stands.
#[derive(Debug, Clone, Copy, Default)]
struct HourBlob {
    /// 0 = `PT1H.json`, n = `PT1H.<n>.json`.
    sibling: u32,
    /// Blocks the current sibling holds; `None` = not asked yet (or another writer raced us).
    blocks: Option<u64>,
    /// The current sibling exists.
    exists: bool,
}

/// Why a batch is retried.
type Failure = RetryReason;

/// `type = "azure_blob"`.
pub struct AzureBlobSink {
    name: String,
    account: Arc<Account>,
    compression: Compression,
    max_block: usize,
    max_blocks: u64,
    encoder: Arc<ArchiveEncoder>,
    stats: ArchiveSinkStats,
    blobs: HashMap<(String, String), HourBlob>,
}

impl std::fmt::Debug for AzureBlobSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureBlobSink")
            .field("name", &self.name)
            .field("account", &self.account)
            .field("compression", &self.compression)
            .finish()
    }
}

/// The account `config` names, authorized by its connection string, its SAS, or (with
/// neither) `credential`, the source's Entra credential. Errors name the key, never a value.
pub fn account_for(
    config: &BlobConfig,
    credential: Option<Arc<dyn TokenCredential>>,
) -> Result<Account, AuthError> {
    let timeout = config.request_timeout;
    let url = config.account_url.as_deref();
    if let Some(cs) = &config.connection_string {
        let cs = entrastream_blob_client::parse_connection_string(cs.expose())?;
        return Account::new(url.unwrap_or(&cs.blob_endpoint), cs.auth, timeout);
    }
    let Some(url) = url else {
        return Err(AuthError::Config {
            key: "account_url",
            reason: "required unless connection_string is set".into(),
        });
    };
    if let Some(sas) = &config.sas {
        let query = sas.expose().trim().trim_start_matches('?');
        if !query.split('&').any(|p| p.starts_with("sig=")) {
            return Err(AuthError::Config {
                key: "sas",
                reason: "the SAS has no signature (sig=); paste the whole SAS token".into(),
            });
        }
        return Account::new(url, Auth::sas(query), timeout);
    }
    match credential {
        Some(c) => Account::new(url, Auth::token(c), timeout),
        None => Err(AuthError::Config {
            key: "connection_string",
            reason: "set connection_string or sas: the source authenticates with a connection \
                     string, so there is no Entra credential to borrow"
                .into(),
        }),
    }
}

/// Records of one batch for one hour blob: (record index, JSON line without `\n`).
type Lines<'a> = Vec<(usize, &'a [u8])>;

impl AzureBlobSink {
    /// A sink writing `schema` records to `account` with `config`'s layout and limits.
    pub fn new(
        name: impl Into<String>,
        schema: Schema,
        config: &BlobConfig,
        account: Account,
        stats: Option<ArchiveSinkStats>,
    ) -> Self {
        let name = name.into();
        AzureBlobSink {
            stats: stats.unwrap_or_else(|| ArchiveSinkStats::detached(&name)),
            name,
            account: Arc::new(account),
            compression: config.compression,
            max_block: config.max_block_bytes,
            max_blocks: u64::from(config.max_blocks_per_blob),
            encoder: Arc::new(ArchiveEncoder { schema }),
            blobs: HashMap::new(),
        }
    }

    /// The account behind the sink (for tests and `check-sinks`).
    pub fn account(&self) -> &Account {
        &self.account
    }

    async fn send_timed(&self, req: Request<'_>) -> Result<Reply, Failure> {
        let op = req.op;
        let started = Instant::now();
        let result = self.account.send(req).await;
        self.stats.request(started.elapsed().as_secs_f64());
        match result {
            Ok(r) => {
                if r.status >= 300 {
                    self.stats.error(&r.status.to_string());
                }
                Ok(r)
            }
            Err(e) => {
                let status = match &e {
                    SendError::Timeout { .. } => "timeout",
                    _ => "network",
                };
                self.stats.error(status);
                Err(match e {
                    SendError::Auth(a) => {
                        RetryReason::Operator(format!("archive sink {}: {op}: {a}", self.name))
                    }
                    other => {
                        RetryReason::Unreachable(format!("archive sink {}: {other}", self.name))
                    }
                })
            }
        }
    }

    /// The reason for an answer that is neither success nor a conflict we resolve.
    fn unexpected(&self, op: &str, path: &str, r: &Reply) -> Failure {
        let what = format!(
            "archive sink {}: {op} {}/{path} answered {} {}",
            self.name,
            self.account.endpoint(),
            r.status,
            if r.code.is_empty() { "-" } else { &r.code }
        );
        match r.status {
            401 | 403 => RetryReason::Operator(format!(
                "{what}: the storage account refused our credentials or rights; {} (the \
                 identity needs 'Storage Blob Data Contributor', a SAS needs create, add, write, \
                 read and list)",
                self.account.auth_hint()
            )),
            408 | 429 | 500..=599 => {
                RetryReason::Unavailable(format!("{what}: the service is busy; retrying"))
            }
            _ => RetryReason::Operator(format!(
                "{what}: check account_url (it must name the account's blob endpoint) and the \
                 storage account's settings"
            )),
        }
    }

    async fn create_container(&mut self, container: &str) -> Result<(), Failure> {
        let r = self
            .send_timed(Request {
                op: "create container",
                method: Method::PUT,
                path: container,
                query: &[("restype", "container")],
                headers: Vec::new(),
                body: Bytes::new(),
            })
            .await?;
        match (r.status, r.code.as_str()) {
            // 409: created by another replica (or us, before a lost answer).
            (201, _) | (409, "ContainerAlreadyExists") => Ok(()),
            _ => Err(self.unexpected("create container", container, &r)),
        }
    }

    /// Blocks held by `path`, `None` when it does not exist.
    async fn block_count(&self, path: &str) -> Result<Option<u64>, Failure> {
        let r = self
            .send_timed(Request {
                op: "get blob properties",
                method: Method::HEAD,
                path,
                query: &[],
                headers: Vec::new(),
                body: Bytes::new(),
            })
            .await?;
        match r.status {
            200 => Ok(Some(
                r.header_u64("x-ms-blob-committed-block-count").unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(self.unexpected("get blob properties", path, &r)),
        }
    }

    /// Creates the append blob `path`; false when it is missing its container.
    async fn create_blob(&mut self, path: &str) -> Result<bool, Failure> {
        let r = self
            .send_timed(Request {
                op: "create append blob",
                method: Method::PUT,
                path,
                query: &[],
                headers: vec![
                    ("x-ms-blob-type".into(), "AppendBlob".into()),
                    // Never truncate a blob another replica created in the meantime.
                    ("if-none-match".into(), "*".into()),
                    ("content-type".into(), self.content_type().into()),
                ],
                body: Bytes::new(),
            })
            .await?;
        match (r.status, r.code.as_str()) {
            (201, _) => {
                self.stats.blob_created();
                Ok(true)
            }
            (409, "BlobAlreadyExists") | (412, _) => Ok(true),
            (404, "ContainerNotFound") => Ok(false),
            _ => Err(self.unexpected("create append blob", path, &r)),
        }
    }

    fn content_type(&self) -> &'static str {
        match self.compression {
            Compression::None => "application/json",
            Compression::Gzip => "application/gzip",
            Compression::Zstd => "application/zstd",
        }
    }

    /// Appends one block to the current blob of (container, dir), creating the container and
    /// blob and rolling to a sibling as the answers require. Ok only on 201.
    async fn append(&mut self, container: &str, dir: &str, block: Bytes) -> Result<(), Failure> {
        let key = (container.to_string(), dir.to_string());
        if self.blobs.len() >= MAX_KNOWN_BLOBS && !self.blobs.contains_key(&key) {
            self.blobs.clear();
        }
        for _ in 0..MAX_STEPS_PER_BLOCK {
            let mut state = self.blobs.get(&key).copied().unwrap_or_default();
            let path = self.path_of(container, dir, state.sibling);
            if state.blocks.is_none() {
                match self.block_count(&path).await? {
                    Some(n) if n >= self.max_blocks => {
                        state = HourBlob {
                            sibling: state.sibling + 1,
                            ..HourBlob::default()
                        };
                    }
                    Some(n) => {
                        state.blocks = Some(n);
                        state.exists = true;
                    }
                    None => {
                        state.blocks = Some(0);
                        state.exists = false;
                    }
                }
                self.blobs.insert(key.clone(), state);
                continue;
            }
            if !state.exists {
                if !self.create_blob(&path).await? {
                    self.create_container(container).await?;
                    continue;
                }
                state.exists = true;
                self.blobs.insert(key.clone(), state);
            }
            let len = block.len() as u64;
            let r = self
                .send_timed(Request {
                    op: "append block",
                    method: Method::PUT,
                    path: &path,
                    query: &[("comp", "appendblock")],
                    headers: Vec::new(),
                    body: block.clone(),
                })
                .await?;
            match (r.status, r.code.as_str()) {
                (201, _) => {
                    self.stats.block(len);
                    let held = r
                        .header_u64("x-ms-blob-committed-block-count")
                        .unwrap_or_else(|| state.blocks.unwrap_or(0) + 1);
                    state.blocks = Some(held);
                    if held >= self.max_blocks {
                        self.roll(&key, state.sibling);
                    } else {
                        self.blobs.insert(key, state);
                    }
                    return Ok(());
                }
                (409, "BlockCountExceedsLimit") => self.roll(&key, state.sibling),
                (404, "ContainerNotFound") => {
                    self.blobs.insert(key.clone(), HourBlob::default());
                }
                (404, _) => {
                    // Deleted under us (retention policy, an operator): create it again.
                    state.exists = false;
                    self.blobs.insert(key.clone(), state);
                }
                _ => return Err(self.unexpected("append block", &path, &r)),
            }
        }
        Err(RetryReason::Unavailable(format!(
            "archive sink {}: {container}/{dir}: no block appended after {MAX_STEPS_PER_BLOCK} \
             create / roll steps (another writer keeps filling the blobs?); retrying",
            self.name
        )))
    }

    fn roll(&mut self, key: &(String, String), from: u32) {
        self.stats.rollover();
        self.blobs.insert(
            key.clone(),
            HourBlob {
                sibling: from + 1,
                ..HourBlob::default()
            },
        );
    }

    fn path_of(&self, container: &str, dir: &str, sibling: u32) -> String {
        format!(
            "{container}/{dir}/{}",
            hour_file_name(sibling, self.compression)
        )
    }

    /// Packs `lines` into blocks of whole lines, each at most `max_block` bytes as stored.
    /// A line alone over the limit is returned in the second list.
    fn blocks(&self, lines: &Lines<'_>) -> std::io::Result<(Vec<Bytes>, Vec<usize>)> {
        let mut blocks = Vec::new();
        let mut oversize = Vec::new();
        let mut start = 0;
        let mut plain = Vec::new();
        while start < lines.len() {
            // Take lines while the plain size fits; compression only shrinks JSON, and a
            // compressed block over the limit is cut in half below.
            let mut end = start;
            plain.clear();
            while end < lines.len() && plain.len() + lines[end].1.len() < self.max_block {
                plain.extend_from_slice(lines[end].1);
                plain.push(b'\n');
                end += 1;
            }
            if end == start {
                oversize.push(lines[start].0);
                start += 1;
                continue;
            }
            loop {
                let mut stored = Vec::with_capacity(plain.len());
                encode_member(self.compression, &plain, &mut stored)?;
                if stored.len() <= self.max_block {
                    blocks.push(Bytes::from(stored));
                    break;
                }
                if end - start == 1 {
                    oversize.push(lines[start].0);
                    break;
                }
                end = start + (end - start) / 2;
                plain.clear();
                for (_, l) in &lines[start..end] {
                    plain.extend_from_slice(l);
                    plain.push(b'\n');
                }
            }
            start = end;
        }
        Ok((blocks, oversize))
    }

    async fn write(&mut self, batch: &EncodedBatch) -> Result<Vec<Rejection>, Failure> {
        let mut order: Vec<(&str, &str)> = Vec::new();
        let mut groups: HashMap<(&str, &str), Lines<'_>> = HashMap::new();
        let mut rejected = Vec::new();
        for i in 0..batch.records.len() {
            match batch.record(i).and_then(split_routed) {
                Some((container, dir, json)) => {
                    groups
                        .entry((container, dir))
                        .or_insert_with(|| {
                            order.push((container, dir));
                            Vec::new()
                        })
                        .push((i, json));
                }
                None => rejected.push(Rejection {
                    index: i,
                    reason: RejectReason::Invalid(
                        "record was not encoded by the archive encoder (no destination)".into(),
                    ),
                }),
            }
        }
        for (container, dir) in order {
            let lines = &groups[&(container, dir)];
            let (blocks, oversize) = self.blocks(lines).map_err(|e| {
                RetryReason::Io(format!(
                    "archive sink {}: compressing a block failed: {e}",
                    self.name
                ))
            })?;
            for index in oversize {
                rejected.push(Rejection {
                    index,
                    reason: RejectReason::Oversize(format!(
                        "the record is longer than max_block_bytes ({} bytes); a block never \
                         splits a record",
                        self.max_block
                    )),
                });
            }
            for block in blocks {
                self.append(container, dir, block).await?;
            }
        }
        Ok(rejected)
    }

    /// `check-sinks`: the account answers, and we may create a container and write a blob.
    async fn probe(&mut self) -> Result<(), SinkError> {
        let as_sink_error = |f: Failure| match f {
            RetryReason::Unreachable(m) => SinkError::Unreachable(m),
            r => SinkError::Refused(r.to_string()),
        };
        self.create_container(CHECK_CONTAINER)
            .await
            .map_err(as_sink_error)?;
        let path = format!("{CHECK_CONTAINER}/probe");
        let r = self
            .send_timed(Request {
                op: "write probe blob",
                method: Method::PUT,
                path: &path,
                query: &[],
                headers: vec![("x-ms-blob-type".into(), "BlockBlob".into())],
                body: Bytes::from_static(b"entrastream check-sinks\n"),
            })
            .await
            .map_err(as_sink_error)?;
        if r.status != 201 {
            return Err(as_sink_error(self.unexpected(
                "write probe blob",
                &path,
                &r,
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for AzureBlobSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    fn coalesce(&self) -> Option<Coalesce> {
        // Batches queued behind the one being appended are merged up to one full block.
        Some(Coalesce {
            min_bytes: 0,
            max_bytes: self.max_block,
            max_wait: Duration::ZERO,
        })
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        match self.write(batch).await {
            Ok(rejected) if rejected.is_empty() => Outcome::Delivered,
            Ok(rejected) => Outcome::Rejected(rejected),
            Err(reason) => Outcome::Retryable(reason),
        }
    }

    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        self.probe().await
    }
}

#[cfg(test)]
mod tests;
