//! The Kafka consumer group: committed offsets against the log, the group's members, and
//! moving the offsets.
//!
//! Everything goes through a consumer of the configured group that never subscribes: it reads
//! committed offsets and watermarks, asks offsets-for-times, lists the group (state, members,
//! their assignments) and commits explicit offsets. A consumer that never joins cannot
//! trigger a rebalance, so `show` is safe next to a running daemon. Its commits are the
//! "simple consumer" commits Kafka accepts only for a group without members, which is what
//! `set` needs anyway (see the crate docs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use entrastream_model::StartPosition;
use entrastream_source_kafka::KafkaSourceConfig;
use entrastream_source_kafka::auth::OAuthContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::time::{rfc3339, seconds_between};
use crate::{Move, Plan, Target, ToolError};

/// How long one broker request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long `show` waits for the first unconsumed record of the lagging partitions (their
/// timestamps give the lag in time).
const PEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// Group states in which no member holds partitions.
const IDLE_STATES: [&str; 2] = ["Empty", "Dead"];

/// The consumer group, as `checkpoints show` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct KafkaReport {
    /// Bootstrap servers.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, … as the broker names it; `None` when the
    /// broker did not answer the group listing.
    pub group_state: Option<String>,
    /// Members of the group and the partitions of this topic each holds.
    pub members: Vec<Member>,
    /// The hub's retention (`[source] retention`), in seconds.
    pub retention_seconds: f64,
    /// Per partition, in partition order.
    pub partitions: Vec<KafkaPartition>,
    /// What could not be found out, and why.
    pub notes: Vec<String>,
}

/// A member of the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The member id the broker gave it.
    pub id: String,
    /// Its `client.id` (entrastream's is `entrastream`).
    pub client_id: String,
    /// Its host as the broker sees it.
    pub host: String,
    /// The partitions of this topic it is assigned.
    pub partitions: Vec<i32>,
}

impl Member {
    /// `member ID (client CLIENT, host HOST)`: what a refusal names (a broker may leave the
    /// client id and host empty; they are left out then).
    pub fn describe(&self) -> String {
        let mut s = format!("member {}", self.id);
        let known: Vec<String> = [("client", &self.client_id), ("host", &self.host)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !known.is_empty() {
            s.push_str(&format!(" ({})", known.join(", ")));
        }
        s
    }
}

/// One partition of the topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaPartition {
    /// The partition.
    pub partition: i32,
    /// The group's committed offset (the next record to read); `None` when none is committed.
    pub committed: Option<i64>,
    /// The oldest retained offset.
    pub log_start: i64,
    /// The offset the next produced record gets.
    pub log_end: i64,
    /// Records after the group's position (from `start_position` when nothing is committed).
    pub lag: i64,
    /// Age of the first unconsumed record (its Kafka timestamp), when there is one and it was
    /// read; 0 when nothing lags.
    pub lag_seconds: Option<f64>,
    /// The first unconsumed record's timestamp (RFC 3339).
    pub oldest_unconsumed: Option<String>,
    /// Seconds until that record leaves the retention (`[source] retention` minus its age).
    pub retention_headroom_seconds: Option<f64>,
    /// The member that holds the partition, if any.
    pub owner: Option<String>,
}

/// The Kafka side of the tool. See the module docs.
pub struct KafkaTool {
    config: KafkaSourceConfig,
    retention: Duration,
    consumer: BaseConsumer<OAuthContext>,
}

impl std::fmt::Debug for KafkaTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTool")
            .field("brokers", &self.config.brokers)
            .field("topic", &self.config.topic)
            .field("group", &self.config.consumer_group)
            .finish_non_exhaustive()
    }
}

fn kafka(op: &'static str) -> impl Fn(KafkaError) -> ToolError {
    move |e| ToolError::Kafka {
        op,
        message: e.to_string(),
    }
}

impl KafkaTool {
    /// A tool for the source's group; `retention` is `[source] retention`.
    pub fn new(config: KafkaSourceConfig, retention: Duration) -> Result<Self, ToolError> {
        let consumer = client(&config)
            .create_with_context(oauth_context(&config)?)
            .map_err(kafka("create consumer"))?;
        OAuthContext::prime(&consumer);
        Ok(KafkaTool {
            config,
            retention,
            consumer,
        })
    }

