//! Turning a batch into requests: chunks of whole records whose body stays within the max
//! content length, and their bodies (optionally gzipped).

use bytes::Bytes;
use entrastream_sink::{EncodedBatch, Rejection};
use std::ops::Range;

/// Records (indices into the batch) sent in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Batch indices, ascending.
    pub indices: Vec<usize>,
}

impl Chunk {
    /// Splits in two halves (for a 413 or a bad request without an event number).
    pub fn halves(&self) -> (Chunk, Chunk) {
        let mid = self.indices.len() / 2;
        (
            Chunk {
                indices: self.indices[..mid].to_vec(),
            },
            Chunk {
                indices: self.indices[mid..].to_vec(),
            },
        )
    }
}

/// Groups `todo` records into chunks whose body (records joined by `\n`) is at most `max`
/// bytes: as few chunks as the limit allows, of even size (2.1 MB with a 1 MB limit becomes
/// three of ~700 KB, not two full ones and a 100 KB tail, so concurrent requests finish
/// together). A record alone above `max` is rejected with a reason, never truncated.
pub fn plan(
    batch: &EncodedBatch,
    todo: impl IntoIterator<Item = usize>,
    max: usize,
) -> (Vec<Chunk>, Vec<Rejection>) {
    let mut chunks = Vec::new();
    let mut rejections = Vec::new();
    let mut fit = Vec::new();
    for i in todo {
        let len = batch.records[i].range.len() + 1;
        if len > max {
            rejections.push(Rejection {
                index: i,
                reason: format!(
                    "record of {} bytes is larger than max_content_length ({max} bytes); not truncated",
                    len - 1
                ),
            });
        } else {
            fit.push(i);
        }
    }
    let total: usize = fit.iter().map(|&i| batch.records[i].range.len() + 1).sum();
    let target = total.div_ceil(total.div_ceil(max).max(1));
    let mut cur = Vec::new();
    let mut size = 0usize;
    for i in fit {
        let len = batch.records[i].range.len() + 1;
        if (size + len > max || size >= target) && !cur.is_empty() {
            chunks.push(Chunk {
                indices: std::mem::take(&mut cur),
            });
            size = 0;
        }
        cur.push(i);
        size += len;
    }
    if !cur.is_empty() {
        chunks.push(Chunk { indices: cur });
    }
    (chunks, rejections)
}

/// The request body of a chunk: its records, each followed by `\n`.
///
/// When the chunk's records lie back to back in the batch, each followed by its `\n`
/// separator (the usual case: a plan over consecutive pending records), the body is a slice of
/// the batch's buffer and nothing is copied; a copy would cost as much CPU per MB as a tenth
/// of gzip. Otherwise (after a split or a rejection) the records are copied together.
pub fn body(batch: &EncodedBatch, chunk: &Chunk) -> Bytes {
    if let Some(range) = contiguous(batch, chunk) {
        return batch.data.slice(range);
    }
    let len: usize = chunk
        .indices
        .iter()
        .map(|&i| batch.records[i].range.len() + 1)
        .sum();
    let mut out = Vec::with_capacity(len);
    for &i in &chunk.indices {
        out.extend_from_slice(batch.record(i).unwrap_or_default());
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// The byte range of `chunk` in the batch's buffer, if its records and their `\n` separators
/// are exactly that range.
fn contiguous(batch: &EncodedBatch, chunk: &Chunk) -> Option<Range<usize>> {
    let first = *chunk.indices.first()?;
    let start = batch.records.get(first)?.range.start;
    let mut end = start;
    for (k, &i) in chunk.indices.iter().enumerate() {
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

pub use entrastream_sink_http::gzip;

#[cfg(test)]
mod tests {
    use super::*;
    use entrastream_model::PartitionId;
    use entrastream_sink::RecordMeta;

    pub(crate) fn batch_of(records: &[&str]) -> EncodedBatch {
        let mut data = Vec::new();
        let mut metas = Vec::new();
        for (n, r) in records.iter().enumerate() {
            let start = data.len();
            data.extend_from_slice(r.as_bytes());
            metas.push(RecordMeta {
                range: start..data.len(),
                partition: PartitionId::new("hub", 0),
                offset: n as i64,
                category: "SignInLogs".into(),
            });
            data.push(b'\n');
        }
        EncodedBatch {
            data: Bytes::from(data),
            records: metas,
        }
    }

    #[test]
    fn chunks_never_exceed_max_and_oversize_is_rejected() {
        let big = "x".repeat(50);
        let b = batch_of(&["aaaa", "bbbb", &big, "cccc", "dddd", "eeee"]);
        let (chunks, rej) = plan(&b, 0..6, 10);
        assert_eq!(rej.len(), 1);
        assert_eq!(rej[0].index, 2);
        assert!(rej[0].reason.contains("max_content_length"));
        for c in &chunks {
            assert!(body(&b, c).len() <= 10);
        }
        let all: Vec<usize> = chunks.iter().flat_map(|c| c.indices.clone()).collect();
        assert_eq!(all, vec![0, 1, 3, 4, 5]);
    }

    #[test]
    fn chunks_are_few_and_even() {
        // 21 records of 99 + 1 bytes = 2,100 bytes with a 1,000-byte limit: three requests of
        // 700, not 1,000 + 1,000 + 100.
        let rec = "r".repeat(99);
        let recs: Vec<&str> = (0..21).map(|_| rec.as_str()).collect();
        let b = batch_of(&recs);
        let (chunks, rej) = plan(&b, 0..21, 1_000);
        assert!(rej.is_empty());
        let sizes: Vec<usize> = chunks.iter().map(|c| body(&b, c).len()).collect();
        assert_eq!(sizes, vec![700, 700, 700]);
        // Exactly at the limit: one request.
        let (chunks, _) = plan(&b, 0..10, 1_000);
        assert_eq!(chunks.len(), 1);
    }

    #[test]
    fn contiguous_chunks_are_slices_of_the_batch_and_others_copies() {
        let b = batch_of(&["aa", "bbb", "c", "dddd"]);
        let base = b.data.as_ptr() as usize;
        let inside = |body: &Bytes| {
            let p = body.as_ptr() as usize;
            p >= base && p < base + b.data.len()
        };
        let middle = body(
            &b,
            &Chunk {
                indices: vec![1, 2],
            },
        );
        assert_eq!(&middle[..], b"bbb\nc\n");
        assert!(inside(&middle), "a contiguous chunk is not copied");
        let all = body(
            &b,
            &Chunk {
                indices: vec![0, 1, 2, 3],
            },
        );
        assert_eq!(&all[..], &b.data[..]);
        assert!(inside(&all));
        // After a rejection the remaining records are not adjacent: same bytes, copied.
        let gap = body(
            &b,
            &Chunk {
                indices: vec![0, 2, 3],
            },
        );
        assert_eq!(&gap[..], b"aa\nc\ndddd\n");
        assert!(!inside(&gap));
        // A batch whose records are not followed by `\n` (another encoder's separator) is
        // copied with the `\n` the HEC body needs.
        let mut odd = batch_of(&["x", "y"]);
        odd.data = Bytes::from_static(b"x,y,");
        let joined = body(
            &odd,
            &Chunk {
                indices: vec![0, 1],
            },
        );
        assert_eq!(&joined[..], b"x\ny\n");
        assert!(body(&b, &Chunk { indices: vec![] }).is_empty());
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read;
        let z = gzip(b"hello hello hello");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello hello hello");
    }
}
