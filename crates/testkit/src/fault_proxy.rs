//! A TCP proxy that injects the connection faults production networks cause: connections reset
//! in the middle of a request, connections that go silent without a reset (a dropped route, a
//! NAT entry that expired), and latency spikes. The fault suite (`benches/examples/faults`)
//! places it between the daemon and the Kafka broker, and between the daemon and the HEC peer.
//!
//! Design decision: the mode is one shared value that every connection reads before it forwards
//! each chunk, so a mode change takes effect on open connections too, not only on new ones.
//! A connection that lost data to a blackhole stays silent for good (its byte stream has a hole,
//! so forwarding more would corrupt it): the client must notice by its own timeouts, as it would
//! have to in production.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// What the proxy does to the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// Forward everything unchanged.
    Pass,
    /// Forward the first half of the next chunk in either direction, then reset both sides
    /// (RST, not FIN): a connection cut in the middle of a request or answer.
    Reset,
    /// Accept and keep connections but forward nothing and close nothing.
    Blackhole,
    /// Deliver every chunk this long after it arrived (pipelined: throughput is kept).
    Latency(Duration),
}

/// Counters of what the proxy did.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    resets: AtomicU64,
    blackholed_bytes: AtomicU64,
    forwarded_bytes: AtomicU64,
}

/// A snapshot of the proxy's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Client connections accepted.
    pub connections: u64,
    /// Connections reset by [`FaultMode::Reset`].
    pub resets: u64,
    /// Bytes swallowed by [`FaultMode::Blackhole`].
    pub blackholed_bytes: u64,
    /// Bytes forwarded, both directions.
    pub forwarded_bytes: u64,
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<FaultMode>,
    counters: Counters,
}

impl Shared {
    fn mode(&self) -> FaultMode {
        *self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The proxy: listens on a loopback port and forwards to `upstream`; stops with its runtime.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Listens on a free loopback port. Upstream connections are opened per client connection,
    /// so `upstream` need not be listening yet.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), upstream).await
    }

    /// Listens on `listen` (e.g. a port chosen before the upstream was started).
    pub async fn start_on(listen: SocketAddr, upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            mode: Mutex::new(FaultMode::Pass),
            counters: Counters::default(),
        });
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepting
                    .counters
                    .connections
                    .fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(client, upstream, accepting.clone()));
            }
        });
        Ok(FaultProxy { addr, shared })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the mode for every connection, open or new.
    pub fn set_mode(&self, mode: FaultMode) {
        *self.shared.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
    }

    /// The current mode.
    pub fn mode(&self) -> FaultMode {
        self.shared.mode()
    }

    /// Counters so far.
    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        FaultStats {
            connections: c.connections.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
            blackholed_bytes: c.blackholed_bytes.load(Ordering::Relaxed),
            forwarded_bytes: c.forwarded_bytes.load(Ordering::Relaxed),
        }
    }
}

/// How a connection ends: both directions watch this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Open,
    /// One side closed: the other direction finishes what it has and closes too.
    Close,
    /// A reset fault: both sockets are closed with RST, nothing more is written.
    Reset,
}

