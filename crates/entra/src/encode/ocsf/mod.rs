//! `ocsf`: Open Cybersecurity Schema Framework events (`docs/schema-ecs-ocsf.md`).
//!
//! One class per kind of record: Authentication (3002) for sign-ins; Account Change (3001), Group
//! Management (3006), User Access Management (3005) or Entity Management (3004) for audits,
//! chosen from the activity; Account Change for provisioning; Detection Finding (2004) for risk;
//! API Activity (6003) for Graph activity; Base Event (0) for anything else. Every event carries
//! its class's required attributes and the `cloud` profile; what OCSF has no attribute for goes
//! to `unmapped`. `scripts/validate_ocsf.py` checks the output against the schema.

mod audit;
mod other;
mod signin;

use crate::encode::EncodeContext;
use crate::encode::writer::*;
use crate::json::{JsonStr, Object, Value};
use crate::kinds::signin::Location;
use crate::record::{Body, Outcome, Record};
use crate::time::Timestamp;

/// The OCSF schema version written in `metadata.version`.
pub const OCSF_VERSION: &str = "1.3.0";

pub fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    match record.body() {
        Body::SignIn(s) => signin::encode(record, s, ctx, out),
        Body::Audit(a) => audit::encode(record, a, ctx, out),
        Body::Provisioning(p) => other::provisioning(record, p, ctx, out),
        Body::Risk(r) => other::risk(record, r, ctx, out),
        Body::GraphActivity(g) => other::graph(record, g, ctx, out),
        Body::Generic => other::generic(record, ctx, out),
    }
}

/// An OCSF event class: its ids, names and activity captions.
#[derive(Debug)]
struct Class {
    uid: u32,
    name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    activities: &'static [(u32, &'static str)],
}

impl Class {
    fn caption(&self, activity: u32) -> &'static str {
        self.activities
            .iter()
            .find(|(id, _)| *id == activity)
            .map_or("Other", |(_, c)| c)
    }
}

const IAM: (u32, &str) = (3, "Identity & Access Management");

const AUTHENTICATION: Class = Class {
    uid: 3002,
    name: "Authentication",
    category_uid: IAM.0,
    category_name: IAM.1,
    activities: &[(0, "Unknown"), (1, "Logon"), (2, "Logoff")],
};
const ACCOUNT_CHANGE: Class = Class {
    uid: 3001,
    name: "Account Change",
    category_uid: IAM.0,
    category_name: IAM.1,
    activities: &[
        (0, "Unknown"),
        (1, "Create"),
        (2, "Enable"),
        (3, "Password Change"),
        (4, "Password Reset"),
        (5, "Disable"),
        (6, "Delete"),
        (10, "MFA Factor Enable"),
        (11, "MFA Factor Disable"),
    ],
};
const ENTITY_MANAGEMENT: Class = Class {
    uid: 3004,
    name: "Entity Management",
    category_uid: IAM.0,
    category_name: IAM.1,
    activities: &[
        (0, "Unknown"),
        (1, "Create"),
        (2, "Read"),
        (3, "Update"),
        (4, "Delete"),
    ],
};
const USER_ACCESS: Class = Class {
    uid: 3005,
    name: "User Access Management",
    category_uid: IAM.0,
    category_name: IAM.1,
    activities: &[
        (0, "Unknown"),
        (1, "Assign Privileges"),
        (2, "Revoke Privileges"),
    ],
};
const GROUP_MANAGEMENT: Class = Class {
    uid: 3006,
    name: "Group Management",
    category_uid: IAM.0,
    category_name: IAM.1,
    activities: &[
        (0, "Unknown"),
        (1, "Assign Privileges"),
        (2, "Revoke Privileges"),
        (3, "Add User"),
        (4, "Remove User"),
        (5, "Delete"),
        (6, "Create"),
    ],
};
const DETECTION_FINDING: Class = Class {
    uid: 2004,
    name: "Detection Finding",
    category_uid: 2,
    category_name: "Findings",
    activities: &[(0, "Unknown"), (1, "Create"), (2, "Update"), (3, "Close")],
};
const API_ACTIVITY: Class = Class {
    uid: 6003,
    name: "API Activity",
    category_uid: 6,
    category_name: "Application Activity",
    activities: &[
        (0, "Unknown"),
        (1, "Create"),
        (2, "Read"),
        (3, "Update"),
        (4, "Delete"),
    ],
};
const BASE_EVENT: Class = Class {
    uid: 0,
    name: "Base Event",
    category_uid: 0,
    category_name: "Uncategorized",
    activities: &[(0, "Unknown")],
};

