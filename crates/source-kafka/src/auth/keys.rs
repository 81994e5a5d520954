//! The `[source] type = "kafka"` keys of Entra ID auth (`credential`, `namespace`,
//! `client_id`, `tenant_id`, `client_secret`, `certificate_path`, `certificate_password`):
//! their checks and the client settings they give.

use entrastream_credential::CredentialKeys;
use entrastream_settings::InvalidKey;

use super::{EntraOAuth, KAFKA_PORT, OAUTHBEARER, namespace_host, scope_for};
use crate::config::Config;

fn credential_keys(c: &Config) -> CredentialKeys<'_> {
    CredentialKeys {
        client_id: c.client_id.as_deref(),
        tenant_id: c.tenant_id.as_deref(),
        client_secret: c.client_secret.as_ref(),
        certificate_path: c.certificate_path.as_deref(),
        certificate_password: c.certificate_password.as_ref(),
    }
}

/// The namespace host a credential's token is for: `namespace`, else the first broker's host.
fn token_host(c: &Config) -> Option<&str> {
    c.namespace
        .as_deref()
        .or_else(|| c.brokers.as_deref().and_then(namespace_host))
}

/// Checks the auth keys without touching the network; the error names the key.
pub(crate) fn validate(c: &Config) -> Result<(), InvalidKey> {
    let Some(credential) = c.credential else {
        for (key, set) in [
            ("namespace", c.namespace.is_some()),
            ("client_id", c.client_id.is_some()),
            ("tenant_id", c.tenant_id.is_some()),
            ("client_secret", c.client_secret.is_some()),
            ("certificate_path", c.certificate_path.is_some()),
            ("certificate_password", c.certificate_password.is_some()),
        ] {
            if set {
                return Err(InvalidKey::new(
                    key,
                    "only used with source.credential (Entra ID auth); set credential or remove the key",
                ));
            }
        }
        return Ok(());
    };
    if c.connection_string.is_some() {
        return Err(InvalidKey::new(
            "credential",
            "set either a connection string or credential, not both",
        ));
    }
    for (key, set) in [
        ("sasl_mechanism", c.sasl_mechanism.is_some()),
        ("sasl_username", c.sasl_username.is_some()),
        ("sasl_password", c.sasl_password.is_some()),
    ] {
        if set {
            return Err(InvalidKey::new(
                key,
                format!(
                    "credential = \"{}\" authenticates with SASL OAUTHBEARER; remove source.{key}",
                    credential.name()
                ),
            ));
        }
    }
    if let Some(p) = &c.security_protocol
        && !p.to_ascii_lowercase().starts_with("sasl_")
    {
        return Err(InvalidKey::new(
            "security_protocol",
            format!(
                "{p:?} has no SASL: a credential needs sasl_ssl (the default, what Event Hubs takes) or sasl_plaintext"
            ),
        ));
    }
    if let Some(ns) = &c.namespace {
        if ns.is_empty() || ns.contains("://") || ns.contains('/') || ns.contains(':') {
            return Err(InvalidKey::new(
                "namespace",
                format!(
                    "{ns:?} must be a host name such as contoso-ns.servicebus.windows.net, without sb://, a port or a path"
                ),
            ));
        }
    } else if token_host(c).is_none() {
        return Err(InvalidKey::new(
            "namespace",
            "required with a credential (or brokers = \"NAMESPACE.servicebus.windows.net:9093\"): the namespace host name, e.g. contoso-ns.servicebus.windows.net",
        ));
    }
    if c.topic.as_deref().unwrap_or_default().is_empty() {
        return Err(InvalidKey::new(
            "topic",
            "required with a credential: the event hub name",
        ));
    }
    credential_keys(c).resolve(credential)?;
    Ok(())
}

