//! `report` (split, parse, observe into every answer) against `parse --schema native` (split,
//! parse, encode) over the same generator bytes, in one process and run.
//!
//! `cargo bench -p entrastream-benches --bench report` — numbers in benches/README.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use entrastream_benches::{realistic_bodies, total_bytes};
use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};
use entrastream_report::{Report, ReportOptions};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let bodies = realistic_bodies(32 << 20);
    let bytes = total_bytes(&bodies);
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    let opts = ParseOptions::default();
    group.bench_function("parse_schema_native", |b| {
        let ctx = EncodeContext::default();
        let mut out = Vec::with_capacity(1 << 20);
        b.iter(|| {
            for body in &bodies {
                for s in split(body) {
                    out.clear();
                    let r = parse_record(s.unwrap(), &opts).unwrap();
                    encode(Schema::Native, &r, &ctx, &mut out).unwrap();
                    black_box(&out);
                }
            }
        })
    });
    group.bench_function("report_observe_and_finish", |b| {
        b.iter(|| {
            let mut report = Report::new(ReportOptions::default());
            for body in &bodies {
                for s in split(body) {
                    report.observe(&parse_record(s.unwrap(), &opts).unwrap());
                }
            }
            black_box(report.finish())
        })
    });
    group.finish();
}

criterion_group!(report_benches, benches);
criterion_main!(report_benches);
