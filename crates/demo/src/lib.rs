//! `entrastream demo`: an embedded hub, generated Entra traffic with some malformed messages,
//! and the same pipeline as `entrastream run` writing `records.ndjson` and
//! `dead-letter.ndjson`. The hub is a Kafka-protocol broker (librdkafka's mock cluster) or,
//! with `--source amqp`, the in-repo Event Hubs AMQP peer read through the official SDK client
//! with file checkpoints.
//!
//! Key decision: this crate is test support and lives outside the daemon. The binary links it
//! only with its default `demo` feature; the container image's build (`--no-default-features`)
//! links neither this crate nor the Event Hubs peer (and its AMQP acceptor), and `scripts/test`
//! checks that with `cargo tree`.
#![forbid(unsafe_code)]

pub mod summary;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_config::{Config, Env, SinkKind, SourceConfig};
use entrastream_generator::{Generator, GeneratorConfig, poison_message};
use entrastream_pipeline::{Progress, SinkSlot};
use entrastream_sink::CategoryFilter;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use entrastream_app::{AppError, Hooks};

use crate::summary::ReportTap;

/// The demo's built-in configuration.
pub const DEMO_CONFIG: &str = include_str!("../../../config/demo.toml");

/// Why the demo could not run. The messages are the ones the demo printed before it moved
/// out of `entrastream-app` ("demo: ..."); configuration errors keep their own type so that
/// the binary can exit with 2 for them, as `run` does.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The daemon (configuration, sinks, source, pipeline) failed.
    #[error(transparent)]
    App(#[from] AppError),
    /// librdkafka's mock cluster did not start.
    #[error("demo: embedded broker: {0}")]
    Broker(rdkafka::error::KafkaError),
    /// The mock cluster refused the demo topic.
    #[error("demo: create topic: {0}")]
    CreateTopic(rdkafka::error::KafkaError),
    /// The mock cluster's thread could not be spawned, or died before it reported.
    #[error("demo: {0}")]
    BrokerThread(String),
    /// The in-repo Event Hubs peer did not start.
    #[error("demo: embedded Event Hubs peer: {0}")]
    Peer(String),
    /// The traffic generator refused its configuration.
    #[error("demo: {0}")]
    Generator(String),
    /// The demo's Kafka producer failed (`step`: producer, produce, flush).
    #[error("demo: {step}: {error}")]
    Produce {
        /// Which step.
        step: &'static str,
        /// librdkafka's error.
        error: rdkafka::error::KafkaError,
    },
    /// The output directory could not be created.
    #[error("demo: cannot create {path}: {error}")]
    OutputDir {
        /// The `--out` directory.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The producer task panicked or was cancelled.
    #[error("demo: {0}")]
    ProducerTask(tokio::task::JoinError),
    /// The pipeline ended (or the 10-minute deadline passed) before everything was consumed.
    #[error("demo: pipeline stopped before consuming everything")]
    Stopped,
}

impl From<entrastream_config::ConfigError> for DemoError {
    fn from(e: entrastream_config::ConfigError) -> Self {
        DemoError::App(AppError::Config(e))
    }
}

/// Which source the demo runs through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoSource {
    /// The Kafka endpoint path (embedded mock broker).
    #[default]
    Kafka,
    /// The AMQP path (embedded Event Hubs peer, file checkpoint store).
    Amqp,
}

/// Command-line options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Which source.
    pub source: DemoSource,
    /// Generated records (not counting malformed messages).
    pub events: u64,
    /// Partitions of the embedded topic.
    pub partitions: i32,
    /// Malformed messages mixed in.
    pub poison: usize,
    /// Output directory.
    pub out: PathBuf,
    /// A user config whose sinks, dead_letter and admin replace the defaults.
    pub config: Option<Config>,
    /// Generator seed.
    pub seed: u64,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress_bar: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            source: DemoSource::Kafka,
            events: 100_000,
            partitions: 4,
            poison: 10,
            out: PathBuf::from("entrastream-demo"),
            config: None,
            seed: 42,
            progress_bar: true,
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Records delivered to every sink.
    pub delivered: u64,
    /// Dead-letter entries.
    pub dead_lettered: u64,
    /// Messages with at least one dead-letter entry (distinct partition and offset): the
    /// count the last line prints, since one message may yield several entries.
    pub dead_lettered_messages: u64,
    /// Partitions with a committed offset.
    pub committed_partitions: usize,
    /// The full text printed (summary + last line).
    pub text: String,
}

