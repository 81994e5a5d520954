//! `native`: entrastream's own schema (`docs/schema.md`). A fixed header answers the common
//! questions without knowing the category; `envelope` and `properties` then carry every input
//! field, with envelope keys in canonical spelling and types and audit modified-property values
//! decoded from their JSON-in-a-string form.

use crate::encode::EncodeContext;
use crate::encode::writer::*;
use crate::json::{Object, Value};
use crate::kinds::audit::{DecodedValue, decode_modified_value};
use crate::principal::{Principal, PrincipalKind};
use crate::record::{Record, canonical_envelope_key};

/// Bumped when a field changes meaning or is removed; adding fields does not bump it.
pub const SCHEMA_VERSION: &str = "1";

pub fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let mut o = ObjectWriter::new(out);
    o.str("schema_version", SCHEMA_VERSION);
    let id = record.event_id().to_text();
    let out = o.key("event_id");
    out.push(b'"');
    out.extend_from_slice(&id);
    out.push(b'"');
    o.str("category", record.category());
    o.str("kind", record.kind());
    o.opt_time("event_time", record.event_time());
    let ingest = record.original_ingest_time().unwrap_or(ctx.ingest_time);
    o.opt_time("ingest_time", Some(ingest));
    if let Some(t) = record.tenant_id() {
        o.str("tenant_id", t);
    }
    o.str("outcome", record.outcome().as_str());
    write_principal(&mut o, "actor", &record.actor());
    write_principal(&mut o, "target", &record.target());
    write_envelope(&mut o, record);
    if let Some(props) = record.properties() {
        let out = o.key("properties");
        if record.kind_enum() == crate::Kind::Audit {
            write_audit_properties(out, props);
        } else {
            write_object(out, props);
        }
    }
    o.finish();
}

fn write_principal(o: &mut ObjectWriter<'_>, key: &str, p: &Principal<'_>) {
    if p.is_empty() && p.ip.is_none() {
        return;
    }
    let out = o.key(key);
    let mut w = ObjectWriter::new(out);
    match p.kind {
        Some(PrincipalKind::Fixed(k)) => w.str("type", k),
        Some(PrincipalKind::Given(k)) => w.opt_json_str("type", Some(k)),
        None => {}
    }
    w.opt_json_str("id", p.id);
    w.opt_json_str("name", p.name);
    w.opt_json_str("display_name", p.display_name);
    w.opt_json_str("ip", p.ip);
    w.finish();
}

/// Envelope members in canonical key spelling (`Level` → `level`) with `durationMs` and numeric
/// `level` as numbers; unknown keys as received.
fn write_envelope(o: &mut ObjectWriter<'_>, record: &Record<'_>) {
    let out = o.key("envelope");
    let mut w = ObjectWriter::new(out);
    let mut seen: u32 = 0;
    for (key, value) in record.envelope_members() {
        let canonical = canonical_envelope_key(key).map(|c| {
            let bit = 1u32
                << crate::record::ENVELOPE_KEYS
                    .iter()
                    .position(|k| *k == c)
                    .unwrap_or(31);
            (c, bit)
        });
        match canonical {
            // A second spelling of a key already written keeps its own spelling: both survive.
            Some((c, bit)) if seen & bit == 0 => {
                seen |= bit;
                let out = w.key(c);
                match (c, value) {
                    ("durationMs" | "level", Value::String(s)) => {
                        match s.decode().trim().parse::<i64>() {
                            Ok(n) => write_i64(out, n),
                            Err(_) => write_value(out, value),
                        }
                    }
                    _ => write_value(out, value),
                }
            }
            _ => {
                let out = w.raw_key(*key);
                write_value(out, value);
            }
        }
    }
    w.finish();
}

/// Audit properties with each `modifiedProperties[].oldValue/newValue` decoded when it holds JSON.
fn write_audit_properties(out: &mut Vec<u8>, props: &Object<'_>) {
    let mut w = ObjectWriter::new(out);
    for (key, value) in props.iter() {
        let out = w.raw_key(*key);
        match (key.raw(), value) {
            ("targetResources", Value::Array(targets)) => {
                out.push(b'[');
                for (i, t) in targets.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match t {
                        Value::Object(t) => write_target(out, t),
                        other => write_value(out, other),
                    }
                }
                out.push(b']');
            }
            _ => write_value(out, value),
        }
    }
    w.finish();
}

fn write_target(out: &mut Vec<u8>, target: &Object<'_>) {
    let mut w = ObjectWriter::new(out);
    for (key, value) in target.iter() {
        let out = w.raw_key(*key);
        match (key.raw(), value) {
            ("modifiedProperties", Value::Array(props)) => {
                out.push(b'[');
                for (i, p) in props.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match p {
                        Value::Object(p) => write_modified_property(out, p),
                        other => write_value(out, other),
                    }
                }
                out.push(b']');
            }
            _ => write_value(out, value),
        }
    }
    w.finish();
}

fn write_modified_property(out: &mut Vec<u8>, prop: &Object<'_>) {
    let mut w = ObjectWriter::new(out);
    for (key, value) in prop.iter() {
        let out = w.raw_key(*key);
        if matches!(key.raw(), "oldValue" | "newValue") {
            match decode_modified_value(value) {
                DecodedValue::Json(text) => out.extend_from_slice(text.as_bytes()),
                DecodedValue::Text(s) => write_json_str(out, s),
                DecodedValue::Value(v) => write_value(out, &v),
            }
        } else {
            write_value(out, value);
        }
    }
    w.finish();
}
