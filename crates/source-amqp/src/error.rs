//! Errors of the AMQP source, and the translation of SDK errors into what an operator does
//! about them. The SDK's messages name AMQP conditions; ours name the role, key or command.
//!
//! Design decision: an SDK error is judged by its structure only — the AMQP error condition a
//! link, session or connection was closed with (`amqp:unauthorized-access`, `amqp:not-found`,
//! `amqp:link:stolen`…), the status code of a `$cbs` / `$management` reply, the HTTP status of
//! an Entra token request, and the SDK's own `ConsumerDisconnected` kind — never by words in
//! its text, which carries names the operator chose (a namespace called `team-401` is not an
//! authorization failure). An error is permanent only when its condition says so; everything
//! else is retried.

use azure_core_amqp::AmqpError;
use azure_core_amqp::error::{AmqpErrorCondition, AmqpErrorKind};
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
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            AmqpSourceError::Config(_) => "config",
            AmqpSourceError::Unauthorized(_) => "unauthorized",
            AmqpSourceError::NotFound(_) => "not_found",
            AmqpSourceError::Stolen { .. } => "stolen",
            AmqpSourceError::Transient(_) => "transient",
            AmqpSourceError::Store(_) => "store",
        }
    }

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

/// The call that failed: a not-found means the hub when connecting or reading the hub's
/// properties, and the consumer group when a receiver is opened on a hub that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Connecting, or the hub's own properties (`$management` READ of the hub).
    Hub,
    /// Opening a receiver on, or receiving from, a partition.
    Receive,
    /// Any other management call (partition properties).
    Management,
}

/// What the structure of an SDK error says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Another receiver with an equal or higher owner level took the link.
    Stolen,
    /// `amqp:unauthorized-access`, or a 401/403 status.
    Unauthorized,
    /// `amqp:not-found`, or a 404 status.
    NotFound,
    /// Anything else: network, timeouts, busy service, unknown conditions.
    Transient,
}

/// How deep an error chain is followed (the SDK wraps AMQP errors in `azure_core::Error`
/// and back a few levels; a pathological chain must not loop forever).
const MAX_CHAIN_DEPTH: usize = 16;

/// Reads the verdict from the error's kind and its source chain.
pub(crate) fn verdict(e: &EventHubsError) -> Verdict {
    if matches!(e.kind, ErrorKind::ConsumerDisconnected(_)) {
        return Verdict::Stolen;
    }
    let mut cause = std::error::Error::source(e);
    for _ in 0..MAX_CHAIN_DEPTH {
        let Some(c) = cause else { break };
        if let Some(v) = c.downcast_ref::<AmqpError>().and_then(amqp_verdict) {
            return v;
        }
        if let Some(inner) = c.downcast_ref::<EventHubsError>()
            && matches!(inner.kind, ErrorKind::ConsumerDisconnected(_))
        {
            return Verdict::Stolen;
        }
        if let Some(status) = c
            .downcast_ref::<azure_core::Error>()
            .and_then(azure_core::Error::http_status)
            && let Some(v) = status_verdict(u16::from(status))
        {
            return v;
        }
        cause = c.source();
    }
    Verdict::Transient
}

/// The verdict an AMQP error carries itself, if any (described errors and status replies).
fn amqp_verdict(a: &AmqpError) -> Option<Verdict> {
    match a.kind() {
        AmqpErrorKind::AmqpDescribedError(d) => Some(condition_verdict(&d.condition)),
        AmqpErrorKind::ManagementStatusCode(code, _) => {
            Some(status_verdict(u16::from(*code)).unwrap_or(Verdict::Transient))
        }
        _ => None,
    }
}

/// AMQP conditions (the AMQP 1.0 set and Event Hubs' `com.microsoft:` ones).
pub(crate) fn condition_verdict(c: &AmqpErrorCondition) -> Verdict {
    match c {
        AmqpErrorCondition::LinkStolen => Verdict::Stolen,
        AmqpErrorCondition::UnauthorizedAccess => Verdict::Unauthorized,
        AmqpErrorCondition::NotFound => Verdict::NotFound,
        // Busy, timeouts, entity updates, forced detaches, argument errors on a start position
        // that retention just moved past: the SDKs retry these, and so do we.
        _ => Verdict::Transient,
    }
}

/// `$cbs` / `$management` reply statuses and Entra token HTTP statuses.
fn status_verdict(status: u16) -> Option<Verdict> {
    match status {
        401 | 403 => Some(Verdict::Unauthorized),
        404 => Some(Verdict::NotFound),
        _ => None,
    }
}

