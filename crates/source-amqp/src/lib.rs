//! Event Hubs over AMQP: Microsoft's official client, balanced partition ownership shared with
//! other replicas through a checkpoint store, and checkpoints the Azure SDK processors can read.
//!
//! Design decisions:
//! - **Client**: `azure_messaging_eventhubs` pinned to `=0.16.0` (the workspace pins it and
//!   `tokio-util 0.7.16`, which its fe2o3-amqp needs). The community `azeventhubs` crate is
//!   deprecated in favour of this one and has no processor or checkpoint store. 0.16 carries the
//!   fixes for azure-sdk-for-rust#3851 (two processors reading one partition after an ownership
//!   change) and #5097 (an empty checkpoint erasing a good one); the tests of this crate and of
//!   `entrastream-partition-store` replay both scenarios.
//! - **Our own balancer instead of the SDK's `EventProcessor`**: the processor checkpoints when
//!   the application calls `update_checkpoint` on an event, owns the ownership cycle, and
//!   relinquishes partitions without telling the application first. entrastream's contract is
//!   different: a checkpoint is the pipeline's contiguous watermark over *every sink*, written
//!   only while the store still shows this replica as owner, and a partition that is lost is
//!   drained without committing. So the cycle (`entrastream-partition-store::LoadBalancer`),
//!   the receivers (owner level 0, exactly as the SDK processors open them) and the commits
//!   live here, on the SDK's `ConsumerClient`.
//! - **Positions**: the pipeline tracks sequence numbers (contiguous per partition, i64); the
//!   event's offset (a string since geo-replication) is remembered beside it and both are
//!   written to the checkpoint blob, as the SDKs write them.
//! - **Bounded hand-over**: events queued towards the pipeline are bounded in *bytes*
//!   ([`QUEUED_BYTES_BUDGET`]); beyond that a reader stops pulling, the SDK's prefetch fills and
//!   its link credit stops the service.
#![forbid(unsafe_code)]

mod auth;
pub mod config;
mod control;
mod counting;
mod error;
pub mod hub;
mod metrics;
mod reader;
mod settings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use azure_messaging_eventhubs::ConsumerClient;
use entrastream_model::{Checkpoint, PartitionId, Position};
use entrastream_partition_store::{
    BalancerConfig, HubKey, LoadBalancer, PartitionStore, StoredCheckpoint,
};
use entrastream_source::{Source, SourceError, SourceEvent};
use tokio::sync::{Semaphore, mpsc, watch};

pub use auth::{ConnectionInfo, entra_credential};
pub use error::AmqpSourceError;
pub use metrics::{AmqpMetrics, LagReporter};
pub use settings::{
    AmqpSourceConfig, Balancing, EntraCredential, EventHubsAuth, StartFrom, default_owner_id,
};

use crate::reader::PartitionTrack;

/// Bytes of event bodies that may wait between the readers and the pipeline.
pub const QUEUED_BYTES_BUDGET: usize = 16 << 20;

/// Default events prefetched per partition. Not the SDK's 300: its credit counts events, not
/// bytes, and Entra diagnostic messages are 100 KB to 1 MB, so 300 × partitions of them sit
/// outside the pipeline's byte budget (239 MiB peak RSS over 4 partitions in the benchmark,
/// against 118 MiB for the Kafka source). 50 keeps several MB per partition in flight, which
/// is enough for full speed (benches/README.md), with a bound of 50 × message size × owned
/// partitions.
pub const DEFAULT_PREFETCH: u32 = 50;

/// The SDK builds its TLS configuration with rustls' process-wide default provider, which
/// rustls cannot pick by itself when the build has two (aws-lc-rs from the SDK, ring from the
/// HTTP sinks' reqwest). Installs aws-lc-rs, the SDK's own choice; a provider installed
/// earlier by the embedding program is kept.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// The names an error message needs, owned.
#[derive(Debug, Clone)]
pub(crate) struct OwnedContext {
    namespace: String,
    event_hub: String,
    consumer_group: String,
    auth: String,
}

impl OwnedContext {
    pub(crate) fn as_context(&self) -> error::Context<'_> {
        error::Context {
            namespace: &self.namespace,
            event_hub: &self.event_hub,
            consumer_group: &self.consumer_group,
            auth: &self.auth,
        }
    }
}

/// A partition this replica owns.
#[derive(Debug)]
pub(crate) struct Owned {
    partition_id: String,
    id: PartitionId,
    paused: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    track: Arc<PartitionTrack>,
    /// Set once ownership is gone: nothing is committed for it any more.
    lost: AtomicBool,
}

