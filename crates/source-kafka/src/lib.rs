//! The Kafka-protocol source: a consumer group on any Kafka broker or on the Event Hubs Kafka
//! endpoint, with offsets committed only from the pipeline's acknowledged watermark.
//!
//! Design decision: librdkafka is driven by one dedicated OS thread that polls a
//! `BaseConsumer` and forwards messages over a bounded channel and rebalances over an unbounded
//! one. The poll thread never waits on the pipeline for messages ([`handoff`]): when the
//! pipeline stops reading (a sink outage fills the byte budget), the thread holds what it
//! polled, pauses the partitions and keeps calling `poll()`, so librdkafka never leaves the
//! group for exceeding `max.poll.interval.ms`. Rebalance callbacks run on that thread, so on
//! *revoke* the thread hands the pipeline the revoked partitions (the pipeline reads rebalance
//! events even while its budget is full), waits for their drained watermark, and commits it
//! *before* librdkafka gives the partitions away (the next owner resumes exactly there). That
//! commit never waits on the broker on this thread: it is asynchronous (librdkafka rejoins
//! only once it is answered), and it is skipped when the assignment was lost with the group
//! session, when the group would refuse it anyway (see `commit_on_revoke`). A commit on revoke
//! counts as done only once the group is read back holding it (`confirm_commit`, off the poll
//! thread): only then does the source report [`SourceEvent::Committed`], from which the
//! pipeline moves `entrastream_committed_offset`. Periodic commits are confirmed the same way
//! before [`Source::commit`] returns `Ok` (every wait bounded; a synchronous librdkafka commit
//! can wait forever). A periodic commit gives up as soon as
//! librdkafka revokes an assignment lost with the session, so the pipeline answers that
//! revoke at once instead of waiting on a coordinator that cannot accept the commit.
//! Nothing is ever auto-committed or auto-stored (`enable.auto.commit=false`,
//! `enable.auto.offset.store=false`). On *assign*, the committed offsets are read back and
//! reported, so the pipeline's tracker starts from what the group holds. The source also
//! tracks the timestamps of uncommitted messages for the retention headroom ([`retention`]).
//! A broker connection that goes silent with requests waiting is probed with one short-timeout
//! request ([`watchdog`]), so librdkafka drops it in seconds rather than after
//! `socket.timeout.ms`, which stays at Microsoft's 30 s for every other request.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod connection_string;
pub mod handoff;
pub mod retention;
pub mod watchdog;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_model::{Checkpoint, PartitionId, Position, SourceMessage, StartPosition};
use entrastream_secret::Secret;
use entrastream_source::{Source, SourceError, SourceEvent};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use handoff::{HANDOFF_GRACE, HANDOFF_SLOTS, Shared, Tagged};
use retention::Uncommitted;

/// Microsoft's recommended librdkafka consumer settings for the Event Hubs Kafka endpoint,
/// applied when the source is configured from a connection string (users may override any of
/// them in `[source.properties]`). Source: azure-event-hubs-for-kafka `CONFIGURATION.md`.
pub const EVENT_HUBS_DEFAULTS: &[(&str, &str)] = &[
    // Azure's load balancer silently drops TCP connections idle for more than 240 s.
    ("socket.keepalive.enable", "true"),
    ("metadata.max.age.ms", "180000"),
    ("connections.max.idle.ms", "180000"),
    // Microsoft: request timeouts 30000..60000 ms, never under 20000 (the service's own
    // minimum). The low end, as for every broker: see `SOCKET_TIMEOUT_MS`.
    ("socket.timeout.ms", SOCKET_TIMEOUT_MS),
    ("session.timeout.ms", "30000"),
    ("heartbeat.interval.ms", "3000"),
    ("max.poll.interval.ms", "300000"),
];

/// `socket.timeout.ms` the source sets on every broker (librdkafka's default is 60000): how
/// long a request may go unanswered before librdkafka drops the connection and reconnects. A
/// connection that went silent without a reset (a NAT or load-balancer entry dropped, a
/// blackholed path) is noticed only by this timeout: TCP keepalive does not help within
/// minutes (Linux sends the first probe after 2 h, and a middlebox that still answers the
/// probes keeps a dead path "alive"). 30000 is the low end of Microsoft's recommended request
/// timeout for the Event Hubs Kafka endpoint (30000..60000 ms, permitted > 20000, the service's
/// own minimum; `request.timeout.ms` in Microsoft's table is what librdkafka's consumer calls
/// `socket.timeout.ms`). Fetches wait `fetch.wait.max.ms` on top. Users may raise it in
/// `[source.properties]`.
pub const SOCKET_TIMEOUT_MS: &str = "30000";

