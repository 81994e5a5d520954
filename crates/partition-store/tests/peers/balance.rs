use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entrastream_partition_store::{
    BalancerConfig, BlobStore, LoadBalancer, PartitionStore, Strategy,
};

use crate::support::{Azurite, SERIAL, hub, partitions};

const INTERVAL: Duration = Duration::from_secs(1);
const EXPIRY: Duration = Duration::from_secs(3);

fn balancers(store: &Arc<BlobStore>, n: usize, strategy: Strategy) -> Vec<LoadBalancer> {
    (0..n)
        .map(|i| {
            let config = BalancerConfig {
                owner_id: format!("replica-{i}"),
                update_interval: INTERVAL,
                ownership_expiry: EXPIRY,
                strategy,
            };
            LoadBalancer::new(store.clone(), hub(), config).unwrap()
        })
        .collect()
}

/// Owner id -> partitions, as the store lists them (relinquished ones under "").
async fn split(store: &BlobStore) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in store.list_ownership(&hub()).await.unwrap() {
        *out.entry(o.owner_id).or_insert(0) += 1;
    }
    out
}

/// Replicas whose cycles are staggered (as their start times are in production) converge to
/// an even split within two cycles each, with Balanced (2 partitions each) and Greedy (32).
#[tokio::test]
async fn two_and_three_replicas_converge_within_two_cycles() {
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    for (n, p, strategy) in [
        (2, 4, Strategy::Balanced),
        (3, 6, Strategy::Balanced),
        (2, 32, Strategy::Greedy),
        (3, 32, Strategy::Greedy),
    ] {
        let container = format!("conv-{n}-{p}");
        let store = Arc::new(crate::support::store(&azurite, &container).await);
        let all = partitions(p);
        let mut lbs = balancers(&store, n, strategy);
        for _cycle in 0..2 {
            for lb in lbs.iter_mut() {
                lb.cycle(&all).await.unwrap();
            }
        }
        let counts: Vec<usize> = lbs.iter().map(|lb| lb.owned().len()).collect();
        assert_eq!(
            counts.iter().sum::<usize>(),
            p,
            "{n} replicas, {p} partitions: {counts:?}"
        );
        assert!(
            counts.iter().all(|c| *c == p / n || *c == p.div_ceil(n)),
            "{n} replicas, {p} partitions, {strategy:?}: not even after two cycles: {counts:?}"
        );
        // The store agrees with what each replica believes.
        let listed = split(&store).await;
        for lb in &lbs {
            assert_eq!(
                listed.get(&lb.config().owner_id).copied().unwrap_or(0),
                lb.owned().len()
            );
        }
        // And a third cycle changes nothing.
        for lb in lbs.iter_mut() {
            lb.cycle(&all).await.unwrap();
            let r = lb.last_cycle();
            assert!(
                r.gained.is_empty() && r.lost.is_empty() && r.released.is_empty(),
                "{r:?}"
            );
        }
    }
}

/// Replicas cycling concurrently (every second); one dies: nobody touches its partitions
/// before expiry (3 s), the survivors split them after it; relinquish hands over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_replica_is_taken_over_after_expiry_and_relinquish_is_immediate() {
    let _serial = SERIAL.lock().await;
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let store = Arc::new(crate::support::store(&azurite, "takeover").await);
    let all = partitions(6);
    let mut lbs = balancers(&store, 3, Strategy::Balanced);

    // Concurrent rounds until even (all three cycle at once each second).
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut handles = Vec::new();
        for mut lb in lbs.drain(..) {
            let all = all.clone();
            handles.push(tokio::spawn(async move {
                lb.cycle(&all).await.unwrap();
                lb
            }));
        }
        for h in handles {
            lbs.push(h.await.unwrap());
        }
        if lbs.iter().all(|lb| lb.owned().len() == 2) {
            break;
        }
        assert!(
            rounds < 12,
            "3 concurrent replicas did not split 6 partitions evenly: {:?}",
            split(&store).await
        );
        tokio::time::sleep(INTERVAL).await;
    }
    eprintln!("3 concurrent replicas split 6 partitions evenly after {rounds} cycles");

    // replica-2 dies (stops renewing).
    let dead = lbs.pop().unwrap();
    let dead_parts: Vec<String> = dead
        .owned()
        .iter()
        .map(|o| o.partition_id.clone())
        .collect();
    let died = Instant::now();
    let mut taken_after = None;
    while taken_after.is_none() {
        tokio::time::sleep(INTERVAL).await;
        for lb in lbs.iter_mut() {
            lb.cycle(&all).await.unwrap();
        }
        let listed = store.list_ownership(&hub()).await.unwrap();
        let still_dead = listed.iter().filter(|o| o.owner_id == "replica-2").count();
        // Last-Modified has 1 s resolution: allow that much before expiry.
        if died.elapsed() + Duration::from_secs(1) < EXPIRY {
            assert_eq!(still_dead, 2, "taken before expiry");
        }
        if lbs.iter().all(|lb| lb.owned().len() == 3) {
            taken_after = Some(died.elapsed());
        }
        assert!(
            died.elapsed() < EXPIRY + Duration::from_secs(8),
            "no takeover: {listed:?}"
        );
    }
    eprintln!(
        "dead replica's partitions taken over {:?} after its last renewal",
        taken_after.unwrap()
    );
    let now_owned: Vec<String> = lbs
        .iter()
        .flat_map(|lb| lb.owned())
        .map(|o| o.partition_id)
        .collect();
    for p in &dead_parts {
        assert!(now_owned.contains(p));
    }
    // The dead replica, were it to wake up, must not commit: it no longer owns anything.
    assert!(dead.still_owns(&dead_parts).await.unwrap().is_empty());

    // replica-0 shuts down cleanly: replica-1 has everything after its next cycle, no expiry wait.
    let mut leaving = lbs.remove(0);
    let leaving_parts: Vec<String> = leaving
        .owned()
        .iter()
        .map(|o| o.partition_id.clone())
        .collect();
    assert_eq!(
        leaving.still_owns(&leaving_parts).await.unwrap(),
        leaving_parts
    );
    leaving.relinquish(&leaving_parts).await.unwrap();
    assert!(leaving.still_owns(&leaving_parts).await.unwrap().is_empty());
    let stay = &mut lbs[0];
    for _ in 0..3 {
        stay.cycle(&all).await.unwrap();
    }
    assert_eq!(
        stay.owned().len(),
        6,
        "Balanced: one relinquished partition per cycle"
    );
}
