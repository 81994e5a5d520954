//! Event Hubs partition ownership and checkpoints, and the rule that balances partitions
//! between replicas.
//!
//! This crate owns three things: the [`PartitionStore`] trait (list/claim ownership,
//! list/update checkpoints), its implementations ([`BlobStore`] on Azure Blob Storage in the
//! exact layout of Microsoft's Event Hubs processors, [`FileStore`] for a single host,
//! [`MemoryStore`] for tests), and the [`LoadBalancer`] with its pure decision function
//! [`plan`].
//!
//! # Blob layout (shared with the official SDKs)
//!
//! - checkpoint: `<fqns>/<eventhub>/<consumergroup>/checkpoint/<partition>`, metadata
//!   `offset` (a string) and `sequencenumber`;
//! - ownership: `<fqns>/<eventhub>/<consumergroup>/ownership/<partition>`, metadata `ownerid`
//!   (empty = relinquished); the blob's ETag is the ownership version and its Last-Modified
//!   the owner's heartbeat.
//!
//! Claims are optimistic: the first claim uploads an empty blob with `If-None-Match: *`, later
//! ones set metadata with `If-Match: <etag>`; a 412 or 409 means another replica won, which is
//! not an error. Names are lower-cased by default like the .NET processor (so we share a
//! container with .NET and Functions consumers); the Rust and Go SDKs do not lower-case, so a
//! hub with upper-case letters needs [`BlobStore::lowercase_names`]`(false)` to share their
//! checkpoints.
//!
//! # Main design decision: Blob REST over reqwest, not `azure_storage_blob`
//!
//! `azure_storage_blob` 1.x requires `azure_core ^1.1.0`, which cannot share one Cargo.lock with
//! `azure_core =1.2.0-beta.1` that `azure_messaging_eventhubs =0.16.0` needs; with both, Cargo
//! fails to resolve (and the published `azure_messaging_eventhubs_checkpointstore_blob` 0.9.0
//! implements the 0.15 trait anyway). The store needs three Blob operations (List Blobs with
//! metadata, Put Blob, Set Blob Metadata, the last two with conditional headers), so we speak
//! the REST API directly with reqwest and sign requests ourselves, through the workspace's one
//! Blob client (`entrastream-blob-client`: its `Account` signs, validates the endpoint and
//! keeps secrets out of `Debug`; its `parse_list` reads listings): Shared Key from a storage
//! connection string (including Azurite's `UseDevelopmentStorage=true`), a SAS on the container
//! URL, or an Entra ID bearer token from any `azure_core` [`TokenCredential`]
//! (scope `https://storage.azure.com/.default`). `tests/sdk-compat` checks with the official
//! blob store that both sides read what the other wrote.
//!
//! # Balancing
//!
//! [`LoadBalancer::cycle`] follows the SDKs' Balanced strategy (one new claim per cycle,
//! unowned or expired first, else steal from the most loaded owner above its share) and adds
//! one rule the SDKs lack: an owner above its share relinquishes one partition per cycle when
//! another owner is below its share, so a joining replica does not have to steal (stealing
//! interrupts a reader mid-batch; relinquishing lets us drain first). [`Strategy::Greedy`]
//! claims up to the fair share at once.
//!
//! [`TokenCredential`]: azure_core::credentials::TokenCredential
#![forbid(unsafe_code)]

mod balance;
mod blob;
mod error;
mod file;
mod memory;

use std::time::SystemTime;

pub use balance::{BalancerConfig, CycleReport, FairShare, LoadBalancer, Plan, Strategy, plan};
pub use blob::BlobStore;
pub use error::StoreError;
pub use file::FileStore;
pub use memory::{MemoryStore, RequestCounts};

/// Which hub and consumer group: the blob name prefix `<fqns>/<eventhub>/<consumergroup>/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubKey {
    /// `NAMESPACE.servicebus.windows.net`
    pub fully_qualified_namespace: String,
    /// The Event Hub (entity path).
    pub event_hub: String,
    /// The consumer group, e.g. `$Default`.
    pub consumer_group: String,
}

impl HubKey {
    /// A hub key from its three parts.
    pub fn new(
        fully_qualified_namespace: impl Into<String>,
        event_hub: impl Into<String>,
        consumer_group: impl Into<String>,
    ) -> Self {
        HubKey {
            fully_qualified_namespace: fully_qualified_namespace.into(),
            event_hub: event_hub.into(),
            consumer_group: consumer_group.into(),
        }
    }

