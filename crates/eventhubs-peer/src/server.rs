//! Connections, sessions and link routing: the AMQP side of the peer.
//!
//! One task per connection accepts sessions; one task per session accepts attaches and routes
//! them by address; each accepted link runs in its own task. Refusals follow AMQP 1.0 §2.6.3 as
//! the service does: answer the attach with a null terminus, then close the link with the error
//! (the client then reports the error as the attach failure, not as a later receive error).

use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerSessionHandle, SaslAcceptor,
    SessionAcceptor, sasl_acceptor::SaslServerFrame,
};
use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp::types::definitions::{self, AmqpError, ErrorCondition, LinkError, Role};
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::message::__private::Deserializable;
use fe2o3_amqp::types::messaging::{
    Body, Data, Message, MessageAnnotations, Source, Target, TargetArchetype,
};
use fe2o3_amqp::types::performatives::Attach;
use fe2o3_amqp::types::primitives::{Array, Binary, Symbol, Timestamp, Value};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use fe2o3_amqp::{Receiver, Sender};
use percent_encoding::percent_decode_str;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::Namespace;
use crate::address::{self, Entity, StartFilter};
use crate::nodes::{self, NodeKind, ReplyMessage};
use crate::store::{AttachRefusal, Hub, Partition, Stats};

/// Largest message a producer may send: the service's 1 MB limit (Standard/Premium tiers). The
/// SDK sizes its batches from this value on the sender link.
const MAX_MESSAGE_SIZE: u64 = 1024 * 1024;

/// Frame size offered at open. The SDK asks for 64 KiB; a 4 KB event then fits one transfer.
const MAX_FRAME_SIZE: u32 = 256 * 1024;

/// Events copied out of a partition per lock acquisition by a delivery task.
const READ_BURST: usize = 256;

/// Message format of a batch envelope whose data sections are encoded messages
/// (`0x80013700`, the Microsoft batch format the SDK's `send_batch` uses).
const BATCH_MESSAGE_FORMAT: u32 = 0x8001_3700;

/// Wait before settling a client's unsettled transfer (put-token and READ requests, producer
/// sends). fe2o3-amqp 0.16.2's sender writes the transfer *before* recording it as unsettled, so a
/// disposition that comes back within microseconds (possible on loopback, never against the real
/// service) finds nothing to settle and the client's send waits forever. Observed here with the
/// SDK's `ProducerClient::send_batch` and `$management` READ; a few milliseconds close the window.
pub(crate) const DISPOSITION_LATENCY: Duration = Duration::from_millis(5);

/// How long a shutdown waits for connections to close before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Which scopes the connection holds valid tokens for.
#[derive(Debug, Default)]
pub(crate) struct Authorization {
    /// Expiry (unix seconds) of a namespace-wide token (`amqps://host/` or SASL PLAIN).
    namespace_until: Option<u64>,
    /// Expiry per hub, keyed by lower-cased hub name.
    hubs: HashMap<String, u64>,
}

impl Authorization {
    pub(crate) fn grant(&mut self, hub: Option<&str>, until: u64) {
        match hub {
            None => self.namespace_until = Some(until.max(self.namespace_until.unwrap_or(0))),
            Some(hub) => {
                let e = self.hubs.entry(hub.to_ascii_lowercase()).or_insert(0);
                *e = (*e).max(until);
            }
        }
    }

    pub(crate) fn allows(&self, hub: &str) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.namespace_until.is_some_and(|u| u > now)
            || self
                .hubs
                .get(&hub.to_ascii_lowercase())
                .is_some_and(|u| *u > now)
    }
}

/// What every task of one connection shares.
#[derive(Debug)]
pub(crate) struct Connection {
    pub ns: Arc<Namespace>,
    pub id: u64,
    pub auth: Mutex<Authorization>,
    /// Reply links of `$cbs`/`$management` clients, by their target address (the request's
    /// `reply-to`).
    pub replies: Mutex<HashMap<String, mpsc::UnboundedSender<ReplyMessage>>>,
    pub shutdown: watch::Receiver<bool>,
}

impl Connection {
    pub(crate) fn authorized(&self, hub: &str) -> bool {
        self.auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .allows(hub)
    }
}

