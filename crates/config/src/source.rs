//! `[source]`: a closed enum dispatching on `type` to the source crates' own `Config`
//! (`entrastream_source_kafka::config::Config`, `entrastream_source_amqp::config::Config`).
//! Typed like a sink entry (see [`crate::sinks`]): `type` is taken out, the type's secret keys
//! are resolved, and the rest is typed with `deny_unknown_fields`, so a key of the other source
//! type is an unknown key with its path (`source.prefetch: unknown field ...`).

use entrastream_source_amqp::config as amqp;
use entrastream_source_kafka::config as kafka;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secrets::{WrittenAs, resolve_in_table};
use crate::{ConfigError, Env};

/// Source kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// Kafka protocol (any broker, or the Event Hubs Kafka endpoint).
    Kafka,
    /// Event Hubs over AMQP (every tier, including Basic).
    Amqp,
}

/// `[source]`, typed by `type`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// `type = "kafka"`.
    Kafka(Box<kafka::Config>),
    /// `type = "amqp"`.
    Amqp(Box<amqp::Config>),
}

impl SourceConfig {
    /// The `type`.
    pub fn kind(&self) -> SourceType {
        match self {
            SourceConfig::Kafka(_) => SourceType::Kafka,
            SourceConfig::Amqp(_) => SourceType::Amqp,
        }
    }

    /// The consumer group, with the type's default.
    pub fn consumer_group(&self) -> String {
        match self {
            SourceConfig::Kafka(k) => k.consumer_group(),
            SourceConfig::Amqp(a) => a.consumer_group(),
        }
    }
}

fn at(inner: &str) -> String {
    if inner == "." {
        "source".into()
    } else {
        format!("source.{inner}")
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: Value, kind: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = at(&e.path().to_string());
        let mut message = e.into_inner().to_string();
        if message.starts_with("unknown field") {
            // Most often a key of the other source type: say which type this one is.
            message.push_str(&format!(
                "; this source is type = \"{kind}\": remove the key or change the type"
            ));
        }
        ConfigError::new(path, message)
    })
}

fn invalid(e: entrastream_settings::InvalidKey) -> ConfigError {
    ConfigError::new(format!("source.{}", e.key), e.message)
}

/// Types `[source]`; secrets written as `_env` / `_file` are recorded in `written`.
pub(crate) fn parse(
    v: Value,
    env: &Env,
    written: &mut Vec<WrittenAs>,
) -> Result<SourceConfig, ConfigError> {
    let Value::Object(mut table) = v else {
        return Err(ConfigError::new("source", "must be a table"));
    };
    let kind: SourceType = match table.remove("type") {
        Some(t) => {
            serde_json::from_value(t).map_err(|e| ConfigError::new("source.type", e.to_string()))?
        }
        None => return Err(ConfigError::new("source", "missing field `type`")),
    };
    let keys = match kind {
        SourceType::Kafka => kafka::SECRET_KEYS,
        SourceType::Amqp => amqp::SECRET_KEYS,
    };
    resolve_in_table(&mut table, "source", keys, false, env, Some(written))?;
    let rest = Value::Object(table);
    Ok(match kind {
        SourceType::Kafka => {
            let c: kafka::Config = typed(rest, "kafka")?;
            c.validate().map_err(invalid)?;
            SourceConfig::Kafka(Box::new(c))
        }
        SourceType::Amqp => {
            let c: amqp::Config = typed(rest, "amqp")?;
            c.validate().map_err(invalid)?;
            SourceConfig::Amqp(Box::new(c))
        }
    })
}