    /// `<fqns>/<eventhub>/<consumergroup>/`, lower-cased when `lowercase` (the .NET rule;
    /// partition ids are never lower-cased). Empty parts are refused: they would make every
    /// hub share one prefix.
    pub fn prefix(&self, lowercase: bool) -> Result<String, StoreError> {
        for (key, value) in [
            ("fully_qualified_namespace", &self.fully_qualified_namespace),
            ("event_hub", &self.event_hub),
            ("consumer_group", &self.consumer_group),
        ] {
            if value.is_empty() || value.contains('/') {
                return Err(StoreError::Config {
                    key,
                    reason: format!("{value:?} must be non-empty and contain no '/'"),
                });
            }
        }
        let p = format!(
            "{}/{}/{}/",
            self.fully_qualified_namespace, self.event_hub, self.consumer_group
        );
        Ok(if lowercase { p.to_lowercase() } else { p })
    }
}

/// Who owns a partition, as stored. `owner_id` empty means relinquished (unowned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The partition id, e.g. `"0"`.
    pub partition_id: String,
    /// The owning replica; `""` = relinquished.
    pub owner_id: String,
    /// The blob's version: `None` when the blob does not exist (a claim then creates it).
    pub etag: Option<String>,
    /// The owner's last heartbeat (the blob's Last-Modified, 1 s resolution on Azure).
    pub last_modified: Option<SystemTime>,
}

impl Ownership {
    /// An ownership without version or time, e.g. a first claim.
    pub fn new(partition_id: impl Into<String>, owner_id: impl Into<String>) -> Self {
        Ownership {
            partition_id: partition_id.into(),
            owner_id: owner_id.into(),
            etag: None,
            last_modified: None,
        }
    }
}

/// A partition's stored position. Offsets are strings (geo-replicated hubs use
/// non-numeric offsets); the sequence number is what .NET prefers when both exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The partition id.
    pub partition_id: String,
    /// The offset of the last processed event (inclusive), as the service gave it.
    pub offset: Option<String>,
    /// The sequence number of the last processed event (inclusive).
    pub sequence_number: Option<i64>,
}

/// Where ownership and checkpoints live. Implementations are shared by all partitions of a
/// replica (`Arc<dyn PartitionStore>`) and make no retries: the balancer retries next cycle,
/// the source on its next commit ([`StoreError::is_retryable`] says whether that can help).
#[async_trait::async_trait]
pub trait PartitionStore: Send + Sync + std::fmt::Debug + 'static {
    /// Every stored ownership of the hub (relinquished ones included, `owner_id` empty).
    async fn list_ownership(&self, hub: &HubKey) -> Result<Vec<Ownership>, StoreError>;

    /// Each claim with etag None = create-if-absent (If-None-Match: *), Some = If-Match.
    /// Returns only the claims won, with their new etag and last_modified; a lost race
    /// (412 / 409) is not an error, just absent from the result.
    async fn claim_ownership(
        &self,
        hub: &HubKey,
        claims: Vec<Ownership>,
    ) -> Result<Vec<Ownership>, StoreError>;

    /// Every stored checkpoint of the hub.
    async fn list_checkpoints(&self, hub: &HubKey) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// Unconditional SetMetadata (upload if the blob is missing). Refuses (error) a checkpoint
    /// with neither offset nor sequence number, so a good one is never erased
    /// (azure-sdk-for-rust#5097).
    async fn update_checkpoint(
        &self,
        hub: &HubKey,
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError>;

    /// Kind and location (container URL without query, directory), never secrets; for
    /// `/status`.
    fn describe(&self) -> serde_json::Value;
}

/// The metadata keys, exactly as every SDK writes them.
pub(crate) mod keys {
    pub const OFFSET: &str = "offset";
    pub const SEQUENCE_NUMBER: &str = "sequencenumber";
    pub const OWNER_ID: &str = "ownerid";
}

/// Refuses a checkpoint that would erase a stored position.
pub(crate) fn check_checkpoint(c: &StoredCheckpoint) -> Result<(), StoreError> {
    if c.partition_id.is_empty() || c.partition_id.contains('/') {
        return Err(StoreError::Config {
            key: "partition_id",
            reason: format!("{:?} must be non-empty and contain no '/'", c.partition_id),
        });
    }
    if c.offset.is_none() && c.sequence_number.is_none() {
        return Err(StoreError::EmptyCheckpoint {
            partition_id: c.partition_id.clone(),
        });
    }
    Ok(())
}

/// Whether a claim with `claim_etag` wins against a blob whose current version is `current`
/// (`None` = no blob): the If-None-Match: * / If-Match rule.
pub(crate) fn claim_wins(current: Option<&str>, claim_etag: Option<&str>) -> bool {
    match (current, claim_etag) {
        (None, None) => true,
        (Some(cur), Some(want)) => cur == want,
        // 409 BlobAlreadyExists, or 404 on SetMetadata: someone else changed the blob.
        _ => false,
    }
}

/// Parses the `sequencenumber` metadata value.
pub(crate) fn parse_sequence_number(blob: &str, value: &str) -> Result<i64, StoreError> {
    value.trim().parse().map_err(|_| StoreError::InvalidData {
        blob: blob.to_string(),
        what: "sequencenumber metadata",
        reason: format!("{value:?} is not an integer"),
    })
}
