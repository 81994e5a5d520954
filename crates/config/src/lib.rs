//! entrastream's configuration: one TOML or YAML file, environment overrides, secret
//! references, and validation into typed settings.
//!
//! Design decision: the file is read into a tree, environment variables
//! `ENTRASTREAM__SECTION__KEY` (array elements by index: `ENTRASTREAM__SINKS__0__PATH`) are laid
//! over it as strings, and the tree is deserialized once into typed structs with
//! `deny_unknown_fields` through `serde_path_to_error`, so every error names its key path
//! (`sinks[1].schema: unknown variant ...`). Every non-string setting also accepts a string
//! (durations, sizes, bools), which is what makes string-only environment overrides work.
//! Secrets: every secret key `X` also accepts `X_env` (the name of an environment variable) and
//! `X_file` (a path, as Kubernetes mounts secrets); exactly one of the three may be set. The
//! environment is injected ([`Env`]), never read or written behind the caller's back.
#![forbid(unsafe_code)]

pub mod amqp;
mod redact;
mod secrets;
pub mod sinks;
pub use entrastream_settings::units;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use entrastream_secret::Secret;
use serde::{Deserialize, Serialize};

pub use amqp::{CheckpointSection, CheckpointType, StartSetting};
pub use entrastream_sink_file::{DeadLetterConfig, FileMode};
pub use redact::{Properties, SecretQueryUrl, is_secret_property};
pub use sinks::{SinkConfig, SinkKind};
use units::{Bytes, Dur};

/// Prefix of environment overrides.
pub const ENV_PREFIX: &str = "ENTRASTREAM__";