/// Keeps the mock cluster alive on its own thread (it is not `Send`) until dropped.
struct EmbeddedBroker {
    bootstrap: String,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedBroker {
    fn start(topic: &str, partitions: i32) -> Result<Self, DemoError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let topic = topic.to_string();
        let thread = std::thread::Builder::new()
            .name("demo-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(1) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(DemoError::Broker(e)));
                        return;
                    }
                };
                if let Err(e) = cluster.create_topic(&topic, partitions, 1) {
                    let _ = ready_tx.send(Err(DemoError::CreateTopic(e)));
                    return;
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                let _ = stop_rx.recv();
                drop(cluster);
            })
            .map_err(|e| DemoError::BrokerThread(e.to_string()))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| DemoError::BrokerThread("embedded broker thread died".into()))??;
        Ok(EmbeddedBroker {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The demo's hub: either embedded broker, or the AMQP peer on its own runtime thread.
enum EmbeddedHub {
    Kafka(EmbeddedBroker),
    Amqp {
        peer: entrastream_eventhubs_peer::EventHubsPeer,
    },
}

impl EmbeddedHub {
    async fn start(opts: &DemoOptions, topic: &str) -> Result<Self, DemoError> {
        match opts.source {
            DemoSource::Kafka => Ok(EmbeddedHub::Kafka(EmbeddedBroker::start(
                topic,
                opts.partitions.max(1),
            )?)),
            DemoSource::Amqp => {
                let partitions = u32::try_from(opts.partitions.max(1)).unwrap_or(1);
                let peer = entrastream_eventhubs_peer::EventHubsPeer::start(
                    entrastream_eventhubs_peer::PeerConfig::single_hub(topic, partitions),
                )
                .await
                .map_err(|e| DemoError::Peer(e.to_string()))?;
                Ok(EmbeddedHub::Amqp { peer })
            }
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            EmbeddedHub::Kafka(_) => "an embedded Kafka-protocol broker",
            EmbeddedHub::Amqp { .. } => "an embedded Event Hubs AMQP peer",
        }
    }
}

/// Counts delivery reports so the demo knows exactly what the broker holds.
#[derive(Debug, Default)]
struct DeliveryCounter {
    ok: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for DeliveryCounter {}

impl rdkafka::producer::ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut f) = self.first_error.lock() {
                    f.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

struct Produced {
    messages: u64,
    records: u64,
    bytes: u64,
}

/// Produces `events` generated records in envelopes plus `poison` malformed messages.
/// librdkafka's mock broker keeps only a few MiB per partition and drops older data, so the
/// producer stays at most this many bytes per partition ahead of the pipeline.
const MAX_BACKLOG_PER_PARTITION: u64 = 2 << 20;

/// Appends to the AMQP peer: same traffic, same backlog bound as the Kafka producer.
fn produce_amqp(
    peer: &entrastream_eventhubs_peer::EventHubsPeer,
    topic: &str,
    opts: &DemoOptions,
    consumed: &Progress,
) -> Result<Produced, DemoError> {
    let parts = opts.partitions.max(1);
    let mut produced = Produced {
        messages: 0,
        records: 0,
        bytes: 0,
    };
    let send = |payload: &[u8], partition: i32, produced: &mut Produced| {
        let limit = MAX_BACKLOG_PER_PARTITION * parts as u64;
        while produced
            .bytes
            .saturating_sub(consumed.bytes_in.load(Ordering::Relaxed))
            > limit
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        peer.append(topic, &partition.to_string(), payload.to_vec());
        produced.messages += 1;
        produced.bytes += payload.len() as u64;
    };
    generate(opts, &mut produced, &mut |payload, partition, produced| {
        send(payload, partition, produced);
        Ok(())
    })?;
    Ok(produced)
}

/// Hands one message body to the embedded hub: (body, partition, running totals).
type SendFn<'a> = dyn FnMut(&[u8], i32, &mut Produced) -> Result<(), DemoError> + 'a;

/// Generates the demo traffic (records in envelopes, poison spread evenly) into `send`.
fn generate(
    opts: &DemoOptions,
    produced: &mut Produced,
    send: &mut SendFn<'_>,
) -> Result<(), DemoError> {
    let mut generator = Generator::new(GeneratorConfig {
        seed: opts.seed,
        ..Default::default()
    })
    .map_err(|e| DemoError::Generator(e.to_string()))?;
    let parts = opts.partitions.max(1);
    let mut buf = Vec::new();
    let mut envelope = 0u64;
    let mut poison_sent = 0usize;
    // Roughly how many envelopes the run will have, to spread the poison evenly.
    let expected_envelopes = (opts.events / 25).max(1);
    let poison_every = (expected_envelopes / (opts.poison as u64 + 1)).max(1);
    while produced.records < opts.events {
        buf.clear();
        let remaining = (opts.events - produced.records) as usize;
        let info = if remaining < 50 {
            generator.next_envelope_with(remaining, &mut buf)
        } else {
            generator.next_envelope(&mut buf)
        };
        if info.records as u64 > opts.events - produced.records {
            // never overshoot the requested count
            buf.clear();
            let info = generator.next_envelope_with(remaining, &mut buf);
            produced.records += info.records as u64;
        } else {
            produced.records += info.records as u64;
        }
        send(&buf, (envelope % parts as u64) as i32, produced)?;
        envelope += 1;
        if poison_sent < opts.poison && envelope.is_multiple_of(poison_every) {
            buf.clear();
            poison_message(poison_sent, &mut buf);
            send(&buf, (poison_sent % parts as usize) as i32, produced)?;
            poison_sent += 1;
        }
    }
    while poison_sent < opts.poison {
        buf.clear();
        poison_message(poison_sent, &mut buf);
        send(&buf, (poison_sent % parts as usize) as i32, produced)?;
        poison_sent += 1;
    }
    Ok(())
}

fn produce(
    bootstrap: &str,
    topic: &str,
    opts: &DemoOptions,
    consumed: &Progress,
) -> Result<Produced, DemoError> {
    let producer: BaseProducer<DeliveryCounter> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(DeliveryCounter::default())
        .map_err(|error| DemoError::Produce {
            step: "producer",
            error,
        })?;
    let parts = opts.partitions.max(1);
    let mut produced = Produced {
        messages: 0,
        records: 0,
        bytes: 0,
    };
    let mut send =
        |payload: &[u8], partition: i32, produced: &mut Produced| -> Result<(), DemoError> {
            loop {
                match producer.send(
                    BaseRecord::<(), [u8]>::to(topic)
                        .partition(partition)
                        .payload(payload),
                ) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        _,
                    )) => {
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((error, _)) => {
                        return Err(DemoError::Produce {
                            step: "produce",
                            error,
                        });
                    }
                }
            }
            produced.messages += 1;
            let limit = MAX_BACKLOG_PER_PARTITION * parts as u64;
            while produced
                .bytes
                .saturating_sub(consumed.bytes_in.load(Ordering::Relaxed))
                > limit
            {
                producer.poll(Duration::from_millis(1));
            }
            produced.bytes += payload.len() as u64;
            producer.poll(Duration::ZERO);
            Ok(())
        };
    generate(opts, &mut produced, &mut send)?;
    producer
        .flush(Duration::from_secs(60))
        .map_err(|error| DemoError::Produce {
            step: "flush",
            error,
        })?;
    Ok(produced)
}

fn under(out: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        out.join(p)
    }
}

