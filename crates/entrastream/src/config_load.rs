//! One way for every command to load the config file and to report an invalid one: the message
//! `error: invalid configuration: …` (with the key path) on stderr and exit code 2, which
//! scripts and the Kubernetes probes rely on.

use std::path::Path;
use std::process::ExitCode;

use entrastream_app::config::{Config, Env};

/// Prints `error: invalid configuration: {e}` and returns exit code 2.
pub fn invalid_config(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: invalid configuration: {e}");
    ExitCode::from(2)
}

/// Loads `path` with the process environment, or the exit code of an invalid configuration.
pub fn load_config(path: &Path) -> Result<(Config, Env), ExitCode> {
    let env = Env::from_process();
    match Config::load(path, &env) {
        Ok(config) => Ok((config, env)),
        Err(e) => Err(invalid_config(&e)),
    }
}