/// The activity of an event; `Other` (99) carries the source's own name for it.
#[derive(Debug, Clone, Copy)]
enum Activity<'a> {
    Id(u32),
    Other(Option<JsonStr<'a>>),
}

impl Activity<'_> {
    fn id(self) -> u32 {
        match self {
            Activity::Id(i) => i,
            Activity::Other(_) => 99,
        }
    }
}

const SEVERITIES: [&str; 7] = [
    "Unknown",
    "Informational",
    "Low",
    "Medium",
    "High",
    "Critical",
    "Fatal",
];

/// Class, activity, type, severity, time, `metadata` and `cloud`: what every event needs.
fn write_header(
    o: &mut ObjectWriter<'_>,
    record: &Record<'_>,
    ctx: &EncodeContext,
    class: &Class,
    activity: Activity<'_>,
    severity_id: u32,
) {
    let act = activity.id();
    o.u64("category_uid", class.category_uid.into());
    o.str("category_name", class.category_name);
    o.u64("class_uid", class.uid.into());
    o.str("class_name", class.name);
    o.u64("activity_id", act.into());
    match activity {
        Activity::Other(Some(name)) if !name.is_empty() => {
            o.opt_json_str("activity_name", Some(name))
        }
        _ => o.str("activity_name", class.caption(act)),
    }
    o.u64("type_uid", u64::from(class.uid) * 100 + u64::from(act));
    let out = o.key("type_name");
    out.push(b'"');
    out.extend_from_slice(class.name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(class.caption(act).as_bytes());
    out.push(b'"');
    o.u64("severity_id", severity_id.into());
    o.str(
        "severity",
        SEVERITIES
            .get(severity_id as usize)
            .copied()
            .unwrap_or("Other"),
    );
    let time = record.event_time().unwrap_or(ctx.ingest_time);
    o.i64("time", time.unix_millis());
    write_metadata(o, record, ctx);
    o.object("cloud", |c| c.str("provider", "Azure"));
}

fn write_metadata(o: &mut ObjectWriter<'_>, record: &Record<'_>, ctx: &EncodeContext) {
    let env = record.envelope();
    let props = record.properties();
    let prop = |k: &str| props.and_then(|p| p.get(k)).and_then(Value::as_str);
    o.object("metadata", |m| {
        m.str("version", OCSF_VERSION);
        m.object("product", |p| {
            p.str("name", "Entra ID");
            p.str("vendor_name", "Microsoft");
        });
        m.strs("profiles", &["cloud"]);
        let own_id = match record.body() {
            Body::SignIn(s) => s.id,
            Body::Audit(a) => a.id,
            Body::Provisioning(p) => p.id,
            Body::Risk(r) => r.id,
            Body::GraphActivity(g) => g.request_id.or(g.operation_id),
            Body::Generic => None,
        };
        match own_id.filter(|i| !i.is_empty()) {
            Some(id) => m.opt_json_str("uid", Some(id)),
            None => m.str("uid", &record.event_id().to_string()),
        }
        m.str("log_name", record.category());
        m.opt_str_nonempty("original_time", original_time(record));
        if let Some(t) = env.time {
            m.i64("logged_time", t.unix_millis());
        }
        m.i64("processed_time", ctx.ingest_time.unix_millis());
        m.opt_str_nonempty(
            "correlation_uid",
            env.correlation_id.or_else(|| prop("correlationId")),
        );
        if let Some(t) = record.tenant_id() {
            m.str("tenant_uid", t);
        }
    });
}

/// The event time as the source wrote it, from the field the event time comes from.
fn original_time<'a>(record: &Record<'a>) -> Option<JsonStr<'a>> {
    let keys: &[&str] = match record.body() {
        Body::SignIn(_) => &["createdDateTime"],
        Body::Audit(_) | Body::Provisioning(_) => &["activityDateTime"],
        Body::Risk(_) => &[
            "activityDateTime",
            "detectedDateTime",
            "riskLastUpdatedDateTime",
        ],
        Body::GraphActivity(_) => &["timeGenerated"],
        Body::Generic => &[],
    };
    let props = record.properties();
    keys.iter()
        .find_map(|k| props.and_then(|p| p.get(k)).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .or_else(|| {
            record
                .root()
                .get_ignore_case("time")
                .and_then(Value::as_str)
        })
}

/// `status_id` and `status` from the record's outcome.
fn write_status(o: &mut ObjectWriter<'_>, outcome: Outcome) {
    let (id, name) = match outcome {
        Outcome::Success => (1, "Success"),
        Outcome::Failure => (2, "Failure"),
        Outcome::Unknown => (0, "Unknown"),
    };
    o.u64("status_id", id);
    o.str("status", name);
}

