//! `[[sinks]]`: the registry of sink types. Each entry is typed in two steps over its value
//! tree, because serde's `deny_unknown_fields` does not work through `#[serde(flatten)]`:
//!
//! 1. the common keys (`name`, `type`, and — for sinks that take them — `schema`,
//!    `categories`) are taken out of the table and typed as [`Common`];
//! 2. the component's secret keys are resolved ([`crate::secrets`]), and the rest of the table
//!    is typed as the component's own `Config` (with `deny_unknown_fields`), then checked by
//!    its `validate()`.
//!
//! Every error names its key path (`sinks[2].rotate_bytes`). Adding a sink = one variant of
//! [`SinkKind`] plus one line in [`REGISTRY`] (see `docs/sinks.md`).

use std::str::FromStr;

use entrastream_entra::Schema;
use entrastream_settings::InvalidKey;
use entrastream_sink_file::{DeadLetterConfig, FileConfig, NoKeys};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{ConfigError, Env};

/// One configured sink.
#[derive(Debug, Clone, Serialize)]
pub struct SinkConfig {
    /// Unique name (metric label, dead-letter `source`); defaults to the type.
    pub name: String,
    /// `raw`, `native`, `ecs` or `ocsf` (default: the sink's own, see [`Entry`]).
    #[serde(serialize_with = "schema_text")]
    pub schema: Schema,
    /// Only these categories (all when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// A durable disk buffer in front of the sink (`buffer = { type = "disk", … }`), so that
    /// its outage does not hold the other sinks; `None` or `type = "memory"`: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffer: Option<entrastream_buffer::Config>,
    /// The sink's own settings, by `type`.
    #[serde(flatten)]
    pub kind: SinkKind,
}

impl SinkConfig {
    /// The record schema.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The disk buffer's settings, when the sink has one.
    pub fn disk_buffer(&self) -> Option<&entrastream_buffer::DiskConfig> {
        self.buffer.as_ref().and_then(|b| b.disk())
    }
}

fn schema_text<S: serde::Serializer>(schema: &Schema, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&schema.to_string())
}

/// The sink types and their settings, each owned by the sink's crate.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkKind {
    /// NDJSON file, rotated by size, fsynced before acknowledging.
    File(FileConfig),
    /// NDJSON on standard output.
    Stdout(NoKeys),
    /// Counts and discards (benchmarks).
    Blackhole(NoKeys),
    /// The dead-letter file, declared as a sink.
    DeadLetter(DeadLetterConfig),
    /// Splunk HTTP Event Collector (see `docs/sinks.md`).
    SplunkHec(Box<entrastream_sink_splunk_hec::Config>),
    /// Sumo Logic HTTP source (see `docs/sinks.md`).
    SumoLogic(Box<entrastream_sink_sumo::Config>),
    /// Syslog receiver: RFC 5424, CEF or LEEF over TCP, TLS or RELP (see `docs/sinks.md`).
    Syslog(Box<entrastream_sink_syslog::Config>),
    /// Azure Monitor's storage-export layout under a local directory (see `docs/archive.md`).
    ArchiveDir(Box<entrastream_sink_archive::DirConfig>),
    /// Azure Monitor's storage-export layout in append blobs (see `docs/archive.md`).
    AzureBlob(Box<entrastream_sink_archive::BlobConfig>),
}

/// One sink type in the registry.
pub struct Entry {
    /// The `type` value.
    pub type_name: &'static str,
    /// The schema when the entry sets none; `None`: the sink takes no `schema` and
    /// `categories` (the dead-letter file writes every record, raw).
    pub default_schema: Option<Schema>,
    /// Keys holding secrets (each also accepts `_env` / `_file`), all required.
    pub secret_keys: &'static [&'static str],
    /// Keys holding secrets that may be left out (one of several ways to authenticate).
    pub optional_secret_keys: &'static [&'static str],
    /// Types the rest of the table and checks it.
    pub parse: fn(Value) -> Result<SinkKind, Parsed>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.type_name)
    }
}

/// Why a sink's own table was refused: a key path relative to the table, and what is wrong.
#[derive(Debug)]
pub enum Parsed {
    /// Not deserializable (unknown key, wrong type, missing key).
    Shape(serde_path_to_error::Error<serde_json::Error>),
    /// Refused by the component's `validate()`.
    Invalid(InvalidKey),
}

fn typed<T: DeserializeOwned>(v: Value) -> Result<T, Parsed> {
    serde_path_to_error::deserialize(v).map_err(Parsed::Shape)
}