/// `fetch.queue.backoff.ms` the source sets (librdkafka's default is 1000): how long a
/// partition waits before fetching again once the prefetch queue was full.
pub const FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// Settings of the Kafka source, after secrets are resolved.
#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    /// `host:port[,host:port]`
    pub brokers: String,
    /// Topic (event hub) to consume.
    pub topic: String,
    /// Consumer group id.
    pub consumer_group: String,
    /// Where a group without a committed offset starts.
    pub start_position: StartPosition,
    /// `plaintext` (default), `ssl`, `sasl_plaintext`, `sasl_ssl`.
    pub security_protocol: Option<String>,
    /// SASL mechanism (`PLAIN`, `SCRAM-SHA-256`, …).
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    pub sasl_username: Option<String>,
    /// SASL password.
    pub sasl_password: Option<Secret>,
    /// Apply [`EVENT_HUBS_DEFAULTS`].
    pub event_hubs_defaults: bool,
    /// Any other librdkafka property, applied last (overrides everything above).
    pub properties: BTreeMap<String, String>,
    /// How long a revoke waits for the pipeline to drain the revoked partitions. Must be
    /// shorter than the session timeout (checked by the config crate).
    pub drain_timeout: Duration,
    /// Entra ID auth (SASL OAUTHBEARER), when `[source] credential` is set.
    pub oauth: Option<auth::EntraOAuth>,
}

impl KafkaSourceConfig {
    /// Settings for a plain Kafka broker: no TLS, no SASL, no Event Hubs defaults, no extra
    /// properties, starting at the earliest offset, a 10 s drain timeout. Change the fields
    /// that differ (the one constructor of configs without a connection string, tests
    /// included).
    pub fn for_brokers(
        brokers: impl Into<String>,
        topic: impl Into<String>,
        consumer_group: impl Into<String>,
    ) -> Self {
        KafkaSourceConfig {
            brokers: brokers.into(),
            topic: topic.into(),
            consumer_group: consumer_group.into(),
            start_position: StartPosition::Earliest,
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            event_hubs_defaults: false,
            properties: BTreeMap::new(),
            drain_timeout: Duration::from_secs(10),
            oauth: None,
        }
    }

    /// Settings for the Event Hubs Kafka endpoint from a connection string. `topic` overrides
    /// the string's `EntityPath`; one of the two is required.
    pub fn from_connection_string(
        cs: &Secret,
        topic: Option<String>,
        consumer_group: String,
    ) -> Result<Self, connection_string::ConnectionStringError> {
        let ep = connection_string::parse(cs)?;
        let topic = topic
            .or(ep.topic)
            .ok_or(connection_string::ConnectionStringError::MissingTopic)?;
        Ok(KafkaSourceConfig {
            security_protocol: Some("SASL_SSL".into()),
            sasl_mechanism: Some("PLAIN".into()),
            sasl_username: Some("$ConnectionString".into()),
            sasl_password: Some(ep.password),
            event_hubs_defaults: true,
            ..Self::for_brokers(ep.bootstrap, topic, consumer_group)
        })
    }

    /// The librdkafka configuration (contains the password: never log it).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.consumer_group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match self.start_position {
                    StartPosition::Earliest => "earliest",
                    StartPosition::Latest => "latest",
                },
            )
            .set("statistics.interval.ms", "5000")
            // librdkafka prefetches up to 64 MiB by default; keep it well inside the byte budget.
            .set("queued.max.messages.kbytes", "16384")
            // When that prefetch queue is full, librdkafka postpones the partition's next fetch
            // by `fetch.queue.backoff.ms`, 1000 ms by default. The pipeline empties 16 MiB in
            // tens of milliseconds, so with the default it sat idle for most of every second
            // (end-to-end 35 MB/s against 330 MB/s with 10 ms; benches/README.md). A short
            // backoff only re-checks the queue more often: the queue cap above still bounds
            // memory, and the byte budget still pauses partitions.
            .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
            // A dead broker connection is noticed after this, not librdkafka's 60 s.
            .set("socket.timeout.ms", SOCKET_TIMEOUT_MS)
            // Microsoft's recommendation for connections that may idle (Azure drops them after
            // 240 s); harmless elsewhere.
            .set("socket.keepalive.enable", "true")
            .set("client.id", "entrastream");
        if self.event_hubs_defaults {
            for (k, v) in EVENT_HUBS_DEFAULTS {
                c.set(*k, *v);
            }
        }
        if let Some(p) = &self.security_protocol {
            c.set("security.protocol", p);
        }
        if let Some(m) = &self.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &self.sasl_username {
            c.set("sasl.username", u);
        }
        if let Some(p) = &self.sasl_password {
            c.set("sasl.password", p.expose());
        }
        if let Some(ca) = default_ca_location(
            self.security_protocol.as_deref(),
            &self.properties,
            openssl_ca_env_is_set(),
        ) {
            c.set("ssl.ca.location", ca);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        // librdkafka's own `debug` contexts log at debug level: let them through when asked for.
        c.set_log_level(if self.properties.contains_key("debug") {
            RDKafkaLogLevel::Debug
        } else {
            RDKafkaLogLevel::Warning
        });
        c
    }
}

