//! The `splunk_hec` sink's keys (`[[sinks]] type = "splunk_hec"`), their defaults and their
//! checks: the one place they are written. `entrastream-config` deserializes the sink's table
//! into [`Config`] (after resolving `token_env` / `token_file` into `token`) and calls
//! [`Config::validate`]; the sink is built from it with [`crate::HecSink::new`].

use std::path::PathBuf;
use std::time::Duration;

use entrastream_entra::Schema;
use entrastream_secret::Secret;
use entrastream_settings::{InvalidKey, units};
use serde::{Deserialize, Serialize};

/// The schema when the entry sets none: raw, for the Splunk Add-on's CIM mappings.
pub const DEFAULT_SCHEMA: Schema = Schema::Raw;

/// Keys holding a secret; each also accepts `KEY_env` and `KEY_file`.
pub const SECRET_KEYS: &[&str] = &["token"];

/// Which HEC endpoint receives the data (`api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HecApi {
    /// `/services/collector/event`: one JSON envelope per record.
    #[default]
    Event,
    /// `/services/collector/raw`: the records as lines, metadata as query parameters.
    Raw,
}

/// `tls`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsOptions {
    /// PEM file with the CA that signed the peer's certificate (added to the web roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Do not verify the peer's certificate (logs a warning at start-up). Testing only.
    #[serde(default, deserialize_with = "units::flag")]
    pub insecure_skip_verify: bool,
}

/// Settings of one HEC sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL such as `https://splunk.example.com:8088`.
    pub endpoint: String,
    /// HEC token.
    pub token: Secret,
    /// `event` (JSON envelope, default) or `raw`.
    #[serde(default)]
    pub api: HecApi,
    /// Wait for indexer acknowledgement before accepting a batch.
    #[serde(default, deserialize_with = "units::flag")]
    pub indexer_ack: bool,
    /// Index (token default when `None`).
    #[serde(default)]
    pub index: Option<String>,
    /// `source`.
    #[serde(default)]
    pub source: Option<String>,
    /// `sourcetype` (default [`default_sourcetype`] of the schema).
    #[serde(default)]
    pub sourcetype: Option<String>,
    /// `host`.
    #[serde(default)]
    pub host: Option<String>,
    /// Largest request body, uncompressed.
    #[serde(default = "d_max_content_length", with = "units::size")]
    pub max_content_length: usize,
    /// Requests in flight while sending one batch.
    #[serde(default = "d_concurrency", deserialize_with = "units::count")]
    pub concurrency: usize,
    /// gzip request bodies.
    #[serde(default = "yes", deserialize_with = "units::flag")]
    pub gzip: bool,
    /// Resend a request whose ack has not turned true after this long.
    #[serde(default = "d_ack_timeout", with = "units::duration")]
    pub ack_timeout: Duration,
    /// Interval between ack polls.
    #[serde(default = "d_ack_poll_interval", with = "units::duration")]
    pub ack_poll_interval: Duration,
    /// Timeout of one HTTP request.
    #[serde(default = "d_request_timeout", with = "units::duration")]
    pub request_timeout: Duration,
    /// TLS options.
    #[serde(default)]
    pub tls: TlsOptions,
}

fn d_max_content_length() -> usize {
    1_000_000
}
fn d_concurrency() -> usize {
    4
}
fn yes() -> bool {
    true
}
fn d_ack_timeout() -> Duration {
    Duration::from_secs(60)
}
fn d_ack_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn d_request_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The sourcetype documented for each schema. `raw` keeps the Splunk Add-on for Microsoft
/// Cloud Services' sourcetype so that its CIM field mappings apply unchanged.
pub fn default_sourcetype(schema: Schema) -> &'static str {
    match schema {
        Schema::Raw => "azure:monitor:aad",
        Schema::Native => "entrastream:native",
        Schema::Ecs => "entrastream:ecs",
        Schema::Ocsf => "entrastream:ocsf",
    }
}

