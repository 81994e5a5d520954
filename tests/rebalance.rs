use std::time::Duration;

use crate::support::*;

#[test]
fn survivor_takes_over_the_partitions_of_a_killed_daemon() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("rebalance", 4);
    let dir = tempfile::tempdir().unwrap();
    let cfg_a = daemon_config(
        dir.path(),
        "a",
        &broker.bootstrap,
        "rebalance",
        "rb-group",
        "",
    );
    let cfg_b = daemon_config(
        dir.path(),
        "b",
        &broker.bootstrap,
        "rebalance",
        "rb-group",
        "",
    );
    let (rec_a, rec_b) = (
        dir.path().join("a-records.ndjson"),
        dir.path().join("b-records.ndjson"),
    );
    let mut a = Daemon::start(&cfg_a);
    std::thread::sleep(Duration::from_secs(2));
    let mut b = Daemon::start(&cfg_b);
    // let the group settle into two members before traffic starts
    wait_until("both daemons assigned", Duration::from_secs(60), || {
        a.log_text().contains("partition assigned") && b.log_text().contains("partition assigned")
    });
    std::thread::sleep(Duration::from_secs(3));
    let producer = {
        let bootstrap = broker.bootstrap.clone();
        std::thread::spawn(move || produce(&bootstrap, "rebalance", 4, 100_000, 0, 41))
    };
    wait_until("both daemons delivering", Duration::from_secs(60), || {
        line_count(&rec_a) > 2_000 && line_count(&rec_b) > 2_000
    });
    b.kill9();
    let traffic = producer.join().unwrap();
    let end = traffic.end_offsets();
    wait_until(
        "the survivor commits everything",
        Duration::from_secs(120),
        || broker.committed("rb-group", "rebalance", 4) == end,
    );
    a.term();
    assert!(
        a.wait_timeout(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        a.log_text()
    );
    let seen_a = ids_in(&rec_a);
    let seen_b = ids_in(&rec_b);
    let missing = traffic
        .ids()
        .into_iter()
        .filter(|id| !seen_a.contains_key(id) && !seen_b.contains_key(id))
        .count();
    assert_eq!(missing, 0, "records lost in the rebalance");
    // the survivor delivered records of every partition (it took over the killed one's)
    let part = traffic.partition_of();
    let mut partitions_a = [false; 4];
    for id in seen_a.keys() {
        if let Some(p) = part.get(id) {
            partitions_a[*p] = true;
        }
    }
    assert_eq!(
        partitions_a, [true; 4],
        "survivor did not take over every partition"
    );
    eprintln!(
        "a delivered {}, b delivered {}, total ids {}",
        seen_a.len(),
        seen_b.len(),
        traffic.records
    );
}