/// The `ssl.ca.location` the source sets itself: `probe` for a TLS connection, unless the
/// operator chose (an explicit `ssl.ca.location` in `properties`, or OpenSSL's own
/// `SSL_CERT_FILE`/`SSL_CERT_DIR`, which only OpenSSL's default paths honour).
///
/// Why: librdkafka's OpenSSL is linked into the binary (`ssl-vendored`), and its
/// compiled-in CA location is `/usr/local/ssl`, which no distribution (nor our image) fills.
/// Without `ssl.ca.location`, librdkafka asks OpenSSL for those default paths, finds no CA and
/// refuses every broker certificate, the Event Hubs Kafka endpoint's included. So the source
/// sets `ssl.ca.location = probe` (librdkafka then loads the first of the standard bundles:
/// Debian's `/etc/ssl/certs/ca-certificates.crt`, RHEL's, Alpine's, …).
fn default_ca_location(
    security_protocol: Option<&str>,
    properties: &BTreeMap<String, String>,
    openssl_ca_env_is_set: bool,
) -> Option<&'static str> {
    let tls = security_protocol.is_some_and(|p| p.to_ascii_lowercase().ends_with("ssl"));
    (tls && !properties.contains_key("ssl.ca.location") && !openssl_ca_env_is_set)
        .then_some("probe")
}

/// Whether OpenSSL's own CA variables (`SSL_CERT_FILE`, `SSL_CERT_DIR`) are set.
fn openssl_ca_env_is_set() -> bool {
    ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// Called with (topic, partition, lag in messages) from librdkafka statistics.
pub type LagReporter = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

/// Called with (topic, partition, seconds until the partition's oldest uncommitted message
/// leaves the hub's retention), or with `None` when this consumer no longer owns the partition
/// (drop its series).
pub type HeadroomReporter = Arc<dyn Fn(&str, i32, Option<f64>) + Send + Sync>;

/// Retention-headroom reporting (`entrastream_retention_headroom_seconds`), at every
/// librdkafka statistics interval.
#[derive(Clone)]
pub struct RetentionReport {
    /// The hub's retention (`[source] retention`).
    pub retention: Duration,
    /// Where each owned partition's headroom goes.
    pub report: HeadroomReporter,
}

impl std::fmt::Debug for RetentionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionReport")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// How long one `poll()` waits for a message; also how soon a held message notices room.
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

/// How much longer than the drain timeout a revoke waits for the pipeline's answer before it
/// lets the partitions go with the last periodic commit (the pipeline reads rebalance events
/// even when its byte budget is full, so this is a backstop, not a path taken in practice).
const REVOKE_ANSWER_MARGIN: Duration = Duration::from_secs(10);

/// How long the confirmation of a commit may read the group's offsets back (shorter than the
/// pipeline's own 10 s commit bound, so the source reports the outcome itself).
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(8);

/// Read-backs of a commit before it counts as not confirmed: the asynchronous commit may still
/// be on its way when the first one is answered.
const CONFIRM_ATTEMPTS: u32 = 3;

type Event = Result<SourceEvent, SourceError>;

struct Ctx {
    /// Rebalance events and fatal errors: unbounded, so a callback never waits to send.
    control: mpsc::UnboundedSender<Event>,
    closing: Arc<AtomicBool>,
    lag: Option<LagReporter>,
    retention: Option<RetentionReport>,
    assignment: Arc<Mutex<Vec<PartitionId>>>,
    shared: Arc<Shared>,
    uncommitted: Arc<Mutex<Uncommitted>>,
    drain_timeout: Duration,
    /// Bumped when librdkafka revokes an assignment it lost with the group session: a
    /// periodic commit still waiting for the coordinator gives up at once (it cannot succeed,
    /// and the pipeline must answer the revoke instead of waiting on it).
    session_lost: tokio::sync::watch::Sender<u64>,
    /// Commits on revoke sent and not yet confirmed; the poll thread starts their read-back.
    to_confirm: Mutex<Vec<Checkpoint>>,
    /// Entra ID tokens for SASL OAUTHBEARER ([`auth`]).
    oauth: Option<auth::TokenSource>,
    /// Probes a broker connection that went silent with requests waiting ([`watchdog`]).
    watchdog: watchdog::Watchdog,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    /// Reports every owned partition's retention headroom (librdkafka's lag tells whether
    /// anything waits on the broker when nothing uncommitted was polled).
    fn report_headroom(&self, lags: &HashMap<PartitionId, i64>) {
        let Some(r) = &self.retention else { return };
        let now = SystemTime::now();
        let uncommitted = lock(&self.uncommitted);
        for p in uncommitted.partitions() {
            let oldest = uncommitted.oldest(&p, lags.get(&p).copied());
            if let Some(h) = retention::headroom(oldest, r.retention, now) {
                (r.report)(&p.topic, p.partition, Some(h));
            }
        }
    }
}

impl ClientContext for Ctx {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        auth::generate(self.oauth.as_ref())
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility = fac, "{message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", facility = fac, "{message}")
            }
        }
    }

    fn stats(&self, statistics: Statistics) {
        self.watchdog.check(&statistics);
        let mut lags = HashMap::new();
        for (topic, t) in &statistics.topics {
            for (p, ps) in &t.partitions {
                if *p >= 0 && ps.consumer_lag >= 0 {
                    if let Some(lag) = &self.lag {
                        lag(topic, *p, ps.consumer_lag);
                    }
                    lags.insert(PartitionId::new(topic, *p), ps.consumer_lag);
                }
            }
        }
        self.report_headroom(&lags);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        if consumer.assignment_lost() {
            self.session_lost.send_modify(|n| *n += 1);
        }
        lock(&self.assignment).clear();
        let partitions: Vec<PartitionId> = tpl
            .elements()
            .iter()
            .map(|e| PartitionId::new(e.topic(), e.partition()))
            .collect();
        // From here on, messages of these partitions polled earlier are stale wherever they
        // wait (held, in the channel): the next owner reads them again.
        self.shared.revoke(&partitions);
        {
            let mut uncommitted = lock(&self.uncommitted);
            for p in &partitions {
                uncommitted.remove(p);
                if let Some(r) = &self.retention {
                    (r.report)(&p.topic, p.partition, None);
                }
            }
        }
        if self.closing.load(Ordering::SeqCst) {
            // Shutdown: the pipeline already committed its final watermark.
            return;
        }
        if partitions.is_empty() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self
            .control
            .send(Ok(SourceEvent::Revoked {
                partitions,
                drained: tx,
            }))
            .is_err()
        {
            return;
        }
        // The pipeline answers within its drain timeout (or drops the sender on shutdown).
        let Some(cp) = wait_for_answer(rx, self.drain_timeout + REVOKE_ANSWER_MARGIN) else {
            return;
        };
        if cp.is_empty() {
            return;
        }
        if commit_on_revoke(consumer, &cp) {
            lock(&self.to_confirm).push(cp);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        // Read back what the group holds so the tracker starts there.
        let committed = consumer.committed_offsets((*tpl).clone(), Duration::from_secs(10));
        let mut parts = Vec::new();
        let elements = match &committed {
            Ok(c) => c.elements(),
            Err(e) => {
                tracing::warn!(error = %e, "reading committed offsets failed; tracking from the first message");
                tpl.elements()
            }
        };
        for e in elements {
            let pos = match e.offset() {
                Offset::Offset(n) if n > 0 => Position::Offset(n - 1),
                _ => Position::Beginning,
            };
            parts.push((PartitionId::new(e.topic(), e.partition()), pos));
        }
        let ids: Vec<PartitionId> = parts.iter().map(|(p, _)| p.clone()).collect();
        if let Err(e) = self.shared.assigned(consumer, &ids) {
            tracing::warn!(error = %e, "setting the pause state of assigned partitions failed");
        }
        {
            let mut uncommitted = lock(&self.uncommitted);
            for p in &ids {
                uncommitted.assign(p);
            }
        }
        *lock(&self.assignment) = ids;
        let _ = self.control.send(Ok(SourceEvent::Assigned(parts)));
    }
}

