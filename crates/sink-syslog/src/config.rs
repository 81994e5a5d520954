//! The sink's own keys of a `type = "syslog"` entry (the common `name`, `type`, `schema` and
//! `categories` stay with the caller), their defaults (all in [`defaults`]) and a pure
//! [`Config::validate`] whose messages name the key.

use std::path::PathBuf;
use std::time::Duration;

use entrastream_settings::InvalidKey;
use entrastream_settings::units::{Bytes, Dur};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the syslog messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Plain TCP (RFC 6587): a record counts as accepted once written and flushed.
    Tcp,
    /// TCP with TLS (RFC 5425), via rustls.
    Tls,
    /// RELP (rsyslog's `imrelp`): a record counts as accepted only when the receiver answers
    /// `rsp 200` for it. TLS on top when a `tls` table is given.
    Relp,
}

/// How messages are delimited on a TCP/TLS stream (RELP has its own frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// `LEN SP MSG` (RFC 6587 §3.4.1, RFC 5425): any byte may appear in the message.
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2): only for receivers that need it; a line feed or carriage
    /// return inside a message is escaped first (see [`crate::frame`]).
    Newline,
}

/// What the MSG part holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// RFC 5424 header and structured data, MSG = the record as JSON in the sink's schema.
    Rfc5424Json,
    /// RFC 5424 header, MSG = an ArcSight CEF:0 event.
    Cef,
    /// RFC 5424 header, MSG = an IBM QRadar LEEF 2.0 event.
    Leef,
}

/// Syslog facility (RFC 5424 §6.2.1), by its usual name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    Kern,
    User,
    Mail,
    Daemon,
    Auth,
    Syslog,
    Lpr,
    News,
    Uucp,
    Cron,
    Authpriv,
    Ftp,
    Ntp,
    /// 13, "log audit".
    Audit,
    /// 14, "log alert".
    Alert,
    /// 15, the clock daemon (Solaris "cron2").
    Clock,
    Local0,
    Local1,
    Local2,
    Local3,
    Local4,
    Local5,
    Local6,
    Local7,
}

impl Facility {
    /// The facility's number (0–23).
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// TLS settings (for `transport = "tls"`, and RELP over TLS).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the CA(s) that signed the receiver's certificate. When set, only these
    /// CAs are trusted (a private syslog CA is the usual case); otherwise the web roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for receivers that require client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Name of an environment variable holding the path of the key file (for orchestrators
    /// that mount the secret at a path they choose). Read when the sink is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file_env: Option<String>,
    /// Name sent as SNI and checked against the certificate (default: the host of `address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// Settings of one syslog sink.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `host:port` of the receiver.
    pub address: String,
    /// tcp | tls | relp.
    #[serde(default = "defaults::transport")]
    pub transport: Transport,
    /// octet_counting | newline (TCP and TLS only).
    #[serde(default = "defaults::framing")]
    pub framing: Framing,
    /// rfc5424_json | cef | leef.
    #[serde(default = "defaults::format")]
    pub format: Format,
    /// TLS settings; required for `transport = "tls"`, turns on TLS for RELP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// APP-NAME of the header (1–48 printable US-ASCII characters).
    #[serde(default = "defaults::app_name")]
    pub app_name: String,
    /// HOSTNAME of the header (default: this machine's host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Facility of every message.
    #[serde(default = "defaults::facility")]
    pub facility: Facility,
    /// SD-ID of the structured-data element (`name@PEN`; the default uses 32473, the
    /// enterprise number RFC 5612 reserves for documentation: set your own if you have one).
    #[serde(default = "defaults::sd_id")]
    pub sd_id: String,
    /// Largest message (header + MSG, without framing) the receiver takes; larger records go
    /// to the dead-letter sink, never truncated. Match the receiver's limit (rsyslog's
    /// `maxMessageSize`).
    #[serde(
        default = "defaults::max_message_bytes",
        deserialize_with = "bytes",
        serialize_with = "bytes_text"
    )]
    pub max_message_bytes: u64,
    /// Connections used at once (a batch is split across them).
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    /// RELP: messages sent before waiting for their acknowledgements.
    #[serde(default = "defaults::relp_window")]
    pub relp_window: usize,
    /// Most encoded bytes merged into one send.
    #[serde(
        default = "defaults::batch_max_bytes",
        deserialize_with = "bytes",
        serialize_with = "bytes_text"
    )]
    pub batch_max_bytes: u64,
    /// How long a send waits for more batches to merge (0 = send what is queued).
    #[serde(
        default = "defaults::batch_timeout",
        deserialize_with = "duration",
        serialize_with = "duration_text"
    )]
    pub batch_timeout: Duration,
    /// Timeout of a connect, TLS handshake or RELP open.
    #[serde(
        default = "defaults::connect_timeout",
        deserialize_with = "duration",
        serialize_with = "duration_text"
    )]
    pub connect_timeout: Duration,
    /// Longest a write (or a RELP acknowledgement) may stall before the connection is
    /// considered dead and the unconfirmed records are resent on a new one.
    #[serde(
        default = "defaults::request_timeout",
        deserialize_with = "duration",
        serialize_with = "duration_text"
    )]
    pub request_timeout: Duration,
    /// How long one send keeps reconnecting (with backoff) before it reports `Retryable`.
    #[serde(
        default = "defaults::retry_window",
        deserialize_with = "duration",
        serialize_with = "duration_text"
    )]
    pub retry_window: Duration,
}

