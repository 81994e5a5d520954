//! Directory audits, after Elastic's `auditlogs` pipeline: explicit renames instead of a
//! snake_case pass, target resources as maps keyed `"0"`, `"1"`…, and nulls kept except the four
//! the pipeline removes.

use super::*;
use crate::record::canonical_envelope_key;

pub(super) fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let empty = Object::default();
    let props = record.properties().unwrap_or(&empty);
    let mut o = ObjectWriter::new(out);
    write_head(&mut o, record, ctx, true);

    let result = props.get("result").and_then(Value::as_str);
    let outcome = result.and_then(|r| {
        if r.eq_ignore_case("success") {
            Some("success")
        } else if r.eq_ignore_case("failure") {
            Some("failure")
        } else {
            None
        }
    });
    let audit = record.audit();
    let user = props
        .get("initiatedBy")
        .and_then(Value::as_object)
        .and_then(|i| i.get("user"))
        .and_then(Value::as_object);
    let app = props
        .get("initiatedBy")
        .and_then(Value::as_object)
        .and_then(|i| i.get("app"))
        .and_then(Value::as_object);
    let user_str = |k: &str| user.and_then(|u| u.get(k)).and_then(Value::as_str);
    let (user_id, upn, full_name) = (
        user_str("id"),
        user_str("userPrincipalName"),
        user_str("displayName"),
    );

    o.object("event", |e| {
        e.str("kind", "event");
        e.strs("category", &["iam"]);
        let verb = change_type(audit.and_then(|a| a.operation_type));
        let noun = match audit.and_then(|a| a.category) {
            Some(c) if c.eq_str("UserManagement") => Some("user"),
            Some(c) if c.eq_str("GroupManagement") => Some("group"),
            _ => None,
        };
        match noun {
            Some(n) => e.strs("type", &[verb, n]),
            None => e.strs("type", &[verb]),
        }
        e.opt_str_nonempty("action", env.operation_name);
        if let Some(out) = outcome {
            e.str("outcome", out);
        }
        if let Some(ms) = env.duration_ms {
            e.i64("duration", nanos(ms));
        }
        e.opt_str_nonempty("reason", props.get("resultReason").and_then(Value::as_str));
        e.opt_str_nonempty("id", audit.and_then(|a| a.id));
        write_ingested(e, ctx.ingest_time);
        e.str("dataset", "azure.auditlogs");
    });

    write_azure(&mut o, record, |a| {
        a.object("auditlogs", |w| {
            write_envelope(w, record);
            w.object("properties", |p| {
                write_properties(p, props, outcome.is_some())
            });
        });
    });
    // Only a lower-case `level` reaches `log.level`; `Level` is kept in `azure.auditlogs.level`.
    let level = record
        .envelope_members()
        .find(|(k, _)| k.raw() == "level")
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(Scalar::Str(*s)),
            Value::Number(n) => Some(Scalar::Num(*n)),
            _ => None,
        });
    write_level(&mut o, level);
    let ip = write_source_from_caller(&mut o, env.caller_ip_address);

    o.object("user", |u| {
        u.opt_str_nonempty("name", upn);
        u.opt_str_nonempty("id", user_id);
        u.opt_str_nonempty("full_name", full_name);
    });
    let sp_id = app
        .and_then(|a| a.get("servicePrincipalId"))
        .and_then(Value::as_str);
    o.object("related", |r| {
        write_set(r, "ip", &[ip]);
        write_set(r, "user", &[user_id, upn, full_name]);
        let targets = props.get("targetResources").and_then(Value::as_array);
        let ids = targets
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_object()?.get("id")?.as_str());
        let mut entity: Vec<Option<JsonStr<'_>>> = vec![user_id, sp_id];
        entity.extend(ids.map(Some));
        write_set(r, "entity", &entity);
    });
    o.finish();
}

/// Envelope members under Elastic's names; those moved to ECS fields are left out.
fn write_envelope(w: &mut ObjectWriter<'_>, record: &Record<'_>) {
    if let Some(c) = category_value(record) {
        w.opt_json_str("category", Some(c));
    }
    for (k, v) in record.envelope_members() {
        let name = match canonical_envelope_key(k) {
            Some(
                "time" | "resourceId" | "durationMs" | "tenantId" | "correlationId"
                | "callerIpAddress" | "properties" | "category",
            ) => continue,
            Some("level") if k.raw() == "level" => continue,
            Some("level") => "level",
            Some("operationName") => "operation_name",
            Some("resultSignature") => "result_signature",
            Some("resultDescription") => "result_description",
            Some("operationVersion") => "operation_version",
            Some(c) => c,
            None => {
                let out = w.raw_key(*k);
                write_value(out, v);
                continue;
            }
        };
        w.value(name, v);
    }
}