    /// The topic's partitions, in order.
    fn partitions(&self) -> Result<Vec<i32>, ToolError> {
        let topic = self.config.topic.as_str();
        let md = self
            .consumer
            .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
            .map_err(kafka("read topic metadata"))?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .ok_or_else(|| {
                ToolError::Unresolvable(format!(
                    "topic {topic:?} does not exist on {}; check [source] topic (or the connection string's EntityPath)",
                    self.config.brokers
                ))
            })?;
        let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    fn committed(&self, partitions: &[i32]) -> Result<BTreeMap<i32, i64>, ToolError> {
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition(&self.config.topic, *p);
        }
        let c = self
            .consumer
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .map_err(kafka("read committed offsets"))?;
        Ok(c.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }

    fn watermarks(&self, partition: i32) -> Result<(i64, i64), ToolError> {
        self.consumer
            .fetch_watermarks(&self.config.topic, partition, REQUEST_TIMEOUT)
            .map_err(kafka("read log start and end offsets"))
    }

    /// The group's state and members (`None` and a note when the broker cannot list it).
    fn group(&self, notes: &mut Vec<String>) -> (Option<String>, Vec<Member>) {
        let group = self.config.consumer_group.as_str();
        match self.consumer.fetch_group_list(Some(group), REQUEST_TIMEOUT) {
            Ok(list) => match list.groups().iter().find(|g| g.name() == group) {
                Some(g) => {
                    let members = g
                        .members()
                        .iter()
                        .map(|m| Member {
                            id: m.id().to_string(),
                            client_id: m.client_id().to_string(),
                            host: m.client_host().to_string(),
                            partitions: m
                                .assignment()
                                .and_then(parse_assignment)
                                .and_then(|a| a.get(&self.config.topic).cloned())
                                .unwrap_or_default(),
                        })
                        .collect();
                    (Some(g.state().to_string()), members)
                }
                None => (Some("Dead".into()), Vec::new()),
            },
            Err(e) => {
                notes.push(format!(
                    "the broker did not list group {group:?} ({e}): members and state unknown"
                ));
                (None, Vec::new())
            }
        }
    }

    /// `checkpoints show`.
    pub fn show(&self) -> Result<KafkaReport, ToolError> {
        let partitions = self.partitions()?;
        let committed = self.committed(&partitions)?;
        let mut notes = Vec::new();
        let (group_state, members) = self.group(&mut notes);
        let mut rows = Vec::with_capacity(partitions.len());
        let mut next_reads = BTreeMap::new();
        for p in &partitions {
            let (log_start, log_end) = self.watermarks(*p)?;
            let c = committed.get(p).copied();
            let next = match c {
                Some(o) => o.clamp(log_start, log_end),
                None => match self.config.start_position {
                    StartPosition::Earliest => log_start,
                    StartPosition::Latest => log_end,
                },
            };
            let lag = (log_end - next).max(0);
            if lag > 0 {
                next_reads.insert(*p, next);
            }
            rows.push(KafkaPartition {
                partition: *p,
                committed: c,
                log_start,
                log_end,
                lag,
                lag_seconds: (lag == 0).then_some(0.0),
                oldest_unconsumed: None,
                retention_headroom_seconds: (lag == 0).then_some(self.retention.as_secs_f64()),
                owner: members
                    .iter()
                    .find(|m| m.partitions.contains(p))
                    .map(|m| m.id.clone()),
            });
            if c.is_some_and(|o| o < log_start) {
                notes.push(format!(
                    "partition {p}: the committed offset {} is older than the oldest retained record {log_start}: {} records left the retention unread",
                    c.unwrap_or_default(),
                    log_start - c.unwrap_or_default()
                ));
            }
        }
        let now = SystemTime::now();
        match self.first_records(&next_reads) {
            Ok(times) => {
                for row in &mut rows {
                    if let Some(t) = times.get(&row.partition) {
                        let age = seconds_between(*t, now);
                        row.lag_seconds = Some(age);
                        row.oldest_unconsumed = Some(rfc3339(*t));
                        row.retention_headroom_seconds =
                            Some((self.retention.as_secs_f64() - age).max(0.0));
                    }
                }
                if times.len() < next_reads.len() {
                    notes.push(
                        "some lagging partitions did not answer with their first unconsumed record in time: their lag in time is unknown".into(),
                    );
                }
            }
            Err(e) => notes.push(format!("lag in time unknown: {e}")),
        }
        Ok(KafkaReport {
            brokers: self.config.brokers.clone(),
            topic: self.config.topic.clone(),
            group: self.config.consumer_group.clone(),
            group_state,
            members,
            retention_seconds: self.retention.as_secs_f64(),
            partitions: rows,
            notes,
        })
    }

    /// The timestamps of the records at `offsets` (partition → offset), read with a separate
    /// consumer that is assigned the partitions (it never joins the group nor commits).
    fn first_records(
        &self,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<BTreeMap<i32, SystemTime>, ToolError> {
        let mut found = BTreeMap::new();
        if offsets.is_empty() {
            return Ok(found);
        }
        let peek: BaseConsumer<OAuthContext> = client(&self.config)
            .set("fetch.max.bytes", "1048576")
            .set("queued.max.messages.kbytes", "1024")
            .create_with_context(oauth_context(&self.config)?)
            .map_err(kafka("create consumer"))?;
        OAuthContext::prime(&peek);
        let mut tpl = TopicPartitionList::new();
        for (p, o) in offsets {
            tpl.add_partition_offset(&self.config.topic, *p, Offset::Offset(*o))
                .map_err(kafka("assign"))?;
        }
        peek.assign(&tpl).map_err(kafka("assign"))?;
        let deadline = Instant::now() + PEEK_TIMEOUT;
        while found.len() < offsets.len() && Instant::now() < deadline {
            let Some(Ok(m)) = peek.poll(Duration::from_millis(200)) else {
                continue;
            };
            if found.contains_key(&m.partition()) {
                continue;
            }
            if let Some(ms) = m.timestamp().to_millis().filter(|ms| *ms >= 0) {
                found.insert(m.partition(), UNIX_EPOCH + Duration::from_millis(ms as u64));
            }
        }
        Ok(found)
    }

    /// `checkpoints set`: the plan for `target` (on `only` when given), without writing.
    pub fn plan(&self, target: Target, only: Option<i32>) -> Result<Plan, ToolError> {
        let all = self.partitions()?;
        let partitions = match only {
            Some(p) if !all.contains(&p) => {
                return Err(ToolError::Unresolvable(format!(
                    "topic {:?} has no partition {p} (partitions {}..={})",
                    self.config.topic,
                    all.first().copied().unwrap_or_default(),
                    all.last().copied().unwrap_or_default()
                )));
            }
            Some(p) => vec![p],
            None => all,
        };
        let committed = self.committed(&partitions)?;
        let mut notes = Vec::new();
        let (state, members) = self.group(&mut notes);
        let mut blockers: Vec<String> =
            if state.as_deref().is_some_and(|s| IDLE_STATES.contains(&s)) {
                Vec::new()
            } else {
                members.iter().map(Member::describe).collect()
            };
        if state.is_none() {
            blockers.extend(notes);
        }
        let by_time = match target {
            Target::Time(t) => Some(self.offsets_for_time(&partitions, t)?),
            _ => None,
        };
        let mut moves = Vec::with_capacity(partitions.len());
        for p in partitions {
            let (log_start, log_end) = self.watermarks(p)?;
            let new = match target {
                Target::Earliest => log_start,
                Target::Latest => log_end,
                // No record at or after the time yet: the next one produced is the first.
                Target::Time(_) => by_time
                    .as_ref()
                    .and_then(|m| m.get(&p).copied())
                    .unwrap_or(log_end)
                    .clamp(log_start, log_end),
                Target::Offset(n) if (log_start..=log_end).contains(&n) => n,
                Target::Offset(n) => {
                    return Err(ToolError::Unresolvable(format!(
                        "partition {p} holds offsets {log_start}..{log_end} (the next record gets {log_end}); offset {n} is outside it: pick an offset in that range"
                    )));
                }
                Target::Sequence(_) => {
                    return Err(ToolError::Unresolvable(
                        "--to-sequence is for the AMQP source; the Kafka source takes --to-offset"
                            .into(),
                    ));
                }
            };
            moves.push(Move {
                partition: p.to_string(),
                old: committed.get(&p).copied(),
                new,
                next_read: new,
            });
        }
        Ok(Plan {
            source: "kafka",
            topic: self.config.topic.clone(),
            group: self.config.consumer_group.clone(),
            target: target.describe(),
            moves,
            blockers,
        })
    }

    /// The first offset at or after `t` per partition (the broker's offsets-for-times);
    /// partitions with no such record are absent.
    fn offsets_for_time(
        &self,
        partitions: &[i32],
        t: SystemTime,
    ) -> Result<BTreeMap<i32, i64>, ToolError> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition_offset(&self.config.topic, *p, Offset::Offset(ms))
                .map_err(kafka("offsets for times"))?;
        }
        let answer = self
            .consumer
            .offsets_for_times(tpl, REQUEST_TIMEOUT)
            .map_err(kafka("offsets for times"))?;
        let mut out = BTreeMap::new();
        for e in answer.elements() {
            if let Err(err) = e.error() {
                return Err(ToolError::Kafka {
                    op: "offsets for times",
                    message: format!("partition {}: {err}", e.partition()),
                });
            }
            if let Offset::Offset(o) = e.offset() {
                out.insert(e.partition(), o);
            }
        }
        Ok(out)
    }

