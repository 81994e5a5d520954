//! `entrastream replay`: an archive (Azure's storage export or entrastream's, a directory in
//! that layout) or plain exported files fed through the same pipeline `run` uses: parse,
//! per-sink schema and filters, dead-letter file, retries, metrics.
//!
//! Design decision: replay is a [`Source`](entrastream_source::Source) like the hub, not a
//! second delivery path. Each file is a partition whose offsets are byte offsets in its
//! decompressed stream, so the pipeline's contiguous-watermark rule decides what is done, and
//! the source writes that to a replay state file instead of a consumer group. Replay builds no
//! Kafka or AMQP source, so the live consumer group and checkpoint store are never touched.
//! After `kill -9` the same command resumes from the state file: chunks after the watermark are
//! sent again (duplicates), none is skipped (no gaps).
#![forbid(unsafe_code)]

pub mod decode;
pub mod inputs;
pub mod reader;
pub mod remote;
pub mod select;
pub mod source;
pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entrastream_app::config::Config;
use entrastream_entra::{ParseOptions, parse_records};
use entrastream_model::SourceMessage;
use tokio::sync::mpsc;

pub use select::{Selection, parse_time};
pub use source::ReplaySource;
pub use state::{FileProgress, ReplayState};

use reader::{ReadCounters, Reader, Tracking};

/// Messages buffered between the reader thread and the pipeline.
const CHANNEL_MESSAGES: usize = 16;

/// Errors of a replay; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    NotFound(String),
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("replay state file {path}: {message}")]
    State { path: String, message: String },
    #[error("--sinks: no sink named {name:?} in the config (configured: {configured})")]
    NoSuchSink { name: String, configured: String },
    #[error(transparent)]
    App(#[from] entrastream_app::AppError),
}

/// What to replay and how.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// `--from` values (a directory, a file, a file-name pattern).
    pub from: Vec<String>,
    pub selection: Selection,
    /// `--sinks`: only these configured sinks (all when `None`).
    pub sinks: Option<Vec<String>>,
    /// `--rate`: MB (10^6 bytes) of decompressed input per second, at most.
    pub rate_mb: Option<f64>,
    /// `--dry-run`: read, select and parse; deliver and persist nothing.
    pub dry_run: bool,
    /// `--state`; `None`: [`default_state_path`].
    pub state: Option<PathBuf>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// `entrastream-replay-<hash>.json` in the current directory: the hash covers what selects
/// the records (sources, window, categories, sinks), so the same command finds its state and
/// a different selection starts its own.
pub fn default_state_path(opts: &ReplayOptions) -> PathBuf {
    let key = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}",
        opts.from,
        opts.selection
            .since
            .map(|t| (t.unix_seconds(), t.subsec_nanos())),
        opts.selection
            .until
            .map(|t| (t.unix_seconds(), t.subsec_nanos())),
        opts.selection.categories,
        opts.sinks
    );
    PathBuf::from(format!(
        "entrastream-replay-{:016x}.json",
        xxhash_rust::xxh3::xxh3_64(key.as_bytes())
    ))
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Files selected by `--from` and the window.
    pub files: usize,
    /// Of those, done in an earlier run (skipped).
    pub files_already_done: usize,
    /// Files that could not be read (named in the log).
    pub files_failed: u64,
    /// Records parsed (after selection).
    pub records: u64,
    /// Records whose chunk every sink accepted.
    pub records_done: u64,
    /// Dead-letter entries (parse errors, damaged members, rejections).
    pub dead_lettered: u64,
    /// Records left out by the selection.
    pub not_selected: u64,
    /// Damaged gzip members / zstd frames.
    pub damaged_members: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    pub elapsed: Duration,
    /// Records per category (dry runs).
    pub by_category: BTreeMap<String, u64>,
    /// Records per sink (dry runs: what each sink would receive).
    pub by_sink: BTreeMap<String, u64>,
    /// Where progress was kept (`None` for dry runs).
    pub state: Option<PathBuf>,
    /// Every selected file is done.
    pub complete: bool,
    pub dry_run: bool,
}

impl ReplaySummary {
    /// The closing lines, for stderr.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mb = self.bytes as f64 / 1e6;
        let mut s = format!(
            "{}files {} ({} already done, {} unreadable), records {}{}, dead-lettered {}, not selected {}, damaged members {}\n{:.1} MB in {:.1} s ({:.1} MB/s)",
            if self.dry_run {
                "dry run (nothing delivered): "
            } else {
                "replay: "
            },
            self.files,
            self.files_already_done,
            self.files_failed,
            self.records,
            if self.dry_run {
                String::new()
            } else {
                format!(" ({} delivered)", self.records_done)
            },
            self.dead_lettered,
            self.not_selected,
            self.damaged_members,
            mb,
            secs,
            mb / secs,
        );
        for (c, n) in &self.by_category {
            s.push_str(&format!("\n  {c}: {n}"));
        }
        for (k, n) in &self.by_sink {
            s.push_str(&format!("\n  sink {k}: {n} records"));
        }
        match &self.state {
            Some(p) if self.complete => {
                s.push_str(&format!("\ncomplete; state in {}", p.display()))
            }
            Some(p) => s.push_str(&format!(
                "\nnot complete; run the same command again to resume (state in {})",
                p.display()
            )),
            None => {}
        }
        s
    }
}

