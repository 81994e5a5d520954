//! Values that are only partly secret: a container URL whose SAS query is a credential, and
//! `[source.properties]`, where some librdkafka keys hold passwords. Both print with the secret
//! part as `***` in `Debug` and when serialized (`check-config`), like [`Secret`] does.
//!
//! Also the librdkafka properties that would break the delivery contract: the pipeline alone
//! decides which offsets are committed, so auto-commit and automatic offset stores are refused.

use std::collections::BTreeMap;
use std::fmt;

use entrastream_secret::{REDACTED, Secret};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ConfigError;

/// An `http(s)` URL whose query string (a SAS token, when present) is a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretQueryUrl(Secret);

impl SecretQueryUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        SecretQueryUrl(Secret::new(url))
    }

    /// The whole URL, query included. Call only where it is handed to the storage client.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL without its query (safe to print).
    pub fn without_query(&self) -> &str {
        self.expose().split('?').next().unwrap_or_default()
    }

    /// True when the URL carries a query (a SAS token authorizes the store).
    pub fn has_query(&self) -> bool {
        self.expose().contains('?')
    }

    fn printable(&self) -> String {
        if self.has_query() {
            format!("{}?{REDACTED}", self.without_query())
        } else {
            self.expose().to_string()
        }
    }
}

impl fmt::Debug for SecretQueryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.printable())
    }
}

impl fmt::Display for SecretQueryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.printable())
    }
}

impl Serialize for SecretQueryUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.printable())
    }
}

impl<'de> Deserialize<'de> for SecretQueryUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretQueryUrl::new)
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
        crate::units::property_map(d).map(Properties)
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
pub fn check_delivery_properties(props: &Properties) -> Result<(), ConfigError> {
    for (key, value) in props.iter() {
        let lower = key.to_ascii_lowercase();
        if DELIVERY_CONTRACT_KEYS.contains(&lower.as_str())
            && !value.trim().eq_ignore_ascii_case("false")
        {
            return Err(ConfigError::new(
                format!("source.properties.{key}"),
                format!(
                    "must be false or absent: entrastream commits an offset only after every sink accepted the records before it, and {key} = {value:?} would let the client commit records no sink has written (lost on a crash); remove the key"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sas_query_never_prints() {
        let u = SecretQueryUrl::new(
            "https://acct.blob.core.windows.net/cps?sv=2024&sig=TOPSECRETSIG%3D&se=2030",
        );
        for shown in [
            format!("{u:?}"),
            format!("{u}"),
            serde_json::to_string(&u).unwrap(),
        ] {
            assert!(!shown.contains("TOPSECRET"), "{shown}");
            assert!(!shown.contains("sv=2024"), "{shown}");
            assert!(
                shown.contains("https://acct.blob.core.windows.net/cps?***"),
                "{shown}"
            );
        }
        assert!(u.expose().ends_with("se=2030"));
        assert!(u.has_query());
    }

    #[test]
    fn a_url_without_query_prints_whole() {
        let u = SecretQueryUrl::new("https://acct.blob.core.windows.net/cps");
        assert_eq!(u.to_string(), "https://acct.blob.core.windows.net/cps");
        assert!(!u.has_query());
    }

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
            assert_eq!(e.path, format!("source.properties.{k}"));
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
