//! What the AMQP source needs to know, already validated by the config crate.

use std::time::{Duration, SystemTime};

use entrastream_partition_store::Strategy;
use entrastream_secret::Secret;

/// How the source authenticates to Event Hubs.
#[derive(Debug, Clone)]
pub enum EventHubsAuth {
    /// A namespace- or entity-level connection string (SAS key). `event_hub` is required when
    /// the string has no `EntityPath`.
    ConnectionString {
        /// The connection string (secret).
        connection_string: Secret,
        /// The hub when the string does not name one.
        event_hub: Option<String>,
    },
    /// An Entra ID credential for `namespace` (its fully qualified host name).
    Entra {
        /// `contoso-ns.servicebus.windows.net`.
        namespace: String,
        /// The event hub.
        event_hub: String,
        /// Which credential.
        credential: EntraCredential,
    },
}

/// The Entra ID credentials the source (and the blob store) can use: shared with the Kafka
/// source's OAUTHBEARER auth.
pub use entrastream_credential::EntraCredential;

/// Where a partition without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The oldest retained event (default: a forwarder must not skip what the hub holds).
    Earliest,
    /// Only events enqueued from now on.
    Latest,
    /// The first event enqueued at or after this time.
    EnqueuedTime(SystemTime),
    /// This sequence number (inclusive).
    SequenceNumber(i64),
}

/// The balancing rule and its timing.
#[derive(Debug, Clone)]
pub struct Balancing {
    /// Balanced (one partition per cycle) or greedy (the whole fair share at once).
    pub strategy: Strategy,
    /// How often ownership is renewed and rebalanced.
    pub update_interval: Duration,
    /// An ownership not renewed for this long is free to take.
    pub ownership_expiry: Duration,
    /// This replica's owner id (default: host name + a random suffix).
    pub owner_id: String,
}

/// Everything the AMQP source needs.
#[derive(Debug, Clone)]
pub struct AmqpSourceConfig {
    /// Credentials and hub.
    pub auth: EventHubsAuth,
    /// Consumer group (`$Default` unless set).
    pub consumer_group: String,
    /// Start of a partition without a checkpoint.
    pub start: StartFrom,
    /// `amqp://host:port` of a local emulator or test peer (plain AMQP).
    pub custom_endpoint: Option<String>,
    /// Events the SDK prefetches per partition (its link credit).
    pub prefetch: u32,
    /// The hub's retention, for the retention-headroom metric.
    pub retention: Duration,
    /// How often partition properties (last enqueued event) are read for lag metrics.
    pub properties_interval: Duration,
    /// Ownership and balancing.
    pub balancing: Balancing,
    /// How long a revoke waits for the pipeline to drain a partition.
    pub drain_timeout: Duration,
}

/// A default owner id: host name plus a random suffix, so two pods on one node differ.
pub fn default_owner_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "entrastream".to_string());
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{host}-{:08x}", nanos ^ std::process::id())
}
