use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::support::*;

/// kill -9 at several points while 200,000 records flow; restart each time.
#[test]
fn kill_9_at_random_points_loses_nothing_and_bounds_duplicates() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("crash", 4);
    let traffic = produce(&broker.bootstrap, "crash", 4, 200_000, 0, 31);
    let dir = tempfile::tempdir().unwrap();
    let budget_mib = 32.0;
    let cfg = daemon_config(
        dir.path(),
        "c",
        &broker.bootstrap,
        "crash",
        "crash-group",
        "max_in_flight_bytes = \"32MiB\"",
    );
    let records = dir.path().join("c-records.ndjson");
    // "Random" kill points (in delivered lines), different per run, spread over the stream.
    let seed = std::process::id() as usize;
    let kills: Vec<usize> = (0..5)
        .map(|k| 15_000 + k * 35_000 + seed.wrapping_mul(7919).wrapping_add(k * 104_729) % 12_000)
        .collect();
    // Highest delivery rate seen over any one-second window (records/s).
    let mut max_rate = 0.0f64;
    let mut window: VecDeque<(Instant, usize)> = VecDeque::new();
    let mut sample = |max_rate: &mut f64| {
        let now = Instant::now();
        let n = line_count(&records);
        window.push_back((now, n));
        while window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(1))
        {
            window.pop_front();
        }
        if let Some((t, first)) = window.front() {
            let dt = now.duration_since(*t).as_secs_f64();
            if dt > 0.5 {
                *max_rate = max_rate.max(n.saturating_sub(*first) as f64 / dt);
            }
        }
        n
    };
    for (k, at) in kills.iter().enumerate() {
        let mut d = Daemon::start(&cfg);
        wait_for_daemon(
            &d,
            &format!("{at} lines before kill {k}"),
            Duration::from_secs(180),
            || sample(&mut max_rate) >= *at,
        );
        d.kill9();
        eprintln!("kill {k} at {} lines", line_count(&records));
    }
    let mut d = Daemon::start(&cfg);
    let end = traffic.end_offsets();
    wait_for_daemon(&d, "everything committed", Duration::from_secs(240), || {
        sample(&mut max_rate);
        broker.committed("crash-group", "crash", 4) == end
    });
    d.term();
    assert!(
        d.wait_timeout(Duration::from_secs(20))
            .is_some_and(|s| s.success())
    );
    let seen = ids_in(&records);
    let missing = traffic
        .ids()
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .count();
    assert_eq!(missing, 0, "records lost");
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    // Each kill redelivers at most what was delivered but not yet committed: one checkpoint
    // interval (1 s here, plus up to one interval of commit latency) at the highest delivery
    // rate seen, plus what the byte budget holds in flight.
    let avg_record = 1_000.0;
    let per_kill = max_rate * 2.0 + budget_mib * 1024.0 * 1024.0 / avg_record;
    let bound = (kills.len() as f64 * per_kill) as usize;
    eprintln!(
        "{} records, {duplicates} duplicates after {} kills (bound {bound}, peak {max_rate:.0} records/s)",
        traffic.records,
        kills.len()
    );
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates > bound {bound}"
    );
}