/// The files to read and where each starts, after the state file.
struct Plan {
    files: Vec<inputs::InputFile>,
    start: HashMap<String, u64>,
    already_done: usize,
    total: usize,
    state: ReplayState,
}

async fn plan(
    config: &Config,
    opts: &ReplayOptions,
    state: ReplayState,
) -> Result<Plan, ReplayError> {
    let mut files = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for from in &opts.from {
        let found = if remote::is_url(from) {
            let credential = entrastream_app::siem::source_entra_credential(config)
                .map_err(|e| ReplayError::NotFound(e.to_string()))?;
            let mut blobs = remote::expand(from, &opts.selection, credential).await?;
            blobs.sort_by_key(inputs::order_key);
            blobs
        } else {
            inputs::expand(from, &opts.selection)?
        };
        for f in found {
            if seen.insert(f.name.clone()) {
                files.push(f);
            }
        }
    }
    let total = files.len();
    let mut start = HashMap::new();
    let before = files.len();
    files.retain(|f| match state.files.get(&f.name) {
        Some(p) if p.done => false,
        Some(p) => {
            start.insert(f.name.clone(), p.offset);
            true
        }
        None => true,
    });
    Ok(Plan {
        already_done: before - files.len(),
        files,
        start,
        total,
        state,
    })
}

fn spawn_reader(
    plan: &Plan,
    opts: &ReplayOptions,
    tracking: Arc<Mutex<Tracking>>,
    counters: Arc<ReadCounters>,
    stop: Arc<AtomicBool>,
) -> mpsc::Receiver<SourceMessage> {
    let (tx, rx) = mpsc::channel(CHANNEL_MESSAGES);
    let reader = Reader {
        files: plan.files.clone(),
        start: plan.start.clone(),
        selection: opts.selection.clone(),
        rate: opts.rate_mb.map(|r| r * 1e6),
        opts: ParseOptions::default(),
        tracking,
        counters,
        stop,
    };
    std::thread::Builder::new()
        .name("replay-reader".into())
        .spawn(move || reader.run(tx))
        .map(drop)
        .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the reader thread"));
    rx
}

