//! Identity Protection (`RiskyUsers`, `UserRiskEvents`, and the service-principal pair), after
//! Elastic's `identity_protection` pipeline.
//!
//! That pipeline renames a fixed list of keys and keeps every other key as received (camelCase,
//! nulls included): it has no snake_case pass and no null removal. Elastic drops the two
//! service-principal categories; we map them the same way so that they are not lost.

use super::*;
use crate::category::Category;
use crate::kinds::Risk;
use crate::record::Outcome;

pub(super) fn encode(record: &Record<'_>, r: &Risk<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let category = record.category_enum();
    let mut o = ObjectWriter::new(out);
    write_head(&mut o, record, ctx, true);

    o.object("event", |e| {
        e.str("kind", "event");
        // Not set by Elastic (added by us, as for audits).
        if is_detection(category) {
            e.strs("category", &["intrusion_detection"]);
            e.strs("type", &["indicator"]);
        } else {
            e.strs("category", &["iam"]);
            e.strs("type", &["info"]);
        }
        e.opt_str_nonempty("action", env.operation_name);
        if record.outcome() != Outcome::Unknown {
            e.str("outcome", record.outcome().as_str());
        }
        if let Some(ms) = env.duration_ms {
            e.i64("duration", nanos(ms));
        }
        e.opt_str_nonempty("id", r.id);
        write_ingested(e, ctx.ingest_time);
        e.str("dataset", "azure.identity_protection");
    });

    let ids = AzureIds {
        tenant: env.tenant_id.filter(|t| !t.is_empty()),
        correlation: env.correlation_id,
        account_after_shared: false,
        region: None,
        service: None,
    };
    write_azure_semconv(&mut o, record, &ids, |a| {
        a.object("identityprotection", |w| {
            write_envelope(w, record);
            if let Some(p) = record.properties() {
                w.object("properties", |pw| write_properties(pw, p, r));
            }
        });
    });

    // `callerIpAddress`: `source.ip` when it is an IP, else `source.address`. Detections carry
    // their address in `properties.ipAddress` instead; Elastic's `detection-ip` test maps that
    // one to `source.ip`, `client.ip` and `related.ip` when there is no caller address.
    let mut related_ip = None;
    match env.caller_ip_address.filter(|i| !i.is_empty()) {
        Some(ip) => {
            let key = if is_ip(ip) { "ip" } else { "address" };
            o.object("source", |s| s.opt_json_str(key, Some(ip)));
        }
        None => {
            if let Some(ip) = r.ip_address.filter(|i| is_ip(*i)) {
                o.object("source", |s| s.opt_json_str("ip", Some(ip)));
                o.object("client", |c| c.opt_json_str("ip", Some(ip)));
                related_ip = Some(ip);
            }
        }
    }

    o.object("user", |u| {
        u.opt_str_nonempty("id", r.user_id);
        u.opt_str_nonempty("full_name", r.user_display_name);
        u.opt_str_nonempty("name", r.user_principal_name);
        if let Some(upn) = r.user_principal_name.filter(|u| looks_like_email(*u)) {
            u.opt_json_str("email", Some(upn));
        }
    });
    // Service principals: Elastic has no mapping (it drops these categories).
    if is_service_principal(category) {
        let own_id = (category == Category::RiskyServicePrincipals)
            .then_some(r.id)
            .flatten();
        o.object("service", |s| {
            s.opt_str_nonempty("id", r.service_principal_id.or(own_id));
            s.opt_str_nonempty("name", r.display_name);
        });
    }
    o.object("related", |rel| {
        write_set(rel, "ip", &[related_ip]);
        write_set(
            rel,
            "user",
            &[r.user_id, r.user_principal_name, r.user_display_name],
        );
    });
    o.finish();
}

fn is_detection(c: Category) -> bool {
    matches!(
        c,
        Category::UserRiskEvents | Category::ServicePrincipalRiskEvents
    )
}

fn is_service_principal(c: Category) -> bool {
    matches!(
        c,
        Category::RiskyServicePrincipals | Category::ServicePrincipalRiskEvents
    )
}

/// Elastic removes the text `"":"",` from the message before parsing: an empty key with an
/// empty value is not carried.
fn is_empty_pair(k: JsonStr<'_>, v: &Value<'_>) -> bool {
    k.is_empty() && v.as_str().is_some_and(|s| s.is_empty())
}