/// Commits the drained watermark of revoked partitions without ever waiting on the broker.
///
/// * The assignment is **lost** (librdkafka revokes it itself when the group session timed
///   out, e.g. behind a blackholed network path, or after `max.poll.interval.ms`): the group
///   has already given the partitions away and reset this member's id, so the coordinator
///   refuses any commit of them (`UnknownMemberId`). Nothing is sent: a commit that cannot
///   succeed would only hold the consumer (a synchronous one waited here for the request to
///   time out, `socket.timeout.ms`, while librdkafka cannot unassign, stop its fetchers and
///   rejoin; the fault suite's network scenario measured 36 s). The next owner redelivers
///   from the last commit that succeeded: duplicates, never a gap.
/// * Otherwise the commit is **asynchronous**: the rebalance callback returns at once and the
///   result is left to librdkafka. librdkafka still completes the
///   unassign (and so rejoins, and only then can the next owner read the committed offsets)
///   only once no commit is outstanding, so the commit lands before the partitions move on a
///   healthy network, and on a faulty one it waits at most its request timeout inside
///   librdkafka, never on this thread. Its result is not waited for (no commit event reached the
///   consumer's context in our runs): a failure shows as the next owner starting lower, which
///   is redelivery.
///
/// Either way the only offsets ever committed are those of `cp`, the pipeline's drained
/// watermark: every record below them was delivered, so a commit that does not complete (or
/// completes late, after the next owner committed more) means redelivery, never loss.
///
/// `true`: a commit was sent; [`confirm_commit`] reads it back later (rust-rdkafka's
/// `BaseConsumer` never reports the result of an asynchronous commit: librdkafka posts it
/// only to an `offset_commit_cb`, which it does not set).
fn commit_on_revoke(consumer: &BaseConsumer<Ctx>, cp: &Checkpoint) -> bool {
    if consumer.assignment_lost() {
        tracing::warn!(
            checkpoint = ?cp,
            "partitions lost with the group session: nothing committed on revoke (the group refuses it); the next owner redelivers from the last successful commit"
        );
        return false;
    }
    match to_tpl(cp).and_then(|tpl| consumer.commit(&tpl, CommitMode::Async)) {
        Ok(()) => {
            tracing::info!(checkpoint = ?cp, "commit on revoke sent");
            true
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                checkpoint = ?cp,
                "commit on revoke failed; the next owner redelivers from the last successful commit"
            );
            false
        }
    }
}

