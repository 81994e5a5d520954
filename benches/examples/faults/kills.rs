//! kill -9: many kills at random moments over a backlog (two replicas, so some kills land in a
//! rebalance), and the takeover of a killed replica's partitions by the survivor.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use entrastream_testkit::kafka::{Broker, produce};

use crate::Args;
use crate::harness::{Daemon, DaemonConfig, Row, Seen, SteadyProducer, Tail, file_sink, wait_for};

/// Two daemons in one consumer group, each with its own file sink.
struct Replicas {
    configs: [PathBuf; 2],
    logs: [PathBuf; 2],
    daemons: [Option<Daemon>; 2],
    tails: [Tail; 2],
    peak_rss_mib: f64,
}

impl Replicas {
    fn start(a: &Args, dir: &Path, brokers: &str, topic: &str) -> Replicas {
        let config = |name: &str| {
            DaemonConfig::from_args(
                a,
                brokers,
                topic,
                file_sink(&dir.join(format!("{name}-records.ndjson"))),
            )
            .write(dir, name)
        };
        let configs = [config("a"), config("b")];
        let logs = [dir.join("a.log"), dir.join("b.log")];
        let daemons = [
            Some(Daemon::start(&configs[0], &logs[0])),
            Some(Daemon::start(&configs[1], &logs[1])),
        ];
        let tails = [
            Tail::new(&dir.join("a-records.ndjson")),
            Tail::new(&dir.join("b-records.ndjson")),
        ];
        Replicas {
            configs,
            logs,
            daemons,
            tails,
            peak_rss_mib: 0.0,
        }
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut d) = self.daemons[i].take() {
            d.kill9();
            self.peak_rss_mib = self.peak_rss_mib.max(d.peak_rss_mib());
        }
    }

    fn restart(&mut self, i: usize) {
        self.daemons[i] = Some(Daemon::start(&self.configs[i], &self.logs[i]));
    }

    /// New deliveries of each replica.
    fn poll(&mut self) -> [HashMap<String, usize>; 2] {
        for d in self.daemons.iter_mut().flatten() {
            d.sample_rss();
        }
        [self.tails[0].poll(), self.tails[1].poll()]
    }

    fn stop(&mut self) {
        for i in 0..2 {
            if let Some(mut d) = self.daemons[i].take() {
                d.stop(Duration::from_secs(20));
                self.peak_rss_mib = self.peak_rss_mib.max(d.peak_rss_mib());
            }
        }
    }
}

fn merge(seen: &mut Seen, new: [HashMap<String, usize>; 2], waiting: bool) {
    let [mut x, y] = new;
    for (k, v) in y {
        *x.entry(k).or_insert(0) += v;
    }
    seen.add(x, waiting);
}

