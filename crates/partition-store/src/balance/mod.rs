//! The load balancer: one cycle = list, [`plan`], one conditional write per renewal, claim
//! and release.

mod plan;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use self::plan::{FairShare, Plan, Strategy, plan};
use crate::{HubKey, Ownership, PartitionStore, StoreError};

/// Go/JS/C++ SDK default: a heartbeat every 10 s.
const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(10);
/// Go/JS/C++ SDK default: 6 missed heartbeats before others take over.
const DEFAULT_OWNERSHIP_EXPIRY: Duration = Duration::from_secs(60);

/// Balancing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancerConfig {
    /// This replica's id in `ownerid` metadata: unique per running process (a restart with
    /// the same id inherits the old claims, which is fine).
    pub owner_id: String,
    /// Time between cycles; each cycle renews our claims (default 10 s).
    pub update_interval: Duration,
    /// A claim not renewed for this long is free to take (default 60 s). Must exceed
    /// `update_interval`.
    pub ownership_expiry: Duration,
    /// Default [`Strategy::Balanced`].
    pub strategy: Strategy,
}

impl BalancerConfig {
    /// Defaults with the given owner id.
    pub fn new(owner_id: impl Into<String>) -> Self {
        BalancerConfig {
            owner_id: owner_id.into(),
            ..Self::default()
        }
    }

    /// Checks the settings (no I/O).
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.ownership_expiry <= self.update_interval {
            return Err(StoreError::ExpiryNotAboveInterval {
                expiry: self.ownership_expiry,
                interval: self.update_interval,
            });
        }
        if self.update_interval.is_zero() {
            return Err(StoreError::Config {
                key: "update_interval",
                reason: "must be more than zero (default 10s)".into(),
            });
        }
        let id = &self.owner_id;
        if id.is_empty() || id.len() > 256 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::Config {
                key: "owner_id",
                reason: format!(
                    "{id:?} must be 1-256 printable ASCII characters without spaces (it is \
                     stored in blob metadata)"
                ),
            });
        }
        Ok(())
    }
}

impl Default for BalancerConfig {
    /// A fresh random owner id and the SDK defaults (10 s, 60 s, Balanced).
    fn default() -> Self {
        BalancerConfig {
            owner_id: random_owner_id(),
            update_interval: DEFAULT_UPDATE_INTERVAL,
            ownership_expiry: DEFAULT_OWNERSHIP_EXPIRY,
            strategy: Strategy::Balanced,
        }
    }
}

/// 128 random bits as hex, from the OS-seeded std hasher keys (no extra dependency).
fn random_owner_id() -> String {
    let word = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        h.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

/// What the last cycle changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleReport {
    /// Partitions owned after the cycle.
    pub owned: Vec<String>,
    /// Newly won this cycle (start reading these from the stored checkpoint).
    pub gained: Vec<String>,
    /// Held before and not held continuously since: someone else took them, even if we
    /// took them back this cycle (stop reading, do not commit; a partition in both `lost`
    /// and `gained` restarts from the stored checkpoint).
    pub lost: Vec<String>,
    /// Given up on purpose this cycle (stop reading).
    pub released: Vec<String>,
    /// Our fair share as computed this cycle.
    pub share: FairShare,
}

/// Balances partitions between replicas through a [`PartitionStore`]. Call
/// [`LoadBalancer::cycle`] every `update_interval`; if cycles fail for longer than
/// `ownership_expiry`, consider every partition lost.
#[derive(Debug)]
pub struct LoadBalancer {
    store: Arc<dyn PartitionStore>,
    hub: HubKey,
    config: BalancerConfig,
    /// What we own, with the versions our last writes produced.
    owned: BTreeMap<String, Ownership>,
    seed: u64,
    last: CycleReport,
}

impl LoadBalancer {
    /// Validates `config` (expiry must exceed the update interval, owner id usable).
    pub fn new(
        store: Arc<dyn PartitionStore>,
        hub: HubKey,
        config: BalancerConfig,
    ) -> Result<Self, StoreError> {
        config.validate()?;
        hub.prefix(false)?;
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(config.owner_id.as_bytes());
        Ok(LoadBalancer {
            store,
            hub,
            config,
            owned: BTreeMap::new(),
            seed: h.finish(),
            last: CycleReport::default(),
        })
    }

