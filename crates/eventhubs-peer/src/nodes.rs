//! The `$cbs` and `$management` nodes: request/response over a link pair, as in the AMQP
//! management and CBS drafts.
//!
//! The client attaches a sender to the node (requests) and a receiver whose target is its own
//! node address (replies); each request names that address in `reply-to`, and the reply carries
//! the request's `message-id` as `correlation-id` and the outcome in the `status-code` /
//! `status-description` application properties.

use fe2o3_amqp::link::delivery::Sendable;
use fe2o3_amqp::types::messaging::{AmqpValue, ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp::types::primitives::{Array, OrderedMap, SimpleValue, Timestamp, Value};
use fe2o3_amqp::{Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

use crate::Namespace;
use crate::sas;
use crate::server::Connection;
use crate::store::Stats;

/// A reply on a node's reply link.
pub(crate) type ReplyMessage = Message<AmqpValue<Value>>;

/// Which node a request link talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Cbs,
    Management,
}

/// Token type the SDK sends with SAS tokens.
const SAS_TOKEN_TYPE: &str = "servicebus.windows.net:sastoken";

/// AMQP timestamp the service uses for "never" (0001-01-01T00:00:00Z); the SDK maps it to `None`.
const NEVER_MILLIS: i64 = -62_135_596_800_000;

/// A status line: AMQP management uses HTTP status codes.
struct Status {
    code: i32,
    description: String,
}

impl Status {
    fn new(code: i32, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

/// Forwards replies queued for this link's address until the client detaches it.
pub(crate) async fn serve_replies(mut sender: Sender, kind: NodeKind, ctx: Arc<Connection>) {
    let address = sender.target().as_ref().and_then(|t| t.address.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<ReplyMessage>();
    if let Some(address) = &address {
        lock(&ctx.replies).insert(address.clone(), tx.clone());
    }
    let mut shutdown = ctx.shutdown.clone();
    loop {
        tokio::select! {
            reply = rx.recv() => {
                let Some(reply) = reply else { break };
                // Pre-settled: a reply is never redelivered, and an unsettled one would expose
                // our own sender to the disposition race described in `crate::server`.
                let sendable = Sendable::builder().message(reply).settled(true).build();
                if sender.send(sendable).await.is_err() {
                    break;
                }
            }
            _ = sender.on_detach() => break,
            _ = shutdown.changed() => break,
        }
    }
    if let Some(address) = &address {
        let mut replies = lock(&ctx.replies);
        // A newer link may have re-registered the same address; only remove our own.
        if replies.get(address).is_some_and(|t| t.same_channel(&tx)) {
            replies.remove(address);
        }
    }
    close_delay(kind).await;
    let _ = sender.close().await;
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers requests arriving on a `$cbs` or `$management` request link.
pub(crate) async fn serve_requests(mut receiver: Receiver, kind: NodeKind, ctx: Arc<Connection>) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let delivery = tokio::select! {
            d = receiver.recv::<Body<Value>>() => match d {
                Ok(d) => d,
                Err(_) => break,
            },
            _ = shutdown.changed() => break,
        };
        // The management client requires the request itself to be accepted before it reads the
        // reply; the outcome of the operation travels in the reply's status code. The accept
        // waits first: see `server::DISPOSITION_LATENCY`.
        tokio::time::sleep(crate::server::DISPOSITION_LATENCY).await;
        if receiver.accept(&delivery).await.is_err() {
            break;
        }
        let request = delivery.into_message();
        let delay = match kind {
            NodeKind::Management => ctx.ns.management_delay(),
            NodeKind::Cbs => Duration::ZERO,
        };
        let (status, body) = match kind {
            NodeKind::Cbs => {
                let status = put_token(&request, &ctx);
                let counter = if status.code == 202 {
                    &ctx.ns.stats.cbs_accepted
                } else {
                    &ctx.ns.stats.cbs_refused
                };
                Stats::bump(counter, 1);
                // See `PeerConfig::cbs_reply_delay`: a reply that is too fast races fe2o3's
                // client-side link close.
                tokio::time::sleep(ctx.ns.cbs_reply_delay).await;
                (status, Value::Null)
            }
            NodeKind::Management => {
                Stats::bump(&ctx.ns.stats.management_reads, 1);
                match read(&request, &ctx) {
                    Ok(body) => (Status::new(200, "OK"), body),
                    Err(status) => (status, Value::Null),
                }
            }
        };
        let Some(reply_to) = request.properties.as_ref().and_then(|p| p.reply_to.clone()) else {
            // Without reply-to there is nowhere to answer; the service drops such requests too.
            continue;
        };
        let reply = Message::builder()
            .properties(Properties {
                correlation_id: request
                    .properties
                    .as_ref()
                    .and_then(|p| p.message_id.clone()),
                ..Default::default()
            })
            .application_properties(
                ApplicationProperties::builder()
                    .insert("status-code", SimpleValue::Int(status.code))
                    .insert(
                        "status-description",
                        SimpleValue::String(status.description),
                    )
                    .build(),
            )
            .value(body)
            .build();
        if delay.is_zero() {
            if let Some(link) = lock(&ctx.replies).get(&reply_to) {
                let _ = link.send(reply);
            }
        } else {
            // A slow service answers late without holding up the requests behind this one.
            let ctx = ctx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Some(link) = lock(&ctx.replies).get(&reply_to) {
                    let _ = link.send(reply);
                }
            });
        }
    }
    close_delay(kind).await;
    let _ = receiver.close().await;
}

/// How long a `$cbs` link waits before answering the client's detach.
///
/// The SDK (0.16.0) drops its `$cbs` link pair and their session together right after each
/// put-token: detach, detach, end, all within microseconds. A detach answer that reaches
/// fe2o3-amqp 0.16.2 after it has sent that `end` is a frame for a link it already dropped
/// (`unattached-handle`); a second such frame while it waits for our `end` stops its session
/// early, our `end` then names an unknown channel, and the client closes the whole connection
/// with every receiver on it (CI saw this as "Connection dropped: Illegal session state").
/// Waiting lets the client's `end` arrive first; the session is then gone and no answer is sent,
/// as when the service reads the detach and the end together. A client that closes the link
/// and keeps its session still gets its answer, this much later.
const CBS_DETACH_ANSWER_DELAY: Duration = Duration::from_millis(200);

async fn close_delay(kind: NodeKind) {
    if kind == NodeKind::Cbs {
        tokio::time::sleep(CBS_DETACH_ANSWER_DELAY).await;
    }
}

fn string_property<'m>(message: &'m Message<Body<Value>>, key: &str) -> Option<&'m str> {
    match message.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s),
        SimpleValue::Symbol(s) => Some(s.as_str()),
        _ => None,
    }
}

