//! `FileStore`: ownership and checkpoints as small JSON files, for one host without Azure
//! Storage. Still correct with several processes on that host: every write is a temp file
//! renamed over the old one (readers see whole files), claims and checkpoint writes happen
//! under an exclusive OS file lock per hub, and the etag is the file's generation number.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::error::io_error;
use crate::{
    HubKey, Ownership, PartitionStore, StoreError, StoredCheckpoint, check_checkpoint, claim_wins,
    keys,
};

/// Ownership and checkpoints under a directory, in the blob layout
/// (`DIR/<fqns>/<hub>/<group>/ownership/<partition>.json`).
#[derive(Debug)]
pub struct FileStore {
    root: PathBuf,
    lowercase: bool,
}

/// Unique temp-file names within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileStore {
    /// Opens (creating it if needed) the store directory and checks that it is writable.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(&root).map_err(|e| io_error("create directory", &root, e))?;
        let probe = root.join(".write-check");
        write_atomic(&probe, b"ok")?;
        Ok(FileStore {
            root,
            lowercase: true,
        })
    }

    /// Whether hub names are lower-cased (default true, as in [`crate::BlobStore`]).
    pub fn lowercase_names(mut self, lowercase: bool) -> Self {
        self.lowercase = lowercase;
        self
    }

    fn hub_dir(&self, hub: &HubKey) -> Result<PathBuf, StoreError> {
        let prefix = hub.prefix(self.lowercase)?;
        let mut dir = self.root.clone();
        for part in prefix.split('/').filter(|p| !p.is_empty()) {
            if part == "." || part == ".." {
                return Err(StoreError::Config {
                    key: "hub",
                    reason: format!("{part:?} is not a usable name part"),
                });
            }
            dir.push(part);
        }
        Ok(dir)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Io {
                op: "run file operation",
                path: self.root.clone(),
                source: std::io::Error::other(e.to_string()),
            })?
    }
}

fn file_name(dir: &Path, kind: &str, partition_id: &str) -> Result<PathBuf, StoreError> {
    if partition_id.is_empty()
        || partition_id.contains(['/', '\\'])
        || partition_id.starts_with('.')
    {
        return Err(StoreError::Config {
            key: "partition_id",
            reason: format!(
                "{partition_id:?} must be non-empty, without '/' and not start with '.'"
            ),
        });
    }
    Ok(dir.join(kind).join(format!("{partition_id}.json")))
}

