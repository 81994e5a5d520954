//! Disk buffer write throughput (issue 13): `BufferedSink::send` of native-encoded records,
//! framed, written and fsynced, in group commits of 8 MiB (what the pipeline merges for it, as
//! for the file sink) and of 1 MiB (one pipeline batch per fsync). The drain runs meanwhile into
//! a blackhole, as in production, so segments are deleted and the disk use stays bounded.
//!
//! `cargo bench -p entrastream-benches --bench buffer` — numbers in benches/README.md.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entrastream_benches::realistic_bodies;
use entrastream_buffer::{BufferedSink, DrainOptions};
use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};
use entrastream_model::PartitionId;
use entrastream_sink::{EncodedBatch, Outcome, RecordMeta, Sink};
use entrastream_sink_file::BlackholeSink;

/// Batches of about `size` bytes of native NDJSON, with record metadata as the pipeline sets it.
fn batches(size: usize, total: usize) -> Vec<EncodedBatch> {
    let opts = ParseOptions::default();
    let ctx = EncodeContext::default();
    let partition = PartitionId::new("insights-logs-signinlogs", 0);
    let mut out = Vec::new();
    let mut data = Vec::with_capacity(size);
    let mut records = Vec::new();
    for (offset, envelope) in (1i64..).zip(realistic_bodies(total)) {
        for slice in split(&envelope) {
            let record = parse_record(slice.expect("generator output splits"), &opts)
                .expect("generator output parses");
            let start = data.len();
            encode(Schema::Native, &record, &ctx, &mut data).expect("encodes");
            records.push(RecordMeta {
                range: start..data.len(),
                partition: partition.clone(),
                offset,
                category: record.category().to_string(),
            });
            data.push(b'\n');
            if data.len() >= size {
                out.push(EncodedBatch {
                    data: Bytes::from(std::mem::replace(&mut data, Vec::with_capacity(size))),
                    records: std::mem::take(&mut records),
                });
            }
        }
    }
    out
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("buffer_write_fsync");
    group.sample_size(10);
    for (label, size) in [("8MiB_group_commit", 8 << 20), ("1MiB_batches", 1 << 20)] {
        let input = batches(size, 64 << 20);
        let bytes: usize = input.iter().map(|b| b.data.len()).sum();
        let dir = tempfile::tempdir().expect("temp dir");
        let _guard = rt.enter();
        let blackhole = BlackholeSink::new("blackhole", Schema::Native);
        let mut sink = BufferedSink::open(
            dir.path(),
            4 << 30,
            Box::new(blackhole.clone()),
            Box::new(BlackholeSink::new("dead_letter", Schema::Raw)),
            DrainOptions::default(),
        )
        .expect("buffer opens");
        let stats = Arc::clone(&sink.stats());
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(label, |b| {
            b.iter(|| {
                rt.block_on(async {
                    for batch in &input {
                        assert_eq!(sink.send(batch).await, Outcome::Delivered);
                    }
                })
            })
        });
        eprintln!(
            "{label}: {} batches, {:.1} MiB of records per iteration; frame overhead {:.1} %; \
             drained {} records",
            input.len(),
            bytes as f64 / (1 << 20) as f64,
            (stats
                .bytes_written
                .load(std::sync::atomic::Ordering::Relaxed) as f64
                / stats
                    .records_written
                    .load(std::sync::atomic::Ordering::Relaxed)
                    .max(1) as f64)
                / (bytes as f64 / input.iter().map(|b| b.records.len()).sum::<usize>() as f64)
                * 100.0
                - 100.0,
            blackhole.records.load(std::sync::atomic::Ordering::Relaxed),
        );
    }
    group.finish();
}

criterion_group!(buffer, benches);
criterion_main!(buffer);