/// Offers ANONYMOUS (what the SDK uses, authorizing through CBS afterwards) and PLAIN with the
/// namespace's policy name and key, which authorizes the whole namespace like the service does.
#[derive(Debug, Clone)]
struct PeerSasl {
    key_name: Arc<str>,
    key: Arc<str>,
    plain_authenticated: Arc<AtomicBool>,
}

impl SaslAcceptor for PeerSasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(vec![Symbol::from("ANONYMOUS"), Symbol::from("PLAIN")])
    }

    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let code = match init.mechanism.as_str() {
            "ANONYMOUS" => SaslCode::Ok,
            "PLAIN" => {
                let response = init
                    .initial_response
                    .map(|b| b.into_vec())
                    .unwrap_or_default();
                let mut parts = response.split(|b| *b == 0);
                let (_authzid, user, pass) = (parts.next(), parts.next(), parts.next());
                let user_ok = user == Some(self.key_name.as_bytes());
                // fe2o3 0.16 sends the key as it appears in the connection string, which may be
                // URL-encoded; accept either spelling of the one configured key.
                let pass_ok = pass.is_some_and(|p| {
                    p == self.key.as_bytes()
                        || std::str::from_utf8(p).is_ok_and(|s| {
                            percent_decode_str(s)
                                .decode_utf8()
                                .is_ok_and(|d| *d == *self.key)
                        })
                });
                if user_ok && pass_ok {
                    self.plain_authenticated.store(true, Ordering::Release);
                    SaslCode::Ok
                } else {
                    SaslCode::Auth
                }
            }
            _ => SaslCode::Auth,
        };
        SaslServerFrame::Outcome(SaslOutcome {
            code,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        // Neither mechanism has a challenge round, so a response is a protocol error.
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Sys,
            additional_data: None,
        })
    }
}

pub(crate) async fn listen(
    listener: TcpListener,
    ns: Arc<Namespace>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small transfers (management replies, credit) must not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, ns.clone(), shutdown.clone()));
                }
                // Transient (e.g. out of file descriptors): back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

async fn serve_connection(
    stream: TcpStream,
    ns: Arc<Namespace>,
    mut shutdown: watch::Receiver<bool>,
) {
    let sasl = PeerSasl {
        key_name: ns.key_name.as_str().into(),
        key: ns.key.as_str().into(),
        plain_authenticated: Arc::new(AtomicBool::new(false)),
    };
    let acceptor = ConnectionAcceptor::builder()
        .container_id("entrastream-eventhubs-peer")
        .max_frame_size(MAX_FRAME_SIZE)
        .sasl_acceptor(sasl.clone())
        .build();
    let Ok(mut conn) = acceptor.accept(stream).await else {
        // Failed SASL or a client that went away mid-handshake: nothing to serve.
        return;
    };
    let id = ns.ids.next();
    Stats::bump(&ns.stats.connections, 1);
    let mut auth = Authorization::default();
    if sasl.plain_authenticated.load(Ordering::Acquire) {
        auth.grant(None, u64::MAX);
    }
    let ctx = Arc::new(Connection {
        ns,
        id,
        auth: Mutex::new(auth),
        replies: Mutex::new(HashMap::new()),
        shutdown: shutdown.clone(),
    });
    let session_acceptor = SessionAcceptor::new();
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            incoming = conn.next_incoming_session() => {
                let Some(incoming) = incoming else { break };
                match session_acceptor.accept_incoming_session(incoming, &mut conn).await {
                    Ok(session) => {
                        sessions.spawn(serve_session(session, ctx.clone()));
                    }
                    Err(_) => break,
                }
            }
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    let _ = conn.close().await;
}

/// fe2o3's default acceptor type: plain function pointers for the (unused) dynamic-terminus hooks.
type PeerLinkAcceptor = LinkAcceptor<fn(Source) -> Option<Source>, fn(Target) -> Option<Target>>;

fn link_acceptor() -> PeerLinkAcceptor {
    LinkAcceptor::builder()
        .max_message_size(MAX_MESSAGE_SIZE)
        .build()
}

async fn serve_session(mut session: ListenerSessionHandle, ctx: Arc<Connection>) {
    let acceptor = link_acceptor();
    let mut shutdown = ctx.shutdown.clone();
    let mut links = JoinSet::new();
    loop {
        let attach = tokio::select! {
            attach = session.next_incoming_attach() => match attach {
                Some(attach) => attach,
                None => break,
            },
            Some(_) = links.join_next(), if !links.is_empty() => continue,
            _ = shutdown.changed() => break,
        };
        route(attach, &acceptor, &mut session, &ctx, &mut links).await;
    }
    // Give links a moment to send their detach before the session ends under them.
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        while links.join_next().await.is_some() {}
    })
    .await;
    let _ = session.end().await;
}

