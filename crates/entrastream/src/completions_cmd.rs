//! `entrastream completions SHELL` and `entrastream man`: shell completions and man pages
//! generated from the same clap definitions that parse the command line, so they never drift
//! from it (enumerated values such as `--schema`, `--format` and `--source` complete too).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

/// Exit codes, as `completions --help` and `man --help` list them.
const EXIT_CODES: &str =
    "Exit codes:\n  0  written\n  1  the output could not be written\n  2  usage error";

/// Shells `completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    /// bash (source it, or put it in /etc/bash_completion.d/entrastream).
    Bash,
    /// zsh (put it in a directory of $fpath as _entrastream).
    Zsh,
    /// fish (put it in ~/.config/fish/completions/entrastream.fish).
    Fish,
}

/// Arguments of `entrastream completions`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: ShellArg,
}

/// Arguments of `entrastream man`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ManArgs {
    /// Write entrastream.1 and one page per subcommand (entrastream-run.1, …) into this
    /// directory instead of printing entrastream.1 to stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// Writes the completion script for `args.shell` of `cmd` to stdout.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<ExitCode> {
    let shell = match args.shell {
        ShellArg::Bash => clap_complete::Shell::Bash,
        ShellArg::Zsh => clap_complete::Shell::Zsh,
        ShellArg::Fish => clap_complete::Shell::Fish,
    };
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    write_stdout(&out)
}

/// Writes the man page(s) of `cmd`.
pub fn man(args: ManArgs, cmd: clap::Command) -> anyhow::Result<ExitCode> {
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        // `| head` is a normal way to stop reading.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("cannot write stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}