/// The effective demo configuration.
fn demo_config(opts: &DemoOptions, hub: &EmbeddedHub, topic: &str) -> Result<Config, DemoError> {
    // ENTRASTREAM__… overrides apply to the demo too (e.g. librdkafka properties).
    let mut config = Config::from_str(DEMO_CONFIG, false, &Env::from_process())?;
    match hub {
        EmbeddedHub::Kafka(broker) => {
            if let Some(SourceConfig::Kafka(src)) = config.source.as_mut() {
                src.brokers = Some(broker.bootstrap.clone());
            }
        }
        EmbeddedHub::Amqp { peer } => {
            // The demo's [source] section, swapped for the AMQP source on the peer, plus a
            // file checkpoint store in the output directory.
            let source_start = DEMO_CONFIG.find("[source]").unwrap_or(0);
            let source_end = DEMO_CONFIG.find("[pipeline]").unwrap_or(DEMO_CONFIG.len());
            let text = format!(
                "{}[source]\ntype = \"amqp\"\nconnection_string = {:?}\ncustom_endpoint = {:?}\nstart_position = \"earliest\"\nproperties_interval = \"2s\"\n\n{}\n[checkpoint]\ntype = \"file\"\npath = {:?}\n",
                &DEMO_CONFIG[..source_start],
                peer.connection_string(topic),
                peer.endpoint(),
                &DEMO_CONFIG[source_end..],
                opts.out.join("checkpoints").display().to_string()
            );
            config = Config::from_str(&text, false, &Env::from_process())?;
        }
    }
    for s in &mut config.sinks {
        if let SinkKind::File(f) = &mut s.kind {
            f.path = under(&opts.out, &f.path);
        }
    }
    if let Some(d) = config.dead_letter.as_mut() {
        d.path = under(&opts.out, &d.path);
    }
    if let Some(user) = &opts.config {
        config.sinks = user.sinks.clone();
        if user.dead_letter.is_some()
            || user
                .sinks
                .iter()
                .any(|s| matches!(s.kind, SinkKind::DeadLetter(_)))
        {
            config.dead_letter = user.dead_letter.clone();
        }
        config.admin = user.admin.clone();
    }
    Ok(config)
}

