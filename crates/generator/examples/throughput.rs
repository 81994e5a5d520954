//! Measures generation speed: `cargo run --release -p entrastream-generator --example throughput
//! [records] [dump-file]`. With a dump file, writes the envelopes there, one per line.

use std::io::Write as _;
use std::time::Instant;

use entrastream_generator::{Generator, GeneratorConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let target: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dump = args.next();
    let mut generator = match Generator::new(GeneratorConfig::default()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut file = dump.map(|p| std::io::BufWriter::new(std::fs::File::create(p).unwrap()));
    let mut buf = Vec::with_capacity(1 << 20);
    let (mut records, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    while records < target {
        buf.clear();
        let info = generator.next_envelope(&mut buf);
        records += info.records as u64;
        bytes += info.bytes as u64;
        if let Some(f) = file.as_mut() {
            f.write_all(&buf).unwrap();
            f.write_all(b"\n").unwrap();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{records} records, {:.1} MB in {secs:.2} s: {:.0} records/s, {:.1} MB/s, {:.0} bytes/record",
        bytes as f64 / 1e6,
        records as f64 / secs,
        bytes as f64 / 1e6 / secs,
        bytes as f64 / records as f64
    );
}