/// Every default, in one place.
pub mod defaults {
    use super::*;

    pub fn transport() -> Transport {
        Transport::Tcp
    }
    pub fn framing() -> Framing {
        Framing::OctetCounting
    }
    pub fn format() -> Format {
        Format::Rfc5424Json
    }
    pub fn app_name() -> String {
        "entrastream".into()
    }
    pub fn facility() -> Facility {
        Facility::Authpriv
    }
    pub fn sd_id() -> String {
        "entrastream@32473".into()
    }
    pub fn max_message_bytes() -> u64 {
        64 * 1024
    }
    pub fn concurrency() -> usize {
        1
    }
    pub fn relp_window() -> usize {
        128
    }
    pub fn batch_max_bytes() -> u64 {
        1 << 20
    }
    pub fn batch_timeout() -> Duration {
        Duration::ZERO
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn request_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn retry_window() -> Duration {
        Duration::from_secs(30)
    }
}

/// A setting that cannot work; the message names the key and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("address {0:?} must be host:port (for example \"siem.example.com:6514\")")]
    Address(String),
    #[error("transport = \"tls\" needs a tls table (at least `tls = {{}}` to use the web roots)")]
    TlsMissing,
    #[error("tls is set but transport = \"tcp\": use transport = \"tls\" or remove the tls table")]
    TlsWithTcp,
    #[error(
        "tls.cert_file and a key (tls.key_file or tls.key_file_env) go together: set both or neither"
    )]
    ClientCertHalf,
    #[error("tls.key_file and tls.key_file_env are both set: keep one")]
    KeyTwice,
    #[error(
        "framing = \"newline\" has no meaning with transport = \"relp\" (RELP frames messages itself): remove it"
    )]
    FramingWithRelp,
    #[error("{key} {value:?} is not valid: {why}")]
    Header {
        key: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("max_message_bytes = {0} is below 480, the least RFC 5424 lets a receiver accept")]
    MaxMessageTooSmall(u64),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("{0} must be more than 0s")]
    ZeroDuration(&'static str),
}

impl ConfigError {
    /// The key the error is about, relative to the sink's table.
    pub fn key(&self) -> &'static str {
        match self {
            ConfigError::Address(_) => "address",
            ConfigError::TlsMissing | ConfigError::TlsWithTcp => "tls",
            ConfigError::ClientCertHalf => "tls.cert_file",
            ConfigError::KeyTwice => "tls.key_file",
            ConfigError::FramingWithRelp => "framing",
            ConfigError::Header { key, .. } => key,
            ConfigError::MaxMessageTooSmall(_) => "max_message_bytes",
            ConfigError::Zero(key) | ConfigError::ZeroDuration(key) => key,
        }
    }
}

impl From<ConfigError> for InvalidKey {
    fn from(e: ConfigError) -> Self {
        InvalidKey::new(e.key(), e.to_string())
    }
}

/// RFC 5424 PRINTUSASCII (33–126), at most `max` long.
fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| (33..=126).contains(&b))
}

/// An SD-NAME: printable, without `=`, space, `]` or `"`, at most 32 long.
pub(crate) fn sd_name(s: &str) -> bool {
    printable(s, 32) && !s.bytes().any(|b| matches!(b, b'=' | b']' | b'"'))
}

impl Config {
    /// Settings with every default and this receiver address.
    pub fn new(address: impl Into<String>) -> Self {
        Config {
            address: address.into(),
            transport: defaults::transport(),
            framing: defaults::framing(),
            format: defaults::format(),
            tls: None,
            app_name: defaults::app_name(),
            hostname: None,
            facility: defaults::facility(),
            sd_id: defaults::sd_id(),
            max_message_bytes: defaults::max_message_bytes(),
            concurrency: defaults::concurrency(),
            relp_window: defaults::relp_window(),
            batch_max_bytes: defaults::batch_max_bytes(),
            batch_timeout: defaults::batch_timeout(),
            connect_timeout: defaults::connect_timeout(),
            request_timeout: defaults::request_timeout(),
            retry_window: defaults::retry_window(),
        }
    }