/// A configuration error, with the offending key path (empty for file-level errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ConfigError {
    /// Dotted key path, e.g. `sinks[0].schema`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about the key at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The process environment as the config sees it (injectable for tests).
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: show names only.
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Env {
    /// The real process environment (non-UTF-8 variables are skipped).
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An explicit environment.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` (default) or `json`.
    #[serde(default = "default_log_format")]
    pub format: String,
    /// Default filter when `RUST_LOG` is not set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_format() -> String {
    "pretty".into()
}
fn default_log_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

/// Source kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// Kafka protocol (any broker, or the Event Hubs Kafka endpoint).
    Kafka,
    /// Event Hubs over AMQP (every tier, including Basic).
    Amqp,
}

/// `[source]` as written in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `kafka` or `amqp`.
    #[serde(rename = "type")]
    pub kind: SourceType,
    /// Event Hubs connection string (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<Secret>,
    /// Name of the environment variable holding the connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string_env: Option<String>,
    /// File holding the connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string_file: Option<PathBuf>,
    /// Kafka bootstrap servers (instead of a connection string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    /// Topic; defaults to the connection string's EntityPath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Consumer group (default `entrastream` for Kafka, `$Default` for AMQP: see
    /// [`SourceSection::consumer_group`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// `earliest` (default) or `latest`; with `amqp` also an RFC 3339 enqueued time or a
    /// sequence number.
    #[serde(default)]
    pub start_position: StartSetting,
    /// `plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<String>,
    /// SASL mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// SASL password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_password: Option<Secret>,
    /// Name of the environment variable holding the SASL password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_password_env: Option<String>,
    /// File holding the SASL password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_password_file: Option<PathBuf>,
    /// Apply Microsoft's recommended Event Hubs client settings (default: on with a
    /// connection string, off with `brokers`).
    #[serde(
        default,
        deserialize_with = "units::lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_hubs_defaults: Option<bool>,
    /// Any other librdkafka property (applied last). Keys holding secrets print as `***`;
    /// keys that would commit offsets behind the pipeline's back are refused.
    #[serde(default)]
    pub properties: Properties,
    /// `amqp`: fully qualified namespace, with an Entra credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `amqp`: the event hub (defaults to the connection string's EntityPath).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_hub: Option<String>,
    /// `amqp`: `workload_identity`, `managed_identity`, `client_secret`, `client_certificate`
    /// or `azure_cli` (instead of a connection string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// `amqp`: application (client) id for `client_secret`, `client_certificate`, a
    /// user-assigned managed identity, or to override workload identity's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `amqp`: directory (tenant) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `amqp`: client secret (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// Name of the environment variable holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    /// File holding the client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// `amqp`: PKCS#12 certificate for `client_certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_path: Option<PathBuf>,
    /// Password of the certificate (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_password: Option<Secret>,
    /// Name of the environment variable holding the certificate password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_password_env: Option<String>,
    /// File holding the certificate password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_password_file: Option<PathBuf>,
    /// `amqp`: `amqp://host:port` of a local emulator or test peer (plain AMQP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_endpoint: Option<String>,
    /// `amqp`: events prefetched per partition (default 50: see `DEFAULT_PREFETCH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<u32>,
    /// The hub's message retention, for `entrastream_retention_headroom_seconds` (default
    /// 24h; set it to your hub's). Both source types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Dur>,
    /// `amqp`: how often partition properties are read for lag metrics (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties_interval: Option<Dur>,
    /// `amqp`: `greedy` (default: take the fair share in one cycle) or `balanced` (one
    /// partition per cycle, as the Go and JS SDKs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancing: Option<String>,
    /// `amqp`: how often ownership is renewed and rebalanced (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_interval: Option<Dur>,
    /// `amqp`: an ownership not renewed for this long may be taken (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership_expiry: Option<Dur>,
    /// `amqp`: this replica's owner id (default: host name plus a random suffix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

impl SourceSection {
    /// The consumer group: as configured, else `entrastream` (Kafka: groups are created on
    /// first use) or `$Default` (AMQP: the only group every hub has).
    pub fn consumer_group(&self) -> String {
        self.consumer_group
            .clone()
            .unwrap_or_else(|| match self.kind {
                SourceType::Kafka => "entrastream".into(),
                SourceType::Amqp => "$Default".into(),
            })
    }
}

/// `[pipeline]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// How often acknowledged positions are committed.
    #[serde(default = "d_checkpoint")]
    pub checkpoint_interval: Dur,
    /// How long a revoke waits for in-flight messages (must be below the session timeout).
    #[serde(default = "d_drain")]
    pub drain_timeout: Dur,
    /// How long SIGTERM/SIGINT waits for in-flight messages.
    #[serde(default = "d_shutdown")]
    pub shutdown_timeout: Dur,
    /// Global in-flight byte budget.
    #[serde(default = "d_budget")]
    pub max_in_flight_bytes: Bytes,
    /// Batch cut size (message bytes).
    #[serde(default = "d_batch")]
    pub batch_max_bytes: Bytes,
    /// Batch cut age.
    #[serde(default = "d_linger")]
    pub batch_linger: Dur,
    /// First retry delay of a failing sink.
    #[serde(default = "d_retry_initial")]
    pub retry_initial: Dur,
    /// Largest retry delay of a failing sink.
    #[serde(default = "d_retry_max")]
    pub retry_max: Dur,
}

fn d_checkpoint() -> Dur {
    Dur(std::time::Duration::from_secs(5))
}
fn d_drain() -> Dur {
    Dur(std::time::Duration::from_secs(10))
}
fn d_shutdown() -> Dur {
    Dur(std::time::Duration::from_secs(30))
}
fn d_budget() -> Bytes {
    Bytes(256 << 20)
}
fn d_batch() -> Bytes {
    Bytes(1 << 20)
}
fn d_linger() -> Dur {
    Dur(std::time::Duration::from_millis(50))
}
fn d_retry_initial() -> Dur {
    Dur(std::time::Duration::from_millis(100))
}
fn d_retry_max() -> Dur {
    Dur(std::time::Duration::from_secs(30))
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            checkpoint_interval: d_checkpoint(),
            drain_timeout: d_drain(),
            shutdown_timeout: d_shutdown(),
            max_in_flight_bytes: d_budget(),
            batch_max_bytes: d_batch(),
            batch_linger: d_linger(),
            retry_initial: d_retry_initial(),
            retry_max: d_retry_max(),
        }
    }
}

