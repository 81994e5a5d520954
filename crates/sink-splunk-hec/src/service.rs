//! HTTP to the collector: posting a body, polling acks, the health endpoint, and the table that
//! turns an HTTP status plus HEC code into what the sink does next.
//!
//! Only HEC's own answer is an acceptance: a 2xx whose body is JSON with `code` 0. A 2xx without
//! it (a proxy's HTML page) and any 3xx (redirects are not followed) are errors that keep the
//! data. Answers are read up to 64 KiB and quoted in errors as a short excerpt.

use bytes::Bytes;
use std::collections::HashMap;
use std::fmt;

use entrastream_secret::Secret;
use entrastream_sink::{BuildError, SinkError};
use entrastream_sink_http::{client_builder, excerpt, read_bounded, redirect_reason};
use serde_json::Value;

use crate::config::{Config, HecApi};
use entrastream_entra::Schema;

/// What one answer means for the records of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Accepted (with its ackId when indexer acknowledgement is on).
    Accepted(Option<u64>),
    /// Transient: keep the data, retry with backoff (500/8, 503/9,18–20, 429, 408, network).
    Retry(String),
    /// Needs an operator (401/403, codes 1–4, 7, 14, 16, 10/11, 21/22): keep the data, pause,
    /// alert. The text names the fix.
    Operator(String),
    /// 400 code 6 (or 12/13/15) naming the bad event: reject it, resend the others.
    InvalidEvent {
        /// Position of the bad event inside the request.
        number: usize,
        /// Splunk's text and code.
        reason: String,
    },
    /// A data error without an event number: bisect the request.
    BadData(String),
    /// 413: split the request.
    TooLarge,
}

/// Classifies an answer by HTTP status and HEC `code`.
pub fn classify(status: u16, body: &str) -> Class {
    classify_with_code(status, body).0
}

/// [`classify`], plus the HEC `code` of the body (for the per-code request metrics), from one
/// parse of the body.
pub fn classify_with_code(status: u16, body: &str) -> (Class, Option<u64>) {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = v.get("code").and_then(Value::as_u64);
    (classify_answer(status, code, &v, body), code)
}

fn classify_answer(status: u16, code: Option<u64>, v: &Value, body: &str) -> Class {
    let what = match code {
        Some(c) => {
            let text = v.get("text").and_then(Value::as_str).unwrap_or("");
            format!("HTTP {status}, HEC code {c}: {}", excerpt(text))
        }
        None => format!("HTTP {status}: {}", excerpt(body)),
    };
    if (200..300).contains(&status) {
        if code == Some(0) {
            return Class::Accepted(v.get("ackId").and_then(Value::as_u64));
        }
        // A proxy's or load balancer's page, or another service at this URL: Splunk has not
        // said it took the data, so it is kept and resent.
        return Class::Operator(format!(
            "{what} — this is not HEC's success answer (a JSON body with code 0), so nothing counts as delivered: something other than Splunk HEC answers at this endpoint (a proxy, a load balancer's page, a wrong port or path); check endpoint and proxies"
        ));
    }
    if (300..400).contains(&status) {
        return Class::Operator(redirect_reason(status, "Splunk HEC"));
    }
    match (status, code) {
        (413, _) => Class::TooLarge,
        (_, Some(1..=4 | 21 | 22)) | (401 | 403, _) => auth_class(status, code, &what),
        (_, Some(7)) => Class::Operator(format!(
            "{what} — the index does not exist or the token may not write to it: fix `index` or the token's allowed indexes"
        )),
        (_, Some(14)) => Class::Operator(format!(
            "{what} — indexer acknowledgement is disabled on this token: set indexer_ack = false or enable useACK on the token"
        )),
        (_, Some(16)) => Class::Operator(format!(
            "{what} — query-string authentication is disabled: use header authentication"
        )),
        (_, Some(10 | 11)) => Class::Operator(format!(
            "{what} — the token requires a valid request channel: check indexer_ack matches the token's useACK"
        )),
        (400, Some(6 | 12 | 13 | 15)) => {
            match v.get("invalid-event-number").and_then(Value::as_u64) {
                Some(n) => Class::InvalidEvent {
                    number: n as usize,
                    reason: format!("Splunk HEC rejected the event: {what}"),
                },
                None => Class::BadData(what),
            }
        }
        (400, Some(5)) => Class::BadData(what),
        // Any other 400 (no HEC code, or one not above) and 431 are about the request's content:
        // bisected down to the one record, which is dead-lettered.
        (400 | 431, _) => Class::BadData(what),
        (500 | 502 | 503 | 504 | 429 | 408, _) => Class::Retry(what),
        // Anything else (unknown codes, proxies' pages): never drop data on a guess.
        _ => Class::Retry(what),
    }
}

