//! `ecs`: Elastic Common Schema as Elastic's Azure integration writes it
//! (`docs/schema-ecs-ocsf.md`).
//!
//! Sign-ins, audits and provisioning follow Elastic's ingest pipelines field for field: the same
//! `azure.<dataset>.*` key renames, the same ECS fields, and for sign-ins the same recursive
//! snake_case and removal of null and empty values. What Elasticsearch adds itself (GeoIP,
//! user-agent parsing, `event.original` on request) is left to Elasticsearch. Identity Protection
//! (`identity_protection`) and Graph activity (`graphactivitylogs`, `aadgraphactivitylogs`)
//! follow their own pipelines, which write the newer `azure.tenant.id` / `cloud.*` names next to
//! the legacy ones. Categories Elastic has no pipeline for get a mapping in the sign-in style.
//!
//! Everything is written straight into the output buffer: input strings are copied in their
//! escaped form, nested objects that end up empty are rolled back rather than pre-computed.

mod audit;
mod graph;
mod identity_protection;
mod other;
mod provisioning;
mod signin;
mod uri;

use std::ops::Range;

use crate::encode::EncodeContext;
use crate::encode::writer::*;
use crate::fields::Scalar;
use crate::json::{JsonStr, Object, Value};
use crate::record::{Body, Record};

/// The ECS version Elastic's Azure pipelines declare; we write the same fields.
pub const ECS_VERSION: &str = "8.11.0";

pub fn encode(record: &Record<'_>, ctx: &EncodeContext, out: &mut Vec<u8>) {
    match record.body() {
        Body::SignIn(s) => signin::encode(record, s, ctx, out),
        Body::Audit(_) => audit::encode(record, ctx, out),
        Body::Provisioning(_) => provisioning::encode(record, ctx, out),
        Body::Risk(r) => identity_protection::encode(record, r, ctx, out),
        Body::GraphActivity(g) => graph::encode(record, g, ctx, out),
        Body::Generic => other::encode(record, ctx, out),
    }
}

/// `@timestamp` and `ecs.version`, the first members of every document.
fn write_head(
    o: &mut ObjectWriter<'_>,
    record: &Record<'_>,
    ctx: &EncodeContext,
    elastic_time: bool,
) {
    // Elastic's audit and provisioning pipelines date the document by the envelope `time`;
    // sign-ins (and our own mappings) by the record's event time.
    let env = record.envelope();
    let t = if elastic_time {
        env.time.or(record.event_time())
    } else {
        record.event_time()
    };
    o.time_millis("@timestamp", t.unwrap_or(ctx.ingest_time));
    o.object("ecs", |w| w.str("version", ECS_VERSION));
}

/// `cloud.provider` and `azure.{tenant_id, correlation_id, resource.*}` as the shared tenant
/// pipeline sets them; the caller writes `azure.<dataset>` inside `f`.
fn write_azure(
    o: &mut ObjectWriter<'_>,
    record: &Record<'_>,
    f: impl FnOnce(&mut ObjectWriter<'_>),
) {
    let env = record.envelope();
    let rid = env.resource_id.map(|r| r.decode());
    let grok = rid.as_deref().and_then(tenant_and_provider);
    o.object("azure", |a| {
        match grok {
            Some((tenant, _)) => a.str("tenant_id", tenant),
            None => match env.tenant_id {
                Some(t) => a.opt_str_nonempty("tenant_id", Some(t)),
                None => {
                    if let Some(t) = record.tenant_id() {
                        a.str("tenant_id", t);
                    }
                }
            },
        }
        a.opt_str_nonempty("correlation_id", env.correlation_id);
        a.object("resource", |r| {
            r.opt_str_nonempty("id", env.resource_id);
            if let Some((_, provider)) = grok {
                r.str("provider", provider);
            }
        });
        f(a);
    });
    o.object("cloud", |c| c.str("provider", "azure"));
}

/// What the per-stream pipeline of a Graph or Identity Protection record found before the shared
/// pipeline runs.
struct AzureIds<'a> {
    /// `azure.tenant.id` from the record's own `tenantId` (the shared pipeline reads the tenant
    /// from `resourceId` only when this is absent).
    tenant: Option<JsonStr<'a>>,
    correlation: Option<JsonStr<'a>>,
    /// `cloud.account.id` is copied from the tenant before the shared pipeline runs
    /// (Identity Protection) or after it (Graph, which then also sees the tenant from
    /// `resourceId`).
    account_after_shared: bool,
    region: Option<JsonStr<'a>>,
    service: Option<&'static str>,
}

