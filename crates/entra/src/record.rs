//! One parsed record: the whole tree (nothing dropped), the normalised envelope, the typed view
//! of its category, and the derived header (event time, outcome, tenant, event id).

use std::borrow::Cow;
use std::fmt;

use crate::category::{Category, Kind};
use crate::error::{ErrorKind, ParseError};
use crate::fields::*;
use crate::json::{self, JsonStr, Object, Value};
use crate::kinds::{Audit, GraphActivity, Provisioning, Risk, SignIn};
use crate::split::RecordSlice;
use crate::time::Timestamp;

/// Limits applied while parsing.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Records larger than this are refused (dead-lettered). Event Hubs caps a message at
    /// 1 MB, so no genuine Entra record exceeds the default.
    pub max_record_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            max_record_bytes: 1024 * 1024,
        }
    }
}

/// Whether the record reports a success. Sign-ins use `status.errorCode`, audits `result`,
/// provisioning its status, Graph activity the HTTP status; risk records have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Success,
    Failure,
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Unknown => "unknown",
        }
    }
}

/// The typed view of `properties`, by kind.
#[derive(Debug, Clone)]
pub enum Body<'a> {
    SignIn(Box<SignIn<'a>>),
    Audit(Box<Audit<'a>>),
    Provisioning(Box<Provisioning<'a>>),
    Risk(Box<Risk<'a>>),
    GraphActivity(Box<GraphActivity<'a>>),
    Generic,
}

/// The Azure Monitor envelope fields, matched case-insensitively and normalised in type.
#[derive(Debug, Clone, Default)]
pub struct Envelope<'a> {
    pub time: Option<Timestamp>,
    pub resource_id: Option<JsonStr<'a>>,
    pub operation_name: Option<JsonStr<'a>>,
    pub operation_version: Option<JsonStr<'a>>,
    pub tenant_id: Option<JsonStr<'a>>,
    /// Error code for sign-ins (`"0"`, `"50126"`), `Success`/`Failure`/`Skipped` elsewhere.
    pub result_type: Option<Scalar<'a>>,
    pub result_signature: Option<Scalar<'a>>,
    pub result_description: Option<JsonStr<'a>>,
    pub duration_ms: Option<i64>,
    pub caller_ip_address: Option<JsonStr<'a>>,
    pub correlation_id: Option<JsonStr<'a>>,
    /// Only when a string; other Azure services write an object, which stays in the tree.
    pub identity: Option<JsonStr<'a>>,
    /// `4`, `"4"` or `"Informational"`.
    pub level: Option<Scalar<'a>>,
    pub location: Option<JsonStr<'a>>,
    /// Root-level `CreatedDateTime`, seen when `time` is missing.
    pub created_date_time: Option<Timestamp>,
}

/// Canonical spelling of each envelope key we normalise, looked up case-insensitively.
pub(crate) const ENVELOPE_KEYS: [&str; 17] = [
    "time",
    "resourceId",
    "operationName",
    "operationVersion",
    "category",
    "tenantId",
    "resultType",
    "resultSignature",
    "resultDescription",
    "durationMs",
    "callerIpAddress",
    "correlationId",
    "identity",
    "level",
    "location",
    "properties",
    "createdDateTime",
];

pub(crate) fn canonical_envelope_key(key: &JsonStr<'_>) -> Option<&'static str> {
    if key.is_escaped() {
        return None;
    }
    // Exact spelling first: it is by far the most common, and a match is one comparison.
    if let Some(k) = ENVELOPE_KEYS.iter().find(|k| **k == key.raw()) {
        return Some(k);
    }
    ENVELOPE_KEYS
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(key.raw()))
}

/// Where the tenant id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSource {
    TenantId,
    Properties,
    ResourceId,
}

/// What a native-schema input carried that the raw record does not: its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NativeHeader<'a> {
    pub event_id: JsonStr<'a>,
    pub ingest_time: Option<Timestamp>,
}

/// A parsed record. Borrows the input buffer; encode it before the buffer goes away.
pub struct Record<'a> {
    raw: &'a str,
    offset: usize,
    root: Object<'a>,
    native: Option<NativeHeader<'a>>,
    category: Category,
    category_name: Cow<'a, str>,
    envelope: Envelope<'a>,
    body: Body<'a>,
    event_time: Option<Timestamp>,
    outcome: Outcome,
    tenant: Option<(Cow<'a, str>, TenantSource)>,
    event_id: EventId,
}

/// A deterministic 128-bit id: the same record always gets the same id, so a SIEM can drop the
/// duplicates that at-least-once delivery produces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub u128);

impl EventId {
    /// The UUID-style text (8-4-4-4-12 lower-case hex), without allocating.
    pub fn to_text(self) -> [u8; 36] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'-'; 36];
        let mut nibble = 0;
        for (i, slot) in out.iter_mut().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                continue;
            }
            *slot = HEX[((self.0 >> (124 - 4 * nibble)) & 0xf) as usize];
            nibble += 1;
        }
        out
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_text();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset)
            .field("category", &self.category_name)
            .field("event_time", &self.event_time)
            .field("outcome", &self.outcome)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// Parses one record's bytes (from [`split`](crate::split)). Accepts Entra's wire format and
