//! Sign-ins → Authentication (3002), activity Logon.

use super::*;
use crate::category::Category;
use crate::kinds::SignIn;

pub(super) fn encode(record: &Record<'_>, s: &SignIn<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let props = record.properties();
    let outcome = record.outcome();
    let risk = s.risk_level_during_sign_in.or(s.risk_level_aggregated);
    let severity = severity_for(outcome).max(risk_severity(risk));
    let mut o = ObjectWriter::new(out);
    write_header(
        &mut o,
        record,
        ctx,
        &AUTHENTICATION,
        Activity::Id(1),
        severity,
    );
    write_status(&mut o, outcome);
    match s.error_code {
        Some(code) => {
            let out = o.key("status_code");
            out.push(b'"');
            write_i64(out, code);
            out.push(b'"');
        }
        None => {
            if let Some(r) = env.result_type {
                let out = o.key("status_code");
                out.push(b'"');
                out.extend_from_slice(r.raw_text().as_bytes());
                out.push(b'"');
            }
        }
    }
    o.opt_str_nonempty("status_detail", s.failure_reason);
    o.opt_str_nonempty("message", s.additional_details.or(s.failure_reason));

    let actor = record.actor();
    let user = match record.category_enum() {
        Category::ServicePrincipalSignInLogs | Category::MicrosoftServicePrincipalSignInLogs => {
            User {
                uid: actor.id,
                name: actor.name,
                full_name: None,
                type_id: 99,
                type_name: Some("Service Principal"),
            }
        }
        Category::ManagedIdentitySignInLogs => User {
            uid: actor.id,
            name: actor.name,
            full_name: None,
            type_id: 99,
            type_name: Some("Managed Identity"),
        },
        _ => User {
            uid: actor.id,
            name: actor.name,
            full_name: actor.display_name,
            type_id: 1,
            type_name: None,
        },
    };
    // A sign-in without any identity (test stubs) still needs a user: the envelope identity.
    let fallback = env.identity.map(|i| i.decode());
    write_user(
        &mut o,
        "user",
        &user,
        Some(fallback.as_deref().unwrap_or("unknown")),
    );
    write_endpoint(
        &mut o,
        "src_endpoint",
        s.ip_address.or(env.caller_ip_address),
        Some(&s.location),
        false,
    );
    o.object("service", |w| {
        let name = s.app_display_name.or(s.resource_display_name);
        let uid = s.app_id.or(s.resource_id);
        if name.is_none() && uid.is_none() {
            // The authenticating service itself; OCSF needs a service or a destination.
            w.str("name", "Microsoft Entra ID");
        }
        w.opt_str_nonempty("name", name);
        w.opt_str_nonempty("uid", uid);
    });
    let protocol = props
        .and_then(|p| p.get("authenticationProtocol"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && !p.eq_ignore_case("none"));
    if let Some(p) = protocol {
        let (id, caption) = auth_protocol(p);
        o.u64("auth_protocol_id", id);
        match caption {
            Some(c) => o.str("auth_protocol", c),
            None => o.opt_json_str("auth_protocol", Some(p)),
        }
    }
    match s.authentication_requirement {
        Some(r) if r.eq_ignore_case("multiFactorAuthentication") => o.bool("is_mfa", true),
        Some(r) if r.eq_ignore_case("singleFactorAuthentication") => o.bool("is_mfa", false),
        _ => {}
    }
    match s.is_interactive {
        Some(true) => {
            o.u64("logon_type_id", 2);
            o.str("logon_type", "Interactive");
        }
        Some(false) => {
            o.u64("logon_type_id", 99);
            o.str("logon_type", "Non-interactive");
        }
        None => {}
    }
    write_device(&mut o, s);
    o.object("http_request", |h| {
        h.opt_str_nonempty("user_agent", s.user_agent)
    });
    o.object("session", |w| {
        w.opt_str_nonempty(
            "uid",
            props
                .and_then(|p| p.get("sessionId"))
                .and_then(Value::as_str),
        );
    });
    write_unmapped(&mut o, record, |u| {
        u.opt_str_nonempty("client_app_used", s.client_app_used);
        u.opt_str_nonempty("conditional_access_status", s.conditional_access_status);
        u.opt_str_nonempty("authentication_requirement", s.authentication_requirement);
        u.opt_str_nonempty("risk_level_during_sign_in", s.risk_level_during_sign_in);
        u.opt_str_nonempty("risk_level_aggregated", s.risk_level_aggregated);
        u.opt_str_nonempty("risk_state", s.risk_state);
        u.opt_str_nonempty("risk_detail", s.risk_detail);
        u.opt_str_nonempty("user_type", s.user_type);
        u.opt_str_nonempty("token_issuer_type", s.token_issuer_type);
        u.opt_str_nonempty("resource_display_name", s.resource_display_name);
        u.opt_str_nonempty("resource_id", s.resource_id);
        if !s.auth_methods.is_empty() {
            let out = u.key("authentication_methods");
            out.push(b'[');
            for (i, m) in s.auth_methods.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_str(out, *m);
            }
            out.push(b']');
        }
        if !s.applied_policies.is_empty() {
            let out = u.key("applied_conditional_access_policies");
            out.push(b'[');
            for (i, p) in s.applied_policies.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let mut w = ObjectWriter::new(out);
                w.opt_json_str("id", p.id);
                w.opt_json_str("display_name", p.display_name);
                w.opt_json_str("result", p.result);
                w.finish();
            }
            out.push(b']');
        }
    });
    o.finish();
}

