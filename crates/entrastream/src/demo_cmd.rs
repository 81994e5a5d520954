//! `entrastream demo`: embedded broker, generated traffic, the same pipeline as `run`.

use std::path::PathBuf;
use std::process::ExitCode;

use entrastream_app::config::{Config, Env};
use entrastream_app::demo::{DemoOptions, DemoSource};
use entrastream_app::{AppError, telemetry_format};

/// Which source the demo exercises.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SourceArg {
    /// The Kafka endpoint path, against an embedded Kafka-protocol broker.
    Kafka,
    /// The AMQP path (official Event Hubs SDK), against the in-repo Event Hubs peer.
    Amqp,
}

/// Arguments of `entrastream demo`.
#[derive(Debug, clap::Args)]
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

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
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
    match runtime.block_on(entrastream_app::demo::run(opts)) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(AppError::Config(e)) => {
            eprintln!("error: invalid configuration: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
