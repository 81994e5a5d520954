//! Reading a collector's answer: at most [`MAX_RESPONSE_BODY`] bytes of it, and a short,
//! printable excerpt of it for error messages.
//!
//! Design decision: an answer's body is read only to classify it (HEC's JSON) or to quote it
//! in an error. A proxy or a misconfigured server may answer with a body of any size; reading
//! it whole would let the peer decide how much memory the sink uses. The rest of a longer body
//! is not read (the connection is then closed instead of reused).

/// Most bytes of a response body that are read.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Longest excerpt of a body quoted in an error message, in characters.
pub const MAX_EXCERPT: usize = 200;

/// A response body read up to [`MAX_RESPONSE_BODY`] bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoundedBody {
    /// The text read (lossy UTF-8).
    pub text: String,
    /// True when the body was longer and the rest was not read.
    pub truncated: bool,
}

/// Reads at most [`MAX_RESPONSE_BODY`] bytes of `resp`'s body. A body that fails to arrive
/// counts as empty: the status line already says what the peer answered.
pub async fn read_bounded(resp: reqwest::Response) -> BoundedBody {
    read_bounded_max(resp, MAX_RESPONSE_BODY).await
}

async fn read_bounded_max(mut resp: reqwest::Response, max: usize) -> BoundedBody {
    let mut buf = Vec::new();
    let mut truncated = false;
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = max - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        buf.extend_from_slice(&chunk);
    }
    BoundedBody {
        text: String::from_utf8_lossy(&buf).into_owned(),
        truncated,
    }
}

/// At most [`MAX_EXCERPT`] characters of `text` for a log line: control characters and runs of
/// whitespace become one space (an HTML page spans many lines), an ellipsis marks a cut.
/// Empty input gives `(empty body)`.
pub fn excerpt(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let mut cut = false;
    for c in text.chars() {
        let c = if c.is_whitespace() || c.is_control() {
            ' '
        } else {
            c
        };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if chars == MAX_EXCERPT {
            cut = true;
            break;
        }
        out.push(c);
        chars += 1;
    }
    let trimmed = out.trim_end().to_string();
    if trimmed.is_empty() {
        "(empty body)".into()
    } else if cut {
        format!("{trimmed}…")
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_single_line_and_printable() {
        assert_eq!(excerpt(""), "(empty body)");
        assert_eq!(excerpt(" \n\t"), "(empty body)");
        assert_eq!(
            excerpt("<html>\n  <body>\r\n Login\u{1b}[31m </body>"),
            "<html> <body> Login [31m </body>"
        );
        let long = "é".repeat(10_000);
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), MAX_EXCERPT + 1);
        assert!(e.ends_with('…'));
    }

    /// Answers one request on a loopback port with `head` and then `pieces` copies of
    /// `piece`, stopping when the client hangs up; returns the URL.
    async fn serve_once(head: String, piece: Vec<u8>, pieces: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let _ = s.write_all(head.as_bytes()).await;
            for _ in 0..pieces {
                if s.write_all(&piece).await.is_err() {
                    break;
                }
            }
        });
        format!("http://{addr}/")
    }

    /// A body far above the limit is read only up to it.
    #[tokio::test]
    async fn long_bodies_are_read_up_to_the_limit() {
        // 4 MiB announced and sent in pieces; the reader stops at the limit.
        let len = 4 << 20;
        let piece = vec![b'x'; 64 * 1024];
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
        let url = serve_once(head, piece, len / (64 * 1024)).await;
        let resp = reqwest::get(url).await.unwrap();
        let body = read_bounded(resp).await;
        assert!(body.truncated);
        assert_eq!(body.text.len(), MAX_RESPONSE_BODY);

        let head = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_string();
        let resp = reqwest::get(serve_once(head, Vec::new(), 0).await)
            .await
            .unwrap();
        assert_eq!(
            read_bounded(resp).await,
            BoundedBody {
                text: "hello".into(),
                truncated: false
            }
        );
    }
}