fn auth_class(status: u16, code: Option<u64>, what: &str) -> Class {
    let fix = match (status, code) {
        (_, Some(1 | 22)) => {
            "the HEC token is disabled: enable it in Splunk (Settings > Data inputs > HTTP Event Collector) or set a new token"
        }
        (_, Some(2)) => "no token was sent: set token / token_env / token_file",
        (_, Some(3)) => {
            "the Authorization header was refused: check token and any proxy in between"
        }
        _ => {
            "the HEC token is invalid or was revoked: set a valid token (token_env / token_file) and restart"
        }
    };
    Class::Operator(format!("{what} — {fix}"))
}

/// A transport failure (no HTTP answer).
#[derive(Debug)]
pub struct Transport(pub String);

/// The HTTP client bound to one collector, one token and one channel.
#[derive(Clone)]
pub struct HecService {
    client: reqwest::Client,
    base: String,
    token: Secret,
    channel: String,
    data_url: String,
    gzip: bool,
}

impl fmt::Debug for HecService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HecService")
            .field("endpoint", &self.base)
            .field("token", &self.token)
            .field("channel", &self.channel)
            .finish()
    }
}

fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl HecService {
    /// A client for these settings; the channel GUID is new for every sink instance.
    pub fn new(name: &str, schema: Schema, cfg: &Config) -> Result<Self, BuildError> {
        let mut b = client_builder(cfg.request_timeout).pool_max_idle_per_host(cfg.concurrency + 1);
        if let Some(ca) = &cfg.tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| BuildError::File(format!("tls.ca_file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| BuildError::File(format!("tls.ca_file {}: {e}", ca.display())))?;
            b = b.tls_certs_merge([cert]);
        }
        if cfg.tls.insecure_skip_verify {
            tracing::warn!(
                sink = %name,
                "tls.insecure_skip_verify is set: the Splunk certificate is NOT verified; anyone on the path can read the token and the logs"
            );
            b = b.tls_danger_accept_invalid_certs(true);
        }
        let client = b
            .build()
            .map_err(|e| BuildError::Client(format!("HTTP client: {e}")))?;
        let base = cfg.endpoint.trim_end_matches('/').to_string();
        let channel = uuid::Uuid::new_v4().to_string();
        let data_url = match cfg.api {
            HecApi::Event => format!("{base}/services/collector/event"),
            HecApi::Raw => {
                let mut q = vec![format!("channel={channel}")];
                q.push(format!(
                    "sourcetype={}",
                    query_escape(cfg.effective_sourcetype(schema))
                ));
                for (k, v) in [
                    ("source", &cfg.source),
                    ("host", &cfg.host),
                    ("index", &cfg.index),
                ] {
                    if let Some(v) = v {
                        q.push(format!("{k}={}", query_escape(v)));
                    }
                }
                format!("{base}/services/collector/raw?{}", q.join("&"))
            }
        };
        let service = HecService {
            client,
            base,
            token: cfg.token.clone(),
            channel,
            data_url,
            gzip: cfg.gzip,
        };
        service.check_request_builds()?;
        Ok(service)
    }

    /// Builds (without sending) a data request, so that an endpoint or token the HTTP client
    /// refuses (a line break in a token file, a space in the URL) stops the start with what to
    /// fix instead of failing every request. No HEC header or query value comes from the data.
    fn check_request_builds(&self) -> Result<(), BuildError> {
        if reqwest::Url::parse(&self.data_url).is_err() {
            return Err(BuildError::Config(
                "endpoint is not a valid URL: set it as https://host:8088".into(),
            ));
        }
        self.client
            .post(&self.data_url)
            .header("Authorization", self.auth())
            .header("X-Splunk-Request-Channel", &self.channel)
            .build()
            .map(drop)
            .map_err(|_| {
                BuildError::Config("the token holds a character an HTTP header cannot carry (a line break, a control character or non-ASCII text): fix token / token_env / token_file (value not shown)".to_string())
            })
    }

    /// The request channel of this sink instance.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    fn auth(&self) -> String {
        format!("Splunk {}", self.token.expose())
    }

    /// Posts one body (uncompressed; gzipped here when configured). Returns status and text,
    /// and the number of bytes put on the wire.
    pub async fn post(&self, body: Bytes) -> Result<(u16, String, usize), Transport> {
        let (payload, gz) = if self.gzip {
            // On the blocking pool: the `concurrency` requests of a send compress in parallel.
            let z = entrastream_sink_http::gzip_off_task(body)
                .await
                .map_err(|e| Transport(e.to_string()))?;
            (Bytes::from(z), true)
        } else {
            (body, false)
        };
        let wire = payload.len();
        let mut req = self
            .client
            .post(&self.data_url)
            .header("Authorization", self.auth())
            .header("X-Splunk-Request-Channel", &self.channel)
            .header("Content-Type", "application/json");
        if gz {
            req = req.header("Content-Encoding", "gzip");
        }
        let resp = req.body(payload).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let text = read_bounded(resp).await.text;
        Ok((status, text, wire))
    }

    /// Asks which of `ids` are indexed. Unknown ids count as not yet.
    pub async fn poll_acks(&self, ids: &[u64]) -> Result<HashMap<u64, bool>, String> {
        let body = serde_json::json!({ "acks": ids }).to_string();
        let resp = self
            .client
            .post(format!("{}/services/collector/ack", self.base))
            .header("Authorization", self.auth())
            .header("X-Splunk-Request-Channel", &self.channel)
            .body(body)
            .send()
            .await
            .map_err(|e| transport(e).0)?;
        let status = resp.status().as_u16();
        let text = read_bounded(resp).await.text;
        if status != 200 {
            return Err(match classify(status, &text) {
                Class::Operator(m) | Class::Retry(m) | Class::BadData(m) => m,
                other => format!("ack poll: {other:?}"),
            });
        }
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("ack poll: {e}"))?;
        let mut out = HashMap::new();
        if let Some(map) = v.get("acks").and_then(Value::as_object) {
            for (k, v) in map {
                if let Ok(id) = k.parse() {
                    out.insert(id, v.as_bool().unwrap_or(false));
                }
            }
        }
        Ok(out)
    }

    /// `GET /services/collector/health`: Ok when HEC answers healthy (200 with HEC code 17;
    /// a 200 without it is another server's page). The error says what to fix.
    pub async fn health(&self) -> Result<(), SinkError> {
        let resp = self
            .client
            .get(format!("{}/services/collector/health", self.base))
            .send()
            .await
            .map_err(|e| SinkError::Unreachable(format!("unreachable: {}", transport(e).0)))?;
        let status = resp.status().as_u16();
        let text = read_bounded(resp).await.text;
        let code = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("code").and_then(Value::as_u64));
        match (status, code) {
            (200, Some(17)) => Ok(()),
            (300..=399, _) => Err(SinkError::Refused(redirect_reason(
                status,
                "the HEC health endpoint",
            ))),
            (200..=299, _) => Err(SinkError::Refused(format!(
                "the health endpoint answered HTTP {status} without HEC's health answer (code 17): {} — something other than Splunk HEC answers at this endpoint (a proxy, a wrong port or path); check endpoint and proxies",
                excerpt(&text)
            ))),
            _ => Err(SinkError::Refused(format!(
                "health endpoint answered HTTP {status} {} — HEC reports itself unhealthy (queues full or disabled)",
                excerpt(&text)
            ))),
        }
    }

    /// An authenticated, ack-less probe: an empty POST. HEC checks the token before the body,
    /// so code 5 ("No data") proves the token is valid without indexing anything.
    /// Error: (false when the token was refused, what to fix).
    pub async fn auth_probe(&self) -> Result<(), (Option<bool>, SinkError)> {
        let resp = self
            .client
            .post(format!("{}/services/collector/event", self.base))
            .header("Authorization", self.auth())
            .header("X-Splunk-Request-Channel", &self.channel)
            .body(Vec::new())
            .send()
            .await
            .map_err(|e| {
                let m = format!("unreachable: {}", transport(e).0);
                (None, SinkError::Unreachable(m))
            })?;
        let status = resp.status().as_u16();
        let text = read_bounded(resp).await.text;
        let (class, code) = classify_with_code(status, &text);
        // Only HEC's own answers prove the token: "No data" (400, code 5) for the empty body,
        // or a success. Any other 400 (a proxy's page) proves nothing.
        let token_refused = matches!(status, 401 | 403) || matches!(code, Some(1..=4 | 21 | 22));
        match class {
            Class::Accepted(_) => Ok(()),
            Class::BadData(_) if status == 400 && code == Some(5) => Ok(()),
            Class::Operator(m) if token_refused => Err((Some(false), SinkError::Refused(m))),
            Class::Operator(m) | Class::Retry(m) | Class::BadData(m) => {
                Err((None, SinkError::Refused(m)))
            }
            other => Err((None, SinkError::Refused(format!("{other:?}")))),
        }
    }
}

