//! The Kafka source's keys (`[source] type = "kafka"`), their defaults and checks: the one place
//! they are written. `entrastream-config` resolves `connection_string_env` / `_file` and
//! `sasl_password_env` / `_file` into the value keys, deserializes the rest of `[source]` into
//! [`Config`] (an AMQP-only key is an unknown key) and calls [`Config::validate`];
//! [`crate::KafkaSourceConfig::from_config`] turns it into the client's settings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use entrastream_credential::Credential;
use entrastream_model::StartPosition;
use entrastream_secret::{REDACTED, Secret};
use entrastream_settings::InvalidKey;
use entrastream_settings::units::{self, Dur};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Keys holding a secret; each also accepts `KEY_env` and `KEY_file`.
pub const SECRET_KEYS: &[&str] = &[
    "connection_string",
    "sasl_password",
    "client_secret",
    "certificate_password",
];

/// The consumer group when none is set: Kafka groups are created on first use.
pub const DEFAULT_CONSUMER_GROUP: &str = "entrastream";

/// `[source]` with `type = "kafka"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Event Hubs connection string (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<Secret>,
    /// Kafka bootstrap servers (instead of a connection string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    /// Topic; defaults to the connection string's EntityPath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Consumer group (default [`DEFAULT_CONSUMER_GROUP`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<String>,
    /// `earliest` (default) or `latest`.
    #[serde(default, with = "start_position")]
    pub start_position: StartPosition,
    /// `plaintext`, `ssl`, `sasl_plaintext`, `sasl_ssl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<String>,
    /// SASL mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// SASL password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_password: Option<Secret>,
    /// Apply Microsoft's recommended Event Hubs client settings (default: on with a
    /// connection string, off with `brokers`).
    #[serde(
        default,
        deserialize_with = "units::lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_hubs_defaults: Option<bool>,
    /// Any other librdkafka property (applied last). Keys holding secrets print as `***`;
    /// keys that would commit offsets behind the pipeline's back are refused.
    #[serde(default)]
    pub properties: Properties,
    /// The hub's message retention, for `entrastream_retention_headroom_seconds` (default
    /// 24h; set it to your hub's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Dur>,
    /// Entra ID credential for SASL OAUTHBEARER on the Event Hubs Kafka endpoint (instead of
    /// a connection string): the same values as the AMQP source's (see [`crate::auth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<Credential>,
    /// The namespace host (`contoso-ns.servicebus.windows.net`) with a credential: the
    /// bootstrap server `HOST:9093` and the token scope. Without it, `brokers` names both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Application (client) id: see the AMQP source's `client_id`.
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
}

/// `start_position`: `earliest` (or `beginning`) and `latest` (or `end`), any case. An
/// enqueued time or a sequence number is an AMQP-only start.
mod start_position {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StartPosition, D::Error> {
        let text = match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "earliest" | "beginning" => Ok(StartPosition::Earliest),
            "latest" | "end" => Ok(StartPosition::Latest),
            _ => Err(serde::de::Error::custom(format!(
                "{text:?}: the Kafka source starts at earliest or latest; an enqueued time or sequence number needs type = \"amqp\""
            ))),
        }
    }

    pub fn serialize<S: Serializer>(v: &StartPosition, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match v {
            StartPosition::Earliest => "earliest",
            StartPosition::Latest => "latest",
        })
    }
}

impl Config {
    /// The consumer group: as configured, else [`DEFAULT_CONSUMER_GROUP`].
    pub fn consumer_group(&self) -> String {
        self.consumer_group
            .clone()
            .unwrap_or_else(|| DEFAULT_CONSUMER_GROUP.into())
    }

    /// True when the Event Hubs client defaults apply.
    pub fn event_hubs_defaults(&self) -> bool {
        self.event_hubs_defaults
            .unwrap_or(self.connection_string.is_some() || self.credential.is_some())
    }

    /// The consumer session timeout: `session.timeout.ms` if set, else librdkafka's
    /// (30 s with the Event Hubs defaults, 45 s without).
    /// See <https://kafka.apache.org/documentation/#consumerconfigs_session.timeout.ms>.
    pub fn session_timeout(&self) -> Duration {
        let ms = self
            .properties
            .get("session.timeout.ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(if self.event_hubs_defaults() {
                30_000
            } else {
                45_000
            });
        Duration::from_millis(ms)
    }

    /// Checks the settings without touching the network; the error names the key and never
    /// shows a secret.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_delivery_properties(&self.properties)?;
        crate::auth::keys::validate(self)?;
        if self.connection_string.is_none() && self.brokers.is_none() && self.namespace.is_none() {
            return Err(InvalidKey::new(
                "brokers",
                "set either brokers or connection_string (or connection_string_env / connection_string_file)",
            ));
        }
        if self.connection_string.is_none() && self.topic.is_none() {
            return Err(InvalidKey::new("topic", "required when brokers is used"));
        }
        if let Some(cs) = &self.connection_string {
            check_connection_string(cs)?;
        }
        Ok(())
    }
}

/// An Event Hubs connection string has an `Endpoint` and a key or signature (the value is
/// never echoed).
pub fn check_connection_string(cs: &Secret) -> Result<(), InvalidKey> {
    let text = cs.expose();
    let has = |k: &str| {
        text.split(';').any(|p| {
            p.split_once('=')
                .is_some_and(|(key, v)| key.trim().eq_ignore_ascii_case(k) && !v.trim().is_empty())
        })
    };
    if !has("Endpoint") {
        return Err(InvalidKey::new(
            "connection_string",
            "connection string has no Endpoint=sb://NAMESPACE.servicebus.windows.net/",
        ));
    }
    if !has("SharedAccessKey") && !has("SharedAccessSignature") {
        return Err(InvalidKey::new(
            "connection_string",
            "connection string has no SharedAccessKey",
        ));
    }
    Ok(())
}