    /// Commits the plan's offsets for the group and reads them back.
    pub fn apply(&self, plan: &Plan) -> Result<(), ToolError> {
        let mut tpl = TopicPartitionList::new();
        for m in &plan.moves {
            let p = partition_number(&m.partition)?;
            tpl.add_partition_offset(&self.config.topic, p, Offset::Offset(m.new))
                .map_err(kafka("commit"))?;
        }
        self.consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| ToolError::Kafka {
                op: "commit",
                message: format!(
                    "{e} (a broker refuses commits from outside a group that has members: stop every consumer of group {:?} first)",
                    self.config.consumer_group
                ),
            })?;
        let partitions: Vec<i32> = plan
            .moves
            .iter()
            .map(|m| partition_number(&m.partition))
            .collect::<Result<_, _>>()?;
        let now = self.committed(&partitions)?;
        for m in &plan.moves {
            let found = now.get(&partition_number(&m.partition)?).copied();
            if found != Some(m.new) {
                return Err(ToolError::Verify {
                    partition: m.partition.clone(),
                    expected: m.new,
                    found,
                });
            }
        }
        Ok(())
    }
}

fn partition_number(p: &str) -> Result<i32, ToolError> {
    p.parse()
        .map_err(|_| ToolError::Unresolvable(format!("{p:?} is not a Kafka partition number")))
}