/// Runs the demo and prints its summary to stdout. Returns the counts for tests.
pub async fn run(opts: DemoOptions) -> Result<DemoReport, DemoError> {
    let topic = "entra-demo";
    std::fs::create_dir_all(&opts.out).map_err(|error| DemoError::OutputDir {
        path: opts.out.display().to_string(),
        error,
    })?;
    if opts.config.is_none() {
        // A fresh run: the default files hold exactly this run's output.
        for f in ["records.ndjson", "dead-letter.ndjson"] {
            let _ = std::fs::remove_file(opts.out.join(f));
        }
    }
    let hub = EmbeddedHub::start(&opts, topic).await?;
    if matches!(hub, EmbeddedHub::Amqp { .. }) && opts.config.is_none() {
        // A fresh run starts without checkpoints, as the Kafka demo starts a fresh broker.
        let _ = std::fs::remove_dir_all(opts.out.join("checkpoints"));
    }
    let config = demo_config(&opts, &hub, topic)?;
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "entrastream demo: producing {} records (+{} malformed messages) across {} partitions into {}",
        opts.events,
        opts.poison,
        opts.partitions,
        hub.describe()
    );
    let tally = ReportTap::default();
    let hooks = Hooks {
        wrap_sink: None,
        extra_sinks: vec![SinkSlot {
            sink: Box::new(tally.clone()),
            filter: CategoryFilter::new(None),
        }],
    };
    let started = Instant::now();
    let running = entrastream_app::start(&config, &Env::default(), hooks).await?;
    if let Some(addr) = running.admin_addr {
        let _ = writeln!(stdout, "admin server: http://{addr}/metrics");
    }
    // Produce while the pipeline consumes (see MAX_BACKLOG_PER_PARTITION).
    let producer = {
        let opts = opts.clone();
        let progress = running.progress.clone();
        match &hub {
            EmbeddedHub::Kafka(broker) => {
                let bootstrap = broker.bootstrap.clone();
                tokio::task::spawn_blocking(move || produce(&bootstrap, topic, &opts, &progress))
            }
            EmbeddedHub::Amqp { peer } => {
                let peer = peer.clone();
                tokio::task::spawn_blocking(move || produce_amqp(&peer, topic, &opts, &progress))
            }
        }
    };
    let bar = if opts.progress_bar {
        let bar = indicatif::ProgressBar::new(opts.events);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let mut producer = Some(producer);
    let mut produced: Option<Produced> = None;
    let progress = running.progress.clone();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if producer.as_ref().is_some_and(|p| p.is_finished())
            && let Some(p) = producer.take()
        {
            match p.await {
                Ok(Ok(p)) => produced = Some(p),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(DemoError::ProducerTask(e)),
            }
        }
        let done = progress.messages_done.load(Ordering::Relaxed);
        if let Some(bar) = &bar {
            let records = progress.records_done.load(Ordering::Relaxed);
            bar.set_position(records.min(opts.events));
            bar.set_message(format!("{done} messages"));
        }
        if produced.as_ref().is_some_and(|p| done >= p.messages) {
            break;
        }
        if running.is_finished() || Instant::now() > deadline {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            let r = running.wait().await;
            return Err(r.err().map_or(DemoError::Stopped, DemoError::App));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    let produced = produced.unwrap_or(Produced {
        messages: 0,
        records: 0,
        bytes: 0,
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let summary = running.stop().await?;
    drop(hub);
    let delivered = progress.records_done.load(Ordering::Relaxed);
    let dead_lettered = progress.dead_lettered.load(Ordering::Relaxed);
    let dead_lettered_messages = progress.dead_lettered_messages.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut text = String::new();
    text.push_str(&tally.encoder.render());
    text.push('\n');
    text.push_str(&format!(
        "Throughput: {:.0} records/s, {:.1} MB/s ({} messages, {:.1} MB in {:.2} s, produced and consumed concurrently, broker to fsynced file)\n",
        delivered as f64 / secs,
        produced.bytes as f64 / 1e6 / secs,
        produced.messages,
        produced.bytes as f64 / 1e6,
        secs
    ));
    text.push_str("Committed offsets:");
    for (p, pos) in summary.committed.iter() {
        text.push_str(&format!(
            " {}={}",
            p.partition,
            pos.kafka_commit_offset().unwrap_or(0)
        ));
    }
    text.push('\n');
    if opts.config.is_none() {
        text.push_str(&format!(
            "Output: {} and {}\n",
            opts.out.join("records.ndjson").display(),
            opts.out.join("dead-letter.ndjson").display()
        ));
    }
    let committed_partitions = summary.committed.len();
    text.push_str(&format!(
        "delivered {delivered} records, dead-lettered {dead_lettered_messages} messages, committed {committed_partitions} partitions"
    ));
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
    Ok(DemoReport {
        delivered,
        dead_lettered,
        dead_lettered_messages,
        committed_partitions,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a 3,000-record demo through `source` and checks what the issue promises: every
    /// record in records.ndjson, the poison in dead-letter.ndjson, all partitions committed,
    /// and the exact last line. Returns the output directory for source-specific checks.
    async fn small_demo(source: DemoSource) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let opts = DemoOptions {
            source,
            events: 3000,
            partitions: 3,
            poison: 8,
            out: dir.path().to_path_buf(),
            progress_bar: false,
            ..Default::default()
        };
        let report = run(opts).await.unwrap();
        let records = std::fs::read_to_string(dir.path().join("records.ndjson")).unwrap();
        assert_eq!(records.lines().count() as u64, report.delivered);
        assert!(report.delivered >= 3000);
        let dl = std::fs::read_to_string(dir.path().join("dead-letter.ndjson")).unwrap();
        assert_eq!(dl.lines().count() as u64, report.dead_lettered);
        assert!(report.dead_lettered >= 8, "{dl}");
        assert_eq!(report.committed_partitions, 3);
        // The last line counts messages, not entries: one poison message can yield two.
        let distinct: std::collections::HashSet<(i64, i64)> = dl
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["partition"].as_i64().unwrap(),
                    v["offset"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(distinct.len(), 8, "{dl}");
        assert_eq!(report.dead_lettered_messages, 8);
        let last = report.text.lines().last().unwrap();
        assert_eq!(
            last,
            format!(
                "delivered {} records, dead-lettered {} messages, committed 3 partitions",
                report.delivered, report.dead_lettered_messages
            )
        );
        dir
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_demo_delivers_everything() {
        small_demo(DemoSource::Kafka).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_amqp_demo_delivers_everything() {
        let dir = small_demo(DemoSource::Amqp).await;
        // The checkpoints are in the Azure SDK layout, one per partition.
        assert!(
            dir.path().join("checkpoints").exists(),
            "no checkpoint directory"
        );
    }
}
