//! A RELP client session (the Reliable Event Logging Protocol of rsyslog's `imrelp`):
//! frames `TXNR SP COMMAND SP DATALEN [SP DATA] LF`, the `open` offer exchange, `syslog`
//! commands sent in a window ([`crate::window`]), and `rsp` answers matched back by
//! transaction number.
//!
//! A record is confirmed only by `rsp` with status 200 for its transaction. Any other status,
//! a `serverclose`, a malformed frame or a silent receiver ends the session: the records still
//! in the window are not confirmed and the caller sends them again on a new session (the
//! receiver may then hold some twice; never none).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::conn::Stream;

/// Transaction numbers run 1..=999,999,999 and then start again at 1 (the RELP spec).
const MAX_TXNR: u32 = 999_999_999;

/// The transaction number after `t`.
pub(crate) fn following(t: u32) -> u32 {
    if t >= MAX_TXNR { 1 } else { t + 1 }
}

/// Largest answer accepted from the receiver; answers are short status lines and offers.
const MAX_ANSWER: usize = 64 * 1024;

/// One frame from the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u32,
    pub command: String,
    pub data: Vec<u8>,
}

/// Appends a frame.
pub fn push_frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    out.extend_from_slice(itoa::Buffer::new().format(txnr).as_bytes());
    out.push(b' ');
    out.extend_from_slice(command.as_bytes());
    out.push(b' ');
    out.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// Parses one frame from the front of `buf`: `Ok(Some((frame, used)))`, `Ok(None)` when more
/// bytes are needed, `Err` for bytes that are not RELP.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    let bad = |what: &str| {
        let shown = String::from_utf8_lossy(&buf[..buf.len().min(60)]).into_owned();
        format!("the receiver's answer is not RELP ({what}): {shown:?}")
    };
    // TXNR, COMMAND and DATALEN are short; a long run without them is not RELP.
    let head_limit = buf.len().min(64);
    let Some(sp1) = buf[..head_limit].iter().position(|&b| b == b' ') else {
        return if head_limit == 64 {
            Err(bad("no transaction number"))
        } else {
            Ok(None)
        };
    };
    let txnr: u32 = std::str::from_utf8(&buf[..sp1])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("transaction number"))?;
    let rest = &buf[sp1 + 1..];
    let Some(sp2) = rest[..rest.len().min(40)].iter().position(|&b| b == b' ') else {
        return if rest.len() >= 40 {
            Err(bad("command"))
        } else {
            Ok(None)
        };
    };
    let command = std::str::from_utf8(&rest[..sp2])
        .map_err(|_| bad("command"))?
        .to_owned();
    let rest = &rest[sp2 + 1..];
    let Some(end_len) = rest[..rest.len().min(12)]
        .iter()
        .position(|&b| b == b' ' || b == b'\n')
    else {
        return if rest.len() >= 12 {
            Err(bad("data length"))
        } else {
            Ok(None)
        };
    };
    let len: usize = std::str::from_utf8(&rest[..end_len])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("data length"))?;
    if len > MAX_ANSWER {
        return Err(bad("answer too long"));
    }
    let header = sp1 + 1 + sp2 + 1 + end_len;
    if len == 0 {
        // `DATALEN LF`; some peers write `0 LF` with a space: accept both.
        let tail = &buf[header..];
        return match tail {
            [b'\n', ..] => Ok(Some((
                Frame {
                    txnr,
                    command,
                    data: Vec::new(),
                },
                header + 1,
            ))),
            [b' ', b'\n', ..] => Ok(Some((
                Frame {
                    txnr,
                    command,
                    data: Vec::new(),
                },
                header + 2,
            ))),
            [] | [b' '] => Ok(None),
            _ => Err(bad("trailer")),
        };
    }
    let start = header + 1;
    if buf.len() < start + len + 1 {
        return Ok(None);
    }
    if buf[start + len] != b'\n' {
        return Err(bad("trailer"));
    }
    Ok(Some((
        Frame {
            txnr,
            command,
            data: buf[start..start + len].to_vec(),
        },
        start + len + 1,
    )))
}

