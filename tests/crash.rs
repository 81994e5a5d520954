use std::time::{Duration, Instant};

use crate::support::*;

/// kill -9 at several points while 200,000 records flow; restart each time.
#[test]
fn kill_9_at_random_points_loses_nothing_and_bounds_duplicates() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("crash", 4);
    let traffic = produce(&broker.bootstrap, "crash", 4, 200_000, 0, 31);
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(
        dir.path(),
        "c",
        &broker.bootstrap,
        "crash",
        "crash-group",
        "max_in_flight_bytes = \"32MiB\"",
    );
    let records = dir.path().join("c-records.ndjson");
    // "random" but reproducible kill points, spread over the run (in delivered lines)
    let seed = std::process::id() as usize;
    let kills: Vec<usize> = (0..5)
        .map(|k| 15_000 + k * 30_000 + (seed.wrapping_mul(7919).wrapping_add(k * 104_729)) % 12_000)
        .collect();
    let started = Instant::now();
    for (k, at) in kills.iter().enumerate() {
        let mut d = Daemon::start(&cfg);
        wait_until(
            &format!("{at} lines before kill {k}"),
            Duration::from_secs(120),
            || line_count(&records) >= *at,
        );
        d.kill9();
        eprintln!("kill {k} at {} lines", line_count(&records));
    }
    let mut d = Daemon::start(&cfg);
    let end = traffic.end_offsets();
    wait_until("everything committed", Duration::from_secs(180), || {
        broker.committed("crash-group", "crash", 4) == end
    });
    d.term();
    assert!(
        d.wait_timeout(Duration::from_secs(20))
            .is_some_and(|s| s.success())
    );
    let elapsed = started.elapsed().as_secs_f64();
    let seen = ids_in(&records);
    let ids = traffic.ids();
    let missing = ids.iter().filter(|id| !seen.contains_key(*id)).count();
    assert_eq!(missing, 0, "records lost");
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    // Each kill redelivers at most what was done but not yet committed (one checkpoint
    // interval of traffic) plus what was in flight (the byte budget); bound it generously by
    // the observed rate over the whole run.
    let rate = traffic.records as f64 / elapsed;
    let avg_record = 1_500.0;
    let per_kill = rate * 1.0 * 2.0 + (32.0 * 1024.0 * 1024.0) / avg_record;
    let bound = (kills.len() as f64 * per_kill) as usize;
    eprintln!(
        "{} records, {duplicates} duplicates after {} kills (bound {bound}, {rate:.0} records/s)",
        traffic.records,
        kills.len()
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates > bound {bound}"
    );
}
