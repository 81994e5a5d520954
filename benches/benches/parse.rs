//! Split, parse and encode throughput on the generator's realistic mix, next to a
//! `serde_json::Value` parse of the same bytes (the baseline), all in one process and run.
//!
//! `split_parse*` run the daemon's path, `parse_records` (each record parsed where it lies in
//! the body, which is the split); `two_pass_*` run the earlier path (a structural `split`, then
//! `parse_record` per range) that the one-pass path is defined to equal, for comparison.
//!
//! `cargo bench -p entrastream-benches --bench parse` — numbers in benches/README.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entrastream_benches::{realistic_bodies, total_bytes};
use entrastream_entra::{
    EncodeContext, ParseOptions, Schema, encode, parse_record, parse_records, split,
};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let bodies = realistic_bodies(32 << 20);
    let bytes = total_bytes(&bodies);
    let records: u64 = bodies.iter().map(|b| split(b).count() as u64).sum();
    eprintln!(
        "input: {} envelopes, {records} records, {:.1} MiB, {:.0} bytes/record",
        bodies.len(),
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / records as f64
    );
    let mut group = c.benchmark_group("records");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));

    group.bench_function("baseline_serde_json_value", |b| {
        b.iter(|| {
            for body in &bodies {
                let v: serde_json::Value = serde_json::from_slice(body).unwrap();
                black_box(v);
            }
        })
    });
    // simd-json parses in place, so each body is copied first (as a backend would have to).
    group.bench_function("alternative_simd_json_borrowed_value", |b| {
        let mut scratch = Vec::with_capacity(1 << 20);
        b.iter(|| {
            for body in &bodies {
                scratch.clear();
                scratch.extend_from_slice(body);
                let v = simd_json::to_borrowed_value(&mut scratch).unwrap();
                black_box(&v);
            }
        })
    });
    group.bench_function("split", |b| {
        b.iter(|| {
            for body in &bodies {
                for s in split(body) {
                    black_box(s.unwrap());
                }
            }
        })
    });
    let opts = ParseOptions::default();
    group.bench_function("split_parse", |b| {
        b.iter(|| {
            for body in &bodies {
                for r in parse_records(body, &opts) {
                    black_box(r.unwrap());
                }
            }
        })
    });
    group.bench_function("two_pass_split_parse", |b| {
        b.iter(|| {
            for body in &bodies {
                for s in split(body) {
                    black_box(parse_record(s.unwrap(), &opts).unwrap());
                }
            }
        })
    });
    let ctx = EncodeContext::default();
    for schema in Schema::ALL {
        group.bench_function(format!("split_parse_encode_{schema}"), |b| {
            let mut out = Vec::with_capacity(4 << 20);
            b.iter(|| {
                for body in &bodies {
                    out.clear();
                    for r in parse_records(body, &opts) {
                        encode(schema, &r.unwrap(), &ctx, &mut out).unwrap();
                        out.push(b'\n');
                    }
                    black_box(&out);
                }
            })
        });
    }
    group.bench_function("two_pass_split_parse_encode_native", |b| {
        let mut out = Vec::with_capacity(4 << 20);
        b.iter(|| {
            for body in &bodies {
                out.clear();
                for s in split(body) {
                    let r = parse_record(s.unwrap(), &opts).unwrap();
                    encode(Schema::Native, &r, &ctx, &mut out).unwrap();
                    out.push(b'\n');
                }
                black_box(&out);
            }
        })
    });
    group.finish();
}

criterion_group!(parse, benches);
criterion_main!(parse);
