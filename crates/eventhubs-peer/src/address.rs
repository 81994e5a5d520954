//! Link addresses and the consumer start filter, parsed the way the service reads them.

use fe2o3_amqp::types::primitives::Value;

/// What a link's address names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entity {
    /// `$cbs`: claims-based security node (put-token).
    Cbs,
    /// `$management`: the READ operations for hub and partition properties.
    Management,
    /// `<hub>/ConsumerGroups/<cg>/Partitions/<id>`: a partition to receive from.
    Consumer {
        hub: String,
        consumer_group: String,
        partition: String,
    },
    /// `<hub>` or `<hub>/Partitions/<id>`: where a producer sends.
    Publisher {
        hub: String,
        partition: Option<String>,
    },
    /// Anything else; the link is refused with `amqp:not-found` naming the address.
    Unknown(String),
}

/// Parses a link address. The SDK sends full URLs (`amqps://<host>/<hub>/...`) for entities and
/// bare names for the `$cbs` and `$management` nodes; the service accepts both forms for all.
pub(crate) fn parse_entity(address: &str) -> Entity {
    let path = match address.split_once("://") {
        // Drop `scheme://host[:port]`; the host was already matched at connection open.
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => address,
    };
    let path = path.trim_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match segments.as_slice() {
        [node] if eq(node, "$cbs") => Entity::Cbs,
        [node] if eq(node, "$management") => Entity::Management,
        // The SDK's management client attaches to `$management` bare, but a path-qualified
        // `<hub>/$management` is also accepted by the service.
        [_, node] if eq(node, "$management") => Entity::Management,
        [hub, cg_kw, cg, p_kw, partition]
            if eq(cg_kw, "ConsumerGroups") && eq(p_kw, "Partitions") =>
        {
            Entity::Consumer {
                hub: (*hub).to_owned(),
                consumer_group: (*cg).to_owned(),
                partition: (*partition).to_owned(),
            }
        }
        [hub] if !hub.is_empty() => Entity::Publisher {
            hub: (*hub).to_owned(),
            partition: None,
        },
        [hub, p_kw, partition] if eq(p_kw, "Partitions") => Entity::Publisher {
            hub: (*hub).to_owned(),
            partition: Some((*partition).to_owned()),
        },
        _ => Entity::Unknown(address.to_owned()),
    }
}

/// Where a consumer starts, from the `apache.org:selector-filter:string` source filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartFilter {
    /// `x-opt-offset > '-1'` (or no filter at all): the oldest retained event.
    Earliest,
    /// `x-opt-offset > '@latest'`: only events enqueued after the link attached.
    Latest,
    /// `x-opt-offset >[=] 'N'`.
    Offset { offset: u64, inclusive: bool },
    /// `x-opt-sequence-number >[=] 'N'`.
    Sequence { sequence: i64, inclusive: bool },
    /// `x-opt-enqueued-time >[=] 'ms since the Unix epoch'`.
    EnqueuedTime { millis: i64, inclusive: bool },
}

/// Filter set key the SDK uses (it also sends the descriptor code `0x0000_0137_0000_000A`).
pub(crate) const SELECTOR_FILTER: &str = "apache.org:selector-filter:string";

/// Extracts the selector expression from a source's filter set value (described or bare string).
pub(crate) fn selector_expression(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Described(described) => match &described.value {
            Value::String(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Parses the selector the SDK builds, e.g. `amqp.annotation.x-opt-sequence-number >='12'` or
/// `amqp.annotation.x-opt-offset > '-1'` (the SDK is inconsistent about the space, so whitespace
/// is optional). Errors are the description of the `amqp:invalid-field` refusal.
pub(crate) fn parse_selector(expression: &str) -> Result<StartFilter, String> {
    let bad = |why: &str| format!("invalid selector filter '{expression}': {why}");
    let expr = expression.trim();
    let field_end = expr
        .find(|c: char| c.is_whitespace() || c == '>' || c == '=' || c == '<')
        .ok_or_else(|| bad("expected '<annotation> > '<value>''"))?;
    let field = expr[..field_end]
        .strip_prefix("amqp.annotation.")
        .unwrap_or(&expr[..field_end]);
    let rest = expr[field_end..].trim_start();
    let (inclusive, rest) = if let Some(r) = rest.strip_prefix(">=") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (false, r)
    } else {
        return Err(bad("only '>' and '>=' are supported"));
    };
    let value = rest
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(|| bad("the value must be in single quotes"))?;
    match field {
        "x-opt-offset" => match value {
            "-1" => Ok(StartFilter::Earliest),
            "@latest" => Ok(StartFilter::Latest),
            v => v
                .parse()
                .map(|offset| StartFilter::Offset { offset, inclusive })
                .map_err(|_| bad("offset is not a non-negative integer")),
        },
        "x-opt-sequence-number" => value
            .parse()
            .map(|sequence| StartFilter::Sequence {
                sequence,
                inclusive,
            })
            .map_err(|_| bad("sequence number is not an integer")),
        "x-opt-enqueued-time" => value
            .parse()
            .map(|millis| StartFilter::EnqueuedTime { millis, inclusive })
            .map_err(|_| bad("enqueued time is not milliseconds since the Unix epoch")),
        _ => Err(bad(
            "the annotation must be x-opt-offset, x-opt-sequence-number or x-opt-enqueued-time",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sdk_addresses() {
        assert_eq!(
            parse_entity("amqps://localhost/hub/ConsumerGroups/$Default/Partitions/3"),
            Entity::Consumer {
                hub: "hub".into(),
                consumer_group: "$Default".into(),
                partition: "3".into()
            }
        );
        assert_eq!(parse_entity("$cbs"), Entity::Cbs);
        assert_eq!(parse_entity("$management"), Entity::Management);
        assert_eq!(
            parse_entity("amqps://localhost/hub"),
            Entity::Publisher {
                hub: "hub".into(),
                partition: None
            }
        );
        assert_eq!(
            parse_entity("hub/Partitions/1"),
            Entity::Publisher {
                hub: "hub".into(),
                partition: Some("1".into())
            }
        );
        assert!(matches!(parse_entity("a/b/c/d"), Entity::Unknown(_)));
    }

    #[test]
    fn parses_every_selector_the_sdk_builds() {
        use StartFilter::*;
        let p = |s| parse_selector(s).unwrap();
        assert_eq!(p("amqp.annotation.x-opt-offset > '-1'"), Earliest);
        assert_eq!(p("amqp.annotation.x-opt-offset > '@latest'"), Latest);
        assert_eq!(
            p("amqp.annotation.x-opt-offset >'12345'"),
            Offset {
                offset: 12345,
                inclusive: false
            }
        );
        assert_eq!(
            p("amqp.annotation.x-opt-sequence-number >='7'"),
            Sequence {
                sequence: 7,
                inclusive: true
            }
        );
        assert_eq!(
            p("amqp.annotation.x-opt-enqueued-time >'1700000000000'"),
            EnqueuedTime {
                millis: 1_700_000_000_000,
                inclusive: false
            }
        );
        assert!(parse_selector("amqp.annotation.x-opt-offset < '1'").is_err());
        assert!(parse_selector("amqp.annotation.x-opt-foo > '1'").is_err());
        assert!(parse_selector("amqp.annotation.x-opt-offset > 1").is_err());
    }
}