/// Confirms a commit on revoke (off the poll thread) and reports what the group holds of it as
/// [`SourceEvent::Committed`]: the pipeline's `entrastream_committed_offset` moves only then.
fn confirm_commit(consumer: &BaseConsumer<Ctx>, cp: &Checkpoint) {
    let (confirmed, error) = match held_by_group(consumer, cp, CONFIRM_TIMEOUT) {
        Ok(held) => (held, None),
        Err(e) => (Checkpoint::new(), Some(e.to_string())),
    };
    let sent = to_tpl(cp).map_or(0, |tpl| tpl.count());
    if confirmed.len() < sent {
        tracing::warn!(
            error,
            sent = ?cp,
            confirmed = ?confirmed,
            "the group does not hold (all of) the commit on revoke: it failed or was overtaken; entrastream_committed_offset stays at the last confirmed commit, and the next owner redelivers from what the group holds"
        );
    }
    if !confirmed.is_empty() {
        tracing::debug!(checkpoint = ?confirmed, "commit on revoke confirmed");
        let _ = consumer
            .context()
            .control
            .send(Ok(SourceEvent::Committed(confirmed)));
    }
}

/// The part of `cp` the group holds: each partition whose committed offset, read back from the
/// group coordinator, is exactly the one `cp` commits. This is how the source knows a commit
/// happened: rust-rdkafka's `BaseConsumer` never reports the result of an asynchronous commit
/// (librdkafka posts it only to an `offset_commit_cb`, which it does not set), and a
/// synchronous one waits without a bound inside librdkafka (a commit queued for a coordinator
/// that is gone was seen to wait forever, which also holds the runtime's shutdown). The
/// read-back is sent after the commit and librdkafka serves both in order, so it sees the
/// commit once the coordinator took it; up to [`CONFIRM_ATTEMPTS`] read-backs within `budget`
/// allow for a commit still on its way. Every wait here is bounded by `budget`.
fn held_by_group(
    consumer: &BaseConsumer<Ctx>,
    cp: &Checkpoint,
    budget: Duration,
) -> Result<Checkpoint, KafkaError> {
    let tpl = to_tpl(cp)?;
    let deadline = Instant::now() + budget;
    let mut held = Checkpoint::new();
    let mut last_error = None;
    for attempt in 0..CONFIRM_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match consumer.committed_offsets(tpl.clone(), left) {
            Ok(group) => {
                last_error = None;
                for (p, pos) in cp.iter() {
                    let Some(next) = pos.kafka_commit_offset() else {
                        continue;
                    };
                    let holds = group
                        .find_partition(&p.topic, p.partition)
                        .map(|e| e.offset());
                    if holds == Some(Offset::Offset(next)) {
                        held.set(p.clone(), *pos);
                    }
                }
            }
            Err(e) => last_error = Some(e),
        }
        if held.len() == tpl.count() {
            return Ok(held);
        }
    }
    match last_error {
        Some(e) if held.is_empty() => Err(e),
        _ => Ok(held),
    }
}

