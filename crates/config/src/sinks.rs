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
        /// Permissions of the files (default `0640`).
        file_mode: FileMode,
        /// Rotated files kept, oldest removed first (default 10; 0 keeps all).
        max_files: u32,
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
        /// Permissions of the files (default `0640`).
        file_mode: FileMode,
        /// Rotated files kept, oldest removed first (default 10; 0 keeps all).
        max_files: u32,
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
    #[serde(default)]
    file_mode: FileMode,
    #[serde(default = "d_max_files")]
    max_files: u32,
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
    #[serde(default)]
    file_mode: FileMode,
    #[serde(default = "d_max_files")]
    max_files: u32,
}

/// Rotated files kept by default: ten files of `rotate_bytes` (10 GiB at the default size)
/// bound the disk a file sink can fill, however long it runs.
pub(crate) fn d_max_files() -> u32 {
    10
}

/// Unix permission bits of a file sink's files, written in octal (`"0640"`). Files of records
/// and dead letters hold personal data: the default lets the owner write and the group read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl Default for FileMode {
    fn default() -> Self {
        FileMode(0o640)
    }
}

impl FromStr for FileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix("0o").unwrap_or(s);
        let mode = u32::from_str_radix(digits, 8)
            .ok()
            .filter(|_| !digits.is_empty() && digits.len() <= 4)
            .ok_or_else(|| format!("{s:?} is not an octal file mode; write it like \"0640\""))?;
        if mode > 0o777 {
            return Err(format!(
                "{s:?} sets special bits (setuid, setgid, sticky); use permission bits only, like \"0640\""
            ));
        }
        if mode & 0o600 != 0o600 {
            return Err(format!(
                "{s:?} does not let the owner read and write the file, which entrastream needs; use e.g. \"0640\""
            ));
        }
        if mode & 0o002 != 0 {
            return Err(format!(
                "{s:?} lets every user write records and dead letters; use e.g. \"0640\""
            ));
        }
        Ok(FileMode(mode))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for FileMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
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
                    file_mode: e.file_mode,
                    max_files: e.max_files,
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
                    file_mode: e.file_mode,
                    max_files: e.max_files,
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

#[cfg(test)]
mod file_mode_tests {
    use crate::{Config, Env, SinkKind};

    fn load(sink_keys: &str, dead_letter_keys: &str) -> Result<Config, crate::ConfigError> {
        let text = format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopic = \"t\"\n\n[[sinks]]\ntype = \"file\"\npath = \"/tmp/r.ndjson\"\n{sink_keys}\n\n[dead_letter]\npath = \"/tmp/d.ndjson\"\n{dead_letter_keys}\n"
        );
        Config::from_str(&text, false, &Env::default())
    }

    #[test]
    fn file_mode_and_max_files_have_production_defaults_and_are_validated() {
        let c = load("", "").unwrap();
        let SinkKind::File {
            file_mode,
            max_files,
            ..
        } = &c.sinks[0].kind
        else {
            panic!("not a file sink");
        };
        assert_eq!((file_mode.0, *max_files), (0o640, 10));
        let dl = c.dead_letter.as_ref().unwrap();
        assert_eq!((dl.file_mode.0, dl.max_files), (0o640, 10));
        assert!(c.to_toml().contains("file_mode = \"0640\""));

        let c = load(
            "file_mode = \"0600\"\nmax_files = 3",
            "file_mode = \"600\"\nmax_files = 0",
        )
        .unwrap();
        assert!(matches!(
            &c.sinks[0].kind,
            SinkKind::File { file_mode, max_files: 3, .. } if file_mode.0 == 0o600
        ));
        assert_eq!(c.dead_letter.as_ref().unwrap().file_mode.0, 0o600);
        assert_eq!(c.dead_letter.as_ref().unwrap().max_files, 0);

        for (bad, why) in [
            ("\"0648\"", "octal"),
            ("\"rw-r-----\"", "octal"),
            ("\"4640\"", "special bits"),
            ("\"0440\"", "owner read and write"),
            ("\"0666\"", "every user"),
            ("640", "string"),
        ] {
            let e = load(&format!("file_mode = {bad}"), "").unwrap_err();
            assert_eq!(e.path, "sinks[0].file_mode", "{bad}");
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
        let e = load("", "file_mode = \"0777\"").unwrap_err();
        assert!(e.path.contains("file_mode"), "{}", e.path);
    }
}
