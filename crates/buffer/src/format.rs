//! The on-disk record frame and the parser of a window of segment bytes.
//!
//! A segment file is a sequence of frames, one per record, nothing else (no file header: an
//! empty file is a valid empty segment). All integers are little-endian.
//!
//! ```text
//! offset  size  field
//!      0     4  magic "ESB1"
//!      4     4  meta_len   (u32, at most MAX_META)
//!      8     4  data_len   (u32, at most MAX_DATA)
//!     12     8  meta_hash  xxh3-64 of bytes 4..12 (both lengths) followed by the meta bytes
//!     20     8  data_hash  xxh3-64 of the data bytes
//!     28  meta  seq u64 · appended_ms u64 · partition i32 · offset i64 ·
//!               topic_len u32 · topic · category_len u32 · category
//!      …  data  the record as the sink's encoder wrote it (no separator)
//! ```
//!
//! Why two checksums: the header checksum covers the lengths and the record's origin, so a
//! damaged length is caught before it is trusted, and a record whose *data* is damaged still
//! has a verified partition and offset for its dead-letter line. Why a magic: after a damaged
//! header the parser finds the next frame by looking for the magic and verifying the header
//! there, so one bad record costs that record, not the rest of the segment.
//!
//! Nothing here does I/O; [`parse_window`] is what the fuzz target drives.

use std::ops::Range;

use entrastream_model::PartitionId;
use entrastream_sink::RecordMeta;
use xxhash_rust::xxh3::xxh3_64;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"ESB1";
/// Bytes of the fixed frame header.
pub const HEADER_LEN: usize = 28;
/// Largest meta section accepted (topic and category are short; anything larger is damage).
pub const MAX_META: u32 = 1 << 20;
/// Largest record accepted (far above any record a sink encodes).
pub const MAX_DATA: u32 = 256 << 20;

/// The origin of one buffered record, as stored in its frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameMeta {
    /// Position of the record in the buffer's append order (0, 1, 2, … over its lifetime).
    pub seq: u64,
    /// When it was appended (Unix milliseconds): the oldest-record age metric.
    pub appended_ms: u64,
    /// Source partition of the message that carried the record.
    pub partition: PartitionId,
    /// Offset of that message.
    pub offset: i64,
    /// Diagnostic category.
    pub category: String,
}