/// With a credential: bootstrap `namespace:9093` unless `brokers` is set, SASL_SSL unless
/// `security_protocol` is set, SASL OAUTHBEARER with a token for the namespace.
pub(crate) fn apply(c: &Config, k: &mut crate::KafkaSourceConfig) -> Result<(), InvalidKey> {
    let Some(credential) = c.credential else {
        return Ok(());
    };
    let host = token_host(c)
        .ok_or_else(|| InvalidKey::new("namespace", "required with a credential"))?
        .to_string();
    if c.brokers.is_none() {
        k.brokers = format!("{host}:{KAFKA_PORT}");
    }
    if k.security_protocol.is_none() {
        k.security_protocol = Some("SASL_SSL".into());
    }
    k.sasl_mechanism = Some(OAUTHBEARER.into());
    k.oauth = Some(EntraOAuth {
        credential: credential_keys(c).resolve(credential)?,
        scope: scope_for(&host),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parse(toml_like: serde_json::Value) -> Config {
        serde_json::from_value(toml_like).unwrap()
    }

    #[test]
    fn a_credential_gives_oauthbearer_to_the_namespace() {
        let c = parse(serde_json::json!({
            "credential": "workload_identity",
            "namespace": "contoso.servicebus.windows.net",
            "topic": "signin",
        }));
        c.validate().unwrap();
        assert!(c.event_hubs_defaults());
        let k = crate::KafkaSourceConfig::from_config(&c, Duration::from_secs(5)).unwrap();
        assert_eq!(k.brokers, "contoso.servicebus.windows.net:9093");
        let cc = k.client_config();
        assert_eq!(cc.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(cc.get("sasl.mechanism"), Some("OAUTHBEARER"));
        assert_eq!(cc.get("sasl.password"), None);
        assert_eq!(cc.get("metadata.max.age.ms"), Some("180000"));
        let oauth = k.oauth.unwrap();
        assert_eq!(
            oauth.scope,
            "https://contoso.servicebus.windows.net/.default"
        );
        assert_eq!(oauth.credential.name(), "workload_identity");
    }

    #[test]
    fn brokers_name_the_namespace_when_it_is_not_set() {
        let c = parse(serde_json::json!({
            "credential": "managed_identity",
            "brokers": "ns2.servicebus.windows.net:9093",
            "topic": "t",
            "security_protocol": "sasl_plaintext",
        }));
        c.validate().unwrap();
        let k = crate::KafkaSourceConfig::from_config(&c, Duration::from_secs(5)).unwrap();
        assert_eq!(k.brokers, "ns2.servicebus.windows.net:9093");
        assert_eq!(k.security_protocol.as_deref(), Some("sasl_plaintext"));
        assert_eq!(
            k.oauth.unwrap().scope,
            "https://ns2.servicebus.windows.net/.default"
        );
    }

    #[test]
    fn each_conflict_or_gap_names_its_key() {
        let cases = [
            (
                serde_json::json!({"credential": "azure_cli", "topic": "t",
                    "connection_string": "Endpoint=sb://n/;SharedAccessKeyName=k;SharedAccessKey=TOPSECRET"}),
                "credential",
            ),
            (
                serde_json::json!({"credential": "azure_cli", "topic": "t"}),
                "namespace",
            ),
            (
                serde_json::json!({"credential": "azure_cli", "namespace": "sb://n/", "topic": "t"}),
                "namespace",
            ),
            (
                serde_json::json!({"credential": "azure_cli", "namespace": "n"}),
                "topic",
            ),
            (
                serde_json::json!({"credential": "azure_cli", "namespace": "n", "topic": "t", "sasl_password": "TOPSECRET"}),
                "sasl_password",
            ),
            (
                serde_json::json!({"credential": "azure_cli", "namespace": "n", "topic": "t", "security_protocol": "ssl"}),
                "security_protocol",
            ),
            (
                serde_json::json!({"credential": "client_secret", "namespace": "n", "topic": "t", "tenant_id": "x", "client_id": "y"}),
                "client_secret",
            ),
            (
                serde_json::json!({"brokers": "b:9092", "topic": "t", "tenant_id": "x"}),
                "tenant_id",
            ),
        ];
        for (json, key) in cases {
            let e = parse(json.clone()).validate().unwrap_err();
            assert_eq!(e.key, key, "{json}: {e}");
            assert!(!e.message.contains("TOPSECRET"), "{e}");
        }
    }

    #[test]
    fn without_a_credential_nothing_changes() {
        let c = parse(serde_json::json!({"brokers": "b:9092", "topic": "t"}));
        c.validate().unwrap();
        assert!(!c.event_hubs_defaults());
        let k = crate::KafkaSourceConfig::from_config(&c, Duration::from_secs(5)).unwrap();
        assert!(k.oauth.is_none());
        assert_eq!(k.client_config().get("sasl.mechanism"), None);
    }
}
