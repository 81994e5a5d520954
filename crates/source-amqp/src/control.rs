//! The control task: ownership cycles, one life-cycle task per owned partition, lag and
//! retention metrics, and the hand-off on shutdown.
//!
//! Management calls (partition properties) run outside the control loop, in a task of their
//! own and each under [`MANAGEMENT_TIMEOUT`]: a `$management` answer that never comes must not
//! hold up the ownership renewal, or another replica takes the partitions of a live one.
//!
//! A partition's life cycle is one task, so its events reach the pipeline in the only order
//! the pipeline accepts: `Assigned`, then its messages, then `Revoked` once its reader has
//! stopped. The control task never waits on the pipeline, so a full byte budget can never
//! delay an ownership renewal past its expiry.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use azure_messaging_eventhubs::{ConsumerClient, StartLocation, StartPosition};
use entrastream_model::{PartitionId, Position};
use entrastream_partition_store::StoredCheckpoint;
use entrastream_source::SourceEvent;
use tokio::sync::{mpsc, watch};

use crate::auth::{ConnectionInfo, entra_credential};
use crate::error::{AmqpSourceError, Operation, classify};
use crate::reader::{Delivered, PartitionTrack, Reader, ReaderExit};
use crate::settings::{EventHubsAuth, StartFrom};
use crate::{AmqpSourceConfig, Owned, OwnedContext, Shared};

/// How long one `$management` call (partition properties) may take before it is abandoned.
pub(crate) const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the SDK client for the configured hub.
pub(crate) async fn open_client(
    config: &AmqpSourceConfig,
) -> Result<(ConsumerClient, OwnedContext), AmqpSourceError> {
    let builder = ConsumerClient::builder()
        .with_consumer_group(config.consumer_group.clone())
        .with_application_id(format!("entrastream/{}", env!("CARGO_PKG_VERSION")));
    let (opening, context) = match &config.auth {
        EventHubsAuth::ConnectionString {
            connection_string,
            event_hub,
        } => {
            let info = ConnectionInfo::parse(connection_string)?;
            let hub = match (event_hub, &info.entity_path) {
                (Some(h), Some(e)) if h != e => {
                    return Err(AmqpSourceError::Config(format!(
                        "source.event_hub is '{h}' but the connection string's EntityPath is '{e}'; remove one of them"
                    )));
                }
                (Some(h), _) => h.clone(),
                (None, Some(e)) => e.clone(),
                (None, None) => {
                    return Err(AmqpSourceError::Config(
                        "the connection string is namespace-level (no EntityPath): set source.event_hub".into(),
                    ));
                }
            };
            let endpoint = config
                .custom_endpoint
                .clone()
                .or_else(|| info.emulator_endpoint());
            let builder = match endpoint {
                Some(e) => builder.with_custom_endpoint(e),
                None => builder,
            };
            let context = OwnedContext {
                namespace: info.host.clone(),
                event_hub: hub.clone(),
                consumer_group: config.consumer_group.clone(),
                auth: "connection string".into(),
            };
            let secret = connection_string.clone();
            let fut = async move {
                builder
                    .open_with_connection_string(secret.expose(), Some(&hub))
                    .await
            };
            (
                Box::pin(fut)
                    as std::pin::Pin<
                        Box<
                            dyn std::future::Future<
                                    Output = azure_messaging_eventhubs::Result<ConsumerClient>,
                                > + Send,
                        >,
                    >,
                context,
            )
        }
        EventHubsAuth::Entra {
            namespace,
            event_hub,
            credential,
        } => {
            let cred = entra_credential(credential)?;
            let builder = match &config.custom_endpoint {
                Some(e) => builder.with_custom_endpoint(e.clone()),
                None => builder,
            };
            let context = OwnedContext {
                namespace: namespace.clone(),
                event_hub: event_hub.clone(),
                consumer_group: config.consumer_group.clone(),
                auth: credential.name().into(),
            };
            let (ns, hub) = (namespace.clone(), event_hub.clone());
            let fut = async move { builder.open(&ns, hub, cred).await };
            (
                Box::pin(fut)
                    as std::pin::Pin<
                        Box<
                            dyn std::future::Future<
                                    Output = azure_messaging_eventhubs::Result<ConsumerClient>,
                                > + Send,
                        >,
                    >,
                context,
            )
        }
    };
    let client = tokio::time::timeout(Duration::from_secs(60), opening)
        .await
        .map_err(|_| {
            AmqpSourceError::Transient(format!(
                "cannot connect to Event Hubs namespace {} within 60 s; check the namespace name, DNS, network policy and firewall (AMQP port 5671, or custom_endpoint)",
                context.namespace
            ))
        })?
        .map_err(|e| classify(&e, Operation::Hub, None, &context.as_context()))?;
    Ok((client, context))
}

