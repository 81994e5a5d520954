//! Connection strings (including the emulator's) and Entra ID credentials.
//!
//! The 0.16 SDK ignores `UseDevelopmentEmulator=true` and always dials `amqps://<host>:5671`,
//! so an emulator-style string is mapped here to a plain-AMQP custom endpoint; that is what
//! makes Microsoft's Event Hubs emulator (and our test peer) reachable with the string it prints.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use entrastream_secret::Secret;

use crate::error::AmqpSourceError;
use crate::settings::EntraCredential;

/// What a connection string says, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Host of `Endpoint=sb://HOST[:PORT]/`.
    pub host: String,
    /// Port in the endpoint, if any (the emulator's strings carry one).
    pub port: Option<u16>,
    /// `EntityPath`, if the string is entity-level.
    pub entity_path: Option<String>,
    /// `UseDevelopmentEmulator=true`.
    pub emulator: bool,
}

impl ConnectionInfo {
    /// Parses the non-secret parts; the error never contains the string.
    pub fn parse(connection_string: &Secret) -> Result<Self, AmqpSourceError> {
        let mut endpoint = None;
        let mut entity_path = None;
        let mut emulator = false;
        let mut has_key = false;
        for part in connection_string.expose().split(';') {
            let Some((k, v)) = part.trim().split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("Endpoint") {
                endpoint = Some(v.to_string());
            } else if k.eq_ignore_ascii_case("EntityPath") && !v.is_empty() {
                entity_path = Some(v.to_string());
            } else if k.eq_ignore_ascii_case("UseDevelopmentEmulator") {
                emulator = v.eq_ignore_ascii_case("true");
            } else if (k.eq_ignore_ascii_case("SharedAccessKey")
                || k.eq_ignore_ascii_case("SharedAccessSignature"))
                && !v.is_empty()
            {
                has_key = true;
            }
        }
        let endpoint = endpoint.ok_or_else(|| {
            AmqpSourceError::Config(
                "the Event Hubs connection string has no Endpoint=sb://NAMESPACE.servicebus.windows.net/; copy it again from the portal (Shared access policies)".into(),
            )
        })?;
        if !has_key {
            return Err(AmqpSourceError::Config(
                "the Event Hubs connection string has no SharedAccessKey; copy the primary connection string of a policy with Listen rights".into(),
            ));
        }
        let rest = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
                (h.to_string(), p.parse().ok())
            }
            _ => (authority.to_string(), None),
        };
        if host.is_empty() {
            return Err(AmqpSourceError::Config(
                "the connection string's Endpoint has no host name; expected Endpoint=sb://NAMESPACE.servicebus.windows.net/".into(),
            ));
        }
        Ok(ConnectionInfo {
            host,
            port,
            entity_path,
            emulator,
        })
    }

    /// The plain-AMQP endpoint an emulator-style string implies (default port 5672).
    pub fn emulator_endpoint(&self) -> Option<String> {
        self.emulator
            .then(|| format!("amqp://{}:{}", self.host, self.port.unwrap_or(5672)))
    }
}

/// Builds the Entra credential (see [`entrastream_credential::build`]). Nothing is fetched
/// yet: the first token request happens when the client connects, and its failure is reported
/// there with the fix.
pub fn entra_credential(
    choice: &EntraCredential,
) -> Result<Arc<dyn TokenCredential>, AmqpSourceError> {
    entrastream_credential::build(choice).map_err(|e| AmqpSourceError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_level_string() {
        let cs = Secret::new(
            "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc=;EntityPath=entra-logs",
        );
        let info = ConnectionInfo::parse(&cs).unwrap();
        assert_eq!(info.host, "contoso.servicebus.windows.net");
        assert_eq!(info.entity_path.as_deref(), Some("entra-logs"));
        assert_eq!(info.emulator_endpoint(), None);
    }

    #[test]
    fn emulator_string_maps_to_plain_amqp() {
        let cs = Secret::new(
            "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;EntityPath=eh1",
        );
        let info = ConnectionInfo::parse(&cs).unwrap();
        assert_eq!(
            info.emulator_endpoint().as_deref(),
            Some("amqp://localhost:5672")
        );
        let cs = Secret::new(
            "Endpoint=sb://127.0.0.1:35001;SharedAccessKeyName=k;SharedAccessKey=s;UseDevelopmentEmulator=true",
        );
        let info = ConnectionInfo::parse(&cs).unwrap();
        assert_eq!(
            info.emulator_endpoint().as_deref(),
            Some("amqp://127.0.0.1:35001")
        );
        assert_eq!(info.entity_path, None);
    }

    #[test]
    fn errors_never_show_the_key() {
        let cs = Secret::new("SharedAccessKeyName=k;SharedAccessKey=TOPSECRET");
        let e = ConnectionInfo::parse(&cs).unwrap_err().to_string();
        assert!(e.contains("Endpoint"), "{e}");
        assert!(!e.contains("TOPSECRET"));
        let cs = Secret::new("Endpoint=sb://x/;SharedAccessKeyName=TOPSECRET");
        let e = ConnectionInfo::parse(&cs).unwrap_err().to_string();
        assert!(!e.contains("TOPSECRET"), "{e}");
    }
}
