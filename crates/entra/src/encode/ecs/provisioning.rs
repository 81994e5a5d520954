//! Provisioning, after Elastic's `provisioning` pipeline: explicit renames of the camelCase and
//! PascalCase keys it knows, everything else as received.

use super::*;
use crate::record::canonical_envelope_key;

pub(super) fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let empty = Object::default();
    let props = record.properties().unwrap_or(&empty);
    let p = record.provisioning();
    // Elastic deletes every `"":"",` from the raw text before parsing; only look for empty keys
    // when the record has one.
    let strip = memchr::memmem::find(record.raw(), b"\"\"").is_some();
    let mut o = ObjectWriter::new(out);
    write_head(&mut o, record, ctx, true);

    let outcome = match env.result_type {
        Some(Scalar::Str(s)) if s.eq_ignore_case("success") => Some("success"),
        Some(Scalar::Str(s)) if s.eq_ignore_case("failure") => Some("failure"),
        _ => None,
    };
    o.object("event", |e| {
        e.str("kind", "event");
        e.strs("category", &["iam"]);
        e.strs(
            "type",
            &[change_type(
                p.and_then(|p| p.provisioning_action.or(p.action)),
            )],
        );
        e.opt_str_nonempty("action", env.operation_name);
        if let Some(out) = outcome {
            e.str("outcome", out);
        }
        if let Some(ms) = env.duration_ms {
            e.i64("duration", nanos(ms));
        }
        e.opt_str_nonempty("reason", p.and_then(|p| p.error_reason));
        e.opt_str_nonempty("id", p.and_then(|p| p.id));
        write_ingested(e, ctx.ingest_time);
        e.str("dataset", "azure.provisioning");
    });
    write_azure(&mut o, record, |a| {
        a.object("provisioning", |w| {
            write_envelope(w, record);
            w.object("properties", |x| write_properties(x, props, strip));
        });
    });
    let ip = write_source_from_caller(&mut o, env.caller_ip_address);
    o.object("related", |r| write_set(r, "ip", &[ip]));
    o.finish();
}

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
            Some("resultType") => "result_type",
            Some("operationName") => "operation_name",
            Some("operationVersion") => "operation_version",
            Some("resultSignature") => "result_signature",
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

const TOP: [(&str, &str); 17] = [
    ("tenantId", "tenant_id"),
    ("activityDateTime", "activity_datetime"),
    ("changeId", "change_id"),
    ("cycleId", "cycle_id"),
    ("durationInMilliseconds", "duration_ms"),
    ("initiatedBy", "initiated_by"),
    ("jobId", "job_id"),
    ("modifiedProperties", "modified_properties"),
    ("provisioningAction", "provisioning_action"),
    ("provisioningStatusInfo", "provisioning_status_info"),
    ("servicePrincipal", "service_principal"),
    ("sourceIdentity", "source_identity"),
    ("targetIdentity", "target_identity"),
    ("sourceSystem", "source_system"),
    ("targetSystem", "target_system"),
    ("provisioningSteps", "provisioning_steps"),
    ("statusInfo", ""),
];
const PARTY: [(&str, &str); 3] = [("Id", "id"), ("Name", "name"), ("Type", "type")];
const IDENTITY: [(&str, &str); 3] = [
    ("Id", "id"),
    ("Name", "name"),
    ("identityType", "identity_type"),
];
const IDENTITY_DETAILS: [(&str, &str); 2] = [
    ("DisplayName", "display_name"),
    ("UserPrincipalName", "user_principal_name"),
];
// Elastic writes `dervice_principal_display_name` (a typo); we write the intended name.
const SYSTEM_DETAILS: [(&str, &str); 3] = [
    ("ApplicationId", "application_id"),
    (
        "ServicePrincipalDisplayName",
        "service_principal_display_name",
    ),
    ("ServicePrincipalId", "service_principal_id"),
];
const STATUS: [(&str, &str); 2] = [
    ("Status", "status"),
    ("errorInformation", "error_information"),
];
const ERROR: [(&str, &str); 4] = [
    ("additionalDetails", "additional_details"),
    ("errorCategory", "error_category"),
    ("errorCode", "error_code"),
    ("recommendedAction", "recommended_action"),
];