/// The control loop. Ends on `stop`, after stopping readers and relinquishing ownership.
pub(crate) async fn run(
    shared: Arc<Shared>,
    partition_ids: Vec<String>,
    events: mpsc::Sender<SourceEvent>,
    fatal: mpsc::UnboundedSender<AmqpSourceError>,
    mut stop: watch::Receiver<bool>,
) {
    let config = &shared.config;
    let mut cycle_timer = tokio::time::interval(config.balancing.update_interval);
    cycle_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let properties = tokio::spawn(report_partitions_every(
        shared.clone(),
        config.properties_interval,
    ));
    let (exit_tx, mut exits) = mpsc::unbounded_channel::<(String, ReaderExit)>();
    let mut tasks: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut last_good_cycle = Instant::now();
    let topic = shared.hub.event_hub.clone();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = cycle_timer.tick() => {
                match cycle(&shared, &partition_ids).await {
                    Ok(owned_now) => {
                        last_good_cycle = Instant::now();
                        let current: HashSet<String> = shared
                            .owned
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .keys()
                            .cloned()
                            .collect();
                        for p in current.difference(&owned_now) {
                            lose(&shared, p, "rebalanced");
                        }
                        let gained: Vec<String> = owned_now.difference(&current).cloned().collect();
                        if !gained.is_empty() {
                            let checkpoints = match shared.store.list_checkpoints(&shared.hub).await {
                                Ok(c) => c,
                                Err(e) => {
                                    // Starting without the checkpoint would re-read or skip:
                                    // give the partitions back to the next cycle instead.
                                    tracing::warn!(error = %e, "cannot read checkpoints; partitions start next cycle");
                                    continue;
                                }
                            };
                            for p in gained {
                                // The previous life cycle of this partition must have sent its
                                // Revoked first, or the pipeline would see Assigned, Revoked.
                                if tasks.get(&p).is_some_and(|t| !t.is_finished()) {
                                    continue;
                                }
                                let cp = checkpoints.iter().find(|c| c.partition_id == p).cloned();
                                let handle = spawn_partition(&shared, &p, cp, &events, &exit_tx);
                                tasks.insert(p, handle);
                            }
                        }
                        tasks.retain(|_, t| !t.is_finished());
                        update_owned_gauge(&shared, &topic);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ownership cycle failed; retrying next interval");
                        // Without a renewal our claims expire and another replica may take the
                        // partitions: stop reading them before that can overlap.
                        if last_good_cycle.elapsed() + config.balancing.update_interval
                            >= config.balancing.ownership_expiry
                        {
                            let ids: Vec<String> = shared
                                .owned
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .keys()
                                .cloned()
                                .collect();
                            for p in ids {
                                lose(&shared, &p, "expired");
                            }
                            update_owned_gauge(&shared, &topic);
                        }
                    }
                }
            }
            Some((p, exit)) = exits.recv() => {
                match exit {
                    ReaderExit::Stolen => {
                        tracing::info!(partition = %p, "partition taken over by another receiver; stopped without committing");
                        lose(&shared, &p, "stolen");
                    }
                    ReaderExit::Fatal(e) => {
                        lose(&shared, &p, "error");
                        let _ = fatal.send(e);
                    }
                    ReaderExit::Stopped => {}
                }
                update_owned_gauge(&shared, &topic);
            }
        }
    }
    properties.abort();
    shutdown(&shared, tasks).await;
}

