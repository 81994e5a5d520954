//! The AMQP checkpoint store (ownership and checkpoints in the Azure SDK layout) and the
//! hub's view of each partition.
//!
//! The store alone answers checkpoints and owners; the lag, the lag in time and the retention
//! headroom need the hub (`$management` partition properties, and one event read with a
//! receiver without owner level, which the hub refuses rather than disconnect a running
//! replica). When the hub cannot be reached, `show` reports what the store holds and says so;
//! `set` refuses, because it cannot check that the new positions exist.
//!
//! A checkpoint holds the *last processed* event (exclusive start), as every SDK reads it:
//! moving a partition so that event N is read next writes sequence number N − 1 **and that
//! event's offset**, read from the hub. Both are needed: entrastream and the .NET/Java
//! processors resume from the sequence number, but the Python processor resumes from the
//! offset alone and, finding none, starts at its configured default position instead (the
//! newest events, by default): records would be skipped. When event N − 1 is no longer
//! retained (or N is the partition's first event), the offset written is `-1`, the start of
//! the partition, which is then the same place.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use entrastream_partition_store::{HubKey, Ownership, PartitionStore, StoredCheckpoint};
use entrastream_source_amqp::hub::{HubView, PartitionRange, PeekFrom};
use entrastream_source_amqp::{AmqpSourceConfig, StartFrom};
use serde::Serialize;

use crate::time::{rfc3339, seconds_between};
use crate::{Move, Plan, Target, ToolError};

/// What `checkpoints show` reports for the AMQP source.
#[derive(Debug, Clone, Serialize)]
pub struct AmqpReport {
    /// The namespace (fully qualified).
    pub namespace: String,
    /// The event hub.
    pub event_hub: String,
    /// The consumer group.
    pub consumer_group: String,
    /// The checkpoint store (kind and location, never secrets).
    pub store: serde_json::Value,
    /// `[source] ownership_expiry`, in seconds.
    pub ownership_expiry_seconds: f64,
    /// `[source] retention`, in seconds.
    pub retention_seconds: f64,
    /// Whether the hub answered; when not, only the store's columns are filled.
    pub hub_reachable: bool,
    /// Per partition, in partition order.
    pub partitions: Vec<AmqpPartition>,
    /// What could not be found out, and why.
    pub notes: Vec<String>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmqpPartition {
    /// The partition id.
    pub partition: String,
    /// The checkpoint: sequence number of the last processed event.
    pub checkpoint_sequence_number: Option<i64>,
    /// The checkpoint's offset, as stored.
    pub checkpoint_offset: Option<String>,
    /// The stored owner (`None`: never owned or relinquished).
    pub owner: Option<String>,
    /// The owner renewed within `ownership_expiry`: it is reading the partition.
    pub owner_live: bool,
    /// Seconds since the owner's last renewal.
    pub ownership_age_seconds: Option<f64>,
    /// Seconds until the ownership expires (0 when expired).
    pub ownership_expires_in_seconds: Option<f64>,
    /// Hub: sequence number of the oldest retained event.
    pub beginning_sequence_number: Option<i64>,
    /// Hub: sequence number of the newest event.
    pub last_enqueued_sequence_number: Option<i64>,
    /// Hub: when the newest event was enqueued (RFC 3339).
    pub last_enqueued_time: Option<String>,
    /// Events after the checkpoint (after the start position when there is none).
    pub lag: Option<i64>,
    /// Age of the first unprocessed event; 0 when nothing lags.
    pub lag_seconds: Option<f64>,
    /// The first unprocessed event's enqueued time (RFC 3339).
    pub oldest_unprocessed: Option<String>,
    /// Seconds until that event leaves the retention.
    pub retention_headroom_seconds: Option<f64>,
}

/// The AMQP side of the tool. See the module docs.
#[derive(Debug)]
pub struct AmqpTool {
    config: AmqpSourceConfig,
    store: Arc<dyn PartitionStore>,
    key: HubKey,
    hub: Result<HubView, String>,
}

impl AmqpTool {
    /// Reads the store key from the settings and tries the hub (an unreachable hub is kept as
    /// its reason, not an error: the store can still be shown).
    pub async fn new(
        config: AmqpSourceConfig,
        store: Arc<dyn PartitionStore>,
    ) -> Result<Self, ToolError> {
        let key = entrastream_source_amqp::hub::hub_key(&config)
            .map_err(|e| ToolError::Hub(e.to_string()))?;
        let hub = HubView::open(&config).await.map_err(|e| e.to_string());
        Ok(AmqpTool {
            config,
            store,
            key,
            hub,
        })
    }

