//! A peer that answers like a Sumo Logic HTTP source.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::http::{Control, Failure, Handler, Impostor, Reply, Req, decoded_body_with, serve};

/// The limit Sumo Logic documents for one request (uncompressed).
pub const SUMO_MAX_BYTES: usize = 1_000_000;

/// One accepted request.
#[derive(Debug, Clone)]
pub struct SumoRequest {
    /// The `X-Sumo-Category` header.
    pub category: Option<String>,
    /// The `X-Sumo-Name` header.
    pub name: Option<String>,
    /// The `X-Sumo-Host` header.
    pub host: Option<String>,
    /// The `X-Sumo-Fields` header.
    pub fields: Option<String>,
    /// The lines of the decoded body (empty when the peer does not keep them).
    pub lines: Vec<String>,
    /// Number of non-empty lines (in both modes).
    pub line_count: usize,
    /// Decoded size.
    pub decoded_len: usize,
}

/// How the peer is set up.
#[derive(Debug, Clone)]
pub struct SumoPeerOptions {
    /// Keep every accepted line for [`SumoPeer::lines`] (the default, for tests). `false` is
    /// the benchmark mode: bodies are still decoded, the 1 MB limit, the path and UTF-8 are
    /// still checked and lines counted, but no line is copied or kept.
    pub keep_lines: bool,
}

impl Default for SumoPeerOptions {
    fn default() -> Self {
        SumoPeerOptions { keep_lines: true }
    }
}

#[derive(Debug, Default)]
struct State {
    accepted: Vec<SumoRequest>,
    failure: Option<Failure>,
    oversize: u64,
    refused: u64,
    impostor: Option<Impostor>,
    /// Requests whose decoded body contains this are answered with this status.
    refuse_containing: Option<(String, u16)>,
    base: String,
}

/// A running Sumo HTTP source peer.
#[derive(Debug, Clone)]
pub struct SumoPeer {
    addr: SocketAddr,
    path: String,
    state: Arc<Mutex<State>>,
    control: Arc<Control>,
}

impl SumoPeer {
    /// Starts a peer; only `POST /receiver/v1/http/<secret>` is accepted (other paths: 401).
    pub async fn start(secret: &str) -> SumoPeer {
        SumoPeer::start_with(secret, SumoPeerOptions::default()).await
    }

