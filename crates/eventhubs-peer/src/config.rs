//! What the peer serves: the namespace identity, its one SAS key and its event hubs.

use std::time::Duration;

/// The consumer group every event hub has; the service creates it with the hub and it cannot be
/// deleted, so [`HubSpec::consumer_groups`] never needs to list it.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";

/// Namespace-level configuration of an [`EventHubsPeer`](crate::EventHubsPeer).
#[derive(Clone)]
pub struct PeerConfig {
    /// Namespace host as it appears in `Endpoint=sb://{host}/` and in the SAS token audience
    /// (`amqps://{host}/{hub}`). The SDK dials the custom endpoint instead, so this is only a
    /// name; default `localhost`.
    pub host: String,
    /// Name of the shared access policy whose key signs SAS tokens; default
    /// `RootManageSharedAccessKey` (the policy every namespace is created with).
    pub key_name: String,
    /// The policy's key, used verbatim (as UTF-8 bytes) as the HMAC-SHA256 key, as the service and
    /// the SDK do; it is never base64-decoded.
    pub key: String,
    /// Event hubs of the namespace.
    pub hubs: Vec<HubSpec>,
    /// Delay before each `$cbs` put-token reply. fe2o3-amqp 0.16.2 on the client side can drop the
    /// whole connection when the reply (and the following link close) comes back within
    /// microseconds; a few milliseconds, as a real service always takes, avoids that race.
    pub cbs_reply_delay: Duration,
}

impl PeerConfig {
    /// A namespace `localhost` with one hub of `partitions` partitions (ids `"0"`..), only the
    /// `$Default` consumer group, 24 h retention and a fixed test key.
    pub fn single_hub(name: &str, partitions: u32) -> Self {
        Self {
            hubs: vec![HubSpec::new(name, partitions)],
            ..Self::default()
        }
    }
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            host: "localhost".to_owned(),
            key_name: "RootManageSharedAccessKey".to_owned(),
            key: "entrastream-test-peer-key".to_owned(),
            hubs: Vec::new(),
            cbs_reply_delay: Duration::from_millis(5),
        }
    }
}

impl std::fmt::Debug for PeerConfig {
    // The key is a secret even in a test peer: it shows up in logs of failing tests otherwise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConfig")
            .field("host", &self.host)
            .field("key_name", &self.key_name)
            .field("key", &"***")
            .field("hubs", &self.hubs)
            .field("cbs_reply_delay", &self.cbs_reply_delay)
            .finish()
    }
}

/// One event hub.
#[derive(Debug, Clone)]
pub struct HubSpec {
    /// Hub name; matched case-insensitively like the service does.
    pub name: String,
    /// Number of partitions; partition ids are `"0"` to `"{partitions - 1}"`.
    pub partitions: u32,
    /// Extra consumer groups; `$Default` is always present whether listed or not.
    pub consumer_groups: Vec<String>,
    /// How long an event is kept after its enqueued time (the hub's message retention).
    pub retention: Duration,
}

impl HubSpec {
    /// A hub with `$Default` only and 24 h retention (the Standard tier default of one day).
    pub fn new(name: &str, partitions: u32) -> Self {
        Self {
            name: name.to_owned(),
            partitions,
            consumer_groups: Vec::new(),
            retention: Duration::from_secs(24 * 60 * 60),
        }
    }
}