/// `azure.{tenant, correlation, resource, resource_provider}` with their legacy copies
/// (`tenant_id`, `correlation_id`, `resource.id`, `resource.provider`) and `cloud.*`, as the
/// shared tenant pipeline of the Graph and Identity Protection data streams writes them; the
/// caller writes `azure.<dataset>` inside `f`.
fn write_azure_semconv(
    o: &mut ObjectWriter<'_>,
    record: &Record<'_>,
    ids: &AzureIds<'_>,
    f: impl FnOnce(&mut ObjectWriter<'_>),
) {
    let rid = record
        .envelope()
        .resource_id
        .filter(|r| !r.is_empty())
        .map(|r| r.decode());
    let grok = match ids.tenant {
        Some(_) => None,
        None => rid.as_deref().and_then(tenant_and_provider),
    };
    let namespace = match grok {
        Some((_, provider)) => Some(provider),
        None => rid.as_deref().and_then(provider_after),
    };
    let write_tenant = |a: &mut ObjectWriter<'_>, key: &str| match (ids.tenant, grok) {
        (Some(t), _) => a.opt_json_str(key, Some(t)),
        (None, Some((t, _))) => a.str(key, t),
        (None, None) => {}
    };
    o.object("azure", |a| {
        a.object("tenant", |t| write_tenant(t, "id"));
        write_tenant(a, "tenant_id");
        a.object("correlation", |c| c.opt_str_nonempty("id", ids.correlation));
        a.opt_str_nonempty("correlation_id", ids.correlation);
        a.object("resource", |r| {
            r.opt_str_nonempty("id", record.envelope().resource_id);
            if let Some(p) = namespace {
                r.str("provider", p);
            }
        });
        a.object("resource_provider", |r| {
            if let Some(p) = namespace {
                r.str("namespace", p);
            }
        });
        f(a);
    });
    o.object("cloud", |c| {
        c.object("account", |a| {
            if ids.account_after_shared {
                write_tenant(a, "id");
            } else {
                a.opt_str_nonempty("id", ids.tenant);
            }
        });
        c.str("provider", "azure");
        c.opt_str_nonempty("region", ids.region);
        c.opt_str_nonempty("resource_id", record.envelope().resource_id);
        if let Some(name) = ids.service {
            c.object("service", |s| s.str("name", name));
        }
    });
}

/// The shared pipeline's second pattern, `(?i)/providers/{rest}`: what follows the first
/// `/providers/`, up to a line break.
fn provider_after(rid: &str) -> Option<&str> {
    let tail = b"/providers/";
    let at = find_ignore_case(rid.as_bytes(), tail)?;
    let rest = rid[at + tail.len()..].split(['\n', '\r']).next()?;
    (!rest.is_empty()).then_some(rest)
}

/// The shared pipeline's `(?i)/tenants/{GUID}/providers/{rest}`, unanchored like grok: the tenant
/// must be a hex GUID (optionally in braces), so test ids such as `043q12e-…` do not match.
pub(crate) fn tenant_and_provider(rid: &str) -> Option<(&str, &str)> {
    let lower = rid.as_bytes();
    let mut from = 0;
    while let Some(pos) = find_ignore_case(&lower[from..], b"/tenants/") {
        let start = from + pos + b"/tenants/".len();
        if let Some(m) = match_tenant(rid, start) {
            return Some(m);
        }
        from = from + pos + 1;
    }
    None
}

fn match_tenant(rid: &str, start: usize) -> Option<(&str, &str)> {
    let b = rid.as_bytes();
    let mut i = start;
    if b.get(i) == Some(&b'{') {
        i += 1;
    }
    for (n, len) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
        let group = b.get(i..i + len)?;
        if !group.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        i += len;
    }
    if b.get(i) == Some(&b'}') {
        i += 1;
    }
    let tenant = &rid[start..i];
    let rest = b.get(i..)?;
    let tail = b"/providers/";
    if rest.len() <= tail.len() || !rest[..tail.len()].eq_ignore_ascii_case(tail) {
        return None;
    }
    let provider = &rid[i + tail.len()..];
    // `.+` stops at a line break.
    let provider = provider.split(['\n', '\r']).next().unwrap_or("");
    (!provider.is_empty()).then_some((tenant, provider))
}

fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether Elasticsearch's `ip` conversion accepts the text.
pub(crate) fn is_ip(s: JsonStr<'_>) -> bool {
    s.decode().parse::<std::net::IpAddr>().is_ok()
}

/// `source.ip` (or `source.address` when the text is no IP) and `client.ip` from a caller
/// address, as the audit and provisioning pipelines do. Returns the IP for `related.ip`.
fn write_source_from_caller<'a>(
    o: &mut ObjectWriter<'_>,
    ip: Option<JsonStr<'a>>,
) -> Option<JsonStr<'a>> {
    let ip = ip.filter(|i| !i.is_empty())?;
    if is_ip(ip) {
        o.object("source", |s| s.opt_json_str("ip", Some(ip)));
        o.object("client", |c| c.opt_json_str("ip", Some(ip)));
        Some(ip)
    } else {
        o.object("source", |s| s.opt_json_str("address", Some(ip)));
        None
    }
}

/// Writes `key: [..]` with the non-empty, distinct strings of `items`, in order; nothing when
/// none remain (Elastic's `append` with `allow_duplicates: false`).
fn write_set(o: &mut ObjectWriter<'_>, key: &str, items: &[Option<JsonStr<'_>>]) {
    let mark = o.mark();
    o.key(key);
    o.out.push(b'[');
    let mut n = 0;
    // Lists are a handful of ids; only hostile input makes them long enough to need a set.
    let mut seen = (items.len() > 32).then(std::collections::HashSet::new);
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.filter(|s| !s.is_empty()) else {
            continue;
        };
        let dup = match &mut seen {
            Some(set) => !set.insert(s.raw()),
            None => items[..i].iter().flatten().any(|p| p.raw() == s.raw()),
        };
        if dup {
            continue;
        }
        if n > 0 {
            o.out.push(b',');
        }
        write_json_str(o.out, s);
        n += 1;
    }
    if n == 0 {
        o.rollback(mark);
    } else {
        o.out.push(b']');
    }
}

/// `log.level` as a string, whatever type the envelope used.
fn write_level(o: &mut ObjectWriter<'_>, level: Option<Scalar<'_>>) {
    let Some(level) = level else { return };
    if let Scalar::Str(s) = level
        && s.is_empty()
    {
        return;
    }
    o.object("log", |l| {
        let out = l.key("level");
        out.push(b'"');
        out.extend_from_slice(level.raw_text().as_bytes());
        out.push(b'"');
    });
}

/// `user.email` is set from the login name when it looks like an address (an `@` not first).
fn looks_like_email(s: JsonStr<'_>) -> bool {
    s.raw().find('@').is_some_and(|i| i > 0)
}

fn nanos(ms: i64) -> i64 {
    ms.saturating_mul(1_000_000)
}

