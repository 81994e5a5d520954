//! The Kafka-protocol source: a consumer group on any Kafka broker or on the Event Hubs Kafka
//! endpoint, with offsets committed only from the pipeline's acknowledged watermark.
//!
//! Design decision: librdkafka is driven by one dedicated OS thread that polls a
//! `BaseConsumer` and forwards messages and rebalances over a bounded channel. Rebalance
//! callbacks run on that thread, so on *revoke* the thread can block: it hands the pipeline the
//! revoked partitions, waits for their drained watermark, and commits it synchronously *before*
//! librdkafka gives the partitions away (the next owner resumes exactly there). Nothing is ever
//! auto-committed or auto-stored (`enable.auto.commit=false`, `enable.auto.offset.store=false`).
//! On *assign*, the committed offsets are read back and reported, so the pipeline's tracker
//! starts from what the group holds.
#![forbid(unsafe_code)]

pub mod connection_string;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_model::{Checkpoint, PartitionId, Position, SourceMessage, StartPosition};
use entrastream_secret::Secret;
use entrastream_source::{Source, SourceError, SourceEvent};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

/// Microsoft's recommended librdkafka consumer settings for the Event Hubs Kafka endpoint,
/// applied when the source is configured from a connection string (users may override any of
/// them in `[source.properties]`). Source: azure-event-hubs-for-kafka `CONFIGURATION.md`.
pub const EVENT_HUBS_DEFAULTS: &[(&str, &str)] = &[
    // Azure's load balancer silently drops TCP connections idle for more than 240 s.
    ("socket.keepalive.enable", "true"),
    ("metadata.max.age.ms", "180000"),
    ("connections.max.idle.ms", "180000"),
    // The service needs at least 20 s per request; librdkafka's default can be too short.
    ("socket.timeout.ms", "60000"),
    ("session.timeout.ms", "30000"),
    ("heartbeat.interval.ms", "3000"),
    ("max.poll.interval.ms", "300000"),
];

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
}