impl Config {
    /// Settings with the documented defaults (the same as an entry with only `endpoint` and
    /// `token`).
    pub fn new(endpoint: impl Into<String>, token: Secret) -> Self {
        Config {
            endpoint: endpoint.into(),
            token,
            api: HecApi::default(),
            indexer_ack: false,
            index: None,
            source: None,
            sourcetype: None,
            host: None,
            max_content_length: d_max_content_length(),
            concurrency: d_concurrency(),
            gzip: yes(),
            ack_timeout: d_ack_timeout(),
            ack_poll_interval: d_ack_poll_interval(),
            request_timeout: d_request_timeout(),
            tls: TlsOptions::default(),
        }
    }

    /// The sourcetype sent with every event of `schema`.
    pub fn effective_sourcetype(&self, schema: Schema) -> &str {
        self.sourcetype
            .as_deref()
            .unwrap_or_else(|| default_sourcetype(schema))
    }

    /// Checks the settings without touching the network; the error names the key. Reads the
    /// file system only to check that `tls.ca_file` is a file.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        let url = self.endpoint.trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(host) if !host.is_empty() && !host.contains(['/', '?']) => {}
            Some(host) if !host.is_empty() => {
                return Err(InvalidKey::new(
                    "endpoint",
                    format!("{url:?} must be scheme://host[:port] without a path"),
                ));
            }
            _ => {
                return Err(InvalidKey::new(
                    "endpoint",
                    format!("{url:?} must be an http(s):// URL with a host"),
                ));
            }
        }
        if self.token.expose().trim().is_empty() {
            return Err(InvalidKey::new("token", "is empty"));
        }
        if self.max_content_length < 1024 {
            return Err(InvalidKey::new(
                "max_content_length",
                "must be at least 1KiB",
            ));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(InvalidKey::new("concurrency", "must be between 1 and 64"));
        }
        if self.ack_poll_interval.is_zero() {
            return Err(InvalidKey::new(
                "ack_poll_interval",
                "must be greater than zero",
            ));
        }
        if self.ack_timeout < self.ack_poll_interval {
            return Err(InvalidKey::new(
                "ack_timeout",
                "must be at least ack_poll_interval",
            ));
        }
        if let Some(ca) = &self.tls.ca_file
            && !ca.is_file()
        {
            return Err(InvalidKey::new(
                "tls.ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Config, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn defaults_are_the_documented_ones_in_one_place() {
        let c = parse(serde_json::json!({"endpoint": "https://h:8088", "token": "t"})).unwrap();
        let n = Config::new("https://h:8088", Secret::new("t"));
        assert_eq!(format!("{c:?}"), format!("{n:?}"));
        assert_eq!(
            (c.max_content_length, c.concurrency, c.gzip, c.api),
            (1_000_000, 4, true, HecApi::Event)
        );
        c.validate().unwrap();
    }

    #[test]
    fn enumerated_and_lenient_values() {
        let c = parse(serde_json::json!({
            "endpoint": "https://h:8088", "token": "t", "api": "raw",
            "concurrency": "8", "gzip": "false", "ack_timeout": "2m"
        }))
        .unwrap();
        assert_eq!(c.api, HecApi::Raw);
        assert_eq!((c.concurrency, c.gzip), (8, false));
        assert_eq!(c.ack_timeout, Duration::from_secs(120));
        let e = parse(serde_json::json!({"endpoint": "https://h", "token": "t", "api": "xml"}))
            .unwrap_err();
        assert!(e.to_string().contains("xml"), "{e}");
        let e = parse(serde_json::json!({"endpoint": "https://h", "token": "t", "bogus": 1}))
            .unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn validate_names_the_key() {
        let ok = Config::new("https://h:8088", Secret::new("t"));
        type Break = fn(&mut Config);
        let cases: [(Break, &str); 7] = [
            (|c| c.endpoint = "ftp://h".into(), "endpoint"),
            (|c| c.endpoint = "https://h/services".into(), "endpoint"),
            (|c| c.token = Secret::new(" "), "token"),
            (|c| c.max_content_length = 10, "max_content_length"),
            (|c| c.concurrency = 65, "concurrency"),
            (|c| c.ack_timeout = Duration::from_millis(10), "ack_timeout"),
            (
                |c| c.tls.ca_file = Some("/nonexistent/ca.pem".into()),
                "tls.ca_file",
            ),
        ];
        for (break_it, key) in cases {
            let mut c = ok.clone();
            break_it(&mut c);
            assert_eq!(c.validate().unwrap_err().key, key);
        }
    }
}
