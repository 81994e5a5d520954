//! `entrastream check-sinks --config FILE`: builds every configured sink, probes it, and
//! prints per sink whether it is reachable, authenticated, and what to fix. Exit 0 only when
//! every sink passes, 1 when one fails, 2 on an invalid configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config_load::{invalid_config, load_config};

/// Exit codes, as `check-sinks --help` lists them.
const EXIT_CODES: &str = "Exit codes:\n  0  every sink passed\n  1  a sink failed (what to fix is printed under it)\n  2  invalid configuration";

/// Arguments of `entrastream check-sinks`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct CheckSinksArgs {
    /// Configuration file (TOML, or YAML with a .yaml/.yml extension).
    #[arg(long, short = 'c', value_name = "FILE", env = "ENTRASTREAM_CONFIG")]
    pub config: PathBuf,
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

pub fn run(args: CheckSinksArgs) -> anyhow::Result<ExitCode> {
    let (config, _) = match load_config(&args.config) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let checks = match runtime.block_on(entrastream_app::siem::check_sinks(&config)) {
        Ok(c) => c,
        Err(e) => return Ok(invalid_config(&e)),
    };
    let mut all = true;
    for c in &checks {
        let pass = c.passed();
        all &= pass;
        println!(
            "{} {} ({}): reachable={} authenticated={}{}",
            if pass { "PASS" } else { "FAIL" },
            c.name,
            c.kind,
            if c.reachable { "yes" } else { "NO" },
            yes_no(c.authenticated),
            c.problem
                .as_deref()
                .map(|p| format!("\n    fix: {p}"))
                .unwrap_or_default()
        );
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