fn update_owned_gauge(shared: &Shared, topic: &str) {
    let n = shared.owned.lock().unwrap_or_else(|p| p.into_inner()).len();
    shared
        .metrics
        .owned_partitions
        .with_label_values(&[topic])
        .set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// One balancing cycle; returns the partitions the store says we own.
async fn cycle(
    shared: &Shared,
    partition_ids: &[String],
) -> Result<HashSet<String>, AmqpSourceError> {
    let mut balancer = shared.balancer.lock().await;
    let owned = balancer.cycle(partition_ids).await?;
    Ok(owned.into_iter().map(|o| o.partition_id).collect())
}

/// Marks a partition lost and stops its reader. Its life-cycle task sends the `Revoked`.
fn lose(shared: &Shared, partition_id: &str, reason: &str) {
    let removed = shared
        .owned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(partition_id);
    if let Some(owned) = removed {
        owned.lost.store(true, Ordering::Release);
        let _ = owned.stop.send(true);
        shared
            .metrics
            .ownership_losses
            .with_label_values(&[shared.hub.event_hub.as_str(), reason])
            .inc();
        shared
            .metrics
            .forget_partition(&shared.hub.event_hub, partition_id);
        tracing::info!(partition = %partition_id, reason, "partition no longer owned");
    }
}

fn spawn_partition(
    shared: &Arc<Shared>,
    partition_id: &str,
    checkpoint: Option<StoredCheckpoint>,
    events: &mpsc::Sender<SourceEvent>,
    exits: &mpsc::UnboundedSender<(String, ReaderExit)>,
) -> tokio::task::JoinHandle<()> {
    let number: i32 = partition_id.parse().unwrap_or_default();
    let (paused, paused_rx) = watch::channel(false);
    let (stop, stop_rx) = watch::channel(false);
    let owned = Arc::new(Owned {
        partition_id: partition_id.to_string(),
        id: PartitionId::new(shared.hub.event_hub.clone(), number),
        paused,
        stop,
        track: Arc::new(PartitionTrack::default()),
        lost: std::sync::atomic::AtomicBool::new(false),
    });
    shared
        .owned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(partition_id.to_string(), owned.clone());
    shared
        .metrics
        .ownership_claims
        .with_label_values(&[shared.hub.event_hub.as_str()])
        .inc();
    let shared = shared.clone();
    let events = events.clone();
    let exits = exits.clone();
    tokio::spawn(async move {
        let exit = life_cycle(&shared, &owned, checkpoint, events, paused_rx, stop_rx).await;
        if let Some(exit) = exit {
            let _ = exits.send((owned.partition_id.clone(), exit));
        }
    })
}

/// Assigned → reader → Revoked, for one partition. Returns how the reader ended (None when it
/// never started).
async fn life_cycle(
    shared: &Arc<Shared>,
    owned: &Arc<Owned>,
    checkpoint: Option<StoredCheckpoint>,
    events: mpsc::Sender<SourceEvent>,
    paused: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) -> Option<ReaderExit> {
    let (start, position) = start_of(shared, owned, checkpoint.as_ref()).await;
    tracing::info!(partition = %owned.partition_id, start = ?start.location, inclusive = start.inclusive, "partition owned; starting");
    let assigned = SourceEvent::Assigned(vec![(owned.id.clone(), position)]);
    tokio::select! {
        r = events.send(assigned) => r.ok()?,
        _ = stop.changed() => return None,
    }
    let reader = Reader {
        shared: shared.clone(),
        partition_id: owned.partition_id.clone(),
        id: owned.id.clone(),
        start,
        prefetch: shared.config.prefetch,
        events: events.clone(),
        queued_bytes: shared.queued_bytes.clone(),
        paused,
        stop: stop.clone(),
        track: owned.track.clone(),
        metrics: shared.metrics.clone(),
        context: shared.context.clone(),
    };
    let exit = reader.run().await;
    if matches!(exit, ReaderExit::Stolen | ReaderExit::Fatal(_)) {
        owned.lost.store(true, Ordering::Release);
    }
    // The pipeline drains what it holds of the partition. Its final watermark is not
    // committed here: ownership is gone (or going) and a late checkpoint could move the new
    // owner's position backwards; the next owner re-reads at most one checkpoint interval.
    // The receiving end is dropped at once: that tells the pipeline nothing is committed.
    let (drained, _) = tokio::sync::oneshot::channel();
    let revoked = SourceEvent::Revoked {
        partitions: vec![owned.id.clone()],
        drained,
    };
    let _ = events.send(revoked).await;
    Some(exit)
}

/// Where a newly owned partition starts, and the position the pipeline starts tracking from.
/// Also counts events that left retention since the checkpoint.
async fn start_of(
    shared: &Shared,
    owned: &Owned,
    checkpoint: Option<&StoredCheckpoint>,
) -> (StartPosition, Position) {
    let cfg = &shared.config;
    let from_checkpoint = checkpoint.and_then(|c| {
        if let Some(seq) = c.sequence_number {
            Some((
                StartPosition {
                    location: StartLocation::SequenceNumber(seq),
                    inclusive: false,
                },
                Position::Offset(seq),
                Some(seq),
            ))
        } else {
            c.offset.as_ref().map(|off| {
                (
                    StartPosition {
                        location: StartLocation::Offset(off.clone()),
                        inclusive: false,
                    },
                    Position::Beginning,
                    None,
                )
            })
        }
    });
    if let Some((start, position, seq)) = from_checkpoint {
        if let Some(seq) = seq {
            let d = Delivered {
                sequence_number: seq,
                offset: checkpoint.and_then(|c| c.offset.clone()),
                enqueued_time: None,
            };
            *owned
                .track
                .processed
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(d);
            owned.track.set_last_handed_over(Some(seq));
            check_retention_at_start(shared, owned, seq).await;
        }
        return (start, position);
    }
    let location = match cfg.start {
        StartFrom::Earliest => StartLocation::Earliest,
        StartFrom::Latest => StartLocation::Latest,
        StartFrom::EnqueuedTime(t) => StartLocation::EnqueuedTime(t),
        StartFrom::SequenceNumber(n) => StartLocation::SequenceNumber(n),
    };
    (
        StartPosition {
            location,
            inclusive: matches!(
                cfg.start,
                StartFrom::EnqueuedTime(_) | StartFrom::SequenceNumber(_)
            ),
        },
        Position::Beginning,
    )
}

/// A checkpoint older than the hub's oldest retained event means events were lost while no
/// replica read them. Say so loudly and count them; the reader starts at the oldest retained.
async fn check_retention_at_start(shared: &Shared, owned: &Owned, checkpoint_seq: i64) {
    let Some(props) = partition_properties(shared, &owned.partition_id).await else {
        return;
    };
    if props.is_empty {
        return;
    }
    let first_retained = props.beginning_sequence_number;
    if first_retained > checkpoint_seq + 1 {
        let lost = first_retained - checkpoint_seq - 1;
        shared
            .metrics
            .count_lost_to_retention(&shared.hub.event_hub, &owned.partition_id, lost);
        tracing::warn!(
            partition = %owned.partition_id,
            lost,
            checkpoint_sequence_number = checkpoint_seq,
            first_retained_sequence_number = first_retained,
            "events left the hub's retention before any replica read them; they are lost. Keep entrastream running, add replicas, or raise the hub's retention"
        );
        // The gap is counted once here, not again by the reader.
        owned.track.set_last_handed_over(None);
    }
}

/// Reads partition properties every `interval`, on its own task (see the module docs).
async fn report_partitions_every(shared: Arc<Shared>, interval: Duration) {
    let mut timer = tokio::time::interval(interval);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        report_partitions(&shared).await;
    }
}

