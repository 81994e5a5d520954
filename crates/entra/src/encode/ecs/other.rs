//! Categories without an Elastic pipeline in our reference set: Identity Protection (risk),
//! Microsoft Graph and AAD Graph activity, and categories this build does not know. They follow
//! the sign-in style (recursive snake_case, nulls and empties removed) under the data set name
//! Elastic's `events` router gives them, plus the ECS fields each kind has.

use super::*;
use crate::category::Category;
use crate::record::Outcome;

pub(super) fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    let env = record.envelope();
    let empty = Object::default();
    let props = record.properties().unwrap_or(&empty);
    let dataset = match record.category_enum() {
        Category::RiskyUsers
        | Category::UserRiskEvents
        | Category::RiskyServicePrincipals
        | Category::ServicePrincipalRiskEvents => "identity_protection",
        Category::MicrosoftGraphActivityLogs => "graphactivitylogs",
        Category::AzureAdGraphActivityLogs => "aadgraphactivitylogs",
        _ => "events",
    };
    let mut o = ObjectWriter::new(out);
    write_head(&mut o, record, ctx, false);
    let actor = record.actor();

    o.object("event", |e| {
        match record.body() {
            Body::Risk(_) if is_detection(record.category_enum()) => {
                e.str("kind", "alert");
                e.strs("category", &["intrusion_detection"]);
                e.strs("type", &["indicator"]);
            }
            Body::Risk(_) => {
                e.str("kind", "state");
                e.strs("category", &["iam"]);
                e.strs("type", &["info"]);
            }
            Body::GraphActivity(_) => {
                e.str("kind", "event");
                e.strs("category", &["web"]);
                e.strs("type", &["access"]);
            }
            _ => e.str("kind", "event"),
        }
        e.opt_str_nonempty("action", env.operation_name);
        if record.outcome() != Outcome::Unknown {
            e.str("outcome", record.outcome().as_str());
        }
        let ms = match record.body() {
            Body::GraphActivity(g) => g.duration_ms.or(env.duration_ms),
            _ => env.duration_ms,
        };
        if let Some(ms) = ms {
            e.i64("duration", nanos(ms));
        }
        let id = match record.body() {
            Body::Risk(r) => r.id,
            Body::GraphActivity(g) => g.request_id.or(g.operation_id),
            _ => None,
        };
        e.opt_str_nonempty("id", id);
        e.opt_time("ingested", Some(ctx.ingest_time));
        let out = e.key("dataset");
        out.extend_from_slice(b"\"azure.");
        out.extend_from_slice(dataset.as_bytes());
        out.push(b'"');
    });

    write_azure(&mut o, record, |a| {
        a.object(dataset, |w| {
            write_snake_envelope(w, record, true);
            if let Some(p) = record.properties()
                && !p.is_empty()
            {
                let mark = w.mark();
                w.key("properties");
                if !write_clean_object(w.out, p, true) {
                    w.rollback(mark);
                }
            }
        });
    });
    write_level(&mut o, env.level);

    // The client address: the record's own IP field, else the envelope's caller address.
    let addr = actor.ip.filter(|i| !i.is_empty());
    let source_ip = addr.filter(|ip| is_ip(*ip));
    if let Some(a) = addr {
        o.object("source", |s| {
            s.opt_json_str("address", Some(a));
            s.opt_json_str("ip", source_ip);
        });
    }
    o.object("client", |c| c.opt_json_str("ip", source_ip));

    let mut users: [Option<JsonStr<'_>>; 3] = [None; 3];
    let mut entities: [Option<JsonStr<'_>>; 4] = [None; 4];
    match record.body() {
        Body::Risk(r) => {
            // A risky user's own `id` is the user's object id.
            let user_id = r.user_id.or_else(|| {
                (record.category_enum() == Category::RiskyUsers)
                    .then_some(r.id)
                    .flatten()
            });
            write_location(&mut o, props);
            o.object("user", |u| {
                u.opt_str_nonempty("name", r.user_principal_name);
                if let Some(upn) = r.user_principal_name.filter(|u| looks_like_email(*u)) {
                    u.opt_json_str("email", Some(upn));
                }
                u.opt_str_nonempty("full_name", r.user_display_name);
                u.opt_str_nonempty("id", user_id);
            });
            o.object("service", |s| {
                if r.user_id.is_none() && r.user_principal_name.is_none() {
                    s.opt_str_nonempty("name", r.display_name);
                }
            });
            users = [user_id, r.user_principal_name, r.user_display_name];
            entities = [user_id, r.service_principal_id, r.app_id, None];
        }
        Body::GraphActivity(g) => {
            o.object("http", |h| {
                h.object("request", |r| {
                    r.opt_str_nonempty("method", g.request_method);
                    r.opt_str_nonempty("id", g.request_id);
                });
                h.object("response", |r| {
                    if let Some(c) = g.status_code {
                        r.i64("status_code", c);
                    }
                    if let Some(b) = g.response_size_bytes.filter(|b| *b >= 0) {
                        r.i64("bytes", b);
                    }
                });
            });
            o.object("url", |u| u.opt_str_nonempty("original", g.request_uri));
            o.object("user_agent", |u| {
                u.opt_str_nonempty("original", g.user_agent)
            });
            o.object("user", |u| u.opt_str_nonempty("id", g.user_id));
            users = [g.user_id, None, None];
            entities = [g.app_id, g.service_principal_id, g.user_id, None];
        }
        _ => {}
    }
    o.object("related", |r| {
        write_set(r, "ip", &[source_ip]);
        write_set(r, "user", &users);
        write_set(r, "entity", &entities);
    });
    o.finish();
}

fn is_detection(c: Category) -> bool {
    matches!(
        c,
        Category::UserRiskEvents | Category::ServicePrincipalRiskEvents
    )
}

/// `geo.*` from a risk detection's `location` (`countryOrRegion` is an ISO code there).
fn write_location(o: &mut ObjectWriter<'_>, props: &Object<'_>) {
    let Some(loc) = props.get("location").and_then(Value::as_object) else {
        return;
    };
    o.object("geo", |g| {
        for (from, to) in [
            ("countryOrRegion", "country_iso_code"),
            ("city", "city_name"),
            ("state", "region_name"),
        ] {
            if let Some(v) = loc.get(from) {
                clean_renamed(g, to, v, true);
            }
        }
        if let Some(c) = loc.get("geoCoordinates").and_then(Value::as_object) {
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
