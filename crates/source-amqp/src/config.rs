//! The AMQP source's keys (`[source] type = "amqp"`), their defaults and checks: the one place
//! they are written. `entrastream-config` resolves the `_env` / `_file` forms of the secret
//! keys, deserializes the rest of `[source]` into [`Config`] (a Kafka-only key is an unknown
//! key) and calls [`Config::validate`]; [`crate::AmqpSourceConfig::from_config`] turns it into
//! the source's settings. The `[checkpoint]` store is configured by `entrastream-config`.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use entrastream_credential::CredentialKeys;
use entrastream_partition_store::Strategy;
use entrastream_secret::Secret;
use entrastream_settings::InvalidKey;
use entrastream_settings::units::Dur;
use serde::{Deserialize, Serialize};

use crate::settings::{AmqpSourceConfig, Balancing, EventHubsAuth, StartFrom, default_owner_id};

/// Keys holding a secret; each also accepts `KEY_env` and `KEY_file`.
pub const SECRET_KEYS: &[&str] = &["connection_string", "client_secret", "certificate_password"];

/// The consumer group when none is set: the only group every hub has.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";

/// `credential`: which Entra ID credential authenticates to the namespace (the same values as
/// the Kafka source's).
pub use entrastream_credential::Credential;

/// `load_balancing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancing {
    /// One partition per cycle, as the Go and JS SDKs.
    Balanced,
    /// The whole fair share in one cycle (default).
    Greedy,
}

/// `[source]` with `type = "amqp"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Event Hubs connection string (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<Secret>,
    /// Consumer group (default [`DEFAULT_CONSUMER_GROUP`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// `earliest` (default), `latest`, an RFC 3339 enqueued time or a sequence number.
    #[serde(default)]
    pub start_position: StartSetting,
    /// Fully qualified namespace, with an Entra credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The event hub (defaults to the connection string's EntityPath).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_hub: Option<String>,
    /// The Entra credential (instead of a connection string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// Application (client) id for `client_secret`, `client_certificate`, a user-assigned
    /// managed identity, or to override workload identity's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Directory (tenant) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Client secret (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// PKCS#12 certificate for `client_certificate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_path: Option<PathBuf>,
    /// Password of the certificate (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_password: Option<Secret>,
    /// `amqp://host:port` of a local emulator or test peer (plain AMQP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_endpoint: Option<String>,
    /// Events prefetched per partition (default [`crate::DEFAULT_PREFETCH`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<u32>,
    /// The hub's message retention, for `entrastream_retention_headroom_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Dur>,
    /// How often partition properties are read for lag metrics (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties_interval: Option<Dur>,
    /// `greedy` (default) or `balanced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancing: Option<LoadBalancing>,
    /// How often ownership is renewed and rebalanced (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_interval: Option<Dur>,
    /// An ownership not renewed for this long may be taken (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership_expiry: Option<Dur>,
    /// This replica's owner id (default: host name plus a random suffix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<String>,
}

const D_UPDATE: Duration = Duration::from_secs(10);
const D_EXPIRY: Duration = Duration::from_secs(60);
const D_PROPERTIES_INTERVAL: Duration = Duration::from_secs(30);

impl Config {
    /// The consumer group: as configured, else [`DEFAULT_CONSUMER_GROUP`].
    pub fn consumer_group(&self) -> String {
        self.consumer_group
            .clone()
            .unwrap_or_else(|| DEFAULT_CONSUMER_GROUP.into())
    }