/// Translates an SDK error. The SDK's own text is kept after ours (it names the AMQP condition,
/// never a key: tokens travel in CBS message bodies, which its errors do not print).
pub fn classify(
    e: &EventHubsError,
    operation: Operation,
    partition: Option<&str>,
    ctx: &Context<'_>,
) -> AmqpSourceError {
    let text = chain_text(e);
    match verdict(e) {
        Verdict::Stolen => AmqpSourceError::Stolen {
            partition: partition.unwrap_or("?").to_string(),
        },
        Verdict::Unauthorized => {
            let fix = if ctx.auth == "connection string" {
                "check SharedAccessKeyName and SharedAccessKey (copy the connection string of a policy with Listen rights again; a regenerated key invalidates the old one)".to_string()
            } else {
                format!(
                    "grant the {} identity the role 'Azure Event Hubs Data Receiver' on the hub or namespace (az role assignment create --role 'Azure Event Hubs Data Receiver' ...), and check its tenant and client id",
                    ctx.auth
                )
            };
            AmqpSourceError::Unauthorized(format!(
                "Event Hubs refused the credentials for {}/{}: {fix} ({text})",
                ctx.namespace, ctx.event_hub
            ))
        }
        Verdict::NotFound if operation == Operation::Receive => AmqpSourceError::NotFound(format!(
            "consumer group '{}' does not exist on event hub '{}': create it (az eventhubs eventhub consumer-group create --name {} --eventhub-name {} ...) or fix source.consumer_group ({text})",
            ctx.consumer_group, ctx.event_hub, ctx.consumer_group, ctx.event_hub
        )),
        Verdict::NotFound if operation == Operation::Hub => AmqpSourceError::NotFound(format!(
            "event hub '{}' was not found in namespace '{}': check source.event_hub (or the connection string's EntityPath) and the namespace ({text})",
            ctx.event_hub, ctx.namespace
        )),
        // A partition the hub listed a moment ago cannot vanish for good; retried.
        Verdict::NotFound | Verdict::Transient => AmqpSourceError::Transient(format!(
            "Event Hubs {}/{}{}: {text}",
            ctx.namespace,
            ctx.event_hub,
            partition
                .map(|p| format!(" partition {p}"))
                .unwrap_or_default()
        )),
    }
}