/// Scenario 1: `--records` in a backlog, `--kills` kill -9 at random delivery counts; every
/// third kill hits the other replica 0.2–2.5 s after a restart, while the group rebalances.
pub fn kills(a: &Args) -> Row {
    let broker = Broker::start().expect("nisshi");
    broker.create_topic("kills", a.partitions);
    let t = Instant::now();
    let traffic = produce(
        &broker.bootstrap,
        "kills",
        a.partitions,
        a.records,
        0,
        a.seed,
    );
    eprintln!(
        "kills: produced {} records in {:.0}s",
        traffic.records,
        t.elapsed().as_secs_f64()
    );
    let want = traffic.ids();
    let end = traffic.end_offsets();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut reps = Replicas::start(a, dir.path(), &broker.bootstrap, "kills");
    let mut seen = Seen::default();
    let mut rng = crate::harness::Rng::new(a.seed);
    let mut points: Vec<u64> = (0..a.kills)
        .map(|_| rng.range(a.records as u64 / 20, a.records as u64 * 19 / 20))
        .collect();
    points.sort_unstable();
    let mut log = Vec::new();
    let mut last_restarted = 0;
    for (k, point) in points.iter().enumerate() {
        let during_rebalance = k % 3 == 2;
        let victim = if during_rebalance {
            // The replica that was not just restarted: it is in the rebalance the restart caused.
            std::thread::sleep(Duration::from_millis(rng.range(200, 2500)));
            1 - last_restarted
        } else {
            let reached = wait_for(Duration::from_secs(600), || {
                let new = reps.poll();
                merge(&mut seen, new, true);
                seen.deliveries as u64 >= *point
            });
            assert!(reached, "kills: no progress to {point} deliveries");
            rng.range(0, 2) as usize
        };
        reps.kill9(victim);
        let new = reps.poll();
        merge(&mut seen, new, true);
        log.push(format!(
            "kill {k}: replica {} at {} deliveries{}",
            ["a", "b"][victim],
            seen.deliveries,
            if during_rebalance {
                " (during rebalance)"
            } else {
                ""
            }
        ));
        eprintln!("kills: {}", log.last().map_or("", String::as_str));
        reps.restart(victim);
        last_restarted = victim;
    }
    let done = wait_for(Duration::from_secs(900), || {
        let new = reps.poll();
        let waiting = seen.counts.len() < want.len();
        merge(&mut seen, new, waiting);
        // Creating a consumer per check is slow: only once everything was delivered.
        !waiting && broker.committed("faults", "kills", a.partitions) == end
    });
    reps.stop();
    let new = reps.poll();
    merge(&mut seen, new, false);
    let lost = seen.lost(&want);
    let dups = seen.duplicates();
    let cp_secs = crate::parse_secs(&a.checkpoint);
    let per_kill_bound = seen.peak_rate * cp_secs;
    let bound = per_kill_bound * a.kills as f64;
    let verdict = if lost == 0 && done && (dups as f64) <= bound {
        "pass".to_string()
    } else {
        format!(
            "FAIL ({}{}{})",
            if lost > 0 { "records lost; " } else { "" },
            if done { "" } else { "not all committed; " },
            if dups as f64 > bound {
                "duplicates above bound"
            } else {
                ""
            }
        )
    };
    Row {
        scenario: format!("1. kill -9 ×{}, two replicas", a.kills),
        records: traffic.records,
        lost,
        duplicates: dups,
        max_stall: seen.max_gap,
        peak_rss_mib: reps.peak_rss_mib,
        verdict,
        notes: format!(
            "{:.0} duplicates per kill; one checkpoint interval ({}) at the peak rate ({:.0} records/s) = {:.0} per kill",
            dups as f64 / a.kills.max(1) as f64,
            a.checkpoint,
            seen.peak_rate,
            per_kill_bound
        ),
        command: format!(
            "faults kills --records {} --kills {} --checkpoint {} --seed {}",
            a.records, a.kills, a.checkpoint, a.seed
        ),
    }
}

