//! The sections that belong to no component: `[log]`, `[pipeline]`, `[admin]`.

use serde::{Deserialize, Serialize};

use crate::units::{self, Bytes, Dur};

/// `[log] format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The value as written in the file.
    pub fn as_str(&self) -> &'static str {
        match self {
            LogFormat::Pretty => "pretty",
            LogFormat::Json => "json",
        }
    }
}

/// Callers that read the format as text (`telemetry_format(&config.log.format)`).
impl std::ops::Deref for LogFormat {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// Default filter when `RUST_LOG` is not set.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

/// `[pipeline]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// How often acknowledged positions are committed.
    #[serde(default = "d_checkpoint")]
    pub checkpoint_interval: Dur,
    /// How long a revoke waits for in-flight messages (must be below the session timeout).
    #[serde(default = "d_drain")]
    pub drain_timeout: Dur,
    /// How long SIGTERM/SIGINT waits for in-flight messages.
    #[serde(default = "d_shutdown")]
    pub shutdown_timeout: Dur,
    /// Global in-flight byte budget.
    #[serde(default = "d_budget")]
    pub max_in_flight_bytes: Bytes,
    /// Batch cut size (message bytes).
    #[serde(default = "d_batch")]
    pub batch_max_bytes: Bytes,
    /// Batch cut age.
    #[serde(default = "d_linger")]
    pub batch_linger: Dur,
    /// First retry delay of a failing sink.
    #[serde(default = "d_retry_initial")]
    pub retry_initial: Dur,
    /// Largest retry delay of a failing sink.
    #[serde(default = "d_retry_max")]
    pub retry_max: Dur,
    /// Threads that parse and encode messages: `"auto"` (the CPUs this process may use: its
    /// affinity mask, capped by its cgroup CPU quota rounded up) or a count.
    #[serde(default)]
    pub parse_threads: ParseThreads,
}

/// `[pipeline] parse_threads`: `"auto"` or a thread count from 1 to [`ParseThreads::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParseThreads {
    /// As many as the CPUs this process may use.
    #[default]
    Auto,
    /// This many.
    Count(std::num::NonZeroUsize),
}

impl ParseThreads {
    /// The largest count accepted: more threads than any pod has cores is a typo.
    pub const MAX: usize = 1024;
}

impl Serialize for ParseThreads {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ParseThreads::Auto => s.serialize_str("auto"),
            ParseThreads::Count(n) => s.serialize_u64(n.get() as u64),
        }
    }
}

impl<'de> Deserialize<'de> for ParseThreads {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, Visitor};
        struct V;
        impl V {
            fn count<E: de::Error>(n: u64) -> Result<ParseThreads, E> {
                usize::try_from(n)
                    .ok()
                    .filter(|n| *n <= ParseThreads::MAX)
                    .and_then(std::num::NonZeroUsize::new)
                    .map(ParseThreads::Count)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(n), &V))
            }
        }
        impl Visitor<'_> for V {
            type Value = ParseThreads;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "\"auto\" (the CPUs this process may use) or a thread count from 1 to {}",
                    ParseThreads::MAX
                )
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ParseThreads, E> {
                V::count(n)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ParseThreads, E> {
                match u64::try_from(n) {
                    Ok(n) => V::count(n),
                    Err(_) => Err(E::invalid_value(de::Unexpected::Signed(n), &self)),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ParseThreads, E> {
                // Environment overrides arrive as strings.
                match v.trim() {
                    "auto" => Ok(ParseThreads::Auto),
                    t => match t.parse::<u64>() {
                        Ok(n) => V::count(n),
                        Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                    },
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn d_checkpoint() -> Dur {
    Dur(std::time::Duration::from_secs(5))
}
fn d_drain() -> Dur {
    Dur(std::time::Duration::from_secs(10))
}
fn d_shutdown() -> Dur {
    Dur(std::time::Duration::from_secs(30))
}
fn d_budget() -> Bytes {
    Bytes(256 << 20)
}
fn d_batch() -> Bytes {
    Bytes(1 << 20)
}
fn d_linger() -> Dur {
    Dur(std::time::Duration::from_millis(50))
}
fn d_retry_initial() -> Dur {
    Dur(std::time::Duration::from_millis(100))
}
fn d_retry_max() -> Dur {
    Dur(std::time::Duration::from_secs(30))
}

impl Default for PipelineSection {
    fn default() -> Self {
        PipelineSection {
            checkpoint_interval: d_checkpoint(),
            drain_timeout: d_drain(),
            shutdown_timeout: d_shutdown(),
            max_in_flight_bytes: d_budget(),
            batch_max_bytes: d_batch(),
            batch_linger: d_linger(),
            retry_initial: d_retry_initial(),
            retry_max: d_retry_max(),
            parse_threads: ParseThreads::Auto,
        }
    }
}

/// `[admin]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// Address of `/metrics`, `/livez`, `/readyz`.
    #[serde(default = "d_listen")]
    pub listen: String,
    /// Set to false to run without the admin server.
    #[serde(default = "d_true", deserialize_with = "lenient_bool_default_true")]
    pub enabled: bool,
}

fn d_listen() -> String {
    "0.0.0.0:9464".into()
}
fn d_true() -> bool {
    true
}
fn lenient_bool_default_true<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    units::lenient_bool(d).map(|b| b.unwrap_or(true))
}

impl Default for AdminSection {
    fn default() -> Self {
        AdminSection {
            listen: d_listen(),
            enabled: true,
        }
    }
}
