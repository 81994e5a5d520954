//! The composition root: turns a validated [`Config`] into a running daemon (Kafka source,
//! sinks, pipeline, admin server) and back into a summary on shutdown. The zero-setup demo
//! (crate `entrastream-demo`) runs the very same [`start`] against an embedded broker.
//!
//! Design decision: the binary only parses the command line, waits for signals and maps
//! errors to exit codes; everything else is a library call here, so integration tests run the
//! whole daemon in-process (or in a child process they can `kill -9`) with the same code path.
#![forbid(unsafe_code)]

pub mod amqp;
mod buffers;
pub mod siem;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use entrastream_config::{Config, ConfigError, Env, SourceConfig};
use entrastream_pipeline::{PipelineConfig, PipelineError, Progress, RunSummary, SinkSlot};
use entrastream_report::IamMetrics;
use entrastream_sink::{CategoryFilter, RecordObserver, Sink};
use entrastream_sink_file::FileSink;
use entrastream_source::Source;
use entrastream_source_kafka::{KafkaSource, KafkaSourceConfig, RetentionReport};
use entrastream_telemetry::{Health, Metrics};
use tokio::sync::watch;

pub use entrastream_config as config;

/// Errors of the daemon's life cycle.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The configuration is invalid (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The admin server could not bind.
    #[error("admin server cannot listen on {addr}: {error}")]
    AdminBind {
        /// The configured address.
        addr: String,
        /// Why.
        error: std::io::Error,
    },
    /// The source could not start.
    #[error("source: {0}")]
    Source(String),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A sink's disk buffer could not be opened.
    #[error("sink `{sink}`: {error}")]
    Buffer {
        /// The sink's name.
        sink: String,
        /// Why (names the directory and what to check).
        error: entrastream_buffer::OpenError,
    },
}

/// Wraps a built sink (fault injection in tests).
pub type SinkWrapper = Box<dyn Fn(Box<dyn Sink>) -> Box<dyn Sink> + Send>;

/// Test hooks: wrap each configured sink (fault injection in integration tests).
#[derive(Default)]
pub struct Hooks {
    /// Called once per `[[sinks]]` entry with the built sink.
    pub wrap_sink: Option<SinkWrapper>,
    /// Extra sinks added after the configured ones (the demo's summary tap).
    pub extra_sinks: Vec<SinkSlot>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("wrap_sink", &self.wrap_sink.is_some())
            .finish_non_exhaustive()
    }
}

/// A running daemon.
#[derive(Debug)]
pub struct Running {
    /// Live counters.
    pub progress: Arc<Progress>,
    /// The metrics registry.
    pub metrics: Metrics,
    /// Readiness state.
    pub health: Health,
    /// Where the admin server listens (None when disabled).
    pub admin_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    pipeline: tokio::task::JoinHandle<Result<RunSummary, PipelineError>>,
}

impl Running {
    /// Asks the daemon to stop (drain, commit) without waiting.
    pub fn request_stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// True once the pipeline task ended (by itself or after a stop).
    pub fn is_finished(&self) -> bool {
        self.pipeline.is_finished()
    }

    /// Stops (if not stopping already) and waits for the final summary.
    pub async fn stop(self) -> Result<RunSummary, AppError> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits for the pipeline to end (e.g. after a fatal source error or a stop request).
    pub async fn wait(self) -> Result<RunSummary, AppError> {
        let result = match self.pipeline.await {
            Ok(r) => r.map_err(AppError::from),
            Err(e) => Err(AppError::Source(format!("pipeline task failed: {e}"))),
        };
        let _ = self.shutdown.send(true);
        result
    }
}

/// The pipeline tuning from the `[pipeline]` section.
pub fn pipeline_config(config: &Config) -> PipelineConfig {
    let p = &config.pipeline;
    PipelineConfig {
        checkpoint_interval: p.checkpoint_interval.0,
        drain_timeout: p.drain_timeout.0,
        shutdown_timeout: p.shutdown_timeout.0,
        max_in_flight_bytes: usize::try_from(p.max_in_flight_bytes.0).unwrap_or(usize::MAX),
        batch_max_bytes: usize::try_from(p.batch_max_bytes.0).unwrap_or(usize::MAX),
        batch_linger: p.batch_linger.0,
        retry_initial: p.retry_initial.0,
        retry_max: p.retry_max.0,
        observers: Vec::new(),
        parse_threads: match p.parse_threads {
            entrastream_config::ParseThreads::Auto => None,
            entrastream_config::ParseThreads::Count(n) => Some(n),
        },
        ..PipelineConfig::default()
    }
}

/// Builds the configured sinks and the dead-letter sink.
pub fn build_sinks(config: &Config) -> Result<(Vec<SinkSlot>, Box<dyn Sink>), ConfigError> {
    build_sinks_with(config, None)
}

