//! `plan` exhaustively, through a simulated store with versions and concurrent replicas, and
//! the `LoadBalancer` on a `MemoryStore` (including how many requests it costs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::{MemoryStore, StoredCheckpoint};

const INTERVAL: Duration = Duration::from_secs(10);
const EXPIRY: Duration = Duration::from_secs(60);

fn parts(n: usize) -> Vec<String> {
    (0..n).map(|p| p.to_string()).collect()
}

/// A store in the model: partition -> (owner, version, heartbeat).
#[derive(Default, Clone)]
struct World {
    blobs: BTreeMap<String, (String, u64, SystemTime)>,
    version: u64,
    now: Option<SystemTime>,
}

impl World {
    fn now(&self) -> SystemTime {
        self.now
            .unwrap_or(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
    }

    fn listing(&self) -> Vec<Ownership> {
        self.blobs
            .iter()
            .map(|(p, (o, v, t))| Ownership {
                partition_id: p.clone(),
                owner_id: o.clone(),
                etag: Some(v.to_string()),
                last_modified: Some(*t),
            })
            .collect()
    }

    /// Applies one conditional write; true when it won.
    fn write(&mut self, o: &Ownership) -> bool {
        let current = self.blobs.get(&o.partition_id).map(|b| b.1.to_string());
        if !crate::claim_wins(current.as_deref(), o.etag.as_deref()) {
            return false;
        }
        self.version += 1;
        let now = self.now();
        self.blobs.insert(
            o.partition_id.clone(),
            (o.owner_id.clone(), self.version, now),
        );
        true
    }

    /// Partitions per live owner, counting only unexpired claims.
    fn counts(&self, owners: &[String]) -> Vec<usize> {
        owners
            .iter()
            .map(|id| {
                self.blobs
                    .values()
                    .filter(|(o, _, t)| o == id && *t + EXPIRY >= self.now())
                    .count()
            })
            .collect()
    }

    fn balanced(&self, owners: &[String], p: usize) -> bool {
        let counts = self.counts(owners);
        let n = owners.len();
        counts.iter().sum::<usize>() == p
            && counts.iter().all(|c| *c == p / n || *c == p.div_ceil(n))
    }

    /// One round: every owner plans from the same listing (concurrent replicas), then the
    /// writes land in a seed-dependent order. Returns (claims, releases) per owner.
    fn round(
        &mut self,
        owners: &[String],
        p: usize,
        strategy: Strategy,
        seed: u64,
    ) -> Vec<(usize, usize)> {
        let listing = self.listing();
        let all = parts(p);
        let plans: Vec<Plan> = owners
            .iter()
            .enumerate()
            .map(|(i, id)| {
                plan(
                    id,
                    &all,
                    &listing,
                    self.now(),
                    EXPIRY,
                    strategy,
                    seed ^ ((i as u64 + 1) << 32),
                )
            })
            .collect();
        let mut order: Vec<usize> = (0..owners.len()).collect();
        order.rotate_left((seed as usize) % owners.len().max(1));
        for i in order {
            let pl = &plans[i];
            for o in pl.renew.iter().chain(&pl.claim).chain(&pl.release) {
                self.write(o);
            }
        }
        self.now = Some(self.now() + INTERVAL);
        plans
            .iter()
            .map(|p| (p.claim.len(), p.release.len()))
            .collect()
    }

    /// Rounds until balanced (and then checks it stays so without moves), or panics.
    fn converge(
        &mut self,
        owners: &[String],
        p: usize,
        strategy: Strategy,
        seed: u64,
        bound: usize,
    ) -> usize {
        for r in 1..=bound {
            let moves = self.round(owners, p, strategy, seed.wrapping_add(r as u64));
            for (claims, releases) in &moves {
                if strategy == Strategy::Balanced {
                    assert!(*claims <= 1, "more than one claim in a Balanced cycle");
                }
                assert!(*releases <= 1, "more than one release in a cycle");
            }
            if self.balanced(owners, p) {
                for s in 0..3 {
                    let moves = self.round(owners, p, strategy, seed ^ (s + 99));
                    assert!(
                        moves.iter().all(|m| *m == (0, 0)),
                        "balanced state not stable: {moves:?} counts {:?}",
                        self.counts(owners)
                    );
                    assert!(self.balanced(owners, p));
                }
                return r;
            }
        }
        panic!(
            "{} owners, {p} partitions, {strategy:?}, seed {seed}: not balanced after {bound} rounds: {:?}",
            owners.len(),
            self.counts(owners)
        );
    }
}

fn owners(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("owner-{i}")).collect()
}

/// Bound for Balanced from scratch: one claim per owner per round, plus rounds lost to claim
/// collisions and to the remainder partitions moving.
fn bound(p: usize, n: usize) -> usize {
    p.div_ceil(n) + p + 4
}