    /// Checks the settings without touching the network; the error names the key and never
    /// shows a secret.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        fn err(key: &str, message: impl Into<String>) -> InvalidKey {
            InvalidKey::new(key, message)
        }
        match (&self.connection_string, self.credential) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "credential",
                    "set either a connection string or credential, not both",
                ));
            }
            (None, None) => {
                return Err(err(
                    "credential",
                    "set connection_string_env (or connection_string / connection_string_file), or namespace + event_hub + credential (workload_identity, managed_identity, client_secret, client_certificate, azure_cli)",
                ));
            }
            (Some(cs), None) => {
                let text = cs.expose();
                let has = |k: &str| {
                    text.split(';').any(|p| {
                        p.split_once('=').is_some_and(|(key, v)| {
                            key.trim().eq_ignore_ascii_case(k) && !v.trim().is_empty()
                        })
                    })
                };
                if !has("Endpoint") {
                    return Err(err(
                        "connection_string",
                        "connection string has no Endpoint=sb://NAMESPACE.servicebus.windows.net/",
                    ));
                }
                if !has("SharedAccessKey") && !has("SharedAccessSignature") {
                    return Err(err(
                        "connection_string",
                        "connection string has no SharedAccessKey",
                    ));
                }
                if !has("EntityPath") && self.event_hub.is_none() {
                    return Err(err(
                        "event_hub",
                        "required: the connection string is namespace-level (no EntityPath)",
                    ));
                }
                if self.namespace.is_some() {
                    return Err(err(
                        "namespace",
                        "the connection string names the namespace; remove source.namespace",
                    ));
                }
            }
            (None, Some(cred)) => {
                let ns = self.namespace.as_deref().unwrap_or_default();
                if ns.is_empty() {
                    return Err(err(
                        "namespace",
                        "required with a credential: the namespace host name, e.g. contoso-ns.servicebus.windows.net",
                    ));
                }
                if ns.contains("://") || ns.contains('/') {
                    return Err(err(
                        "namespace",
                        format!(
                            "{ns:?} must be a host name such as contoso-ns.servicebus.windows.net, without sb:// or a path"
                        ),
                    ));
                }
                if self.event_hub.as_deref().unwrap_or_default().is_empty() {
                    return Err(err("event_hub", "required with a credential"));
                }
                self.credential_keys().resolve(cred)?;
            }
        }
        if let Some(ep) = &self.custom_endpoint
            && !ep.starts_with("amqp://")
            && !ep.starts_with("amqps://")
        {
            return Err(err(
                "custom_endpoint",
                format!("{ep:?} must be an amqp://host:port (plain) or amqps://host:port URL"),
            ));
        }
        if self.prefetch == Some(0) {
            return Err(err("prefetch", "must be at least 1"));
        }
        let update = self.update_interval.map_or(D_UPDATE, |d| d.0);
        let expiry = self.ownership_expiry.map_or(D_EXPIRY, |d| d.0);
        if update.is_zero() {
            return Err(err("update_interval", "must be greater than zero"));
        }
        if expiry <= update {
            return Err(err(
                "ownership_expiry",
                format!(
                    "must be longer than source.update_interval ({} ms); 3× or more is recommended",
                    update.as_millis()
                ),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// The keys the `credential` choices read.
    fn credential_keys(&self) -> CredentialKeys<'_> {
        CredentialKeys {
            client_id: self.client_id.as_deref(),
            tenant_id: self.tenant_id.as_deref(),
            client_secret: self.client_secret.as_ref(),
            certificate_path: self.certificate_path.as_deref(),
            certificate_password: self.certificate_password.as_ref(),
        }
    }
}

impl AmqpSourceConfig {
    /// The source's settings from a validated [`Config`]; `drain_timeout` is the pipeline's,
    /// `default_retention` applies when `retention` is not set.
    pub fn from_config(
        c: &Config,
        drain_timeout: Duration,
        default_retention: Duration,
    ) -> Result<Self, InvalidKey> {
        let required = |key: &str| InvalidKey::new(key, "required");
        let auth = match (&c.connection_string, c.credential) {
            (Some(cs), _) => EventHubsAuth::ConnectionString {
                connection_string: cs.clone(),
                event_hub: c.event_hub.clone(),
            },
            (None, Some(cred)) => {
                let credential = c.credential_keys().resolve(cred)?;
                EventHubsAuth::Entra {
                    namespace: c.namespace.clone().ok_or_else(|| required("namespace"))?,
                    event_hub: c.event_hub.clone().ok_or_else(|| required("event_hub"))?,
                    credential,
                }
            }
            (None, None) => {
                return Err(InvalidKey::new(
                    "credential",
                    "set a connection string or a credential",
                ));
            }
        };
        let start = match c.start_position {
            StartSetting::Earliest => StartFrom::Earliest,
            StartSetting::Latest => StartFrom::Latest,
            StartSetting::EnqueuedTime(t) => StartFrom::EnqueuedTime(t),
            StartSetting::SequenceNumber(n) => StartFrom::SequenceNumber(n),
        };
        // Greedy by default: a replica takes its whole fair share in one cycle, so partitions
        // are split within two update intervals of a replica joining (Balanced needs one cycle
        // per partition: 16 cycles for 32 partitions over 2 replicas). Over-owners still give
        // partitions back one per cycle, and ETag-conditional claims keep owners exclusive.
        let strategy = match c.load_balancing {
            Some(LoadBalancing::Balanced) => Strategy::Balanced,
            Some(LoadBalancing::Greedy) | None => Strategy::Greedy,
        };
        Ok(AmqpSourceConfig {
            auth,
            consumer_group: c.consumer_group(),
            start,
            custom_endpoint: c.custom_endpoint.clone(),
            prefetch: c.prefetch.unwrap_or(crate::DEFAULT_PREFETCH),
            retention: c.retention.map_or(default_retention, |d| d.0),
            properties_interval: c.properties_interval.map_or(D_PROPERTIES_INTERVAL, |d| d.0),
            balancing: Balancing {
                strategy,
                update_interval: c.update_interval.map_or(D_UPDATE, |d| d.0),
                ownership_expiry: c.ownership_expiry.map_or(D_EXPIRY, |d| d.0),
                owner_id: c.owner_id.clone().unwrap_or_else(default_owner_id),
            },
            drain_timeout,
        })
    }
}

/// `start_position`: where a partition without a checkpoint starts.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum StartSetting {
    /// The oldest retained event (default).
    #[default]
    Earliest,
    /// New events only.
    Latest,
    /// The first event enqueued at or after this instant (AMQP).
    EnqueuedTime(SystemTime),
    /// This sequence number, inclusive (AMQP).
    SequenceNumber(i64),
}