/// `event.type` for a change, from a verb such as `Add`, `create`, `Delete`.
fn change_type(verb: Option<JsonStr<'_>>) -> &'static str {
    let Some(v) = verb else { return "info" };
    let v = v.raw();
    if v.eq_ignore_ascii_case("add") || v.eq_ignore_ascii_case("create") {
        "creation"
    } else if v.eq_ignore_ascii_case("delete") || v.eq_ignore_ascii_case("remove") {
        "deletion"
    } else if [
        "update",
        "assign",
        "unassign",
        "enable",
        "disable",
        "stagedelete",
        "other",
    ]
    .iter()
    .any(|w| v.eq_ignore_ascii_case(w))
    {
        "change"
    } else {
        "info"
    }
}

// ---- Elastic's sign-in style: recursive snake_case, nulls and empties removed ----

/// Writes `"snake_key":` after the member separator and returns the written key's range (without
/// quotes) for the caller to inspect. Elastic's rule: `([a-z])([A-Z]+)` → `$1_$2`, lower-cased.
fn snake_member(o: &mut ObjectWriter<'_>, key: JsonStr<'_>) -> (Mark, Range<usize>) {
    let mark = o.mark();
    let out = o.sep();
    out.push(b'"');
    let start = out.len();
    let raw = key.raw();
    let bytes = raw.as_bytes();
    // Fast path: copy runs between upper-case letters; fall back on escapes or non-ASCII.
    let mut ascii = !key.is_escaped();
    if ascii && bytes.len() <= SNAKE_KEY_MAX {
        if SNAKE_CACHE.with(|c| c.borrow().get(bytes, out)) {
            let end = out.len();
            out.extend_from_slice(b"\":");
            return (mark, start..end);
        }
        // Short keys (nearly all): convert into a stack buffer, then copy once.
        let mut buf = [0u8; 2 * SNAKE_KEY_MAX];
        let mut j = 0;
        let mut high = 0u8;
        let mut prev_lower = false;
        for &b in bytes {
            high |= b;
            let upper = b.wrapping_sub(b'A') < 26;
            if upper && prev_lower {
                buf[j] = b'_';
                j += 1;
            }
            buf[j] = b | (u8::from(upper) << 5);
            j += 1;
            prev_lower = b.wrapping_sub(b'a') < 26;
        }
        if high < 0x80 {
            out.extend_from_slice(&buf[..j]);
            SNAKE_CACHE.with(|c| c.borrow_mut().put(bytes, &buf[..j]));
            let end = out.len();
            out.extend_from_slice(b"\":");
            return (mark, start..end);
        }
        ascii = false;
    }
    if ascii {
        out.reserve(bytes.len() + bytes.len() / 2 + 3);
        let mut run = 0;
        let mut prev_lower = false;
        for (i, &b) in bytes.iter().enumerate() {
            if b >= 0x80 {
                ascii = false;
                break;
            }
            if b.is_ascii_uppercase() {
                out.extend_from_slice(&bytes[run..i]);
                if prev_lower {
                    out.push(b'_');
                }
                out.push(b.to_ascii_lowercase());
                run = i + 1;
            }
            prev_lower = b.is_ascii_lowercase();
        }
        if ascii {
            out.extend_from_slice(&bytes[run..]);
        } else {
            out.truncate(start);
        }
    }
    if !ascii {
        let mut s = String::with_capacity(raw.len() + 4);
        let mut prev_lower = false;
        for c in key.decode().chars() {
            if c.is_ascii_uppercase() && prev_lower {
                s.push('_');
            }
            prev_lower = c.is_ascii_lowercase();
            s.push(c);
        }
        let s = s.to_lowercase();
        let mut tmp = Vec::with_capacity(s.len() + 2);
        write_str(&mut tmp, &s);
        out.extend_from_slice(&tmp[1..tmp.len() - 1]);
    }
    let end = out.len();
    out.extend_from_slice(b"\":");
    (mark, start..end)
}

/// Keys longer than this are converted without the cache.
const SNAKE_KEY_MAX: usize = 48;
const SNAKE_SLOTS: usize = 256;

/// The same few hundred keys recur in every sign-in, so their snake_case forms are cached per
/// thread in a small direct-mapped table (a miss converts and replaces the slot).
struct SnakeCache {
    slots: Vec<SnakeSlot>,
}

#[derive(Clone)]
struct SnakeSlot {
    key_len: u8,
    snake_len: u8,
    key: [u8; SNAKE_KEY_MAX],
    snake: [u8; 2 * SNAKE_KEY_MAX],
}

impl SnakeCache {
    fn slot(key: &[u8]) -> usize {
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
            u64::from_le_bytes(w)
        };
        let tail = &key[key.len().saturating_sub(8)..];
        let h = (word(key) ^ word(tail).rotate_left(29) ^ key.len() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 56) as usize % SNAKE_SLOTS
    }
    fn get(&self, key: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(s) = self.slots.get(Self::slot(key)) else {
            return false;
        };
        if usize::from(s.key_len) == key.len() && &s.key[..key.len()] == key {
            out.extend_from_slice(&s.snake[..usize::from(s.snake_len)]);
            true
        } else {
            false
        }
    }
    fn put(&mut self, key: &[u8], snake: &[u8]) {
        if self.slots.is_empty() {
            let empty = SnakeSlot {
                key_len: u8::MAX,
                snake_len: 0,
                key: [0; SNAKE_KEY_MAX],
                snake: [0; 2 * SNAKE_KEY_MAX],
            };
            self.slots = vec![empty; SNAKE_SLOTS];
        }
        let s = &mut self.slots[Self::slot(key)];
        s.key_len = key.len() as u8;
        s.snake_len = snake.len() as u8;
        s.key[..key.len()].copy_from_slice(key);
        s.snake[..snake.len()].copy_from_slice(snake);
    }
}

