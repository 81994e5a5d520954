use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use entrastream_model::PartitionId;
use entrastream_sink::{EncodedBatch, RecordMeta};

use super::*;

/// A batch of NDJSON records `{"n":i}` for i in `ids`, from partition 0 at offset i.
fn batch(ids: std::ops::Range<u64>) -> EncodedBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for i in ids {
        let start = data.len();
        data.extend_from_slice(format!("{{\"n\":{i}}}").as_bytes());
        records.push(RecordMeta {
            range: start..data.len(),
            partition: PartitionId::new("hub", 0),
            offset: i as i64,
            category: "SignInLogs".into(),
        });
        data.push(b'\n');
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

fn ids(b: &EncodedBatch) -> Vec<u64> {
    (0..b.records.len())
        .map(|i| {
            let r = std::str::from_utf8(b.record(i).unwrap()).unwrap();
            r.trim_start_matches("{\"n\":")
                .trim_end_matches('}')
                .parse()
                .unwrap()
        })
        .collect()
}

struct Opened {
    shared: Arc<Shared>,
    writer: Writer,
    reader: Reader,
    recovery: Recovery,
}

fn open_dir(dir: &Path, max: u64, segment: u64) -> Opened {
    let (shared, writer, reader, recovery) =
        open(dir, max, segment, Arc::new(BufferStats::default())).unwrap();
    Opened {
        shared,
        writer,
        reader,
        recovery,
    }
}

/// Reads and acknowledges everything; returns the record ids and the damaged stretches.
fn drain_all(o: &mut Opened) -> (Vec<u64>, Vec<Damaged>) {
    let mut got = Vec::new();
    let mut damaged = Vec::new();
    while let Some(b) = o.reader.read(&o.shared, 300, b"\n").unwrap() {
        got.extend(ids(&b.batch));
        damaged.extend(b.damaged);
        acknowledge(&o.shared, b.end).unwrap();
    }
    (got, damaged)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn round_trip_across_segments_then_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 200);
    for k in 0..10 {
        let r = o
            .writer
            .append(&o.shared, &batch(k * 5..k * 5 + 5))
            .unwrap();
        assert!(r.is_empty());
    }
    assert!(segments(dir.path()).len() >= 5, "small segments rotate");
    let stats = o.shared.stats.clone();
    assert_eq!(stats.records.load(Ordering::Relaxed), 50);
    assert!(
        stats
            .oldest_record_age(std::time::SystemTime::now())
            .is_some()
    );
    let (got, damaged) = drain_all(&mut o);
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    assert!(damaged.is_empty());
    assert_eq!(stats.records.load(Ordering::Relaxed), 0);
    assert_eq!(stats.bytes.load(Ordering::Relaxed), 0);
    assert_eq!(
        segments(dir.path()).len(),
        1,
        "only the newest segment is left"
    );
    assert_eq!(stats.oldest_record_age(std::time::SystemTime::now()), None);
    // A reopened buffer has nothing to resend.
    drop(o);
    let mut o = open_dir(dir.path(), 1 << 20, 200);
    assert_eq!(o.recovery.pending_records, 0);
    assert_eq!(drain_all(&mut o).0, Vec::<u64>::new());
    o.writer.append(&o.shared, &batch(50..52)).unwrap();
    assert_eq!(drain_all(&mut o).0, vec![50, 51]);
}

#[test]
fn unacknowledged_records_are_read_again_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    o.writer.append(&o.shared, &batch(0..10)).unwrap();
    let first = o.reader.read(&o.shared, 40, b"\n").unwrap().unwrap();
    acknowledge(&o.shared, first.end).unwrap();
    let acked = ids(&first.batch);
    assert!(!acked.is_empty() && acked.len() < 10);
    // Read but not acknowledged: comes back after a restart.
    let _second = o.reader.read(&o.shared, 40, b"\n").unwrap().unwrap();
    drop(o);
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(o.recovery.pending_records, 10 - acked.len() as u64);
    let (got, _) = drain_all(&mut o);
    assert_eq!(got, (acked.len() as u64..10).collect::<Vec<_>>());
}

#[test]
fn full_refuses_until_drained_and_an_empty_buffer_takes_a_big_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 2000, 500);
    let mut accepted = 0;
    let err = loop {
        match o.writer.append(&o.shared, &batch(accepted..accepted + 5)) {
            Ok(_) => accepted += 5,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, AppendError::Full { .. }), "{err}");
    assert!(err.to_string().contains("buffer.max_size"));
    assert!(o.shared.stats.full.load(Ordering::Relaxed));
    assert!(o.shared.stats.disk_bytes.load(Ordering::Relaxed) <= 2000);
    let (got, _) = drain_all(&mut o);
    assert_eq!(got, (0..accepted).collect::<Vec<_>>());
    o.writer
        .append(&o.shared, &batch(accepted..accepted + 5))
        .unwrap();
    assert!(!o.shared.stats.full.load(Ordering::Relaxed));
    drain_all(&mut o);
    // Larger than max_size, into an empty buffer: accepted rather than stalled for ever.
    o.writer.append(&o.shared, &batch(1000..1100)).unwrap();
    assert_eq!(drain_all(&mut o).0, (1000..1100).collect::<Vec<_>>());
}

