//! `entrastream check-config --config FILE`: exit 0 and the effective config (secrets `***`)
//! on stdout when valid; exit 2 with the offending key path on stderr when not.

use std::path::PathBuf;
use std::process::ExitCode;

use entrastream_app::config::{Config, Env};

/// Exit codes, as `check-config --help` lists them.
const EXIT_CODES: &str = "Exit codes:\n  0  valid (the effective config is on stdout)\n  2  invalid (the key path is on stderr)";

/// Arguments of `entrastream check-config`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct CheckConfigArgs {
    /// Configuration file (TOML, or YAML with a .yaml/.yml extension).
    #[arg(long, short = 'c', value_name = "FILE", env = "ENTRASTREAM_CONFIG")]
    pub config: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let env = Env::from_process();
    let checked = Config::load(&args.config, &env)
        .and_then(|c| entrastream_app::validate_for_run(&c, &env).map(|()| c));
    match checked {
        Ok(c) => {
            print!("{}", c.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: invalid configuration: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