/// [`build_sinks`], exporting the network sinks' protocol metrics through `metrics`.
pub fn build_sinks_with(
    config: &Config,
    metrics: Option<&Metrics>,
) -> Result<(Vec<SinkSlot>, Box<dyn Sink>), ConfigError> {
    let mut slots = Vec::new();
    let mut dead_letter: Option<Box<dyn Sink>> = config.dead_letter.as_ref().map(|d| {
        Box::new(FileSink::from_dead_letter(
            d,
            metrics.map(|m| m.file_rotated_files_removed("dead_letter")),
        )) as Box<dyn Sink>
    });
    for s in &config.sinks {
        match siem::build_sink(config, s, metrics)? {
            siem::Built::Sink(sink) => slots.push(SinkSlot {
                sink,
                filter: CategoryFilter::new(s.categories.clone()),
            }),
            siem::Built::DeadLetter(sink) => dead_letter = Some(sink),
        }
    }
    let dead_letter = dead_letter.ok_or_else(|| ConfigError {
        path: "dead_letter".into(),
        message: "missing section [dead_letter] (where records that cannot be delivered go)".into(),
    })?;
    if slots.is_empty() {
        return Err(ConfigError {
            path: "sinks".into(),
            message: "at least one [[sinks]] entry is required".into(),
        });
    }
    Ok((slots, dead_letter))
}

/// A component's refusal as a config error under `[source]`.
fn source_key(e: entrastream_settings::InvalidKey) -> ConfigError {
    ConfigError::new(format!("source.{}", e.key), e.message)
}

/// The Kafka source's settings from `[source] type = "kafka"` (validated at load time).
pub fn kafka_config(config: &Config) -> Result<KafkaSourceConfig, ConfigError> {
    match &config.source {
        Some(SourceConfig::Kafka(k)) => {
            KafkaSourceConfig::from_config(k, config.pipeline.drain_timeout.0).map_err(source_key)
        }
        Some(_) => Err(ConfigError::new("source.type", "not a kafka source")),
        None => Err(ConfigError::new("source", "missing section [source]")),
    }
}

/// Feeds the IAM-health metrics (`entrastream_iam_*`, crate `entrastream-report`) from every
/// record the pipeline parses: the tenant's health next to the pipeline's.
#[derive(Debug)]
struct IamObserver(IamMetrics);

impl RecordObserver for IamObserver {
    fn observe(&self, record: &entrastream_entra::Record<'_>) {
        self.0.observe(record);
    }
}

/// The hub retention assumed when `[source] retention` is not set (Event Hubs' default).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// `entrastream_retention_headroom_seconds` for the Kafka source: the same name, help and
/// labels as the AMQP source's (only one source runs per daemon, so one registers it).
fn kafka_retention_report(registry: &prometheus::Registry, retention: Duration) -> RetentionReport {
    let gauge = prometheus::GaugeVec::new(
        prometheus::Opts::new(
            "entrastream_retention_headroom_seconds",
            "Seconds until the oldest unprocessed event leaves the hub's retention (then events are lost)",
        ),
        &["topic", "partition"],
    )
    .unwrap_or_else(|e| panic!("metric: {e}"));
    if let Err(e) = registry.register(Box::new(gauge.clone())) {
        tracing::warn!(error = %e, "entrastream_retention_headroom_seconds not exported");
    }
    RetentionReport {
        retention,
        report: Arc::new(move |topic: &str, partition: i32, headroom: Option<f64>| {
            let labels = [topic, &partition.to_string()];
            match headroom {
                Some(h) => gauge.with_label_values(&labels).set(h),
                None => {
                    let _ = gauge.remove_label_values(&labels);
                }
            }
        }),
    }
}

/// Starts the daemon described by `config`: admin server, Kafka source, sinks, pipeline.
/// Must be called inside a tokio runtime. (`_env`: secrets were resolved when `config` was
/// loaded; the parameter stays for callers.)
pub async fn start(config: &Config, _env: &Env, hooks: Hooks) -> Result<Running, AppError> {
    let metrics = Metrics::new();
    let lag_gauge = metrics.consumer_lag_messages.clone();
    let lag = Arc::new(move |topic: &str, partition: i32, lag: i64| {
        lag_gauge
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    });
    let source: Box<dyn Source> = match &config.source {
        Some(SourceConfig::Amqp(_)) => {
            Box::new(amqp::start_amqp_source(config, metrics.registry(), Some(lag)).await?)
        }
        kafka_source => {
            let kafka = kafka_config(config)?;
            let retention = match kafka_source {
                Some(SourceConfig::Kafka(k)) => k.retention.map_or(DEFAULT_RETENTION, |d| d.0),
                _ => DEFAULT_RETENTION,
            };
            Box::new(
                KafkaSource::start_with(
                    &kafka,
                    Some(lag),
                    Some(kafka_retention_report(metrics.registry(), retention)),
                )
                .map_err(|e| AppError::Source(e.to_string()))?,
            )
        }
    };
    start_with_source(config, source, metrics, hooks).await
}