/// Entra ID tokens when the source has a credential (SASL OAUTHBEARER).
fn oauth_context(config: &KafkaSourceConfig) -> Result<OAuthContext, ToolError> {
    OAuthContext::new(config).map_err(|e| ToolError::Kafka {
        op: "Entra ID auth",
        message: e.to_string(),
    })
}

/// The consumer settings of the source: same brokers, credentials and group. Offsets are
/// never committed automatically.
fn client(config: &KafkaSourceConfig) -> rdkafka::ClientConfig {
    let mut c = config.client_config();
    // No statistics callbacks are installed here; no need to compute them.
    c.set("statistics.interval.ms", "0");
    c.set("client.id", "entrastream-checkpoints");
    c
}

/// A consumer-protocol assignment (`ConsumerProtocolAssignment`, versions 0 to 3): topic →
/// partitions. `None` when the bytes are not one (another protocol type, or truncated).
pub fn parse_assignment(bytes: &[u8]) -> Option<BTreeMap<String, Vec<i32>>> {
    let mut r = Reader(bytes);
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = BTreeMap::new();
    for _ in 0..topics.max(0) {
        let len = r.i16()?;
        let name = String::from_utf8(r.take(usize::try_from(len).ok()?)?.to_vec()).ok()?;
        let n = r.i32()?;
        let mut parts = Vec::with_capacity(usize::try_from(n).ok()?.min(4096));
        for _ in 0..n.max(0) {
            parts.push(r.i32()?);
        }
        parts.sort_unstable();
        out.insert(name, parts);
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Option<i32> {
        self.take(4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for (t, ps) in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
            b.extend_from_slice(&(ps.len() as i32).to_be_bytes());
            for p in *ps {
                b.extend_from_slice(&p.to_be_bytes());
            }
        }
        b.extend_from_slice(&(-1i32).to_be_bytes()); // no user data
        b
    }

    #[test]
    fn assignments_name_each_members_partitions() {
        let a = parse_assignment(&assignment(&[("hub", &[3, 1]), ("other", &[0])])).unwrap();
        assert_eq!(a["hub"], vec![1, 3]);
        assert_eq!(a["other"], vec![0]);
    }

    #[test]
    fn truncated_or_foreign_assignments_are_none() {
        let full = assignment(&[("hub", &[0, 1])]);
        for cut in [1, 5, 8, 12] {
            assert_eq!(parse_assignment(&full[..cut]), None, "cut at {cut}");
        }
        assert_eq!(parse_assignment(&[]), None);
    }
}