fn transport(e: reqwest::Error) -> Transport {
    Transport(entrastream_sink_http::transport_error(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(
            classify(200, r#"{"text":"Success","code":0,"ackId":7}"#),
            Class::Accepted(Some(7))
        );
        assert!(matches!(
            classify(503, r#"{"text":"Server is busy","code":9}"#),
            Class::Retry(_)
        ));
        assert!(matches!(classify(500, r#"{"code":8}"#), Class::Retry(_)));
        assert!(matches!(classify(503, r#"{"code":19}"#), Class::Retry(_)));
        assert!(matches!(classify(429, ""), Class::Retry(_)));
        assert!(matches!(classify(408, ""), Class::Retry(_)));
        assert!(matches!(classify(413, ""), Class::TooLarge));
        for (s, c) in [
            (403, 1),
            (401, 2),
            (401, 3),
            (403, 4),
            (400, 7),
            (400, 14),
            (400, 16),
        ] {
            let body = format!(r#"{{"text":"x","code":{c}}}"#);
            assert!(matches!(classify(s, &body), Class::Operator(_)), "{s} {c}");
        }
        assert!(matches!(classify(403, ""), Class::Operator(_)));
        assert_eq!(
            classify(
                400,
                r#"{"text":"Invalid data format","code":6,"invalid-event-number":3}"#
            ),
            Class::InvalidEvent {
                number: 3,
                reason: "Splunk HEC rejected the event: HTTP 400, HEC code 6: Invalid data format"
                    .into()
            }
        );
        assert!(matches!(classify(400, r#"{"code":6}"#), Class::BadData(_)));
    }

    /// Only a JSON body with code 0 is an acceptance; 3xx are errors; a 400 without a HEC code
    /// (or with one not in the table) and a 431 are about the content (bisected, then
    /// dead-lettered), not retried forever.
    #[test]
    fn only_code_0_accepts_and_content_refusals_bisect() {
        for body in [
            "",
            "<html>Sign in</html>",
            r#"{"text":"x"}"#,
            r#"{"code":17}"#,
        ] {
            match classify(200, body) {
                Class::Operator(m) => assert!(m.contains("not HEC's success answer"), "{m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        assert_eq!(
            classify(200, r#"{"text":"Success","code":0}"#),
            Class::Accepted(None)
        );
        assert_eq!(
            classify(204, r#"{"code":0,"ackId":3}"#),
            Class::Accepted(Some(3))
        );
        for s in [301, 302, 307, 308] {
            match classify(s, "") {
                Class::Operator(m) => assert!(m.contains("redirect"), "{m}"),
                other => panic!("{s}: {other:?}"),
            }
        }
        assert!(matches!(
            classify(400, "<html>Bad Request</html>"),
            Class::BadData(_)
        ));
        assert!(matches!(classify(400, r#"{"code":99}"#), Class::BadData(_)));
        assert!(matches!(classify(431, ""), Class::BadData(_)));
        // Configuration codes on a 400 stay operator errors.
        assert!(matches!(classify(400, r#"{"code":7}"#), Class::Operator(_)));
        assert!(matches!(
            classify(400, r#"{"code":10}"#),
            Class::Operator(_)
        ));
        // A huge body is quoted as a short excerpt.
        match classify(502, &"<p>gateway</p>\n".repeat(10_000)) {
            Class::Retry(m) => assert!(m.len() < 400, "{}", m.len()),
            other => panic!("{other:?}"),
        }
    }
}
