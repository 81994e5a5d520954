//! Errors of the AMQP source, and the translation of SDK errors into what an operator does
//! about them. The SDK's messages name AMQP conditions; ours name the role, key or command.

use azure_messaging_eventhubs::EventHubsError;
use azure_messaging_eventhubs::error::ErrorKind;

/// Errors of the AMQP source.
#[derive(Debug, thiserror::Error)]
pub enum AmqpSourceError {
    /// The settings cannot work (missing key, unreadable certificate…).
    #[error("{0}")]
    Config(String),
    /// Event Hubs refused the credentials or their rights.
    #[error("{0}")]
    Unauthorized(String),
    /// The hub, consumer group or partition does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Another receiver with the same or a higher owner level took the partition.
    #[error(
        "partition {partition} was taken over by another receiver (owner level); another replica owns it now"
    )]
    Stolen {
        /// The partition.
        partition: String,
    },
    /// A network or service error the source retries.
    #[error("{0}")]
    Transient(String),
    /// The checkpoint / ownership store failed.
    #[error("checkpoint store: {0}")]
    Store(#[from] entrastream_partition_store::StoreError),
}

impl AmqpSourceError {
    /// Errors that no retry fixes: the daemon stops with them at start-up.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            AmqpSourceError::Config(_)
                | AmqpSourceError::Unauthorized(_)
                | AmqpSourceError::NotFound(_)
        )
    }
}

/// What went wrong, in the words of the hub the operator configured.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Fully qualified namespace.
    pub namespace: &'a str,
    /// Event hub.
    pub event_hub: &'a str,
    /// Consumer group.
    pub consumer_group: &'a str,
    /// How we authenticate (`connection string` or a credential name).
    pub auth: &'a str,
}

/// Translates an SDK error. The SDK's own text is kept after ours (it names the AMQP condition,
/// never a key: tokens travel in CBS message bodies, which its errors do not print).
pub fn classify(e: &EventHubsError, partition: Option<&str>, ctx: &Context<'_>) -> AmqpSourceError {
    if matches!(e.kind, ErrorKind::ConsumerDisconnected(_)) {
        return AmqpSourceError::Stolen {
            partition: partition.unwrap_or("?").to_string(),
        };
    }
    let text = chain_text(e);
    let debug = format!("{e:?}");
    let has = |needle: &str| text.contains(needle) || debug.contains(needle);
    if has("link:stolen") || has("ConsumerDisconnected") {
        return AmqpSourceError::Stolen {
            partition: partition.unwrap_or("?").to_string(),
        };
    }
    if has("401") || has("unauthorized-access") || has("Unauthorized") {
        let fix = if ctx.auth == "connection string" {
            "check SharedAccessKeyName and SharedAccessKey (copy the connection string of a policy with Listen rights again; a regenerated key invalidates the old one)".to_string()
        } else {
            format!(
                "grant the {} identity the role 'Azure Event Hubs Data Receiver' on the hub or namespace (az role assignment create --role 'Azure Event Hubs Data Receiver' ...), and check its tenant and client id",
                ctx.auth
            )
        };
        return AmqpSourceError::Unauthorized(format!(
            "Event Hubs refused the credentials for {}/{}: {fix} ({text})",
            ctx.namespace, ctx.event_hub
        ));
    }
    let consumer_group_missing = (has("ConsumerGroups") || has("consumer group"))
        && (has("not-found") || has("NotFound") || has("404") || has("could not be found"));
    if consumer_group_missing {
        return AmqpSourceError::NotFound(format!(
            "consumer group '{}' does not exist on event hub '{}': create it (az eventhubs eventhub consumer-group create --name {} --eventhub-name {} ...) or fix source.consumer_group ({text})",
            ctx.consumer_group, ctx.event_hub, ctx.consumer_group, ctx.event_hub
        ));
    }
    if has("404") || has("not-found") || has("NotFound") {
        return AmqpSourceError::NotFound(format!(
            "event hub '{}' was not found in namespace '{}': check source.event_hub (or the connection string's EntityPath) and the namespace ({text})",
            ctx.event_hub, ctx.namespace
        ));
    }
    AmqpSourceError::Transient(format!(
        "Event Hubs {}/{}{}: {text}",
        ctx.namespace,
        ctx.event_hub,
        partition
            .map(|p| format!(" partition {p}"))
            .unwrap_or_default()
    ))
}

/// The error and every cause under it: the SDK wraps the CBS status (401, 404) a few levels
/// down, under "Error authorizing ...".
fn chain_text(e: &EventHubsError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
        depth += 1;
        if depth > 16 {
            break;
        }
    }
    text
}
