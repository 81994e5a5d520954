//! The keys of `type = "archive_dir"` and `type = "azure_blob"`, their defaults and checks.

use std::path::PathBuf;
use std::time::Duration;

pub use entrastream_archive::Compression;
use entrastream_entra::Schema;
use entrastream_secret::Secret;
use entrastream_settings::InvalidKey;
use entrastream_settings::units;
use serde::{Deserialize, Serialize};

/// Raw: the record bytes as received, which is what Azure's own export holds.
pub const DEFAULT_SCHEMA: Schema = Schema::Raw;
/// No secrets (`archive_dir`).
pub const SECRET_KEYS: &[&str] = &[];
/// `azure_blob`'s secrets, each optional (none: the source's Entra credential); each also
/// accepts `_env` / `_file`.
pub const BLOB_OPTIONAL_SECRET_KEYS: &[&str] = &["connection_string", "sas"];
/// The largest Append Block the service takes at our API version (4 MiB).
pub const MAX_BLOCK_BYTES: usize = entrastream_blob_client::MAX_APPEND_BLOCK_BYTES;

fn yes() -> bool {
    true
}

/// Which naming scheme the archive uses. Only Azure Monitor's today; a key so that another
/// layout can be added without changing what existing configs mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `insights-logs-<category>/tenantId=<t>/y=…/m=00/PT1H.json` (`docs/archive.md`).
    #[default]
    AzureMonitor,
}

/// `type = "archive_dir"`: the storage-export layout under a local directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirConfig {
    /// The root: one directory per container under it.
    pub path: PathBuf,
    /// `azure_monitor` (default).
    #[serde(default)]
    pub layout: Layout,
    /// none (default, as Azure writes) | gzip | zstd.
    #[serde(default)]
    pub compression: Compression,
    /// fsync each write (default true; false only for benchmarks).
    #[serde(default = "yes", deserialize_with = "units::flag")]
    pub fsync: bool,
}

impl DirConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if self.path.as_os_str().is_empty() {
            return Err(InvalidKey::new(
                "path",
                "must not be empty: name the directory the archive is written under",
            ));
        }
        Ok(())
    }
}

fn d_max_block_bytes() -> usize {
    MAX_BLOCK_BYTES
}
fn d_max_blocks_per_blob() -> u32 {
    entrastream_archive::layout::MAX_BLOCKS_PER_APPEND_BLOB
}
fn d_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `type = "azure_blob"`: the storage-export layout in append blobs of a storage account.
/// Authorization: `connection_string` (Shared Key or SAS), `sas` (with `account_url`), or,
/// with neither, the source's Entra credential (`account_url` required).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobConfig {
    /// `https://<account>.blob.core.windows.net` (Azurite:
    /// `http://127.0.0.1:10000/devstoreaccount1`); with a connection string, its endpoint is
    /// used when this is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_url: Option<String>,
    /// A storage connection string (`connection_string_env` / `_file` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<Secret>,
    /// An account or container SAS token (`sv=…&sig=…`; `sas_env` / `_file` too); needs create,
    /// add, write, read and list rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sas: Option<Secret>,
    /// `azure_monitor` (default).
    #[serde(default)]
    pub layout: Layout,
    /// none (default, as Azure writes) | gzip | zstd.
    #[serde(default)]
    pub compression: Compression,
    /// Largest block appended in one call (default and most: 4 MiB). A block never splits a
    /// record, so a record longer than this is dead-lettered.
    #[serde(default = "d_max_block_bytes", with = "units::size")]
    pub max_block_bytes: usize,
    /// Blocks written to one blob before rolling to the numbered sibling (default and most:
    /// Azure's 50,000).
    #[serde(default = "d_max_blocks_per_blob")]
    pub max_blocks_per_blob: u32,
    /// Longest wait for one storage request (default 30s); a timeout is retried.
    #[serde(default = "d_request_timeout", with = "units::duration")]
    pub request_timeout: Duration,
}