/// State shared by the source, its control task and its readers.
pub(crate) struct Shared {
    /// The SDK client; replaced when its connection dies (see [`Shared::reconnect`]).
    client: tokio::sync::RwLock<Arc<ConsumerClient>>,
    /// Bumped on every replacement, so concurrent readers reconnect once, not once each.
    client_generation: std::sync::atomic::AtomicU64,
    reconnecting: tokio::sync::Mutex<()>,
    hub: HubKey,
    context: OwnedContext,
    store: Arc<dyn PartitionStore>,
    balancer: tokio::sync::Mutex<LoadBalancer>,
    owned: Mutex<HashMap<String, Arc<Owned>>>,
    metrics: AmqpMetrics,
    lag: Option<LagReporter>,
    queued_bytes: Arc<Semaphore>,
    config: AmqpSourceConfig,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("hub", &self.hub.event_hub)
            .field("consumer_group", &self.hub.consumer_group)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// The current client and its generation.
    pub(crate) async fn client(&self) -> (Arc<ConsumerClient>, u64) {
        let client = self.client.read().await.clone();
        (client, self.client_generation.load(Ordering::Acquire))
    }

    /// Opens a new client if `seen` is still the current generation. fe2o3-amqp 0.16 can drop
    /// a whole connection ("Connection dropped: Illegal session state") and the SDK's
    /// recoverable connection does not always come back from that; every attach on the old
    /// client then fails the same way, so a fresh client is the only way forward.
    pub(crate) async fn reconnect(&self, seen: u64) {
        let _one_at_a_time = self.reconnecting.lock().await;
        if self.client_generation.load(Ordering::Acquire) != seen {
            return;
        }
        match control::open_client(&self.config).await {
            Ok((client, _)) => {
                *self.client.write().await = Arc::new(client);
                self.client_generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!("Event Hubs connection re-established with a new client");
            }
            Err(e) => tracing::warn!(error = %e, "reconnect failed; retrying with backoff"),
        }
    }

    fn owned_partition(&self, partition_id: &str) -> Option<Arc<Owned>> {
        self.owned
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partition_id)
            .cloned()
    }
}

/// The AMQP source. See the crate docs.
pub struct AmqpSource {
    events: mpsc::Receiver<SourceEvent>,
    fatal: mpsc::UnboundedReceiver<AmqpSourceError>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    control: Option<tokio::task::JoinHandle<()>>,
    description: serde_json::Value,
    /// What the last successful commit wrote (partitions no longer owned are skipped).
    written: Option<Checkpoint>,
}

impl std::fmt::Debug for AmqpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSource")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl AmqpSource {
    /// Connects, reads the hub's partitions, checks the store, and starts balancing. Errors
    /// here are the ones no retry fixes (credentials, unknown hub, unreachable store) or a
    /// hub that cannot be reached at all; each says what to change.
    pub async fn start(
        config: AmqpSourceConfig,
        store: Arc<dyn PartitionStore>,
        registry: &prometheus::Registry,
        lag: Option<LagReporter>,
    ) -> Result<AmqpSource, AmqpSourceError> {
        install_crypto_provider();
        let metrics = AmqpMetrics::register(registry);
        let (client, context) = control::open_client(&config).await?;
        let client = Arc::new(client);
        let properties = tokio::time::timeout(
            Duration::from_secs(60),
            client.get_eventhub_properties(),
        )
        .await
        .map_err(|_| {
            AmqpSourceError::Transient(format!(
                "no answer from {} within 60 s for the hub's properties; check the namespace name, network policy and firewall (AMQP port 5671)",
                context.namespace
            ))
        })?
        .map_err(|e| error::classify(&e, error::Operation::Hub, None, &context.as_context()))?;
        let mut partition_ids = properties.partition_ids;
        for p in &partition_ids {
            if p.parse::<i32>().is_err() {
                return Err(AmqpSourceError::Config(format!(
                    "event hub '{}' has a non-numeric partition id {p:?}; entrastream tracks partitions by number",
                    context.event_hub
                )));
            }
        }
        partition_ids.sort_by_key(|p| p.parse::<i32>().unwrap_or(i32::MAX));
        metrics
            .source_partitions
            .with_label_values(&[context.event_hub.as_str()])
            .set(i64::try_from(partition_ids.len()).unwrap_or(i64::MAX));
        let hub = HubKey {
            fully_qualified_namespace: context.namespace.clone(),
            event_hub: context.event_hub.clone(),
            consumer_group: config.consumer_group.clone(),
        };
        let store: Arc<dyn PartitionStore> =
            Arc::new(counting::CountingStore::new(store, metrics.clone()));
        // One read at start-up: a missing container or role fails here, not in the first cycle.
        store.list_ownership(&hub).await?;
        let balancer = LoadBalancer::new(
            store.clone(),
            hub.clone(),
            BalancerConfig {
                owner_id: config.balancing.owner_id.clone(),
                update_interval: config.balancing.update_interval,
                ownership_expiry: config.balancing.ownership_expiry,
                strategy: config.balancing.strategy,
            },
        )?;
        let description = serde_json::json!({
            "kind": "amqp",
            "namespace": context.namespace,
            "event_hub": context.event_hub,
            "consumer_group": config.consumer_group,
            "owner_id": config.balancing.owner_id,
            "partitions": partition_ids.len(),
            "store": store.describe(),
        });
        tracing::info!(
            namespace = %context.namespace,
            event_hub = %context.event_hub,
            consumer_group = %config.consumer_group,
            owner_id = %config.balancing.owner_id,
            partitions = partition_ids.len(),
            "AMQP source connected"
        );
        let shared = Arc::new(Shared {
            client: tokio::sync::RwLock::new(client),
            client_generation: std::sync::atomic::AtomicU64::new(0),
            reconnecting: tokio::sync::Mutex::new(()),
            hub,
            context,
            store,
            balancer: tokio::sync::Mutex::new(balancer),
            owned: Mutex::new(HashMap::new()),
            metrics,
            lag,
            queued_bytes: Arc::new(Semaphore::new(QUEUED_BYTES_BUDGET)),
            config,
        });
        let (events_tx, events) = mpsc::channel(4096);
        let (fatal_tx, fatal) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let control = tokio::spawn(control::run(
            shared.clone(),
            partition_ids,
            events_tx,
            fatal_tx,
            stop_rx,
        ));
        Ok(AmqpSource {
            events,
            fatal,
            shared,
            stop,
            control: Some(control),
            description,
            written: None,
        })
    }

    fn set_paused(&self, partitions: &[PartitionId], paused: bool) {
        for p in partitions {
            if let Some(owned) = self.shared.owned_partition(&p.partition.to_string()) {
                let _ = owned.paused.send(paused);
            }
        }
    }
}

