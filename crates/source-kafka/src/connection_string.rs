//! Event Hubs connection strings → Kafka endpoint settings.
//!
//! `Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=K;SharedAccessKey=S;EntityPath=HUB`
//! gives bootstrap `NS.servicebus.windows.net:9093`, SASL_SSL + PLAIN with username
//! `$ConnectionString` and the whole string as password, and topic `HUB`.
//! See <https://learn.microsoft.com/azure/event-hubs/azure-event-hubs-kafka-overview>.

use entrastream_secret::Secret;

/// What a connection string yields. The password is the whole connection string.
#[derive(Debug, Clone)]
pub struct EventHubsEndpoint {
    /// `NS.servicebus.windows.net:9093`
    pub bootstrap: String,
    /// The `EntityPath` (event hub name), when the string names one.
    pub topic: Option<String>,
    /// The SASL PLAIN password (the connection string itself).
    pub password: Secret,
}

/// Why a connection string was refused. Never contains the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectionStringError {
    /// No `Endpoint=` part.
    #[error("connection string has no Endpoint")]
    MissingEndpoint,
    /// `Endpoint` is not `sb://host/`.
    #[error("connection string Endpoint must look like sb://NAMESPACE.servicebus.windows.net/")]
    BadEndpoint,
    /// No key (SharedAccessKey or SharedAccessSignature).
    #[error("connection string has no SharedAccessKey or SharedAccessSignature")]
    MissingKey,
    /// Neither the string's `EntityPath` nor the settings name the event hub (topic).
    #[error("connection string has no EntityPath and no topic is set")]
    MissingTopic,
}

impl ConnectionStringError {
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            ConnectionStringError::MissingEndpoint => "missing_endpoint",
            ConnectionStringError::BadEndpoint => "bad_endpoint",
            ConnectionStringError::MissingKey => "missing_key",
            ConnectionStringError::MissingTopic => "missing_topic",
        }
    }
}

/// Parses an Event Hubs connection string.
pub fn parse(cs: &Secret) -> Result<EventHubsEndpoint, ConnectionStringError> {
    let mut endpoint = None;
    let mut topic = None;
    let mut has_key = false;
    for part in cs.expose().split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "endpoint" => endpoint = Some(v.trim().to_string()),
            "entitypath" if !v.trim().is_empty() => topic = Some(v.trim().to_string()),
            "sharedaccesskey" | "sharedaccesssignature" => has_key = !v.trim().is_empty(),
            _ => {}
        }
    }
    let endpoint = endpoint.ok_or(ConnectionStringError::MissingEndpoint)?;
    let host = endpoint
        .strip_prefix("sb://")
        .map(|h| h.trim_end_matches('/'))
        .filter(|h| !h.is_empty() && !h.contains('/'))
        .ok_or(ConnectionStringError::BadEndpoint)?;
    if !has_key {
        return Err(ConnectionStringError::MissingKey);
    }
    let host = host.split(':').next().unwrap_or(host);
    Ok(EventHubsEndpoint {
        bootstrap: format!("{host}:9093"),
        topic,
        password: cs.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_kafka_endpoint() {
        let cs = Secret::new(
            "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=abc=;EntityPath=insights-logs-signinlogs",
        );
        let e = parse(&cs).unwrap();
        assert_eq!(e.bootstrap, "contoso.servicebus.windows.net:9093");
        assert_eq!(e.topic.as_deref(), Some("insights-logs-signinlogs"));
        assert_eq!(e.password.expose(), cs.expose());
        assert_eq!(
            format!("{e:?}").matches("abc=").count(),
            0,
            "secret leaked in Debug"
        );
    }

    #[test]
    fn errors_never_contain_the_key() {
        let cs = Secret::new("Endpoint=https://x/;SharedAccessKey=TOPSECRET");
        let err = parse(&cs).unwrap_err();
        assert_eq!(err, ConnectionStringError::BadEndpoint);
        assert!(!err.to_string().contains("TOPSECRET"));
        assert_eq!(
            parse(&Secret::new("Endpoint=sb://x.servicebus.windows.net/")).unwrap_err(),
            ConnectionStringError::MissingKey
        );
        assert_eq!(
            parse(&Secret::new("SharedAccessKey=1")).unwrap_err(),
            ConnectionStringError::MissingEndpoint
        );
    }
}
