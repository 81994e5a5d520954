//! `entrastream replay`: an archive or exported files through the `run` pipeline into the
//! configured sinks, resumably (crate `entrastream-replay`). Exit 0 when everything selected
//! was delivered, 3 when it was but something was dead-lettered, 4 when the replay stopped
//! before the end (run the same command again to resume), 2 on usage or config errors, 1 on
//! a runtime failure. The summary goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config_load::{invalid_config, load_config};

use entrastream_app::telemetry_format;
use entrastream_replay::{ReplayOptions, Selection, parse_time};

/// Arguments of `entrastream replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Configuration file: its sinks, schemas, filters, dead-letter file and pipeline
    /// settings are used; its [source] is not (the live hub is never touched).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// What to replay: a directory in Azure Monitor's storage-export layout (Azure's or
    /// entrastream's), a directory of files, a file, or a file-name pattern (`*`, `?`) of
    /// anything `parse` reads, `.gz` / `.zst` included. Repeatable.
    #[arg(long, value_name = "SOURCE", required = true)]
    pub from: Vec<String>,
    /// Keep records whose event time is at or after this (2024-06-20T05:00:00Z or 2024-06-20).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<entrastream_entra::Timestamp>,
    /// Keep records whose event time is before this.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<entrastream_entra::Timestamp>,
    /// Keep only these categories (comma-separated, case-insensitive).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub categories: Option<Vec<String>>,
    /// Deliver only to these configured sinks (comma-separated names).
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub sinks: Option<Vec<String>>,
    /// Read at most this many MB (10^6 bytes) of decompressed input per second.
    #[arg(long, value_name = "MB/s")]
    pub rate: Option<f64>,
    /// Read, select and parse; print what each sink would receive; deliver and record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The replay state file (default: entrastream-replay-<hash of the selection>.json in the
    /// current directory, so the same command resumes).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let (config, _) = match load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        eprintln!("error: --rate must be a positive number of MB/s");
        return Ok(ExitCode::from(2));
    }
    entrastream_app::init_logging(telemetry_format(&config.log.format), &config.log.level);
    let opts = ReplayOptions {
        from: args.from,
        selection: Selection {
            since: args.since,
            until: args.until,
            categories: args.categories,
        },
        sinks: args.sinks,
        rate_mb: args.rate,
        dry_run: args.dry_run,
        state: args.state,
        progress: true,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(entrastream_replay::replay(
        &config,
        &opts,
        entrastream_app::wait_for_signal(),
    ));
    match result {
        Ok(summary) => {
            eprintln!("{}", summary.render());
            Ok(ExitCode::from(if !summary.complete {
                4
            } else if summary.dead_lettered > 0 {
                3
            } else {
                0
            }))
        }
        Err(entrastream_replay::ReplayError::App(entrastream_app::AppError::Config(e))) => {
            Ok(invalid_config(&e))
        }
        Err(e @ entrastream_replay::ReplayError::NoSuchSink { .. }) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
