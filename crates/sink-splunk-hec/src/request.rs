//! Turning a batch into requests: chunks of whole records whose body stays within the max
//! content length, and their bodies (optionally gzipped).

use bytes::Bytes;
use entrastream_sink::{EncodedBatch, RejectReason, Rejection};
use entrastream_sink_http::{even_requests, ndjson_body};

/// Records (indices into the batch) sent in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Batch indices, ascending.
    pub indices: Vec<usize>,
}

/// Groups `todo` records into chunks whose body (records joined by `\n`) is at most `max`
/// bytes, as few and as even as [`even_requests`] makes them. A record alone above `max` is
/// rejected with a reason, never truncated.
pub fn plan(
    batch: &EncodedBatch,
    todo: impl IntoIterator<Item = usize>,
    max: usize,
) -> (Vec<Chunk>, Vec<Rejection>) {
    let (requests, oversize) = even_requests(batch, todo, max);
    let rejections = oversize
        .into_iter()
        .map(|i| Rejection {
            index: i,
            reason: RejectReason::Oversize(format!(
                "record of {} bytes is larger than max_content_length ({max} bytes); not truncated",
                batch.records[i].range.len()
            )),
        })
        .collect();
    let chunks = requests
        .into_iter()
        .map(|indices| Chunk { indices })
        .collect();
    (chunks, rejections)
}

/// The request body of a chunk: its records, each followed by `\n` (a slice of the batch when
/// they are contiguous, see [`ndjson_body`]).
pub fn body(batch: &EncodedBatch, chunk: &Chunk) -> Bytes {
    ndjson_body(batch, &chunk.indices)
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
        // The class is the variant, the dead-letter metric label its code.
        assert_eq!(rej[0].reason.code(), "oversize");
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
