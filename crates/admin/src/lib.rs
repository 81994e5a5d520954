//! The admin HTTP server: `/metrics` (Prometheus text format), `/livez`, `/readyz` and
//! `/status` (JSON).
//!
//! Design decision: a deliberately tiny HTTP/1.1 responder on a tokio `TcpListener` (one
//! request per connection, `Connection: close`) instead of a web framework: four GET routes
//! scraped by Prometheus and probed by Kubernetes need no routing, TLS or keep-alive, and this
//! keeps the dependency tree and build time of the daemon small. Requests are bounded (8 KiB
//! head, 5 s to send it, 10 s to take the answer, 64 connections at once; see [`Limits`]) so a
//! slow or hostile client cannot hold resources: a connection past the limit waits in the
//! kernel's accept backlog, costing the daemon no task and no memory.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use entrastream_telemetry::{Health, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Produces the `/status` document.
pub type StatusFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// What the server serves.
#[derive(Clone)]
pub struct AdminState {
    /// Metrics registry root.
    pub metrics: Metrics,
    /// Readiness state.
    pub health: Health,
    /// `/status` producer.
    pub status: StatusFn,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}

/// Binds the listener (fails early on a taken port).
pub async fn bind(listen: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(listen).await
}

/// How much one client may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time to send the request head; then the connection is closed unanswered.
    pub read_timeout: Duration,
    /// Time to take the whole answer (a client that never reads `/metrics` is dropped).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Prometheus, two probes and an operator's curl need a handful.
            max_connections: 64,
            read_timeout: Duration::from_secs(5),
            // A scrape of a few hundred KiB takes milliseconds on any network.
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves until `shutdown` becomes true, with the default [`Limits`].
pub async fn serve(listener: TcpListener, state: AdminState, shutdown: watch::Receiver<bool>) {
    serve_with(listener, state, shutdown, Limits::default()).await
}

/// Serves until `shutdown` becomes true, holding at most `limits.max_connections` at once.
pub async fn serve_with(
    listener: TcpListener,
    state: AdminState,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A slot first, then a connection: past the limit, clients wait in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return, // never closed
            },
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
                continue;
            }
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    tokio::spawn(async move {
                        let _slot = permit;
                        if let Err(e) = handle(stream, &state, limits).await {
                            tracing::debug!(error = %e, "admin request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

/// The local address of a listener, for logs and tests.
pub fn local_addr(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}

async fn handle(mut stream: TcpStream, state: &AdminState, limits: Limits) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    if tokio::time::timeout(limits.read_timeout, read_head)
        .await
        .is_err()
    {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    let (status, content_type, body) = route(method, path, state);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        if method != "HEAD" {
            stream.write_all(body.as_bytes()).await?;
        }
        stream.shutdown().await
    };
    match tokio::time::timeout(limits.write_timeout, write).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client did not take the answer in time; connection dropped",
        )),
    }
}

fn route(method: &str, path: &str, state: &AdminState) -> (&'static str, &'static str, String) {
    if method != "GET" && method != "HEAD" {
        return (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".into(),
        );
    }
    match path {
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(),
        ),
        "/livez" => ("200 OK", "text/plain", "ok\n".into()),
        "/readyz" => match state.health.ready() {
            Ok(()) => ("200 OK", "text/plain", "ready\n".into()),
            Err(bad) => {
                let mut body = String::from("not ready\n");
                for (component, reason) in bad {
                    body.push_str(&format!("{component}: {reason}\n"));
                }
                ("503 Service Unavailable", "text/plain", body)
            }
        },
        "/status" => ("200 OK", "application/json", (state.status)().to_string()),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn routes() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = local_addr(&listener).unwrap();
        let state = AdminState {
            metrics: Metrics::new(),
            health: Health::new(),
            status: Arc::new(|| serde_json::json!({"ok": true})),
        };
        let health = state.health.clone();
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, state, rx));
        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        health.set("sink:file", Err("disk full".into()));
        let r = get(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("sink:file: disk full"),
            "{r}"
        );
        assert!(
            get(addr, "/metrics")
                .await
                .contains("entrastream_in_flight_bytes")
        );
        assert!(get(addr, "/status").await.contains("{\"ok\":true}"));
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
        tx.send(true).unwrap();
        server.await.unwrap();
    }

    fn state_with_big_metrics() -> AdminState {
        let metrics = Metrics::new();
        // ~100k series: an answer far larger than the socket buffers can absorb.
        for i in 0..100_000 {
            metrics
                .messages_in
                .with_label_values(&["a-topic-with-a-long-name-for-a-big-scrape", &i.to_string()])
                .inc();
        }
        AdminState {
            metrics,
            health: Health::new(),
            status: Arc::new(|| serde_json::json!({})),
        }
    }

    /// A client that asks for `/metrics` and then does not read: the server gives up on it
    /// after the write timeout and closes, so the rest of the answer never arrives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = local_addr(&listener).unwrap();
        let state = state_with_big_metrics();
        let full = state.metrics.render().len();
        assert!(full > 8 << 20, "scrape of {full} bytes");
        let limits = Limits {
            max_connections: 4,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_millis(300),
        };
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve_with(listener, state, rx, limits));
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), async {
            let mut chunk = vec![0u8; 1 << 16];
            loop {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "the server never closed the connection");
        assert!(
            got.len() < full,
            "got the whole answer ({} bytes) long after the write timeout",
            got.len()
        );
        tx.send(true).unwrap();
        server.await.unwrap();
    }

    /// Connections past the limit wait until a slot frees; clients that never send a request
    /// free their slot after the read timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_are_bounded_and_silent_clients_time_out() {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = local_addr(&listener).unwrap();
        let state = AdminState {
            metrics: Metrics::new(),
            health: Health::new(),
            status: Arc::new(|| serde_json::json!({})),
        };
        let limits = Limits {
            max_connections: 4,
            read_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
        };
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve_with(listener, state, rx, limits));
        // Many clients that connect and never send anything.
        let mut silent = Vec::new();
        for _ in 0..40 {
            silent.push(TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // While they hold every slot, a real request is not served...
        let probe = tokio::spawn(async move { get(addr, "/livez").await });
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(!probe.is_finished(), "served past the connection limit");
        // ...and once the read timeout has freed the slots (the silent clients are dropped
        // in waves of four), it is.
        let answer = tokio::time::timeout(Duration::from_secs(60), probe)
            .await
            .expect("silent clients held their slots forever")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        drop(silent);
        tx.send(true).unwrap();
        server.await.unwrap();
    }
}