/// `[dead_letter]`: owned by the file sink's crate.
pub type DeadLetterSection = DeadLetterConfig;

/// `[admin]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Address of `/metrics`, `/livez`, `/readyz`.
    #[serde(default = "d_listen")]
    pub listen: String,
    /// Set to false to run without the admin server.
    #[serde(default = "d_true", deserialize_with = "lenient_bool_default_true")]
    pub enabled: bool,
}

fn d_listen() -> String {
    "0.0.0.0:9464".into()
}
fn d_true() -> bool {
    true
}
fn lenient_bool_default_true<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    units::lenient_bool(d).map(|b| b.unwrap_or(true))
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: d_listen(),
            enabled: true,
        }
    }
}

/// The file as deserialized (sinks still untyped so that their errors get exact paths).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    source: Option<SourceSection>,
    #[serde(default)]
    pipeline: PipelineSection,
    #[serde(default)]
    sinks: Vec<serde_json::Value>,
    #[serde(default)]
    dead_letter: Option<DeadLetterSection>,
    #[serde(default)]
    admin: AdminSection,
    #[serde(default)]
    checkpoint: Option<CheckpointSection>,
}

/// A validated configuration. `Serialize` prints it with every secret as `***`.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// `[log]`
    pub log: LogConfig,
    /// `[source]` (required by `run`, optional for `demo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceSection>,
    /// `[pipeline]`
    pub pipeline: PipelineSection,
    /// `[[sinks]]`
    pub sinks: Vec<SinkConfig>,
    /// `[dead_letter]`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterSection>,
    /// `[admin]`
    pub admin: AdminSection,
    /// `[checkpoint]` (the AMQP source's checkpoint and ownership store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointSection>,
}

/// The source settings with secrets resolved.
#[derive(Debug, Clone)]
pub struct ResolvedSource {
    /// The section as written.
    pub section: SourceSection,
    /// The connection string, if any (from the value, `_env` or `_file`).
    pub connection_string: Option<Secret>,
    /// The SASL password, if any.
    pub sasl_password: Option<Secret>,
}