/// The pipeline's answer to a revoke, waited for at most `timeout`. `None`: no answer (the
/// pipeline shut down or did not answer in time); the partitions go with the last commit.
fn wait_for_answer(mut rx: oneshot::Receiver<Checkpoint>, timeout: Duration) -> Option<Checkpoint> {
    let deadline = Instant::now() + timeout;
    loop {
        match rx.try_recv() {
            Ok(cp) => return Some(cp),
            Err(oneshot::error::TryRecvError::Closed) => return None,
            Err(oneshot::error::TryRecvError::Empty) if Instant::now() >= deadline => {
                tracing::warn!(
                    timeout_secs = timeout.as_secs(),
                    "the pipeline did not answer a revoke in time; the partitions go with their last periodic commit and the next owner redelivers the rest"
                );
                return None;
            }
            Err(oneshot::error::TryRecvError::Empty) => {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn to_tpl(cp: &Checkpoint) -> Result<TopicPartitionList, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (p, pos) in cp.iter() {
        if let Some(next) = pos.kafka_commit_offset() {
            tpl.add_partition_offset(&p.topic, p.partition, Offset::Offset(next))?;
        }
    }
    Ok(tpl)
}

/// The Kafka source. See the crate docs.
pub struct KafkaSource {
    consumer: Arc<BaseConsumer<Ctx>>,
    messages: mpsc::Receiver<Tagged>,
    control: mpsc::UnboundedReceiver<Event>,
    /// A message taken from the channel but not yet returned (a rebalance event came first).
    stashed: Option<Tagged>,
    shared: Arc<Shared>,
    uncommitted: Arc<Mutex<Uncommitted>>,
    stop: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The [`watchdog`]'s probe thread (a probe waits at most [`watchdog::PROBE_TIMEOUT`]).
    watchdog_thread: Option<JoinHandle<()>>,
    topic: String,
    group: String,
    brokers: String,
    assignment: Arc<Mutex<Vec<PartitionId>>>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Creates the consumer, subscribes and starts the poll thread.
    pub fn start(
        config: &KafkaSourceConfig,
        lag: Option<LagReporter>,
    ) -> Result<Self, SourceError> {
        Self::start_with(config, lag, None)
    }

    /// Like [`KafkaSource::start`], also reporting retention headroom.
    pub fn start_with(
        config: &KafkaSourceConfig,
        lag: Option<LagReporter>,
        retention: Option<RetentionReport>,
    ) -> Result<Self, SourceError> {
        let (tx, rx) = mpsc::channel(HANDOFF_SLOTS);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let closing = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared::default());
        let uncommitted = Arc::new(Mutex::new(Uncommitted::default()));
        let track = retention.is_some();
        let (watchdog, probes) = watchdog::Watchdog::new(watchdog::silence_bound(
            config
                .properties
                .get("fetch.wait.max.ms")
                .map(String::as_str),
        ));
        let ctx = Ctx {
            control: control_tx,
            closing: closing.clone(),
            lag,
            retention,
            assignment: assignment.clone(),
            shared: shared.clone(),
            uncommitted: uncommitted.clone(),
            drain_timeout: config.drain_timeout,
            session_lost: tokio::sync::watch::Sender::new(0),
            to_confirm: Mutex::new(Vec::new()),
            watchdog,
            oauth: config
                .oauth
                .as_ref()
                .map(auth::TokenSource::start)
                .transpose()
                .map_err(|e| SourceError::Fatal(e.to_string()))?,
        };
        let consumer: BaseConsumer<Ctx> = config
            .client_config()
            .create_with_context(ctx)
            .map_err(|e| SourceError::Fatal(format!("kafka consumer: {e}")))?;
        consumer
            .subscribe(&[config.topic.as_str()])
            .map_err(|e| SourceError::Fatal(format!("subscribe to {}: {e}", config.topic)))?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let consumer = consumer.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kafka-poll".into())
                .spawn(move || {
                    PollThread {
                        consumer: &consumer,
                        owner: consumer.clone(),
                        messages: tx,
                        held: VecDeque::new(),
                        full_since: None,
                        track,
                    }
                    .run(&stop)
                })
                .map_err(|e| SourceError::Fatal(format!("poll thread: {e}")))?
        };
        let watchdog_thread = {
            let consumer = Arc::downgrade(&consumer);
            let watchdog_stop = stop.clone();
            std::thread::Builder::new()
                .name("kafka-watchdog".into())
                .spawn(move || watchdog::run(consumer, probes, watchdog_stop))
                .map_err(|e| {
                    // The poll thread is already running: stop it with the source.
                    stop.store(true, Ordering::SeqCst);
                    SourceError::Fatal(format!("watchdog thread: {e}"))
                })?
        };
        Ok(KafkaSource {
            consumer,
            messages: rx,
            control: control_rx,
            stashed: None,
            shared,
            uncommitted,
            stop,
            closing,
            thread: Some(thread),
            watchdog_thread: Some(watchdog_thread),
            topic: config.topic.clone(),
            group: config.consumer_group.clone(),
            brokers: config.brokers.clone(),
            assignment,
        })
    }

    fn stopped() -> SourceError {
        SourceError::Fatal("kafka poll thread stopped".into())
    }

    fn session_lost_error() -> SourceError {
        SourceError::Commit(
            "the consumer group session was lost (no answer from the group coordinator within session.timeout.ms); the partitions are revoked and the next owner redelivers from the last successful commit: check the network path to the broker".into(),
        )
    }
}

/// The poll thread: polls, hands messages over without ever waiting on the pipeline for
/// longer than [`HANDOFF_GRACE`], and serves rebalance callbacks (see [`handoff`]).
struct PollThread<'a> {
    consumer: &'a BaseConsumer<Ctx>,
    /// The same consumer, for the threads that confirm commits on revoke.
    owner: Arc<BaseConsumer<Ctx>>,
    messages: mpsc::Sender<Tagged>,
    /// Polled messages the channel had no room for, oldest first.
    held: VecDeque<Tagged>,
    /// Since when a held message waits for room.
    full_since: Option<Instant>,
    /// Record message timestamps for the retention headroom.
    track: bool,
}

