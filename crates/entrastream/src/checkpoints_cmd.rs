//! `entrastream checkpoints show|set --config FILE`: where every partition stands, and moving
//! it. Wiring only: the config is loaded here and handed to `entrastream-checkpoint-tool`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use crate::config_load::{invalid_config, load_config};

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use entrastream_app::config::{Config, SourceConfig};
use entrastream_checkpoint_tool::amqp::AmqpTool;
use entrastream_checkpoint_tool::kafka::KafkaTool;
use entrastream_checkpoint_tool::{Plan, Report, Target, ToolError};

/// Exit codes of `checkpoints show`, as its help lists them.
const SHOW_EXIT_CODES: &str = "Exit codes:\n  0  the positions were shown\n  1  the broker, the hub or the store could not be read\n  2  invalid configuration";

/// Exit codes of `checkpoints set`, as its help lists them.
const SET_EXIT_CODES: &str = "Exit codes:\n  0  the plan was printed (and, with --yes, written and read back)\n  1  the broker, the hub or the store could not be read or written\n  2  invalid configuration, or a position the source cannot resolve\n  3  refused: group members or partition owners are live (stop them, or pass --force)";

/// Arguments of `entrastream checkpoints`.
#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    #[command(subcommand)]
    command: CheckpointsCommand,
}

#[derive(Debug, Subcommand)]
enum CheckpointsCommand {
    /// Per partition: committed position, log end, lag (records and time), owner.
    #[command(after_help = SHOW_EXIT_CODES)]
    Show(ShowArgs),
    /// Move the positions (prints the plan; writes only with --yes).
    #[command(after_help = SET_EXIT_CODES)]
    Set(SetArgs),
}

/// Output format of the checkpoint commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for a terminal.
    Text,
    /// One JSON document (for scripts and alerts).
    Json,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// Configuration file (TOML, or YAML with a .yaml/.yml extension).
    #[arg(long, short = 'c', value_name = "FILE", env = "ENTRASTREAM_CONFIG")]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["to_time", "to_earliest", "to_latest", "to_offset", "to_sequence"])))]
struct SetArgs {
    /// Configuration file (TOML, or YAML with a .yaml/.yml extension).
    #[arg(long, short = 'c', value_name = "FILE", env = "ENTRASTREAM_CONFIG")]
    config: PathBuf,
    /// The first record at or after this time: RFC 3339 (2026-12-05T03:00:00Z) or a duration
    /// ago (90m, 6h, 2d).
    #[arg(long, value_name = "TIME")]
    to_time: Option<String>,
    /// The oldest retained record.
    #[arg(long)]
    to_earliest: bool,
    /// After the newest record: only new records are read.
    #[arg(long)]
    to_latest: bool,
    /// Kafka: the next offset to read (with --partition).
    #[arg(long, value_name = "N", requires = "partition")]
    to_offset: Option<i64>,
    /// AMQP: the sequence number of the next event to read (with --partition).
    #[arg(long, value_name = "N", requires = "partition")]
    to_sequence: Option<i64>,
    /// Only this partition (default: every partition).
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// Write the plan (without it, nothing is written).
    #[arg(long)]
    yes: bool,
    /// Write even while group members or partition owners are live (they may overwrite it).
    #[arg(long)]
    force: bool,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
}

impl SetArgs {
    fn target(&self) -> Result<Target, String> {
        Ok(if let Some(t) = &self.to_time {
            Target::Time(entrastream_checkpoint_tool::parse_time(
                t,
                SystemTime::now(),
            )?)
        } else if self.to_earliest {
            Target::Earliest
        } else if self.to_latest {
            Target::Latest
        } else if let Some(n) = self.to_offset {
            Target::Offset(n)
        } else if let Some(n) = self.to_sequence {
            Target::Sequence(n)
        } else {
            return Err("name a target: --to-time, --to-earliest, --to-latest, --to-offset or --to-sequence".into());
        })
    }
}

/// The source's tool, from the config.
enum Tool {
    Kafka(Box<KafkaTool>),
    Amqp(Box<AmqpTool>, tokio::runtime::Runtime),
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    load_config(path).map(|(config, _)| config)
}