/// A partition's properties, or `None` (logged) when the call fails or exceeds
/// [`MANAGEMENT_TIMEOUT`].
async fn partition_properties(
    shared: &Shared,
    partition_id: &str,
) -> Option<azure_messaging_eventhubs::models::EventHubPartitionProperties> {
    let (client, _) = shared.client().await;
    match tokio::time::timeout(
        MANAGEMENT_TIMEOUT,
        client.get_partition_properties(partition_id),
    )
    .await
    {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            let e = classify(
                &e,
                Operation::Management,
                Some(partition_id),
                &shared.context.as_context(),
            );
            tracing::debug!(partition = %partition_id, error = %e, "partition properties unavailable");
            None
        }
        Err(_) => {
            tracing::warn!(partition = %partition_id, timeout_s = MANAGEMENT_TIMEOUT.as_secs(), "no answer to the partition-properties request; lag and retention metrics wait for the next one");
            None
        }
    }
}

/// Reads each owned partition's properties: last enqueued event, lag in events, and how long
/// until the oldest unprocessed event leaves retention.
async fn report_partitions(shared: &Shared) {
    let owned: Vec<Arc<Owned>> = shared
        .owned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    let topic = shared.hub.event_hub.as_str();
    for o in owned {
        let Some(props) = partition_properties(shared, &o.partition_id).await else {
            continue;
        };
        if o.lost.load(Ordering::Acquire) {
            continue;
        }
        let labels = [topic, o.partition_id.as_str()];
        shared
            .metrics
            .last_enqueued_sequence
            .with_label_values(&labels)
            .set(props.last_enqueued_sequence_number);
        let processed = o
            .track
            .processed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let done_through = processed
            .as_ref()
            .map_or(props.beginning_sequence_number - 1, |d| d.sequence_number);
        let lag = if props.is_empty {
            0
        } else {
            (props.last_enqueued_sequence_number - done_through).max(0)
        };
        if let Some(report) = &shared.lag {
            report(topic, o.id.partition, lag);
        }
        let retention = shared.config.retention.as_secs_f64();
        let headroom = if lag == 0 {
            Some(retention)
        } else {
            // The oldest unprocessed event is the first one handed over and not yet accepted;
            // if none is in flight, the next one is newer than the last processed one, whose
            // age is therefore a safe (pessimistic) stand-in.
            let oldest = o.track.oldest_unprocessed().or_else(|| {
                processed
                    .and_then(|d| d.enqueued_time)
                    .or(props.last_enqueued_time_utc.filter(|_| lag == 1))
            });
            oldest.map(|t| {
                let age = SystemTime::now()
                    .duration_since(t)
                    .unwrap_or_default()
                    .as_secs_f64();
                (retention - age).max(0.0)
            })
        };
        if let Some(h) = headroom {
            shared
                .metrics
                .retention_headroom
                .with_label_values(&labels)
                .set(h);
        }
    }
}

/// Stops every reader and relinquishes ownership so other replicas take over immediately.
async fn shutdown(shared: &Shared, tasks: HashMap<String, tokio::task::JoinHandle<()>>) {
    let owned: Vec<Arc<Owned>> = shared
        .owned
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(_, o)| o)
        .collect();
    for o in &owned {
        o.lost.store(true, Ordering::Release);
        let _ = o.stop.send(true);
    }
    let all = futures::future::join_all(tasks.into_values());
    let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
    let ids: Vec<String> = owned.iter().map(|o| o.partition_id.clone()).collect();
    if !ids.is_empty() {
        let mut balancer = shared.balancer.lock().await;
        match balancer.relinquish(&ids).await {
            Ok(()) => tracing::info!(partitions = ?ids, "ownership relinquished"),
            Err(e) => {
                tracing::warn!(error = %e, "could not relinquish ownership; other replicas take over after the expiry")
            }
        }
    }
}