#[test]
fn fair_share_converges_for_1_to_5_owners_over_1_to_32_partitions() {
    let mut worst = 0;
    for n in 1..=5 {
        for p in 1..=32 {
            for strategy in [Strategy::Balanced, Strategy::Greedy] {
                for seed in 0..3u64 {
                    let mut w = World::default();
                    let rounds = w.converge(&owners(n), p, strategy, seed * 7919, bound(p, n));
                    if strategy == Strategy::Balanced {
                        worst = worst.max(rounds.saturating_sub(p.div_ceil(n)));
                    }
                }
            }
        }
    }
    eprintln!("worst Balanced rounds beyond ceil(P/n): {worst}");
}

#[test]
fn a_joining_owner_gets_its_share_and_nobody_churns() {
    for n in 2..=5 {
        for p in [1, 2, 7, 16, 32] {
            let mut w = World::default();
            let all = owners(n);
            w.converge(&all[..n - 1], p, Strategy::Balanced, 1, bound(p, n));
            w.converge(&all, p, Strategy::Balanced, 2, bound(p, n));
        }
    }
}

#[test]
fn a_dead_owners_partitions_are_taken_after_expiry() {
    for n in 2..=5 {
        for p in [n, 8, 32] {
            let mut w = World::default();
            let all = owners(n);
            w.converge(&all, p, Strategy::Balanced, 3, bound(p, n));
            // owner-0 stops renewing; until expiry, nobody touches its partitions.
            let survivors = &all[1..];
            let dead: Vec<String> = w
                .blobs
                .iter()
                .filter(|(_, b)| b.0 == all[0])
                .map(|(k, _)| k.clone())
                .collect();
            for _ in 0..5 {
                w.round(survivors, p, Strategy::Balanced, 4);
                for d in &dead {
                    assert_eq!(w.blobs[d].0, all[0], "taken before expiry");
                }
            }
            w.converge(survivors, p, Strategy::Balanced, 5, bound(p, n));
        }
    }
}

#[test]
fn expired_and_relinquished_ownership_is_claimed_with_its_version() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
    let listing = vec![
        Ownership {
            partition_id: "0".into(),
            owner_id: "dead".into(),
            etag: Some("\"e0\"".into()),
            last_modified: Some(now - EXPIRY - Duration::from_secs(1)),
        },
        Ownership {
            partition_id: "1".into(),
            owner_id: String::new(),
            etag: Some("\"e1\"".into()),
            last_modified: Some(now),
        },
    ];
    let all = parts(2);
    let p = plan("me", &all, &listing, now, EXPIRY, Strategy::Greedy, 0);
    let mut claims = p.claim.clone();
    claims.sort_by(|a, b| a.partition_id.cmp(&b.partition_id));
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[0].etag.as_deref(), Some("\"e0\""));
    assert_eq!(claims[1].etag.as_deref(), Some("\"e1\""));
    assert!(claims.iter().all(|c| c.owner_id == "me"));
    // The dead owner is not counted: our share is everything.
    assert_eq!(
        p.share,
        FairShare {
            owners: 1,
            min: 2,
            max: 2
        }
    );
    // Not yet expired: it is an owner, and we may not steal from one at its share.
    let fresh = vec![Ownership {
        last_modified: Some(now),
        ..listing[0].clone()
    }];
    let p = plan("me", &all, &fresh, now, EXPIRY, Strategy::Balanced, 0);
    assert_eq!(p.claim.len(), 1);
    assert_eq!(p.claim[0].partition_id, "1");
    assert_eq!(p.claim[0].etag, None, "absent blob: create-if-absent");
}

#[test]
fn over_owner_gives_up_one_per_cycle_only_when_someone_is_below() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
    let own = |p: usize, o: &str| Ownership {
        partition_id: p.to_string(),
        owner_id: o.into(),
        etag: Some(format!("v{p}")),
        last_modified: Some(now),
    };
    let all = parts(8);
    // a: 6, b: 2 of 8 -> a is above ceil(8/2)=4 and b below: release exactly one.
    let listing: Vec<Ownership> = (0..8)
        .map(|p| own(p, if p < 6 { "a" } else { "b" }))
        .collect();
    let pl = plan("a", &all, &listing, now, EXPIRY, Strategy::Balanced, 1);
    assert_eq!(pl.release.len(), 1);
    assert_eq!(pl.release[0].owner_id, "");
    assert_eq!(pl.renew.len(), 5);
    assert!(pl.claim.is_empty());
    // a: 5, b: 3 of 8 with three owners (c holds nothing yet: invisible): no release below ceil.
    let listing: Vec<Ownership> = (0..8)
        .map(|p| own(p, if p < 4 { "a" } else { "b" }))
        .collect();
    let pl = plan("a", &all, &listing, now, EXPIRY, Strategy::Balanced, 1);
    assert!(pl.release.is_empty() && pl.claim.is_empty());
    // Only owner with everything: nobody below, nothing released (it would be orphaned).
    let listing: Vec<Ownership> = (0..8).map(|p| own(p, "a")).collect();
    let pl = plan("a", &all, &listing, now, EXPIRY, Strategy::Balanced, 1);
    assert!(pl.release.is_empty());
    // A newcomer steals from the most loaded: a(5) over b(3), P=8 over 3 owners.
    let listing: Vec<Ownership> = (0..8)
        .map(|p| own(p, if p < 5 { "a" } else { "b" }))
        .collect();
    for seed in 0..20 {
        let pl = plan("c", &all, &listing, now, EXPIRY, Strategy::Balanced, seed);
        assert_eq!(pl.claim.len(), 1);
        assert!(
            pl.claim[0].partition_id.parse::<usize>().unwrap() < 5,
            "stole from b"
        );
        assert_eq!(
            pl.claim[0].etag,
            Some(format!("v{}", pl.claim[0].partition_id))
        );
    }
}

