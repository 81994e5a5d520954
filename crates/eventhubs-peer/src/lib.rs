//! Test support: an in-process Event Hubs AMQP 1.0 peer.
//!
//! It owns a namespace's worth of service behaviour for tests and benchmarks of the AMQP source:
//! SASL ANONYMOUS/PLAIN, CBS put-token with SAS validation (`$cbs`), the `$management` READ
//! operations, epoch (owner-level) receivers with the steal/refuse rules, selector start filters,
//! credit-bounded delivery, producers, and per-hub retention. It is driven in its own tests by the
//! official `azure_messaging_eventhubs` client, so what passes here is what that client accepts.
//!
//! Main design decision: the AMQP 1.0 protocol machinery is `fe2o3-amqp`'s acceptor side (the
//! same library the SDK uses as a client), and this crate only implements the Event Hubs
//! semantics on top. State is an in-memory log per partition behind its own short-lived
//! `std::sync::Mutex` (never held across an `.await`), so `append` stays synchronous for tests and
//! delivery tasks copy events out in bursts and send them without any lock. Deliveries are
//! pre-settled (the service's consumer links settle on send) and fe2o3's sender never exceeds the
//! link credit the client granted.
//!
//! What the service does that this peer does not: TLS, Kafka, geo-replication, idle detach of
//! links, detaching links when their CBS token expires (expiry is only checked at attach), and
//! Entra (JWT) tokens — a put-token of type `jwt` is refused with 401.

#![forbid(unsafe_code)]

mod address;
mod config;
mod nodes;
mod sas;
mod server;
mod store;

pub use config::{DEFAULT_CONSUMER_GROUP, HubSpec, PeerConfig};

use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use store::{Hub, Ids, Stats};

/// Where [`EventHubsPeer::append`] put an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendedEvent {
    /// Starts at 0 per partition and grows by one per event.
    pub sequence_number: i64,
    /// Numeric string; grows by the event's stored size, like the service's byte offsets.
    pub offset: String,
    /// The time the event was stamped with (`x-opt-enqueued-time`), millisecond precision on the
    /// wire.
    pub enqueued_time: SystemTime,
}

/// The body of an event appended with [`EventHubsPeer::append_body`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventBody {
    /// One Data section (what [`EventHubsPeer::append`] sends).
    Data(Vec<u8>),
    /// Several Data sections, in order.
    DataSections(Vec<Vec<u8>>),
    /// An AmqpValue section holding a string.
    Value(String),
}

/// Partition properties, the same values `$management` READ returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Oldest retained sequence number; the next one to be assigned when the partition is empty.
    pub begin_sequence_number: i64,
    /// `-1` when nothing was ever enqueued.
    pub last_enqueued_sequence_number: i64,
    /// `"-1"` when nothing was ever enqueued.
    pub last_enqueued_offset: String,
    /// `None` when nothing was ever enqueued.
    pub last_enqueued_time: Option<SystemTime>,
    /// True when retention removed everything or nothing was enqueued.
    pub is_empty: bool,
}

/// A receiver link currently attached to a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverInfo {
    pub consumer_group: String,
    /// The `com.microsoft:epoch` link property, if the client set one.
    pub owner_level: Option<i64>,
    /// Id of the AMQP connection (1, 2, … in accept order).
    pub connection: u64,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerStats {
    pub connections: u64,
    /// put-token requests answered 202.
    pub cbs_accepted: u64,
    /// put-token requests answered with any other status.
    pub cbs_refused: u64,
    /// `$management` READ requests, answered successfully or not.
    pub management_reads: u64,
    /// Receivers detached because a newer owner took their partition.
    pub links_stolen: u64,
    /// Transfers sent on receiver links.
    pub events_delivered: u64,
}

/// The namespace shared by the handle and every connection task.
#[derive(Debug)]
pub(crate) struct Namespace {
    pub host: String,
    pub key_name: String,
    pub key: String,
    pub cbs_reply_delay: Duration,
    /// Milliseconds before each `$management` reply (see [`EventHubsPeer::set_management_delay`]).
    pub management_delay_ms: std::sync::atomic::AtomicU64,
    pub hubs: Vec<Arc<Hub>>,
    pub stats: Stats,
    pub ids: Ids,
}

