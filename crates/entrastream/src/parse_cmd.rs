//! `entrastream parse`: message bodies or exported logs in, one record per line out.
//!
//! Contract (relied on by other tools): records go to stdout one JSON object per line; every
//! record that cannot be parsed goes to the dead-letter file (stderr when none) as
//! `{"error","offset","source","raw"}`; a one-line summary goes to stderr; exit 0 when nothing
//! was dead-lettered, 3 when something was, 2 for usage errors.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use base64::prelude::{BASE64_STANDARD, Engine as _};
use entrastream_entra::encode::writer::ObjectWriter;
use entrastream_entra::{EncodeContext, ParseOptions, Schema, encode, parse_record, split};

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Output schema: raw (original bytes), native, ecs or ocsf.
    #[arg(long, default_value = "native", value_parser = parse_schema)]
    schema: Schema,
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

fn parse_schema(s: &str) -> Result<Schema, String> {
    s.parse().map_err(|e: entrastream_entra::UnknownSchema| e.to_string())
}

/// Reading one input at a time bounds memory to the largest input file.
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
    let ctx = EncodeContext::default();
    let inputs: Vec<Option<PathBuf>> = if args.files.is_empty() {
        vec![None]
    } else {
        args.files
            .iter()
            .map(|p| (p.as_os_str() != "-").then(|| p.clone()))
            .collect()
    };
    let mut counts = Counts::default();
    let mut body = Vec::new();
    let mut line = Vec::with_capacity(16 * 1024);
    for input in inputs {
        body.clear();
        let source = match &input {
            Some(path) => {
                File::open(path)
                    .and_then(|mut f| f.read_to_end(&mut body))
                    .with_context(|| format!("cannot read {}", path.display()))?;
                path.display().to_string()
            }
            None => {
                io::stdin()
                    .lock()
                    .read_to_end(&mut body)
                    .context("cannot read stdin")?;
                "-".to_owned()
            }
        };
        for item in split(&body) {
            match item.and_then(|slice| parse_record(slice, &opts)) {
                Ok(record) => {
                    line.clear();
                    encode(args.schema, &record, &ctx, &mut line)?;
                    line.push(b'\n');
                    out.write_all(&line)?;
                    *counts.by_category.entry(record.category().to_owned()).or_default() += 1;
                    counts.records += 1;
                }
                Err(err) => {
                    line.clear();
                    let mut o = ObjectWriter::new(&mut line);
                    o.str("error", &err.to_string());
                    o.str("reason", err.reason_code());
                    o.u64("offset", err.offset() as u64);
                    o.str("source", &source);
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
                    dead.write_all(&line)?;
                    counts.dead_lettered += 1;
                }
            }
        }
    }
    out.flush()?;
    dead.flush()?;
    eprintln!("{}", counts.summary());
    Ok(ExitCode::from(if counts.dead_lettered > 0 { 3 } else { 0 }))
}

#[derive(Debug, Default)]
struct Counts {
    records: u64,
    dead_lettered: u64,
    by_category: BTreeMap<String, u64>,
}

impl Counts {
    fn summary(&self) -> String {
        let mut s = format!("records {}, dead-lettered {}", self.records, self.dead_lettered);
        for (category, n) in &self.by_category {
            s.push_str(&format!(", {category} {n}"));
        }
        s
    }
}
