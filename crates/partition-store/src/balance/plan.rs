//! The balancing decision, as a pure function of what the store lists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::Ownership;

/// How many partitions to claim per cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strategy {
    /// At most one new partition per cycle (Go, JS and C++ SDK default): replicas starting
    /// together spread out instead of racing for everything; fewer duplicate reads.
    #[default]
    Balanced,
    /// Claim up to the fair share at once (Rust SDK default): faster start, more contention.
    Greedy,
}

/// A replica's fair share given the active owners (those holding an unexpired partition,
/// plus us).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FairShare {
    /// Active owners including us.
    pub owners: usize,
    /// `partitions / owners`
    pub min: usize,
    /// `min` or `min + 1` when the division has a remainder.
    pub max: usize,
}

/// What one cycle should write. Everything in `renew` and `claim` is written with our owner
/// id, `release` with an empty one; each entry carries the version it is conditional on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partitions the store says we own, to heartbeat (including ones we let expire, as
    /// long as nobody else changed them).
    pub renew: Vec<Ownership>,
    /// New claims: unowned, expired or stolen. Balanced: at most one.
    pub claim: Vec<Ownership>,
    /// Ours to give up (at most one per cycle), because we hold more than our share while
    /// another owner holds less.
    pub release: Vec<Ownership>,
    /// Our fair share.
    pub share: FairShare,
}

/// Decides one balancing cycle for `owner_id`. No I/O: `ownerships` is what the store listed,
/// `now` is compared with each heartbeat (`last_modified + expiry < now` = expired = unowned),
/// and `seed` picks among equal choices, so replicas that start together do not all go for
/// the same partition (tests pass fixed seeds).
///
/// The rule, following the SDKs' Balanced load balancer plus one addition:
/// 1. active owners = distinct non-empty owner ids of unexpired ownerships, plus us;
///    fair share = `P / owners`, with `+1` allowed when the division has a remainder and
///    we already hold the minimum;
/// 2. below the share: claim an unowned or expired partition; if there is none, steal from
///    the owner holding the most partitions above the share (Balanced: one per cycle;
///    Greedy: up to the share);
/// 3. renew everything we hold;
/// 4. addition: above `ceil(P / owners)` while another owner is below it, relinquish one
///    partition, so a newcomer can take it without stealing.
///
/// Ownerships of partitions not in `all_partitions` are ignored (and, if ours, not renewed).
pub fn plan(
    owner_id: &str,
    all_partitions: &[String],
    ownerships: &[Ownership],
    now: SystemTime,
    expiry: Duration,
    strategy: Strategy,
    seed: u64,
) -> Plan {
    let partitions: BTreeSet<&str> = all_partitions.iter().map(String::as_str).collect();
    let listed: BTreeMap<&str, &Ownership> = ownerships
        .iter()
        .filter(|o| partitions.contains(o.partition_id.as_str()))
        .map(|o| (o.partition_id.as_str(), o))
        .collect();
    let expired = |o: &Ownership| {
        o.last_modified
            .is_some_and(|t| t.checked_add(expiry).is_some_and(|end| end < now))
    };

    let mut mine: Vec<Ownership> = Vec::new();
    let mut others: BTreeMap<&str, Vec<&Ownership>> = BTreeMap::new();
    let mut unowned: Vec<Ownership> = Vec::new();
    for p in &partitions {
        match listed.get(p) {
            None => unowned.push(Ownership::new(*p, owner_id)),
            Some(o) if o.owner_id == owner_id => mine.push(Ownership {
                owner_id: owner_id.to_string(),
                ..(*o).clone()
            }),
            Some(o) if o.owner_id.is_empty() || expired(o) => unowned.push(Ownership {
                owner_id: owner_id.to_string(),
                ..(*o).clone()
            }),
            Some(o) => others.entry(o.owner_id.as_str()).or_default().push(o),
        }
    }

    let p = partitions.len();
    let owners = others.len() + 1;
    let min = p / owners;
    let remainder = !p.is_multiple_of(owners);
    let ceil = min + usize::from(remainder);
    // Like the SDKs: the extra partition of a remainder is ours to want only once we hold
    // the minimum, and then only if one is free or someone holds more than min + 1.
    let max_allowed = if remainder && mine.len() >= min {
        min + 1
    } else {
        min
    };
    let share = FairShare {
        owners,
        min,
        max: max_allowed,
    };

    let mut rng = SplitMix(seed);
    let mut claim = Vec::new();
    let mut release = Vec::new();
    let wanted = max_allowed.saturating_sub(mine.len());
    if wanted > 0 {
        let limit = match strategy {
            Strategy::Balanced => 1,
            Strategy::Greedy => wanted,
        };
        // Unowned and expired first, in seeded random order.
        while claim.len() < limit && !unowned.is_empty() {
            let i = rng.below(unowned.len());
            claim.push(unowned.swap_remove(i));
        }
        // Then steal, each time from the owner currently holding the most above the share.
        let mut counts: Vec<(&str, Vec<&Ownership>)> =
            others.iter().map(|(k, v)| (*k, v.clone())).collect();
        while claim.len() < limit {
            let Some(top) = counts.iter().map(|(_, v)| v.len()).max() else {
                break;
            };
            if top <= max_allowed {
                break;
            }
            let tied: Vec<usize> = (0..counts.len())
                .filter(|i| counts[*i].1.len() == top)
                .collect();
            let victim = tied[rng.below(tied.len())];
            let parts = &mut counts[victim].1;
            let taken = parts.swap_remove(rng.below(parts.len()));
            claim.push(Ownership {
                owner_id: owner_id.to_string(),
                ..taken.clone()
            });
        }
    } else if mine.len() > ceil && others.values().any(|v| v.len() < ceil) {
        let i = rng.below(mine.len());
        let mut o = mine.swap_remove(i);
        o.owner_id = String::new();
        release.push(o);
    }

    Plan {
        renew: mine,
        claim,
        release,
        share,
    }
}

/// A tiny seeded generator (splitmix64): choices only need to differ between replicas.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The same generator for tests that need random inputs.
#[cfg(test)]
pub(super) struct SplitMixForTests(pub u64);

#[cfg(test)]
impl SplitMixForTests {
    pub(super) fn next(&mut self) -> u64 {
        let mut s = SplitMix(self.0);
        let v = s.next();
        self.0 = s.0;
        v
    }
}