/// entrastream's own native output, so `report` can read what the file sink wrote.
pub fn parse_record<'a>(
    slice: RecordSlice<'a>,
    opts: &ParseOptions,
) -> Result<Record<'a>, ParseError<'a>> {
    let RecordSlice { bytes, offset } = slice;
    let fail = |category: Option<String>, kind| ParseError::new(offset, bytes, category, kind);
    if bytes.len() > opts.max_record_bytes {
        return Err(fail(
            None,
            ErrorKind::TooLarge {
                size: bytes.len(),
                limit: opts.max_record_bytes,
            },
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        fail(
            None,
            ErrorKind::InvalidUtf8 {
                at: e.valid_up_to(),
            },
        )
    })?;
    match json::parse(text) {
        Ok(value) => record_from_value(text, offset, value),
        Err(e) => Err(fail(
            None,
            ErrorKind::MalformedJson {
                message: e.message,
                at: e.offset,
            },
        )),
    }
}

/// The second half of [`parse_record`], shared with [`parse_records`](crate::parse_records):
/// a parsed value becomes a record, or the same error `parse_record` gives for it.
pub(crate) fn record_from_value<'a>(
    text: &'a str,
    offset: usize,
    value: Value<'a>,
) -> Result<Record<'a>, ParseError<'a>> {
    let fail =
        |category: Option<String>, kind| ParseError::new(offset, text.as_bytes(), category, kind);
    let Value::Object(root) = value else {
        return Err(fail(
            None,
            ErrorKind::InvalidEnvelope("a record must be a JSON object"),
        ));
    };
    Record::build(text, offset, root).map_err(|(cat, kind)| fail(cat, kind))
}

type BuildError = (Option<String>, ErrorKind);

