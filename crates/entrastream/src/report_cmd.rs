//! `entrastream report`: the administrator's questions answered from logs on disk or stdin.
//! Wiring only; the answers live in `entrastream-report`.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use entrastream_entra::{ParseOptions, Timestamp};
use entrastream_input::{Progress, for_each_record};
use entrastream_report::render::{Format, render};
use entrastream_report::{Report, ReportOptions};

#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ReportArgs {
    /// Only events at or after this time (RFC 3339, e.g. 2025-01-06T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<Timestamp>,
    /// Narrow every answer to one user (UPN or object id): a quick investigation.
    #[arg(long, value_name = "UPN")]
    user: Option<String>,
    /// Narrow every answer to one application (display name or app id).
    #[arg(long, value_name = "NAME")]
    app: Option<String>,
    /// Output format.
    #[arg(long, value_enum, ignore_case = true, default_value_t = FormatArg::Text)]
    format: FormatArg,
    /// Rows per table.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Inputs in any form `parse` accepts, or entrastream's native output (stdin when none;
    /// `-` also means stdin); `.gz` / `.zst` are decompressed. Also the SOURCE forms of
    /// `replay`: a directory in the storage-export layout (or any directory, walked), a
    /// file-name pattern, or a Blob Storage container or prefix URL
    /// (`https://<account>.blob.core.windows.net/<container>[/<prefix>][?SAS]`; credentials as
    /// for `replay`: the URL's SAS, AZURE_STORAGE_CONNECTION_STRING, Azurite's dev account).
    #[arg(value_name = "SOURCE")]
    files: Vec<PathBuf>,
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s)
        .ok_or_else(|| format!("invalid time {s:?}; use RFC 3339, e.g. 2025-01-06T00:00:00Z"))
}

/// `--format`: the renderings of `entrastream-report`, as an enumerated value so that
/// `--help` lists them and shells complete them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Aligned tables for a terminal.
    Text,
    /// One JSON document.
    Json,
    /// One CSV table per question.
    Csv,
    /// Markdown tables (for a ticket or a wiki).
    #[value(alias = "md")]
    Markdown,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Text => Format::Text,
            FormatArg::Json => Format::Json,
            FormatArg::Csv => Format::Csv,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}

/// Exit codes, as `report --help` lists them.
pub const EXIT_CODES: &str = "Exit codes:\n  0  the report was printed\n  1  an input could not be read\n  2  usage error\n  3  some records could not be parsed (the report counts them)";

/// Exit 0, or 3 when some records could not be parsed (as `parse` does); the report is
/// printed either way, with the unparsed count in it.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut report = Report::new(ReportOptions {
        since: args.since,
        until: args.until,
        user: args.user,
        app: args.app,
        top_n: args.top,
    });
    // The runtime stays alive until the reads are done (the blobs' ranged GETs run on it).
    let (sources, _runtime) = expand_sources(&args.files)?;
    let size = sources
        .iter()
        .try_fold(0u64, |sum, s| s.as_ref().map(|f| sum + f.size));
    let progress = Progress::new(size);
    let opts = ParseOptions::default();
    for input in &sources {
        let each = |_offset: u64,
                    item: Result<
            entrastream_entra::Record<'_>,
            entrastream_entra::ParseError<'_>,
        >| match item {
            Ok(r) => report.observe(&r),
            Err(e) => report.observe_dead_letter(e.reason_code()),
        };
        match input {
            Some(f) => read_source(f, &opts, &progress, each)
                .with_context(|| format!("cannot read {}", f.name))?,
            None => for_each_record(io::stdin().lock(), &opts, &progress, each)
                .context("cannot read stdin")?,
        }
    }
    progress.finish();
    let out = report.finish();
    let mut stdout = io::stdout().lock();
    stdout.write_all(render(&out, Format::from(args.format)).as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::from(if out.window.records_unparsed > 0 {
        3
    } else {
        0
    }))
}

/// The inputs the SOURCE arguments name, in order (`None` = stdin). Directories, patterns and
/// Blob URLs are expanded as `replay` expands them.
type Sources = (
    Vec<Option<entrastream_replay::inputs::InputFile>>,
    Option<tokio::runtime::Runtime>,
);

/// The inputs, and the runtime their blobs are read on (kept until the reads are done).
fn expand_sources(args: &[PathBuf]) -> anyhow::Result<Sources> {
    use entrastream_replay::{inputs, remote, select::Selection};
    if args.is_empty() {
        return Ok((vec![None], None));
    }
    let mut out = Vec::new();
    let mut runtime = None;
    for a in args {
        let text = a.to_string_lossy();
        if text == "-" {
            out.push(None);
        } else if remote::is_url(&text) {
            let rt = match &runtime {
                Some(rt) => rt,
                None => runtime.insert(
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .context("cannot start the HTTP runtime")?,
                ),
            };
            let mut blobs = rt
                .block_on(remote::expand(&text, &Selection::default(), None))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            blobs.sort_by_key(inputs::order_key);
            out.extend(blobs.into_iter().map(Some));
        } else {
            let files =
                inputs::expand(&text, &Selection::default()).map_err(|e| anyhow::anyhow!("{e}"))?;
            out.extend(files.into_iter().map(Some));
        }
    }
    Ok((out, runtime))
}

/// Reads one input: plain data streamed; `.gz` / `.zst` decompressed member by member (a
/// damaged member is skipped, as `replay` does, and counted as unparsed).
fn read_source<F>(
    f: &entrastream_replay::inputs::InputFile,
    opts: &ParseOptions,
    progress: &Progress,
    mut each: F,
) -> io::Result<()>
where
    F: FnMut(u64, Result<entrastream_entra::Record<'_>, entrastream_entra::ParseError<'_>>),
{
    use entrastream_archive::{Compression, DecodeEvent, decode_members};
    use std::io::Read;
    let mut raw: Box<dyn Read> = match &f.remote {
        Some(r) => Box::new(r.reader()),
        None => Box::new(File::open(&f.path)?),
    };
    if f.compression == Compression::None {
        return for_each_record(raw, opts, progress, each);
    }
    let mut data = Vec::new();
    raw.read_to_end(&mut data)?;
    let mut plain = Vec::new();
    let mut damaged = 0u64;
    decode_members(f.compression, &data, |ev| match ev {
        DecodeEvent::Data(d) => plain.extend_from_slice(d),
        DecodeEvent::Damaged { .. } => {
            damaged += 1;
            // End the cut line, so the next member's first record starts a line of its own.
            plain.push(b'\n');
        }
    });
    if damaged > 0 {
        eprintln!(
            "warning: {}: {damaged} damaged compressed member(s) skipped",
            f.name
        );
    }
    for_each_record(&plain[..], opts, progress, &mut each)
}
