//! `entrastream run --config FILE`: the daemon. Exit 0 after a clean SIGTERM/SIGINT shutdown,
//! 2 on an invalid configuration (key path on stderr), 1 on a runtime failure.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config_load::{invalid_config, load_config};

use entrastream_app::{AppError, telemetry_format};

/// Exit codes, as `run --help` lists them.
const EXIT_CODES: &str = "Exit codes:\n  0  stopped cleanly (SIGTERM or SIGINT)\n  1  runtime failure (source, sinks or storage; the log says which)\n  2  invalid configuration (the key path is on stderr)";

/// Arguments of `entrastream run`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct RunArgs {
    /// Configuration file (TOML, or YAML with a .yaml/.yml extension).
    #[arg(long, short = 'c', value_name = "FILE", env = "ENTRASTREAM_CONFIG")]
    pub config: PathBuf,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let (config, env) = match load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    entrastream_app::init_logging(telemetry_format(&config.log.format), &config.log.level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(entrastream_app::run_until_signal(&config, &env)) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(AppError::Config(e)) => Ok(invalid_config(&e)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
