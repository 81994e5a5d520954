//! What the HTTP sinks (Splunk HEC, Sumo Logic) share: cutting a batch into requests of even
//! size within a byte limit, their NDJSON bodies, gzip of those bodies, and transport errors
//! turned into text that never carries the request URL (for Sumo the URL is the credential),
//! so one rule covers every sink. Also shared: header values taken from the data made safe
//! ([`header_value`]), what to do with a request refused for its content ([`split_refused`]),
//! bounded reads of answers ([`read_bounded`]) and the client settings every HTTP sink uses
//! ([`client_builder`]: no redirects).
//!
//! Design decision: gzip is the largest CPU cost of an HTTP sink (more than parsing the
//! records). Built with the `isal` feature it uses Intel's ISA-L (igzip level 1: about 1.75×
//! zlib-rs's level-1 speed on request bodies of Entra records, with a better ratio: 8.55
//! against 6.63; `benches/benches/gzip.rs`); the
//! container image is built that way. Without it (the default, because ISA-L's build needs
//! nasm and autotools) it uses flate2's `zlib-rs` backend (about twice miniz_oxide's speed).
//! Either way [`gzip_off_task`] runs it on tokio's blocking pool: the requests a sink sends
//! concurrently are compressed in parallel, and the sink's task keeps driving the connections.
// Unsafe code only in the `isal` module (FFI), which allows it for itself.
#![deny(unsafe_code)]

#[cfg(feature = "isal")]
mod isal;
mod request_data;
mod response;

pub use request_data::{
    MAX_HEADER_VALUE, Refused, header_value, is_content_refusal, redirect_reason, split_refused,
};
pub use response::{BoundedBody, MAX_EXCERPT, MAX_RESPONSE_BODY, excerpt, read_bounded};

use std::io::Write;
use std::ops::Range;

use bytes::Bytes;
use entrastream_sink::EncodedBatch;

/// Groups `todo` (batch indices, in order) into requests whose body (each record followed by
/// `\n`) is at most `max` bytes: as few requests as the limit allows, of even size (2.1 MB with
/// a 1 MB limit becomes three of ~700 KB, not two full ones and a 100 KB tail, so concurrent
/// requests finish together and none falls below a collector's recommended minimum). Records
/// alone above `max` come back in the second list, for the sink to reject with its own reason;
/// they are never truncated.
pub fn even_requests(
    batch: &EncodedBatch,
    todo: impl IntoIterator<Item = usize>,
    max: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let line = |i: usize| batch.records[i].range.len() + 1;
    let (fit, oversize): (Vec<usize>, Vec<usize>) = todo.into_iter().partition(|&i| line(i) <= max);
    let total: usize = fit.iter().map(|&i| line(i)).sum();
    let target = total.div_ceil(total.div_ceil(max).max(1));
    let mut requests = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0usize;
    for i in fit {
        let len = line(i);
        if (size + len > max || size >= target) && !cur.is_empty() {
            requests.push(std::mem::take(&mut cur));
            size = 0;
        }
        cur.push(i);
        size += len;
    }
    if !cur.is_empty() {
        requests.push(cur);
    }
    (requests, oversize)
}

/// The NDJSON body of the records at `indices`: each followed by `\n`.
///
/// When the records lie back to back in the batch, each followed by its `\n` separator (the
/// usual case: a plan over consecutive pending records), the body is a slice of the batch's
/// buffer and nothing is copied; a copy would cost as much CPU per MB as a tenth of gzip.
/// Otherwise (records of several categories, or gaps after a split or a rejection) the records
/// are copied together.
pub fn ndjson_body(batch: &EncodedBatch, indices: &[usize]) -> Bytes {
    if let Some(range) = contiguous(batch, indices) {
        return batch.data.slice(range);
    }
    let len: usize = indices
        .iter()
        .map(|&i| batch.records[i].range.len() + 1)
        .sum();
    let mut out = Vec::with_capacity(len);
    for &i in indices {
        out.extend_from_slice(batch.record(i).unwrap_or_default());
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// The byte range of `indices` in the batch's buffer, if their records and `\n` separators
/// are exactly that range.
fn contiguous(batch: &EncodedBatch, indices: &[usize]) -> Option<Range<usize>> {
    let first = *indices.first()?;
    let start = batch.records.get(first)?.range.start;
    let mut end = start;
    for (k, &i) in indices.iter().enumerate() {
        if i != first + k {
            return None;
        }
        let range = &batch.records.get(i)?.range;
        if range.start != end || batch.data.get(range.end) != Some(&b'\n') {
            return None;
        }
        end = range.end + 1;
    }
    Some(start..end)
}

/// A gzip implementation this build can use ([`GzipBackend::ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipBackend {
    /// flate2 on zlib-rs, level 1 (`deflate_quick`).
    ZlibRs,
    /// ISA-L's igzip, level 1 (only with the `isal` feature).
    #[cfg(feature = "isal")]
    Isal,
}

impl GzipBackend {
    /// What [`gzip`] uses: ISA-L when built in, else zlib-rs.
    #[cfg(feature = "isal")]
    pub const DEFAULT: GzipBackend = GzipBackend::Isal;
    /// What [`gzip`] uses: ISA-L when built in, else zlib-rs.
    #[cfg(not(feature = "isal"))]
    pub const DEFAULT: GzipBackend = GzipBackend::ZlibRs;

    /// Every backend of this build (for benchmarks and tests that compare them).
    pub const ALL: &'static [GzipBackend] = &[
        GzipBackend::ZlibRs,
        #[cfg(feature = "isal")]
        GzipBackend::Isal,
    ];

    /// `zlib-rs` or `isa-l`, for logs and benchmark reports.
    pub fn name(self) -> &'static str {
        match self {
            GzipBackend::ZlibRs => "zlib-rs",
            #[cfg(feature = "isal")]
            GzipBackend::Isal => "isa-l",
        }
    }

    /// `data` as one gzip member, at this backend's fast level.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        match self {
            GzipBackend::ZlibRs => gzip_zlib_rs(data),
            #[cfg(feature = "isal")]
            GzipBackend::Isal => gzip_isal(data).unwrap_or_else(|| gzip_zlib_rs(data)),
        }
    }
}

