//! The sink's settings (built by the app from the `splunk_hec` config entry) and their checks.

use std::path::PathBuf;
use std::time::Duration;

use entrastream_entra::Schema;
use entrastream_secret::Secret;

/// Which HEC endpoint receives the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HecApi {
    /// `/services/collector/event`: one JSON envelope per record.
    Event,
    /// `/services/collector/raw`: the records as lines, metadata as query parameters.
    Raw,
}

/// TLS options.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Extra CA (PEM) trusted in addition to the web roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (a warning is logged when the sink is built).
    pub insecure_skip_verify: bool,
}

/// Settings of one HEC sink.
#[derive(Debug, Clone)]
pub struct HecConfig {
    /// Sink name (metric label).
    pub name: String,
    /// Base URL such as `https://splunk.example.com:8088`.
    pub endpoint: String,
    /// HEC token.
    pub token: Secret,
    /// Event or raw endpoint.
    pub api: HecApi,
    /// Schema of the `event` payload (default raw, for the Splunk Add-on's CIM mappings).
    pub schema: Schema,
    /// Wait for indexer acknowledgement.
    pub indexer_ack: bool,
    /// Index (token default when `None`).
    pub index: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `sourcetype` (default [`default_sourcetype`] of the schema).
    pub sourcetype: Option<String>,
    /// `host`.
    pub host: Option<String>,
    /// Largest request body, uncompressed.
    pub max_content_length: usize,
    /// Requests in flight while sending one batch.
    pub concurrency: usize,
    /// gzip request bodies.
    pub gzip: bool,
    /// Resend a request whose ack has not turned true after this long.
    pub ack_timeout: Duration,
    /// Interval between ack polls.
    pub ack_poll_interval: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// TLS options.
    pub tls: TlsOptions,
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

impl HecConfig {
    /// Settings with the documented defaults.
    pub fn new(name: impl Into<String>, endpoint: impl Into<String>, token: Secret) -> Self {
        HecConfig {
            name: name.into(),
            endpoint: endpoint.into(),
            token,
            api: HecApi::Event,
            schema: Schema::Raw,
            indexer_ack: false,
            index: None,
            source: None,
            sourcetype: None,
            host: None,
            max_content_length: 1_000_000,
            concurrency: 4,
            gzip: true,
            ack_timeout: Duration::from_secs(60),
            ack_poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            tls: TlsOptions::default(),
        }
    }

    /// The sourcetype sent with every event.
    pub fn effective_sourcetype(&self) -> &str {
        self.sourcetype
            .as_deref()
            .unwrap_or_else(|| default_sourcetype(self.schema))
    }

    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.endpoint.trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| format!("endpoint {url:?} must start with https:// or http://"))?;
        if host.is_empty() || host.contains('/') {
            return Err(format!(
                "endpoint {url:?} must be scheme://host[:port] without a path"
            ));
        }
        if self.token.expose().trim().is_empty() {
            return Err("token is empty".into());
        }
        if self.max_content_length < 1024 {
            return Err("max_content_length must be at least 1 KiB".into());
        }
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if self.ack_poll_interval.is_zero() || self.ack_timeout < self.ack_poll_interval {
            return Err("ack_timeout must be at least ack_poll_interval (> 0)".into());
        }
        Ok(())
    }
}
