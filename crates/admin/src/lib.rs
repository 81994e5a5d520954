//! The admin HTTP server: `/metrics` (Prometheus text format), `/livez`, `/readyz` and
//! `/status` (JSON).
//!
//! Design decision: a deliberately tiny HTTP/1.1 responder on a tokio `TcpListener` (one
//! request per connection, `Connection: close`) instead of a web framework: four GET routes
//! scraped by Prometheus and probed by Kubernetes need no routing, TLS or keep-alive, and this
//! keeps the dependency tree and build time of the daemon small. Requests are bounded (8 KiB
//! head, 5 s read timeout) so a slow client cannot hold resources.
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

/// Serves until `shutdown` becomes true. Returns the bound address through the listener.
pub async fn serve(listener: TcpListener, state: AdminState, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = state.clone();
                    tokio::spawn(async move {
                        if let Err(e) = handle(stream, &state).await {
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

async fn handle(mut stream: TcpStream, state: &AdminState) -> std::io::Result<()> {
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
    if tokio::time::timeout(Duration::from_secs(5), read_head)
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
    stream.write_all(response.as_bytes()).await?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
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
}
