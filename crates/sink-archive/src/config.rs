//! The keys of `type = "archive_dir"`, their defaults and checks.

use std::path::PathBuf;

pub use entrastream_archive::Compression;
use entrastream_entra::Schema;
use entrastream_settings::InvalidKey;
use entrastream_settings::units;
use serde::{Deserialize, Serialize};

/// Raw: the record bytes as received, which is what Azure's own export holds.
pub const DEFAULT_SCHEMA: Schema = Schema::Raw;
/// No secrets.
pub const SECRET_KEYS: &[&str] = &[];

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
}