    /// The hub's ranges per partition, or why they are unknown.
    async fn ranges(&self) -> Result<BTreeMap<String, PartitionRange>, String> {
        let hub = self.hub.as_ref().map_err(Clone::clone)?;
        let mut out = BTreeMap::new();
        for p in hub.partition_ids().await.map_err(|e| e.to_string())? {
            let r = hub.partition(&p).await.map_err(|e| e.to_string())?;
            out.insert(p, r);
        }
        Ok(out)
    }

    /// The last processed sequence number the daemon starts after, per its settings, when
    /// the partition has no checkpoint (`None`: a time or sequence start, unknown here).
    fn implicit_done_through(&self, r: &PartitionRange) -> Option<i64> {
        match self.config.start {
            StartFrom::Earliest => Some(r.beginning_sequence_number - 1),
            StartFrom::Latest => Some(r.last_enqueued_sequence_number),
            StartFrom::EnqueuedTime(_) => None,
            StartFrom::SequenceNumber(n) => Some(n - 1),
        }
    }

    /// `checkpoints show`.
    pub async fn show(&self) -> Result<AmqpReport, ToolError> {
        let checkpoints = self.store.list_checkpoints(&self.key).await?;
        let ownership = self.store.list_ownership(&self.key).await?;
        let mut notes = Vec::new();
        let ranges = match self.ranges().await {
            Ok(r) => Some(r),
            Err(e) => {
                notes.push(format!(
                    "the event hub could not be asked ({e}): lag, lag in time and retention headroom are unknown; the columns from the store are shown"
                ));
                None
            }
        };
        let ids = partition_ids(ranges.as_ref(), &checkpoints, &ownership);
        let now = SystemTime::now();
        let expiry = self.config.balancing.ownership_expiry.as_secs_f64();
        let retention = self.config.retention.as_secs_f64();
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            let cp = checkpoints.iter().find(|c| c.partition_id == id);
            let own = ownership.iter().find(|o| o.partition_id == id);
            let (owner, live, age) = owner_state(own, now, expiry);
            let mut row = AmqpPartition {
                partition: id.clone(),
                checkpoint_sequence_number: cp.and_then(|c| c.sequence_number),
                checkpoint_offset: cp.and_then(|c| c.offset.clone()),
                owner,
                owner_live: live,
                ownership_age_seconds: age,
                ownership_expires_in_seconds: age.map(|a| (expiry - a).max(0.0)),
                beginning_sequence_number: None,
                last_enqueued_sequence_number: None,
                last_enqueued_time: None,
                lag: None,
                lag_seconds: None,
                oldest_unprocessed: None,
                retention_headroom_seconds: None,
            };
            if let Some(r) = ranges.as_ref().and_then(|m| m.get(&id)) {
                self.fill_from_hub(&mut row, r, now, retention, &mut notes)
                    .await;
            }
            rows.push(row);
        }
        Ok(AmqpReport {
            namespace: self.key.fully_qualified_namespace.clone(),
            event_hub: self.key.event_hub.clone(),
            consumer_group: self.key.consumer_group.clone(),
            store: self.store.describe(),
            ownership_expiry_seconds: expiry,
            retention_seconds: retention,
            hub_reachable: ranges.is_some(),
            partitions: rows,
            notes,
        })
    }

    async fn fill_from_hub(
        &self,
        row: &mut AmqpPartition,
        r: &PartitionRange,
        now: SystemTime,
        retention: f64,
        notes: &mut Vec<String>,
    ) {
        row.beginning_sequence_number = Some(r.beginning_sequence_number);
        row.last_enqueued_sequence_number = Some(r.last_enqueued_sequence_number);
        row.last_enqueued_time = r.last_enqueued_time.map(rfc3339);
        let done = row
            .checkpoint_sequence_number
            .or_else(|| self.implicit_done_through(r));
        let Some(done) = done else {
            notes.push(format!(
                "partition {}: no checkpoint and a start position by time: lag unknown",
                r.partition_id
            ));
            return;
        };
        if !r.is_empty && done + 1 < r.beginning_sequence_number {
            notes.push(format!(
                "partition {}: the checkpoint ({done}) is older than the oldest retained event ({}): {} events left the retention unread",
                r.partition_id,
                r.beginning_sequence_number,
                r.beginning_sequence_number - done - 1
            ));
        }
        let lag = if r.is_empty {
            0
        } else {
            (r.last_enqueued_sequence_number - done).max(0)
        };
        row.lag = Some(lag);
        if lag == 0 {
            row.lag_seconds = Some(0.0);
            row.retention_headroom_seconds = Some(retention);
            return;
        }
        let Ok(hub) = &self.hub else { return };
        let first = (done + 1).max(r.beginning_sequence_number);
        match hub
            .first_event(&r.partition_id, PeekFrom::SequenceNumber(first))
            .await
        {
            Ok(Some(e)) => {
                if let Some(t) = e.enqueued_time {
                    let age = seconds_between(t, now);
                    row.lag_seconds = Some(age);
                    row.oldest_unprocessed = Some(rfc3339(t));
                    row.retention_headroom_seconds = Some((retention - age).max(0.0));
                }
            }
            Ok(None) => notes.push(format!(
                "partition {}: event {first} was not received in time: lag in time unknown",
                r.partition_id
            )),
            Err(e) => notes.push(format!(
                "partition {}: lag in time unknown (a running replica's receiver keeps others out): {e}",
                r.partition_id
            )),
        }
    }

