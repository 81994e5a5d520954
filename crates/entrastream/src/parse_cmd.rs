//! `entrastream parse`: message bodies or exported logs in, one record per line out.
//!
//! Contract (relied on by other tools): records go to stdout one JSON object per line; every
//! record that cannot be parsed goes to the dead-letter file (stderr when none) as
//! `{"error","offset","source","raw"}`; a one-line summary goes to stderr; exit 0 when nothing
//! was dead-lettered, 3 when something was, 2 for usage errors.

/// Exit codes, as `parse --help` lists them.
pub const EXIT_CODES: &str = "Exit codes:\n  0  every record was parsed\n  1  an input could not be read or the output not written\n  2  usage error\n  3  some records were dead-lettered";

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use base64::prelude::{BASE64_STANDARD, Engine as _};
use clap::Args;
use entrastream_entra::encode::writer::ObjectWriter;
use entrastream_entra::{EncodeContext, ParseError, ParseOptions, Record, Schema, encode};
use entrastream_input::{Progress, for_each_record};

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ParseArgs {
    /// Output schema.
    #[arg(long, value_enum, ignore_case = true, default_value_t = SchemaArg::Native)]
    schema: SchemaArg,
    /// Where records that cannot be parsed are written, one JSON object per line
    /// (default: stderr).
    #[arg(long, value_name = "FILE")]
    dead_letter: Option<PathBuf>,
    /// Largest record accepted, in bytes; larger ones are dead-lettered.
    #[arg(long, default_value_t = ParseOptions::default().max_record_bytes)]
    max_record_bytes: usize,
    /// Files holding one envelope, one envelope per line, a JSON array, or NDJSON records
    /// (stdin when none; `-` also means stdin).
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// `--schema`: the encoders of `entrastream-entra`, as an enumerated value so that `--help`
/// lists them and shells complete them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaArg {
    /// The original record bytes, unchanged.
    Raw,
    /// entrastream's normalized JSON.
    Native,
    /// Elastic Common Schema.
    Ecs,
    /// Open Cybersecurity Schema Framework 1.x.
    Ocsf,
}

impl From<SchemaArg> for Schema {
    fn from(s: SchemaArg) -> Schema {
        match s {
            SchemaArg::Raw => Schema::Raw,
            SchemaArg::Native => Schema::Native,
            SchemaArg::Ecs => Schema::Ecs,
            SchemaArg::Ocsf => Schema::Ocsf,
        }
    }
}

/// Inputs are read in chunks of whole lines where they are line-oriented, so memory stays
/// bounded whatever the input size.
pub fn run(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut dead: Box<dyn Write> = match &args.dead_letter {
        Some(path) => Box::new(BufWriter::new(File::create(path).with_context(|| {
            format!("cannot create dead-letter file {}", path.display())
        })?)),
        None => Box::new(io::stderr()),
    };
    let opts = ParseOptions {
        max_record_bytes: args.max_record_bytes,
    };
    let schema = Schema::from(args.schema);
    let ctx = EncodeContext::default();
    let inputs = entrastream_input::inputs(&args.files);
    let progress = Progress::new(entrastream_input::total_size(&inputs));
    let mut counts = Counts::default();
    let mut line = Vec::with_capacity(16 * 1024);
    let mut failure: Option<io::Error> = None;
    for input in inputs {
        let source = input
            .as_ref()
            .map_or_else(|| "-".to_owned(), |p| p.display().to_string());
        let mut each = |base: u64, item: Result<Record<'_>, ParseError<'_>>| {
            if failure.is_some() {
                return;
            }
            line.clear();
            let written = match item {
                Ok(record) => {
                    if let Err(e) = encode(schema, &record, &ctx, &mut line) {
                        // Encoders refuse nothing today; if one ever does, say so and stop.
                        failure = Some(io::Error::other(e.to_string()));
                        return;
                    }
                    line.push(b'\n');
                    *counts
                        .by_category
                        .entry(record.category().to_owned())
                        .or_default() += 1;
                    counts.records += 1;
                    out.write_all(&line)
                }
                Err(err) => {
                    write_dead_letter(&mut line, &err, base, &source);
                    counts.dead_lettered += 1;
                    dead.write_all(&line)
                }
            };
            if let Err(e) = written {
                failure = Some(e);
            }
        };
        let read = match &input {
            Some(path) => File::open(path)
                .and_then(|f| for_each_record(f, &opts, &progress, &mut each))
                .with_context(|| format!("cannot read {}", path.display())),
            None => for_each_record(io::stdin().lock(), &opts, &progress, &mut each)
                .context("cannot read stdin"),
        };
        read?;
        if let Some(e) = failure.take() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e).context("cannot write output");
        }
    }
    progress.finish();
    out.flush()?;
    dead.flush()?;
    eprintln!("{}", counts.summary());
    Ok(ExitCode::from(if counts.dead_lettered > 0 { 3 } else { 0 }))
}

/// One dead-letter line: `{"error","reason","offset","source","category"?,"raw"}`.
fn write_dead_letter(line: &mut Vec<u8>, err: &ParseError<'_>, base: u64, source: &str) {
    let mut o = ObjectWriter::new(line);
    o.str("error", &err.to_string());
    o.str("reason", err.reason_code());
    o.u64("offset", base + err.offset() as u64);
    o.str("source", source);
    if let Some(c) = err.category() {
        o.str("category", c);
    }
    match std::str::from_utf8(err.raw()) {
        Ok(text) => o.str("raw", text),
        Err(_) => {
            // Keep the exact bytes too: a lossy string alone would lose them.
            o.str("raw", &String::from_utf8_lossy(err.raw()));
            o.str("raw_base64", &BASE64_STANDARD.encode(err.raw()));
        }
    }
    o.finish();
    line.push(b'\n');
}

#[derive(Debug, Default)]
struct Counts {
    records: u64,
    dead_lettered: u64,
    by_category: BTreeMap<String, u64>,
}

impl Counts {
    fn summary(&self) -> String {
        let mut s = format!(
            "records {}, dead-lettered {}",
            self.records, self.dead_lettered
        );
        for (category, n) in &self.by_category {
            s.push_str(&format!(", {category} {n}"));
        }
        s
    }
}
