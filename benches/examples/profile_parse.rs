//! One pass of a chosen stage over generated input, for `valgrind --tool=callgrind` or `perf`,
//! whose instruction counts do not depend on what else the machine is doing.
//! Usage: profile_parse [none|split|parse|native|ecs|ocsf|raw|value] [MiB]
//!
//! `parse` and the schema stages run the daemon's path (`parse_records`: records parsed where
//! they lie, one pass); prefix them with `two-pass-` (`two-pass-native`) for the earlier path,
//! `split` then `parse_record` per range, which is the reference the one-pass path must equal.

use entrastream_benches::realistic_bodies;
use entrastream_entra::{
    EncodeContext, ParseOptions, Record, Schema, encode, parse_record, parse_records, split,
};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stage = args.get(1).map(String::as_str).unwrap_or("native");
    let mib: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let bodies = realistic_bodies(mib << 20);
    let opts = ParseOptions::default();
    let ctx = EncodeContext::default();
    let mut out = Vec::with_capacity(4 << 20);
    let start = std::time::Instant::now();
    let mut records = 0u64;
    for body in &bodies {
        out.clear();
        match stage {
            "value" => {
                black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap());
            }
            // Generation only: subtract its instruction count from the other stages'.
            "none" => {}
            "split" => records += split(body).count() as u64,
            _ => {
                let (two_pass, rest) = match stage.strip_prefix("two-pass-") {
                    Some(rest) => (true, rest),
                    None => (false, stage),
                };
                let schema = match rest {
                    "parse" => None,
                    other => Some(other.parse::<Schema>().unwrap()),
                };
                let mut each = |r: Record<'_>| {
                    records += 1;
                    if let Some(schema) = schema {
                        encode(schema, &r, &ctx, &mut out).unwrap();
                    }
                };
                if two_pass {
                    for s in split(body) {
                        each(parse_record(s.unwrap(), &opts).unwrap());
                    }
                } else {
                    for r in parse_records(body, &opts) {
                        each(r.unwrap());
                    }
                }
            }
        }
        black_box(&out);
    }
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{stage}: {records} records, {:.1} MiB in {secs:.3}s = {:.0} MiB/s",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / (1 << 20) as f64 / secs
    );
}