fn error(condition: impl Into<ErrorCondition>, description: String) -> definitions::Error {
    definitions::Error::new(condition, description, None)
}

/// The address the client is talking to: the source when it receives, the target when it sends.
fn attach_address(attach: &Attach) -> Option<String> {
    match attach.role {
        Role::Receiver => attach.source.as_ref().and_then(|s| s.address.clone()),
        Role::Sender => attach.target.as_deref().and_then(|t| match t {
            TargetArchetype::Target(t) => t.address.clone(),
            // Transactions are not part of Event Hubs; a coordinator target has no address.
            #[allow(unreachable_patterns)]
            _ => None,
        }),
    }
}

async fn route(
    attach: Attach,
    acceptor: &PeerLinkAcceptor,
    session: &mut ListenerSessionHandle,
    ctx: &Arc<Connection>,
    links: &mut JoinSet<()>,
) {
    let Some(address) = attach_address(&attach) else {
        let e = error(
            AmqpError::InvalidField,
            "the link has no address: attach to '<hub>/ConsumerGroups/<group>/Partitions/<id>', \
             '<hub>', '$cbs' or '$management'"
                .to_owned(),
        );
        refuse(attach, acceptor, session, e, links).await;
        return;
    };
    let entity = address::parse_entity(&address);
    match (attach.role.clone(), entity) {
        (role, Entity::Cbs | Entity::Management) => {
            let kind = if matches!(address::parse_entity(&address), Entity::Cbs) {
                NodeKind::Cbs
            } else {
                NodeKind::Management
            };
            match acceptor.accept_incoming_attach(attach, session).await {
                Ok(LinkEndpoint::Receiver(receiver)) if role == Role::Sender => {
                    links.spawn(nodes::serve_requests(receiver, kind, ctx.clone()));
                }
                Ok(LinkEndpoint::Sender(sender)) => {
                    links.spawn(nodes::serve_replies(sender, kind, ctx.clone()));
                }
                Ok(LinkEndpoint::Receiver(_)) | Err(_) => {}
            }
        }
        (
            Role::Receiver,
            Entity::Consumer {
                hub,
                consumer_group,
                partition,
            },
        ) => match prepare_consumer(&attach, &hub, &consumer_group, &partition, ctx) {
            Ok(plan) => {
                if let Ok(LinkEndpoint::Sender(sender)) =
                    acceptor.accept_incoming_attach(attach, session).await
                {
                    links.spawn(deliver(sender, plan, ctx.clone()));
                } else {
                    plan.partition.detach_receiver(plan.receiver_id);
                }
            }
            Err(e) => refuse(attach, acceptor, session, e, links).await,
        },
        (Role::Sender, Entity::Publisher { hub, partition }) => {
            match prepare_publisher(&hub, partition.as_deref(), ctx) {
                Ok((hub, partition)) => {
                    if let Ok(LinkEndpoint::Receiver(receiver)) =
                        acceptor.accept_incoming_attach(attach, session).await
                    {
                        links.spawn(ingest(receiver, hub, partition));
                    }
                }
                Err(e) => refuse(attach, acceptor, session, e, links).await,
            }
        }
        (_, _) => {
            let e = error(
                AmqpError::NotFound,
                format!(
                    "the messaging entity '{address}' could not be found: receivers attach to \
                     '<hub>/ConsumerGroups/<group>/Partitions/<id>', senders to '<hub>' or \
                     '<hub>/Partitions/<id>'"
                ),
            );
            refuse(attach, acceptor, session, e, links).await;
        }
    }
}

/// Answers the attach with a null terminus and closes the link with `error` (AMQP 1.0 §2.6.3).
async fn refuse(
    mut attach: Attach,
    acceptor: &PeerLinkAcceptor,
    session: &mut ListenerSessionHandle,
    error: definitions::Error,
    links: &mut JoinSet<()>,
) {
    match attach.role {
        Role::Receiver => attach.source = None,
        Role::Sender => attach.target = None,
    }
    match acceptor.accept_incoming_attach(attach, session).await {
        Ok(LinkEndpoint::Sender(sender)) => {
            links.spawn(async move {
                let _ = sender.close_with_error(error).await;
            });
        }
        Ok(LinkEndpoint::Receiver(receiver)) => {
            links.spawn(async move {
                let _ = receiver.close_with_error(error).await;
            });
        }
        // The client gave up (or the session ended) before our reply; nothing left to refuse.
        Err(_) => {}
    }
}