    /// `checkpoints set`: the plan for `target` (on `only` when given), without writing.
    pub async fn plan(&self, target: Target, only: Option<&str>) -> Result<Plan, ToolError> {
        let ranges = self.ranges().await.map_err(|e| {
            ToolError::Hub(format!(
                "{e}; the new checkpoints cannot be checked against the hub's retained events, so nothing is planned: make the hub reachable from here (same network and credentials as the daemon)"
            ))
        })?;
        let ranges: Vec<&PartitionRange> = match only {
            Some(p) => vec![ranges.get(p).ok_or_else(|| {
                ToolError::Unresolvable(format!(
                    "event hub {} has no partition {p:?} (partitions: {})",
                    self.key.event_hub,
                    ranges.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            })?],
            None => ranges.values().collect(),
        };
        let checkpoints = self.store.list_checkpoints(&self.key).await?;
        let ownership = self.store.list_ownership(&self.key).await?;
        let now = SystemTime::now();
        let expiry = self.config.balancing.ownership_expiry.as_secs_f64();
        let mut blockers = Vec::new();
        for o in &ownership {
            if let (Some(owner), true, Some(age)) = owner_state(Some(o), now, expiry) {
                blockers.push(format!(
                    "owner {owner} holds partition {} (renewed {:.0} s ago, expires in {:.0} s)",
                    o.partition_id,
                    age,
                    (expiry - age).max(0.0)
                ));
            }
        }
        let mut moves = Vec::with_capacity(ranges.len());
        for r in ranges {
            let next_read = self.next_read(target, r).await?;
            moves.push(Move {
                partition: r.partition_id.clone(),
                old: checkpoints
                    .iter()
                    .find(|c| c.partition_id == r.partition_id)
                    .and_then(|c| c.sequence_number),
                new: next_read - 1,
                next_read,
            });
        }
        moves.sort_by_key(|m| {
            (
                m.partition.parse::<i64>().unwrap_or(i64::MAX),
                m.partition.clone(),
            )
        });
        Ok(Plan {
            source: "amqp",
            topic: self.key.event_hub.clone(),
            group: self.key.consumer_group.clone(),
            target: target.describe(),
            moves,
            blockers,
        })
    }

    /// The sequence number of the first event read after the move.
    async fn next_read(&self, target: Target, r: &PartitionRange) -> Result<i64, ToolError> {
        let after_last = r.last_enqueued_sequence_number + 1;
        let first_retained = if r.is_empty {
            after_last
        } else {
            r.beginning_sequence_number
        };
        Ok(match target {
            Target::Earliest => first_retained,
            Target::Latest => after_last,
            Target::Time(t) => {
                let hub = self.hub.as_ref().map_err(|e| ToolError::Hub(e.clone()))?;
                match hub
                    .first_event(&r.partition_id, PeekFrom::EnqueuedTime(t))
                    .await
                    .map_err(|e| ToolError::Hub(e.to_string()))?
                {
                    Some(e) => e.sequence_number,
                    // Nothing at or after the time yet: the next event enqueued is the first.
                    None if r.last_enqueued_time.is_none_or(|last| last < t) => after_last,
                    None => {
                        return Err(ToolError::Hub(format!(
                            "partition {}: the hub holds events up to {} but returned none at or after {}; run the command again (the receiver may have been refused while a replica reads the partition)",
                            r.partition_id,
                            r.last_enqueued_time.map(rfc3339).unwrap_or_default(),
                            rfc3339(t)
                        )));
                    }
                }
            }
            Target::Sequence(n) if (first_retained..=after_last).contains(&n) => n,
            Target::Sequence(n) => {
                return Err(ToolError::Unresolvable(format!(
                    "partition {} retains sequence numbers {first_retained}..{after_last} (the next event gets {after_last}); {n} is outside it: pick one in that range",
                    r.partition_id
                )));
            }
            Target::Offset(_) => {
                return Err(ToolError::Unresolvable(
                    "--to-offset is for the Kafka source; the AMQP source takes --to-sequence (its offsets are opaque service strings)".into(),
                ));
            }
        })
    }

    /// Writes the plan's checkpoints (sequence number and offset, see the module docs) and
    /// reads them back.
    pub async fn apply(&self, plan: &Plan) -> Result<(), ToolError> {
        let mut checkpoints = Vec::with_capacity(plan.moves.len());
        for m in &plan.moves {
            checkpoints.push(StoredCheckpoint {
                partition_id: m.partition.clone(),
                offset: Some(self.offset_of(&m.partition, m.new).await?),
                sequence_number: Some(m.new),
            });
        }
        for c in &checkpoints {
            self.store.update_checkpoint(&self.key, c).await?;
        }
        let stored = self.store.list_checkpoints(&self.key).await?;
        for m in &plan.moves {
            let found = stored
                .iter()
                .find(|c| c.partition_id == m.partition)
                .and_then(|c| c.sequence_number);
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

impl AmqpTool {
    /// The offset to store beside sequence number `last_processed` of `partition`: that
    /// event's own offset, or `-1` (the start of the partition) when it is not retained, the
    /// first retained event being the next one to read either way.
    async fn offset_of(&self, partition: &str, last_processed: i64) -> Result<String, ToolError> {
        const START_OF_PARTITION: &str = "-1";
        if last_processed < 0 {
            return Ok(START_OF_PARTITION.into());
        }
        let hub = self.hub.as_ref().map_err(|e| ToolError::Hub(e.clone()))?;
        let found = hub
            .first_event(partition, PeekFrom::SequenceNumber(last_processed))
            .await
            .map_err(|e| ToolError::Hub(e.to_string()))?;
        match found {
            Some(e) if e.sequence_number == last_processed => e.offset.ok_or_else(|| {
                ToolError::Hub(format!(
                    "partition {partition}: the hub gave event {last_processed} without an offset; nothing was written, run the command again"
                ))
            }),
            Some(e) if e.sequence_number > last_processed => Ok(START_OF_PARTITION.into()),
            _ => Err(ToolError::Hub(format!(
                "partition {partition}: could not read event {last_processed} to take its offset (no answer, or a replica reading the partition refused the tool's receiver); nothing was written: stop the replicas and run the command again"
            ))),
        }
    }
}

/// (owner, live, seconds since renewal) of a stored ownership.
fn owner_state(
    o: Option<&Ownership>,
    now: SystemTime,
    expiry: f64,
) -> (Option<String>, bool, Option<f64>) {
    let Some(o) = o.filter(|o| !o.owner_id.is_empty()) else {
        return (None, false, None);
    };
    let age = o.last_modified.map(|t| seconds_between(t, now));
    let live = age.is_some_and(|a| a < expiry);
    (Some(o.owner_id.clone()), live, age)
}

/// The hub's partitions when known, else every partition the store mentions.
fn partition_ids(
    ranges: Option<&BTreeMap<String, PartitionRange>>,
    checkpoints: &[StoredCheckpoint],
    ownership: &[Ownership],
) -> Vec<String> {
    let set: BTreeSet<String> = match ranges {
        Some(r) => r.keys().cloned().collect(),
        None => checkpoints
            .iter()
            .map(|c| c.partition_id.clone())
            .chain(ownership.iter().map(|o| o.partition_id.clone()))
            .collect(),
    };
    let mut ids: Vec<String> = set.into_iter().collect();
    ids.sort_by_key(|p| (p.parse::<i64>().unwrap_or(i64::MAX), p.clone()));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_owner_is_live_until_its_ownership_expires() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let mut o = Ownership::new("0", "pod-a");
        o.last_modified = Some(now - Duration::from_secs(20));
        assert_eq!(
            owner_state(Some(&o), now, 60.0),
            (Some("pod-a".into()), true, Some(20.0))
        );
        assert!(!owner_state(Some(&o), now, 10.0).1, "expired");
        o.owner_id.clear();
        assert_eq!(owner_state(Some(&o), now, 60.0), (None, false, None));
        assert_eq!(owner_state(None, now, 60.0), (None, false, None));
    }

    #[test]
    fn without_the_hub_the_partitions_are_those_the_store_knows() {
        let cps = vec![StoredCheckpoint {
            partition_id: "10".into(),
            offset: None,
            sequence_number: Some(1),
        }];
        let own = vec![Ownership::new("2", "x"), Ownership::new("10", "x")];
        assert_eq!(partition_ids(None, &cps, &own), vec!["2", "10"]);
    }
}