/// The config's sinks narrowed to `--sinks` (dead-letter entries always stay).
pub fn select_sinks(config: &Config, names: Option<&[String]>) -> Result<Config, ReplayError> {
    let mut config = config.clone();
    if let Some(names) = names {
        for n in names {
            if !config.sinks.iter().any(|s| &s.name == n) {
                return Err(ReplayError::NoSuchSink {
                    name: n.clone(),
                    configured: config
                        .sinks
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        config.sinks.retain(|s| {
            names.contains(&s.name)
                || matches!(s.kind, entrastream_app::config::SinkKind::DeadLetter(_))
        });
    }
    Ok(config)
}

/// A replay is bounded, unlike `run`: an `azure_blob` sink whose Entra credential gets no
/// token would retry its first batch forever. The token is asked once before anything is
/// read, and a refusal ends the replay with the credential's error and what to check (the
/// secret itself never appears: the identity platform does not echo it).
async fn check_sink_tokens(config: &Config) -> Result<(), ReplayError> {
    use entrastream_app::config::SinkKind;
    for s in &config.sinks {
        let SinkKind::AzureBlob(c) = &s.kind else {
            continue;
        };
        if c.connection_string.is_some() || c.sas.is_some() {
            continue;
        }
        let credential = entrastream_app::siem::source_entra_credential(config)
            .map_err(|e| ReplayError::NotFound(e.to_string()))?;
        // Without one the sink's own build reports the missing key.
        let Some(credential) = credential else {
            continue;
        };
        let auth = entrastream_blob_client::Auth::token(credential);
        if let Err(e) = auth.bearer().await {
            return Err(ReplayError::Unsupported(format!(
                "sink {}: {e} (keys: [source] credential, tenant_id, client_id, client_secret / \
                 AZURE_FEDERATED_TOKEN_FILE; AZURE_AUTHORITY_HOST if not the public cloud)",
                s.name
            )));
        }
    }
    Ok(())
}

/// Runs a replay to its end (or until `stop` resolves: then it drains, commits and returns).
pub async fn replay(
    config: &Config,
    opts: &ReplayOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ReplaySummary, ReplayError> {
    let config = select_sinks(config, opts.sinks.as_deref())?;
    let state_path = opts
        .state
        .clone()
        .unwrap_or_else(|| default_state_path(opts));
    let state = if opts.dry_run {
        ReplayState::default()
    } else {
        ReplayState::load(&state_path)?
    };
    if !opts.dry_run {
        check_sink_tokens(&config).await?;
    }
    let plan = plan(&config, opts, state).await?;
    let tracking = Arc::new(Mutex::new(Tracking::default()));
    let counters = Arc::new(ReadCounters::default());
    let halt = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let total_bytes: u64 = plan.files.iter().map(|f| f.size).sum();
    let bar = progress_bar(opts.progress, total_bytes);
    let rx = spawn_reader(
        &plan,
        opts,
        tracking.clone(),
        counters.clone(),
        halt.clone(),
    );
    let mut summary = ReplaySummary {
        files: plan.total,
        files_already_done: plan.already_done,
        dry_run: opts.dry_run,
        ..ReplaySummary::default()
    };
    if opts.dry_run {
        dry_run(&config, rx, &mut summary, &bar, &counters).await;
        summary.complete = true;
    } else {
        let source = ReplaySource::new(
            rx,
            tracking,
            plan.state,
            Some(state_path.clone()),
            halt.clone(),
            plan.files.len(),
        );
        let running = entrastream_app::start_with_source(
            &config,
            Box::new(source),
            entrastream_telemetry::Metrics::new(),
            entrastream_app::Hooks::default(),
        )
        .await?;
        let progress = running.progress.clone();
        tokio::pin!(stop);
        let mut stopping = false;
        while !running.is_finished() {
            tokio::select! {
                _ = &mut stop, if !stopping => {
                    stopping = true;
                    halt.store(true, Ordering::Relaxed);
                    running.request_stop();
                }
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            update_bar(&bar, &counters, progress.records_in.load(Ordering::Relaxed));
        }
        let run = running.wait().await?;
        summary.records = progress.records_in.load(Ordering::Relaxed);
        summary.records_done = progress.records_done.load(Ordering::Relaxed);
        summary.dead_lettered = progress.dead_lettered.load(Ordering::Relaxed);
        let state = ReplayState::load(&state_path)?;
        summary.complete = !stopping
            && run.abandoned_messages == 0
            && counters.files_failed.load(Ordering::Relaxed) == 0
            && plan
                .files
                .iter()
                .all(|f| state.files.get(&f.name).is_some_and(|p| p.done));
        summary.state = Some(state_path);
    }
    bar.finish_and_clear();
    summary.elapsed = started.elapsed();
    summary.bytes = counters.bytes.load(Ordering::Relaxed);
    summary.not_selected = counters.not_selected.load(Ordering::Relaxed);
    summary.damaged_members = counters.damaged_members.load(Ordering::Relaxed);
    summary.files_failed = counters.files_failed.load(Ordering::Relaxed);
    Ok(summary)
}

/// Parses what would be sent and counts it per category and per sink; delivers nothing.
async fn dry_run(
    config: &Config,
    mut rx: mpsc::Receiver<SourceMessage>,
    summary: &mut ReplaySummary,
    bar: &indicatif::ProgressBar,
    counters: &ReadCounters,
) {
    let opts = ParseOptions::default();
    let filters: Vec<(String, entrastream_app::config::SinkConfig)> = config
        .sinks
        .iter()
        .filter(|s| !matches!(s.kind, entrastream_app::config::SinkKind::DeadLetter(_)))
        .map(|s| (s.name.clone(), s.clone()))
        .collect();
    while let Some(m) = rx.recv().await {
        if m.unreadable.is_some() {
            summary.dead_lettered += 1;
            continue;
        }
        for item in parse_records(&m.body, &opts) {
            match item {
                Ok(r) => {
                    summary.records += 1;
                    *summary
                        .by_category
                        .entry(r.category().to_owned())
                        .or_default() += 1;
                    for (name, s) in &filters {
                        if s.categories
                            .as_ref()
                            .is_none_or(|cs| cs.iter().any(|c| c == r.category()))
                        {
                            *summary.by_sink.entry(name.clone()).or_default() += 1;
                        }
                    }
                }
                Err(_) => summary.dead_lettered += 1,
            }
        }
        update_bar(bar, counters, summary.records);
    }
}

fn progress_bar(show: bool, total: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {binary_bytes}/{binary_total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn update_bar(bar: &indicatif::ProgressBar, counters: &ReadCounters, records: u64) {
    bar.set_position(counters.file_bytes.load(Ordering::Relaxed));
    bar.set_message(format!("{records} records"));
}

#[cfg(test)]
mod tests;