/// The error and every cause under it: the SDK wraps the CBS status (401, 404) a few levels
/// down, under "Error authorizing ...". Only for the operator to read, never to decide on.
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
        if depth > MAX_CHAIN_DEPTH {
            break;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core_amqp::{AmqpDescribedError, AmqpOrderedMap};

    fn ctx() -> Context<'static> {
        Context {
            namespace: "team-401-404.servicebus.windows.net",
            event_hub: "logs-404",
            consumer_group: "grp-401",
            auth: "connection string",
        }
    }

    fn described(condition: AmqpErrorCondition, description: &str) -> EventHubsError {
        AmqpError::from(AmqpErrorKind::AmqpDescribedError(AmqpDescribedError::new(
            condition,
            Some(description.to_string()),
            AmqpOrderedMap::new(),
        )))
        .into()
    }

    #[test]
    fn names_with_status_numbers_are_not_statuses() {
        // Every word an old substring check looked for, in a transient error's text.
        let e: EventHubsError = AmqpError::with_message(
            "cannot reach team-401-404.servicebus.windows.net: Unauthorized-NotFound ConsumerGroups not-found link:stolen",
        )
        .into();
        let c = classify(&e, Operation::Receive, Some("0"), &ctx());
        assert!(matches!(c, AmqpSourceError::Transient(_)), "{c:?}");
        assert!(!c.is_permanent());
        let e = described(
            AmqpErrorCondition::ServerBusyError,
            "namespace team-401 hub logs-404 unauthorized-access 401",
        );
        let c = classify(&e, Operation::Hub, None, &ctx());
        assert!(matches!(c, AmqpSourceError::Transient(_)), "{c:?}");
    }

    #[test]
    fn conditions_decide() {
        let e = described(AmqpErrorCondition::UnauthorizedAccess, "no Listen claim");
        assert!(matches!(
            classify(&e, Operation::Receive, Some("1"), &ctx()),
            AmqpSourceError::Unauthorized(_)
        ));
        let e = described(AmqpErrorCondition::NotFound, "entity gone");
        let c = classify(&e, Operation::Receive, Some("1"), &ctx());
        assert!(
            matches!(&c, AmqpSourceError::NotFound(m) if m.contains("consumer group 'grp-401'")),
            "{c:?}"
        );
        let c = classify(&e, Operation::Hub, None, &ctx());
        assert!(
            matches!(&c, AmqpSourceError::NotFound(m) if m.contains("event hub 'logs-404' was not found")),
            "{c:?}"
        );
        // A partition that vanished under a management call is retried, not fatal.
        let c = classify(&e, Operation::Management, Some("1"), &ctx());
        assert!(matches!(c, AmqpSourceError::Transient(_)), "{c:?}");
        let e = described(AmqpErrorCondition::LinkStolen, "epoch 0 took over");
        assert!(matches!(
            classify(&e, Operation::Receive, Some("3"), &ctx()),
            AmqpSourceError::Stolen { partition } if partition == "3"
        ));
        let e: EventHubsError = ErrorKind::ConsumerDisconnected(None).into();
        assert!(matches!(
            classify(&e, Operation::Receive, Some("3"), &ctx()),
            AmqpSourceError::Stolen { .. }
        ));
        for cond in [
            AmqpErrorCondition::ServerBusyError,
            AmqpErrorCondition::TimeoutError,
            AmqpErrorCondition::EntityDisabledError,
            AmqpErrorCondition::ArgumentOutOfRangeError,
            AmqpErrorCondition::UnknownValue("com.microsoft:something-new".into()),
        ] {
            let e = described(cond.clone(), "x");
            assert!(
                matches!(
                    classify(&e, Operation::Receive, None, &ctx()),
                    AmqpSourceError::Transient(_)
                ),
                "{cond:?}"
            );
        }
    }

    #[test]
    fn cbs_and_management_statuses_decide() {
        let status = |code: u16| -> EventHubsError {
            AmqpError::from(AmqpErrorKind::ManagementStatusCode(
                azure_core::http::StatusCode::from(code),
                Some("described by the service".into()),
            ))
            .into()
        };
        assert!(matches!(
            classify(&status(401), Operation::Hub, None, &ctx()),
            AmqpSourceError::Unauthorized(_)
        ));
        assert!(matches!(
            classify(&status(404), Operation::Hub, None, &ctx()),
            AmqpSourceError::NotFound(_)
        ));
        assert!(matches!(
            classify(&status(503), Operation::Hub, None, &ctx()),
            AmqpSourceError::Transient(_)
        ));
        // Wrapped the way the SDK's ensure_* helpers wrap it.
        let wrapped: EventHubsError = azure_core::Error::from(AmqpError::from(
            AmqpErrorKind::ManagementStatusCode(azure_core::http::StatusCode::Unauthorized, None),
        ))
        .into();
        assert!(matches!(
            classify(&wrapped, Operation::Hub, None, &ctx()),
            AmqpSourceError::Unauthorized(_)
        ));
    }

    /// An Entra token request's HTTP status (the credential's `azure_core::Error`, wrapped by
    /// the SDK) decides, not the words in its message: a 403 whose text names a tenant called
    /// "team-404" is an authorization failure, a 500 whose text says "401 Unauthorized" is not.
    #[test]
    fn token_http_statuses_decide_not_their_text() {
        use azure_core::error::ErrorKind as CoreKind;
        use azure_core::http::StatusCode;
        let http = |status: StatusCode, message: &'static str| -> EventHubsError {
            azure_core::Error::with_message(
                CoreKind::HttpResponse {
                    status,
                    error_code: Some("team-404".into()),
                    raw_response: None,
                },
                message,
            )
            .into()
        };
        let c = classify(
            &http(StatusCode::Forbidden, "token for tenant team-404 not found"),
            Operation::Hub,
            None,
            &ctx(),
        );
        assert!(matches!(c, AmqpSourceError::Unauthorized(_)), "{c:?}");
        assert_eq!(c.code(), "unauthorized");
        assert!(c.is_permanent());
        let c = classify(
            &http(
                StatusCode::InternalServerError,
                "401 Unauthorized; not-found",
            ),
            Operation::Hub,
            None,
            &ctx(),
        );
        assert!(matches!(c, AmqpSourceError::Transient(_)), "{c:?}");
        assert_eq!(c.code(), "transient");
        assert!(!c.is_permanent());
        let c = classify(
            &http(StatusCode::NotFound, "x"),
            Operation::Receive,
            Some("2"),
            &ctx(),
        );
        assert_eq!(c.code(), "not_found");
    }

    #[test]
    fn codes_are_stable_labels() {
        let e = described(AmqpErrorCondition::LinkStolen, "epoch 1 took over");
        assert_eq!(
            classify(&e, Operation::Receive, Some("0"), &ctx()).code(),
            "stolen"
        );
        assert_eq!(AmqpSourceError::Config("x".into()).code(), "config");
    }
}