fn risk_severity(level: Option<JsonStr<'_>>) -> u32 {
    match level {
        Some(l) if l.eq_ignore_case("high") => 4,
        Some(l) if l.eq_ignore_case("medium") => 3,
        Some(l) if l.eq_ignore_case("low") => 2,
        _ => 0,
    }
}

/// Entra's `authenticationProtocol` → OCSF `auth_protocol_id` (and caption when not Other).
fn auth_protocol(p: JsonStr<'_>) -> (u64, Option<&'static str>) {
    let p = p.raw();
    let is = |s: &str| p.eq_ignore_ascii_case(s);
    if is("oAuth2") || is("ropc") || is("deviceCode") || is("authenticationTransfer") {
        (6, Some("OAUTH 2.0"))
    } else if is("saml20") {
        (5, Some("SAML"))
    } else if is("openIdConnect") {
        (4, Some("OpenID"))
    } else if is("ntlm") {
        (1, Some("NTLM"))
    } else if is("kerberos") {
        (2, Some("Kerberos"))
    } else {
        (99, None)
    }
}

/// `device` when the sign-in names one (OCSF needs an id or a name).
fn write_device(o: &mut ObjectWriter<'_>, s: &SignIn<'_>) {
    let d = &s.device;
    if d.id.is_none() && d.display_name.is_none() {
        return;
    }
    o.object("device", |w| {
        w.u64("type_id", 0);
        w.opt_str_nonempty("uid", d.id);
        w.opt_str_nonempty("name", d.display_name);
        if let Some(os) = d.operating_system {
            w.object("os", |x| {
                x.opt_json_str("name", Some(os));
                x.u64("type_id", os_type(os));
            });
        }
        if let Some(b) = d.is_compliant {
            w.bool("is_compliant", b);
        }
        if let Some(b) = d.is_managed {
            w.bool("is_managed", b);
        }
    });
}

/// OCSF `os.type_id` from Entra's operating system text (`Windows 10`, `MacOs`, `Ios`…).
fn os_type(os: JsonStr<'_>) -> u64 {
    let lower = os.raw().to_ascii_lowercase();
    if lower.starts_with("windows phone") || lower.starts_with("windows mobile") {
        101
    } else if lower.starts_with("windows") {
        100
    } else if lower.starts_with("android") {
        201
    } else if lower.starts_with("ipados") {
        302
    } else if lower.starts_with("ios") {
        301
    } else if lower.starts_with("mac") {
        300
    } else if lower.starts_with("linux") || lower.starts_with("ubuntu") {
        200
    } else {
        99
    }
}