/// One client connection. A connection accepted in blackhole mode never gets an upstream.
async fn serve(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    if shared.mode() == FaultMode::Blackhole {
        swallow(client, &shared).await;
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        // As a dead upstream looks to the client: the connection closes.
        return;
    };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let (end_tx, end_rx) = watch::channel(End::Open);
    let blackholed = AtomicBool::new(false);
    let conn = Conn {
        shared: &shared,
        end: &end_tx,
        blackholed: &blackholed,
    };
    let ((client_read, server_write), (server_read, client_write)) = tokio::join!(
        conn.pump(client_read, server_write, end_rx.clone()),
        conn.pump(server_read, client_write, end_rx),
    );
    if *end_tx.borrow() == End::Reset {
        for stream in [
            client_read.reunite(client_write),
            server_read.reunite(server_write),
        ]
        .into_iter()
        .flatten()
        {
            // SO_LINGER 0: close() sends RST instead of FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    }
}

/// Reads and discards everything (no RST, no FIN) until the client gives up.
async fn swallow(mut client: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            return;
        }
        shared
            .counters
            .blackholed_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A chunk and the moment it may be written.
struct Due {
    at: Instant,
    bytes: Vec<u8>,
}

/// What both directions of one connection share.
#[derive(Clone, Copy)]
struct Conn<'a> {
    shared: &'a Shared,
    end: &'a watch::Sender<End>,
    /// Set once either direction swallowed bytes: the stream has a hole and stays silent.
    blackholed: &'a AtomicBool,
}

impl Conn<'_> {
    /// One direction: a reader that applies the mode to each chunk and a writer that sends
    /// chunks when they are due, so a latency spike delays bytes without throttling the stream.
    /// Gives its halves back so that a reset can close the whole sockets.
    async fn pump(
        self,
        mut from: OwnedReadHalf,
        mut to: OwnedWriteHalf,
        end_rx: watch::Receiver<End>,
    ) -> (OwnedReadHalf, OwnedWriteHalf) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Due>();
        let mut read_end = end_rx.clone();
        let reading = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut cut = false;
            loop {
                let n = tokio::select! {
                    r = from.read(&mut buf) => match r {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    },
                    _ = read_end.wait_for(|e| *e != End::Open) => break,
                };
                let mode = self.shared.mode();
                if mode == FaultMode::Blackhole || self.blackholed.load(Ordering::Relaxed) {
                    self.blackholed.store(true, Ordering::Relaxed);
                    self.shared
                        .counters
                        .blackholed_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    continue;
                }
                let (len, delay) = match mode {
                    FaultMode::Reset => (n.div_ceil(2), Duration::ZERO),
                    FaultMode::Latency(d) => (n, d),
                    _ => (n, Duration::ZERO),
                };
                let _ = tx.send(Due {
                    at: Instant::now() + delay,
                    bytes: buf[..len].to_vec(),
                });
                if mode == FaultMode::Reset {
                    self.shared.counters.resets.fetch_add(1, Ordering::Relaxed);
                    cut = true;
                    break;
                }
            }
            drop(tx);
            cut
        };
        let mut write_end = end_rx;
        let writing = async {
            while let Some(due) = rx.recv().await {
                tokio::select! {
                    _ = tokio::time::sleep_until(due.at.into()) => {}
                    _ = write_end.wait_for(|e| *e == End::Reset) => break,
                }
                if *write_end.borrow() == End::Reset || to.write_all(&due.bytes).await.is_err() {
                    break;
                }
                self.shared
                    .counters
                    .forwarded_bytes
                    .fetch_add(due.bytes.len() as u64, Ordering::Relaxed);
            }
        };
        let (cut, ()) = tokio::join!(reading, writing);
        if cut {
            // The half chunk is written: now cut both directions.
            self.end.send_replace(End::Reset);
        } else {
            self.end.send_if_modified(|e| {
                let open = *e == End::Open;
                if open {
                    *e = End::Close;
                }
                open
            });
            if *self.end.borrow() != End::Reset {
                let _ = to.shutdown().await;
            }
        }
        (from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes every byte and reports how many bytes each connection carried
    /// once it ends, and how it ended.
    async fn echo_upstream() -> (
        SocketAddr,
        mpsc::UnboundedReceiver<(usize, std::io::ErrorKind)>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut total = 0;
                    let kind = loop {
                        match s.read(&mut buf).await {
                            Ok(0) => break std::io::ErrorKind::UnexpectedEof,
                            Ok(n) => {
                                total += n;
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break std::io::ErrorKind::BrokenPipe;
                                }
                            }
                            Err(e) => break e.kind(),
                        }
                    };
                    let _ = tx.send((total, kind));
                });
            }
        });
        (addr, rx)
    }

    async fn read_exact_timeout(
        s: &mut TcpStream,
        n: usize,
        d: Duration,
    ) -> std::io::Result<Vec<u8>> {
        let mut out = vec![0u8; n];
        match tokio::time::timeout(d, s.read_exact(&mut out)).await {
            Ok(r) => r.map(|_| out),
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }

    #[tokio::test]
    async fn pass_forwards_both_ways_and_closes_with_fin() {
        let (up, mut ended) = echo_upstream().await;
        let proxy = FaultProxy::start(up).await.unwrap();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(b"hello through the proxy").await.unwrap();
        let back = read_exact_timeout(&mut c, 23, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(back, b"hello through the proxy");
        drop(c);
        let (n, kind) = ended.recv().await.unwrap();
        assert_eq!((n, kind), (23, std::io::ErrorKind::UnexpectedEof));
        assert_eq!(proxy.stats().forwarded_bytes, 46);
    }

    #[tokio::test]
    async fn reset_forwards_half_a_request_then_resets_both_sides() {
        let (up, mut ended) = echo_upstream().await;
        let proxy = FaultProxy::start(up).await.unwrap();
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        // An open connection that worked before the fault.
        c.write_all(b"ping").await.unwrap();
        read_exact_timeout(&mut c, 4, Duration::from_secs(5))
            .await
            .unwrap();
        proxy.set_mode(FaultMode::Reset);
        c.write_all(&[7u8; 1000]).await.unwrap();
        let mut rest = Vec::new();
        let err = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("the client learns of the reset at once")
            .expect_err("a reset, not a clean close");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        let (n, kind) = ended.recv().await.unwrap();
        assert_eq!(n, 4 + 500, "the upstream got half of the request");
        assert_ne!(
            kind,
            std::io::ErrorKind::UnexpectedEof,
            "a reset, not a clean close"
        );
        assert!(proxy.stats().resets >= 1);
    }

    #[tokio::test]
    async fn blackhole_keeps_connections_open_and_silent_for_good() {
        let (up, mut ended) = echo_upstream().await;
        let proxy = FaultProxy::start(up).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        open.write_all(b"ping").await.unwrap();
        read_exact_timeout(&mut open, 4, Duration::from_secs(5))
            .await
            .unwrap();
        proxy.set_mode(FaultMode::Blackhole);
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        for c in [&mut open, &mut new] {
            c.write_all(b"anyone there?").await.unwrap();
            let r = read_exact_timeout(c, 1, Duration::from_millis(400)).await;
            assert_eq!(
                r.unwrap_err().kind(),
                std::io::ErrorKind::TimedOut,
                "no data, no FIN, no RST"
            );
        }
        // The hole stays: back in pass mode the blackholed connection carries nothing either.
        proxy.set_mode(FaultMode::Pass);
        open.write_all(b"ping").await.unwrap();
        let r = read_exact_timeout(&mut open, 1, Duration::from_millis(400)).await;
        assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(proxy.stats().blackholed_bytes, 13 + 13 + 4);
        assert!(
            ended.try_recv().is_err(),
            "the upstream connection was not closed"
        );
        // A new connection works again.
        let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
        fresh.write_all(b"ok").await.unwrap();
        read_exact_timeout(&mut fresh, 2, Duration::from_secs(5))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn latency_delays_every_chunk_without_throttling() {
        let (up, _ended) = echo_upstream().await;
        let proxy = FaultProxy::start(up).await.unwrap();
        proxy.set_mode(FaultMode::Latency(Duration::from_millis(300)));
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            c.write_all(b"x").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        read_exact_timeout(&mut c, 5, Duration::from_secs(5))
            .await
            .unwrap();
        let took = t0.elapsed();
        // Each byte waits 300 ms each way; pipelined, five of them take about as long as one.
        assert!(took >= Duration::from_millis(600), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        proxy.set_mode(FaultMode::Pass);
        let t1 = Instant::now();
        c.write_all(b"y").await.unwrap();
        read_exact_timeout(&mut c, 1, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(t1.elapsed() < Duration::from_millis(200));
    }
}
