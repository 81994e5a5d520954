//! Microsoft Graph (`graphactivitylogs`) and Azure AD Graph (`aadgraphactivitylogs`) activity,
//! after Elastic's two pipelines: the whole record in snake_case under `azure.<dataset>`, the
//! HTTP request in `http.*`/`url.*`, the caller in `source.*`/`user.*`, then every null and
//! empty value removed. The two pipelines differ in a few places, named by [`Flavour`].

use super::*;
use crate::category::Category;
use crate::kinds::GraphActivity;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `MicrosoftGraphActivityLogs`.
    Graph,
    /// `AzureADGraphActivityLogs`.
    AadGraph,
}

impl Flavour {
    fn dataset(self) -> &'static str {
        match self {
            Flavour::Graph => "graphactivitylogs",
            Flavour::AadGraph => "aadgraphactivitylogs",
        }
    }
}

/// What the ECS fields took from the record, so the `azure.<dataset>` copy leaves them out.
struct Moved<'a> {
    source_ip: Option<JsonStr<'a>>,
    /// `properties.ipAddress` (Graph) when it stays in `azure.*`.
    keep_props_ip: bool,
    duration: bool,
    region: bool,
    tenant: bool,
}

pub(super) fn encode(
    record: &Record<'_>,
    g: &GraphActivity<'_>,
    ctx: &EncodeContext,
    out: &mut Vec<u8>,
) {
    let flavour = match record.category_enum() {
        Category::AzureAdGraphActivityLogs => Flavour::AadGraph,
        _ => Flavour::Graph,
    };
    let env = record.envelope();
    let empty = Object::default();
    let props = record.properties().unwrap_or(&empty);
    let prop = |name: &str| {
        props
            .get_ignore_case(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };

    // The caller's address. Graph: envelope `callerIpAddress`, else `properties.ipAddress`;
    // AAD Graph: `properties.callerIpAddress`. Not an IP: `source.address`.
    let (source_ip, source_address, keep_props_ip) = match flavour {
        Flavour::Graph => {
            let caller = env.caller_ip_address.filter(|s| !s.is_empty());
            let own = prop("ipAddress");
            let caller_ip = caller.filter(|c| is_ip(*c));
            let own_ip = own.filter(|c| is_ip(*c));
            let ip = caller_ip.or(own_ip);
            let address = match (caller, ip) {
                (Some(c), _) if caller_ip.is_none() => Some(c),
                (None, None) => own,
                _ => None,
            };
            // `ipAddress` stays when neither field gave an IP and the address came from the
            // caller (Elastic renames it only into an empty `source.address`).
            let keep = ip.is_none() && caller.is_some() && own.is_some();
            (ip, address, keep)
        }
        Flavour::AadGraph => {
            let caller = prop("callerIpAddress");
            let ip = caller.filter(|c| is_ip(*c));
            (ip, caller.filter(|_| ip.is_none()), false)
        }
    };
    let duration_ms = env.duration_ms.or(g.duration_ms);
    let region = env
        .location
        .filter(|l| !l.is_empty())
        .or_else(|| prop("location"));
    let tenant = env
        .tenant_id
        .filter(|t| !t.is_empty())
        .or_else(|| prop("tenantId"));
    let method = g.request_method.filter(|m| !m.is_empty());
    let status = g.status_code;
    let user_id = g
        .user_id
        .filter(|u| !u.is_empty())
        .or(g.service_principal_id.filter(|s| !s.is_empty()));
    let request_uri = g.request_uri.filter(|u| !u.is_empty());
    let uri_decoded = request_uri.map(|u| u.decode());
    let uri_text = uri_decoded.as_deref().map(strip_pii_markers);
    let uri = uri_text.as_deref().and_then(super::uri::parts);

    let mut o = ObjectWriter::new(out);
    let t = match flavour {
        Flavour::Graph => env.time.or(record.event_time()),
        Flavour::AadGraph => g.time_generated.or(record.event_time()),
    };
    o.time_millis("@timestamp", t.unwrap_or(ctx.ingest_time));
    o.object("ecs", |w| w.str("version", ECS_VERSION));

    o.object("event", |e| {
        e.str("kind", "event");
        let m = method.map(|m| m.raw());
        match flavour {
            Flavour::Graph => {
                e.strs("category", &["api"]);
                let by_method = match m {
                    None | Some("GET") | Some("HEAD") => Some("access"),
                    Some("POST") => Some("creation"),
                    Some("PATCH") | Some("PUT") => Some("change"),
                    Some("DELETE") => Some("deletion"),
                    Some(_) => None,
                };
                let denied = matches!(status, Some(401) | Some(403)).then_some("denied");
                match (by_method, denied) {
                    (Some(a), Some(b)) => e.strs("type", &[a, b]),
                    (Some(a), None) | (None, Some(a)) => e.strs("type", &[a]),
                    (None, None) => {}
                }
            }
            Flavour::AadGraph => {
                e.strs("category", &["iam", "web"]);
                let types: &[&str] = match m {
                    None | Some("GET") | Some("HEAD") => &["access", "info"],
                    Some("POST") | Some("PATCH") | Some("PUT") => &["access", "change"],
                    Some("DELETE") => &["access", "deletion"],
                    Some(_) => &["access"],
                };
                e.strs("type", types);
            }
        }
        let derived = match flavour {
            Flavour::AadGraph => uri
                .as_ref()
                .and_then(|u| u.path)
                .zip(m)
                .and_then(|(path, m)| aad_action(path, m)),
            Flavour::Graph => None,
        };
        match derived {
            Some(a) => e.str("action", &a),
            None => e.opt_str_nonempty("action", env.operation_name),
        }
        match status {
            Some(200..=299) => e.str("outcome", "success"),
            Some(300..=399) if flavour == Flavour::AadGraph => e.str("outcome", "unknown"),
            Some(400..) => e.str("outcome", "failure"),
            _ => {}
        }
        if let Some(ms) = duration_ms {
            e.i64("duration", nanos(ms));
        }
        // AAD Graph: `event.id` is the request id; for Graph this is our addition.
        e.opt_str_nonempty("id", g.request_id);
        write_ingested(e, ctx.ingest_time);
        let out = e.key("dataset");
        out.extend_from_slice(b"\"azure.");
        out.extend_from_slice(flavour.dataset().as_bytes());
        out.push(b'"');
    });

    let moved = Moved {
        source_ip,
        keep_props_ip,
        duration: duration_ms.is_some(),
        region: region.is_some(),
        tenant: tenant.is_some(),
    };
    let ids = AzureIds {
        tenant,
        correlation: env.correlation_id,
        account_after_shared: true,
        region,
        service: Some(match flavour {
            Flavour::Graph => "Microsoft Graph",
            Flavour::AadGraph => "Azure AD Graph",
        }),
    };
    write_azure_semconv(&mut o, record, &ids, |a| {
        a.object(flavour.dataset(), |w| {
            write_envelope(w, record, flavour, &moved);
            let mark = w.mark();
            let kept = {
                let mut pw = ObjectWriter::new(w.key("properties"));
                write_properties(&mut pw, props, flavour, &moved);
                let kept = !pw.is_empty();
                if kept {
                    pw.finish();
                }
                kept
            };
            if !kept {
                w.rollback(mark);
            }
        });
    });

    o.object("source", |s| {
        s.opt_json_str("ip", source_ip);
        s.opt_json_str("address", source_address);
    });
    o.object("client", |c| {
        c.opt_json_str("ip", source_ip);
        c.object("user", |u| u.opt_json_str("id", user_id));
    });
    o.object("destination", |d| {
        d.object("geo", |geo| geo.opt_json_str("region_name", region));
    });
    if flavour == Flavour::Graph {
        write_level(&mut o, env.level);
    }
    o.object("http", |h| {
        h.object("request", |r| {
            r.opt_str_nonempty("id", g.request_id);
            r.opt_json_str("method", method);
        });
        h.object("response", |r| {
            if let Some(b) = g.response_size_bytes {
                r.i64("bytes", b);
            }
            if let Some(c) = status {
                r.i64("status_code", c);
            }
        });
    });
    o.object("url", |w| {
        w.opt_json_str("original", request_uri);
        if let Some(p) = &uri {
            for (key, v) in [
                ("scheme", p.scheme),
                ("domain", p.domain),
                ("path", p.path),
                ("query", p.query),
                ("fragment", p.fragment),
                ("extension", p.extension),
            ] {
                if let Some(v) = v {
                    w.str(key, v);
                }
            }
            if let Some(port) = p.port {
                w.u64("port", u64::from(port));
            }
        }
    });
    o.object("user_agent", |u| {
        u.opt_str_nonempty("original", g.user_agent)
    });
    o.object("user", |u| u.opt_json_str("id", user_id));
    o.object("service", |s| {
        s.opt_str_nonempty("id", g.service_principal_id)
    });
    let (device, session) = match flavour {
        Flavour::Graph => (prop("C_DeviceId"), prop("C_Sid")),
        Flavour::AadGraph => (prop("deviceId"), prop("sessionId")),
    };
    o.object("device", |d| d.opt_json_str("id", device));
    o.object("session", |s| s.opt_json_str("id", session));
    if flavour == Flavour::Graph {
        o.object("token", |t| t.opt_json_str("id", prop("signInActivityId")));
    }
    o.object("related", |r| {
        write_set(r, "ip", &[source_ip]);
        let app = match flavour {
            Flavour::AadGraph => g.app_id,
            Flavour::Graph => None,
        };
        write_set(r, "user", &[user_id, app]);
    });
    o.finish();
}

/// Elastic strips `<pii>`/`</pii>` markers before splitting the URI (`url.original` keeps them).
fn strip_pii_markers(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains("<pii>") || s.contains("</pii>") {
        std::borrow::Cow::Owned(s.replace("<pii>", "").replace("</pii>", ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// AAD Graph's `event.action`: the directory collection of the path and the method's verb,
/// `GET /v2/{tenant}/directoryRoles` → `directory-roles-read`.
fn aad_action(path: &str, method: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() < 3 {
        return None;
    }
    let collection = if parts.len() >= 4 && parts[1] == "v2" {
        parts[3]
    } else {
        parts[2]
    };
    let collection = collection.strip_prefix('$').unwrap_or(collection);
    if collection.is_empty() {
        return None;
    }
    let mut action = String::with_capacity(collection.len() + 8);
    let mut prev_upper = false;
    for (i, c) in collection.chars().enumerate() {
        if i > 0 && c.is_uppercase() && !prev_upper {
            action.push('-');
        }
        prev_upper = c.is_uppercase();
        action.extend(c.to_lowercase());
    }
    let verb = match method {
        "GET" | "HEAD" => "read".to_owned(),
        "POST" => "execute".to_owned(),
        "PATCH" | "PUT" => "update".to_owned(),
        "DELETE" => "delete".to_owned(),
        other => other.to_lowercase(),
    };
    action.push('-');
    action.push_str(&verb);
    Some(action)
}

/// Envelope members in snake_case, cleaned, without those moved to ECS fields.
fn write_envelope(w: &mut ObjectWriter<'_>, record: &Record<'_>, flavour: Flavour, m: &Moved<'_>) {
    if let Some(c) = category_value(record) {
        w.opt_str_nonempty("category", Some(c));
    }
    for (k, v) in record.envelope_members() {
        if is_dropped(v) {
            continue;
        }
        let (mark, range) = snake_member(w, *k);
        let moved = match &w.out[range] {
            b"category" | b"properties" | b"resource_id" | b"correlation_id" => true,
            b"time" | b"level" | b"caller_ip_address" => flavour == Flavour::Graph,
            b"duration_ms" => m.duration,
            b"location" => m.region,
            b"tenant_id" => m.tenant,
            _ => false,
        };
        if moved || !write_clean(w.out, v, true) {
            w.rollback(mark);
        }
    }
}

/// The longest property name this module acts on (`__udi_required_fields_region_scope`).
const NAME_MAX: usize = 40;

/// `properties` in snake_case with the pipeline's conversions: lists split, dates in
/// Elasticsearch's form, `_billed_size`/`_is_billable` renamed, numbers and booleans converted;
/// fields moved to ECS left out; nulls and empties removed.
fn write_properties(w: &mut ObjectWriter<'_>, props: &Object<'_>, flavour: Flavour, m: &Moved<'_>) {
    let aad = flavour == Flavour::AadGraph;
    for (k, v) in props.iter() {
        if is_dropped(v) {
            continue;
        }
        let (mark, range) = snake_member(w, *k);
        // The name is copied out of the buffer (it is written to next) without allocating;
        // a longer one is none of the names below.
        let mut buf = [0u8; NAME_MAX];
        let name: &[u8] = match w.out.get(range) {
            Some(n) if n.len() <= NAME_MAX => {
                buf[..n.len()].copy_from_slice(n);
                &buf[..n.len()]
            }
            _ => b"",
        };
        let keep = match name {
            b"request_id" | b"request_uri" | b"response_size_bytes" => false,
            b"request_method" | b"response_status_code" => aad,
            b"http_method" | b"http_status_code" | b"caller_ip_address" => !aad,
            b"__udi_required_fields_event_time"
            | b"__udi_required_fields_region_scope"
            | b"__udi_required_fields_tenant_id"
            | b"__udi_required_fields_unique_id" => !aad,
            b"ip_address" => aad || (m.source_ip.is_none() && m.keep_props_ip),
            b"duration_ms" => !m.duration,
            b"location" => !m.region,
            b"tenant_id" => !m.tenant,
            // Moved to `user_agent.original` / `user.id` when not empty (empties go anyway).
            b"user_agent" | b"user_id" => false,
            _ => true,
        };
        if !keep {
            w.rollback(mark);
            continue;
        }
        let wrote = match (name, v) {
            (b"roles" | b"wids", Value::String(s)) if aad => {
                write_list(w.out, &s.decode(), ListStyle::Commas)
            }
            (b"roles" | b"scopes" | b"wids", Value::String(s)) => {
                write_list(w.out, &s.decode(), ListStyle::Spaces)
            }
            (b"time_generated" | b"token_issued_at", Value::String(s)) => write_date(w.out, *s, v),
            (b"issued_at", Value::String(s)) if aad => {
                w.rollback(mark);
                let mark = w.mark();
                w.key("token_issued_at");
                if !write_date(w.out, *s, v) {
                    w.rollback(mark);
                }
                continue;
            }
            (b"_billed_size" | b"_is_billable", _) => {
                w.rollback(mark);
                let new = if name == b"_billed_size" {
                    "billed_size"
                } else {
                    "is_billable"
                };
                let mark = w.mark();
                w.key(new);
                let ok = if new == "is_billable" {
                    write_boolean(w.out, v)
                } else {
                    write_clean(w.out, v, true)
                };
                if !ok {
                    w.rollback(mark);
                }
                continue;
            }
            (b"is_billable", _) => write_boolean(w.out, v),
            (b"client_auth_method", Value::String(s)) => match s.decode().trim().parse::<i64>() {
                Ok(n) => {
                    write_i64(w.out, n);
                    true
                }
                Err(_) => write_clean(w.out, v, true),
            },
            _ => write_clean(w.out, v, true),
        };
        if !wrote {
            w.rollback(mark);
        }
    }
}

enum ListStyle {
    /// Graph: separated by single spaces.
    Spaces,
    /// AAD Graph `roles`/`wids`: commas with optional spaces, stray commas at either end.
    Commas,
}

/// A list in a string as a JSON array, empty items removed; false when none remain.
fn write_list(out: &mut Vec<u8>, text: &str, style: ListStyle) -> bool {
    let items: Vec<&str> = match style {
        ListStyle::Spaces => text.split(' ').filter(|s| !s.is_empty()).collect(),
        ListStyle::Commas => text
            .trim_matches(|c: char| c.is_whitespace() || c == ',')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
    };
    if items.is_empty() {
        return false;
    }
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, item);
    }
    out.push(b']');
    true
}

/// A date Elastic converts, with millisecond precision; kept as received when it is in no form
/// we read (Elastic marks the document `pipeline_error` then).
fn write_date(out: &mut Vec<u8>, s: JsonStr<'_>, v: &Value<'_>) -> bool {
    match crate::time::Timestamp::parse(&s.decode()) {
        Some(t) => {
            write_time_millis(out, t);
            true
        }
        None => write_clean(out, v, true),
    }
}

/// Elasticsearch's boolean conversion: `true`/`false` in any case; other values as received.
fn write_boolean(out: &mut Vec<u8>, v: &Value<'_>) -> bool {
    if let Value::String(s) = v {
        let t = s.decode();
        if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
            out.extend_from_slice(if t.eq_ignore_ascii_case("true") {
                b"true"
            } else {
                b"false"
            });
            return true;
        }
    }
    write_clean(out, v, true)
}