impl Config {
    /// Loads a file (TOML, or YAML by extension `.yaml`/`.yml`), overlays the environment,
    /// validates. Secrets referenced by `_env`/`_file` are checked to exist here.
    pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                "",
                format!("cannot read config file {}: {e}", path.display()),
            )
        })?;
        let yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        Self::from_str(&text, yaml, env)
    }

    /// Like [`Config::load`] from text.
    pub fn from_str(text: &str, yaml: bool, env: &Env) -> Result<Config, ConfigError> {
        let mut tree: serde_json::Value = if yaml {
            serde_yaml::from_str(text)
                .map_err(|e| ConfigError::new("", format!("invalid YAML: {e}")))?
        } else {
            toml::from_str(text).map_err(|e| ConfigError::new("", format!("invalid TOML: {e}")))?
        };
        if tree.is_null() {
            tree = serde_json::Value::Object(Default::default());
        }
        overlay_env(&mut tree, env)?;
        let raw: RawConfig = serde_path_to_error::deserialize(tree).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::new(
                if path == "." { String::new() } else { path },
                e.into_inner().to_string(),
            )
        })?;
        let mut sinks = Vec::new();
        for (i, v) in raw.sinks.into_iter().enumerate() {
            sinks.push(sinks::parse(i, v, env)?);
        }
        let config = Config {
            log: raw.log,
            source: raw.source,
            pipeline: raw.pipeline,
            sinks,
            dead_letter: raw.dead_letter,
            admin: raw.admin,
            checkpoint: raw.checkpoint,
        };
        config.validate(env)?;
        Ok(config)
    }

    fn validate(&self, env: &Env) -> Result<(), ConfigError> {
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(ConfigError::new(
                "log.format",
                format!("unknown format {:?} (pretty or json)", self.log.format),
            ));
        }
        if self.admin.enabled && self.admin.listen.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "admin.listen",
                format!(
                    "{:?} is not an address such as 0.0.0.0:9464",
                    self.admin.listen
                ),
            ));
        }
        let mut names = std::collections::HashSet::new();
        let mut dead_letter_sinks = 0;
        for (i, s) in self.sinks.iter().enumerate() {
            if !names.insert(s.name.as_str()) {
                return Err(ConfigError::new(
                    format!("sinks[{i}].name"),
                    format!("duplicate sink name {:?}", s.name),
                ));
            }
            if matches!(s.kind, SinkKind::DeadLetter(_)) {
                dead_letter_sinks += 1;
                if dead_letter_sinks > 1 || self.dead_letter.is_some() {
                    return Err(ConfigError::new(
                        format!("sinks[{i}].type"),
                        "only one dead-letter destination ([dead_letter] or one sink of type dead_letter)",
                    ));
                }
            }
        }
        let p = &self.pipeline;
        if p.checkpoint_interval.0.is_zero() {
            return Err(ConfigError::new(
                "pipeline.checkpoint_interval",
                "must be greater than zero",
            ));
        }
        if p.max_in_flight_bytes.0 < p.batch_max_bytes.0 {
            return Err(ConfigError::new(
                "pipeline.max_in_flight_bytes",
                "must be at least pipeline.batch_max_bytes",
            ));
        }
        if let Some(src) = &self.source
            && src.kind == SourceType::Amqp
        {
            let resolved = self.resolve_source_with(src, env)?;
            amqp::validate_amqp(src, &resolved, self.checkpoint.as_ref(), env)?;
        } else if self.checkpoint.is_some() {
            return Err(ConfigError::new(
                "checkpoint",
                "only read by [source] type = \"amqp\" (the Kafka source commits offsets to the broker's consumer group)",
            ));
        }
        if let Some(src) = &self.source
            && src.kind == SourceType::Kafka
        {
            amqp::validate_kafka(src)?;
            redact::check_delivery_properties(&src.properties)?;
            let resolved = self.resolve_source_with(src, env)?;
            if resolved.connection_string.is_none() && src.brokers.is_none() {
                return Err(ConfigError::new(
                    "source.brokers",
                    "set either brokers or connection_string (or connection_string_env / connection_string_file)",
                ));
            }
            if resolved.connection_string.is_none() && src.topic.is_none() {
                return Err(ConfigError::new(
                    "source.topic",
                    "required when brokers is used",
                ));
            }
            if let Some(cs) = &resolved.connection_string {
                check_connection_string(cs)?;
            }
            // The revoke drain must finish before the group coordinator evicts us.
            // See https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms
            let session_ms: u64 = src
                .properties
                .get("session.timeout.ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(if self.event_hubs_defaults(src, &resolved) {
                    30_000
                } else {
                    45_000
                });
            if p.drain_timeout.0.as_millis() as u64 >= session_ms {
                return Err(ConfigError::new(
                    "pipeline.drain_timeout",
                    format!("must be shorter than the consumer session timeout ({session_ms} ms)"),
                ));
            }
        }
        Ok(())
    }

    /// True when the Event Hubs client defaults apply to this source.
    pub fn event_hubs_defaults(&self, src: &SourceSection, resolved: &ResolvedSource) -> bool {
        src.event_hubs_defaults
            .unwrap_or(resolved.connection_string.is_some())
    }

    /// The source section with secrets resolved, or an error naming the key.
    pub fn resolve_source(&self, env: &Env) -> Result<ResolvedSource, ConfigError> {
        let src = self
            .source
            .as_ref()
            .ok_or_else(|| ConfigError::new("source", "missing section [source]"))?;
        self.resolve_source_with(src, env)
    }

    fn resolve_source_with(
        &self,
        src: &SourceSection,
        env: &Env,
    ) -> Result<ResolvedSource, ConfigError> {
        let connection_string = resolve_secret(
            "source.connection_string",
            src.connection_string.as_ref(),
            src.connection_string_env.as_deref(),
            src.connection_string_file.as_deref(),
            env,
        )?;
        let sasl_password = resolve_secret(
            "source.sasl_password",
            src.sasl_password.as_ref(),
            src.sasl_password_env.as_deref(),
            src.sasl_password_file.as_deref(),
            env,
        )?;
        Ok(ResolvedSource {
            section: src.clone(),
            connection_string,
            sasl_password,
        })
    }

    /// The effective configuration as TOML, secrets shown as `***`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