impl<'a> Record<'a> {
    fn build(raw: &'a str, offset: usize, root: Object<'a>) -> Result<Self, BuildError> {
        let native = native_header(&root);
        let env_obj: &Object<'a> = match native {
            Some(_) => match root.get("envelope") {
                Some(Value::Object(o)) => o,
                _ => &root,
            },
            None => &root,
        };
        let category_name = match root.get_ignore_case("category") {
            Some(Value::String(s)) if !s.is_empty() => s.decode(),
            None | Some(Value::Null) | Some(Value::String(_)) => {
                return Err((None, ErrorKind::MissingCategory));
            }
            Some(other) => return Err((None, wrong_type("", "category", "a string", other))),
        };
        let category = Category::from_name(&category_name);
        let with_cat = |kind| (Some(category_name.to_string()), kind);
        let envelope = Envelope::read(env_obj).map_err(with_cat)?;
        let empty = Object::default();
        let props = match root.get_ignore_case("properties") {
            Some(v) => opt_obj(v, "", "properties").map_err(with_cat)?,
            None => None,
        }
        .unwrap_or(&empty);
        let body = match category.kind() {
            Kind::SignIn => Body::SignIn(Box::new(SignIn::read(props).map_err(with_cat)?)),
            Kind::Audit => Body::Audit(Box::new(Audit::read(props).map_err(with_cat)?)),
            Kind::Provisioning => {
                Body::Provisioning(Box::new(Provisioning::read(props).map_err(with_cat)?))
            }
            Kind::Risk => Body::Risk(Box::new(Risk::read(props).map_err(with_cat)?)),
            Kind::GraphActivity => {
                Body::GraphActivity(Box::new(GraphActivity::read(props).map_err(with_cat)?))
            }
            Kind::Generic => Body::Generic,
        };
        let event_time = event_time(category, &envelope, &body);
        let outcome = outcome(&envelope, &body);
        let tenant = tenant(&envelope, props);
        let event_id = match native {
            Some(h) => parse_event_id(h.event_id.raw()).unwrap_or_else(|| hash_id(raw.as_bytes())),
            None => derive_event_id(category_name.as_ref(), &body, raw, event_time),
        };
        Ok(Record {
            raw,
            offset,
            native,
            category,
            envelope,
            body,
            event_time,
            outcome,
            tenant,
            event_id,
            category_name: match category {
                Category::Other => category_name,
                known => Cow::Borrowed(known.name()),
            },
            root,
        })
    }

    /// The category's canonical name, or the name as received for categories this build does
    /// not know.
    pub fn category(&self) -> &str {
        &self.category_name
    }
    pub fn category_enum(&self) -> Category {
        self.category
    }
    pub fn kind(&self) -> &'static str {
        self.category.kind().as_str()
    }
    pub fn kind_enum(&self) -> Kind {
        self.category.kind()
    }
    /// The record's original bytes, byte-exact.
    pub fn raw(&self) -> &'a [u8] {
        self.raw.as_bytes()
    }
    pub fn raw_str(&self) -> &'a str {
        self.raw
    }
    /// Byte offset of the record within the body it was split from.
    pub fn offset(&self) -> usize {
        self.offset
    }
    pub fn envelope(&self) -> &Envelope<'a> {
        &self.envelope
    }
    pub fn body(&self) -> &Body<'a> {
        &self.body
    }
    /// When the activity happened (see `docs/schema.md` for the field used per category),
    /// falling back to the envelope `time`.
    pub fn event_time(&self) -> Option<Timestamp> {
        self.event_time
    }
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant.as_ref().map(|(t, _)| t.as_ref())
    }
    pub fn tenant_source(&self) -> Option<TenantSource> {
        self.tenant.as_ref().map(|(_, s)| *s)
    }
    pub fn event_id(&self) -> EventId {
        self.event_id
    }
    /// When this record was first ingested, if it is entrastream native output being re-read.
    pub fn original_ingest_time(&self) -> Option<Timestamp> {
        self.native.and_then(|n| n.ingest_time)
    }
    pub fn signin(&self) -> Option<&SignIn<'a>> {
        match &self.body {
            Body::SignIn(s) => Some(s),
            _ => None,
        }
    }
    pub fn audit(&self) -> Option<&Audit<'a>> {
        match &self.body {
            Body::Audit(a) => Some(a),
            _ => None,
        }
    }
    pub fn provisioning(&self) -> Option<&Provisioning<'a>> {
        match &self.body {
            Body::Provisioning(p) => Some(p),
            _ => None,
        }
    }
    pub fn risk(&self) -> Option<&Risk<'a>> {
        match &self.body {
            Body::Risk(r) => Some(r),
            _ => None,
        }
    }
    pub fn graph_activity(&self) -> Option<&GraphActivity<'a>> {
        match &self.body {
            Body::GraphActivity(g) => Some(g),
            _ => None,
        }
    }
    /// Whether the record was read from entrastream's native output.
    pub fn is_native_input(&self) -> bool {
        self.native.is_some()
    }

    /// Envelope members (everything at the top level except `properties`), as received.
    pub fn envelope_members(&self) -> impl Iterator<Item = &(JsonStr<'a>, Value<'a>)> {
        let obj = match (&self.native, self.root.get("envelope")) {
            (Some(_), Some(Value::Object(o))) => o,
            _ => &self.root,
        };
        obj.iter().filter(|(k, _)| !k.eq_ignore_case("properties"))
    }

    /// The `properties` object, as received.
    pub fn properties(&self) -> Option<&Object<'a>> {
        self.root
            .get_ignore_case("properties")
            .and_then(Value::as_object)
    }

    pub fn root(&self) -> &Object<'a> {
        &self.root
    }
}

fn native_header<'a>(root: &Object<'a>) -> Option<NativeHeader<'a>> {
    let version = root.get("schema_version")?;
    if !matches!(version, Value::String(_) | Value::Number(_)) {
        return None;
    }
    let event_id = root.get("event_id")?.as_str()?;
    root.get("envelope")?.as_object()?;
    let ingest_time = root
        .get("ingest_time")
        .and_then(Value::as_str)
        .and_then(|s| Timestamp::parse(&s.decode()));
    Some(NativeHeader {
        event_id,
        ingest_time,
    })
}