/// The sink types. Adding a sink: a line here and a variant in [`SinkKind`].
pub const REGISTRY: &[Entry] = &[
    Entry {
        type_name: "file",
        default_schema: Some(Schema::Native),
        secret_keys: &[],
        optional_secret_keys: &[],
        parse: |v| {
            let c: FileConfig = typed(v)?;
            c.validate().map_err(Parsed::Invalid)?;
            Ok(SinkKind::File(c))
        },
    },
    Entry {
        type_name: "stdout",
        default_schema: Some(Schema::Native),
        secret_keys: &[],
        optional_secret_keys: &[],
        parse: |v| typed(v).map(SinkKind::Stdout),
    },
    Entry {
        type_name: "dead_letter",
        default_schema: None,
        secret_keys: &[],
        optional_secret_keys: &[],
        parse: |v| {
            let c: DeadLetterConfig = typed(v)?;
            c.validate().map_err(Parsed::Invalid)?;
            Ok(SinkKind::DeadLetter(c))
        },
    },
    Entry {
        type_name: "blackhole",
        default_schema: Some(Schema::Native),
        secret_keys: &[],
        optional_secret_keys: &[],
        parse: |v| typed(v).map(SinkKind::Blackhole),
    },
    Entry {
        type_name: "splunk_hec",
        default_schema: Some(entrastream_sink_splunk_hec::config::DEFAULT_SCHEMA),
        secret_keys: entrastream_sink_splunk_hec::config::SECRET_KEYS,
        optional_secret_keys: &[],
        parse: |v| {
            let c: entrastream_sink_splunk_hec::Config = typed(v)?;
            c.validate().map_err(Parsed::Invalid)?;
            Ok(SinkKind::SplunkHec(Box::new(c)))
        },
    },
    Entry {
        type_name: "sumo_logic",
        default_schema: Some(entrastream_sink_sumo::config::DEFAULT_SCHEMA),
        secret_keys: entrastream_sink_sumo::config::SECRET_KEYS,
        optional_secret_keys: &[],
        parse: |v| {
            let c: entrastream_sink_sumo::Config = typed(v)?;
            c.validate().map_err(Parsed::Invalid)?;
            Ok(SinkKind::SumoLogic(Box::new(c)))
        },
    },
    Entry {
        type_name: "syslog",
        default_schema: Some(Schema::Native),
        secret_keys: &[],
        optional_secret_keys: &[],
        parse: |v| {
            let c: entrastream_sink_syslog::Config = typed(v)?;
            c.validate().map_err(|e| Parsed::Invalid(e.into()))?;
            Ok(SinkKind::Syslog(Box::new(c)))
        },
    },
    Entry {
        type_name: "archive_dir",
        default_schema: Some(entrastream_sink_archive::config::DEFAULT_SCHEMA),
        secret_keys: entrastream_sink_archive::config::SECRET_KEYS,
        optional_secret_keys: &[],
        parse: |v| {
            let c: entrastream_sink_archive::DirConfig = typed(v)?;
            c.validate().map_err(Parsed::Invalid)?;
            Ok(SinkKind::ArchiveDir(Box::new(c)))
        },
    },
    Entry {
        type_name: "azure_blob",
        default_schema: Some(entrastream_sink_archive::config::DEFAULT_SCHEMA),
        secret_keys: &[],
        optional_secret_keys: entrastream_sink_archive::config::BLOB_OPTIONAL_SECRET_KEYS,
        parse: |v| {
            let c: entrastream_sink_archive::BlobConfig = typed(v)?;
            c.validate().map_err(Parsed::Invalid)?;
            Ok(SinkKind::AzureBlob(Box::new(c)))
        },
    },
];

/// The keys every sink entry may have, whatever its type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "schema_value")]
    schema: Option<Schema>,
    #[serde(default)]
    categories: Option<Vec<String>>,
    #[serde(default)]
    buffer: Option<entrastream_buffer::Config>,
}

fn schema_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Schema>, D::Error> {
    let text = String::deserialize(d)?;
    Schema::from_str(&text).map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown schema {text:?} (raw, native, ecs or ocsf)"
        ))
    })
}

/// `serde_path_to_error`'s path under `prefix` (`.` is the table itself).
fn under(prefix: &str, inner: &str) -> String {
    if inner == "." {
        prefix.to_string()
    } else {
        format!("{prefix}.{inner}")
    }
}

