//! A peer that answers like Splunk's HTTP Event Collector (event, raw, ack and health endpoints,
//! each also under its `/1.0` alias; gzip bodies on every endpoint).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Control, Failure, Handler, Impostor, Reply, Req, decoded_body, serve};

/// How the peer is set up.
#[derive(Debug, Clone)]
pub struct HecPeerOptions {
    /// The only valid token.
    pub token: String,
    /// Indexer acknowledgement on (the channel header becomes mandatory).
    pub ack: bool,
    /// Largest accepted request body in bytes (after gzip decoding), else 413.
    pub max_content_length: usize,
    /// Keep every indexed event as a parsed `serde_json::Value` for [`HecPeer::events`] (the
    /// default, for tests). `false` is the benchmark mode: the peer still checks the token and
    /// the channel, decodes gzip, enforces the max content length, validates every event's JSON
    /// and `event` field (codes 6/12/13 with `invalid-event-number` as before), counts events by
    /// their real boundaries and returns ackIds, but builds no tree and stores nothing, so its
    /// cost is close to what reading the request costs.
    pub keep_events: bool,
}

impl Default for HecPeerOptions {
    fn default() -> Self {
        HecPeerOptions {
            token: "00000000-0000-0000-0000-000000000001".into(),
            ack: false,
            max_content_length: 1_000_000,
            keep_events: true,
        }
    }
}

/// Counters of what the peer saw.
#[derive(Debug, Clone, Default)]
pub struct HecStats {
    /// Requests to the event/raw endpoints by answered HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Largest body seen on the wire.
    pub max_wire_body: usize,
    /// Largest body after gzip decoding.
    pub max_decoded_body: usize,
    /// Requests that carried `Content-Encoding: gzip`.
    pub gzip_requests: u64,
    /// Ack poll requests.
    pub ack_polls: u64,
}

#[derive(Debug)]
struct AckState {
    ready_at: Instant,
    lost: bool,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<Value>,
    event_count: usize,
    failure: Option<Failure>,
    acks: HashMap<String, BTreeMap<u64, AckState>>,
    next_ack: HashMap<String, u64>,
    lose_next_acks: usize,
    ack_delay: Duration,
    stats: HecStats,
    channels: Vec<String>,
    impostor: Option<Impostor>,
    /// `http://host:port` of this peer (for redirects to itself).
    base: String,
}

/// A running HEC peer. Cheap to clone; all clones control the same server.
#[derive(Debug, Clone)]
pub struct HecPeer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    control: Arc<Control>,
    opts: Arc<HecPeerOptions>,
}

