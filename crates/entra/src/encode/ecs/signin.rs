//! Sign-ins (every `*SignInLogs` category), after Elastic's `signinlogs` pipeline.

use super::*;
use crate::kinds::SignIn;

pub(super) fn encode(record: &Record<'_>, s: &SignIn<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let empty = Object::default();
    let props = record.properties().unwrap_or(&empty);
    let mut o = ObjectWriter::new(out);
    write_head(&mut o, record, ctx, false);

    // Elastic: success when `status.errorCode` is null or 0. A record without a status but with
    // a non-zero `resultType` is a failure here (documented difference).
    let failed = match s.error_code {
        Some(code) => code != 0,
        None => env
            .result_type
            .and_then(|r| r.as_i64())
            .is_some_and(|c| c != 0),
    };
    o.object("event", |e| {
        e.str("kind", "event");
        e.strs("category", &["authentication"]);
        e.strs("type", &["info"]);
        e.opt_str_nonempty("action", env.operation_name);
        e.str("outcome", if failed { "failure" } else { "success" });
        if let Some(ms) = env.duration_ms {
            e.i64("duration", nanos(ms));
        }
        e.opt_str_nonempty("id", s.id);
        write_ingested(e, ctx.ingest_time);
        e.str("dataset", "azure.signinlogs");
    });

    write_azure(&mut o, record, |a| {
        a.object("signinlogs", |w| {
            write_snake_envelope(w, record, false);
            w.object("properties", |p| write_properties(p, props));
        });
    });
    write_level(&mut o, env.level);
    write_message(&mut o, s);

    // Source address: `properties.ipAddress`.
    let source_ip = s.ip_address.filter(|ip| is_ip(*ip));
    if let Some(addr) = s.ip_address {
        o.object("source", |w| {
            w.opt_json_str("address", Some(addr));
            w.opt_json_str("ip", source_ip);
        });
    }
    o.object("client", |w| w.opt_json_str("ip", source_ip));
    write_geo(&mut o, env.location, props);

    o.object("user", |u| {
        u.opt_str_nonempty("name", s.user_principal_name);
        if let Some(upn) = s.user_principal_name.filter(|u| looks_like_email(*u)) {
            u.opt_json_str("email", Some(upn));
        }
        u.opt_str_nonempty("full_name", s.user_display_name);
        u.opt_str_nonempty("id", s.user_id);
    });
    o.object("service", |w| {
        w.opt_str_nonempty("name", s.service_principal_name)
    });
    o.object("user_agent", |w| {
        w.opt_str_nonempty("original", s.user_agent)
    });

    let key_id = props
        .get("servicePrincipalCredentialKeyId")
        .and_then(Value::as_str);
    o.object("related", |r| {
        write_set(r, "ip", &[source_ip]);
        write_set(
            r,
            "user",
            &[s.user_id, s.user_principal_name, s.user_display_name],
        );
        write_set(
            r,
            "entity",
            &[
                s.app_id,
                s.resource_id,
                s.service_principal_id,
                key_id,
                s.user_id,
                s.device.id,
            ],
        );
    });
    o.finish();
}

/// `message`: `failureReason (additionalDetails)`, or whichever of the two exists.
fn write_message(o: &mut ObjectWriter<'_>, s: &SignIn<'_>) {
    let out = match (s.failure_reason, s.additional_details) {
        (None, None) => return,
        _ => o.key("message"),
    };
    out.push(b'"');
    match (s.failure_reason, s.additional_details) {
        (Some(r), Some(d)) => {
            out.extend_from_slice(r.raw().as_bytes());
            out.extend_from_slice(b" (");
            out.extend_from_slice(d.raw().as_bytes());
            out.push(b')');
        }
        (Some(x), None) | (None, Some(x)) => out.extend_from_slice(x.raw().as_bytes()),
        (None, None) => {}
    }
    out.push(b'"');
}

/// `geo.*`: the envelope `location` is the country code; city, state and coordinates come from
/// `properties.location` (whose `countryOrRegion` Elastic drops).
fn write_geo(o: &mut ObjectWriter<'_>, country: Option<JsonStr<'_>>, props: &Object<'_>) {
    let loc = props.get("location").and_then(Value::as_object);
    let coords = loc
        .and_then(|l| l.get("geoCoordinates"))
        .and_then(Value::as_object);
    o.object("geo", |g| {
        g.opt_str_nonempty("country_iso_code", country);
        if let Some(l) = loc {
            if let Some(v) = l.get("city") {
                clean_renamed(g, "city_name", v, true);
            }
            if let Some(v) = l.get("state") {
                clean_renamed(g, "region_name", v, true);
            }
        }
        if let Some(c) = coords {
            g.object("location", |p| {
                if let Some(v) = c.get("latitude") {
                    clean_renamed(p, "lat", v, true);
                }
                if let Some(v) = c.get("longitude") {
                    clean_renamed(p, "lon", v, true);
                }
            });
        }
    });
}