impl fmt::Debug for StartSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl StartSetting {
    fn to_text(self) -> String {
        match self {
            StartSetting::Earliest => "earliest".into(),
            StartSetting::Latest => "latest".into(),
            StartSetting::SequenceNumber(n) => n.to_string(),
            StartSetting::EnqueuedTime(t) => {
                let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
                let ts = entrastream_entra::Timestamp::from_unix(
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    d.subsec_nanos(),
                );
                let mut out = String::new();
                if let Some(ts) = ts {
                    let _ = ts.write_rfc3339(&mut out);
                }
                out
            }
        }
    }

    /// Parses `earliest`, `latest`, an RFC 3339 time, or a sequence number.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "earliest" | "beginning" => return Ok(StartSetting::Earliest),
            "latest" | "end" => return Ok(StartSetting::Latest),
            _ => {}
        }
        if let Ok(n) = t.parse::<i64>() {
            if n < 0 {
                return Err(format!("sequence number {n} is negative"));
            }
            return Ok(StartSetting::SequenceNumber(n));
        }
        if t.contains('T') || t.contains('-') {
            let ts = entrastream_entra::Timestamp::parse(t).ok_or_else(|| {
                format!("{t:?} is not an RFC 3339 time such as 2026-11-01T00:00:00Z")
            })?;
            let secs =
                u64::try_from(ts.unix_seconds()).map_err(|_| format!("{t:?} is before 1970"))?;
            return Ok(StartSetting::EnqueuedTime(
                SystemTime::UNIX_EPOCH + Duration::new(secs, ts.subsec_nanos()),
            ));
        }
        Err(format!(
            "{t:?} is not earliest, latest, an RFC 3339 time (2026-11-01T00:00:00Z) or a sequence number"
        ))
    }
}

impl Serialize for StartSetting {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for StartSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StartSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("earliest, latest, an RFC 3339 time or a sequence number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StartSetting, E> {
                StartSetting::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StartSetting, E> {
                StartSetting::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StartSetting, E> {
                StartSetting::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_settings() {
        assert_eq!(StartSetting::parse("earliest"), Ok(StartSetting::Earliest));
        assert_eq!(StartSetting::parse("LATEST"), Ok(StartSetting::Latest));
        assert_eq!(
            StartSetting::parse("12345"),
            Ok(StartSetting::SequenceNumber(12345))
        );
        let t = StartSetting::parse("2026-11-01T00:00:00Z").unwrap();
        assert_eq!(format!("{t:?}"), "2026-11-01T00:00:00Z");
        assert!(StartSetting::parse("yesterday").is_err());
        assert!(StartSetting::parse("-4").is_err());
    }
}