fn write_properties(w: &mut ObjectWriter<'_>, props: &Object<'_>, strip: bool) {
    for (k, v) in props.iter() {
        if strip && is_empty_pair(k, v) {
            continue;
        }
        let raw = k.raw();
        let Some((_, to)) = TOP.iter().find(|(from, _)| *from == raw) else {
            let out = w.raw_key(*k);
            write_kept(out, v, strip);
            continue;
        };
        match (raw, v) {
            ("statusInfo", _) => {}
            ("initiatedBy" | "servicePrincipal", Value::Object(x)) => {
                let out = w.key(to);
                write_renamed(out, x, &PARTY, strip, |_, _, _| false);
            }
            ("sourceIdentity" | "targetIdentity", Value::Object(x)) => {
                let out = w.key(to);
                write_renamed(out, x, &IDENTITY, strip, |key, v, out| {
                    nested(key, v, out, "details", &IDENTITY_DETAILS, strip)
                });
            }
            ("sourceSystem" | "targetSystem", Value::Object(x)) => {
                let out = w.key(to);
                write_renamed(out, x, &PARTY, strip, |key, v, out| {
                    nested(key, v, out, "details", &SYSTEM_DETAILS, strip)
                });
            }
            ("provisioningStatusInfo", Value::Object(x)) => {
                let out = w.key(to);
                write_status(out, x, strip);
            }
            ("provisioningSteps", Value::Array(steps)) => {
                let out = w.key(to);
                out.push(b'[');
                for (i, step) in steps.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match step {
                        Value::Object(s) => write_renamed(
                            out,
                            s,
                            &[("provisioningStepType", "provisioning_step_type")],
                            strip,
                            |_, _, _| false,
                        ),
                        other => write_kept(out, other, strip),
                    }
                }
                out.push(b']');
            }
            _ => {
                let out = w.key(to);
                write_kept(out, v, strip);
            }
        }
    }
}

/// `provisioningStatusInfo`: `Status` → `status`; a null `errorInformation` is removed, another
/// one renamed with its camelCase members.
fn write_status(out: &mut Vec<u8>, x: &Object<'_>, strip: bool) {
    let mut w = ObjectWriter::new(out);
    for (k, v) in x.iter() {
        if strip && is_empty_pair(k, v) {
            continue;
        }
        match (k.raw(), v) {
            ("errorInformation", Value::Null) => {}
            ("errorInformation", Value::Object(e)) => {
                let out = w.key("error_information");
                write_renamed(out, e, &ERROR, strip, |_, _, _| false);
            }
            (raw, _) => {
                let out = match STATUS.iter().find(|(from, _)| *from == raw) {
                    Some((_, to)) => w.key(to),
                    None => w.raw_key(*k),
                };
                write_kept(out, v, strip);
            }
        }
    }
    w.finish();
}

/// Handles the `details` member of an identity or system: renamed inside.
fn nested(
    key: JsonStr<'_>,
    v: &Value<'_>,
    out: &mut ObjectWriter<'_>,
    name: &str,
    renames: &[(&str, &str)],
    strip: bool,
) -> bool {
    match v {
        Value::Object(d) if key.raw() == name => {
            let o = out.raw_key(key);
            write_renamed(o, d, renames, strip, |_, _, _| false);
            true
        }
        _ => false,
    }
}

/// An object with some keys renamed; `special` may write a member itself (returning true).
fn write_renamed(
    out: &mut Vec<u8>,
    x: &Object<'_>,
    renames: &[(&str, &str)],
    strip: bool,
    special: impl Fn(JsonStr<'_>, &Value<'_>, &mut ObjectWriter<'_>) -> bool,
) {
    let mut w = ObjectWriter::new(out);
    for (k, v) in x.iter() {
        if strip && is_empty_pair(k, v) {
            continue;
        }
        if special(*k, v, &mut w) {
            continue;
        }
        let out = match renames.iter().find(|(from, _)| *from == k.raw()) {
            Some((_, to)) => w.key(to),
            None => w.raw_key(*k),
        };
        write_kept(out, v, strip);
    }
    w.finish();
}

fn is_empty_pair(k: &JsonStr<'_>, v: &Value<'_>) -> bool {
    k.is_empty() && matches!(v, Value::String(s) if s.is_empty())
}

/// A value as received, minus `"": ""` members when the record has any.
fn write_kept(out: &mut Vec<u8>, v: &Value<'_>, strip: bool) {
    if !strip {
        write_value(out, v);
        return;
    }
    match v {
        Value::Object(o) => write_renamed(out, o, &[], strip, |_, _, _| false),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_kept(out, item, strip);
            }
            out.push(b']');
        }
        other => write_value(out, other),
    }
}