/// `azure.signinlogs.properties`: snake_case, cleaned, with Elastic's renames and without the
/// fields it moves to ECS (`ipAddress`, `userAgent`, `location`, the status texts).
fn write_properties(p: &mut ObjectWriter<'_>, props: &Object<'_>) {
    for (k, v) in props.iter() {
        if is_dropped(v) {
            continue;
        }
        let (mark, range) = snake_member(p, *k);
        let rename = match &p.out[range] {
            b"ip_address" | b"ipaddress" | b"user_agent" | b"location" => {
                p.rollback(mark);
                continue;
            }
            b"created_date_time" => Some("created_at"),
            b"processing_time_in_milliseconds" => Some("processing_time_ms"),
            b"risk_level_during_sign_in" => Some("risk_level_during_signin"),
            b"status" => {
                if let Value::Object(st) = v {
                    let kept = write_status(p.out, st);
                    if !kept {
                        p.rollback(mark);
                    }
                    continue;
                }
                None
            }
            b"authentication_processing_details" => {
                if let Value::Array(items) = v {
                    if !write_pairs_as_map(p.out, items) {
                        p.rollback(mark);
                    }
                    continue;
                }
                None
            }
            _ => None,
        };
        if let Some(new) = rename {
            p.rollback(mark);
            clean_renamed(p, new, v, true);
        } else if !write_clean(p.out, v, true) {
            p.rollback(mark);
        }
    }
}

fn write_status(out: &mut Vec<u8>, st: &Object<'_>) -> bool {
    let start = out.len();
    let mut w = ObjectWriter::new(out);
    for (k, v) in st.iter() {
        if is_dropped(v) {
            continue;
        }
        let (mark, range) = snake_member(&mut w, *k);
        if matches!(&w.out[range], b"failure_reason" | b"additional_details")
            || !write_clean(w.out, v, true)
        {
            w.rollback(mark);
        }
    }
    if w.is_empty() {
        out.truncate(start);
        false
    } else {
        w.finish();
        true
    }
}

/// `[{"key": k, "value": v}, …]` → `{k: v, …}`; a later duplicate key wins, as in Painless.
fn write_pairs_as_map(out: &mut Vec<u8>, items: &[Value<'_>]) -> bool {
    // Index of the last pair of each key; a map only for long lists, which only hostile input has.
    let last: Option<std::collections::HashMap<&str, usize>> = (items.len() > 32).then(|| {
        let mut m = std::collections::HashMap::new();
        for (i, item) in items.iter().enumerate() {
            if let Some((k, _)) = pair(item) {
                m.insert(k.raw(), i);
            }
        }
        m
    });
    let start = out.len();
    let mut w = ObjectWriter::new(out);
    for (i, item) in items.iter().enumerate() {
        let Some((key, value)) = pair(item) else {
            continue;
        };
        let superseded = match &last {
            Some(m) => m.get(key.raw()).is_some_and(|j| *j != i),
            None => items[i + 1..]
                .iter()
                .filter_map(pair)
                .any(|(k, _)| k.raw() == key.raw()),
        };
        if superseded {
            continue;
        }
        // The map's keys are the pairs' own keys, not snake-cased; values are cleaned.
        if let Some(v) = value.filter(|v| !is_dropped(v)) {
            let mark = w.mark();
            w.raw_key(key);
            if !write_clean(w.out, v, true) {
                w.rollback(mark);
            }
        }
    }
    if w.is_empty() {
        out.truncate(start);
        false
    } else {
        w.finish();
        true
    }
}

fn pair<'v, 'a>(item: &'v Value<'a>) -> Option<(JsonStr<'a>, Option<&'v Value<'a>>)> {
    let o = item.as_object()?;
    let mut key = None;
    let mut value = None;
    for (k, v) in o.iter() {
        // The snake_case pass leaves `key` and `value` unchanged, so match those names.
        match k.raw() {
            "key" => key = v.as_str(),
            "value" => value = Some(v),
            _ => {}
        }
    }
    Some((key?, value))
}