/// gzip at a fast level (the network is rarely the bottleneck on a SIEM link; CPU is), with
/// [`GzipBackend::DEFAULT`].
pub fn gzip(data: &[u8]) -> Vec<u8> {
    GzipBackend::DEFAULT.compress(data)
}

fn gzip_zlib_rs(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// igzip's one-shot (stateless) level 1 into a buffer sized for the usual ratio (Entra
/// records shrink 7-9×), and only when that overflows, once more into one that holds even
/// incompressible input (ISA-L then writes stored blocks). None if ISA-L still fails; the
/// caller then uses zlib-rs, so a body is never lost to the faster path.
#[cfg(feature = "isal")]
fn gzip_isal(data: &[u8]) -> Option<Vec<u8>> {
    let attempt = |capacity: usize| {
        // Zeroed, as a safe `&mut [u8]` needs: ~1% of the compression's cost at this size.
        let mut out = vec![0u8; capacity];
        let n = isal::gzip_level1_into(data, &mut out)?;
        out.truncate(n);
        Some(out)
    };
    attempt(data.len() / 4 + 1024).or_else(|| attempt(isal::stored_bound(data.len())))
}

/// Why [`gzip_off_task`] produced no body: the blocking task panicked or the runtime is
/// shutting down. The request is not sent; the sink retries the batch.
#[derive(Debug, thiserror::Error)]
pub enum GzipError {
    /// The blocking task did not complete.
    #[error("gzip task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl GzipError {
    /// Stable class name (metric label).
    pub fn code(&self) -> &'static str {
        match self {
            GzipError::Task(_) => "gzip_task",
        }
    }
}

/// [`gzip`] on tokio's blocking pool (so that concurrent requests compress in parallel, off
/// the async worker). Must be called inside a tokio runtime.
pub async fn gzip_off_task<B>(data: B) -> Result<Vec<u8>, GzipError>
where
    B: AsRef<[u8]> + Send + 'static,
{
    Ok(tokio::task::spawn_blocking(move || gzip(data.as_ref())).await?)
}

/// The client settings every HTTP sink starts from: rustls, this request timeout, and no
/// redirects followed (reqwest follows up to ten by default). A 3xx then comes back as the
/// answer, and the sink treats it as an error ([`redirect_reason`]): a redirect to a page that
/// answers 200 must never count as the collector's acceptance.
pub fn client_builder(timeout: std::time::Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_backend_rustls()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
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

    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(z)
            .read_to_end(&mut out)
            .expect("a valid gzip member");
        out
    }

    #[test]
    fn gzip_round_trips() {
        assert_eq!(gunzip(&gzip(b"hello hello hello")), b"hello hello hello");
    }

    /// Every backend of the build, on what the sinks send and on what would overflow a buffer
    /// sized for the usual ratio: empty input, text, and incompressible bytes.
    #[test]
    fn every_backend_round_trips_text_empty_and_incompressible_input() {
        let text = br#"{"category":"SignInLogs","properties":{"userPrincipalName":"a@b.c"}}"#
            .repeat(20_000);
        // xorshift: bytes no deflate can shrink.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for &backend in GzipBackend::ALL {
            for data in [&text[..], &[][..], &noise[..]] {
                let z = backend.compress(data);
                assert_eq!(gunzip(&z), data, "{}", backend.name());
                if data.len() == text.len() {
                    assert!(
                        z.len() < data.len() / 5,
                        "{}: {} bytes",
                        backend.name(),
                        z.len()
                    );
                }
            }
        }
        assert!(GzipBackend::ALL.contains(&GzipBackend::DEFAULT));
    }
}
