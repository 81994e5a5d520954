//! Provisioning → Account Change (Entity Management for groups), risk → Detection Finding,
//! Graph activity → API Activity, unknown categories → Base Event.

use super::*;
use crate::category::Category;
use crate::kinds::{GraphActivity, Provisioning, Risk};

pub(super) fn provisioning(
    record: &Record<'_>,
    p: &Provisioning<'_>,
    ctx: &EncodeContext,
    out: &mut Vec<u8>,
) {
    let outcome = record.outcome();
    let identity = if p.target_identity.id.is_some() || p.target_identity.name.is_some() {
        p.target_identity
    } else {
        p.source_identity
    };
    let kind = p
        .target_identity
        .identity_type
        .or(p.source_identity.identity_type);
    let is_group = kind.is_some_and(|k| k.raw().to_ascii_lowercase().contains("group"));
    let action = p.provisioning_action.or(p.action);
    let is = |s: &str| action.is_some_and(|a| a.eq_ignore_case(s));
    let (class, act) = if is_group {
        let act = if is("create") {
            1
        } else if is("update") {
            3
        } else if is("delete") {
            4
        } else {
            99
        };
        (&ENTITY_MANAGEMENT, act)
    } else {
        let act = if is("create") {
            1
        } else if is("delete") {
            6
        } else if is("disable") {
            5
        } else if is("enable") {
            2
        } else {
            99
        };
        (&ACCOUNT_CHANGE, act)
    };
    let activity = if act == 99 {
        Activity::Other(action)
    } else {
        Activity::Id(act)
    };
    let mut o = ObjectWriter::new(out);
    write_header(&mut o, record, ctx, class, activity, severity_for(outcome));
    // Skipped and warning runs are neither success nor failure: status Other with the word.
    match p.status {
        Some(s) if !(s.eq_ignore_case("success") || s.eq_ignore_case("failure")) => {
            o.u64("status_id", 99);
            o.opt_json_str("status", Some(s));
        }
        _ => write_status(&mut o, outcome),
    }
    o.opt_str_nonempty("status_code", p.error_code);
    o.opt_str_nonempty("status_detail", p.error_reason);
    let upn = identity.user_principal_name;
    let user = User {
        uid: identity.id,
        name: upn.or(identity.name),
        full_name: identity.name,
        type_id: 1,
        type_name: None,
    };
    if is_group {
        o.object("entity", |e| {
            e.opt_str_nonempty("name", identity.name);
            e.opt_str_nonempty("uid", identity.id);
            if identity.name.is_none() && identity.id.is_none() {
                e.str("name", "unknown");
            }
            e.u64("type_id", 3);
            e.opt_str_nonempty("type", kind);
        });
    } else {
        write_user(&mut o, "user", &user, Some("unknown"));
    }
    o.object("actor", |a| {
        a.opt_str_nonempty("app_name", p.service_principal.name);
        a.opt_str_nonempty("app_uid", p.service_principal.id);
    });
    let props = record.properties();
    write_unmapped(&mut o, record, |u| {
        u.opt_str_nonempty("identity_type", kind);
        u.opt_str_nonempty("source_system", p.source_system.name);
        u.opt_str_nonempty("target_system", p.target_system.name);
        u.opt_str_nonempty("job_id", p.job_id);
        u.opt_str_nonempty("cycle_id", p.cycle_id);
        u.opt_str_nonempty("change_id", p.change_id);
        u.opt_str_nonempty("error_category", p.error_category);
        copy_prop(u, props, "modifiedProperties", "modified_properties");
    });
    if let Some(ms) = p.duration_ms {
        o.i64("duration", ms);
    }
    o.finish();
}