    /// The host part of `address` (brackets of an IPv6 literal removed).
    pub fn host(&self) -> &str {
        let host = self
            .address
            .rsplit_once(':')
            .map_or(self.address.as_str(), |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Checks the settings without I/O; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {}
            _ => return Err(ConfigError::Address(self.address.clone())),
        }
        match (self.transport, &self.tls) {
            (Transport::Tls, None) => return Err(ConfigError::TlsMissing),
            (Transport::Tcp, Some(_)) => return Err(ConfigError::TlsWithTcp),
            _ => {}
        }
        if let Some(tls) = &self.tls {
            if tls.key_file.is_some() && tls.key_file_env.is_some() {
                return Err(ConfigError::KeyTwice);
            }
            let has_key = tls.key_file.is_some() || tls.key_file_env.is_some();
            if tls.cert_file.is_some() != has_key {
                return Err(ConfigError::ClientCertHalf);
            }
        }
        if self.transport == Transport::Relp && self.framing == Framing::Newline {
            return Err(ConfigError::FramingWithRelp);
        }
        if !printable(&self.app_name, 48) {
            return Err(ConfigError::Header {
                key: "app_name",
                value: self.app_name.clone(),
                why: "use 1 to 48 printable ASCII characters without spaces",
            });
        }
        if let Some(h) = &self.hostname
            && !printable(h, 255)
        {
            return Err(ConfigError::Header {
                key: "hostname",
                value: h.clone(),
                why: "use 1 to 255 printable ASCII characters without spaces",
            });
        }
        if !sd_name(&self.sd_id) || !self.sd_id.contains('@') {
            return Err(ConfigError::Header {
                key: "sd_id",
                value: self.sd_id.clone(),
                why: "use name@enterprise-number, at most 32 printable ASCII characters without = ] \" or spaces",
            });
        }
        if self.max_message_bytes < 480 {
            return Err(ConfigError::MaxMessageTooSmall(self.max_message_bytes));
        }
        for (key, v) in [
            ("concurrency", self.concurrency),
            ("relp_window", self.relp_window),
            ("batch_max_bytes", self.batch_max_bytes as usize),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(key));
            }
        }
        for (key, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("retry_window", self.retry_window),
        ] {
            if d.is_zero() {
                return Err(ConfigError::ZeroDuration(key));
            }
        }
        Ok(())
    }
}

/// A size in the config syntax of every component (`entrastream_settings::units`).
fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Bytes::deserialize(d).map(|b| b.0)
}

/// A duration in the config syntax of every component (`entrastream_settings::units`).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Dur::deserialize(d).map(|t| t.0)
}

fn bytes_text<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    Bytes(*v).serialize(s)
}

fn duration_text<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
    Dur(*v).serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_example_parses_with_defaults() {
        let c = parse(
            r#"
            address = "qradar.example.com:6514"
            transport = "tls"
            framing = "octet_counting"
            format = "cef"
            tls = { ca_file = "/etc/entrastream/ca.pem", cert_file = "c.pem", key_file_env = "KEY_PATH" }
            app_name = "entrastream"
            facility = "authpriv"
            "#,
        )
        .unwrap();
        assert_eq!(c.transport, Transport::Tls);
        assert_eq!(c.format, Format::Cef);
        assert_eq!(c.facility.code(), 10);
        assert_eq!(c.max_message_bytes, 65536);
        assert_eq!(c.host(), "qradar.example.com");
        c.validate().unwrap();
        let d = parse(r#"address = "h:514""#).unwrap();
        assert_eq!(d, Config::new("h:514"));
    }

    #[test]
    fn unknown_keys_and_units() {
        assert!(
            parse("address = \"h:1\"\nport = 5")
                .unwrap_err()
                .contains("port")
        );
        let c =
            parse("address = \"h:1\"\nmax_message_bytes = \"256KiB\"\nrequest_timeout = \"250ms\"")
                .unwrap();
        assert_eq!(c.max_message_bytes, 256 * 1024);
        assert_eq!(c.request_timeout, Duration::from_millis(250));
        assert!(parse("address = \"h:1\"\nfacility = \"local9\"").is_err());
    }

    #[test]
    fn validate_names_the_key() {
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::new("h:514");
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.address = "nohost".into()).contains("address"));
        assert!(bad(|c| c.transport = Transport::Tls).contains("tls table"));
        assert!(bad(|c| c.tls = Some(TlsConfig::default())).contains("transport"));
        assert!(
            bad(|c| {
                c.transport = Transport::Tls;
                c.tls = Some(TlsConfig {
                    cert_file: Some("c".into()),
                    ..TlsConfig::default()
                })
            })
            .contains("tls.cert_file")
        );
        assert!(bad(|c| c.app_name = "has space".into()).contains("app_name"));
        assert!(bad(|c| c.sd_id = "noat".into()).contains("sd_id"));
        assert!(bad(|c| c.max_message_bytes = 100).contains("max_message_bytes"));
        assert!(bad(|c| c.relp_window = 0).contains("relp_window"));
        assert!(bad(|c| c.request_timeout = Duration::ZERO).contains("request_timeout"));
        assert!(
            bad(|c| {
                c.transport = Transport::Relp;
                c.framing = Framing::Newline
            })
            .contains("framing")
        );
    }
}
