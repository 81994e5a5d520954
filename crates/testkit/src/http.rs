//! A tiny loopback HTTP/1.1 server whose handler is synchronous, and which can stop accepting
//! (close its listening socket and every open connection) for a while.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// One request as a handler sees it (body already collected, not yet decompressed).
#[derive(Debug)]
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One answer: status, body, and its content type (`application/json` unless said otherwise)
/// and `Location` (for redirects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    pub location: Option<String>,
}

impl From<(u16, String)> for Reply {
    fn from((status, body): (u16, String)) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            location: None,
        }
    }
}

/// Answers that are not the collector's own, as a proxy, a load balancer or a wrong URL gives
/// them (switched on with the peers' `impersonate`): what a sink must never take for an
/// acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impostor {
    /// Every request is answered 200 with an HTML page (a proxy's login or maintenance page).
    HtmlPage,
    /// Every request is answered `302 Found` to [`PAGE_PATH`] on the same peer, which answers
    /// 200 with an HTML page (a redirect to a login page; a client that follows redirects
    /// ends on a 200).
    Redirect,
}

/// The path of the HTML page the peers always answer 200 on (the target of
/// [`Impostor::Redirect`]).
pub const PAGE_PATH: &str = "/entrastream-testkit/page";

const PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n<body><h1>Sign in to continue</h1>\n<form method=\"post\"><input name=\"user\"></form></body></html>\n";

impl Impostor {
    /// The impostor's answer to a request for `path` on the peer at `base`
    /// (`http://host:port`); the page itself is always served.
    pub(crate) fn reply(mode: Option<Impostor>, path: &str, base: &str) -> Option<Reply> {
        if path == PAGE_PATH {
            return Some(Impostor::page());
        }
        match mode? {
            Impostor::HtmlPage => Some(Impostor::page()),
            Impostor::Redirect => Some(Reply {
                status: 302,
                body: String::new(),
                content_type: "text/html",
                location: Some(format!("{base}{PAGE_PATH}")),
            }),
        }
    }

    fn page() -> Reply {
        Reply {
            status: 200,
            body: PAGE.into(),
            content_type: "text/html; charset=utf-8",
            location: None,
        }
    }
}

pub(crate) type Handler = Arc<dyn Fn(Req) -> Reply + Send + Sync>;

/// Shared switch: refuse connections until a deadline.
#[derive(Debug, Default)]
pub(crate) struct Control {
    down_until: Mutex<Option<Instant>>,
    notify: Notify,
}

impl Control {
    pub fn refuse_for(&self, d: Duration) {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + d);
        self.notify.notify_one();
    }
}

/// Starts the server on an ephemeral loopback port; returns its address.
pub(crate) async fn serve(handler: Handler, control: Arc<Control>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(accept_loop(listener, addr, handler, control));
    addr
}

async fn accept_loop(
    mut listener: TcpListener,
    addr: SocketAddr,
    handler: Handler,
    control: Arc<Control>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let h = handler.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let h = h.clone();
                        async move { Ok::<_, Infallible>(handle(h, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
            () = control.notify.notified() => {
                let until = *control.down_until.lock().unwrap_or_else(|e| e.into_inner());
                let Some(until) = until else { continue };
                drop(listener);
                conns.abort_all();
                tokio::time::sleep_until(until.into()).await;
                listener = loop {
                    match TcpListener::bind(addr).await {
                        Ok(l) => break l,
                        Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                };
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(h: Handler, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let r = Req {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body,
    };
    let reply = h(r);
    let mut b = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type);
    if let Some(l) = &reply.location {
        b = b.header("location", l);
    }
    b.body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Decodes a gzip (or, for `deflate = true`, a zlib `deflate`) body when the request says so.
pub(crate) fn decoded_body(req: &Req) -> Result<Vec<u8>, String> {
    decoded_body_with(req, false)
}

/// [`decoded_body`], also accepting `Content-Encoding: deflate` when `deflate` (Sumo Logic's
/// HTTP sources accept gzip and deflate; Splunk HEC documents gzip only).
pub(crate) fn decoded_body_with(req: &Req, deflate: bool) -> Result<Vec<u8>, String> {
    let encoding = req
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let gz = match encoding.as_deref() {
        None | Some("identity") => return Ok(req.body.to_vec()),
        Some("gzip") => true,
        Some("deflate") if deflate => false,
        Some(other) => return Err(format!("unsupported content encoding {other}")),
    };
    if !gz {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&req.body[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("bad deflate: {e}"))?;
        return Ok(out);
    }
    if let Some(out) = gunzip_whole(&req.body) {
        return Ok(out);
    }
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&req.body[..])
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip: {e}"))?;
    Ok(out)
}

/// The body decoded in one call by libdeflate, into a buffer of the size its gzip trailer
/// states (ISIZE). libdeflate checks the CRC-32 and that size, and is about 1.6× zlib-rs's
/// inflate: in the benchmarks the peer shares the two cores with the sink it measures, so its
/// CPU is the sink's loss. None when the trailer is missing or states more than 64 MiB, or
/// decoding fails: [`decoded_body`] then decodes with flate2, which gives the error text.
fn gunzip_whole(gz: &[u8]) -> Option<Vec<u8>> {
    let trailer: [u8; 4] = gz.get(gz.len().checked_sub(4)?..)?.try_into().ok()?;
    let size = u32::from_le_bytes(trailer) as usize;
    if size > 64 << 20 {
        return None;
    }
    let mut out = vec![0u8; size];
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(gz, &mut out)
        .ok()?;
    (n == size).then_some(out)
}

/// A status to answer until a deadline.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub until: Instant,
    pub status: u16,
    pub body: String,
}

impl Failure {
    pub fn active(f: &Option<Failure>) -> Option<(u16, String)> {
        f.as_ref()
            .filter(|f| Instant::now() < f.until)
            .map(|f| (f.status, f.body.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn gzip_request(body: Vec<u8>) -> Req {
        let mut headers = HeaderMap::new();
        headers.insert("content-encoding", "gzip".parse().unwrap());
        Req {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers,
            body: Bytes::from(body),
        }
    }

    #[test]
    fn gzip_bodies_decode_and_corrupt_ones_are_refused() {
        let data = b"{\"event\":\"x\"}\n".repeat(50_000);
        let z = gzip(&data);
        assert_eq!(gunzip_whole(&z).as_deref(), Some(&data[..]));
        assert_eq!(decoded_body(&gzip_request(z.clone())).unwrap(), data);
        assert_eq!(gunzip_whole(&gzip(b"")).as_deref(), Some(&b""[..]));

        // A wrong CRC-32, then a truncated member: neither decoder accepts them.
        let mut bad_crc = z.clone();
        let at = bad_crc.len() - 8;
        bad_crc[at] ^= 0xff;
        let truncated = z[..z.len() / 2].to_vec();
        for bad in [bad_crc, truncated, b"not gzip at all".to_vec()] {
            assert!(gunzip_whole(&bad).is_none());
            let err = decoded_body(&gzip_request(bad)).unwrap_err();
            assert!(err.starts_with("bad gzip"), "{err}");
        }
    }
}