/// The exclusive per-hub lock, released when the returned file is dropped.
fn lock_hub(dir: &Path) -> Result<File, StoreError> {
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))?;
    let path = dir.join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("open lock file", &path, e))?;
    f.lock().map_err(|e| io_error("lock", &path, e))?;
    Ok(f)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))?;
    let tmp = dir.join(format!(
        ".tmp.{}.{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", path, e));
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Option<Value>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::InvalidData {
                    blob: path.display().to_string(),
                    what: "JSON",
                    reason: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// `(partition id, path)` of the JSON files in `dir`.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list", dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| io_error("list", dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".json")
            && !id.starts_with('.')
        {
            out.push((id.to_string(), e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ownership_from(partition_id: String, v: &Value) -> Ownership {
    Ownership {
        partition_id,
        owner_id: v[keys::OWNER_ID].as_str().unwrap_or_default().to_string(),
        etag: v["generation"].as_u64().map(|g| g.to_string()),
        last_modified: v["last_modified_ms"]
            .as_u64()
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
    }
}

#[async_trait::async_trait]
impl PartitionStore for FileStore {
    async fn list_ownership(&self, hub: &HubKey) -> Result<Vec<Ownership>, StoreError> {
        let dir = self.hub_dir(hub)?.join("ownership");
        self.blocking(move || {
            let mut out = Vec::new();
            for (id, path) in entries(&dir)? {
                if let Some(v) = read_json(&path)? {
                    out.push(ownership_from(id, &v));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn claim_ownership(
        &self,
        hub: &HubKey,
        claims: Vec<Ownership>,
    ) -> Result<Vec<Ownership>, StoreError> {
        let dir = self.hub_dir(hub)?;
        self.blocking(move || {
            let _lock = lock_hub(&dir)?;
            let mut won = Vec::new();
            for claim in claims {
                let path = file_name(&dir, "ownership", &claim.partition_id)?;
                let current = read_json(&path)?;
                let generation = current.as_ref().and_then(|v| v["generation"].as_u64());
                let current_etag = generation.map(|g| g.to_string());
                if current.is_some() && current_etag.is_none() {
                    return Err(StoreError::InvalidData {
                        blob: path.display().to_string(),
                        what: "ownership file",
                        reason: "no generation".into(),
                    });
                }
                if !claim_wins(current_etag.as_deref(), claim.etag.as_deref()) {
                    continue;
                }
                let now = SystemTime::now();
                let next = generation.unwrap_or(0) + 1;
                let v = json!({
                    keys::OWNER_ID: claim.owner_id,
                    "generation": next,
                    "last_modified_ms": millis(now),
                });
                write_atomic(&path, v.to_string().as_bytes())?;
                won.push(ownership_from(claim.partition_id, &v));
            }
            Ok(won)
        })
        .await
    }

    async fn list_checkpoints(&self, hub: &HubKey) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let dir = self.hub_dir(hub)?.join("checkpoint");
        self.blocking(move || {
            let mut out = Vec::new();
            for (id, path) in entries(&dir)? {
                let Some(v) = read_json(&path)? else { continue };
                let offset = v[keys::OFFSET].as_str().map(str::to_string);
                let sequence_number = v[keys::SEQUENCE_NUMBER].as_i64();
                if offset.is_some() || sequence_number.is_some() {
                    out.push(StoredCheckpoint {
                        partition_id: id,
                        offset,
                        sequence_number,
                    });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn update_checkpoint(
        &self,
        hub: &HubKey,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        check_checkpoint(checkpoint)?;
        let dir = self.hub_dir(hub)?;
        let c = checkpoint.clone();
        self.blocking(move || {
            let path = file_name(&dir, "checkpoint", &c.partition_id)?;
            let mut v = json!({});
            if let Some(o) = &c.offset {
                v[keys::OFFSET] = json!(o);
            }
            if let Some(s) = c.sequence_number {
                v[keys::SEQUENCE_NUMBER] = json!(s);
            }
            // Unconditional like the blob store; the lock only orders concurrent writers.
            let _lock = lock_hub(&dir)?;
            write_atomic(&path, v.to_string().as_bytes())
        })
        .await
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "file",
            "directory": self.root.display().to_string(),
            "lowercase_names": self.lowercase,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn hub() -> HubKey {
        HubKey::new("NS.servicebus.windows.net", "Hub", "$Default")
    }

    #[tokio::test]
    async fn conditional_claims() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path()).unwrap();
        let won = s
            .claim_ownership(&hub(), vec![Ownership::new("0", "a")])
            .await
            .unwrap();
        assert_eq!(won.len(), 1);
        let etag = won[0].etag.clone();
        // Create-if-absent twice: the second loses.
        assert!(
            s.claim_ownership(&hub(), vec![Ownership::new("0", "b")])
                .await
                .unwrap()
                .is_empty()
        );
        // Stale etag loses; the current one wins and bumps the version.
        let b = Ownership {
            etag: etag.clone(),
            ..Ownership::new("0", "b")
        };
        let won_b = s.claim_ownership(&hub(), vec![b.clone()]).await.unwrap();
        assert_eq!(won_b.len(), 1);
        assert_ne!(won_b[0].etag, etag);
        assert!(s.claim_ownership(&hub(), vec![b]).await.unwrap().is_empty());
        let listed = s.list_ownership(&hub()).await.unwrap();
        assert_eq!(listed, won_b);
        // Lower-cased layout on disk, like the .NET blob names.
        assert!(
            dir.path()
                .join("ns.servicebus.windows.net/hub/$default/ownership/0.json")
                .is_file()
        );
    }

    #[tokio::test]
    async fn racing_stores_have_one_winner_per_partition() {
        let dir = tempfile::tempdir().unwrap();
        let mut tasks = Vec::new();
        for owner in 0..6 {
            // Separate FileStore values, as separate processes would have.
            let s = Arc::new(FileStore::open(dir.path()).unwrap());
            tasks.push(tokio::spawn(async move {
                let claims = (0..16)
                    .map(|p| Ownership::new(p.to_string(), format!("o{owner}")))
                    .collect();
                s.claim_ownership(&hub(), claims).await.unwrap()
            }));
        }
        let mut winners = std::collections::BTreeMap::new();
        for t in tasks {
            for o in t.await.unwrap() {
                assert!(winners.insert(o.partition_id.clone(), o.owner_id).is_none());
            }
        }
        assert_eq!(winners.len(), 16);
    }

    #[tokio::test]
    async fn checkpoints_round_trip_and_refuse_empty() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileStore::open(dir.path()).unwrap();
        let c = StoredCheckpoint {
            partition_id: "3".into(),
            offset: Some("42".into()),
            sequence_number: Some(7),
        };
        s.update_checkpoint(&hub(), &c).await.unwrap();
        let empty = StoredCheckpoint {
            partition_id: "3".into(),
            offset: None,
            sequence_number: None,
        };
        let e = s.update_checkpoint(&hub(), &empty).await.unwrap_err();
        assert!(matches!(e, StoreError::EmptyCheckpoint { .. }));
        assert_eq!(s.list_checkpoints(&hub()).await.unwrap(), vec![c]);
        let bad = StoredCheckpoint {
            partition_id: "../x".into(),
            ..empty
        };
        assert!(
            s.update_checkpoint(
                &hub(),
                &StoredCheckpoint {
                    sequence_number: Some(1),
                    ..bad
                }
            )
            .await
            .is_err()
        );
    }
}