#[test]
fn random_states_never_yield_more_than_one_balanced_claim() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
    let mut rng = plan_rng(42);
    for _ in 0..20_000 {
        let p = 1 + (rng() % 32) as usize;
        let n = 1 + (rng() % 6) as usize;
        let mut listing = Vec::new();
        for i in 0..p {
            if rng().is_multiple_of(5) {
                continue;
            }
            let owner_id = match rng() % (n as u64 + 1) {
                0 => String::new(),
                k => format!("o{k}"),
            };
            listing.push(Ownership {
                partition_id: i.to_string(),
                owner_id,
                etag: Some(format!("v{i}")),
                last_modified: Some(now - Duration::from_secs(rng() % 90)),
            });
        }
        let me = format!("o{}", 1 + rng() % n as u64);
        let pl = plan(
            &me,
            &parts(p),
            &listing,
            now,
            EXPIRY,
            Strategy::Balanced,
            rng(),
        );
        assert!(pl.claim.len() <= 1);
        assert!(pl.release.len() <= 1);
        assert!(pl.claim.is_empty() || pl.release.is_empty());
        let renewed: Vec<&str> = pl.renew.iter().map(|o| o.partition_id.as_str()).collect();
        for c in &pl.claim {
            assert!(!renewed.contains(&c.partition_id.as_str()));
            assert_eq!(c.owner_id, me);
        }
        let greedy = plan(
            &me,
            &parts(p),
            &listing,
            now,
            EXPIRY,
            Strategy::Greedy,
            rng(),
        );
        assert!(
            greedy.renew.len() + greedy.claim.len() <= greedy.share.max.max(greedy.renew.len())
        );
    }
}

fn plan_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = plan::SplitMixForTests(seed);
    move || s.next()
}

#[test]
fn unknown_partitions_are_ignored() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
    let listing = vec![Ownership {
        partition_id: "99".into(),
        owner_id: "me".into(),
        etag: Some("x".into()),
        last_modified: Some(now),
    }];
    let pl = plan("me", &parts(2), &listing, now, EXPIRY, Strategy::Greedy, 0);
    assert!(pl.renew.is_empty());
    assert_eq!(pl.claim.len(), 2);
}

#[test]
fn config_rejects_expiry_not_above_interval() {
    let mut c = BalancerConfig::new("me");
    assert_eq!(c.update_interval, Duration::from_secs(10));
    assert_eq!(c.ownership_expiry, Duration::from_secs(60));
    assert_eq!(c.strategy, Strategy::Balanced);
    c.ownership_expiry = Duration::from_secs(10);
    let e = LoadBalancer::new(Arc::new(MemoryStore::new()), hub(), c.clone())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ownership_expiry") && e.contains("update_interval"),
        "{e}"
    );
    c.ownership_expiry = Duration::from_secs(30);
    c.owner_id = "has space".into();
    assert!(c.validate().is_err());
    assert_ne!(
        BalancerConfig::default().owner_id,
        BalancerConfig::default().owner_id
    );
}

fn hub() -> HubKey {
    HubKey::new("ns.servicebus.windows.net", "hub", "$Default")
}

fn balancer(store: &Arc<MemoryStore>, id: &str, strategy: Strategy) -> LoadBalancer {
    let config = BalancerConfig {
        strategy,
        ..BalancerConfig::new(id)
    };
    LoadBalancer::new(store.clone(), hub(), config).unwrap()
}

