//! Gives the daemon and the bench's own Kafka clients separate paths to one nisshi broker.
//!
//! Kafka clients use the bootstrap address only for their first request and then connect to
//! the address the broker advertises; nisshi advertises one. So the advertised address is this
//! router, and it sends each connection on by the `client_id` of its first request (every Kafka
//! request header carries it): the daemon's (`entrastream`) through the fault proxy, every other
//! client's (the bench's producer, its read-back consumer) straight to nisshi. A fault on the
//! broker path then stalls only the daemon, and the stall the scenario measures is the daemon's.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Bytes of a Kafka request before its `client_id` string: length (4), api key (2), api
/// version (2), correlation id (4), then the string's length (2).
const HEADER_BEFORE_CLIENT_ID: usize = 14;

/// A running router; stops with the runtime.
pub struct ClientRouter {
    task: tokio::task::JoinHandle<()>,
}

impl ClientRouter {
    /// Listens on `listen`; connections whose first request names `client_id` go to
    /// `via_faults`, all others to `direct`.
    pub async fn start_on(
        listen: SocketAddr,
        client_id: &str,
        via_faults: SocketAddr,
        direct: SocketAddr,
    ) -> std::io::Result<ClientRouter> {
        let listener = TcpListener::bind(listen).await?;
        let client_id = client_id.to_string();
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let id = client_id.clone();
                tokio::spawn(async move {
                    let _ = route(down, &id, via_faults, direct).await;
                });
            }
        });
        Ok(ClientRouter { task })
    }
}

impl Drop for ClientRouter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `client_id` of the Kafka request header at the start of `head`, once `head` holds it
/// (`None`: more bytes needed; `Some(None)`: a null or unreadable id).
fn client_id(head: &[u8]) -> Option<Option<String>> {
    if head.len() < HEADER_BEFORE_CLIENT_ID {
        return None;
    }
    let len = i16::from_be_bytes([head[12], head[13]]);
    if len < 0 {
        return Some(None);
    }
    let end = HEADER_BEFORE_CLIENT_ID + len as usize;
    if head.len() < end {
        return None;
    }
    Some(String::from_utf8(head[HEADER_BEFORE_CLIENT_ID..end].to_vec()).ok())
}

async fn route(
    mut down: TcpStream,
    faulty_client: &str,
    via_faults: SocketAddr,
    direct: SocketAddr,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(256);
    let id = loop {
        if let Some(id) = client_id(&head) {
            break id;
        }
        let mut buf = [0u8; 256];
        let n = down.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    };
    let to = if id.as_deref() == Some(faulty_client) {
        via_faults
    } else {
        direct
    };
    let mut up = TcpStream::connect(to).await?;
    up.write_all(&head).await?;
    if tokio::io::copy_bidirectional(&mut down, &mut up)
        .await
        .is_err()
    {
        // The fault proxy reset its side: reset the client's too (a FIN would be a cleaner
        // close than the fault it stands for).
        let _ = down.set_zero_linger();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_id_is_read_from_a_request_header() {
        // ApiVersions v3: size, key 18, version 3, correlation 1, client id "entrastream".
        let mut req = vec![0, 0, 0, 30, 0, 18, 0, 3, 0, 0, 0, 1, 0, 11];
        req.extend_from_slice(b"entrastream");
        assert_eq!(client_id(&req[..13]), None);
        assert_eq!(client_id(&req[..20]), None);
        assert_eq!(client_id(&req), Some(Some("entrastream".into())));
        let null = [0, 0, 0, 30, 0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff];
        assert_eq!(client_id(&null), Some(None));
    }
}