    /// One cycle: list ownership, treat expired as unowned, compute fair share, claim
    /// (Balanced: at most one new partition per cycle, unowned first, else steal from the
    /// most-loaded over-owner; Greedy: up to fair share), renew what we own, give up one
    /// partition per cycle when we own more than our share. Returns the partitions we own
    /// after the cycle (with etags).
    ///
    /// Storage requests: one List Blobs page per 5,000 ownership blobs, plus one write per
    /// partition we own or claim or release. On error nothing local changes.
    pub async fn cycle(&mut self, all_partitions: &[String]) -> Result<Vec<Ownership>, StoreError> {
        let listed = self.store.list_ownership(&self.hub).await?;
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let p = plan(
            &self.config.owner_id,
            all_partitions,
            &listed,
            SystemTime::now(),
            self.config.ownership_expiry,
            self.config.strategy,
            self.seed,
        );
        let claiming: Vec<String> = p.claim.iter().map(|o| o.partition_id.clone()).collect();
        // Ours without interruption only if nobody wrote the blob since our last write; a
        // partition taken and taken back in between is reported lost *and* gained, so the
        // reader restarts from the stored checkpoint.
        let continuing: Vec<String> = p
            .renew
            .iter()
            .filter(|o| {
                self.owned
                    .get(&o.partition_id)
                    .is_some_and(|held| held.etag.is_some() && held.etag == o.etag)
            })
            .map(|o| o.partition_id.clone())
            .collect();
        let mut writes = p.renew;
        writes.extend(p.claim);
        writes.extend(p.release);
        let won = self.store.claim_ownership(&self.hub, writes).await?;

        let mut owned = BTreeMap::new();
        let mut released = Vec::new();
        for o in won {
            if o.owner_id == self.config.owner_id {
                owned.insert(o.partition_id.clone(), o);
            } else if o.owner_id.is_empty() {
                released.push(o.partition_id);
            }
        }
        let gained: Vec<String> = owned
            .keys()
            .filter(|k| !continuing.contains(*k))
            .cloned()
            .collect();
        let lost: Vec<String> = self
            .owned
            .keys()
            .filter(|k| !continuing.contains(*k) && !released.contains(*k))
            .cloned()
            .collect();
        if !gained.is_empty() || !lost.is_empty() || !released.is_empty() {
            tracing::info!(
                owner_id = %self.config.owner_id,
                owned = owned.len(),
                fair_share = p.share.max,
                active_owners = p.share.owners,
                ?gained,
                ?lost,
                ?released,
                "partition ownership changed"
            );
        }
        let lost_claims = claiming.iter().filter(|c| !owned.contains_key(*c)).count();
        if lost_claims > 0 {
            tracing::debug!(lost_claims, "another replica won a claim race");
        }
        self.owned = owned;
        self.last = CycleReport {
            owned: self.owned.keys().cloned().collect(),
            gained,
            lost,
            released,
            share: p.share,
        };
        Ok(self.owned.values().cloned().collect())
    }

    /// Relinquish (owner_id = "") the given partitions, e.g. on shutdown, so others take over
    /// without waiting for expiry. Partitions we do not hold are ignored; a partition whose
    /// relinquish loses a race was already someone else's. Either way it is no longer ours.
    pub async fn relinquish(&mut self, partitions: &[String]) -> Result<(), StoreError> {
        let writes: Vec<Ownership> = partitions
            .iter()
            .filter_map(|p| self.owned.get(p))
            .map(|o| Ownership {
                owner_id: String::new(),
                ..o.clone()
            })
            .collect();
        if writes.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = writes.iter().map(|o| o.partition_id.clone()).collect();
        self.store.claim_ownership(&self.hub, writes).await?;
        for id in &ids {
            self.owned.remove(id);
        }
        tracing::info!(owner_id = %self.config.owner_id, relinquished = ?ids, "partitions relinquished");
        Ok(())
    }

    /// Whether the store still says we own this partition with the etag we hold (checked
    /// before committing a checkpoint, so a replica never commits after losing ownership).
    /// Returns the subset of `partition_ids` still ours. One listing, whatever the count.
    /// A takeover between this check and the commit remains possible (the window is one
    /// storage round trip); the new owner then re-reads at most that commit's batch.
    pub async fn still_owns(&self, partition_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let wanted: Vec<&String> = partition_ids
            .iter()
            .filter(|p| self.owned.contains_key(*p))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let listed = self.store.list_ownership(&self.hub).await?;
        let current: BTreeMap<&str, &Ownership> = listed
            .iter()
            .map(|o| (o.partition_id.as_str(), o))
            .collect();
        Ok(wanted
            .into_iter()
            .filter(|p| {
                let held = &self.owned[*p];
                current.get(p.as_str()).is_some_and(|o| {
                    o.owner_id == self.config.owner_id && o.etag.is_some() && o.etag == held.etag
                })
            })
            .cloned()
            .collect())
    }

    /// Partitions we hold now (as of the last cycle), with their versions.
    pub fn owned(&self) -> Vec<Ownership> {
        self.owned.values().cloned().collect()
    }

    /// What the last cycle changed.
    pub fn last_cycle(&self) -> &CycleReport {
        &self.last
    }

    /// The settings.
    pub fn config(&self) -> &BalancerConfig {
        &self.config
    }

    /// The hub balanced.
    pub fn hub(&self) -> &HubKey {
        &self.hub
    }
}
