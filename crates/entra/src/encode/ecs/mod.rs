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
mod known_keys;
mod other;
mod provisioning;
mod signin;
mod uri;

use std::cell::Cell;
use std::ops::Range;

use crate::encode::EncodeContext;
use crate::encode::writer::*;
use crate::fields::Scalar;
use crate::json::{JsonStr, Object, Value};
use crate::record::{Body, Record};
use crate::time::Timestamp;

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

/// `event.ingested`. The ingest time is the same for every record of a batch, so its
/// rendering (about 600 instructions) is kept per thread and copied while the time stays the
/// same.
fn write_ingested(e: &mut ObjectWriter<'_>, t: Timestamp) {
    let out = e.key("ingested");
    let cached = INGESTED.with(Cell::get);
    if let Some((at, buf, len)) = cached
        && at == t
    {
        out.extend_from_slice(&buf[..usize::from(len)]);
        return;
    }
    let start = out.len();
    write_time(out, t);
    let written = &out[start..];
    let mut buf = [0u8; INGESTED_MAX];
    if let Some(slot) = buf.get_mut(..written.len()) {
        slot.copy_from_slice(written);
        INGESTED.with(|c| c.set(Some((t, buf, written.len() as u8))));
    }
}

/// Longest `event.ingested` rendering kept (quotes included; years outside 0–9999 are longer
/// and simply not kept).
const INGESTED_MAX: usize = 40;

thread_local! {
    static INGESTED: Cell<Option<(Timestamp, [u8; INGESTED_MAX], u8)>> = const { Cell::new(None) };
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
///
/// Inlined: the keys Entra writes (nearly every member) take the compiled table and a
/// fixed-size copy; every other key goes to [`snake_member_slow`].
#[inline(always)]
fn snake_member(o: &mut ObjectWriter<'_>, key: JsonStr<'_>) -> (Mark, Range<usize>) {
    let mark = o.mark();
    let out = o.sep();
    let start = out.len() + 1;
    if !key.is_escaped()
        && let Some((padded, len)) = known_keys::rendered_padded(key.raw().as_bytes())
    {
        // One copy of constant length (a few vector moves, no `memcpy` call), then the
        // padding cut off.
        out.extend_from_slice(padded);
        out.truncate(start - 1 + len);
        return (mark, start..start - 1 + len - 2);
    }
    snake_member_slow(out, key);
    (mark, start..out.len() - 2)
}

/// [`snake_member`] for keys not in `known_keys`: the per-thread cache, else the conversion.
#[inline(never)]
fn snake_member_slow(out: &mut Vec<u8>, key: JsonStr<'_>) {
    let start = out.len() + 1;
    let raw = key.raw();
    let bytes = raw.as_bytes();
    // Other keys recur too (new Entra fields): their rendered form (`"snake_key":`) is looked
    // up by the wire key in a per-thread cache and copied in one piece.
    if !key.is_escaped() && bytes.len() <= SNAKE_KEY_MAX {
        let hit = SNAKE_CACHE.with(|c| match c.borrow().get(bytes) {
            Some(rendered) => {
                out.extend_from_slice(rendered);
                true
            }
            None => false,
        });
        if hit {
            return;
        }
        // Short ASCII keys (nearly all): convert into a stack buffer, then copy once.
        let mut buf = [0u8; 2 * SNAKE_KEY_MAX + 3];
        if let Some(len) = render_ascii(bytes, &mut buf) {
            let rendered = &buf[..len];
            out.extend_from_slice(rendered);
            SNAKE_CACHE.with(|c| c.borrow_mut().put(bytes, rendered));
            return;
        }
    }
    out.push(b'"');
    let mut ascii = !key.is_escaped();
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
    out.extend_from_slice(b"\":");
}

/// Renders a short key as `"snake_key":` into `buf` and returns the length, or `None` when the
/// key is not ASCII (the caller then converts it by characters).
fn render_ascii(bytes: &[u8], buf: &mut [u8; 2 * SNAKE_KEY_MAX + 3]) -> Option<usize> {
    buf[0] = b'"';
    let mut j = 1;
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
    if high >= 0x80 {
        return None;
    }
    buf[j] = b'"';
    buf[j + 1] = b':';
    Some(j + 2)
}

/// Keys longer than this are converted without the cache.
const SNAKE_KEY_MAX: usize = 48;
/// Distinct keys kept per thread; when full the cache starts over, so hostile input with
/// endless distinct keys costs a conversion per key, never unbounded memory.
const SNAKE_CACHE_MAX: usize = 4096;

/// Wire key → its rendered snake_case member key, per thread, for keys not in `known_keys` (new
/// Entra fields, other Azure services' records, hostile input). A hash map rather than the former
/// 256-slot direct-mapped table: the ~300 keys of the realistic mix collided in 22 % of lookups,
/// and each miss re-converted and evicted the other key.
#[derive(Default)]
struct SnakeCache {
    map: std::collections::HashMap<Box<[u8]>, Box<[u8]>, KeyHash>,
}

impl SnakeCache {
    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.map.get(key).map(|v| &**v)
    }
    fn put(&mut self, key: &[u8], rendered: &[u8]) {
        if self.map.len() >= SNAKE_CACHE_MAX {
            self.map.clear();
        }
        self.map.insert(key.into(), rendered.into());
    }
}

/// xxh3 over the key bytes: fast on short keys, and the map is per thread and bounded, so a
/// keyed (DoS-resistant) hash buys nothing here.
#[derive(Default, Clone, Copy)]
struct KeyHash;

impl std::hash::BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 ^= xxhash_rust::xxh3::xxh3_64(bytes);
    }
    fn write_usize(&mut self, n: usize) {
        // The slice length prefix: already covered by xxh3 of the bytes.
        self.0 = self.0.rotate_left(5) ^ n as u64;
    }
}

thread_local! {
    static SNAKE_CACHE: std::cell::RefCell<SnakeCache> = std::cell::RefCell::new(SnakeCache::default());
}

/// Writes `v` with object keys in snake_case (`snake`) and every null, `""`, `{}` and `[]`
/// removed, recursively. Writes nothing and returns false when the whole value is removed.
/// Like Elastic, keys of objects inside arrays inside arrays are left as they are.
///
/// Inlined into every member loop: leaves (most members) are copied there without a call and,
/// since they are never removed once `is_dropped` has passed them, without a rollback; only
/// objects and arrays go out of line.
#[inline(always)]
fn write_clean(out: &mut Vec<u8>, v: &Value<'_>, snake: bool) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => {
            if s.is_empty() {
                return false;
            }
            write_json_str(out, *s);
            true
        }
        Value::Number(n) => {
            out.extend_from_slice(n.text().as_bytes());
            true
        }
        Value::Bool(b) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            true
        }
        Value::Object(obj) => write_clean_object(out, obj, snake),
        Value::Array(items) => write_clean_array(out, items, snake),
    }
}

fn write_clean_array(out: &mut Vec<u8>, items: &[Value<'_>], snake: bool) -> bool {
    let start = out.len();
    out.push(b'[');
    let mut n = 0;
    for item in items {
        let at = out.len();
        if n > 0 {
            out.push(b',');
        }
        let wrote = match item {
            Value::Array(inner) => write_clean_array(out, inner, false),
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
#[inline(always)]
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
