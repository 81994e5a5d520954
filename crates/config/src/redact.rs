//! A value that is only partly secret: a container URL whose SAS query is a credential. It
//! prints with the secret part as `***` in `Debug` and when serialized (`check-config`), like
//! [`Secret`] does. (`[source.properties]`, whose password keys print the same way, belongs to
//! the Kafka source: `entrastream_source_kafka::config::Properties`.)

use std::fmt;

use entrastream_secret::{REDACTED, Secret};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
}