thread_local! {
    static SNAKE_CACHE: std::cell::RefCell<SnakeCache> =
        const { std::cell::RefCell::new(SnakeCache { slots: Vec::new() }) };
}

/// Writes `v` with object keys in snake_case (`snake`) and every null, `""`, `{}` and `[]`
/// removed, recursively. Writes nothing and returns false when the whole value is removed.
/// Like Elastic, keys of objects inside arrays inside arrays are left as they are.
fn write_clean(out: &mut Vec<u8>, v: &Value<'_>, snake: bool) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) if s.is_empty() => false,
        Value::Object(obj) => write_clean_object(out, obj, snake),
        Value::Array(items) => {
            let start = out.len();
            out.push(b'[');
            let mut n = 0;
            for item in items {
                let at = out.len();
                if n > 0 {
                    out.push(b',');
                }
                let wrote = match item {
                    Value::Array(_) => write_clean(out, item, false),
                    _ => write_clean(out, item, snake),
                };
                if wrote {
                    n += 1;
                } else {
                    out.truncate(at);
                }
            }
            if n == 0 {
                out.truncate(start);
                return false;
            }
            out.push(b']');
            true
        }
        other => {
            write_value(out, other);
            true
        }
    }
}

fn write_clean_object(out: &mut Vec<u8>, obj: &Object<'_>, snake: bool) -> bool {
    let start = out.len();
    let mut w = ObjectWriter::new(out);
    for (k, v) in obj.iter() {
        clean_member(&mut w, *k, v, snake);
    }
    if w.is_empty() {
        out.truncate(start);
        false
    } else {
        w.finish();
        true
    }
}

/// One member of a cleaned object; nothing when its value is removed.
fn clean_member(w: &mut ObjectWriter<'_>, k: JsonStr<'_>, v: &Value<'_>, snake: bool) {
    if is_dropped(v) {
        return;
    }
    let mark = if snake {
        snake_member(w, k).0
    } else {
        let m = w.mark();
        w.raw_key(k);
        m
    };
    if !write_clean(w.out, v, snake) {
        w.rollback(mark);
    }
}

/// A member with a new name, cleaned.
fn clean_renamed(w: &mut ObjectWriter<'_>, key: &str, v: &Value<'_>, snake: bool) {
    if is_dropped(v) {
        return;
    }
    let mark = w.mark();
    w.key(key);
    if !write_clean(w.out, v, snake) {
        w.rollback(mark);
    }
}

#[inline]
fn is_dropped(v: &Value<'_>) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// What to do with an envelope member in the snake_case style, by its snake_case name.
fn envelope_moved(snake: &[u8], time_present: bool) -> bool {
    match snake {
        b"time" | b"resource_id" | b"level" | b"duration_ms" | b"tenant_id" | b"correlation_id"
        | b"properties" | b"category" => true,
        b"created_date_time" => !time_present,
        _ => false,
    }
}

/// The category as received (Elastic keeps the record's own spelling).
fn category_value<'a>(record: &Record<'a>) -> Option<JsonStr<'a>> {
    record
        .root()
        .get_ignore_case("category")
        .and_then(Value::as_str)
}

/// Envelope members of a record in snake_case, cleaned, without those moved to ECS fields or
/// `location` when `keep_location` is false; then `category`.
fn write_snake_envelope(w: &mut ObjectWriter<'_>, record: &Record<'_>, keep_location: bool) {
    let time_present = record.envelope().time.is_some();
    if let Some(c) = category_value(record) {
        w.opt_str_nonempty("category", Some(c));
    }
    for (k, v) in record.envelope_members() {
        if is_dropped(v) {
            continue;
        }
        let (mark, range) = snake_member(w, *k);
        let name = &w.out[range];
        if envelope_moved(name, time_present) || (!keep_location && name == b"location") {
            w.rollback(mark);
            continue;
        }
        if !write_clean(w.out, v, true) {
            w.rollback(mark);
        }
    }
}

#[cfg(test)]
mod tests;
