//! A peer that answers like Splunk's HTTP Event Collector (event, raw, ack and health endpoints).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Control, Failure, Handler, Req, decoded_body, serve};

/// How the peer is set up.
#[derive(Debug, Clone)]
pub struct HecPeerOptions {
    /// The only valid token.
    pub token: String,
    /// Indexer acknowledgement on (the channel header becomes mandatory).
    pub ack: bool,
    /// Largest accepted request body in bytes (after gzip decoding), else 413.
    pub max_content_length: usize,
}

impl Default for HecPeerOptions {
    fn default() -> Self {
        HecPeerOptions {
            token: "00000000-0000-0000-0000-000000000001".into(),
            ack: false,
            max_content_length: 1_000_000,
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
    failure: Option<Failure>,
    acks: HashMap<String, BTreeMap<u64, AckState>>,
    next_ack: HashMap<String, u64>,
    lose_next_acks: usize,
    ack_delay: Duration,
    stats: HecStats,
    channels: Vec<String>,
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
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// Number of indexed events.
    pub fn event_count(&self) -> usize {
        self.lock().events.len()
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

fn answer(state: &Mutex<State>, opts: &HecPeerOptions, req: Req) -> (u16, String) {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    let path = req.path.trim_end_matches('/');
    let is_data = matches!(
        path,
        "/services/collector/event" | "/services/collector" | "/services/collector/raw"
    );
    let r = answer_inner(&mut st, opts, &req, path);
    if is_data {
        *st.stats.by_status.entry(r.0).or_default() += 1;
    }
    r
}

fn answer_inner(st: &mut State, opts: &HecPeerOptions, req: &Req, path: &str) -> (u16, String) {
    if let Some(f) = Failure::active(&st.failure) {
        return f;
    }
    if path == "/services/collector/health" {
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
    match path {
        "/services/collector/ack" => {
            st.stats.ack_polls += 1;
            if !opts.ack {
                return reply(400, "ACK is disabled", 14);
            }
            let Some(channel) = channel else {
                return reply(400, "Data channel is missing", 10);
            };
            let ids: Vec<u64> = serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v.get("acks").cloned())
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
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
        "/services/collector/event" | "/services/collector" | "/services/collector/raw" => {
            let raw = path.ends_with("/raw");
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
            let body = match decoded_body(req) {
                Ok(b) => b,
                Err(_) => return reply(400, "Invalid data format", 6),
            };
            st.stats.max_decoded_body = st.stats.max_decoded_body.max(body.len());
            if body.len() > opts.max_content_length {
                return reply(413, "Content length exceeds limit", 27);
            }
            let parsed = if raw {
                parse_raw(&body)
            } else {
                parse_events(&body)
            };
            let events = match parsed {
                Ok(e) if e.is_empty() => return reply(400, "No data", 5),
                Ok(e) => e,
                Err((n, code, text)) => {
                    return (
                        400,
                        json!({"text": text, "code": code, "invalid-event-number": n}).to_string(),
                    );
                }
            };
            st.events.extend(events);
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
        _ => reply(404, "The requested URL was not found on this server.", 404),
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
