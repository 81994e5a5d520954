//! What the HTTP sinks (Splunk HEC, Sumo Logic) share: gzip of request bodies, and transport
//! errors turned into text that never carries the request URL (for Sumo the URL is the
//! credential), so one rule covers every sink.
//!
//! Design decision: gzip is the largest CPU cost of an HTTP sink (more than parsing the
//! records), so it uses flate2's `zlib-rs` backend (about twice miniz_oxide's speed at level 1
//! on Entra records, with a slightly better ratio) and [`gzip_off_task`] runs it on tokio's
//! blocking pool: the requests a sink sends concurrently are compressed in parallel, and the
//! sink's task keeps driving the connections meanwhile.
#![forbid(unsafe_code)]

use std::io::Write;

/// gzip at a fast level (the network is rarely the bottleneck on a SIEM link; CPU is).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// [`gzip`] on tokio's blocking pool (so that concurrent requests compress in parallel, off
/// the async worker). Must be called inside a tokio runtime.
pub async fn gzip_off_task<B>(data: B) -> Result<Vec<u8>, String>
where
    B: AsRef<[u8]> + Send + 'static,
{
    tokio::task::spawn_blocking(move || gzip(data.as_ref()))
        .await
        .map_err(|e| format!("gzip task failed: {e}"))
}

/// `connection failed: …`, `timed out: …` or `request failed: …` with the whole cause chain,
/// and without the URL.
pub fn transport_error(e: reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[tokio::test]
    async fn gzip_off_task_round_trips() {
        let data = b"{\"a\":1}\n".repeat(10_000);
        let z = gzip_off_task(data.clone()).await.unwrap();
        assert!(z.len() < data.len() / 10);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn gzip_round_trips() {
        let z = gzip(b"hello hello hello");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello hello hello");
    }
}