#[async_trait]
impl Source for AmqpSource {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        tokio::select! {
            biased;
            Some(e) = self.fatal.recv() => Err(SourceError::Fatal(e.to_string())),
            ev = self.events.recv() => match ev {
                Some(SourceEvent::Message(m)) => {
                    let permits = reader::permits_for(m.body.len(), QUEUED_BYTES_BUDGET);
                    self.shared.queued_bytes.add_permits(permits as usize);
                    Ok(SourceEvent::Message(m))
                }
                Some(other) => Ok(other),
                None => Err(SourceError::Fatal("the AMQP source's control task ended".into())),
            },
        }
    }

    async fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), SourceError> {
        self.written = None;
        let mut candidates = Vec::new();
        for (p, pos) in checkpoint.iter() {
            let Position::Offset(sequence_number) = *pos else {
                continue;
            };
            let partition_id = p.partition.to_string();
            let Some(owned) = self.shared.owned_partition(&partition_id) else {
                tracing::debug!(partition = %partition_id, "not committed: no longer owned");
                continue;
            };
            if owned.lost.load(Ordering::Acquire) {
                continue;
            }
            let delivered = owned.track.mark_processed(sequence_number);
            candidates.push((owned, sequence_number, delivered.and_then(|d| d.offset)));
        }
        if candidates.is_empty() {
            self.written = Some(Checkpoint::new());
            return Ok(());
        }
        // Never commit after losing ownership: the store must still name us with our etag.
        let ids: Vec<String> = candidates
            .iter()
            .map(|(o, _, _)| o.partition_id.clone())
            .collect();
        let still = {
            let balancer = self.shared.balancer.lock().await;
            balancer.still_owns(&ids).await
        }
        .map_err(|e| SourceError::Commit(format!("ownership check failed: {e}")))?;
        let writes = candidates
            .into_iter()
            .filter(|(o, _, _)| still.contains(&o.partition_id))
            .map(|(owned, sequence_number, offset)| {
                let shared = self.shared.clone();
                async move {
                    let cp = StoredCheckpoint {
                        partition_id: owned.partition_id.clone(),
                        offset,
                        sequence_number: Some(sequence_number),
                    };
                    let r = shared.store.update_checkpoint(&shared.hub, &cp).await;
                    if r.is_ok() {
                        shared
                            .metrics
                            .processed_sequence
                            .with_label_values(&[
                                shared.hub.event_hub.as_str(),
                                owned.partition_id.as_str(),
                            ])
                            .set(sequence_number);
                    }
                    r.map(|()| (owned.id.clone(), sequence_number))
                        .map_err(|e| (owned.partition_id.clone(), e))
                }
            });
        let results = futures::future::join_all(writes).await;
        let mut written = Checkpoint::new();
        let mut failed = Vec::new();
        for r in results {
            match r {
                Ok((id, sequence_number)) => written.set(id, Position::Offset(sequence_number)),
                Err((p, e)) => failed.push(format!("partition {p}: {e}")),
            }
        }
        if failed.is_empty() {
            self.written = Some(written);
            Ok(())
        } else {
            Err(SourceError::Commit(failed.join("; ")))
        }
    }

    fn written_by_last_commit(&self) -> Option<Checkpoint> {
        // Never `None` after a commit of ours: `None` would mean "everything was written".
        Some(self.written.clone().unwrap_or_default())
    }

    fn pause(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        self.set_paused(partitions, true);
        Ok(())
    }

    fn resume(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        self.set_paused(partitions, false);
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        let _ = self.stop.send(true);
        // Readers blocked on a full channel give up at once; what they held is not registered
        // with the pipeline, so it is simply read again by the next owner.
        self.events.close();
        if let Some(control) = self.control.take() {
            // The control task stops every reader and relinquishes ownership so that other
            // replicas take over at once instead of after the expiry.
            let _ = control.await;
        }
        Ok(())
    }

    fn describe(&self) -> serde_json::Value {
        self.description.clone()
    }
}