/// Appends one frame for a record to `out`. Records whose topic or category would not fit a
/// frame (over [`MAX_META`], or data over [`MAX_DATA`]) are refused with a reason.
pub fn encode_frame(
    out: &mut Vec<u8>,
    seq: u64,
    appended_ms: u64,
    meta: &RecordMeta,
    data: &[u8],
) -> Result<(), String> {
    let topic = meta.partition.topic.as_bytes();
    let category = meta.category.as_bytes();
    let meta_len = 8 + 8 + 4 + 8 + 4 + topic.len() + 4 + category.len();
    if meta_len > MAX_META as usize || data.len() > MAX_DATA as usize {
        return Err(format!(
            "record too large for the buffer ({meta_len} bytes of origin, {} bytes of data)",
            data.len()
        ));
    }
    let start = out.len();
    out.reserve(HEADER_LEN + meta_len + data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(meta_len as u32).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    let hashes_at = out.len();
    out.extend_from_slice(&[0u8; 16]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&appended_ms.to_le_bytes());
    out.extend_from_slice(&meta.partition.partition.to_le_bytes());
    out.extend_from_slice(&meta.offset.to_le_bytes());
    out.extend_from_slice(&(topic.len() as u32).to_le_bytes());
    out.extend_from_slice(topic);
    out.extend_from_slice(&(category.len() as u32).to_le_bytes());
    out.extend_from_slice(category);
    out.extend_from_slice(data);
    let meta_hash = meta_hash(
        &out[start + 4..start + 12],
        &out[start + HEADER_LEN..start + HEADER_LEN + meta_len],
    );
    let data_hash = xxh3_64(data);
    out[hashes_at..hashes_at + 8].copy_from_slice(&meta_hash.to_le_bytes());
    out[hashes_at + 8..hashes_at + 16].copy_from_slice(&data_hash.to_le_bytes());
    Ok(())
}

fn meta_hash(lengths: &[u8], meta: &[u8]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(lengths);
    h.update(meta);
    h.digest()
}

/// What the bytes at the start of a slice are.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole, verified frame of `len` bytes; its data is `data` (relative to the slice).
    Frame {
        len: usize,
        meta: FrameMeta,
        data: Range<usize>,
    },
    /// The slice ends inside a frame. `need` is the frame's full length as its header states
    /// it (`None`: not even the header is there); `verified`: the header and origin checksum
    /// held, so the length can be trusted.
    Incomplete { need: Option<usize>, verified: bool },
    /// Not the start of a valid frame (magic, lengths, meta checksum or meta layout).
    BadHeader { reason: &'static str },
    /// A frame whose header and origin verify but whose data fails its checksum.
    BadData { len: usize, meta: FrameMeta },
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes the frame at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded {
    let prefix = buf.len().min(4);
    if buf[..prefix] != MAGIC[..prefix] {
        return Decoded::BadHeader {
            reason: "bad magic",
        };
    }
    if buf.len() < HEADER_LEN {
        return Decoded::Incomplete {
            need: None,
            verified: false,
        };
    }
    let (Some(meta_len), Some(data_len), Some(mhash), Some(dhash)) = (
        u32_at(buf, 4),
        u32_at(buf, 8),
        u64_at(buf, 12),
        u64_at(buf, 20),
    ) else {
        return Decoded::Incomplete {
            need: None,
            verified: false,
        };
    };
    if meta_len > MAX_META || data_len > MAX_DATA {
        return Decoded::BadHeader {
            reason: "impossible length",
        };
    }
    let meta_end = HEADER_LEN + meta_len as usize;
    let len = meta_end + data_len as usize;
    let Some(meta_bytes) = buf.get(HEADER_LEN..meta_end) else {
        return Decoded::Incomplete {
            need: Some(len),
            verified: false,
        };
    };
    if meta_hash(&buf[4..12], meta_bytes) != mhash {
        return Decoded::BadHeader {
            reason: "header checksum mismatch",
        };
    }
    let Some(meta) = parse_meta(meta_bytes) else {
        return Decoded::BadHeader {
            reason: "malformed origin",
        };
    };
    let Some(data) = buf.get(meta_end..len) else {
        return Decoded::Incomplete {
            need: Some(len),
            verified: true,
        };
    };
    if xxh3_64(data) != dhash {
        return Decoded::BadData { len, meta };
    }
    Decoded::Frame {
        len,
        meta,
        data: meta_end..len,
    }
}

fn parse_meta(m: &[u8]) -> Option<FrameMeta> {
    let seq = u64_at(m, 0)?;
    let appended_ms = u64_at(m, 8)?;
    let partition = i32::from_le_bytes(m.get(16..20)?.try_into().ok()?);
    let offset = i64::from_le_bytes(m.get(20..28)?.try_into().ok()?);
    let topic_len = u32_at(m, 28)? as usize;
    let topic_end = 32usize.checked_add(topic_len)?;
    let topic = std::str::from_utf8(m.get(32..topic_end)?).ok()?;
    let cat_len = u32_at(m, topic_end)? as usize;
    let cat_start = topic_end + 4;
    let cat_end = cat_start.checked_add(cat_len)?;
    if cat_end != m.len() {
        return None;
    }
    let category = std::str::from_utf8(m.get(cat_start..cat_end)?).ok()?;
    Some(FrameMeta {
        seq,
        appended_ms,
        partition: PartitionId::new(topic, partition),
        offset,
        category: category.to_string(),
    })
}

/// The next position at or after `from` where a frame with a verified header starts (its data
/// may still be damaged), if any in `buf`.
pub fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < buf.len() {
        let found = memchr::memmem::find(&buf[at..], &MAGIC)?;
        let p = at + found;
        match decode(&buf[p..]) {
            Decoded::Frame { .. } | Decoded::BadData { .. } => return Some(p),
            Decoded::Incomplete { verified: true, .. } => return Some(p),
            _ => at = p + 1,
        }
    }
    None
}

/// One item of a parsed window, positions relative to the window.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A verified record.
    Record { meta: FrameMeta, data: Range<usize> },
    /// Bytes that are not a verified record, followed by a verified frame (or a damaged
    /// record with a verified origin): skipped, reported with a reason.
    Damaged {
        range: Range<usize>,
        reason: &'static str,
        meta: Option<FrameMeta>,
    },
    /// Bytes at the very end of the segment that hold no complete frame and are followed by
    /// none: what a write cut short by a crash leaves (a torn tail).
    Torn { range: Range<usize> },
}

/// What [`parse_window`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Items in order; together they cover `0..consumed` exactly.
    pub items: Vec<Item>,
    /// Bytes of the window accounted for.
    pub consumed: usize,
    /// The window ends inside something the parser cannot judge without more bytes: it wants
    /// a window reaching at least this far (`usize::MAX`: up to the segment's end).
    pub want: Option<usize>,
}

