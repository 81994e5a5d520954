//! What a run costs this process: CPU seconds and peak memory, from getrusage and
//! /proc/self/status; and the single-threaded parse + encode baseline.

use std::time::Instant;

use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};

/// A `kB` field of /proc/self/status (`VmHWM:`, `VmRSS:`), 0 when unreadable.
pub fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// (user CPU seconds, system CPU seconds, peak RSS KiB) of this process, from getrusage.
pub fn rusage_self() -> (f64, f64, u64) {
    use nix::sys::resource::{UsageWho, getrusage};
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    (
        secs(u.user_time()),
        secs(u.system_time()),
        u.max_rss().max(0) as u64,
    )
}

/// Step 2: parse + native encode of every body on one thread: (seconds, records/s, MB/s).
pub fn parse_encode(bodies: &[Vec<u8>], records: u64, input_bytes: u64) -> (f64, f64, f64) {
    let opts = ParseOptions::default();
    let ctx = EncodeContext::default();
    let mut out = Vec::with_capacity(4 << 20);
    let mut parsed = 0u64;
    let t = Instant::now();
    for body in bodies {
        out.clear();
        for s in split(body) {
            let r = parse_record(s.expect("generated body splits"), &opts).expect("parses");
            encode(Schema::Native, &r, &ctx, &mut out).expect("encodes");
            parsed += 1;
        }
        std::hint::black_box(&out);
    }
    let pe_secs = t.elapsed().as_secs_f64();
    assert_eq!(parsed, records, "records parsed");
    let pe_rps = parsed as f64 / pe_secs;
    let pe_mbs = input_bytes as f64 / 1e6 / pe_secs;
    eprintln!("parse+encode: {pe_secs:.2}s, {pe_rps:.0} records/s, {pe_mbs:.1} MB/s");
    (pe_secs, pe_rps, pe_mbs)
}