/// The numbers the team reports: storage requests per cycle and per checkpoint at 32
/// partitions (MemoryStore counts what BlobStore would send; the Azurite test checks the
/// BlobStore's own counters agree).
#[tokio::test]
async fn requests_per_cycle_and_per_checkpoint_at_32_partitions() {
    let store = Arc::new(MemoryStore::new());
    let all = parts(32);
    let mut a = balancer(&store, "a", Strategy::Greedy);
    let before = store.requests();
    assert_eq!(a.cycle(&all).await.unwrap().len(), 32);
    let first = store.requests().since(before);
    assert_eq!((first.list, first.put, first.set_metadata), (1, 32, 0));
    let before = store.requests();
    a.cycle(&all).await.unwrap();
    let steady_one = store.requests().since(before);
    assert_eq!(
        (steady_one.list, steady_one.put, steady_one.set_metadata),
        (1, 0, 32)
    );

    // Two Balanced owners at steady state: each cycle lists once and renews its 16.
    let store = Arc::new(MemoryStore::new());
    let mut a = balancer(&store, "a", Strategy::Balanced);
    let mut b = balancer(&store, "b", Strategy::Balanced);
    for _ in 0..40 {
        a.cycle(&all).await.unwrap();
        b.cycle(&all).await.unwrap();
    }
    assert_eq!((a.owned().len(), b.owned().len()), (16, 16));
    let before = store.requests();
    a.cycle(&all).await.unwrap();
    let steady_two = store.requests().since(before);
    assert_eq!(
        (steady_two.list, steady_two.put, steady_two.set_metadata),
        (1, 0, 16)
    );

    // A checkpoint: still_owns (one listing for any number of partitions) + one SetMetadata
    // per partition; the first checkpoint of a partition adds a Put Blob.
    let mine: Vec<String> = a.owned().iter().map(|o| o.partition_id.clone()).collect();
    let before = store.requests();
    assert_eq!(a.still_owns(&mine).await.unwrap(), mine);
    let check = store.requests().since(before);
    let cp = StoredCheckpoint {
        partition_id: mine[0].clone(),
        offset: Some("10".into()),
        sequence_number: Some(3),
    };
    let before = store.requests();
    store.update_checkpoint(&hub(), &cp).await.unwrap();
    let first_cp = store.requests().since(before);
    let before = store.requests();
    store.update_checkpoint(&hub(), &cp).await.unwrap();
    let next_cp = store.requests().since(before);
    assert_eq!(
        (check.total(), first_cp.total(), next_cp.total()),
        (1, 2, 1)
    );
    eprintln!(
        "REQUESTS at 32 partitions: one owner first cycle {}, steady cycle {}; two owners steady \
         cycle {} each; still_owns {}; checkpoint {} (first {})",
        first.total(),
        steady_one.total(),
        steady_two.total(),
        check.total(),
        next_cp.total(),
        first_cp.total()
    );
}

#[tokio::test]
async fn still_owns_relinquish_and_takeover() {
    let store = Arc::new(MemoryStore::new());
    let all = parts(4);
    let mut a = balancer(&store, "a", Strategy::Greedy);
    let mut b = balancer(&store, "b", Strategy::Greedy);
    a.cycle(&all).await.unwrap();
    assert_eq!(a.last_cycle().gained.len(), 4);
    // b steals two (Greedy, share 2) -> a no longer owns them.
    b.cycle(&all).await.unwrap();
    let b_parts: Vec<String> = b.owned().iter().map(|o| o.partition_id.clone()).collect();
    assert_eq!(b_parts.len(), 2);
    let a_view = a.still_owns(&all).await.unwrap();
    assert_eq!(a_view.len(), 2);
    assert!(a_view.iter().all(|p| !b_parts.contains(p)));
    a.cycle(&all).await.unwrap();
    assert_eq!(a.last_cycle().lost, b_parts);
    // a relinquishes on shutdown: b takes everything next cycle without waiting for expiry.
    let a_parts: Vec<String> = a.owned().iter().map(|o| o.partition_id.clone()).collect();
    a.relinquish(&a_parts).await.unwrap();
    assert!(a.owned().is_empty());
    assert!(
        store
            .list_ownership(&hub())
            .await
            .unwrap()
            .iter()
            .any(|o| o.owner_id.is_empty())
    );
    b.cycle(&all).await.unwrap();
    assert_eq!(b.owned().len(), 4);
    // Expiry: b dies; a takes its partitions once they are 60 s old.
    for p in &all {
        store.age_ownership(&hub(), p, EXPIRY + Duration::from_secs(1));
    }
    a.cycle(&all).await.unwrap();
    assert_eq!(a.owned().len(), 4);
    // b wakes up: its renewals fail (all four were taken), and Greedy steals back its share.
    b.cycle(&all).await.unwrap();
    assert_eq!(b.owned().len(), 2);
    // Taken and taken back: reported lost and gained, so its reader restarts from the checkpoint.
    assert_eq!(b.last_cycle().lost.len(), 4);
    assert_eq!(b.last_cycle().gained.len(), 2);
}