/// Types `sinks[i]`.
pub(crate) fn parse(i: usize, v: Value, env: &Env) -> Result<SinkConfig, ConfigError> {
    let at = format!("sinks[{i}]");
    let Value::Object(mut table) = v else {
        return Err(ConfigError::new(at, "must be a table"));
    };
    let kind = match table.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(ConfigError::new(format!("{at}.type"), "must be a string")),
        None => {
            return Err(ConfigError::new(
                format!("{at}.type"),
                "missing field `type`",
            ));
        }
    };
    let Some(entry) = REGISTRY.iter().find(|e| e.type_name == kind) else {
        let names: Vec<&str> = REGISTRY.iter().map(|e| e.type_name).collect();
        return Err(ConfigError::new(
            format!("{at}.type"),
            format!("unknown sink type {kind:?} ({})", names.join(", ")),
        ));
    };
    // Step 1: the common keys. A sink without a schema leaves `schema` and `categories` in
    // its own table, where they are unknown keys.
    let mut common = Map::new();
    let common_keys: &[&str] = if entry.default_schema.is_some() {
        &["name", "schema", "categories", "buffer"]
    } else {
        &["name"]
    };
    for key in common_keys {
        if let Some(value) = table.remove(*key) {
            common.insert(key.to_string(), value);
        }
    }
    let common: Common = serde_path_to_error::deserialize(Value::Object(common)).map_err(|e| {
        ConfigError::new(
            under(&at, &e.path().to_string()),
            e.into_inner().to_string(),
        )
    })?;
    if let Some(b) = &common.buffer {
        b.validate()
            .map_err(|e| ConfigError::new(format!("{at}.buffer"), e.to_string()))?;
    }
    // Step 2: the sink's own keys, secrets resolved first.
    crate::secrets::resolve_in_table(&mut table, &at, entry.secret_keys, true, env, None)?;
    crate::secrets::resolve_in_table(
        &mut table,
        &at,
        entry.optional_secret_keys,
        false,
        env,
        None,
    )?;
    let kind = (entry.parse)(Value::Object(table)).map_err(|e| match e {
        Parsed::Shape(e) => ConfigError::new(
            under(&at, &e.path().to_string()),
            e.into_inner().to_string(),
        ),
        Parsed::Invalid(e) => ConfigError::new(format!("{at}.{}", e.key), e.message),
    })?;
    Ok(SinkConfig {
        name: common.name.unwrap_or_else(|| kind_name(entry)),
        schema: common
            .schema
            .or(entry.default_schema)
            .unwrap_or(Schema::Raw),
        categories: common.categories,
        buffer: common.buffer,
        kind,
    })
}