impl HecPeer {
    /// Starts a peer on a loopback port.
    pub async fn start(opts: HecPeerOptions) -> HecPeer {
        let state = Arc::new(Mutex::new(State::default()));
        let control = Arc::new(Control::default());
        let opts = Arc::new(opts);
        let (s, o) = (state.clone(), opts.clone());
        let handler: Handler = Arc::new(move |req| answer(&s, &o, req));
        let addr = serve(handler, control.clone()).await;
        state.lock().unwrap_or_else(|e| e.into_inner()).base = format!("http://{addr}");
        HecPeer {
            addr,
            state,
            control,
            opts,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The valid token.
    pub fn token(&self) -> &str {
        &self.opts.token
    }

    /// Answers every request (health included) with this HTTP status and HEC code for a while.
    pub fn fail_for(&self, status: u16, code: u32, d: Duration) {
        let text = match code {
            1 => "Token disabled",
            2 => "Token is required",
            3 => "Invalid authorization",
            4 => "Invalid token",
            7 => "Incorrect index",
            8 => "Internal server error",
            9 => "Server is busy",
            _ => "Error",
        };
        self.lock().failure = Some(Failure {
            until: Instant::now() + d,
            status,
            body: json!({"text": text, "code": code}).to_string(),
        });
    }

    /// From now on, every request is answered as `mode` says (`None`: as HEC again).
    pub fn impersonate(&self, mode: Option<Impostor>) {
        self.lock().impostor = mode;
    }

    /// Closes the listening socket and every connection for a while (connection refused).
    pub fn refuse_connections_for(&self, d: Duration) {
        self.control.refuse_for(d);
    }

    /// The acks of the next `n` accepted requests never turn true (the data is indexed).
    pub fn lose_next_acks(&self, n: usize) {
        self.lock().lose_next_acks = n;
    }

    /// Acks turn true only this long after the request.
    pub fn delay_acks(&self, d: Duration) {
        self.lock().ack_delay = d;
    }

    /// Every indexed event (the envelope objects, or `{"event": line}` for raw), in order.
    /// Empty when the peer was started with `keep_events: false`.
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// Number of indexed events (in both modes).
    pub fn event_count(&self) -> usize {
        self.lock().event_count
    }

    /// Counters.
    pub fn stats(&self) -> HecStats {
        self.lock().stats.clone()
    }

    /// Channels seen, in order of first use.
    pub fn channels(&self) -> Vec<String> {
        self.lock().channels.clone()
    }
}

fn reply(status: u16, text: &str, code: u32) -> (u16, String) {
    (status, json!({"text": text, "code": code}).to_string())
}

/// A data request's body decoded and its events parsed or counted. This is the expensive part
/// of a request, so it is done before the state lock is taken (concurrent requests do it in
/// parallel); [`answer_inner`] uses it only where the checks before it pass, in HEC's order.
enum Decoded {
    /// Not a data request, or the body is above the max content length on the wire.
    Skipped,
    /// gzip could not be decoded.
    BadGzip,
    /// Decoded length, and the events (or the first error: index, code, text).
    Body(usize, Result<Events, (usize, u32, &'static str)>),
}

enum Events {
    Kept(Vec<Value>),
    Counted(usize),
}

impl Events {
    fn len(&self) -> usize {
        match self {
            Events::Kept(v) => v.len(),
            Events::Counted(n) => *n,
        }
    }
}

/// The endpoint a request path names. HEC serves each endpoint also under a `/1.0` suffix
/// (`/services/collector/event/1.0` and so on), and `/services/collector` is the event endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Event,
    Raw,
    Ack,
    Health,
    Unknown,
}

fn endpoint(path: &str) -> Endpoint {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix("/1.0").unwrap_or(path);
    match path {
        "/services/collector/event" | "/services/collector" => Endpoint::Event,
        "/services/collector/raw" => Endpoint::Raw,
        "/services/collector/ack" => Endpoint::Ack,
        "/services/collector/health" => Endpoint::Health,
        _ => Endpoint::Unknown,
    }
}

fn decode(opts: &HecPeerOptions, req: &Req, path: &str) -> Decoded {
    let raw = match endpoint(path) {
        Endpoint::Event => false,
        Endpoint::Raw => true,
        _ => return Decoded::Skipped,
    };
    if req.body.len() > opts.max_content_length {
        return Decoded::Skipped;
    }
    let Ok(body) = decoded_body(req) else {
        return Decoded::BadGzip;
    };
    if body.len() > opts.max_content_length {
        return Decoded::Body(body.len(), Ok(Events::Counted(0)));
    }
    let events = match (raw, opts.keep_events) {
        (true, true) => parse_raw(&body).map(Events::Kept),
        (true, false) => count_raw(&body).map(Events::Counted),
        (false, true) => parse_events(&body).map(Events::Kept),
        (false, false) => count_events(&body).map(Events::Counted),
    };
    Decoded::Body(body.len(), events)
}

fn answer(state: &Mutex<State>, opts: &HecPeerOptions, req: Req) -> Reply {
    let path = req.path.trim_end_matches('/');
    let decoded = decode(opts, &req, path);
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let is_data = matches!(endpoint(path), Endpoint::Event | Endpoint::Raw);
    let r = match Impostor::reply(st.impostor, &req.path, &st.base) {
        Some(r) => r,
        None => answer_inner(&mut st, opts, &req, path, decoded).into(),
    };
    if is_data {
        *st.stats.by_status.entry(r.status).or_default() += 1;
    }
    r
}

fn answer_inner(
    st: &mut State,
    opts: &HecPeerOptions,
    req: &Req,
    path: &str,
    decoded: Decoded,
) -> (u16, String) {
    if let Some(f) = Failure::active(&st.failure) {
        return f;
    }
    let endpoint = endpoint(path);
    if endpoint == Endpoint::Health {
        return reply(200, "HEC is healthy", 17);
    }
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    match auth {
        None => return reply(401, "Token is required", 2),
        Some(a) => match a.strip_prefix("Splunk ") {
            None => return reply(401, "Invalid authorization", 3),
            Some(t) if t != opts.token => return reply(403, "Invalid token", 4),
            Some(_) => {}
        },
    }
    let channel = req
        .headers
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            req.query
                .split('&')
                .find_map(|kv| kv.strip_prefix("channel=").map(str::to_string))
        });
    if let Some(c) = &channel
        && !st.channels.contains(c)
    {
        st.channels.push(c.clone());
    }
    match endpoint {
        Endpoint::Ack => {
            st.stats.ack_polls += 1;
            if !opts.ack {
                return reply(400, "ACK is disabled", 14);
            }
            let Some(channel) = channel else {
                return reply(400, "Data channel is missing", 10);
            };
            // Splunk accepts a gzip body on every endpoint, the ack endpoint included.
            let Ok(body) = decoded_body(req) else {
                return reply(400, "Invalid data format", 6);
            };
            let Some(ids) = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("acks").cloned())
                .and_then(|v| serde_json::from_value::<Vec<u64>>(v).ok())
            else {
                return reply(400, "Invalid data format", 6);
            };
            let now = Instant::now();
            let known = st.acks.entry(channel).or_default();
            let mut out = serde_json::Map::new();
            for id in ids {
                let done = known.get(&id).is_some_and(|a| !a.lost && now >= a.ready_at);
                if done {
                    // Splunk forgets an ack once it was reported true.
                    known.remove(&id);
                }
                out.insert(id.to_string(), Value::Bool(done));
            }
            (200, json!({ "acks": out }).to_string())
        }
        Endpoint::Event | Endpoint::Raw => {
            let raw = endpoint == Endpoint::Raw;
            if (opts.ack || raw) && channel.is_none() {
                return reply(400, "Data channel is missing", 10);
            }
            st.stats.max_wire_body = st.stats.max_wire_body.max(req.body.len());
            if req.body.len() > opts.max_content_length {
                return reply(413, "Content length exceeds limit", 27);
            }
            if req
                .headers
                .get("content-encoding")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
            {
                st.stats.gzip_requests += 1;
            }
            let (len, parsed) = match decoded {
                Decoded::Body(len, parsed) => (len, parsed),
                Decoded::BadGzip => return reply(400, "Invalid data format", 6),
                Decoded::Skipped => return reply(413, "Content length exceeds limit", 27),
            };
            st.stats.max_decoded_body = st.stats.max_decoded_body.max(len);
            if len > opts.max_content_length {
                return reply(413, "Content length exceeds limit", 27);
            }
            let events = match parsed {
                Ok(e) if e.len() == 0 => return reply(400, "No data", 5),
                Ok(e) => e,
                Err((n, code, text)) => {
                    return (
                        400,
                        json!({"text": text, "code": code, "invalid-event-number": n}).to_string(),
                    );
                }
            };
            st.event_count += events.len();
            if let Events::Kept(v) = events {
                st.events.extend(v);
            }
            if opts.ack {
                let channel = channel.unwrap_or_default();
                let id = {
                    let next = st.next_ack.entry(channel.clone()).or_default();
                    let id = *next;
                    *next += 1;
                    id
                };
                let lost = st.lose_next_acks > 0;
                if lost {
                    st.lose_next_acks -= 1;
                }
                let ready_at = Instant::now() + st.ack_delay;
                st.acks
                    .entry(channel)
                    .or_default()
                    .insert(id, AckState { ready_at, lost });
                (
                    200,
                    json!({"text": "Success", "code": 0, "ackId": id}).to_string(),
                )
            } else {
                reply(200, "Success", 0)
            }
        }
        Endpoint::Health | Endpoint::Unknown => {
            reply(404, "The requested URL was not found on this server.", 404)
        }
    }
}