/// Envelope members of `azure.identityprotection`: three renamed, those moved to ECS fields or
/// removed as undocumented left out, every other one as received.
fn write_envelope(w: &mut ObjectWriter<'_>, record: &Record<'_>) {
    if let Some(c) = category_value(record) {
        w.opt_json_str("category", Some(c));
    }
    for (k, v) in record.envelope_members() {
        if is_empty_pair(*k, v) {
            continue;
        }
        // Elastic removes only the capitalised `Level` (undocumented); a lower-case `level`
        // stays, as in the audit pipeline.
        if k.raw() == "Level" {
            continue;
        }
        let canonical = crate::record::canonical_envelope_key(k);
        match canonical {
            Some(
                "time" | "resourceId" | "callerIpAddress" | "durationMs" | "tenantId" | "identity"
                | "location" | "correlationId" | "category" | "properties",
            ) => {}
            Some("operationName") => w.value("operation_name", v),
            Some("operationVersion") => w.value("operation_version", v),
            Some("resultSignature") => w.value("result_signature", v),
            _ => {
                let out = w.raw_key(*k);
                write_value(out, v);
            }
        }
    }
}

/// `properties` with the pipeline's renames, its four dates in Elasticsearch's form,
/// `additionalInfo` parsed, and its three undocumented tenant fields removed.
fn write_properties(w: &mut ObjectWriter<'_>, props: &Object<'_>, r: &Risk<'_>) {
    for (k, v) in props.iter() {
        if is_empty_pair(*k, v) {
            continue;
        }
        let renamed = match k.raw() {
            "resourceTenantId" | "homeTenantId" | "crossTenantAccessType" => continue,
            "isDeleted" => "is_deleted",
            "isGuest" => "is_guest",
            "isProcessing" => "is_processing",
            "riskType" => "risk_type",
            "riskEventType" => "risk_event_type",
            "riskState" => "risk_state",
            "riskLevel" => "risk_level",
            "riskDetail" => "risk_detail",
            "userDisplayName" => "user_display_name",
            "userPrincipalName" => "user_principal_name",
            "userType" => "user_type",
            "detectionTimingType" => "detection_timing_type",
            "requestId" => "request_id",
            "correlationId" => "correlation_id",
            "tokenIssuerType" => "token_issuer_type",
            "ipAddress" => "ip_address",
            "userId" => {
                if !matches!(v, Value::Null) {
                    w.value("user_id", v);
                }
                continue;
            }
            "lastUpdatedDateTime" => {
                write_date(w, "last_updated_datetime", v, r.last_updated_time);
                continue;
            }
            "riskLastUpdatedDateTime" => {
                write_date(w, "risk_last_updated_datetime", v, r.risk_last_updated);
                continue;
            }
            "activityDateTime" => {
                write_date(w, "activity_datetime", v, r.activity_time);
                continue;
            }
            "detectedDateTime" => {
                write_date(w, "detected_datetime", v, r.detected_time);
                continue;
            }
            "additionalInfo" => {
                write_additional_info(w, *k, v);
                continue;
            }
            _ => {
                let out = w.raw_key(*k);
                write_value(out, v);
                continue;
            }
        };
        w.value(renamed, v);
    }
}

/// A date the pipeline converts: Elasticsearch writes it back with millisecond precision. A null
/// is removed (Elastic's date processor fails on it and the original is removed anyway).
fn write_date(
    w: &mut ObjectWriter<'_>,
    key: &str,
    v: &Value<'_>,
    parsed: Option<crate::time::Timestamp>,
) {
    match (parsed, v) {
        (Some(t), _) => w.time_millis(key, t),
        (None, Value::Null) => {}
        // The parser accepts every form Elastic's date formats do and refuses the record
        // otherwise; anything else (a number) is kept as received.
        (None, other) => w.value(key, other),
    }
}

/// `additionalInfo` is a JSON document inside a string; Elastic parses it into
/// `additional_info`. Text that is not JSON stays as received under its own key.
fn write_additional_info(w: &mut ObjectWriter<'_>, k: JsonStr<'_>, v: &Value<'_>) {
    if let Some(s) = v.as_str() {
        let text = s.decode();
        if let Ok(parsed) = crate::json::parse(&text) {
            w.value("additional_info", &parsed);
            return;
        }
    }
    let out = w.raw_key(k);
    write_value(out, v);
}
