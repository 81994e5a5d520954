//! The shared vocabulary of entrastream: partitions, positions, checkpoints and the messages a
//! source hands to the pipeline.
//!
//! Design decision: positions are *inclusive* (`Position::Offset(41)` means "the message at
//! offset 41 and everything before it is done"). Protocols that commit an exclusive "next offset"
//! (Kafka) convert at their edge, in exactly one place, with `+ 1`. Nothing in this crate does
//! I/O or depends on another entrastream crate.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;

/// A partition of one topic (event hub). The topic is part of the id so that a source reading
/// several hubs never mixes their offsets.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId {
    /// Topic (Kafka) or event hub name.
    pub topic: String,
    /// Partition number inside the topic.
    pub partition: i32,
}

impl PartitionId {
    /// Builds a partition id.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Debug for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// Where a partition stands. Inclusive: `Offset(n)` = message `n` is done.
///
/// ```
/// use entrastream_model::Position;
/// // Kafka commits the *next* offset to read, so an inclusive position 41 commits 42.
/// assert_eq!(Position::Offset(41).kafka_commit_offset(), Some(42));
/// assert_eq!(Position::Beginning.kafka_commit_offset(), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Position {
    /// Nothing in the partition is done yet.
    Beginning,
    /// Everything up to and including this offset is done.
    Offset(i64),
}

impl Position {
    /// The exclusive offset Kafka expects in an offset commit ("next message to read"), or
    /// `None` when there is nothing to commit.
    pub fn kafka_commit_offset(self) -> Option<i64> {
        match self {
            Position::Beginning => None,
            // Positions are inclusive, Kafka offsets exclusive, hence + 1.
            Position::Offset(o) => Some(o.saturating_add(1)),
        }
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Beginning => write!(f, "beginning"),
            Position::Offset(o) => write!(f, "@{o}"),
        }
    }
}

/// A set of partition positions that the pipeline hands to `Source::commit`. Every position in
/// it has been accepted by every sink (or by the dead-letter sink).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    positions: BTreeMap<PartitionId, Position>,
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the position of one partition.
    pub fn set(&mut self, partition: PartitionId, position: Position) {
        self.positions.insert(partition, position);
    }

    /// Iterates partitions and their positions in partition order.
    pub fn iter(&self) -> impl Iterator<Item = (&PartitionId, &Position)> {
        self.positions.iter()
    }

    /// The position of one partition, if present.
    pub fn get(&self, partition: &PartitionId) -> Option<Position> {
        self.positions.get(partition).copied()
    }

    /// Number of partitions in the checkpoint.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when no partition is present.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

impl fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("∆(")?;
        for (i, (p, pos)) in self.positions.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}{pos:?}")?;
        }
        f.write_str(")")
    }
}

/// One message as a source delivers it: a message body (an Event Hubs event, usually a
/// `{"records":[...]}` envelope) plus where it came from.
#[derive(Clone)]
pub struct SourceMessage {
    /// The partition the message was read from.
    pub partition: PartitionId,
    /// Offset of the message inside its partition (Kafka offset).
    pub offset: i64,
    /// Event Hubs sequence number when the protocol has one (AMQP); Kafka reports `None`.
    pub sequence_number: Option<i64>,
    /// When the broker enqueued the message, if it says.
    pub enqueued_time: Option<SystemTime>,
    /// The message body. `Bytes` so that fan-out does not copy it.
    pub body: Bytes,
    /// Why the source could not read the body as one payload (an AMQP event whose body is
    /// not exactly one Data section). The pipeline then dead-letters the whole message with
    /// this reason instead of parsing `body`, which holds what could be recovered of it.
    pub unreadable: Option<String>,
}

impl fmt::Debug for SourceMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceMessage")
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("sequence_number", &self.sequence_number)
            .field("enqueued_time", &self.enqueued_time)
            .field("body_len", &self.body.len())
            .field("unreadable", &self.unreadable)
            .finish()
    }
}

/// Where a consumer group without a checkpoint starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    /// The oldest event the hub still holds (default: a forwarder must not skip retained data).
    #[default]
    Earliest,
    /// Only events enqueued after the consumer joined.
    Latest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_debug_is_readable() {
        let mut c = Checkpoint::new();
        c.set(PartitionId::new("hub", 3), Position::Offset(57));
        c.set(PartitionId::new("hub", 1), Position::Beginning);
        assert_eq!(format!("{c:?}"), "∆(hub/1beginning, hub/3@57)");
    }

    #[test]
    fn kafka_conversion_is_exclusive() {
        assert_eq!(Position::Offset(0).kafka_commit_offset(), Some(1));
        assert_eq!(
            Position::Offset(i64::MAX).kafka_commit_offset(),
            Some(i64::MAX)
        );
    }
}