const PROPERTY_RENAMES: [(&str, &str); 9] = [
    ("activityDisplayName", "activity_display_name"),
    ("activityDateTime", "activity_datetime"),
    ("additionalDetails", "additional_details"),
    ("resultReason", "result_reason"),
    ("resultDescription", "result_description"),
    ("correlationId", "correlation_id"),
    ("loggedByService", "logged_by_service"),
    ("operationType", "operation_type"),
    ("initiatedBy", "initiated_by"),
];

fn write_properties(p: &mut ObjectWriter<'_>, props: &Object<'_>, result_moved: bool) {
    for (k, v) in props.iter() {
        let raw = k.raw();
        match (raw, v) {
            ("result", _) if result_moved => continue,
            ("userAgent", Value::Null) => continue,
            ("initiatedBy", Value::Object(i)) => {
                p.object("initiated_by", |w| write_initiator(w, i));
                continue;
            }
            ("targetResources", Value::Array(targets)) => {
                let out = p.key("target_resources");
                write_targets(out, targets);
                continue;
            }
            _ => {}
        }
        match PROPERTY_RENAMES.iter().find(|(from, _)| *from == raw) {
            Some((_, to)) => p.value(to, v),
            None => {
                let out = p.raw_key(*k);
                write_value(out, v);
            }
        }
    }
}

/// `initiatedBy` with the nulls Elastic removes (`app.appId`, `app.servicePrincipalName`,
/// `user.displayName`) left out; everything else as received.
fn write_initiator(w: &mut ObjectWriter<'_>, i: &Object<'_>) {
    for (k, v) in i.iter() {
        let drop: &[&str] = match k.raw() {
            "app" => &["appId", "servicePrincipalName"],
            "user" => &["displayName"],
            _ => &[],
        };
        let out = w.raw_key(*k);
        match v {
            Value::Object(inner) if !drop.is_empty() => {
                let mut x = ObjectWriter::new(out);
                for (ik, iv) in inner.iter() {
                    if iv.is_null() && drop.contains(&ik.raw()) {
                        continue;
                    }
                    let out = x.raw_key(*ik);
                    write_value(out, iv);
                }
                x.finish();
            }
            _ => write_value(out, v),
        }
    }
}

/// `targetResources[]` → `{"0": {display_name, id, type, ip_address, user_principal_name,
/// modified_properties: {"0": {display_name, new_value, old_value}}}}`; other target fields are
/// not carried, as in Elastic. Values stay as received (modified values as JSON text).
fn write_targets(out: &mut Vec<u8>, targets: &[Value<'_>]) {
    let mut w = ObjectWriter::new(out);
    let mut index = String::new();
    for (i, t) in targets.iter().enumerate() {
        index.clear();
        index.push_str(itoa(i, &mut [0u8; 20]));
        let t = t.as_object();
        let get = |k: &str| t.and_then(|t| t.get(k));
        w.object(&index, |x| {
            if let Some(v) = get("displayName").filter(|v| !v.is_null()) {
                x.value("display_name", v);
            }
            x.value("id", get("id").unwrap_or(&Value::Null));
            x.value("type", get("type").unwrap_or(&Value::Null));
            if let Some(v) = get("ipAddress").filter(|v| !v.is_null()) {
                x.value("ip_address", v);
            }
            if let Some(v) = get("userPrincipalName").filter(|v| !v.is_null()) {
                x.value("user_principal_name", v);
            }
            let out = x.key("modified_properties");
            let mut m = ObjectWriter::new(out);
            let props = get("modifiedProperties").and_then(Value::as_array);
            let mut n = String::new();
            for (j, mp) in props.into_iter().flatten().enumerate() {
                n.clear();
                n.push_str(itoa(j, &mut [0u8; 20]));
                let mp = mp.as_object();
                let get = |k: &str| mp.and_then(|m| m.get(k));
                let out = m.key(&n);
                let mut y = ObjectWriter::new(out);
                y.value("display_name", get("displayName").unwrap_or(&Value::Null));
                if let Some(v) = get("newValue").filter(|v| !v.is_null()) {
                    y.value("new_value", v);
                }
                if let Some(v) = get("oldValue").filter(|v| !v.is_null()) {
                    y.value("old_value", v);
                }
                y.finish();
            }
            m.finish();
        });
    }
    w.finish();
}

/// Decimal digits of `n` without allocating.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}