fn severity_for(outcome: Outcome) -> u32 {
    if outcome == Outcome::Failure { 2 } else { 1 }
}

/// A `user` object. `name` is the login name; `email_addr` is set when it is an address.
#[derive(Debug, Default, Clone, Copy)]
struct User<'a> {
    uid: Option<JsonStr<'a>>,
    name: Option<JsonStr<'a>>,
    full_name: Option<JsonStr<'a>>,
    /// 1 User, 99 Other (with `type`).
    type_id: u32,
    type_name: Option<&'static str>,
}

impl User<'_> {
    fn is_empty(&self) -> bool {
        self.uid.is_none_or(|u| u.is_empty())
            && self.name.is_none_or(|u| u.is_empty())
            && self.full_name.is_none_or(|u| u.is_empty())
    }
}

/// Writes `key: {user}`; a user with neither id nor name gets its display name as `name`, and
/// `fallback` when it has nothing (OCSF requires a name or uid).
fn write_user(o: &mut ObjectWriter<'_>, key: &str, u: &User<'_>, fallback: Option<&str>) {
    if u.is_empty() && fallback.is_none() {
        return;
    }
    o.object(key, |w| {
        let name = u.name.filter(|n| !n.is_empty()).or(u.full_name);
        match name.filter(|n| !n.is_empty()) {
            Some(n) => w.opt_json_str("name", Some(n)),
            None if u.uid.is_none_or(|x| x.is_empty()) => {
                w.str("name", fallback.unwrap_or("unknown"))
            }
            None => {}
        }
        w.opt_str_nonempty("uid", u.uid);
        w.opt_str_nonempty("full_name", u.full_name);
        if let Some(n) = u.name.filter(|n| is_email(&n.decode())) {
            w.opt_json_str("email_addr", Some(n));
        }
        w.u64("type_id", u.type_id.into());
        match u.type_name {
            Some(t) => w.str("type", t),
            None if u.type_id == 1 => w.str("type", "User"),
            None => {}
        }
    });
}

/// OCSF's `email_t`: `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b));
    let Some((label, rest)) = domain.split_once('.') else {
        return false;
    };
    local_ok
        && !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A `network_endpoint` with the IP (when it is one) and the location. Returns whether written.
fn write_endpoint(
    o: &mut ObjectWriter<'_>,
    key: &str,
    ip: Option<JsonStr<'_>>,
    loc: Option<&Location<'_>>,
    fallback_name: bool,
) -> bool {
    let ip = ip.filter(|i| !i.is_empty());
    let valid = ip.filter(|i| crate::encode::ecs::is_ip(*i));
    let has_loc =
        loc.is_some_and(|l| l.city.is_some() || l.state.is_some() || l.country_or_region.is_some());
    if valid.is_none() && !has_loc && !(fallback_name) {
        return false;
    }
    o.object(key, |e| {
        match (valid, ip) {
            (Some(v), _) => e.opt_json_str("ip", Some(v)),
            // Not an address (e.g. a nine-group IPv6): keep the text as the endpoint's name.
            (None, Some(text)) => e.opt_json_str("name", Some(text)),
            (None, None) if fallback_name || has_loc => e.str("name", "unknown"),
            _ => {}
        }
        if let Some(l) = loc.filter(|_| has_loc) {
            e.object("location", |w| {
                w.opt_str_nonempty("city", l.city);
                w.opt_str_nonempty("region", l.state);
                w.opt_str_nonempty("country", l.country_or_region);
                if let (Some(lat), Some(lon)) = (l.latitude, l.longitude) {
                    write_f64(w.key("lat"), lat);
                    write_f64(w.key("long"), lon);
                }
            });
        }
    });
    true
}

/// `unmapped.category` and `unmapped.operation_name`, then whatever `f` adds.
fn write_unmapped(
    o: &mut ObjectWriter<'_>,
    record: &Record<'_>,
    f: impl FnOnce(&mut ObjectWriter<'_>),
) {
    o.object("unmapped", |u| {
        u.str("category", record.category());
        u.opt_str_nonempty("operation_name", record.envelope().operation_name);
        f(u);
    });
}

fn millis(t: Option<Timestamp>) -> Option<i64> {
    t.map(|t| t.unix_millis())
}

/// A property of `props` written as received under a new key, when present and not null.
fn copy_prop(w: &mut ObjectWriter<'_>, props: Option<&Object<'_>>, from: &str, to: &str) {
    if let Some(v) = props.and_then(|p| p.get(from)).filter(|v| !v.is_null()) {
        w.value(to, v);
    }
}

#[cfg(test)]
mod tests;
