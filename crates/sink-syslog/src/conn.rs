//! Opening a connection to the receiver: TCP, then the TLS handshake when configured, each
//! under `connect_timeout`; and telling whether an idle connection is still open.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A connected stream, plain or TLS.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Stream {
    /// Asks the kernel to acknowledge the receiver's next segments at once instead of
    /// delaying the ACK (Linux resets this after a while, so it is set before each wait for
    /// an answer). Why: rsyslog's RELP server writes its small `rsp` frames without
    /// TCP_NODELAY, so Nagle holds the last answers of a window until our ACK arrives, and a
    /// delayed ACK makes that up to 40 ms at the end of every send (measured: ~4,700 records/s
    /// whatever the window). Best effort: where the option does not exist nothing changes.
    pub fn quickack(&self) {
        let tcp = match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = tcp.set_quickack(true);
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = tcp;
    }

    /// A second handle on this connection's socket for [`QuickAck::arm`] from a task that
    /// holds only the read half (the RELP answer reader). It keeps the socket open while it
    /// lives: drop it with the reader.
    pub fn quickack_handle(&self) -> QuickAck {
        use std::os::fd::AsFd;
        let tcp = match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        };
        QuickAck(
            tcp.as_fd()
                .try_clone_to_owned()
                .ok()
                .map(std::net::TcpStream::from),
        )
    }

    /// False when the receiver has closed the connection (or reset it) while it was idle.
    /// A syslog receiver never sends on a TCP/TLS stream, so a read that does not block
    /// means it is gone; TLS session tickets are consumed inside rustls and do not count.
    /// Checked before reusing a connection: a write into a closed socket would "succeed"
    /// into the kernel buffer and be lost.
    pub async fn is_open(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::ZERO, self.read(&mut byte)).await {
            Err(_elapsed) => true,
            Ok(Ok(0)) | Ok(Err(_)) => false,
            // Unexpected data: the peer is talking, so it is there; the byte is dropped.
            Ok(Ok(_)) => true,
        }
    }
}

/// Opens connections to one receiver.
#[derive(Clone)]
pub struct Connector {
    address: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Connector {
    pub fn new(
        address: String,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
        timeout: Duration,
    ) -> Self {
        Connector {
            address,
            tls: tls.map(|(c, n)| (TlsConnector::from(c), n)),
            timeout,
        }
    }

    /// Connects (and completes the TLS handshake); the error says which step failed.
    pub async fn connect(&self) -> Result<Stream, String> {
        let tcp = match tokio::time::timeout(self.timeout, TcpStream::connect(&self.address)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(format!("cannot connect to {}: {e}", self.address)),
            Err(_) => {
                return Err(format!(
                    "connecting to {} timed out after {:?}",
                    self.address, self.timeout
                ));
            }
        };
        // Small messages must not wait for Nagle: each send ends with a flush anyway.
        let _ = tcp.set_nodelay(true);
        let Some((connector, name)) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        match tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp)).await {
            Ok(Ok(s)) => Ok(Stream::Tls(Box::new(s))),
            Ok(Err(e)) => Err(format!(
                "TLS handshake with {} failed: {e} (check tls.ca_file, tls.server_name and, if the receiver asks for one, the client certificate)",
                self.address
            )),
            Err(_) => Err(format!(
                "TLS handshake with {} timed out after {:?}",
                self.address, self.timeout
            )),
        }
    }
}

/// See [`Stream::quickack_handle`].
#[derive(Debug)]
pub struct QuickAck(Option<std::net::TcpStream>);

impl QuickAck {
    /// [`Stream::quickack`] through this handle.
    pub fn arm(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(s) = &self.0 {
            use std::os::linux::net::TcpStreamExt;
            let _ = s.set_quickack(true);
        }
    }
}
