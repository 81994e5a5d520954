//! The `buffer` key of a sink: `{ type = "memory" }` (the default, today's behaviour) or
//! `{ type = "disk", path = "...", max_size = "20GiB" }`.

use std::path::PathBuf;

use entrastream_settings::units::Bytes;
use serde::{Deserialize, Serialize};

/// Smallest `max_size`: a few group commits, so that a full buffer still drains in steps.
pub const MIN_MAX_SIZE: u64 = 1 << 20;

/// A sink's `buffer` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Config {
    /// No disk buffer: the pipeline waits for the sink itself (its byte budget is the only
    /// buffer), as without the key.
    Memory {},
    /// A durable disk buffer in front of the sink.
    Disk(DiskConfig),
}

/// `buffer = { type = "disk", … }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// Directory of this sink's buffer (one directory per sink; created if missing).
    pub path: PathBuf,
    /// Most bytes the buffer's files take; when reached, the sink stops accepting and the
    /// pipeline applies backpressure. Size it as write rate × longest outage to ride out.
    pub max_size: Bytes,
}

/// A `buffer` setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `buffer.path` is empty.
    #[error("`buffer.path` is empty: set the directory that holds this sink's disk buffer")]
    EmptyPath,
    /// `buffer.max_size` below [`MIN_MAX_SIZE`].
    #[error(
        "`buffer.max_size` = {0} bytes is too small: use at least 1MiB (size it as write rate × longest outage to ride out)"
    )]
    TooSmall(u64),
}

impl Default for Config {
    fn default() -> Self {
        Config::Memory {}
    }
}

impl Config {
    /// Checks the setting without touching the disk.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Config::Memory {} => Ok(()),
            Config::Disk(d) => d.validate(),
        }
    }

    /// The disk settings, when the buffer is a disk buffer.
    pub fn disk(&self) -> Option<&DiskConfig> {
        match self {
            Config::Memory {} => None,
            Config::Disk(d) => Some(d),
        }
    }
}

impl DiskConfig {
    /// Checks the setting without touching the disk.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.path.as_os_str().is_empty() {
            return Err(ConfigError::EmptyPath);
        }
        if self.max_size.0 < MIN_MAX_SIZE {
            return Err(ConfigError::TooSmall(self.max_size.0));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sink {
        buffer: Option<Config>,
    }

    fn parse(s: &str) -> Result<Option<Config>, String> {
        toml::from_str::<Sink>(s)
            .map(|s| s.buffer)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn disk_and_memory_parse() {
        let c = parse(r#"buffer = { type = "disk", path = "/var/lib/b", max_size = "20GiB" }"#)
            .unwrap()
            .unwrap();
        let d = c.disk().unwrap();
        assert_eq!(d.path, PathBuf::from("/var/lib/b"));
        assert_eq!(d.max_size.0, 20 << 30);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            parse(r#"buffer = { type = "memory" }"#).unwrap(),
            Some(Config::Memory {})
        );
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(
            parse(r#"buffer = { type = "disk", path = "/b", max_size = 1048576 }"#)
                .unwrap()
                .unwrap()
                .disk()
                .unwrap()
                .max_size
                .0,
            1 << 20
        );
    }

    #[test]
    fn unknown_keys_and_missing_keys_are_errors_naming_the_key() {
        let e =
            parse(r#"buffer = { type = "disk", path = "/b", max_size = "1GiB", max_sise = 1 }"#)
                .unwrap_err();
        assert!(e.contains("max_sise"), "{e}");
        let e = parse(r#"buffer = { type = "disk", path = "/b" }"#).unwrap_err();
        assert!(e.contains("max_size"), "{e}");
        let e = parse(r#"buffer = { type = "memory", path = "/b" }"#).unwrap_err();
        assert!(e.contains("path"), "{e}");
        let e = parse(r#"buffer = { type = "tape" }"#).unwrap_err();
        assert!(e.contains("tape"), "{e}");
        let e = parse(r#"buffer = { type = "disk", path = "/b", max_size = "lots" }"#).unwrap_err();
        assert!(e.contains("lots"), "{e}");
    }

    #[test]
    fn validate_names_the_key() {
        let c = parse(r#"buffer = { type = "disk", path = "", max_size = "1GiB" }"#)
            .unwrap()
            .unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("buffer.path")
        );
        let c = parse(r#"buffer = { type = "disk", path = "/b", max_size = "64KiB" }"#)
            .unwrap()
            .unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("buffer.max_size")
        );
    }
}