fn not_found(what: String) -> definitions::Error {
    error(AmqpError::NotFound, what)
}

fn entity_url(ns: &Namespace, path: &str) -> String {
    format!("sb://{}/{path}", ns.host)
}

fn unauthorized(ns: &Namespace, hub: &str, claim: &str) -> definitions::Error {
    error(
        AmqpError::UnauthorizedAccess,
        format!(
            "unauthorized access: '{claim}' claim is required on '{}'; put a valid token for \
             this hub (or the namespace) on '$cbs' first",
            entity_url(ns, hub)
        ),
    )
}

/// Everything a delivery task needs, decided (and the receiver registered) before the attach is
/// answered, so a refused attach never looks accepted.
struct ConsumerPlan {
    hub: Arc<Hub>,
    partition: Arc<Partition>,
    start: i64,
    receiver_id: u64,
    stolen: tokio::sync::oneshot::Receiver<String>,
}

fn prepare_consumer(
    attach: &Attach,
    hub_name: &str,
    consumer_group: &str,
    partition_id: &str,
    ctx: &Connection,
) -> Result<ConsumerPlan, definitions::Error> {
    let ns = &ctx.ns;
    let hub = ns.hub(hub_name).ok_or_else(|| {
        not_found(format!(
            "the messaging entity '{}' could not be found",
            entity_url(ns, hub_name)
        ))
    })?;
    if !ctx.authorized(&hub.name) {
        return Err(unauthorized(ns, &hub.name, "Listen"));
    }
    let group = hub.consumer_group(consumer_group).ok_or_else(|| {
        not_found(format!(
            "the messaging entity '{}' could not be found: consumer group '{consumer_group}' \
             does not exist on hub '{}' (it has: {})",
            entity_url(ns, &format!("{}/ConsumerGroups/{consumer_group}", hub.name)),
            hub.name,
            hub.consumer_groups.join(", ")
        ))
    })?;
    let partition = hub.partition(partition_id).ok_or_else(|| {
        not_found(format!(
            "the messaging entity '{}' could not be found: partition '{partition_id}' does not \
             exist on hub '{}' (partitions are 0 to {})",
            entity_url(ns, &format!("{}/Partitions/{partition_id}", hub.name)),
            hub.name,
            hub.partitions.len() - 1
        ))
    })?;

    let filter = match attach
        .source
        .as_ref()
        .and_then(|s| s.filter.as_ref())
        .and_then(|f| {
            f.iter()
                .find(|(k, _)| k.as_str() == address::SELECTOR_FILTER)
                .map(|(_, v)| v)
        }) {
        // No filter: the service starts at the beginning of the retained stream.
        None => StartFilter::Earliest,
        Some(value) => {
            let expression = address::selector_expression(value).ok_or_else(|| {
                error(
                    AmqpError::InvalidField,
                    format!(
                        "the '{}' filter must carry a string selector",
                        address::SELECTOR_FILTER
                    ),
                )
            })?;
            address::parse_selector(expression).map_err(|e| error(AmqpError::InvalidField, e))?
        }
    };
    let owner_level = match attach
        .properties
        .as_ref()
        .and_then(|p| p.get(&Symbol::from("com.microsoft:epoch")))
    {
        None => None,
        Some(Value::Long(v)) => Some(*v),
        Some(Value::Int(v)) => Some(i64::from(*v)),
        Some(other) => {
            return Err(error(
                AmqpError::InvalidField,
                format!("the 'com.microsoft:epoch' link property must be a long, got {other:?}"),
            ));
        }
    };
    let retention = hub.retention();
    let start = partition
        .resolve_start(filter, retention, SystemTime::now())
        .map_err(refusal_error)?;
    let receiver_id = ns.ids.next();
    let stolen = partition
        .attach_receiver(
            receiver_id,
            group,
            owner_level,
            ctx.id,
            &ns.stats.links_stolen,
        )
        .map_err(refusal_error)?;
    Ok(ConsumerPlan {
        hub: hub.clone(),
        partition: partition.clone(),
        start,
        receiver_id,
        stolen,
    })
}