#[test]
fn a_torn_tail_is_cut_off_at_open_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    o.writer.append(&o.shared, &batch(0..3)).unwrap();
    drop(o);
    let seg = segments(dir.path()).pop().unwrap();
    let whole = std::fs::metadata(&seg).unwrap().len();
    // Half a frame more, as a write cut short by kill -9 leaves it.
    let mut extra = Vec::new();
    let b = batch(3..4);
    format::encode_frame(&mut extra, 3, 1, &b.records[0], b.record(0).unwrap()).unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&extra[..extra.len() / 2]);
    std::fs::write(&seg, &bytes).unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(o.recovery.torn_bytes, (extra.len() / 2) as u64);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), whole);
    assert_eq!(
        o.shared.stats.torn_bytes.load(Ordering::Relaxed),
        o.recovery.torn_bytes
    );
    o.writer.append(&o.shared, &batch(3..5)).unwrap();
    let (got, damaged) = drain_all(&mut o);
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
    assert!(damaged.is_empty());
}

#[test]
fn a_damaged_record_in_the_middle_is_reported_and_the_rest_survives() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    o.writer.append(&o.shared, &batch(0..10)).unwrap();
    drop(o);
    let seg = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.windows(6).position(|w| w == b"\"n\":4}").unwrap();
    bytes[at + 4] = b'X';
    std::fs::write(&seg, &bytes).unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    let (got, damaged) = drain_all(&mut o);
    assert_eq!(got, vec![0, 1, 2, 3, 5, 6, 7, 8, 9]);
    assert_eq!(damaged.len(), 1);
    let meta = damaged[0].meta.as_ref().expect("origin verified");
    assert_eq!(meta.offset, 4);
    assert_eq!(damaged[0].reason, "record checksum mismatch");
    assert_eq!(o.shared.stats.records_corrupt.load(Ordering::Relaxed), 1);
}

#[test]
fn a_lost_ack_file_resends_everything_and_a_stale_one_skips_deleted_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 100);
    o.writer.append(&o.shared, &batch(0..6)).unwrap();
    drop(o);
    std::fs::write(dir.path().join(ACK_FILE), b"garbage").unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 100);
    assert!(o.recovery.ack_lost);
    assert_eq!(drain_all(&mut o).0, (0..6).collect::<Vec<_>>());
    // Stale: the position names a segment that is gone; its successor starts from 0.
    let stale = std::fs::read(dir.path().join(ACK_FILE)).unwrap();
    for k in 0..4 {
        o.writer
            .append(&o.shared, &batch(10 + k * 3..13 + k * 3))
            .unwrap();
    }
    let first = o.reader.read(&o.shared, 1, b"\n").unwrap().unwrap();
    acknowledge(&o.shared, first.end).unwrap();
    drop(o);
    std::fs::write(dir.path().join(ACK_FILE), stale).unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 100);
    assert!(!o.recovery.ack_lost);
    assert_eq!(drain_all(&mut o).0, (10..22).collect::<Vec<_>>());
}

#[test]
fn a_directory_is_used_by_one_buffer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let _o = open_dir(dir.path(), 1 << 20, 100);
    let err = open(dir.path(), 1 << 20, 100, Arc::default()).unwrap_err();
    assert!(matches!(err, OpenError::Locked(_)), "{err}");
}

/// Cutting the newest segment at every byte position (what kill -9 mid-write can leave):
/// reopening never fails, never invents a record, and keeps every record whose frame was
/// whole. Flipping a byte at every position: only the record holding it is lost, and it is
/// reported.
#[test]
fn every_truncation_and_every_flipped_byte_of_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    let mut ends = Vec::new();
    for k in 0..6 {
        o.writer.append(&o.shared, &batch(k..k + 1)).unwrap();
        ends.push(o.writer.len);
    }
    drop(o);
    let seg = segments(dir.path()).pop().unwrap();
    let original = std::fs::read(&seg).unwrap();
    let work = tempfile::tempdir().unwrap();
    let copy = |bytes: &[u8]| {
        let d = work.path().join("b");
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join(seg.file_name().unwrap()), bytes).unwrap();
        d
    };
    for cut in 0..=original.len() {
        let d = copy(&original[..cut]);
        let mut o = open_dir(&d, 1 << 20, 1 << 20);
        let whole = ends.iter().filter(|&&e| e as usize <= cut).count() as u64;
        let (got, damaged) = drain_all(&mut o);
        assert_eq!(got, (0..whole).collect::<Vec<_>>(), "cut at {cut}");
        assert!(damaged.is_empty(), "cut at {cut}: {damaged:?}");
    }
    for at in 0..original.len() {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        let d = copy(&bytes);
        let mut o = open_dir(&d, 1 << 20, 1 << 20);
        let hit = ends.iter().position(|&e| at < e as usize).unwrap() as u64;
        let (got, damaged) = drain_all(&mut o);
        let expected: Vec<u64> = (0..6).filter(|&i| i != hit).collect();
        if hit == 5 && got == expected && damaged.is_empty() {
            // The newest segment's last frame with a damaged header is indistinguishable
            // from a torn write: cut off as a torn tail (never acknowledged if it was one).
            assert!(o.recovery.torn_bytes > 0, "flip at {at}");
            continue;
        }
        assert_eq!(got, expected, "flip at {at}");
        assert_eq!(damaged.len(), 1, "flip at {at}: {damaged:?}");
    }
}

