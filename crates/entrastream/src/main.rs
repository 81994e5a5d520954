//! The `entrastream` binary: parses the command line and hands each subcommand to the library
//! crate that owns it. No logic lives here beyond mapping results to exit codes.
#![forbid(unsafe_code)]

mod check_config_cmd;
mod check_sinks_cmd;
mod checkpoints_cmd;
mod completions_cmd;
mod config_load;
mod demo_cmd;
mod generate_cmd;
mod parse_cmd;
mod replay_cmd;
mod report_cmd;
mod run_cmd;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Streams Microsoft Entra ID activity logs from Azure Event Hubs into SIEMs.
#[derive(Debug, Parser)]
#[command(name = "entrastream", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse message bodies or exported logs and print one record per line in a chosen schema.
    Parse(parse_cmd::ParseArgs),
    /// Write realistic generated Event Hubs message bodies (one envelope per line) to stdout.
    Generate(generate_cmd::GenerateArgs),
    /// Run the daemon: consume the hub, deliver to the sinks, checkpoint what they accepted.
    Run(run_cmd::RunArgs),
    /// Validate a config file; print the effective config with secrets as ***.
    CheckConfig(check_config_cmd::CheckConfigArgs),
    /// Probe every configured sink: reachable, authenticated, what to fix. Exit 0 when all pass.
    CheckSinks(check_sinks_cmd::CheckSinksArgs),
    /// Zero-setup demo: embedded broker, generated traffic, the real pipeline, a summary.
    Demo(demo_cmd::DemoArgs),
    /// Answer an administrator's questions (sign-ins, changes, provisioning) from logs.
    Report(report_cmd::ReportArgs),
    /// Show where every partition stands (offsets, lag, owners), or move it.
    Checkpoints(checkpoints_cmd::CheckpointsArgs),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(completions_cmd::CompletionsArgs),
    /// Print the man page (or write one per subcommand with --out-dir).
    Man(completions_cmd::ManArgs),
    /// Replay an archive or exported files through the sinks, resumably; never touches the hub.
    Replay(replay_cmd::ReplayArgs),
}

/// The cargo features of this build, for `entrastream_build_info`.
const FEATURES: &[&str] = &[
    #[cfg(feature = "demo")]
    "demo",
    #[cfg(feature = "isal")]
    "isal",
];

fn main() -> ExitCode {
    entrastream_telemetry::set_build_info(env!("ENTRASTREAM_COMMIT"), FEATURES);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version to stdout with exit 0, usage errors to stderr with 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Parse(args) => parse_cmd::run(args),
        Command::Generate(args) => generate_cmd::run(args),
        Command::Run(args) => run_cmd::run(args),
        Command::CheckConfig(args) => check_config_cmd::run(args),
        Command::CheckSinks(args) => check_sinks_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
        Command::Checkpoints(args) => checkpoints_cmd::run(args),
        Command::Completions(args) => completions_cmd::completions(args, Cli::command()),
        Command::Man(args) => completions_cmd::man(args, Cli::command()),
        Command::Replay(args) => replay_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