/// Like [`start`] with a given source (the demo, tests).
pub async fn start_with_source(
    config: &Config,
    source: Box<dyn Source>,
    metrics: Metrics,
    hooks: Hooks,
) -> Result<Running, AppError> {
    // entrastream_build_info and process_* (issue 17) on the daemon's /metrics.
    entrastream_telemetry::register_process_metrics(metrics.registry());
    let (mut sinks, dead_letter) = build_sinks_with(config, Some(&metrics))?;
    if let Some(wrap) = &hooks.wrap_sink {
        sinks = sinks
            .into_iter()
            .map(|s| SinkSlot {
                sink: wrap(s.sink),
                filter: s.filter,
            })
            .collect();
    }
    let buffers::Wrapped {
        slots: mut sinks,
        dead_letter,
        opened,
    } = buffers::wrap(config, sinks, dead_letter)?;
    buffers::export(&metrics, &opened);
    sinks.extend(hooks.extra_sinks);
    let health = Health::new();
    health.set("source", Err("no partition assigned yet".into()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut admin_addr = None;
    if config.admin.enabled {
        let listener = entrastream_admin::bind(&config.admin.listen)
            .await
            .map_err(|error| AppError::AdminBind {
                addr: config.admin.listen.clone(),
                error,
            })?;
        admin_addr = entrastream_admin::local_addr(&listener);
        let described = source.describe();
        let state = entrastream_admin::AdminState {
            metrics: metrics.clone(),
            health: health.clone(),
            status: Arc::new(
                move || serde_json::json!({ "source": described, "buffers": buffers::status(&opened) }),
            ),
        };
        tokio::spawn(entrastream_admin::serve(
            listener,
            state,
            shutdown_rx.clone(),
        ));
        tracing::info!(addr = ?admin_addr, "admin server listening");
    }
    let progress = Arc::new(Progress::default());
    let mut pipeline_cfg = pipeline_config(config);
    pipeline_cfg
        .observers
        .push(Arc::new(IamObserver(IamMetrics::register(
            metrics.registry(),
        ))));
    let pipeline = tokio::spawn(entrastream_pipeline::run(
        source,
        entrastream_pipeline::Sinks {
            slots: sinks,
            dead_letter,
        },
        pipeline_cfg,
        entrastream_pipeline::Telemetry {
            metrics: metrics.clone(),
            health: health.clone(),
            progress: progress.clone(),
        },
        shutdown_rx,
    ));
    Ok(Running {
        progress,
        metrics,
        health,
        admin_addr,
        shutdown: shutdown_tx,
        pipeline,
    })
}

/// Waits for SIGTERM or SIGINT.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `entrastream run`: starts the daemon, stops on SIGTERM/SIGINT (drain, commit), returns
/// the summary. Fatal source errors end the run with an error.
pub async fn run_until_signal(config: &Config, env: &Env) -> Result<RunSummary, AppError> {
    let running = start(config, env, Hooks::default()).await?;
    // Which gzip the HTTP sinks use is a build choice (feature `isal`); say it once, since it
    // decides their CPU per MB.
    tracing::info!(
        http_sink_gzip = entrastream_sink_http::GzipBackend::DEFAULT.name(),
        "entrastream running"
    );
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let stopper = running.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = wait_for_signal() => {
                tracing::info!("signal received; draining and committing");
                let _ = stopper.send(true);
            }
            _ = &mut done_rx => {}
        }
    });
    let result = running.wait().await;
    let _ = done_tx.send(());
    if let Ok(summary) = &result {
        tracing::info!(committed = ?summary.committed, abandoned = summary.abandoned_messages, "entrastream stopped");
    }
    result
}

/// Checks what `run` needs beyond the file's own validity: a source, sinks, a dead-letter
/// destination, and Kafka settings that can be derived.
pub fn validate_for_run(config: &Config, _env: &Env) -> Result<(), ConfigError> {
    if config.source.is_none() {
        return Err(ConfigError {
            path: "source".into(),
            message: "missing section [source]".into(),
        });
    }
    build_sinks(config)?;
    match &config.source {
        // Settings only: credentials and stores are built at start, where the pod's identity
        // and volumes exist; check-config runs anywhere.
        Some(SourceConfig::Amqp(_)) => {
            amqp::amqp_settings(config)?;
        }
        _ => {
            kafka_config(config)?;
        }
    }
    Ok(())
}

/// Maps the `[log] format` value to the telemetry enum.
pub fn telemetry_format(format: &str) -> entrastream_telemetry::LogFormat {
    if format == "json" {
        entrastream_telemetry::LogFormat::Json
    } else {
        entrastream_telemetry::LogFormat::Pretty
    }
}

pub use entrastream_telemetry::init_logging;
