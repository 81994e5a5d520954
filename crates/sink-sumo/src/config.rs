//! The `sumo_logic` sink's keys (`[[sinks]] type = "sumo_logic"`), their defaults and their
//! checks: the one place they are written. `entrastream-config` deserializes the sink's table
//! into [`Config`] (after resolving `url_env` / `url_file` into `url`) and calls
//! [`Config::validate`]; the sink is built from it with [`crate::SumoSink::new`].

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use entrastream_entra::Schema;
use entrastream_secret::Secret;
use entrastream_settings::{InvalidKey, units};
use serde::{Deserialize, Serialize};

/// The schema when the entry sets none.
pub const DEFAULT_SCHEMA: Schema = Schema::Native;

/// Keys holding a secret (the source URL contains its token); each also accepts `KEY_env`
/// and `KEY_file`.
pub const SECRET_KEYS: &[&str] = &["url"];

/// Sumo Logic's documented per-request limit (uncompressed).
pub const SUMO_MAX_REQUEST: usize = 1_000_000;
/// Sumo Logic's recommended smallest request: batches are merged up to it (see
/// `coalesce` in its `Sink` implementation).
pub const SUMO_MIN_REQUEST: usize = 100_000;

/// Settings of one Sumo sink.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP source URL (secret).
    pub url: Secret,
    /// Fixed `X-Sumo-Category` (`sumo_category`); default per record category
    /// ([`crate::default_category`]).
    #[serde(default, rename = "sumo_category")]
    pub category: Option<String>,
    /// `X-Sumo-Name` (`sumo_name`).
    #[serde(default, rename = "sumo_name")]
    pub source_name: Option<String>,
    /// `X-Sumo-Host` (`sumo_host`).
    #[serde(default, rename = "sumo_host")]
    pub source_host: Option<String>,
    /// `X-Sumo-Fields` (`k=v,k=v`) as the table `sumo_fields`.
    #[serde(default, rename = "sumo_fields")]
    pub fields: BTreeMap<String, String>,
    /// Largest request, uncompressed (at most 1 MB).
    #[serde(default = "d_max_request_bytes", with = "units::size")]
    pub max_request_bytes: usize,
    /// Requests in flight per batch.
    #[serde(default = "d_concurrency", deserialize_with = "units::count")]
    pub concurrency: usize,
    /// gzip bodies.
    #[serde(default = "yes", deserialize_with = "units::flag")]
    pub gzip: bool,
    /// Timeout of one request.
    #[serde(default = "d_request_timeout", with = "units::duration")]
    pub request_timeout: Duration,
    /// While merged batches are below [`SUMO_MIN_REQUEST`], wait at most this long for more.
    #[serde(default = "d_batch_timeout", with = "units::duration")]
    pub batch_timeout: Duration,
}

fn d_max_request_bytes() -> usize {
    SUMO_MAX_REQUEST
}
fn d_concurrency() -> usize {
    2
}
fn yes() -> bool {
    true
}
fn d_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn d_batch_timeout() -> Duration {
    Duration::from_secs(1)
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("category", &self.category)
            .field("max_request_bytes", &self.max_request_bytes)
            .field("concurrency", &self.concurrency)
            .field("gzip", &self.gzip)
            .field("batch_timeout", &self.batch_timeout)
            .finish()
    }
}

impl Config {
    /// Settings with the documented defaults (the same as an entry with only `url`).
    pub fn new(url: Secret) -> Self {
        Config {
            url,
            category: None,
            source_name: None,
            source_host: None,
            fields: BTreeMap::new(),
            max_request_bytes: d_max_request_bytes(),
            concurrency: d_concurrency(),
            gzip: yes(),
            request_timeout: d_request_timeout(),
            batch_timeout: d_batch_timeout(),
        }
    }

    /// Checks the settings; the error names the key and never shows the URL (a secret).
    pub fn validate(&self) -> Result<(), InvalidKey> {
        let u = self.url.expose();
        let host_present = (u.starts_with("https://") || u.starts_with("http://"))
            && u.split("://").nth(1).is_some_and(|rest| {
                rest.split(['/', '?'])
                    .next()
                    .is_some_and(|host| !host.is_empty())
            });
        if !host_present {
            return Err(InvalidKey::new(
                "url",
                "must be an http(s):// URL with a host",
            ));
        }
        if self.max_request_bytes > SUMO_MAX_REQUEST || self.max_request_bytes < 1024 {
            return Err(InvalidKey::new(
                "max_request_bytes",
                "must be between 1KiB and 1MB (Sumo Logic refuses larger requests)",
            ));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(InvalidKey::new("concurrency", "must be between 1 and 64"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_keys() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "url": "https://collectors.example/receiver/v1/http/SECRETX",
            "sumo_category": "c", "sumo_fields": {"a": "b"}
        }))
        .unwrap();
        assert_eq!(c.category.as_deref(), Some("c"));
        assert_eq!((c.max_request_bytes, c.concurrency), (1_000_000, 2));
        c.validate().unwrap();
        let e: Result<Config, _> =
            serde_json::from_value(serde_json::json!({"url": "https://h/x", "category": "c"}));
        assert!(e.unwrap_err().to_string().contains("category"));
    }

    #[test]
    fn validate_names_the_key_and_hides_the_url() {
        let mut c = Config::new(Secret::new("ftp://h/receiver/SECRETY"));
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "url");
        assert!(!e.to_string().contains("SECRETY"));
        c.url = Secret::new("https://h/receiver/SECRETY");
        c.max_request_bytes = 2_000_000;
        assert_eq!(c.validate().unwrap_err().key, "max_request_bytes");
        c.max_request_bytes = 1_000_000;
        c.concurrency = 0;
        assert_eq!(c.validate().unwrap_err().key, "concurrency");
    }
}