/// Parses a window of segment bytes that starts at a frame boundary. `at_end`: the window
/// reaches the segment's durable end, so an unfinished frame there is a torn tail rather than
/// a frame that continues past the window.
pub fn parse_window(buf: &[u8], at_end: bool) -> Parsed {
    let mut out = Parsed::default();
    let mut pos = 0;
    while pos < buf.len() {
        match decode(&buf[pos..]) {
            Decoded::Frame { len, meta, data } => {
                out.items.push(Item::Record {
                    meta,
                    data: pos + data.start..pos + data.end,
                });
                pos += len;
            }
            Decoded::BadData { len, meta } => {
                out.items.push(Item::Damaged {
                    range: pos..pos + len,
                    reason: "record checksum mismatch",
                    meta: Some(meta),
                });
                pos += len;
            }
            Decoded::Incomplete { need, .. } if !at_end => {
                out.want = Some(need.map_or(usize::MAX, |n| pos.saturating_add(n)));
                break;
            }
            Decoded::Incomplete { .. } | Decoded::BadHeader { .. } => {
                let reason = match decode(&buf[pos..]) {
                    Decoded::BadHeader { reason } => reason,
                    _ => "incomplete frame",
                };
                match resync(buf, pos + 1) {
                    Some(next) => {
                        out.items.push(Item::Damaged {
                            range: pos..next,
                            reason,
                            meta: None,
                        });
                        pos = next;
                    }
                    None if at_end => {
                        out.items.push(Item::Torn {
                            range: pos..buf.len(),
                        });
                        pos = buf.len();
                    }
                    None => {
                        // The next good frame may lie past the window.
                        out.want = Some(usize::MAX);
                        break;
                    }
                }
            }
        }
    }
    out.consumed = pos;
    out
}