impl<'a> Envelope<'a> {
    fn read(o: &Object<'a>) -> Result<Self, ErrorKind> {
        let mut e = Envelope::default();
        for (key, v) in o.iter() {
            let Some(canonical) = canonical_envelope_key(key) else {
                continue;
            };
            let s = |k| opt_str(v, "", k).map(non_empty);
            match canonical {
                "time" => e.time = opt_time(v, "", "time")?,
                "resourceId" => e.resource_id = s("resourceId")?,
                "operationName" => e.operation_name = s("operationName")?,
                "operationVersion" => e.operation_version = s("operationVersion")?,
                "tenantId" => e.tenant_id = s("tenantId")?,
                "resultType" => e.result_type = opt_scalar(v, "", "resultType")?,
                "resultSignature" => e.result_signature = opt_scalar(v, "", "resultSignature")?,
                "resultDescription" => e.result_description = s("resultDescription")?,
                "durationMs" => e.duration_ms = opt_int(v, "", "durationMs")?,
                "callerIpAddress" => e.caller_ip_address = s("callerIpAddress")?,
                "correlationId" => e.correlation_id = s("correlationId")?,
                "identity" => e.identity = v.as_str().filter(|s| !s.is_empty()),
                "level" => e.level = opt_scalar(v, "", "level")?,
                "location" => e.location = s("location")?,
                "createdDateTime" => e.created_date_time = opt_time(v, "", "createdDateTime")?,
                _ => {}
            }
        }
        Ok(e)
    }
}

fn event_time(category: Category, env: &Envelope<'_>, body: &Body<'_>) -> Option<Timestamp> {
    let specific = match body {
        Body::SignIn(s) => s.created,
        Body::Audit(a) => a.activity_time,
        Body::Provisioning(p) => p.activity_time,
        Body::Risk(r) => match category {
            Category::RiskyUsers | Category::RiskyServicePrincipals => r.risk_last_updated,
            _ => r.activity_time.or(r.detected_time),
        },
        Body::GraphActivity(g) => g.time_generated.or(g.event_time_ticks),
        Body::Generic => None,
    };
    specific.or(env.time).or(env.created_date_time)
}

fn outcome(env: &Envelope<'_>, body: &Body<'_>) -> Outcome {
    let word = |s: Option<JsonStr<'_>>| match s {
        Some(s) if s.eq_ignore_case("success") => Outcome::Success,
        Some(s) if s.eq_ignore_case("failure") || s.eq_ignore_case("timeout") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    match body {
        Body::SignIn(s) => match s
            .error_code
            .or_else(|| env.result_type.and_then(|r| r.as_i64()))
        {
            Some(0) => Outcome::Success,
            Some(_) => Outcome::Failure,
            None => Outcome::Unknown,
        },
        Body::Audit(a) => word(a.result),
        Body::Provisioning(p) => match word(p.status) {
            Outcome::Unknown => word(env.result_type.and_then(|r| match r {
                Scalar::Str(s) => Some(s),
                _ => None,
            })),
            known => known,
        },
        Body::GraphActivity(g) => match g
            .status_code
            .or_else(|| env.result_signature.and_then(|r| r.as_i64()))
        {
            Some(c) if (100..400).contains(&c) => Outcome::Success,
            Some(c) if c >= 400 => Outcome::Failure,
            _ => Outcome::Unknown,
        },
        Body::Risk(_) => Outcome::Unknown,
        Body::Generic => word(env.result_type.and_then(|r| match r {
            Scalar::Str(s) => Some(s),
            _ => None,
        })),
    }
}

fn tenant<'a>(env: &Envelope<'a>, props: &Object<'a>) -> Option<(Cow<'a, str>, TenantSource)> {
    if let Some(t) = env.tenant_id {
        return Some((t.decode(), TenantSource::TenantId));
    }
    if let Some(Value::String(t)) = props.get("tenantId").filter(|v| !matches!(v, Value::Null))
        && !t.is_empty()
    {
        return Some((t.decode(), TenantSource::Properties));
    }
    let rid = env.resource_id?.decode();
    tenant_from_resource_id(&rid).map(|t| (Cow::Owned(t.to_owned()), TenantSource::ResourceId))
}

