//! gzip of HTTP-sink request bodies: every backend this build has (`GzipBackend::ALL`: zlib-rs,
//! plus ISA-L with `--features isal`) on the same 1 MB NDJSON bodies of native-encoded records,
//! in one process and run; zlib-rs (the default build's) is the baseline.
//!
//! `cargo bench -p entrastream-benches --features isal --bench gzip` — numbers in benches/README.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entrastream_benches::realistic_bodies;
use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};
use entrastream_sink_http::GzipBackend;
use std::hint::black_box;

/// The sinks' default `max_content_length` / Sumo's limit: one request body.
const REQUEST_BYTES: usize = 1_000_000;

fn request_bodies() -> Vec<Vec<u8>> {
    let opts = ParseOptions::default();
    let ctx = EncodeContext::default();
    let mut bodies = vec![Vec::with_capacity(REQUEST_BYTES)];
    let mut line = Vec::new();
    for envelope in realistic_bodies(32 << 20) {
        for slice in split(&envelope) {
            let record = parse_record(slice.expect("generator output splits"), &opts)
                .expect("generator output parses");
            line.clear();
            encode(Schema::Native, &record, &ctx, &mut line).expect("encodes");
            line.push(b'\n');
            let body = bodies.last_mut().expect("never empty");
            if body.len() + line.len() > REQUEST_BYTES && !body.is_empty() {
                bodies.push(Vec::with_capacity(REQUEST_BYTES));
            }
            bodies
                .last_mut()
                .expect("never empty")
                .extend_from_slice(&line);
        }
    }
    bodies
}

fn benches(c: &mut Criterion) {
    let bodies = request_bodies();
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    eprintln!(
        "input: {} request bodies of native NDJSON, {:.1} MiB",
        bodies.len(),
        bytes as f64 / (1 << 20) as f64
    );
    for &backend in GzipBackend::ALL {
        let compressed: usize = bodies.iter().map(|b| backend.compress(b).len()).sum();
        eprintln!(
            "{}: ratio {:.2} ({} → {} bytes)",
            backend.name(),
            bytes as f64 / compressed as f64,
            bytes,
            compressed
        );
    }
    let mut group = c.benchmark_group("gzip_1mb_requests");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    for &backend in GzipBackend::ALL {
        let label = if backend == GzipBackend::ZlibRs {
            "baseline_zlib_rs_level1".to_string()
        } else {
            format!("{}_level1", backend.name().replace('-', "_"))
        };
        group.bench_function(label, |b| {
            b.iter(|| {
                for body in &bodies {
                    black_box(backend.compress(body));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(gzip, benches);
criterion_main!(gzip);