/// Every batch `read` hands out from `o`, with its end, until nothing is left.
fn read_all(o: &mut Opened, max: usize) -> Vec<(Vec<u64>, Bytes, Cursor)> {
    let mut out = Vec::new();
    while let Some(b) = o.reader.read(&o.shared, max, b"\n").unwrap() {
        out.push((ids(&b.batch), b.batch.data.clone(), b.end));
        acknowledge(&o.shared, b.end).unwrap();
    }
    out
}

#[test]
fn the_in_memory_tail_hands_out_exactly_what_the_disk_holds() {
    // The same appends, read back from disk in one buffer and from the tail in another:
    // same records, same bytes, same positions (rotation across segments included).
    let from_disk = tempfile::tempdir().unwrap();
    let from_tail = tempfile::tempdir().unwrap();
    let mut d = open_dir(from_disk.path(), 1 << 20, 600);
    let mut t = open_dir(from_tail.path(), 1 << 20, 600);
    t.shared.keep_tail(b"\n", 1 << 20);
    for k in 0..12 {
        d.writer
            .append(&d.shared, &batch(k * 7..k * 7 + 7))
            .unwrap();
        t.writer
            .append_owned(&t.shared, batch(k * 7..k * 7 + 7))
            .unwrap();
    }
    // A disk read may span several appends of a segment, a tail batch only one: compare
    // what they hand out as a whole, and where they end.
    let joined = |batches: &[(Vec<u64>, Bytes, Cursor)]| {
        let ids: Vec<u64> = batches.iter().flat_map(|b| b.0.clone()).collect();
        let data: Vec<u8> = batches.iter().flat_map(|b| b.1.to_vec()).collect();
        (ids, data, batches.last().map(|b| b.2))
    };
    let disk = read_all(&mut d, 300);
    let tail = read_all(&mut t, 300);
    assert_eq!(joined(&tail), joined(&disk));
    assert_eq!(joined(&tail).0, (0..84).collect::<Vec<_>>());
    assert!(tail.len() > 12, "appends split into several batches");
    let stats = &t.shared.stats;
    assert_eq!(
        stats.bytes_from_tail.load(Ordering::Relaxed),
        stats.bytes_written.load(Ordering::Relaxed),
        "every byte came from the tail"
    );
    assert_eq!(d.shared.stats.bytes_from_tail.load(Ordering::Relaxed), 0);
}

#[test]
fn appends_past_the_tail_bound_are_read_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    // Room for about one batch: the drain is behind, the next ones stay on disk only.
    let one = batch(0..10).data.len();
    o.shared.keep_tail(b"\n", one);
    for k in 0..5 {
        o.writer
            .append_owned(&o.shared, batch(k * 10..k * 10 + 10))
            .unwrap();
    }
    let got = read_all(&mut o, 1 << 20);
    assert_eq!(
        got.iter().flat_map(|b| b.0.clone()).collect::<Vec<_>>(),
        (0..50).collect::<Vec<_>>()
    );
    let stats = o.shared.stats.clone();
    let from_tail = stats.bytes_from_tail.load(Ordering::Relaxed);
    assert!(from_tail > 0, "the first batch came from the tail");
    assert!(from_tail < stats.bytes_written.load(Ordering::Relaxed));
    // Once caught up, new appends come from the tail again.
    o.writer.append_owned(&o.shared, batch(50..55)).unwrap();
    let before = stats.bytes_from_tail.load(Ordering::Relaxed);
    let got = read_all(&mut o, 1 << 20);
    assert_eq!(got[0].0, (50..55).collect::<Vec<_>>());
    assert!(stats.bytes_from_tail.load(Ordering::Relaxed) > before);
}

#[test]
fn a_batch_whose_records_are_not_back_to_back_stays_out_of_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = open_dir(dir.path(), 1 << 20, 1 << 20);
    o.shared.keep_tail(b"\n", 1 << 20);
    // Records separated by "\r\n": not the drain's separator.
    let mut b = batch(0..3);
    let text = b"{\"n\":0}\r\n{\"n\":1}\r\n{\"n\":2}\r\n";
    b.data = Bytes::from_static(text);
    for (i, m) in b.records.iter_mut().enumerate() {
        m.range = i * 9..i * 9 + 7;
    }
    o.writer.append_owned(&o.shared, b).unwrap();
    let got = read_all(&mut o, 1 << 20);
    assert_eq!(got[0].0, vec![0, 1, 2]);
    assert_eq!(&got[0].1[..], b"{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    assert_eq!(o.shared.stats.bytes_from_tail.load(Ordering::Relaxed), 0);
}