/// Scenario 4: steady traffic, two replicas, `--rounds` times kill -9 one of them: how long
/// until the survivor delivers from the killed one's partitions, and what it redelivers.
pub fn takeover(a: &Args) -> Row {
    let broker = Broker::start().expect("nisshi");
    broker.create_topic("takeover", a.partitions);
    let producer =
        SteadyProducer::start(&broker.bootstrap, "takeover", a.partitions, a.rate, a.seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut reps = Replicas::start(a, dir.path(), &broker.bootstrap, "takeover");
    let mut seen = Seen::default();
    // Per replica: when it last delivered a record of each partition.
    let mut last: [HashMap<i32, Instant>; 2] = [HashMap::new(), HashMap::new()];
    let sent_map = producer.sent.clone();
    let step = |reps: &mut Replicas, seen: &mut Seen, last: &mut [HashMap<i32, Instant>; 2]| {
        let new = reps.poll();
        let now = Instant::now();
        {
            let sent = sent_map.lock().unwrap_or_else(|e| e.into_inner());
            for (i, ids) in new.iter().enumerate() {
                for id in ids.keys() {
                    if let Some(p) = sent.get(id) {
                        last[i].insert(*p, now);
                    }
                }
            }
        }
        merge(seen, new, true);
    };
    let mut takeovers = Vec::new();
    let mut dups_per = Vec::new();
    for round in 0..a.rounds {
        let victim = round % 2;
        // Settled: both replicas delivering, from disjoint partitions (for 2 s, so records of
        // the assignment before the last rebalance are out of the window).
        let recent = |m: &HashMap<i32, Instant>, secs: u64| -> HashSet<i32> {
            let t = Instant::now() - Duration::from_secs(secs);
            m.iter()
                .filter(|(_, at)| **at > t)
                .map(|(p, _)| *p)
                .collect()
        };
        let settled = wait_for(Duration::from_secs(180), || {
            step(&mut reps, &mut seen, &mut last);
            let (x, y) = (recent(&last[0], 2), recent(&last[1], 2));
            !x.is_empty() && !y.is_empty() && x.is_disjoint(&y)
        });
        assert!(settled, "takeover: replicas did not both deliver");
        std::thread::sleep(Duration::from_millis(1000 + round as u64 * 137 % 1000));
        step(&mut reps, &mut seen, &mut last);
        let owned: HashSet<i32> = recent(&last[victim], 2)
            .difference(&recent(&last[1 - victim], 2))
            .copied()
            .collect();
        let dups_before = seen.duplicates();
        reps.kill9(victim);
        let killed = Instant::now();
        let took = wait_for(Duration::from_secs(180), || {
            step(&mut reps, &mut seen, &mut last);
            owned
                .iter()
                .any(|p| last[1 - victim].get(p).is_some_and(|at| *at > killed))
        });
        let takeover = killed.elapsed();
        assert!(
            took,
            "takeover: survivor never delivered the killed replica's partitions"
        );
        // Let the redelivery of the uncommitted tail arrive before counting it.
        wait_for(Duration::from_secs(3), || {
            step(&mut reps, &mut seen, &mut last);
            false
        });
        let d = seen.duplicates() - dups_before;
        eprintln!(
            "takeover {round}: replica {} killed owning partitions {owned:?}; survivor took over in {:.1}s; {d} duplicates",
            ["a", "b"][victim],
            takeover.as_secs_f64()
        );
        takeovers.push(takeover);
        dups_per.push(d);
        reps.restart(victim);
    }
    let sent = producer.finish();
    let want: HashSet<String> = sent.keys().cloned().collect();
    let all = wait_for(Duration::from_secs(300), || {
        step(&mut reps, &mut seen, &mut last);
        seen.counts.len() >= want.len() && seen.lost(&want) == 0
    });
    // The last commits, then a clean stop.
    std::thread::sleep(Duration::from_secs(
        2 * crate::parse_secs(&a.checkpoint) as u64,
    ));
    reps.stop();
    let new = reps.poll();
    merge(&mut seen, new, false);
    takeovers.sort();
    let mut sorted = dups_per.clone();
    sorted.sort_unstable();
    let lost = seen.lost(&want);
    Row {
        scenario: format!("4. two replicas, kill -9 one, ×{}", a.rounds),
        records: want.len(),
        lost,
        duplicates: seen.duplicates(),
        max_stall: takeovers.last().copied().unwrap_or_default(),
        peak_rss_mib: reps.peak_rss_mib,
        verdict: if lost == 0 && all {
            "pass".into()
        } else {
            "FAIL (records lost)".into()
        },
        notes: format!(
            "takeover median {:.1} s, max {:.1} s (session.timeout.ms {}); duplicates per takeover median {}, max {} ({:?}); {} records/s",
            takeovers
                .get(takeovers.len() / 2)
                .map_or(0.0, Duration::as_secs_f64),
            takeovers.last().map_or(0.0, Duration::as_secs_f64),
            a.session_ms,
            sorted.get(sorted.len() / 2).copied().unwrap_or(0),
            sorted.last().copied().unwrap_or(0),
            dups_per,
            a.rate
        ),
        command: format!(
            "faults takeover --rounds {} --rate {} --session-ms {} --checkpoint {}",
            a.rounds, a.rate, a.session_ms, a.checkpoint
        ),
    }
}