    /// [`SumoPeer::start`] with options (benchmark mode: `keep_lines: false`).
    pub async fn start_with(secret: &str, opts: SumoPeerOptions) -> SumoPeer {
        let state = Arc::new(Mutex::new(State::default()));
        let control = Arc::new(Control::default());
        let path = format!("/receiver/v1/http/{secret}");
        let (s, p) = (state.clone(), path.clone());
        let handler: Handler = Arc::new(move |req| answer(&s, &p, opts.keep_lines, req));
        let addr = serve(handler, control.clone()).await;
        state.lock().unwrap_or_else(|e| e.into_inner()).base = format!("http://{addr}");
        SumoPeer {
            addr,
            path,
            state,
            control,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The full source URL (the secret).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// Answers with `status` (429 throttling, 503, 401 …) for a while.
    pub fn fail_for(&self, status: u16, d: Duration) {
        self.lock().failure = Some(Failure {
            until: Instant::now() + d,
            status,
            body: String::new(),
        });
    }

    /// From now on, every request is answered as `mode` says (`None`: as Sumo again).
    pub fn impersonate(&self, mode: Option<Impostor>) {
        self.lock().impostor = mode;
    }

    /// Answers `status` (400, 413, 431, …) to every request whose decoded body contains
    /// `needle` (a record the collector refuses for its content); `None` turns it off.
    pub fn refuse_requests_containing(&self, rule: Option<(&str, u16)>) {
        self.lock().refuse_containing = rule.map(|(n, s)| (n.to_string(), s));
    }

    /// Refuses connections for a while.
    pub fn refuse_connections_for(&self, d: Duration) {
        self.control.refuse_for(d);
    }

    /// Accepted requests.
    pub fn requests(&self) -> Vec<SumoRequest> {
        self.lock().accepted.clone()
    }

    /// Number of accepted lines (in both modes).
    pub fn line_count(&self) -> usize {
        self.lock().accepted.iter().map(|r| r.line_count).sum()
    }

    /// All accepted lines, in order.
    pub fn lines(&self) -> Vec<String> {
        self.lock()
            .accepted
            .iter()
            .flat_map(|r| r.lines.iter().cloned())
            .collect()
    }

    /// Requests refused because they were above 1 MB.
    pub fn oversize_requests(&self) -> u64 {
        self.lock().oversize
    }

    /// Requests answered with an error status.
    pub fn refused_requests(&self) -> u64 {
        self.lock().refused
    }
}

fn answer(state: &Mutex<State>, path: &str, keep_lines: bool, req: Req) -> Reply {
    // Decoding is the expensive part: done before the state lock is taken; used only when the
    // checks before it pass.
    let decoded = (req.path == path && req.method == "POST").then(|| decoded_body_with(&req, true));
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = Impostor::reply(st.impostor, &req.path, &st.base) {
        return r;
    }
    answer_inner(&mut st, keep_lines, &req, decoded).into()
}

fn answer_inner(
    st: &mut State,
    keep_lines: bool,
    req: &Req,
    decoded: Option<Result<Vec<u8>, String>>,
) -> (u16, String) {
    if let Some(f) = Failure::active(&st.failure) {
        st.refused += 1;
        return f;
    }
    let Some(decoded) = decoded else {
        st.refused += 1;
        return (401, String::new());
    };
    let body = match decoded {
        Ok(b) => b,
        Err(e) => return (400, e),
    };
    if body.len() > SUMO_MAX_BYTES {
        st.oversize += 1;
        return (413, "request above 1 MB".into());
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return (400, "not UTF-8".into());
    };
    if let Some((needle, status)) = &st.refuse_containing
        && text.contains(needle.as_str())
    {
        st.refused += 1;
        return (*status, "refused by the test's rule".into());
    }
    let h = |n: &str| {
        req.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let lines = text.lines().filter(|l| !l.is_empty());
    let (line_count, lines) = if keep_lines {
        let lines: Vec<String> = lines.map(str::to_string).collect();
        (lines.len(), lines)
    } else {
        (lines.count(), Vec::new())
    };
    st.accepted.push(SumoRequest {
        category: h("x-sumo-category"),
        name: h("x-sumo-name"),
        host: h("x-sumo-host"),
        fields: h("x-sumo-fields"),
        decoded_len: text.len(),
        lines,
        line_count,
    });
    (200, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::PAGE_PATH;
    use bytes::Bytes;
    use hyper::HeaderMap;
    use std::io::Write;

    const PATH: &str = "/receiver/v1/http/SECRET";

    fn state() -> Mutex<State> {
        Mutex::new(State {
            base: "http://127.0.0.1:9".into(),
            ..Default::default()
        })
    }

    fn req(body: Vec<u8>, encoding: Option<&str>) -> Req {
        let mut headers = HeaderMap::new();
        headers.insert("x-sumo-category", "azure/entra/signin".parse().unwrap());
        if let Some(e) = encoding {
            headers.insert("content-encoding", e.parse().unwrap());
        }
        Req {
            method: "POST".into(),
            path: PATH.into(),
            query: String::new(),
            headers,
            body: Bytes::from(body),
        }
    }

    /// Sumo's HTTP sources take gzip and deflate bodies; anything else is refused.
    #[test]
    fn gzip_deflate_and_plain_bodies_are_accepted() {
        let st = state();
        let lines = b"{\"a\":1}\n{\"a\":2}\n";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(lines).unwrap();
        let deflated = z.finish().unwrap();
        let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        g.write_all(lines).unwrap();
        let gzipped = g.finish().unwrap();
        for (body, enc) in [
            (lines.to_vec(), None),
            (deflated, Some("deflate")),
            (gzipped, Some("gzip")),
        ] {
            let r = answer(&st, PATH, true, req(body, enc));
            assert_eq!(r.status, 200, "{enc:?}");
        }
        let r = answer(&st, PATH, true, req(lines.to_vec(), Some("br")));
        assert_eq!(r.status, 400);
        let st = st.lock().unwrap();
        assert_eq!(st.accepted.len(), 3);
        assert!(st.accepted.iter().all(|r| r.line_count == 2));
    }

    #[test]
    fn refusal_rule_and_impostors() {
        let st = state();
        st.lock().unwrap().refuse_containing = Some(("poison".into(), 400));
        let r = answer(&st, PATH, true, req(b"ok\npoison\n".to_vec(), None));
        assert_eq!(r.status, 400);
        let r = answer(&st, PATH, true, req(b"ok\n".to_vec(), None));
        assert_eq!(r.status, 200);

        st.lock().unwrap().impostor = Some(Impostor::Redirect);
        let r = answer(&st, PATH, true, req(b"ok\n".to_vec(), None));
        assert_eq!(r.status, 302);
        assert_eq!(
            r.location.as_deref(),
            Some(format!("http://127.0.0.1:9{PAGE_PATH}").as_str())
        );
        st.lock().unwrap().impostor = Some(Impostor::HtmlPage);
        let r = answer(&st, PATH, true, req(b"ok\n".to_vec(), None));
        assert!(r.status == 200 && r.body.contains("<html>"));
        assert_eq!(st.lock().unwrap().accepted.len(), 1);
    }
}