/// An open RELP session.
#[derive(Debug)]
pub struct Session {
    stream: Stream,
    next_txnr: u32,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Session {
    /// Sends `open` with our offers and checks the receiver's `rsp 200` and `commands=syslog`.
    pub async fn open(stream: Stream, timeout: Duration) -> Result<Session, String> {
        let mut s = Session {
            stream,
            next_txnr: 1,
            buf: Vec::with_capacity(4096),
            timeout,
        };
        let offers = format!(
            "relp_version=0\nrelp_software=entrastream,{},https://github.com/entrastream/entrastream\ncommands=syslog",
            env!("CARGO_PKG_VERSION")
        );
        let txnr = s.take_txnr();
        let mut out = Vec::new();
        push_frame(&mut out, txnr, "open", offers.as_bytes());
        s.write(&out).await?;
        let f = s.read_frame().await?;
        let text = String::from_utf8_lossy(&f.data);
        if f.txnr != txnr || f.command != "rsp" {
            return Err(format!(
                "RELP open: expected rsp to {txnr}, got {} {} (is this port a RELP listener?)",
                f.txnr, f.command
            ));
        }
        if !text.starts_with("200") {
            return Err(format!("RELP open refused by the receiver: {text:?}"));
        }
        if !text.lines().any(|l| {
            l.strip_prefix("commands=")
                .is_some_and(|c| c.split(',').any(|c| c == "syslog"))
        }) {
            return Err(format!(
                "RELP open: the receiver does not offer the syslog command: {text:?}"
            ));
        }
        Ok(s)
    }

    /// The connection, the next transaction number and what was read but not yet parsed:
    /// for [`crate::window::Pipe`], which takes the session over after `open`.
    pub fn into_parts(self) -> (Stream, u32, Vec<u8>) {
        (self.stream, self.next_txnr, self.buf)
    }

    fn take_txnr(&mut self) -> u32 {
        let t = self.next_txnr;
        self.next_txnr = following(t);
        t
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let io = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("RELP write failed: {e}")),
            Err(_) => Err(format!(
                "RELP write stalled for {:?}: the receiver stopped reading",
                self.timeout
            )),
        }
    }

    /// The next frame, parsing buffered bytes first.
    async fn read_frame(&mut self) -> Result<Frame, String> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some((f, used)) = parse_frame(&self.buf)? {
                self.buf.drain(..used);
                return Ok(f);
            }
            let mut chunk = [0u8; 4096];
            self.stream.quickack();
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err("the RELP receiver closed the connection".into()),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(format!("RELP read failed: {e}")),
                Err(_) => {
                    return Err(format!(
                        "no RELP answer within {:?}: the receiver is stalled",
                        self.timeout
                    ));
                }
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Ends the session politely (`close`, then its answer).
    pub async fn close(mut self) -> Result<(), String> {
        let txnr = self.take_txnr();
        let mut out = Vec::new();
        push_frame(&mut out, txnr, "close", b"");
        self.write(&out).await?;
        let f = self.read_frame().await?;
        if f.command == "rsp" && f.txnr == txnr {
            Ok(())
        } else {
            Err(format!(
                "RELP close: unexpected answer {} {}",
                f.txnr, f.command
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_including_empty_data() {
        let mut out = Vec::new();
        push_frame(&mut out, 7, "syslog", "<14>1 ü\nx".as_bytes());
        push_frame(&mut out, 8, "close", b"");
        assert_eq!(out, "7 syslog 10 <14>1 ü\nx\n8 close 0\n".as_bytes());
        let (f, used) = parse_frame(&out).unwrap().unwrap();
        assert_eq!(
            (f.txnr, f.command.as_str(), f.data.as_slice()),
            (7, "syslog", "<14>1 ü\nx".as_bytes())
        );
        let (g, used2) = parse_frame(&out[used..]).unwrap().unwrap();
        assert_eq!((g.txnr, g.command.as_str(), g.data.len()), (8, "close", 0));
        assert_eq!(used + used2, out.len());
    }

    #[test]
    fn partial_frames_wait_and_garbage_fails() {
        let full = b"12 rsp 6 200 OK\n";
        for cut in 0..full.len() {
            assert_eq!(parse_frame(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse_frame(full).unwrap().is_some());
        assert!(parse_frame(b"HTTP/1.1 400 Bad Request\r\n").is_err());
        assert!(parse_frame(b"1 rsp 6 200 OKX").is_err());
        assert!(parse_frame(b"1 rsp 99999999 ").is_err());
    }

    #[test]
    fn txnr_wraps_to_one() {
        assert_eq!(following(1), 2);
        assert_eq!(following(MAX_TXNR - 1), MAX_TXNR);
        assert_eq!(following(MAX_TXNR), 1);
    }
}