impl Namespace {
    pub(crate) fn management_delay(&self) -> Duration {
        Duration::from_millis(self.management_delay_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn hub(&self, name: &str) -> Option<&Arc<Hub>> {
        self.hubs.iter().find(|h| h.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug)]
struct PeerInner {
    ns: Arc<Namespace>,
    addr: SocketAddr,
    /// Dropping it (with the last handle) or sending `true` stops the listener and every
    /// connection.
    shutdown: watch::Sender<bool>,
    listener: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for PeerInner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// A running peer. Cloning shares it; it stops when the last clone is dropped or on
/// [`shutdown`](Self::shutdown).
#[derive(Debug, Clone)]
pub struct EventHubsPeer {
    inner: Arc<PeerInner>,
}

impl EventHubsPeer {
    /// Binds `127.0.0.1:0` and starts accepting AMQP connections on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// The bind error, or `InvalidInput` when two hubs share a name or a hub has no partitions
    /// (the service requires at least one).
    pub async fn start(config: PeerConfig) -> std::io::Result<EventHubsPeer> {
        for (i, hub) in config.hubs.iter().enumerate() {
            if hub.partitions == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "hub '{}' has 0 partitions; an event hub needs at least 1",
                        hub.name
                    ),
                ));
            }
            if config.hubs[..i]
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case(&hub.name))
            {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "hub '{}' is configured twice (names are case-insensitive)",
                        hub.name
                    ),
                ));
            }
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let ns = Arc::new(Namespace {
            host: config.host,
            key_name: config.key_name,
            key: config.key,
            cbs_reply_delay: config.cbs_reply_delay,
            management_delay_ms: std::sync::atomic::AtomicU64::new(0),
            hubs: config.hubs.iter().map(|h| Arc::new(Hub::new(h))).collect(),
            stats: Stats::default(),
            ids: Ids::default(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(server::listen(listener, ns.clone(), shutdown_rx));
        Ok(EventHubsPeer {
            inner: Arc::new(PeerInner {
                ns,
                addr,
                shutdown,
                listener: std::sync::Mutex::new(Some(task)),
            }),
        })
    }

    /// `amqp://127.0.0.1:PORT`, for `ConsumerClient::builder().with_custom_endpoint(..)`.
    pub fn endpoint(&self) -> String {
        format!("amqp://{}", self.inner.addr)
    }

    /// The socket address the peer listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The configured namespace host (only a name: the SDK dials [`endpoint`](Self::endpoint)).
    pub fn fully_qualified_namespace(&self) -> &str {
        &self.inner.ns.host
    }

    /// `Endpoint=sb://{host}/;SharedAccessKeyName=..;SharedAccessKey=..;EntityPath={hub}`.
    pub fn connection_string(&self, hub: &str) -> String {
        format!("{};EntityPath={hub}", self.namespace_connection_string())
    }

    /// The connection string without `EntityPath`.
    pub fn namespace_connection_string(&self) -> String {
        let ns = &self.inner.ns;
        format!(
            "Endpoint=sb://{}/;SharedAccessKeyName={};SharedAccessKey={}",
            ns.host, ns.key_name, ns.key
        )
    }

    /// The form the Microsoft Event Hubs emulator prints. The Rust SDK 0.16 ignores
    /// `UseDevelopmentEmulator` and still dials `amqps://<host>:5671`, so use it with a custom
    /// endpoint or for parsers that must accept it.
    pub fn emulator_connection_string(&self, hub: &str) -> String {
        let ns = &self.inner.ns;
        format!(
            "Endpoint=sb://{};SharedAccessKeyName={};SharedAccessKey={};\
             UseDevelopmentEmulator=true;EntityPath={hub}",
            self.inner.addr, ns.key_name, ns.key
        )
    }

    /// A SAS token for `amqps://{host}/{hub}` (or the namespace when `hub` is empty) signed with
    /// the peer's key and valid for `validity`, e.g. for `SharedAccessSignature=` connection
    /// strings.
    pub fn sas_token(&self, hub: &str, validity: Duration) -> String {
        let ns = &self.inner.ns;
        let audience = if hub.is_empty() {
            format!("amqps://{}/", ns.host)
        } else {
            format!("amqps://{}/{hub}", ns.host)
        };
        let expiry = (SystemTime::now() + validity)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        sas::sign(&audience, &ns.key_name, &ns.key, expiry)
    }

    fn hub(&self, hub: &str) -> &Arc<Hub> {
        self.inner
            .ns
            .hub(hub)
            .unwrap_or_else(|| panic!("test bug: hub '{hub}' is not configured on this peer"))
    }

    fn partition(&self, hub: &str, partition: &str) -> (&Arc<Hub>, &Arc<store::Partition>) {
        let h = self.hub(hub);
        let p = h.partition(partition).unwrap_or_else(|| {
            panic!(
                "test bug: hub '{hub}' has no partition '{partition}' (it has {})",
                h.partitions.len()
            )
        });
        (h, p)
    }

    /// Appends an event stamped now. Panics only when the hub or partition is not configured,
    /// which is a bug in the calling test.
    pub fn append(&self, hub: &str, partition: &str, body: impl Into<Vec<u8>>) -> AppendedEvent {
        self.append_at(hub, partition, body, SystemTime::now())
    }

    /// Appends an event with a chosen enqueued time (back-dated events for retention tests).
    /// Sequence numbers still follow append order whatever the time says.
    pub fn append_at(
        &self,
        hub: &str,
        partition: &str,
        body: impl Into<Vec<u8>>,
        enqueued_time: SystemTime,
    ) -> AppendedEvent {
        self.append_with_key(hub, partition, body, None, enqueued_time)
    }

    /// Appends an event carrying `x-opt-partition-key`.
    pub fn append_with_key(
        &self,
        hub: &str,
        partition: &str,
        body: impl Into<Vec<u8>>,
        partition_key: Option<&str>,
        enqueued_time: SystemTime,
    ) -> AppendedEvent {
        let (h, p) = self.partition(hub, partition);
        let event = p.append(
            Bytes::from(body.into()),
            partition_key.map(str::to_owned),
            enqueued_time,
            h.retention(),
        );
        AppendedEvent {
            sequence_number: event.sequence_number,
            offset: event.offset.to_string(),
            enqueued_time: event.enqueued_time,
        }
    }

    /// Delays every `$management` reply (partition and hub properties) by `delay` from now
    /// on, as a service that hangs on management calls does; `Duration::ZERO` answers at once
    /// again. Requests are still read and accepted at once; only the replies wait.
    pub fn set_management_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .ns
            .management_delay_ms
            .store(ms, Ordering::Relaxed);
    }

    /// Appends an event whose body is laid out as `body` says (Event Hubs producers always
    /// send one Data section; the other layouts test consumers against producers that do not).
    pub fn append_body(&self, hub: &str, partition: &str, body: EventBody) -> AppendedEvent {
        let (h, p) = self.partition(hub, partition);
        let (bytes, layout) = match body {
            EventBody::Data(b) => (b, store::BodyLayout::Data),
            EventBody::DataSections(sections) => {
                let lengths = sections.iter().map(Vec::len).collect();
                (sections.concat(), store::BodyLayout::Sections(lengths))
            }
            EventBody::Value(text) => (text.into_bytes(), store::BodyLayout::Value),
        };
        let event = p.append_with_layout(
            Bytes::from(bytes),
            None,
            SystemTime::now(),
            h.retention(),
            layout,
        );
        AppendedEvent {
            sequence_number: event.sequence_number,
            offset: event.offset.to_string(),
            enqueued_time: event.enqueued_time,
        }
    }

    /// Changes a hub's retention; expired events disappear at the next read, append or
    /// management request.
    pub fn set_retention(&self, hub: &str, retention: Duration) {
        self.hub(hub).set_retention(retention);
    }

    /// The partition's properties as `$management` would report them now.
    pub fn partition_info(&self, hub: &str, partition: &str) -> PartitionInfo {
        let (h, p) = self.partition(hub, partition);
        let s = p.snapshot(h.retention(), SystemTime::now());
        PartitionInfo {
            begin_sequence_number: s.begin_sequence_number,
            last_enqueued_sequence_number: s.last_enqueued_sequence_number,
            last_enqueued_offset: s.last_enqueued_offset,
            last_enqueued_time: s.last_enqueued_time,
            is_empty: s.is_empty,
        }
    }

    /// Receivers attached to the partition right now, in attach order.
    pub fn receivers(&self, hub: &str, partition: &str) -> Vec<ReceiverInfo> {
        self.partition(hub, partition)
            .1
            .receivers()
            .into_iter()
            .map(|r| ReceiverInfo {
                consumer_group: r.consumer_group,
                owner_level: r.owner_level,
                connection: r.connection,
            })
            .collect()
    }

    pub fn stats(&self) -> PeerStats {
        let s = &self.inner.ns.stats;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        PeerStats {
            connections: get(&s.connections),
            cbs_accepted: get(&s.cbs_accepted),
            cbs_refused: get(&s.cbs_refused),
            management_reads: get(&s.management_reads),
            links_stolen: get(&s.links_stolen),
            events_delivered: get(&s.events_delivered),
        }
    }

    /// Stops accepting, closes every connection (clients see the socket close) and waits for the
    /// listener task. Other clones of this handle stop working too.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let task = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}
