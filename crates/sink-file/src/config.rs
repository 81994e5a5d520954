//! The keys of the local sinks (`[[sinks]] type = "file" | "stdout" | "blackhole" |
//! "dead_letter"`, and the `[dead_letter]` section), their defaults and checks: the one place
//! they are written.

use std::path::PathBuf;
use std::str::FromStr;

use entrastream_settings::InvalidKey;
use entrastream_settings::units::{self, Bytes};
use serde::{Deserialize, Serialize};

/// Rotate above 1 GiB by default.
fn d_rotate() -> Bytes {
    Bytes(1 << 30)
}

/// Rotated files kept by default: ten files of `rotate_bytes` (10 GiB at the default size)
/// bound the disk a file sink can fill, however long it runs.
pub(crate) fn d_max_files() -> u32 {
    10
}

fn yes() -> bool {
    true
}

/// `type = "file"`: NDJSON file, rotated by size, fsynced before acknowledging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// File path.
    pub path: PathBuf,
    /// Rotate above this size (0 = never).
    #[serde(default = "d_rotate")]
    pub rotate_bytes: Bytes,
    /// fsync each batch (default true; false only for benchmarks).
    #[serde(default = "yes", deserialize_with = "units::flag")]
    pub fsync: bool,
    /// Permissions of the files (default `0640`).
    #[serde(default)]
    pub file_mode: FileMode,
    /// Rotated files kept, oldest removed first (default 10; 0 keeps all).
    #[serde(default = "d_max_files")]
    pub max_files: u32,
}

/// `[dead_letter]`, or `type = "dead_letter"`: the dead-letter file (records in `raw`, always
/// fsynced).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// Dead-letter NDJSON file.
    pub path: PathBuf,
    /// Rotate above this size (0 = never).
    #[serde(default = "d_rotate")]
    pub rotate_bytes: Bytes,
    /// Permissions of the files (default `0640`).
    #[serde(default)]
    pub file_mode: FileMode,
    /// Rotated files kept, oldest removed first (default 10; 0 keeps all).
    #[serde(default = "d_max_files")]
    pub max_files: u32,
}

/// `type = "stdout"` and `type = "blackhole"`: no keys of their own.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoKeys {}

fn check_path(path: &std::path::Path) -> Result<(), InvalidKey> {
    if path.as_os_str().is_empty() {
        return Err(InvalidKey::new("path", "must not be empty"));
    }
    Ok(())
}

impl FileConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_path(&self.path)
    }
}

impl DeadLetterConfig {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_path(&self.path)
    }
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