fn open(config: &Config) -> anyhow::Result<Result<Tool, ExitCode>> {
    let invalid = |e: &dyn std::fmt::Display| Ok(Err(invalid_config(e)));
    match &config.source {
        Some(SourceConfig::Kafka(k)) => {
            let settings = match entrastream_app::kafka_config(config) {
                Ok(s) => s,
                Err(e) => return invalid(&e),
            };
            let retention = k
                .retention
                .map_or(entrastream_app::DEFAULT_RETENTION, |d| d.0);
            Ok(Ok(Tool::Kafka(Box::new(KafkaTool::new(
                settings, retention,
            )?))))
        }
        Some(SourceConfig::Amqp(_)) => {
            let settings = match entrastream_app::amqp::amqp_settings(config) {
                Ok(s) => s,
                Err(e) => return invalid(&e),
            };
            let store = match entrastream_app::amqp::checkpoint_store(config, &settings) {
                Ok(s) => s,
                Err(e) => return invalid(&e),
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let tool = runtime.block_on(AmqpTool::new(settings, store))?;
            Ok(Ok(Tool::Amqp(Box::new(tool), runtime)))
        }
        None => invalid(&"source: missing section [source]"),
    }
}

pub fn run(args: CheckpointsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CheckpointsCommand::Show(a) => show(a),
        CheckpointsCommand::Set(a) => set(a),
    }
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let config = match load(&args.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let tool = match open(&config)? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let report = match &tool {
        Tool::Kafka(k) => k.show().map(Report::Kafka),
        Tool::Amqp(a, rt) => rt.block_on(a.show()).map(Report::Amqp),
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return Ok(failure(&e)),
    };
    match args.format {
        OutputFormat::Text => print!("{}", entrastream_checkpoint_tool::report_text(&report)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}

/// 2 for a position the source cannot resolve (the operator's to fix), else 1.
fn failure(e: &ToolError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(if matches!(e, ToolError::Unresolvable(_)) {
        2
    } else {
        1
    })
}

fn set(args: SetArgs) -> anyhow::Result<ExitCode> {
    let target = match args.target() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let config = match load(&args.config) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let tool = match open(&config)? {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let plan = match &tool {
        Tool::Kafka(k) => {
            let only = match args.partition.as_deref().map(str::parse::<i32>) {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(_)) => {
                    eprintln!("error: --partition must be a Kafka partition number");
                    return Ok(ExitCode::from(2));
                }
            };
            k.plan(target, only)
        }
        Tool::Amqp(a, rt) => rt.block_on(a.plan(target, args.partition.as_deref())),
    };
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return Ok(failure(&e)),
    };
    let refused = !plan.blockers.is_empty() && !args.force;
    let apply = args.yes && !refused;
    let result = if apply {
        match &tool {
            Tool::Kafka(k) => k.apply(&plan),
            Tool::Amqp(a, rt) => rt.block_on(a.apply(&plan)),
        }
    } else {
        Ok(())
    };
    print_plan(&plan, &args, refused, apply && result.is_ok())?;
    if let Err(e) = result {
        return Ok(failure(&e));
    }
    Ok(ExitCode::from(if refused { 3 } else { 0 }))
}

fn print_plan(plan: &Plan, args: &SetArgs, refused: bool, applied: bool) -> anyhow::Result<()> {
    if args.format == OutputFormat::Json {
        let mut v = serde_json::to_value(plan)?;
        v["refused"] = refused.into();
        v["applied"] = applied.into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    print!("{}", entrastream_checkpoint_tool::plan_text(plan));
    if !plan.blockers.is_empty() {
        let verb = if refused { "refused" } else { "warning" };
        println!("{verb}: live consumers would overwrite the new positions:");
        for b in &plan.blockers {
            println!("  {b}");
        }
    }
    if refused {
        println!(
            "nothing written: stop them (or wait for their ownership to expire) and run again, or pass --force"
        );
    } else if applied {
        println!(
            "applied: {} partition(s) written and read back",
            plan.moves.len()
        );
    } else if !args.yes {
        println!("dry run: nothing written; run again with --yes to apply");
    }
    Ok(())
}