/// `/tenants/<id>/providers/…` in any casing → `<id>` (lower-cased, as tenant ids compare).
fn tenant_from_resource_id(rid: &str) -> Option<String> {
    let lower = rid.to_ascii_lowercase();
    let rest = lower.strip_prefix("/tenants/")?;
    let (id, tail) = rest.split_once('/')?;
    (!id.is_empty() && tail.starts_with("providers")).then(|| id.to_owned())
}

/// Hashes the category, the record's own id and its event time when it has an id, else the raw
/// bytes. Ids survive re-serialisation (exports, other collectors); raw bytes are the fallback.
fn derive_event_id(category: &str, body: &Body<'_>, raw: &str, time: Option<Timestamp>) -> EventId {
    let id = match body {
        Body::SignIn(s) => s.id,
        Body::Audit(a) => a.id,
        Body::Provisioning(p) => p.id,
        Body::Risk(r) => r.id,
        Body::GraphActivity(g) => g.request_id.or(g.operation_id),
        Body::Generic => None,
    };
    match id.filter(|i| !i.is_empty()) {
        Some(id) => {
            let mut key = Vec::with_capacity(category.len() + id.raw().len() + 40);
            key.extend_from_slice(category.as_bytes());
            key.push(0);
            key.extend_from_slice(id.raw().as_bytes());
            key.push(0);
            if let Some(t) = time {
                key.extend_from_slice(&t.unix_seconds().to_le_bytes());
                key.extend_from_slice(&t.subsec_nanos().to_le_bytes());
            }
            hash_id(&key)
        }
        None => hash_id(raw.as_bytes()),
    }
}

fn hash_id(bytes: &[u8]) -> EventId {
    EventId(xxhash_rust::xxh3::xxh3_128(bytes))
}

fn parse_event_id(text: &str) -> Option<EventId> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32)
        .then(|| u128::from_str_radix(&hex, 16).ok())
        .flatten()
        .map(EventId)
}

/// One record's text parsed with the default options, for this crate's unit tests.
#[cfg(test)]
pub(crate) fn parse_text(text: &str) -> Result<Record<'_>, ParseError<'_>> {
    parse_record(
        RecordSlice {
            bytes: text.as_bytes(),
            offset: 0,
        },
        &ParseOptions::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Record<'_>, ParseError<'_>> {
        parse_text(text)
    }

    #[test]
    fn tenant_from_resource_id_in_any_casing() {
        assert_eq!(
            tenant_from_resource_id("/TeNaNtS/ABC-1/PrOvIdErS/Microsoft.aadiam").as_deref(),
            Some("abc-1")
        );
        assert_eq!(tenant_from_resource_id("/subscriptions/x"), None);
    }

    #[test]
    fn event_id_is_stable_and_formatted() {
        let a = parse(r#"{"category":"AuditLogs","properties":{"id":"x"}}"#).unwrap();
        let b = parse(r#"{ "properties":{"id":"x"}, "category":"AuditLogs" }"#).unwrap();
        assert_eq!(a.event_id(), b.event_id());
        assert_eq!(a.event_id().to_string().len(), 36);
        assert_eq!(
            parse_event_id(&a.event_id().to_string()),
            Some(a.event_id())
        );
    }

    #[test]
    fn missing_and_wrong_category() {
        assert_eq!(
            parse(r#"{"time":"x"}"#).unwrap_err().reason_code(),
            "missing_category"
        );
        assert_eq!(
            parse(r#"{"category":3}"#).unwrap_err().reason_code(),
            "wrong_type"
        );
        let e = parse(r#"{"category":"SignInLogs","properties":"{}"}"#).unwrap_err();
        assert_eq!(e.reason_code(), "wrong_type");
        assert_eq!(e.category(), Some("SignInLogs"));
        assert!(e.to_string().contains("`properties`"), "{e}");
    }

    #[test]
    fn unknown_category_is_generic_and_kept() {
        let r = parse(r#"{"category":"NetworkAccessTrafficLogs","time":"2024-01-01T00:00:00Z"}"#)
            .unwrap();
        assert_eq!(r.category(), "NetworkAccessTrafficLogs");
        assert_eq!(r.kind(), "generic");
        assert_eq!(r.event_time().unwrap().to_string(), "2024-01-01T00:00:00Z");
    }
}