/// Concatenated JSON objects; each needs a non-null `event`. Error: (index, code, text).
fn parse_events(body: &[u8]) -> Result<Vec<Value>, (usize, u32, &'static str)> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Value>();
    loop {
        match stream.next() {
            None => break,
            Some(Err(_)) => return Err((out.len(), 6, "Invalid data format")),
            Some(Ok(v)) => match v.get("event") {
                None => return Err((out.len(), 12, "Event field is required")),
                Some(Value::Null) => return Err((out.len(), 12, "Event field is required")),
                Some(Value::String(s)) if s.is_empty() => {
                    return Err((out.len(), 13, "Event field cannot be blank"));
                }
                Some(_) => out.push(v),
            },
        }
    }
    Ok(out)
}

fn parse_raw(body: &[u8]) -> Result<Vec<Value>, (usize, u32, &'static str)> {
    let text = std::str::from_utf8(body).map_err(|_| (0, 6, "Invalid data format"))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| json!({ "event": l }))
        .collect())
}

/// [`parse_events`] without building or keeping a tree: every event's JSON is still read in full
/// (syntax errors are code 6) and its `event` field checked (missing or null: 12, blank: 13), and
/// events are counted by their real object boundaries.
fn count_events(body: &[u8]) -> Result<usize, (usize, u32, &'static str)> {
    let mut n = 0;
    for v in serde_json::Deserializer::from_slice(body).into_iter::<Envelope>() {
        match v {
            Err(_) => return Err((n, 6, "Invalid data format")),
            Ok(Envelope::NoEvent) => return Err((n, 12, "Event field is required")),
            Ok(Envelope::BlankEvent) => return Err((n, 13, "Event field cannot be blank")),
            Ok(Envelope::Ok) => n += 1,
        }
    }
    Ok(n)
}