impl PollThread<'_> {
    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            if !self.hand_over() {
                return;
            }
            if !self.held.is_empty() && !self.shared().handoff_paused() {
                let since = *self.full_since.get_or_insert_with(Instant::now);
                let waited = since.elapsed();
                if waited < HANDOFF_GRACE {
                    let messages = &self.messages;
                    self.shared()
                        .wait_for_room(HANDOFF_GRACE - waited, || messages.capacity() > 0);
                    continue;
                }
                match self.shared().handoff_pause(self.consumer) {
                    Ok(()) => tracing::debug!(
                        "the pipeline takes no messages; partitions paused, polling goes on"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "pausing partitions for a full hand-off failed")
                    }
                }
            }
            let polled = self.consumer.poll(POLL_TIMEOUT);
            self.confirm_commits();
            match polled {
                None => {}
                Some(Ok(m)) => {
                    let tagged = self.tag(&m);
                    self.held.push_back(tagged);
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => {
                    let fatal = matches!(
                        e.rdkafka_error_code(),
                        Some(
                            RDKafkaErrorCode::Fatal
                                | RDKafkaErrorCode::Authentication
                                | RDKafkaErrorCode::SaslAuthenticationFailed
                        )
                    );
                    tracing::warn!(error = %e, "kafka poll error");
                    if fatal {
                        let _ = self
                            .consumer
                            .context()
                            .control
                            .send(Err(SourceError::Fatal(e.to_string())));
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    fn shared(&self) -> &Shared {
        &self.consumer.context().shared
    }

    /// Starts the read-back of each commit on revoke sent since the last poll, each on its own
    /// short-lived thread: the read-back waits on the group coordinator, the poll thread never.
    fn confirm_commits(&self) {
        let sent = std::mem::take(&mut *lock(&self.consumer.context().to_confirm));
        for cp in sent {
            let consumer = self.owner.clone();
            let spawned = std::thread::Builder::new()
                .name("kafka-confirm".into())
                .spawn(move || confirm_commit(&consumer, &cp));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot confirm a commit on revoke; entrastream_committed_offset stays at the last confirmed commit");
            }
        }
    }

    /// Hands held messages over, oldest first, as far as the channel has room; drops those
    /// of partitions revoked since they were polled; resumes the partitions this thread
    /// paused once the pipeline has taken half the channel. `false`: the pipeline is gone.
    fn hand_over(&mut self) -> bool {
        let shared = &self.consumer.context().shared;
        self.held.retain(|m| !shared.is_stale(m));
        while let Some(m) = self.held.pop_front() {
            match self.messages.try_send(m) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(m)) => {
                    self.held.push_front(m);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        if self.held.is_empty() {
            self.full_since = None;
            if shared.handoff_paused() && self.messages.capacity() >= HANDOFF_SLOTS / 2 {
                match shared.handoff_resume(self.consumer) {
                    Ok(()) => {
                        tracing::debug!("the pipeline takes messages again; partitions resumed")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "resuming partitions after a full hand-off failed")
                    }
                }
            }
        }
        true
    }

    fn tag(&self, m: &BorrowedMessage<'_>) -> Tagged {
        let timestamp_ms = m.timestamp().to_millis().filter(|ms| *ms >= 0);
        let partition = PartitionId::new(m.topic(), m.partition());
        if self.track {
            lock(&self.consumer.context().uncommitted).polled(&partition, m.offset(), timestamp_ms);
        }
        Tagged {
            message: SourceMessage {
                partition,
                offset: m.offset(),
                sequence_number: None,
                enqueued_time: timestamp_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms as u64)),
                body: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                unreadable: None,
            },
            generation: self.shared().generation(),
        }
    }
}