/// Splits `scheme://host[:port]/path` (or `host/path`) into lower-cased host and trimmed path.
fn split_url(url: &str) -> (String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host);
    (
        host.to_ascii_lowercase(),
        path.trim_matches('/').to_ascii_lowercase(),
    )
}

/// Validates a SAS token and returns the hub it authorizes (`None` = the whole namespace).
fn token_scope(token: &str, ns: &Namespace) -> Result<Option<String>, Status> {
    let valid = sas::validate(token, &ns.key_name, &ns.key, SystemTime::now())
        .map_err(|e| Status::new(401, e.to_string()))?;
    let (host, path) = split_url(&valid.audience);
    if !host.eq_ignore_ascii_case(&ns.host) {
        return Err(Status::new(
            401,
            format!(
                "token audience '{}' is not on namespace '{}'",
                valid.audience, ns.host
            ),
        ));
    }
    let Some(hub_segment) = path.split('/').next().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    // The service answers an audience naming a hub it does not have with 404 at put-token.
    let hub = ns.hub(hub_segment).ok_or_else(|| {
        Status::new(
            404,
            format!(
                "the messaging entity 'sb://{}/{hub_segment}' could not be found",
                ns.host
            ),
        )
    })?;
    Ok(Some(hub.name.clone()))
}

fn put_token(request: &Message<Body<Value>>, ctx: &Connection) -> Status {
    let ns = &ctx.ns;
    if string_property(request, "operation") != Some("put-token") {
        return Status::new(400, "the only operation on '$cbs' is 'put-token'");
    }
    let Some(token) = (match &request.body {
        Body::Value(AmqpValue(Value::String(token))) => Some(token.as_str()),
        _ => None,
    }) else {
        return Status::new(400, "put-token needs the token as a string amqp-value body");
    };
    match string_property(request, "type") {
        Some(SAS_TOKEN_TYPE) => {}
        Some("jwt") => {
            return Status::new(
                401,
                "this test peer does not accept Entra ID (JWT) tokens; authenticate with a \
                 shared access key (connection string) instead",
            );
        }
        other => {
            return Status::new(
                400,
                format!("unsupported token type {other:?}: expected '{SAS_TOKEN_TYPE}'"),
            );
        }
    }
    let scope = match token_scope(token, ns) {
        Ok(scope) => scope,
        Err(status) => return status,
    };
    let expiry = match sas::validate(token, &ns.key_name, &ns.key, SystemTime::now()) {
        Ok(v) => v.expiry,
        Err(e) => return Status::new(401, e.to_string()),
    };
    // The claimed path (`name`) must lie inside the token's audience.
    if let Some(name) = string_property(request, "name") {
        let (host, path) = split_url(name);
        let inside = host.eq_ignore_ascii_case(&ns.host)
            && match &scope {
                None => true,
                Some(hub) => {
                    let hub = hub.to_ascii_lowercase();
                    path == hub || path.starts_with(&format!("{hub}/"))
                }
            };
        if !inside {
            return Status::new(
                401,
                format!("the token does not cover '{name}': its audience is a different entity"),
            );
        }
    }
    lock(&ctx.auth).grant(scope.as_deref(), expiry);
    Status::new(202, "Accepted")
}

