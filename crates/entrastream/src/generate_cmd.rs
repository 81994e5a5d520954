//! `entrastream generate`: realistic Event Hubs message bodies, one envelope per line.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Args;
use entrastream_generator::{Generator, GeneratorConfig};

/// Exit codes, as `generate --help` lists them.
const EXIT_CODES: &str = "Exit codes:\n  0  written (also when the reader closed the pipe)\n  1  unknown category, or the output could not be written\n  2  usage error";

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct GenerateArgs {
    /// Number of envelopes (Event Hubs messages) to write.
    #[arg(long, default_value_t = 1000)]
    messages: u64,
    /// Seed: the same seed always produces the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Comma-separated categories to generate (default: the realistic mix of all).
    #[arg(long, value_delimiter = ',')]
    categories: Option<Vec<String>>,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let config = GeneratorConfig {
        seed: args.seed,
        categories: args.categories,
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(config)?;
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut buf = Vec::with_capacity(1 << 20);
    for _ in 0..args.messages {
        buf.clear();
        generator.next_envelope(&mut buf);
        buf.push(b'\n');
        if let Err(e) = out.write_all(&buf) {
            // A closed pipe (`| head`) is a normal way to stop.
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
