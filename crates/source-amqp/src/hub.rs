//! A read-only view of the hub for operator tools (`entrastream checkpoints`): the partitions,
//! each partition's retained range, and the first event at or after a position. It opens the
//! same SDK client as the source, but never claims ownership and never opens an owner-level
//! receiver, so it cannot take a partition away from a running replica.

use std::time::{Duration, SystemTime};

use azure_messaging_eventhubs::{
    ConsumerClient, OpenReceiverOptions, StartLocation, StartPosition,
};
use entrastream_partition_store::HubKey;
use futures::StreamExt;

use crate::AmqpSourceConfig;
use crate::OwnedContext;
use crate::control::{MANAGEMENT_TIMEOUT, open_client};
use crate::error::{AmqpSourceError, Operation, classify};

/// How long [`HubView::first_event`] waits for an event before answering "none yet".
const PEEK_WAIT: Duration = Duration::from_secs(5);

/// A partition's retained range, as the hub's `$management` node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition id.
    pub partition_id: String,
    /// Sequence number of the oldest retained event.
    pub beginning_sequence_number: i64,
    /// Sequence number of the newest event (also meaningful when empty: the last ever).
    pub last_enqueued_sequence_number: i64,
    /// The newest event's offset (empty when the hub never held one).
    pub last_enqueued_offset: String,
    /// When the newest event was enqueued (`None` when the partition is empty).
    pub last_enqueued_time: Option<SystemTime>,
    /// No event is retained.
    pub is_empty: bool,
}

/// One event's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPosition {
    /// Its sequence number.
    pub sequence_number: i64,
    /// Its offset, as the service gave it.
    pub offset: Option<String>,
    /// When the hub enqueued it.
    pub enqueued_time: Option<SystemTime>,
}

/// Where [`HubView::first_event`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeekFrom {
    /// The first event enqueued at or after this time (the hub's enqueued-time filter).
    EnqueuedTime(SystemTime),
    /// The event with this sequence number, or the next retained one.
    SequenceNumber(i64),
}

/// The store key of the configured hub and consumer group, as the source computes it
/// (namespace host from the connection string or `namespace`), without connecting: the
/// store can be read while the hub cannot be reached.
pub fn hub_key(config: &AmqpSourceConfig) -> Result<HubKey, AmqpSourceError> {
    let (namespace, event_hub) = match &config.auth {
        crate::EventHubsAuth::ConnectionString {
            connection_string,
            event_hub,
        } => {
            let info = crate::ConnectionInfo::parse(connection_string)?;
            let hub = event_hub.clone().or(info.entity_path).ok_or_else(|| {
                AmqpSourceError::Config(
                    "the connection string is namespace-level (no EntityPath): set source.event_hub".into(),
                )
            })?;
            (info.host, hub)
        }
        crate::EventHubsAuth::Entra {
            namespace,
            event_hub,
            ..
        } => (namespace.clone(), event_hub.clone()),
    };
    Ok(HubKey::new(
        namespace,
        event_hub,
        config.consumer_group.clone(),
    ))
}

/// The hub, read-only. See the module docs.
pub struct HubView {
    client: ConsumerClient,
    context: OwnedContext,
    hub: HubKey,
}

impl std::fmt::Debug for HubView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubView")
            .field("hub", &self.hub)
            .finish_non_exhaustive()
    }
}

impl HubView {
    /// Connects with the source's settings (same credentials, same endpoint).
    pub async fn open(config: &AmqpSourceConfig) -> Result<HubView, AmqpSourceError> {
        crate::install_crypto_provider();
        let (client, context) = open_client(config).await?;
        let hub = HubKey::new(
            context.namespace.clone(),
            context.event_hub.clone(),
            config.consumer_group.clone(),
        );
        Ok(HubView {
            client,
            context,
            hub,
        })
    }

    /// The store key of this hub and consumer group.
    pub fn hub_key(&self) -> &HubKey {
        &self.hub
    }

    /// The partition ids, in numeric order.
    pub async fn partition_ids(&self) -> Result<Vec<String>, AmqpSourceError> {
        let props = tokio::time::timeout(MANAGEMENT_TIMEOUT, self.client.get_eventhub_properties())
            .await
            .map_err(|_| self.timeout("the hub's properties"))?
            .map_err(|e| classify(&e, Operation::Hub, None, &self.context.as_context()))?;
        let mut ids = props.partition_ids;
        ids.sort_by_key(|p| (p.parse::<i64>().unwrap_or(i64::MAX), p.clone()));
        Ok(ids)
    }

    /// A partition's retained range.
    pub async fn partition(&self, partition_id: &str) -> Result<PartitionRange, AmqpSourceError> {
        let p = tokio::time::timeout(
            MANAGEMENT_TIMEOUT,
            self.client.get_partition_properties(partition_id),
        )
        .await
        .map_err(|_| self.timeout("the partition's properties"))?
        .map_err(|e| {
            classify(
                &e,
                Operation::Management,
                Some(partition_id),
                &self.context.as_context(),
            )
        })?;
        Ok(PartitionRange {
            partition_id: partition_id.to_string(),
            beginning_sequence_number: p.beginning_sequence_number,
            last_enqueued_sequence_number: p.last_enqueued_sequence_number,
            last_enqueued_offset: p.last_enqueued_offset,
            last_enqueued_time: p.last_enqueued_time_utc,
            is_empty: p.is_empty,
        })
    }

    /// The first retained event at or after `from`, or `None` when there is none yet. Opens a
    /// receiver without owner level: while a replica reads the partition with one, the hub
    /// refuses this receiver (an error) rather than disconnect the replica.
    pub async fn first_event(
        &self,
        partition_id: &str,
        from: PeekFrom,
    ) -> Result<Option<EventPosition>, AmqpSourceError> {
        let location = match from {
            PeekFrom::EnqueuedTime(t) => StartLocation::EnqueuedTime(t),
            PeekFrom::SequenceNumber(n) => StartLocation::SequenceNumber(n),
        };
        let options = OpenReceiverOptions {
            owner_level: None,
            prefetch: Some(1),
            start_position: Some(StartPosition {
                location,
                inclusive: true,
            }),
            receive_timeout: None,
        };
        let receiver = tokio::time::timeout(
            MANAGEMENT_TIMEOUT,
            self.client
                .open_receiver_on_partition(partition_id.to_string(), Some(options)),
        )
        .await
        .map_err(|_| self.timeout("a receiver"))?
        .map_err(|e| {
            classify(
                &e,
                Operation::Receive,
                Some(partition_id),
                &self.context.as_context(),
            )
        })?;
        let stream = receiver.stream_events();
        futures::pin_mut!(stream);
        let event = match tokio::time::timeout(PEEK_WAIT, stream.next()).await {
            Err(_) | Ok(None) => None,
            Ok(Some(Err(e))) => {
                return Err(classify(
                    &e,
                    Operation::Receive,
                    Some(partition_id),
                    &self.context.as_context(),
                ));
            }
            Ok(Some(Ok(event))) => event
                .sequence_number()
                .map(|sequence_number| EventPosition {
                    sequence_number,
                    offset: event.offset().clone(),
                    enqueued_time: event.enqueued_time(),
                }),
        };
        Ok(event)
    }

    fn timeout(&self, what: &str) -> AmqpSourceError {
        AmqpSourceError::Transient(format!(
            "no answer from {} within {} s for {what}; check the namespace name, network policy and firewall (AMQP port 5671)",
            self.context.namespace,
            MANAGEMENT_TIMEOUT.as_secs()
        ))
    }
}