impl KafkaSourceConfig {
    /// Settings for the Event Hubs Kafka endpoint from a connection string. `topic` overrides
    /// the string's `EntityPath`; one of the two is required.
    pub fn from_connection_string(
        cs: &Secret,
        topic: Option<String>,
        consumer_group: String,
    ) -> Result<Self, String> {
        let ep = connection_string::parse(cs).map_err(|e| e.to_string())?;
        let topic = topic
            .or(ep.topic)
            .ok_or("connection string has no EntityPath and no topic is set")?;
        Ok(KafkaSourceConfig {
            brokers: ep.bootstrap,
            topic,
            consumer_group,
            start_position: StartPosition::Earliest,
            security_protocol: Some("SASL_SSL".into()),
            sasl_mechanism: Some("PLAIN".into()),
            sasl_username: Some("$ConnectionString".into()),
            sasl_password: Some(ep.password),
            event_hubs_defaults: true,
            properties: BTreeMap::new(),
            drain_timeout: Duration::from_secs(10),
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

/// Called with (topic, partition, lag in messages) from librdkafka statistics.
pub type LagReporter = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

type Event = Result<SourceEvent, SourceError>;

struct Ctx {
    events: mpsc::Sender<Event>,
    closing: Arc<AtomicBool>,
    lag: Option<LagReporter>,
    assignment: Arc<Mutex<Vec<PartitionId>>>,
}

impl ClientContext for Ctx {
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
        let Some(lag) = &self.lag else { return };
        for (topic, t) in &statistics.topics {
            for (p, ps) in &t.partitions {
                if *p >= 0 && ps.consumer_lag >= 0 {
                    lag(topic, *p, ps.consumer_lag);
                }
            }
        }
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
        if let Ok(mut a) = self.assignment.lock() {
            a.clear();
        }
        if self.closing.load(Ordering::SeqCst) {
            // Shutdown: the pipeline already committed its final watermark.
            return;
        }
        let partitions: Vec<PartitionId> = tpl
            .elements()
            .iter()
            .map(|e| PartitionId::new(e.topic(), e.partition()))
            .collect();
        if partitions.is_empty() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        if self
            .events
            .blocking_send(Ok(SourceEvent::Revoked {
                partitions,
                drained: tx,
            }))
            .is_err()
        {
            return;
        }
        // The pipeline answers within its drain timeout (or drops the sender on shutdown).
        let Ok(cp) = rx.blocking_recv() else { return };
        if cp.is_empty() {
            return;
        }
        match to_tpl(&cp) {
            Ok(commit) => match consumer.commit(&commit, CommitMode::Sync) {
                Ok(()) => tracing::info!(checkpoint = ?cp, "committed on revoke"),
                Err(e) => {
                    tracing::warn!(error = %e, checkpoint = ?cp, "commit on revoke failed; the next owner may redeliver")
                }
            },
            Err(e) => tracing::warn!(error = %e, "bad checkpoint on revoke"),
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
        if let Ok(mut a) = self.assignment.lock() {
            *a = parts.iter().map(|(p, _)| p.clone()).collect();
        }
        let _ = self.events.blocking_send(Ok(SourceEvent::Assigned(parts)));
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

fn partitions_tpl(topic_parts: &[PartitionId]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in topic_parts {
        tpl.add_partition(&p.topic, p.partition);
    }
    tpl
}

/// The Kafka source. See the crate docs.
pub struct KafkaSource {
    consumer: Arc<BaseConsumer<Ctx>>,
    events: mpsc::Receiver<Event>,
    stop: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
        // Small on purpose: what sits here is not yet counted against the byte budget.
        let (tx, rx) = mpsc::channel(64);
        let closing = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let ctx = Ctx {
            events: tx.clone(),
            closing: closing.clone(),
            lag,
            assignment: assignment.clone(),
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
                .spawn(move || poll_loop(&consumer, &tx, &stop))
                .map_err(|e| SourceError::Fatal(format!("poll thread: {e}")))?
        };
        Ok(KafkaSource {
            consumer,
            events: rx,
            stop,
            closing,
            thread: Some(thread),
            topic: config.topic.clone(),
            group: config.consumer_group.clone(),
            brokers: config.brokers.clone(),
            assignment,
        })
    }
}

fn poll_loop(consumer: &BaseConsumer<Ctx>, tx: &mpsc::Sender<Event>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                let enqueued_time = m
                    .timestamp()
                    .to_millis()
                    .filter(|ms| *ms >= 0)
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms as u64));
                let msg = SourceMessage {
                    partition: PartitionId::new(m.topic(), m.partition()),
                    offset: m.offset(),
                    sequence_number: None,
                    enqueued_time,
                    body: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                    unreadable: None,
                };
                if tx.blocking_send(Ok(SourceEvent::Message(msg))).is_err() {
                    break;
                }
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
                    let _ = tx.blocking_send(Err(SourceError::Fatal(e.to_string())));
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[async_trait]
impl Source for KafkaSource {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        match self.events.recv().await {
            Some(ev) => ev,
            None => Err(SourceError::Fatal("kafka poll thread stopped".into())),
        }
    }

    async fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), SourceError> {
        let tpl = to_tpl(checkpoint).map_err(|e| SourceError::Commit(e.to_string()))?;
        if tpl.count() == 0 {
            return Ok(());
        }
        let consumer = self.consumer.clone();
        let result = tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
            .await
            .map_err(|e| SourceError::Commit(e.to_string()))?;
        match result {
            Ok(()) => Ok(()),
            // Nothing new to commit is not a failure.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(SourceError::Commit(e.to_string())),
        }
    }

    fn pause(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.consumer
            .pause(&partitions_tpl(partitions))
            .map_err(|e| SourceError::Transport(e.to_string()))
    }

    fn resume(&mut self, partitions: &[PartitionId]) -> Result<(), SourceError> {
        if partitions.is_empty() {
            return Ok(());
        }
        self.consumer
            .resume(&partitions_tpl(partitions))
            .map_err(|e| SourceError::Transport(e.to_string()))
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        self.closing.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        // Unblock a poll thread waiting on a full channel.
        self.events.close();
        while self.events.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    fn describe(&self) -> serde_json::Value {
        let assigned: Vec<String> = self
            .assignment
            .lock()
            .map(|a| a.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
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
}