fn refusal_error(refusal: AttachRefusal) -> definitions::Error {
    match refusal {
        AttachRefusal::Stolen(d) => error(LinkError::Stolen, d),
        AttachRefusal::QuotaExceeded(d) => error(AmqpError::ResourceLimitExceeded, d),
        AttachRefusal::OutOfRange(d) => error(
            ErrorCondition::Custom(Symbol::from("com.microsoft:argument-out-of-range")),
            d,
        ),
    }
}

fn event_message(event: &crate::store::StoredEvent) -> Message<Body<Value>> {
    let enqueued_ms = event
        .enqueued_time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut annotations = MessageAnnotations::builder()
        .insert(
            OwnedKey::Symbol(Symbol::from("x-opt-sequence-number")),
            Value::Long(event.sequence_number),
        )
        // The SDK reads the offset only as a string (as the service sends it).
        .insert(
            OwnedKey::Symbol(Symbol::from("x-opt-offset")),
            Value::String(event.offset.to_string()),
        )
        .insert(
            OwnedKey::Symbol(Symbol::from("x-opt-enqueued-time")),
            Value::Timestamp(Timestamp::from_milliseconds(enqueued_ms)),
        );
    if let Some(key) = &event.partition_key {
        annotations = annotations.insert(
            OwnedKey::Symbol(Symbol::from("x-opt-partition-key")),
            Value::String(key.clone()),
        );
    }
    let body = match &event.layout {
        crate::store::BodyLayout::Data => {
            Body::Data(vec![Data(Binary::from(event.body.to_vec()))].into())
        }
        crate::store::BodyLayout::Sections(lengths) => {
            let mut sections = Vec::with_capacity(lengths.len());
            let mut at = 0;
            for len in lengths {
                sections.push(Data(Binary::from(event.body[at..at + len].to_vec())));
                at += len;
            }
            Body::Data(sections.into())
        }
        crate::store::BodyLayout::Value => Body::Value(fe2o3_amqp::types::messaging::AmqpValue(
            Value::String(String::from_utf8_lossy(&event.body).into_owned()),
        )),
    };
    Message::builder()
        .message_annotations(annotations.build())
        .body(body)
        .build()
}

/// Sends the partition's events on a receiver link, from `plan.start`, while credit lasts.
///
/// fe2o3's `send` waits for link credit, so nothing is ever sent beyond what the client granted.
/// Transfers are pre-settled: the service's consumer links settle on send (there is nothing to
/// redeliver; consumers track positions with checkpoints), and the SDK receiver (settle mode
/// `first`, auto-accept) then sends no dispositions.
async fn deliver(mut sender: Sender, mut plan: ConsumerPlan, ctx: Arc<Connection>) {
    let stats = &ctx.ns.stats;
    let mut shutdown = ctx.shutdown.clone();
    let mut appended = plan.partition.subscribe();
    let mut cursor = plan.start;
    let steal_reason: Option<String> = 'link: loop {
        appended.borrow_and_update();
        let burst =
            plan.partition
                .read(cursor, READ_BURST, plan.hub.retention(), SystemTime::now());
        cursor = burst.next_cursor;
        if burst.events.is_empty() {
            tokio::select! {
                changed = appended.changed() => if changed.is_err() { break 'link None },
                reason = &mut plan.stolen => break 'link reason.ok(),
                _ = sender.on_detach() => break 'link None,
                _ = shutdown.changed() => break 'link None,
            }
            continue;
        }
        for event in &burst.events {
            let sendable = Sendable::builder()
                .message(event_message(event))
                .settled(true)
                .build();
            tokio::select! {
                biased;
                reason = &mut plan.stolen => break 'link reason.ok(),
                _ = shutdown.changed() => break 'link None,
                result = sender.send(sendable) => {
                    if result.is_err() {
                        // The client detached or the connection dropped.
                        break 'link None;
                    }
                    // Counted per transfer (not per burst) so `stats()` is exact while a
                    // receiver waits for credit in the middle of a burst.
                    Stats::bump(&stats.events_delivered, 1);
                }
            }
        }
    };
    plan.partition.detach_receiver(plan.receiver_id);
    if let Some(reason) = steal_reason {
        let _ = sender
            .close_with_error(error(LinkError::Stolen, reason))
            .await;
    } else {
        let _ = sender.close().await;
    }
}

