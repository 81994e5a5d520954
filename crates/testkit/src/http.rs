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

pub(crate) type Handler = Arc<dyn Fn(Req) -> (u16, String) + Send + Sync>;

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
    let (status, text) = h(r);
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Decodes a gzip body when the request says so.
pub(crate) fn decoded_body(req: &Req) -> Result<Vec<u8>, String> {
    let gz = req
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if !gz {
        return Ok(req.body.to_vec());
    }
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&req.body[..])
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip: {e}"))?;
    Ok(out)
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
