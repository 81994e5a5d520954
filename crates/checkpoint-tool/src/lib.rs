//! Operator tooling for where the daemon stands: `entrastream checkpoints show` and
//! `entrastream checkpoints set`, for both sources.
//!
//! This crate owns the inspection and the rewinding of positions: for the Kafka source the
//! consumer group's committed offsets (through the consumer API of the same librdkafka build,
//! see [`kafka`]), for the AMQP source the checkpoint store in the Azure SDK layout (through
//! `entrastream-partition-store`, so the SDK processors read what it writes) and the hub's
//! `$management` answers (see [`amqp`]). The binary only loads the config and wires it here.
//!
//! Key decision: a move is always computed first as a [`Plan`] (old → new per partition)
//! that is printed, and written only when asked (`--yes`) and when nothing is consuming:
//! live group members (Kafka) or live owners (AMQP store) block it, by name, unless forced.
//! A running consumer would overwrite the new position with its next commit, or commit over
//! it at shutdown, so a move under its feet is at best lost and at worst half-applied. Every
//! position in a plan is one the source can resolve: inside the retained range, or the first
//! record at or after a time as the broker's offsets-for-times or the hub's enqueued-time filter
//! answer it; a checkpoint that would point outside the log is refused.
#![forbid(unsafe_code)]

pub mod amqp;
pub mod kafka;
mod render;
mod time;

use std::time::SystemTime;

use serde::Serialize;

pub use render::{plan_text, report_text};
pub use time::{format_age, parse_time};

/// Where `checkpoints set` moves the positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The oldest retained record of each partition.
    Earliest,
    /// After the newest record of each partition: only new records are read.
    Latest,
    /// The first record at or after this time (after the newest when there is none yet).
    Time(SystemTime),
    /// Kafka: the next offset to read.
    Offset(i64),
    /// AMQP: the sequence number of the next event to read.
    Sequence(i64),
}

impl Target {
    /// How the plan names it.
    pub fn describe(&self) -> String {
        match self {
            Target::Earliest => "earliest".into(),
            Target::Latest => "latest".into(),
            Target::Time(t) => format!("time {}", time::rfc3339(*t)),
            Target::Offset(n) => format!("offset {n}"),
            Target::Sequence(n) => format!("sequence number {n}"),
        }
    }
}

/// What `checkpoints show` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Report {
    /// The Kafka consumer group.
    Kafka(kafka::KafkaReport),
    /// The AMQP checkpoint store (and the hub, when it answered).
    Amqp(amqp::AmqpReport),
}

/// One partition's move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// The partition.
    pub partition: String,
    /// Kafka: the committed offset (next to read). AMQP: the stored checkpoint's sequence
    /// number (the last event processed). `None`: nothing stored yet.
    pub old: Option<i64>,
    /// The value written, in the same terms as `old`.
    pub new: i64,
    /// The first record the daemon reads after the move (Kafka offset / AMQP sequence number).
    pub next_read: i64,
}

/// `checkpoints set`'s plan: the moves, and whoever would overwrite them.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `kafka` or `amqp`.
    pub source: &'static str,
    /// The topic / event hub.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// What was asked.
    pub target: String,
    /// Per partition, in partition order.
    pub moves: Vec<Move>,
    /// Live group members or owners (with what names them); a non-empty list blocks applying
    /// unless forced.
    pub blockers: Vec<String>,
}

/// Why the tool could not answer or move. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The broker did not answer or refused.
    #[error(
        "kafka {op}: {message}; check brokers, topic and credentials in [source] (`entrastream check-config`) and that the broker is reachable"
    )]
    Kafka {
        /// What was being done.
        op: &'static str,
        /// librdkafka's message (never a password).
        message: String,
    },
    /// The topic has no such partition, or the partition no such position.
    #[error("{0}")]
    Unresolvable(String),
    /// The checkpoint store failed.
    #[error("checkpoint store: {0}")]
    Store(#[from] entrastream_partition_store::StoreError),
    /// The hub could not be asked.
    #[error("event hub: {0}")]
    Hub(String),
    /// Written, but reading back found something else (another writer raced us).
    #[error(
        "after writing, partition {partition} reads back {found:?} instead of {expected}: another consumer wrote at the same time; stop every consumer of the group and run the command again"
    )]
    Verify {
        /// The partition.
        partition: String,
        /// What the plan wrote.
        expected: i64,
        /// What was read back.
        found: Option<i64>,
    },
}