#[async_trait]
impl Source for KafkaSource {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        loop {
            // Rebalance events first: a revoke must reach the pipeline before any message
            // that would follow it, and then makes older messages of its partitions stale.
            if let Ok(ev) = self.control.try_recv() {
                return ev;
            }
            if let Some(m) = self.stashed.take() {
                if self.shared.is_stale(&m) {
                    continue;
                }
                return Ok(SourceEvent::Message(m.message));
            }
            tokio::select! {
                biased;
                ev = self.control.recv() => return ev.unwrap_or_else(|| Err(Self::stopped())),
                m = self.messages.recv() => match m {
                    Some(m) => {
                        self.shared.took_one();
                        self.stashed = Some(m);
                    }
                    None => {
                        return self.control.try_recv().unwrap_or_else(|_| Err(Self::stopped()));
                    }
                },
            }
        }
    }

    async fn next_rebalance(&mut self) -> Result<SourceEvent, SourceError> {
        self.control
            .recv()
            .await
            .unwrap_or_else(|| Err(Self::stopped()))
    }

    async fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), SourceError> {
        let tpl = to_tpl(checkpoint).map_err(|e| SourceError::Commit(e.to_string()))?;
        if tpl.count() == 0 {
            return Ok(());
        }
        if self.consumer.assignment_lost() {
            return Err(Self::session_lost_error());
        }
        // Asynchronous, then confirmed by reading the group's offsets back (see
        // `held_by_group`): every wait is bounded, and only what the group holds counts.
        self.consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| SourceError::Commit(e.to_string()))?;
        // Subscribed before the read-back starts, so a session lost meanwhile is seen.
        let mut lost = self.consumer.context().session_lost.subscribe();
        let consumer = self.consumer.clone();
        let cp = checkpoint.clone();
        let read_back =
            tokio::task::spawn_blocking(move || held_by_group(&consumer, &cp, CONFIRM_TIMEOUT));
        let held = tokio::select! {
            r = read_back => r
                .map_err(|e| SourceError::Commit(e.to_string()))?
                .map_err(|e| SourceError::Commit(format!("reading the committed offsets back failed: {e}")))?,
            // Behind a silent coordinator the read-back would wait out its budget while
            // librdkafka already revoked the partitions: give up now, so the pipeline answers
            // the revoke (the commit cannot succeed: the group reset this member). The tracker
            // is unchanged, so nothing is lost.
            Ok(()) = lost.changed() => return Err(Self::session_lost_error()),
        };
        if held.len() < tpl.count() {
            return Err(SourceError::Commit(format!(
                "the group holds {} of the {} partitions' offsets just committed (a commit refused, or overtaken by another member after a rebalance); the pipeline commits again at the next interval",
                held.len(),
                tpl.count()
            )));
        }
        let mut uncommitted = lock(&self.uncommitted);
        for (p, pos) in checkpoint.iter() {
            if let Some(next) = pos.kafka_commit_offset() {
                uncommitted.committed(p, next);
            }
        }
        Ok(())
    }

    fn pause(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.shared
            .pipeline_pause(&self.consumer, partitions)
            .map_err(|e| SourceError::Transport(e.to_string()))
    }

    fn resume(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.shared
            .pipeline_resume(&self.consumer, partitions)
            .map_err(|e| SourceError::Transport(e.to_string()))
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        self.closing.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        // A revoke callback waiting for an answer gets `None` once its sender is dropped.
        self.messages.close();
        while self.messages.try_recv().is_ok() {}
        while self.control.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        if let Some(t) = self.watchdog_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    fn describe(&self) -> serde_json::Value {
        let assigned: Vec<String> = lock(&self.assignment)
            .iter()
            .map(ToString::to_string)
            .collect();
        serde_json::json!({
            "kind": "kafka",
            "brokers": self.brokers,
            "topic": self.topic,
            "consumer_group": self.group,
            "assigned": assigned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_broker_config() -> KafkaSourceConfig {
        KafkaSourceConfig::for_brokers("127.0.0.1:9092", "t", "g")
    }

    #[test]
    fn a_dead_broker_connection_is_noticed_within_microsofts_request_timeout_range() {
        let cs = Secret::new(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=K;EntityPath=hub",
        );
        let event_hubs =
            KafkaSourceConfig::from_connection_string(&cs, None, "entrastream".into()).unwrap();
        for cfg in [plain_broker_config(), event_hubs] {
            let c = cfg.client_config();
            let timeout: u64 = c.get("socket.timeout.ms").unwrap().parse().unwrap();
            // Shorter than librdkafka's 60000, inside Microsoft's 30000..60000.
            assert!((30_000..60_000).contains(&timeout), "{timeout}");
            assert_eq!(c.get("socket.keepalive.enable"), Some("true"));
        }
        // Still the user's to change.
        let mut cfg = plain_broker_config();
        cfg.properties
            .insert("socket.timeout.ms".into(), "45000".into());
        assert_eq!(cfg.client_config().get("socket.timeout.ms"), Some("45000"));
    }

    #[test]
    fn tls_connections_probe_the_systems_ca_bundle_unless_told_otherwise() {
        // The vendored OpenSSL's own default CA path is empty on every distribution, so without
        // this no broker certificate verifies (scripts/check-deploy shows it inside the image).
        let none = BTreeMap::new();
        for protocol in ["SASL_SSL", "ssl", "Ssl"] {
            assert_eq!(
                default_ca_location(Some(protocol), &none, false),
                Some("probe")
            );
            // OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR keep working.
            assert_eq!(default_ca_location(Some(protocol), &none, true), None);
        }
        for protocol in [None, Some("plaintext"), Some("SASL_PLAINTEXT")] {
            assert_eq!(default_ca_location(protocol, &none, false), None);
        }
        let chosen = BTreeMap::from([("ssl.ca.location".to_string(), "/ca.pem".to_string())]);
        assert_eq!(default_ca_location(Some("ssl"), &chosen, false), None);

        // And the Event Hubs endpoint's config carries it (or the operator's choice).
        let cs = Secret::new(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=K;EntityPath=hub",
        );
        let mut event_hubs =
            KafkaSourceConfig::from_connection_string(&cs, None, "entrastream".into()).unwrap();
        let expected = (!openssl_ca_env_is_set()).then_some("probe");
        assert_eq!(event_hubs.client_config().get("ssl.ca.location"), expected);
        event_hubs.properties = chosen;
        assert_eq!(
            event_hubs.client_config().get("ssl.ca.location"),
            Some("/ca.pem")
        );
    }

    #[test]
    fn event_hubs_config_has_the_recommended_settings_and_no_auto_commit() {
        let cs = Secret::new(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRETKEY;EntityPath=hub",
        );
        let mut cfg =
            KafkaSourceConfig::from_connection_string(&cs, None, "entrastream".into()).unwrap();
        cfg.properties
            .insert("fetch.wait.max.ms".into(), "250".into());
        let c = cfg.client_config();
        assert_eq!(
            c.get("bootstrap.servers"),
            Some("ns.servicebus.windows.net:9093")
        );
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("sasl.mechanism"), Some("PLAIN"));
        assert_eq!(c.get("sasl.username"), Some("$ConnectionString"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("metadata.max.age.ms"), Some("180000"));
        assert_eq!(c.get("fetch.wait.max.ms"), Some("250"));
        assert_eq!(c.get("queued.max.messages.kbytes"), Some("16384"));
        assert_eq!(
            c.get("fetch.queue.backoff.ms"),
            Some(FETCH_QUEUE_BACKOFF_MS)
        );
        assert_eq!(cfg.topic, "hub");
        assert!(!format!("{cfg:?}").contains("SECRETKEY"));
    }

    /// A connection string without EntityPath and no topic: a typed error with the message
    /// check-config prints under `source.connection_string`, and never the key.
    #[test]
    fn connection_string_without_a_hub_is_a_typed_error() {
        let cs = Secret::new(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=SECRETKEY",
        );
        let e = KafkaSourceConfig::from_connection_string(&cs, None, "g".into()).unwrap_err();
        assert_eq!(e, connection_string::ConnectionStringError::MissingTopic);
        assert_eq!(e.code(), "missing_topic");
        assert_eq!(
            e.to_string(),
            "connection string has no EntityPath and no topic is set"
        );
        let cfg = KafkaSourceConfig::from_connection_string(&cs, Some("hub".into()), "g".into());
        assert_eq!(cfg.map(|c| c.topic).ok().as_deref(), Some("hub"));
    }
}