pub(super) fn risk(record: &Record<'_>, r: &Risk<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let detection = matches!(
        record.category_enum(),
        Category::UserRiskEvents | Category::ServicePrincipalRiskEvents
    );
    let level = r.risk_level;
    let lvl = |s: &str| level.is_some_and(|l| l.eq_ignore_case(s));
    let (severity, risk_id, risk_name) = if lvl("high") {
        (4, 3, "High")
    } else if lvl("medium") {
        (3, 2, "Medium")
    } else if lvl("low") {
        (2, 1, "Low")
    } else if lvl("none") {
        (1, 0, "Info")
    } else {
        (1, 99, "Other")
    };
    let mut o = ObjectWriter::new(out);
    let act = if detection { 1 } else { 2 };
    write_header(
        &mut o,
        record,
        ctx,
        &DETECTION_FINDING,
        Activity::Id(act),
        severity,
    );
    if level.is_some() {
        o.u64("risk_level_id", risk_id);
        o.str("risk_level", risk_name);
    }
    let state = r.risk_state;
    let st = |s: &str| state.is_some_and(|x| x.eq_ignore_case(s));
    let status_id = if st("atRisk") || st("confirmedCompromised") {
        1
    } else if st("dismissed") {
        3
    } else if st("remediated") || st("confirmedSafe") {
        4
    } else if state.is_some() {
        99
    } else {
        0
    };
    o.u64("status_id", status_id);
    o.opt_str_nonempty("status", state);
    o.opt_str_nonempty("status_detail", r.risk_detail);
    let is_user = match record.category_enum() {
        Category::RiskyUsers | Category::UserRiskEvents => true,
        Category::RiskyServicePrincipals | Category::ServicePrincipalRiskEvents => false,
        _ => r.user_id.is_some() || r.user_principal_name.is_some(),
    };
    let title_default = if detection {
        "Risk detection"
    } else if is_user {
        "Risky user"
    } else {
        "Risky service principal"
    };
    let own_id = r.id.filter(|i| !i.is_empty());
    let event_id = record.event_id().to_string();
    o.object("finding_info", |f| {
        match own_id {
            Some(id) => f.opt_json_str("uid", Some(id)),
            None => f.str("uid", &event_id),
        }
        match r.risk_event_type {
            Some(t) => {
                f.opt_json_str("title", Some(t));
                let out = f.key("types");
                out.push(b'[');
                write_json_str(out, t);
                out.push(b']');
            }
            None => f.str("title", title_default),
        }
        if let Some(t) = millis(r.detected_time) {
            f.i64("created_time", t);
        }
        if let Some(t) = millis(r.activity_time) {
            f.i64("first_seen_time", t);
        }
        if let Some(t) = millis(r.last_updated_time.or(r.risk_last_updated)) {
            f.i64("modified_time", t);
        }
    });
    let actor = record.actor();
    // A risky user's (or service principal's) own `id` is its object id.
    let uid = actor.id.or(if detection { None } else { r.id });
    let user = User {
        uid,
        name: actor.name,
        full_name: actor.display_name,
        type_id: if is_user { 1 } else { 99 },
        type_name: (!is_user).then_some("Service Principal"),
    };
    let mark = o.mark();
    let out = o.key("evidences");
    out.push(b'[');
    let mut e = ObjectWriter::new(out);
    write_user(&mut e, "user", &user, None);
    write_endpoint(&mut e, "src_endpoint", actor.ip, Some(&r.location), false);
    if e.is_empty() {
        o.rollback(mark);
    } else {
        e.finish();
        o.out.push(b']');
    }
    if !user.is_empty() {
        let out = o.key("resources");
        out.push(b'[');
        let mut w = ObjectWriter::new(out);
        w.opt_str_nonempty("uid", user.uid);
        w.opt_str_nonempty("name", user.name.or(user.full_name));
        w.str("type", if is_user { "User" } else { "Service Principal" });
        w.finish();
        out.push(b']');
    }
    write_unmapped(&mut o, record, |u| {
        u.opt_str_nonempty("source", r.source);
        u.opt_str_nonempty("detection_timing_type", r.detection_timing_type);
        u.opt_str_nonempty("activity", r.activity);
    });
    o.finish();
}