/// Checks what the reader promises on any input (the fuzz target's body, also run by the
/// property tests): no panic, every consumed byte in exactly one item, `at_end` judges every
/// byte, and every record re-decodes on its own to the same origin and bytes.
pub fn check_parse_invariants(data: &[u8]) {
    for at_end in [false, true] {
        let parsed = parse_window(data, at_end);
        assert!(parsed.consumed <= data.len());
        if at_end {
            assert_eq!(
                parsed.consumed,
                data.len(),
                "at the end every byte is judged"
            );
            assert!(parsed.want.is_none());
        }
        let mut covered = 0;
        for item in &parsed.items {
            let range = match item {
                Item::Record { meta, data: r } => {
                    match decode(&data[covered..]) {
                        Decoded::Frame {
                            meta: m, data: d, ..
                        } => {
                            assert_eq!(&m, meta);
                            assert_eq!(covered + d.start..covered + d.end, r.clone());
                        }
                        other => panic!("a record that does not decode: {other:?}"),
                    }
                    covered..r.end
                }
                Item::Damaged { range, .. } | Item::Torn { range } => range.clone(),
            };
            assert_eq!(range.start, covered, "items are contiguous");
            assert!(range.end > range.start, "every item covers bytes");
            covered = range.end;
        }
        assert_eq!(covered, parsed.consumed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn meta(offset: i64, category: &str) -> RecordMeta {
        RecordMeta {
            range: 0..0,
            partition: PartitionId::new("hub", 3),
            offset,
            category: category.into(),
        }
    }

    fn frames(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, r) in records.iter().enumerate() {
            encode_frame(
                &mut out,
                i as u64,
                1000 + i as u64,
                &meta(i as i64, "SignInLogs"),
                r,
            )
            .unwrap();
        }
        out
    }

    fn records_of(p: &Parsed, buf: &[u8]) -> Vec<Vec<u8>> {
        p.items
            .iter()
            .filter_map(|i| match i {
                Item::Record { data, .. } => Some(buf[data.clone()].to_vec()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn round_trip_keeps_origin_and_bytes() {
        let buf = frames(&[b"{\"a\":1}", b"", b"{\"c\":3}"]);
        let p = parse_window(&buf, true);
        assert_eq!(p.consumed, buf.len());
        assert_eq!(p.want, None);
        assert_eq!(
            records_of(&p, &buf),
            [b"{\"a\":1}".to_vec(), vec![], b"{\"c\":3}".to_vec()]
        );
        let Item::Record { meta, .. } = &p.items[2] else {
            panic!("not a record: {:?}", p.items[2]);
        };
        assert_eq!(meta.seq, 2);
        assert_eq!(meta.appended_ms, 1002);
        assert_eq!(meta.partition, PartitionId::new("hub", 3));
        assert_eq!(meta.offset, 2);
        assert_eq!(meta.category, "SignInLogs");
    }

    #[test]
    fn a_torn_tail_is_reported_at_the_end_and_waited_for_elsewhere() {
        let buf = frames(&[b"first record", b"second record"]);
        let cut = &buf[..buf.len() - 3];
        let p = parse_window(cut, true);
        assert_eq!(records_of(&p, cut), [b"first record".to_vec()]);
        let first_len = p.items.len();
        assert!(matches!(p.items[first_len - 1], Item::Torn { .. }));
        assert_eq!(p.consumed, cut.len());
        let p = parse_window(cut, false);
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.want, Some(buf.len()), "asks for the whole second frame");
    }

    #[test]
    fn damaged_data_keeps_its_origin_and_the_next_record_survives() {
        let mut buf = frames(&[b"first record", b"second record", b"third record"]);
        let second = buf.windows(13).position(|w| w == b"second record").unwrap();
        buf[second + 2] ^= 0x20;
        let p = parse_window(&buf, true);
        assert_eq!(
            records_of(&p, &buf),
            [b"first record".to_vec(), b"third record".to_vec()]
        );
        let damaged = p
            .items
            .iter()
            .find_map(|i| match i {
                Item::Damaged { meta, reason, .. } => Some((meta.clone(), *reason)),
                _ => None,
            })
            .unwrap();
        assert_eq!(damaged.0.unwrap().offset, 1);
        assert_eq!(damaged.1, "record checksum mismatch");
    }

    #[test]
    fn a_damaged_length_is_caught_and_skipped_to_the_next_frame() {
        let mut buf = frames(&[b"first record", b"second record", b"third record"]);
        let first_len = match decode(&buf) {
            Decoded::Frame { len, .. } => len,
            other => panic!("{other:?}"),
        };
        buf[first_len + 9] = 0x7f; // data_len of the second frame
        let p = parse_window(&buf, true);
        assert_eq!(
            records_of(&p, &buf),
            [b"first record".to_vec(), b"third record".to_vec()]
        );
        assert!(p.items.iter().any(|i| matches!(
            i,
            Item::Damaged {
                reason: "header checksum mismatch",
                meta: None,
                ..
            }
        )));
    }

    proptest! {
        // Any truncation and any one flipped byte: the parser never panics, never yields a
        // record that was not written, accounts for every byte, and keeps every record that
        // lies wholly before the damage.
        #[test]
        fn damage_never_invents_or_loses_untouched_records(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
            let mut buf = frames(&refs);
            let flip_at = flip.index(buf.len());
            buf[flip_at] ^= 1 << bit;
            let cut_at = cut.index(buf.len() + 1);
            let buf = &buf[..cut_at];
            let p = parse_window(buf, true);
            prop_assert_eq!(p.consumed, buf.len());
            let mut covered = 0;
            for item in &p.items {
                let range = match item {
                    Item::Record { meta, data } => {
                        prop_assert_eq!(&buf[data.clone()], records[meta.seq as usize].as_slice());
                        covered..data.end
                    }
                    Item::Damaged { range, .. } | Item::Torn { range } => range.clone(),
                };
                prop_assert_eq!(range.start, covered);
                covered = range.end;
            }
            prop_assert_eq!(covered, buf.len());
            // Every record whose frame ends before the flipped byte and the cut is found.
            let mut end = 0;
            let mut expected = 0;
            for r in &records {
                let mut one = Vec::new();
                encode_frame(&mut one, 0, 0, &meta(0, "SignInLogs"), r).unwrap();
                end += one.len();
                if end <= flip_at && end <= cut_at {
                    expected += 1;
                }
            }
            let found = p.items.iter().filter(|i| matches!(i, Item::Record { .. })).count();
            prop_assert!(found >= expected, "found {found} of {expected}");
        }

        #[test]
        fn arbitrary_bytes_keep_the_invariants(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            check_parse_invariants(&bytes);
        }

        // Valid frames with random bytes spliced in: the interesting inputs for resync.
        #[test]
        fn frames_with_garbage_keep_the_invariants(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
            at in any::<prop::sample::Index>(),
        ) {
            let refs: Vec<&[u8]> = records.iter().map(|r| r.as_slice()).collect();
            let mut buf = frames(&refs);
            let at = at.index(buf.len() + 1);
            buf.splice(at..at, garbage);
            check_parse_invariants(&buf);
        }
    }
}