impl crate::KafkaSourceConfig {
    /// The client's settings from a validated [`Config`]; `drain_timeout` is the pipeline's.
    pub fn from_config(c: &Config, drain_timeout: Duration) -> Result<Self, InvalidKey> {
        let mut k = match &c.connection_string {
            Some(cs) => Self::from_connection_string(cs, c.topic.clone(), c.consumer_group())
                .map_err(|m| InvalidKey::new("connection_string", m.to_string()))?,
            None => crate::KafkaSourceConfig::for_brokers(
                String::new(),
                c.topic.clone().unwrap_or_default(),
                c.consumer_group(),
            ),
        };
        if let Some(b) = &c.brokers {
            k.brokers = b.clone();
        }
        k.start_position = c.start_position;
        k.event_hubs_defaults = c.event_hubs_defaults();
        for (value, field) in [
            (&c.security_protocol, &mut k.security_protocol),
            (&c.sasl_mechanism, &mut k.sasl_mechanism),
            (&c.sasl_username, &mut k.sasl_username),
        ] {
            if value.is_some() {
                *field = value.clone();
            }
        }
        if c.sasl_password.is_some() {
            k.sasl_password = c.sasl_password.clone();
        }
        k.properties = c.properties.0.clone();
        k.drain_timeout = drain_timeout;
        crate::auth::keys::apply(c, &mut k)?;
        Ok(k)
    }
}

/// `[source.properties]`: librdkafka properties, applied last. Values of keys that hold
/// secrets ([`is_secret_property`]) print as `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties(pub BTreeMap<String, String>);

impl std::ops::Deref for Properties {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Properties {
    fn printable(&self) -> BTreeMap<&str, &str> {
        self.0
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_property(k) {
                    REDACTED
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect()
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.printable()).finish()
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.printable().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        entrastream_settings::units::property_map(d).map(Properties)
    }
}

/// librdkafka keys whose value is a credential: any key naming a password or secret
/// (`sasl.password`, `ssl.key.password`, `sasl.oauthbearer.client.secret`…), the JAAS line
/// (which embeds the password) and the private-key material (`ssl.key.pem`, `ssl.key.location`
/// is a path but shares the prefix and hides nothing useful). Case-insensitive.
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k == "sasl.jaas.config"
        || k.starts_with("ssl.key.")
}

/// Properties that would let librdkafka commit or store offsets by itself, behind the
/// pipeline's back: a record could then be committed before every sink accepted it. Only
/// `false` is accepted (the source sets them to false already).
const DELIVERY_CONTRACT_KEYS: [&str; 3] = [
    "enable.auto.commit",
    "enable.auto.offset.store",
    // librdkafka's deprecated topic-level alias of enable.auto.commit.
    "auto.commit.enable",
];

/// Refuses properties that would break at-least-once delivery, naming the key path.
pub fn check_delivery_properties(props: &Properties) -> Result<(), InvalidKey> {
    for (key, value) in props.iter() {
        let lower = key.to_ascii_lowercase();
        if DELIVERY_CONTRACT_KEYS.contains(&lower.as_str())
            && !value.trim().eq_ignore_ascii_case("false")
        {
            return Err(InvalidKey::new(
                format!("properties.{key}"),
                format!(
                    "must be false or absent: entrastream commits an offset only after every sink accepted the records before it, and {key} = {value:?} would let the client commit records no sink has written (lost on a crash); remove the key"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod property_tests {
    use super::*;

    #[test]
    fn secret_properties_are_recognised() {
        for k in [
            "sasl.password",
            "SASL.PASSWORD",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.jaas.config",
            "SASL.JAAS.Config",
            "ssl.key.pem",
            "ssl.key.location",
        ] {
            assert!(is_secret_property(k), "{k}");
        }
        for k in ["fetch.wait.max.ms", "sasl.username", "ssl.ca.location"] {
            assert!(!is_secret_property(k), "{k}");
        }
    }

    #[test]
    fn secret_properties_print_as_stars() {
        let p = Properties(
            [
                ("sasl.password", "PW-TOPSECRET"),
                ("Sasl.Jaas.Config", "x password=\"JAAS-TOPSECRET\";"),
                ("ssl.key.pem", "-----BEGIN TOPSECRET"),
                ("fetch.wait.max.ms", "100"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let debug = format!("{p:?}");
        let json = serde_json::to_string(&p).unwrap();
        for shown in [&debug, &json] {
            assert!(!shown.contains("TOPSECRET"), "{shown}");
            assert!(shown.contains("100"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        assert_eq!(
            p.get("sasl.password").map(String::as_str),
            Some("PW-TOPSECRET")
        );
    }

    #[test]
    fn auto_commit_is_refused_with_its_path() {
        for (k, v) in [
            ("enable.auto.commit", "true"),
            ("ENABLE.AUTO.COMMIT", "1"),
            ("enable.auto.offset.store", "TRUE"),
            ("auto.commit.enable", "yes"),
        ] {
            let p = Properties([(k.to_string(), v.to_string())].into_iter().collect());
            let e = check_delivery_properties(&p).unwrap_err();
            assert_eq!(e.key, format!("properties.{k}"));
            assert!(e.message.contains("must be false"), "{e}");
        }
        for v in ["false", "FALSE", " false "] {
            let p = Properties(
                [("enable.auto.commit".to_string(), v.to_string())]
                    .into_iter()
                    .collect(),
            );
            assert!(check_delivery_properties(&p).is_ok(), "{v}");
        }
    }
}
