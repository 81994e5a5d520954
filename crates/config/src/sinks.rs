//! `[[sinks]]`: one closed enum of sink kinds; each entry is deserialized by its `type` so
//! errors name the exact key (`sinks[2].rotate_bytes`). Adding a sink = one variant here plus
//! one arm in `parse` (see `docs/sinks.md`).

use std::path::PathBuf;
use std::str::FromStr;

use entrastream_entra::Schema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::sinks_siem::{SplunkHecSettings, SumoLogicSettings};
use crate::units::{self, Bytes};
use crate::{ConfigError, Env};

/// One configured sink.
#[derive(Debug, Clone, Serialize)]
pub struct SinkConfig {
    /// Unique name (metric label, dead-letter `source`).
    pub name: String,
    /// `raw`, `native` (default), `ecs` or `ocsf`.
    pub schema: String,
    /// Only these categories (all when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Kind-specific settings.
    #[serde(flatten)]
    pub kind: SinkKind,
}

impl SinkConfig {
    /// The parsed schema (validated at load time).
    pub fn schema(&self) -> Schema {
        Schema::from_str(&self.schema).unwrap_or(Schema::Native)
    }
}

/// Kind-specific sink settings.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    /// NDJSON file, rotated by size, fsynced before acknowledging.
    File {
        /// File path.
        path: PathBuf,
        /// Rotate above this size (0 = never).
        rotate_bytes: Bytes,
        /// fsync each batch (default true; false only for benchmarks).
        fsync: bool,
    },
    /// NDJSON on standard output.
    Stdout,
    /// Counts and discards (benchmarks).
    Blackhole,
    /// The dead-letter file, declared as a sink.
    DeadLetter {
        /// File path.
        path: PathBuf,
        /// Rotate above this size (0 = never).
        rotate_bytes: Bytes,
    },
    /// Splunk HTTP Event Collector (see `docs/sinks.md`).
    SplunkHec(Box<SplunkHecSettings>),
    /// Sumo Logic HTTP source (see `docs/sinks.md`).
    SumoLogic(Box<SumoLogicSettings>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    #[serde(rename = "type")]
    _kind: String,
    name: Option<String>,
    #[serde(default = "native")]
    schema: String,
    categories: Option<Vec<String>>,
    path: PathBuf,
    #[serde(default = "gib")]
    rotate_bytes: Bytes,
    #[serde(default, deserialize_with = "units::lenient_bool")]
    fsync: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainEntry {
    #[serde(rename = "type")]
    _kind: String,
    name: Option<String>,
    #[serde(default = "native")]
    schema: String,
    categories: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetterEntry {
    #[serde(rename = "type")]
    _kind: String,
    name: Option<String>,
    path: PathBuf,
    #[serde(default = "gib")]
    rotate_bytes: Bytes,
}

fn native() -> String {
    "native".into()
}
fn gib() -> Bytes {
    Bytes(1 << 30)
}

pub(crate) fn typed<T: DeserializeOwned>(i: usize, v: serde_json::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." {
            format!("sinks[{i}]")
        } else {
            format!("sinks[{i}].{inner}")
        };
        ConfigError {
            path,
            message: e.into_inner().to_string(),
        }
    })
}

fn check_schema(i: usize, schema: &str) -> Result<(), ConfigError> {
    Schema::from_str(schema)
        .map(|_| ())
        .map_err(|_| ConfigError {
            path: format!("sinks[{i}].schema"),
            message: format!("unknown schema {schema:?} (raw, native, ecs or ocsf)"),
        })
}

pub(crate) fn parse(i: usize, v: serde_json::Value, env: &Env) -> Result<SinkConfig, ConfigError> {
    let kind = match v.get("type") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(ConfigError {
                path: format!("sinks[{i}].type"),
                message: "must be a string".into(),
            });
        }
        None => {
            return Err(ConfigError {
                path: format!("sinks[{i}].type"),
                message: "missing field `type`".into(),
            });
        }
    };
    let config = match kind.as_str() {
        "file" => {
            let e: FileEntry = typed(i, v)?;
            SinkConfig {
                name: e.name.unwrap_or_else(|| kind.clone()),
                schema: e.schema,
                categories: e.categories,
                kind: SinkKind::File {
                    path: e.path,
                    rotate_bytes: e.rotate_bytes,
                    fsync: e.fsync.unwrap_or(true),
                },
            }
        }
        "stdout" | "blackhole" => {
            let e: PlainEntry = typed(i, v)?;
            SinkConfig {
                name: e.name.unwrap_or_else(|| kind.clone()),
                schema: e.schema,
                categories: e.categories,
                kind: if kind == "stdout" {
                    SinkKind::Stdout
                } else {
                    SinkKind::Blackhole
                },
            }
        }
        "dead_letter" => {
            let e: DeadLetterEntry = typed(i, v)?;
            SinkConfig {
                name: e.name.unwrap_or_else(|| "dead_letter".into()),
                schema: "raw".into(),
                categories: None,
                kind: SinkKind::DeadLetter {
                    path: e.path,
                    rotate_bytes: e.rotate_bytes,
                },
            }
        }
        "splunk_hec" => crate::sinks_siem::splunk_hec(i, typed(i, v)?, env)?,
        "sumo_logic" => crate::sinks_siem::sumo_logic(i, typed(i, v)?, env)?,
        other => {
            return Err(ConfigError {
                path: format!("sinks[{i}].type"),
                message: format!(
                    "unknown sink type {other:?} (file, stdout, dead_letter, blackhole, splunk_hec, sumo_logic)"
                ),
            });
        }
    };
    check_schema(i, &config.schema)?;
    Ok(config)
}