fn prepare_publisher(
    hub_name: &str,
    partition: Option<&str>,
    ctx: &Connection,
) -> Result<(Arc<Hub>, Option<Arc<Partition>>), definitions::Error> {
    let ns = &ctx.ns;
    let hub = ns.hub(hub_name).ok_or_else(|| {
        not_found(format!(
            "the messaging entity '{}' could not be found",
            entity_url(ns, hub_name)
        ))
    })?;
    if !ctx.authorized(&hub.name) {
        return Err(unauthorized(ns, &hub.name, "Send"));
    }
    let partition = match partition {
        None => None,
        Some(id) => Some(
            hub.partition(id)
                .ok_or_else(|| {
                    not_found(format!(
                        "the messaging entity '{}' could not be found: partition '{id}' does \
                         not exist on hub '{}'",
                        entity_url(ns, &format!("{}/Partitions/{id}", hub.name)),
                        hub.name
                    ))
                })?
                .clone(),
        ),
    };
    Ok((hub.clone(), partition))
}

/// One event out of a producer's message: its body (data sections concatenated) and key.
fn split_event(message: Message<Body<Value>>) -> (Vec<u8>, Option<String>) {
    let key = message.message_annotations.as_ref().and_then(|a| {
        a.0.iter().find_map(|(k, v)| match (k, v) {
            (OwnedKey::Symbol(s), Value::String(key)) if s.as_str() == "x-opt-partition-key" => {
                Some(key.clone())
            }
            _ => None,
        })
    });
    let body = match message.body {
        Body::Data(batch) => batch.into_iter().flat_map(|d| d.0.into_vec()).collect(),
        Body::Value(v) => match v.0 {
            Value::Binary(b) => b.into_vec(),
            Value::String(s) => s.into_bytes(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    (body, key)
}

/// Picks a partition for a hub-addressed send: a stable hash of the partition key, or round
/// robin without one (the service's documented behaviour, not its exact hash function).
fn choose_partition<'h>(
    hub: &'h Hub,
    key: Option<&str>,
    round_robin: &mut usize,
) -> &'h Arc<Partition> {
    let n = hub.partitions.len();
    let index = match key {
        Some(key) => {
            // FNV-1a: stable across runs and platforms, unlike `DefaultHasher`.
            let mut h: u32 = 0x811c_9dc5;
            for b in key.as_bytes() {
                h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
            }
            h as usize % n
        }
        None => {
            *round_robin = round_robin.wrapping_add(1);
            *round_robin % n
        }
    };
    &hub.partitions[index]
}

/// Appends what a producer sends; single messages and `0x80013700` batch envelopes.
async fn ingest(mut receiver: Receiver, hub: Arc<Hub>, partition: Option<Arc<Partition>>) {
    let mut round_robin = 0usize;
    loop {
        let delivery = match receiver.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(_) => break,
        };
        let batch = *delivery.message_format() == Some(BATCH_MESSAGE_FORMAT);
        let mut events = Vec::new();
        let mut malformed = None;
        if batch {
            if let Body::Data(sections) = &delivery.message().body {
                for section in sections.iter() {
                    match serde_amqp::from_slice::<Deserializable<Message<Body<Value>>>>(&section.0)
                    {
                        Ok(inner) => events.push(split_event(inner.0)),
                        Err(e) => {
                            malformed =
                                Some(format!("a batch section is not an AMQP message: {e}"));
                            break;
                        }
                    }
                }
            } else {
                malformed = Some("a batch envelope must carry data sections".to_owned());
            }
        } else {
            events.push(split_event(delivery.message().clone()));
        }
        if let Some(why) = malformed {
            let _ = receiver
                .reject(&delivery, error(AmqpError::DecodeError, why))
                .await;
            continue;
        }
        let now = SystemTime::now();
        for (body, key) in events {
            let target = match &partition {
                Some(p) => p,
                None => choose_partition(&hub, key.as_deref(), &mut round_robin),
            };
            target.append(body.into(), key, now, hub.retention());
        }
        tokio::time::sleep(DISPOSITION_LATENCY).await;
        if receiver.accept(&delivery).await.is_err() {
            break;
        }
    }
    let _ = receiver.close().await;
}