pub(super) fn graph(
    record: &Record<'_>,
    g: &GraphActivity<'_>,
    ctx: &EncodeContext,
    out: &mut Vec<u8>,
) {
    let outcome = record.outcome();
    let method = g.request_method;
    let m = |s: &str| method.is_some_and(|x| x.eq_ignore_case(s));
    let act = if m("GET") || m("HEAD") {
        2
    } else if m("POST") {
        1
    } else if m("PUT") || m("PATCH") {
        3
    } else if m("DELETE") {
        4
    } else {
        99
    };
    let activity = if act == 99 {
        Activity::Other(method)
    } else {
        Activity::Id(act)
    };
    let mut o = ObjectWriter::new(out);
    write_header(
        &mut o,
        record,
        ctx,
        &API_ACTIVITY,
        activity,
        severity_for(outcome),
    );
    write_status(&mut o, outcome);
    if let Some(c) = g.status_code {
        let out = o.key("status_code");
        out.push(b'"');
        write_i64(out, c);
        out.push(b'"');
    }
    o.object("actor", |a| {
        match g.user_id {
            Some(uid) => write_user(
                a,
                "user",
                &User {
                    uid: Some(uid),
                    type_id: 1,
                    ..User::default()
                },
                None,
            ),
            None => write_user(
                a,
                "user",
                &User {
                    uid: g.service_principal_id,
                    type_id: 99,
                    type_name: Some("Service Principal"),
                    ..User::default()
                },
                None,
            ),
        }
        a.opt_str_nonempty("app_uid", g.app_id);
        if a.is_empty() {
            a.str("app_name", "unknown");
        }
    });
    let service = match record.category_enum() {
        Category::AzureAdGraphActivityLogs => "Azure AD Graph",
        _ => "Microsoft Graph",
    };
    o.object("api", |a| {
        match method {
            Some(m) => a.opt_json_str("operation", Some(m)),
            None => a.str("operation", "unknown"),
        }
        a.opt_str_nonempty("version", g.api_version);
        a.object("service", |s| s.str("name", service));
        if let Some(id) = g.request_id {
            a.object("request", |r| r.opt_json_str("uid", Some(id)));
        }
        if let Some(c) = g.status_code {
            a.object("response", |r| r.i64("code", c));
        }
    });
    o.object("http_request", |h| {
        const METHODS: [&str; 8] = [
            "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT",
        ];
        if let Some(m) = method.filter(|m| METHODS.contains(&m.raw())) {
            h.opt_json_str("http_method", Some(m));
        }
        if let Some(u) = g.request_uri {
            h.object("url", |w| w.opt_json_str("url_string", Some(u)));
        }
        h.opt_str_nonempty("user_agent", g.user_agent);
    });
    write_endpoint(
        &mut o,
        "src_endpoint",
        g.ip_address.or(record.envelope().caller_ip_address),
        None,
        true,
    );
    if let Some(ms) = g.duration_ms {
        o.i64("duration", ms);
    }
    let props = record.properties();
    write_unmapped(&mut o, record, |u| {
        u.opt_str_nonempty("service_principal_id", g.service_principal_id);
        copy_prop(u, props, "roles", "roles");
        copy_prop(u, props, "scopes", "scopes");
        copy_prop(u, props, "wids", "wids");
        copy_prop(u, props, "responseSizeBytes", "response_size_bytes");
    });
    o.finish();
}

pub(super) fn generic(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let outcome = record.outcome();
    let env = record.envelope();
    let mut o = ObjectWriter::new(out);
    let name = env.operation_name;
    write_header(
        &mut o,
        record,
        ctx,
        &BASE_EVENT,
        Activity::Other(name),
        severity_for(outcome),
    );
    write_status(&mut o, outcome);
    o.opt_str_nonempty("message", env.result_description);
    let props = record.properties();
    write_unmapped(&mut o, record, |u| {
        if let Some(p) = props {
            write_object(u.key("properties"), p);
        }
    });
    o.finish();
}