fn check_connection_string(cs: &Secret) -> Result<(), ConfigError> {
    let text = cs.expose();
    let has = |k: &str| {
        text.split(';').any(|p| {
            p.split_once('=')
                .is_some_and(|(key, v)| key.trim().eq_ignore_ascii_case(k) && !v.trim().is_empty())
        })
    };
    if !has("Endpoint") {
        return Err(ConfigError::new(
            "source.connection_string",
            "connection string has no Endpoint=sb://NAMESPACE.servicebus.windows.net/",
        ));
    }
    if !has("SharedAccessKey") && !has("SharedAccessSignature") {
        return Err(ConfigError::new(
            "source.connection_string",
            "connection string has no SharedAccessKey",
        ));
    }
    Ok(())
}

/// Resolves one secret from its value, `_env` or `_file` form; at most one may be set.
pub fn resolve_secret(
    key: &str,
    value: Option<&Secret>,
    env_name: Option<&str>,
    file: Option<&Path>,
    env: &Env,
) -> Result<Option<Secret>, ConfigError> {
    let set = [value.is_some(), env_name.is_some(), file.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        return Err(ConfigError::new(
            key,
            format!("set only one of {key}, {key}_env, {key}_file"),
        ));
    }
    if let Some(v) = value {
        return Ok(Some(v.clone()));
    }
    if let Some(name) = env_name {
        return match env.get(name) {
            Some(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
            _ => Err(ConfigError::new(
                format!("{key}_env"),
                format!("environment variable {name} is not set"),
            )),
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) => Ok(Some(Secret::new(v.trim_end_matches(['\n', '\r'])))),
            // The io::Error names the path only, never the content.
            Err(e) => Err(ConfigError::new(
                format!("{key}_file"),
                format!("cannot read {}: {e}", path.display()),
            )),
        };
    }
    Ok(None)
}

/// Lays `ENTRASTREAM__A__B=v` over the tree as `a.b = "v"` (string; typed fields accept it).
fn overlay_env(tree: &mut serde_json::Value, env: &Env) -> Result<(), ConfigError> {
    for (name, value) in &env.vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let segments: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                name.clone(),
                "empty key segment in environment override",
            ));
        }
        let mut node = &mut *tree;
        let mut path = String::new();
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            match node {
                serde_json::Value::Array(items) => {
                    let idx: usize = seg.parse().map_err(|_| {
                        ConfigError::new(
                            format!("{path}.{seg}"),
                            format!("{name}: {path} is a list; use an index such as {path}__0"),
                        )
                    })?;
                    path.push_str(&format!("[{idx}]"));
                    while items.len() <= idx {
                        items.push(serde_json::Value::Object(Default::default()));
                    }
                    node = &mut items[idx];
                }
                serde_json::Value::Object(map) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(seg);
                    let is_index = segments
                        .get(i + 1)
                        .is_some_and(|n| n.parse::<usize>().is_ok());
                    node = map.entry(seg.clone()).or_insert_with(|| {
                        if is_index {
                            serde_json::Value::Array(Vec::new())
                        } else {
                            serde_json::Value::Object(Default::default())
                        }
                    });
                }
                _ => {
                    return Err(ConfigError::new(
                        path.clone(),
                        format!("{name}: {path} is not a section"),
                    ));
                }
            }
            if last {
                *node = serde_json::Value::String(value.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
