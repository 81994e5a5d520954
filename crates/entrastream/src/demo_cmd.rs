//! `entrastream demo`: embedded broker, generated traffic, the same pipeline as `run`.
//!
//! The demo lives in crate `entrastream-demo`, linked only with the binary's `demo` feature
//! (on by default). The subcommand and its arguments exist in every build, so that a
//! production binary (built with `--no-default-features`) answers `demo` with a clear error
//! instead of clap's "unrecognized subcommand".

use std::path::PathBuf;
use std::process::ExitCode;

/// Which source the demo exercises.
#[cfg_attr(not(feature = "demo"), allow(dead_code))]
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SourceArg {
    /// The Kafka endpoint path, against an embedded Kafka-protocol broker.
    Kafka,
    /// The AMQP path (official Event Hubs SDK), against the in-repo Event Hubs peer.
    Amqp,
}

/// Exit codes, as `demo --help` lists them.
const EXIT_CODES: &str = "Exit codes:\n  0  the demo ran (the summary is printed)\n  1  the demo failed, or this binary was built without the demo\n  2  invalid --config file";

/// Arguments of `entrastream demo`.
#[cfg_attr(not(feature = "demo"), allow(dead_code))]
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct DemoArgs {
    /// Source to run the demo through.
    #[arg(long, value_enum, default_value = "kafka")]
    pub source: SourceArg,
    /// Generated records to produce.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Partitions of the embedded topic.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub partitions: i32,
    /// Malformed messages to mix in.
    #[arg(long, default_value_t = 10)]
    pub poison: usize,
    /// Output directory for records.ndjson and dead-letter.ndjson.
    #[arg(long, default_value = "entrastream-demo")]
    pub out: PathBuf,
    /// A config file whose [[sinks]], [dead_letter] and [admin] replace the demo's file sinks.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Without the `demo` feature: the binary has no demo to run; say how to get one.
#[cfg(not(feature = "demo"))]
pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "this entrastream binary was built without the `demo` feature (production builds such as \
         the container image leave it out); run the demo from a checkout with \
         `cargo run --release -- demo`, or build with `cargo build --release -p entrastream` \
         (default features)"
    )
}

#[cfg(feature = "demo")]
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    use entrastream_app::config::{Config, Env};
    use entrastream_app::{AppError, telemetry_format};
    use entrastream_demo::{DemoError, DemoOptions, DemoSource};

    let env = Env::from_process();
    let user = match &args.config {
        Some(path) => match Config::load(path, &env) {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("error: invalid configuration: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let (format, level) = user
        .as_ref()
        .map_or(("pretty", "warn"), |c| (c.log.format.as_str(), "warn"));
    entrastream_app::init_logging(telemetry_format(format), level);
    let opts = DemoOptions {
        source: match args.source {
            SourceArg::Kafka => DemoSource::Kafka,
            SourceArg::Amqp => DemoSource::Amqp,
        },
        events: args.events,
        partitions: args.partitions,
        poison: args.poison,
        out: args.out,
        config: user,
        seed: args.seed,
        progress_bar: true,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(entrastream_demo::run(opts)) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(DemoError::App(AppError::Config(e))) => {
            eprintln!("error: invalid configuration: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
