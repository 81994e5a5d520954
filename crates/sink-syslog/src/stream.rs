//! Sending over a TCP or TLS stream: frames written in bounded chunks, then a flush; each
//! write may stall at most `request_timeout` (a receiver that stops reading fails the send
//! instead of holding it forever).

use std::time::Duration;

use entrastream_sink::EncodedBatch;
use tokio::io::AsyncWriteExt;

use crate::conn::Stream;
use crate::frame::push_frame;

/// Frames gathered per write: bounds this sink's memory whatever the batch size.
const WRITE_CHUNK: usize = 256 * 1024;

/// A failed stream send: why, and how many of its records had been (partly) written.
#[derive(Debug)]
pub struct StreamError {
    pub reason: String,
    pub written: usize,
}

async fn write(stream: &mut Stream, bytes: &[u8], timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, stream.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err(format!(
            "write stalled for {timeout:?}: the receiver stopped reading"
        )),
    }
}

/// Writes the records `indices` of `batch`, framed, and flushes; returns the bytes written.
/// Frames are gathered in `out` (emptied first; the caller keeps it for the next send).
pub async fn send(
    stream: &mut Stream,
    out: &mut Vec<u8>,
    batch: &EncodedBatch,
    indices: &[usize],
    octet_counting: bool,
    timeout: Duration,
) -> Result<u64, StreamError> {
    out.clear();
    out.reserve(WRITE_CHUNK.min(batch.data.len() + 16 * indices.len()));
    let mut bytes = 0u64;
    for (n, &idx) in indices.iter().enumerate() {
        push_frame(out, batch.record(idx).unwrap_or_default(), octet_counting);
        if out.len() >= WRITE_CHUNK {
            write(stream, out, timeout)
                .await
                .map_err(|reason| StreamError {
                    reason,
                    written: n + 1,
                })?;
            bytes += out.len() as u64;
            out.clear();
        }
    }
    if !out.is_empty() {
        write(stream, out, timeout)
            .await
            .map_err(|reason| StreamError {
                reason,
                written: indices.len(),
            })?;
        bytes += out.len() as u64;
    }
    match tokio::time::timeout(timeout, stream.flush()).await {
        Ok(Ok(())) => Ok(bytes),
        Ok(Err(e)) => Err(StreamError {
            reason: format!("flush failed: {e}"),
            written: indices.len(),
        }),
        Err(_) => Err(StreamError {
            reason: format!("flush stalled for {timeout:?}: the receiver stopped reading"),
            written: indices.len(),
        }),
    }
}
