//! Writes generator envelopes (one per line) for a large user population, to measure `report`'s
//! memory against distinct users: `cargo run --release -p entrastream-report --example
//! generate_users -- 100000 8000 > /tmp/users.ndjson` (users, envelopes).

use std::io::Write;

use entrastream_generator::{Generator, GeneratorConfig};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let users = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let envelopes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8000);
    let Ok(mut generator) = Generator::new(GeneratorConfig {
        users,
        ..GeneratorConfig::default()
    }) else {
        eprintln!("invalid generator config");
        std::process::exit(2);
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut buf = Vec::new();
    for _ in 0..envelopes {
        buf.clear();
        generator.next_envelope(&mut buf);
        buf.push(b'\n');
        out.write_all(&buf)?;
    }
    out.flush()
}
