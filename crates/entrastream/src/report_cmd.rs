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
    /// `-` also means stdin).
    #[arg(value_name = "FILE")]
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
    let inputs = entrastream_input::inputs(&args.files);
    let progress = Progress::new(entrastream_input::total_size(&inputs));
    let opts = ParseOptions::default();
    for input in &inputs {
        let each = |_offset: u64,
                    item: Result<
            entrastream_entra::Record<'_>,
            entrastream_entra::ParseError<'_>,
        >| match item {
            Ok(r) => report.observe(&r),
            Err(e) => report.observe_dead_letter(e.reason_code()),
        };
        match input {
            Some(path) => {
                let f =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                for_each_record(f, &opts, &progress, each)
                    .with_context(|| format!("cannot read {}", path.display()))?;
            }
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
