//! `MemoryStore`: the blob semantics (versions, conditional claims) in a map, for tests and
//! for counting how many storage requests a cycle or a checkpoint costs.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::{
    HubKey, Ownership, PartitionStore, StoreError, StoredCheckpoint, check_checkpoint, claim_wins,
};

/// Storage requests made so far, by Blob REST operation (what a [`crate::BlobStore`] would
/// send for the same calls: one List Blobs page per listing, one Put Blob or Set Blob Metadata
/// per claim, a Set Blob Metadata per checkpoint plus a Put Blob when the blob was missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// List Blobs pages.
    pub list: u64,
    /// Put Blob (first claims, first checkpoint of a partition, access check).
    pub put: u64,
    /// Set Blob Metadata (claims, renewals, relinquishments, checkpoints).
    pub set_metadata: u64,
}

impl RequestCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.list + self.put + self.set_metadata
    }

    /// Requests made between `earlier` and `self`.
    pub fn since(&self, earlier: RequestCounts) -> RequestCounts {
        RequestCounts {
            list: self.list - earlier.list,
            put: self.put - earlier.put,
            set_metadata: self.set_metadata - earlier.set_metadata,
        }
    }
}

#[derive(Debug)]
struct Entry {
    value: String,
    generation: u64,
    last_modified: SystemTime,
}

#[derive(Debug, Default)]
struct Inner {
    /// (hub prefix, partition) -> owner id, version, heartbeat
    ownership: BTreeMap<(String, String), Entry>,
    checkpoints: BTreeMap<(String, String), StoredCheckpoint>,
    generation: u64,
    requests: RequestCounts,
}

/// An in-process store with blob semantics: every write bumps a version (the etag), claims are
/// conditional on it. `Default` gives an empty store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written entry: every write is one
        // insert. So a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Requests counted so far.
    pub fn requests(&self) -> RequestCounts {
        self.lock().requests
    }

    /// Moves an ownership's heartbeat into the past, as if its owner had stopped renewing
    /// `by` ago (tests of expiry without sleeping).
    pub fn age_ownership(&self, hub: &HubKey, partition_id: &str, by: Duration) {
        let key = (key_of(hub), partition_id.to_string());
        if let Some(e) = self.lock().ownership.get_mut(&key) {
            e.last_modified = e
                .last_modified
                .checked_sub(by)
                .unwrap_or(SystemTime::UNIX_EPOCH);
        }
    }
}

fn key_of(hub: &HubKey) -> String {
    // Same name rule as the blob store; an invalid hub simply matches nothing.
    hub.prefix(true).unwrap_or_default()
}

#[async_trait::async_trait]
impl PartitionStore for MemoryStore {
    async fn list_ownership(&self, hub: &HubKey) -> Result<Vec<Ownership>, StoreError> {
        let prefix = hub.prefix(true)?;
        let mut inner = self.lock();
        inner.requests.list += 1;
        Ok(inner
            .ownership
            .iter()
            .filter(|((h, _), _)| *h == prefix)
            .map(|((_, p), e)| Ownership {
                partition_id: p.clone(),
                owner_id: e.value.clone(),
                etag: Some(e.generation.to_string()),
                last_modified: Some(e.last_modified),
            })
            .collect())
    }

    async fn claim_ownership(
        &self,
        hub: &HubKey,
        claims: Vec<Ownership>,
    ) -> Result<Vec<Ownership>, StoreError> {
        let prefix = hub.prefix(true)?;
        let mut inner = self.lock();
        let mut won = Vec::new();
        for claim in claims {
            if claim.etag.is_some() {
                inner.requests.set_metadata += 1;
            } else {
                inner.requests.put += 1;
            }
            let key = (prefix.clone(), claim.partition_id.clone());
            let current = inner.ownership.get(&key).map(|e| e.generation.to_string());
            if !claim_wins(current.as_deref(), claim.etag.as_deref()) {
                continue;
            }
            inner.generation += 1;
            let generation = inner.generation;
            let now = SystemTime::now();
            inner.ownership.insert(
                key,
                Entry {
                    value: claim.owner_id.clone(),
                    generation,
                    last_modified: now,
                },
            );
            won.push(Ownership {
                etag: Some(generation.to_string()),
                last_modified: Some(now),
                ..claim
            });
        }
        Ok(won)
    }

    async fn list_checkpoints(&self, hub: &HubKey) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let prefix = hub.prefix(true)?;
        let mut inner = self.lock();
        inner.requests.list += 1;
        Ok(inner
            .checkpoints
            .iter()
            .filter(|((h, _), _)| *h == prefix)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn update_checkpoint(
        &self,
        hub: &HubKey,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        check_checkpoint(checkpoint)?;
        let prefix = hub.prefix(true)?;
        let mut inner = self.lock();
        let key = (prefix, checkpoint.partition_id.clone());
        inner.requests.set_metadata += 1;
        if !inner.checkpoints.contains_key(&key) {
            inner.requests.put += 1;
        }
        inner.checkpoints.insert(key, checkpoint.clone());
        Ok(())
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "kind": "memory" })
    }
}