impl BlobConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if self.connection_string.is_some() && self.sas.is_some() {
            return Err(InvalidKey::new(
                "sas",
                "set either connection_string or sas, not both",
            ));
        }
        match &self.account_url {
            Some(u) => {
                let ok = (u.starts_with("https://") || u.starts_with("http://"))
                    && !u.contains('?')
                    && u.len() > "https://".len();
                if !ok {
                    return Err(InvalidKey::new(
                        "account_url",
                        "must be https://<account>.blob.core.windows.net (no query: put a SAS in `sas`)",
                    ));
                }
            }
            None if self.connection_string.is_none() => {
                return Err(InvalidKey::new(
                    "account_url",
                    "required unless connection_string is set: https://<account>.blob.core.windows.net",
                ));
            }
            None => {}
        }
        if !(1024..=MAX_BLOCK_BYTES).contains(&self.max_block_bytes) {
            return Err(InvalidKey::new(
                "max_block_bytes",
                "must be between 1KiB and 4MiB (Append Block's limit)",
            ));
        }
        if !(1..=entrastream_archive::layout::MAX_BLOCKS_PER_APPEND_BLOB)
            .contains(&self.max_blocks_per_blob)
        {
            return Err(InvalidKey::new(
                "max_blocks_per_blob",
                "must be between 1 and 50000 (an append blob's limit)",
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(InvalidKey::new("request_timeout", "must be more than 0s"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: DirConfig = serde_json::from_str(r#"{"path":"/a"}"#).unwrap();
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.layout, Layout::AzureMonitor);
        assert!(c.fsync);
        let c: DirConfig =
            serde_json::from_str(r#"{"path":"/a","compression":"zstd","fsync":"false"}"#).unwrap();
        assert_eq!(c.compression, Compression::Zstd);
        assert!(!c.fsync);
        assert!(serde_json::from_str::<DirConfig>(r#"{"path":"/a","rotate":1}"#).is_err());
        assert!(serde_json::from_str::<DirConfig>(r#"{"path":"/a","compression":"lz4"}"#).is_err());
        let empty: DirConfig = serde_json::from_str(r#"{"path":""}"#).unwrap();
        assert_eq!(empty.validate().unwrap_err().key, "path");
    }

    #[test]
    fn blob_keys_defaults_and_errors() {
        let c: BlobConfig =
            serde_json::from_str(r#"{"account_url":"https://a.blob.core.windows.net"}"#).unwrap();
        c.validate().unwrap();
        assert_eq!(c.max_block_bytes, 4 << 20);
        assert_eq!(c.max_blocks_per_blob, 50_000);
        assert_eq!(c.compression, Compression::None);
        let c: BlobConfig = serde_json::from_str(
            r#"{"connection_string":"AccountName=a;AccountKey=SECRETKEY","max_block_bytes":"64KiB","compression":"gzip"}"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.max_block_bytes, 64 << 10);
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("SECRETKEY"), "{shown}");
        for (json, key) in [
            (r#"{}"#, "account_url"),
            (r#"{"account_url":"https://a?sig=x"}"#, "account_url"),
            (
                r#"{"connection_string":"x","sas":"y","account_url":"https://a"}"#,
                "sas",
            ),
            (
                r#"{"account_url":"https://a","max_block_bytes":"5MiB"}"#,
                "max_block_bytes",
            ),
            (
                r#"{"account_url":"https://a","max_blocks_per_blob":50001}"#,
                "max_blocks_per_blob",
            ),
        ] {
            let c: BlobConfig = serde_json::from_str(json).unwrap();
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, key, "{json}");
            // Whole sentences: no line-continuation gap left in the operator's message.
            assert!(!e.message.contains("  "), "{json}: {:?}", e.message);
        }
        assert!(
            serde_json::from_str::<BlobConfig>(r#"{"account_url":"https://a","container":"x"}"#)
                .is_err()
        );
    }
}
