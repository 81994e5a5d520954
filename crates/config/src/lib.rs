//! entrastream's configuration: one TOML or YAML file, environment overrides, secret
//! references, and the closed enums that hand each component its own typed `Config`.
//!
//! Design decision: the file is read into a value tree ([`load`]); environment variables
//! `ENTRASTREAM__SECTION__KEY` are laid over it as strings ([`overlay`]); secret keys written
//! as `X_env` / `X_file` are resolved into `X` in the tree ([`secrets`]); only then is the tree
//! typed, once, with `deny_unknown_fields` through `serde_path_to_error`, so every error names
//! its key path (`sinks[1].schema: unknown schema ...`). `[source]` and each `[[sinks]]` entry
//! are typed by `type` into the component crate's own `Config` ([`source`], [`sinks`]), which
//! holds that component's keys, defaults and `validate()`; this crate keeps only the checks
//! that span sections. Every non-string setting also accepts a string (durations, sizes,
//! bools), which is what makes string-only environment overrides work.
#![forbid(unsafe_code)]

pub mod checkpoint;
mod load;
pub mod overlay;
mod redact;
mod secrets;
pub mod sections;
pub mod sinks;
pub mod source;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use checkpoint::{CheckpointSection, CheckpointType};
pub use entrastream_settings::units;
pub use entrastream_sink_file::{DeadLetterConfig, FileMode};
pub use entrastream_source_amqp::config::StartSetting;
pub use entrastream_source_kafka::config::{Properties, is_secret_property};
pub use overlay::{ENV_PREFIX, Env};
pub use redact::SecretQueryUrl;
pub use sections::{AdminSection, LogConfig, LogFormat, ParseThreads, PipelineSection};
pub use sinks::{SinkConfig, SinkKind};
pub use source::{SourceConfig, SourceType};

/// `[dead_letter]`: owned by the file sink's crate.
pub type DeadLetterSection = DeadLetterConfig;

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

/// The file as deserialized (source and sinks still untyped: they are typed by `type`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    source: Option<serde_json::Value>,
    #[serde(default)]
    pipeline: PipelineSection,
    #[serde(default)]
    sinks: Vec<serde_json::Value>,
    #[serde(default)]
    dead_letter: Option<DeadLetterConfig>,
    #[serde(default)]
    admin: AdminSection,
    #[serde(default)]
    checkpoint: Option<CheckpointSection>,
}

/// A validated configuration, secrets resolved. `Serialize` prints it with every secret as
/// `***` (use [`Config::to_toml`] for `check-config`).
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// `[log]`
    pub log: LogConfig,
    /// `[source]` (required by `run`, optional for `demo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceConfig>,
    /// `[pipeline]`
    pub pipeline: PipelineSection,
    /// `[[sinks]]`
    pub sinks: Vec<SinkConfig>,
    /// `[dead_letter]`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetterConfig>,
    /// `[admin]`
    pub admin: AdminSection,
    /// `[checkpoint]` (the AMQP source's checkpoint and ownership store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointSection>,
    /// How `[source]` / `[checkpoint]` secrets were written (for `check-config`).
    #[serde(skip)]
    written: Vec<secrets::WrittenAs>,
}

fn shape_error(e: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = e.path().to_string();
    ConfigError::new(
        if path == "." { String::new() } else { path },
        e.into_inner().to_string(),
    )
}

impl Config {
    /// Loads a file (TOML, or YAML by extension `.yaml`/`.yml`), overlays the environment,
    /// resolves secrets, validates.
    pub fn load(path: &Path, env: &Env) -> Result<Config, ConfigError> {
        let (text, yaml) = load::read(path)?;
        Self::from_str(&text, yaml, env)
    }

    /// Like [`Config::load`] from text.
    pub fn from_str(text: &str, yaml: bool, env: &Env) -> Result<Config, ConfigError> {
        let mut tree = load::parse(text, yaml)?;
        overlay::overlay_env(&mut tree, env)?;
        let mut written = Vec::new();
        if let Some(serde_json::Value::Object(cp)) = tree.get_mut("checkpoint") {
            secrets::resolve_in_table(
                cp,
                "checkpoint",
                checkpoint::SECRET_KEYS,
                false,
                env,
                Some(&mut written),
            )?;
        }
        let raw: RawConfig = serde_path_to_error::deserialize(tree).map_err(shape_error)?;
        let source = match raw.source {
            Some(v) => Some(source::parse(v, env, &mut written)?),
            None => None,
        };
        let mut sinks = Vec::new();
        for (i, v) in raw.sinks.into_iter().enumerate() {
            sinks.push(sinks::parse(i, v, env)?);
        }
        if let Some(dl) = &raw.dead_letter {
            dl.validate()
                .map_err(|e| ConfigError::new(format!("dead_letter.{}", e.key), e.message))?;
        }
        let config = Config {
            log: raw.log,
            source,
            pipeline: raw.pipeline,
            sinks,
            dead_letter: raw.dead_letter,
            admin: raw.admin,
            checkpoint: raw.checkpoint,
            written,
        };
        config.validate()?;
        Ok(config)
    }

    /// The checks that span sections (each section checked itself while being typed).
    fn validate(&self) -> Result<(), ConfigError> {
        if self.admin.enabled && self.admin.listen.parse::<std::net::SocketAddr>().is_err() {
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
        match &self.source {
            Some(SourceConfig::Amqp(a)) => {
                let Some(cp) = &self.checkpoint else {
                    return Err(ConfigError::new(
                        "checkpoint",
                        "missing section [checkpoint]: type = \"blob\" with container_url (shared by replicas and compatible with the Azure SDK processors), or type = \"file\" with path (one replica)",
                    ));
                };
                cp.validate(a.credential.is_some())?;
            }
            _ if self.checkpoint.is_some() => {
                return Err(ConfigError::new(
                    "checkpoint",
                    "only read by [source] type = \"amqp\" (the Kafka source commits offsets to the broker's consumer group)",
                ));
            }
            _ => {}
        }
        if let Some(SourceConfig::Kafka(k)) = &self.source {
            // The revoke drain must finish before the group coordinator evicts us.
            let session = k.session_timeout();
            if p.drain_timeout.0 >= session {
                return Err(ConfigError::new(
                    "pipeline.drain_timeout",
                    format!(
                        "must be shorter than the consumer session timeout ({} ms)",
                        session.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets shown as `***`, and `[source]` /
    /// `[checkpoint]` secrets written as `X_env` / `X_file` shown that way (their values are
    /// names and paths, not secrets).
    pub fn to_toml(&self) -> String {
        let rendered = toml::Value::try_from(self).map(|mut v| {
            for w in &self.written {
                if let Some(toml::Value::Table(t)) = v.get_mut(&w.table) {
                    let old = std::mem::take(t);
                    for (k, value) in old {
                        if k == w.key {
                            t.insert(
                                w.written_key.clone(),
                                toml::Value::String(w.written_value.clone()),
                            );
                        } else {
                            t.insert(k, value);
                        }
                    }
                }
            }
            v
        });
        match rendered.map(|v| toml::to_string_pretty(&v)) {
            Ok(Ok(text)) => text,
            Ok(Err(e)) => format!("# cannot render config: {e}\n"),
            Err(e) => format!("# cannot render config: {e}\n"),
        }
    }
}

#[cfg(test)]
mod tests;