fn kind_name(entry: &Entry) -> String {
    entry.type_name.to_string()
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
        let SinkKind::File(f) = &c.sinks[0].kind else {
            panic!("not a file sink");
        };
        assert_eq!((f.file_mode.0, f.max_files), (0o640, 10));
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
            SinkKind::File(f) if f.file_mode.0 == 0o600 && f.max_files == 3
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

#[cfg(test)]
mod siem_tests {
    use crate::{Config, Env, SinkKind};

    const BASE: &str = "[dead_letter]\npath = \"/tmp/dl.ndjson\"\n";

    #[test]
    fn issue_keys_parse_and_secrets_resolve() {
        let text = format!(
            "{BASE}[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"https://splunk.example.com:8088\"\ntoken_env = \"SPLUNK_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\n\
             [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"SUMO_HTTP_SOURCE_URL\"\nschema = \"native\"\ncategories = [\"SignInLogs\"]\n"
        );
        let env = Env::from_pairs([
            ("SPLUNK_HEC_TOKEN", "tok-123"),
            (
                "SUMO_HTTP_SOURCE_URL",
                "https://collectors.sumologic.com/receiver/v1/http/SECRETX",
            ),
        ]);
        let c = Config::from_str(&text, false, &env).unwrap();
        match &c.sinks[0].kind {
            SinkKind::SplunkHec(h) => {
                assert_eq!(h.token.expose(), "tok-123");
                assert!(h.indexer_ack);
                assert!(h.gzip);
                assert_eq!(h.max_content_length, 1_000_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.sinks[1].kind, SinkKind::SumoLogic(_)));
        let shown = c.to_toml() + &format!("{c:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("SECRETX"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_key_and_missing_secret_are_errors_naming_the_key() {
        let text = format!(
            "{BASE}[[sinks]]\ntype = \"splunk_hec\"\nendpoint = \"https://h:8088\"\ntoken = \"t\"\nbogus = 1\n"
        );
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert!(e.to_string().contains("sinks[0]"), "{e}");
        let text = format!("{BASE}[[sinks]]\ntype = \"sumo_logic\"\nurl_env = \"NOPE\"\n");
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert!(e.to_string().contains("sinks[0].url_env"), "{e}");
        let text = format!(
            "{BASE}[[sinks]]\ntype = \"sumo_logic\"\nurl = \"https://x/receiver/SECRETY\"\nmax_request_bytes = \"2MB\"\n"
        );
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert!(!e.to_string().contains("SECRETY"));
    }

    /// The common keys are typed apart from the sink's own (serde cannot deny unknown keys
    /// through `flatten`): a sink's key on another type, or `schema` on the dead-letter file,
    /// is an unknown key with its path.
    #[test]
    fn a_key_of_another_sink_type_is_unknown_with_its_path() {
        let text = format!("{BASE}[[sinks]]\ntype = \"stdout\"\npath = \"/tmp/x\"\n");
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert_eq!(e.path, "sinks[0].path", "{e}");
        let text = "[[sinks]]\ntype = \"dead_letter\"\npath = \"/tmp/x\"\nschema = \"raw\"\n[[sinks]]\ntype = \"stdout\"\n";
        let e = Config::from_str(text, false, &Env::default()).unwrap_err();
        assert_eq!(e.path, "sinks[0].schema", "{e}");
        let text = format!(
            "{BASE}[[sinks]]\ntype = \"splunk_hec\"\nendpoint = \"https://h:8088\"\ntoken = \"t\"\napi = \"xml\"\n"
        );
        let e = Config::from_str(&text, false, &Env::default()).unwrap_err();
        assert_eq!(e.path, "sinks[0].api", "{e}");
    }
}

#[cfg(test)]
mod archive_dir_tests {
    use crate::{Config, Env, SinkKind};

    fn load(keys: &str) -> Result<Config, crate::ConfigError> {
        let text = format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopic = \"t\"\n\n[[sinks]]\nname = \"archive\"\ntype = \"archive_dir\"\n{keys}\n\n[dead_letter]\npath = \"/tmp/d.ndjson\"\n"
        );
        Config::from_str(&text, false, &Env::default())
    }

    #[test]
    fn archive_dir_keys_defaults_and_errors() {
        let c = load("path = \"/var/archive\"\ncompression = \"gzip\"").unwrap();
        let SinkKind::ArchiveDir(d) = &c.sinks[0].kind else {
            panic!("{:?}", c.sinks[0].kind)
        };
        assert_eq!(
            d.compression,
            entrastream_sink_archive::config::Compression::Gzip
        );
        assert_eq!(
            c.sinks[0].schema,
            entrastream_entra::Schema::Raw,
            "raw by default"
        );
        assert_eq!(
            load("path = \"/a\"\nrotate = 1").unwrap_err().path,
            "sinks[0].rotate"
        );
        assert_eq!(load("path = \"\"").unwrap_err().path, "sinks[0].path");
        assert_eq!(
            load("path = \"/a\"\ncompression = \"lz4\"")
                .unwrap_err()
                .path,
            "sinks[0].compression"
        );
    }
}

#[cfg(test)]
mod azure_blob_tests {
    use crate::{Config, Env, SinkKind};

    fn load(keys: &str, env: &Env) -> Result<Config, crate::ConfigError> {
        let text = format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopic = \"t\"\n\n[[sinks]]\nname = \"archive\"\ntype = \"azure_blob\"\n{keys}\n\n[dead_letter]\npath = \"/tmp/d.ndjson\"\n"
        );
        Config::from_str(&text, false, env)
    }

    /// The issue's example (connection string from the environment), the secret never shown,
    /// the secret optional (Entra credential) and its errors naming the key.
    #[test]
    fn azure_blob_keys_secrets_and_errors() {
        let env = Env::from_pairs([(
            "ARCHIVE_STORAGE_CONNECTION_STRING",
            "AccountName=a;AccountKey=SECRETKEY",
        )]);
        let c = load(
            "account_url = \"https://contosoarchive.blob.core.windows.net\"\n\
             connection_string_env = \"ARCHIVE_STORAGE_CONNECTION_STRING\"\n\
             layout = \"azure_monitor\"\ncompression = \"none\"",
            &env,
        )
        .unwrap();
        let SinkKind::AzureBlob(b) = &c.sinks[0].kind else {
            panic!("{:?}", c.sinks[0].kind)
        };
        assert_eq!(
            b.connection_string.as_ref().unwrap().expose(),
            "AccountName=a;AccountKey=SECRETKEY"
        );
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("SECRETKEY"), "{shown}");
        // No secret: the source's Entra credential, so account_url is required.
        let c = load(
            "account_url = \"https://a.blob.core.windows.net\"",
            &Env::default(),
        )
        .unwrap();
        assert_eq!(c.sinks[0].schema, entrastream_entra::Schema::Raw);
        assert_eq!(
            load("", &Env::default()).unwrap_err().path,
            "sinks[0].account_url"
        );
        assert_eq!(
            load(
                "account_url = \"https://a\"\nsas_env = \"MISSING\"",
                &Env::default()
            )
            .unwrap_err()
            .path,
            "sinks[0].sas_env"
        );
        assert_eq!(
            load(
                "account_url = \"https://a\"\ncontainer = \"x\"",
                &Env::default()
            )
            .unwrap_err()
            .path,
            "sinks[0].container"
        );
    }
}