fn timestamp(t: Option<SystemTime>) -> Value {
    let millis = t.map_or(NEVER_MILLIS, |t| match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    });
    Value::Timestamp(Timestamp::from_milliseconds(millis))
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let mut m = OrderedMap::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_owned()), v);
    }
    Value::Map(m)
}

/// The READ operation for `com.microsoft:eventhub` and `com.microsoft:partition`. Value types
/// matter: the SDK panics on a mismatch (sequence numbers must be longs, the offset a string,
/// times timestamps, `partition_ids` an array of strings).
fn read(request: &Message<Body<Value>>, ctx: &Connection) -> Result<Value, Status> {
    let ns = &ctx.ns;
    if string_property(request, "operation") != Some("READ") {
        return Err(Status::new(
            400,
            "the only operation supported on '$management' is 'READ'",
        ));
    }
    let entity_type = string_property(request, "type").unwrap_or_default();
    let name = string_property(request, "name")
        .ok_or_else(|| Status::new(400, "READ needs the hub in the 'name' property"))?;
    let hub = ns.hub(name).ok_or_else(|| {
        Status::new(
            404,
            format!(
                "the messaging entity 'sb://{}/{name}' could not be found",
                ns.host
            ),
        )
    })?;
    let token_ok = string_property(request, "security_token")
        .and_then(|t| token_scope(t, ns).ok())
        .is_some_and(|scope| {
            scope
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(&hub.name))
        });
    if !token_ok && !ctx.authorized(&hub.name) {
        return Err(Status::new(
            401,
            format!(
                "unauthorized access: 'Manage' or 'Listen' claim is required on 'sb://{}/{}'",
                ns.host, hub.name
            ),
        ));
    }
    match entity_type {
        "com.microsoft:eventhub" => Ok(map(vec![
            ("name", Value::String(hub.name.clone())),
            ("type", Value::String(entity_type.to_owned())),
            ("created_at", timestamp(Some(hub.created_at))),
            ("partition_count", Value::Int(hub.partitions.len() as i32)),
            (
                "partition_ids",
                Value::Array(Array::from(
                    hub.partitions
                        .iter()
                        .map(|p| Value::String(p.id.clone()))
                        .collect::<Vec<_>>(),
                )),
            ),
        ])),
        "com.microsoft:partition" => {
            let id = string_property(request, "partition").ok_or_else(|| {
                Status::new(400, "READ of a partition needs the 'partition' property")
            })?;
            let partition = hub.partition(id).ok_or_else(|| {
                Status::new(
                    404,
                    format!(
                        "the messaging entity 'sb://{}/{}/Partitions/{id}' could not be found",
                        ns.host, hub.name
                    ),
                )
            })?;
            let s = partition.snapshot(hub.retention(), SystemTime::now());
            Ok(map(vec![
                ("name", Value::String(hub.name.clone())),
                ("type", Value::String(entity_type.to_owned())),
                ("partition", Value::String(partition.id.clone())),
                (
                    "begin_sequence_number",
                    Value::Long(s.begin_sequence_number),
                ),
                (
                    "last_enqueued_sequence_number",
                    Value::Long(s.last_enqueued_sequence_number),
                ),
                // Geo-replication epoch; always 0 on a namespace without replication.
                ("last_enqueued_sequence_number_epoch", Value::Long(0)),
                (
                    "last_enqueued_offset",
                    Value::String(s.last_enqueued_offset),
                ),
                ("last_enqueued_time_utc", timestamp(s.last_enqueued_time)),
                ("is_partition_empty", Value::Bool(s.is_empty)),
            ]))
        }
        other => Err(Status::new(
            400,
            format!(
                "unsupported entity type '{other}': expected 'com.microsoft:eventhub' or \
                 'com.microsoft:partition'"
            ),
        )),
    }
}