/// [`parse_raw`], counting the lines.
fn count_raw(body: &[u8]) -> Result<usize, (usize, u32, &'static str)> {
    let text = std::str::from_utf8(body).map_err(|_| (0, 6, "Invalid data format"))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).count())
}

/// What [`count_events`] needs to know of one envelope.
enum Envelope {
    Ok,
    NoEvent,
    BlankEvent,
}

impl<'de> serde::Deserialize<'de> for Envelope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};

        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = Envelope;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a HEC event object")
            }
            // Anything but an object has no `event` (code 12, as `parse_events`).
            fn visit_unit<E>(self) -> Result<Envelope, E> {
                Ok(Envelope::NoEvent)
            }
            fn visit_str<E>(self, _: &str) -> Result<Envelope, E> {
                Ok(Envelope::NoEvent)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Envelope, E> {
                Ok(Envelope::NoEvent)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Envelope, E> {
                Ok(Envelope::NoEvent)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Envelope, E> {
                Ok(Envelope::NoEvent)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Envelope, E> {
                Ok(Envelope::NoEvent)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Envelope, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Envelope::NoEvent)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
                let mut out = Envelope::NoEvent;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Event => out = map.next_value::<EventValue>()?.0,
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(EnvelopeVisitor)
    }
}

/// An object key: `event` or anything else, compared without allocating.
enum Key {
    Event,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(if s == "event" { Key::Event } else { Key::Other })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The `event` value, read in full: null is "required", `""` is "blank".
struct EventValue(Envelope);

impl<'de> serde::Deserialize<'de> for EventValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = EventValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event")
            }
            fn visit_unit<E>(self) -> Result<EventValue, E> {
                Ok(EventValue(Envelope::NoEvent))
            }
            fn visit_str<E>(self, s: &str) -> Result<EventValue, E> {
                Ok(EventValue(if s.is_empty() {
                    Envelope::BlankEvent
                } else {
                    Envelope::Ok
                }))
            }
            fn visit_bool<E>(self, _: bool) -> Result<EventValue, E> {
                Ok(EventValue(Envelope::Ok))
            }
            fn visit_i64<E>(self, _: i64) -> Result<EventValue, E> {
                Ok(EventValue(Envelope::Ok))
            }
            fn visit_u64<E>(self, _: u64) -> Result<EventValue, E> {
                Ok(EventValue(Envelope::Ok))
            }
            fn visit_f64<E>(self, _: f64) -> Result<EventValue, E> {
                Ok(EventValue(Envelope::Ok))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(EventValue(Envelope::Ok))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(EventValue(Envelope::Ok))
            }
        }
        d.deserialize_any(ValueVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both modes agree on counts and on the first bad event's number and code.
    #[test]
    fn counting_mode_matches_parsing_mode() {
        let cases: [&[u8]; 9] = [
            br#"{"event":"a"}[1]"#,
            br#"{"event":"a"} 7"#,
            br#"{"event":{"a":"}{"},"time":1}{"event":"x","fields":{"k":[1,2]}}"#,
            b"{\"event\":\"a\\\"}\"} \n {\"event\":[1]}\n{\"event\":3.5}",
            br#"{"event":"a"}{"time":1}"#,
            br#"{"event":"a"}{"event":null}"#,
            br#"{"event":"a"}{"event":""}"#,
            br#"{"event":"a"}{"event":"b""#,
            b"",
        ];
        for body in cases {
            let parsed = parse_events(body).map(|v| v.len());
            assert_eq!(
                count_events(body),
                parsed,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(count_events(br#"{"event":{"x":1}}{"event":2}"#), Ok(2));
        let raw = b"a\n\n  \nb\r\nc";
        assert_eq!(count_raw(raw), parse_raw(raw).map(|v| v.len()));
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;
    use crate::http::PAGE_PATH;
    use bytes::Bytes;
    use hyper::HeaderMap;
    use std::io::Write;

    const TOKEN: &str = "00000000-0000-0000-0000-000000000001";

    fn peer(ack: bool) -> (Mutex<State>, HecPeerOptions) {
        let st = State {
            base: "http://127.0.0.1:9".into(),
            ..Default::default()
        };
        let opts = HecPeerOptions {
            ack,
            ..Default::default()
        };
        (Mutex::new(st), opts)
    }

    fn req(path: &str, body: &[u8], gzip: bool) -> Req {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Splunk {TOKEN}").parse().unwrap());
        headers.insert("x-splunk-request-channel", "ch-1".parse().unwrap());
        let body = if gzip {
            headers.insert("content-encoding", "gzip".parse().unwrap());
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(body).unwrap();
            enc.finish().unwrap()
        } else {
            body.to_vec()
        };
        Req {
            method: "POST".into(),
            path: path.into(),
            query: String::new(),
            headers,
            body: Bytes::from(body),
        }
    }

    fn json(r: &Reply) -> Value {
        serde_json::from_str(&r.body).unwrap()
    }

    /// Splunk accepts gzip on every endpoint: an ack poll sent gzipped is answered as a plain
    /// one (before, the peer read the compressed bytes as JSON and answered no acks at all).
    #[test]
    fn ack_polls_may_be_gzipped() {
        let (st, opts) = peer(true);
        let sent = answer(
            &st,
            &opts,
            req("/services/collector/event", br#"{"event":"a"}"#, true),
        );
        assert_eq!(json(&sent)["ackId"], 0);
        for gzip in [true, false] {
            // Unknown id 9 stays false; 0 is true the first time it is asked for.
            let r = answer(
                &st,
                &opts,
                req("/services/collector/ack", br#"{"acks":[0,9]}"#, gzip),
            );
            assert_eq!(r.status, 200);
            assert_eq!(json(&r)["acks"]["9"], false, "gzip={gzip}");
            assert_eq!(json(&r)["acks"]["0"], gzip, "gzip={gzip}");
        }
        // A body that is not the documented `{"acks":[…]}`: invalid data format.
        let r = answer(&st, &opts, req("/services/collector/ack", b"acks", false));
        assert_eq!((r.status, json(&r)["code"].as_u64()), (400, Some(6)));
    }

    /// Each endpoint also answers under its `/1.0` alias.
    #[test]
    fn versioned_paths_are_the_same_endpoints() {
        let (st, opts) = peer(true);
        for path in [
            "/services/collector/health",
            "/services/collector/health/1.0",
        ] {
            let r = answer(&st, &opts, req(path, b"", false));
            assert_eq!(
                (r.status, json(&r)["code"].as_u64()),
                (200, Some(17)),
                "{path}"
            );
        }
        let r = answer(
            &st,
            &opts,
            req("/services/collector/event/1.0", br#"{"event":"e"}"#, false),
        );
        assert_eq!(json(&r)["code"], 0);
        let r = answer(
            &st,
            &opts,
            req(
                "/services/collector/raw/1.0",
                b"line one\nline two\n",
                false,
            ),
        );
        assert_eq!(json(&r)["code"], 0);
        let r = answer(
            &st,
            &opts,
            req("/services/collector/ack/1.0", br#"{"acks":[1]}"#, false),
        );
        assert_eq!(json(&r)["acks"]["1"], true);
        assert_eq!(st.lock().unwrap().event_count, 3);
        let r = answer(&st, &opts, req("/services/collector/nope", b"", false));
        assert_eq!(r.status, 404);
    }

    /// What a proxy answers instead of HEC: a 200 HTML page, or a redirect to one.
    #[test]
    fn impostor_modes_answer_like_a_proxy_and_index_nothing() {
        let (st, opts) = peer(false);
        st.lock().unwrap().impostor = Some(Impostor::HtmlPage);
        let r = answer(
            &st,
            &opts,
            req("/services/collector/event", br#"{"event":"e"}"#, false),
        );
        assert_eq!(r.status, 200);
        assert!(r.body.contains("<html>") && r.content_type.starts_with("text/html"));
        let r = answer(&st, &opts, req("/services/collector/health", b"", false));
        assert!(r.body.contains("<html>"));

        st.lock().unwrap().impostor = Some(Impostor::Redirect);
        let r = answer(
            &st,
            &opts,
            req("/services/collector/event", br#"{"event":"e"}"#, false),
        );
        assert_eq!(r.status, 302);
        assert_eq!(
            r.location.as_deref(),
            Some(format!("http://127.0.0.1:9{PAGE_PATH}").as_str())
        );
        let page = answer(&st, &opts, req(PAGE_PATH, b"", false));
        assert_eq!(page.status, 200);
        assert_eq!(st.lock().unwrap().event_count, 0);

        st.lock().unwrap().impostor = None;
        let r = answer(
            &st,
            &opts,
            req("/services/collector/event", br#"{"event":"e"}"#, false),
        );
        assert_eq!(json(&r)["code"], 0);
        assert_eq!(st.lock().unwrap().event_count, 1);
    }
}
