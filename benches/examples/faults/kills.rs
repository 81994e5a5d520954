//! kill -9: many kills at random moments over a backlog (two replicas, so some kills land in a
//! rebalance), and the takeover of a killed replica's partitions by the survivor.

use std::collections::{HashMap, HashSet};
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use entrastream_testkit::kafka::Broker;
use entrastream_testkit::record_id;

use crate::Args;
use crate::harness::{
    Daemon, DaemonConfig, LineTail, LogTail, Row, Seen, SteadyProducer, Tail, end_offsets,
    file_sink, verdict, wait_for,
};

/// What a replica's log said about its group membership and commits, as the bench saw it
/// (times are when the bench read the line, within one poll of 20 ms of when it was written).
#[derive(Default, Clone, Copy)]
struct Membership {
    /// Started (or restarted) at.
    started: Option<Instant>,
    /// Latest `committed` (periodic checkpoint commit) line of this process.
    last_commit: Option<Instant>,
    /// Latest `partition assigned` line of this process.
    last_assigned: Option<Instant>,
    /// Latest `partitions revoked` line of this process.
    last_revoked: Option<Instant>,
    commits: usize,
}

/// Two daemons in one consumer group, each with its own file sink.
pub(crate) struct Replicas {
    configs: [PathBuf; 2],
    logs: [PathBuf; 2],
    records: [PathBuf; 2],
    daemons: [Option<Daemon>; 2],
    tails: [Tail; 2],
    lines: [LineTail; 2],
    log_tails: [LogTail; 2],
    membership: [Membership; 2],
    pub(crate) peak_rss_mib: f64,
}

/// The daemon's own debug line for each periodic checkpoint commit (`entrastream_pipeline`);
/// everything else stays at info.
const LOG_FILTER: (&str, &str) = ("RUST_LOG", "info,entrastream_pipeline=debug");

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
        Replicas::from_configs(dir, [config("a"), config("b")])
    }

    /// Two replicas `a` and `b` from their config files, whose file sinks write
    /// `DIR/{a,b}-records.ndjson`.
    pub(crate) fn from_configs(dir: &Path, configs: [PathBuf; 2]) -> Replicas {
        let logs = [dir.join("a.log"), dir.join("b.log")];
        let records = [dir.join("a-records.ndjson"), dir.join("b-records.ndjson")];
        let daemons = [
            Some(Daemon::start_env(&configs[0], &logs[0], &[LOG_FILTER])),
            Some(Daemon::start_env(&configs[1], &logs[1], &[LOG_FILTER])),
        ];
        let now = Some(Instant::now());
        let started = Membership {
            started: now,
            ..Default::default()
        };
        Replicas {
            tails: [Tail::new(&records[0]), Tail::new(&records[1])],
            lines: [LineTail::new(&records[0]), LineTail::new(&records[1])],
            log_tails: [LogTail::new(&logs[0]), LogTail::new(&logs[1])],
            membership: [started, started],
            configs,
            logs,
            records,
            daemons,
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
        // What the killed process logged belongs to it, not to the new one.
        self.watch_logs();
        self.daemons[i] = Some(Daemon::start_env(
            &self.configs[i],
            &self.logs[i],
            &[LOG_FILTER],
        ));
        self.membership[i] = Membership {
            started: Some(Instant::now()),
            ..Default::default()
        };
    }

    /// New deliveries of each replica, by id (parses every line: for slow traffic only).
    fn poll(&mut self) -> [HashMap<String, usize>; 2] {
        for d in self.daemons.iter_mut().flatten() {
            d.sample_rss();
        }
        [self.tails[0].poll(), self.tails[1].poll()]
    }

    /// New deliveries of both replicas, counted by lines only, and what their logs said.
    pub(crate) fn poll_lines(&mut self) -> usize {
        for d in self.daemons.iter_mut().flatten() {
            d.sample_rss();
        }
        self.watch_logs();
        self.lines[0].poll() + self.lines[1].poll()
    }

    fn watch_logs(&mut self) {
        let now = Instant::now();
        for i in 0..2 {
            let m = &mut self.membership[i];
            for line in self.log_tails[i].poll() {
                if line.contains(r#""message":"committed""#) {
                    m.last_commit = Some(now);
                    m.commits += 1;
                } else if line.contains(r#""message":"partition assigned""#) {
                    m.last_assigned = Some(now);
                } else if line.contains(r#""message":"partitions revoked""#) {
                    m.last_revoked = Some(now);
                }
            }
        }
    }

    /// Every id each replica's file sink holds (torn lines skipped), summed over both.
    pub(crate) fn ids(&self) -> HashMap<String, usize> {
        let mut all = HashMap::new();
        for path in &self.records {
            ids_streamed(path, &mut all);
        }
        all
    }

    pub(crate) fn stop(&mut self) {
        for i in 0..2 {
            if let Some(mut d) = self.daemons[i].take() {
                d.stop(Duration::from_secs(20));
                self.peak_rss_mib = self.peak_rss_mib.max(d.peak_rss_mib());
            }
        }
    }
}

/// Adds the ids of an NDJSON file to `out`, a line at a time (the full run's files hold
/// gigabytes; `entrastream_testkit::ids_in` reads a whole file into one string).
fn ids_streamed(path: &Path, out: &mut HashMap<String, usize>) {
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line)
                    && let Some(id) = record_id(&v)
                {
                    *out.entry(id).or_insert(0) += 1;
                }
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

/// Where a kill is aimed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Aim {
    /// At a random point of the stream (a delivered-record count).
    Stream,
    /// At a random point of the stream, then at the victim's next periodic checkpoint commit.
    Checkpoint,
    /// At the replica that was not just restarted, 0.2–2.5 s after the restart: in the
    /// rebalance the restart caused.
    Rebalance,
}

/// "1.2 s ago" / "none" for a log event, relative to the kill.
fn ago(at: Option<Instant>, kill: Instant) -> String {
    at.map_or("none".into(), |t| {
        format!(
            "{:.2} s before",
            kill.saturating_duration_since(t).as_secs_f64()
        )
    })
}

/// Where the victim stood in its group when killed, from its own log lines.
fn group_state(m: &Membership, kill: Instant) -> String {
    match (m.last_assigned, m.last_revoked) {
        (_, Some(r)) if m.last_assigned.is_none_or(|a| a < r) => format!(
            "mid-rebalance: its partitions revoked {:.2} s before, none assigned since",
            kill.saturating_duration_since(r).as_secs_f64()
        ),
        (None, None) => "not yet assigned since its start (joining the group)".into(),
        (Some(a), _) => format!(
            "assigned {:.2} s before",
            kill.saturating_duration_since(a).as_secs_f64()
        ),
        (None, Some(_)) => unreachable!("covered by the first arm"),
    }
}

/// What the kill loop leaves for the scenario's tally.
pub(crate) struct KillRun {
    pub(crate) t0: Instant,
    pub(crate) seen: Seen,
    /// Deliveries counted at each kill (duplicates included) and when it came (from `t0`).
    pub(crate) at_kill: Vec<(usize, Duration)>,
}

/// The kills of scenario 1 (and of its AMQP variant): `--kills` kill -9 at seeded random times
/// of the production run (`--records` at `--rate`), each aimed at a random moment, at the
/// victim's next checkpoint commit, or at the replica caught in a rebalance; each logged with
/// where the stream and the victim stood.
pub(crate) fn kill_at_random_times(a: &Args, reps: &mut Replicas, cp: Duration) -> KillRun {
    let total = a.records as u64;
    let t0 = Instant::now();
    let mut seen = Seen::default();
    let mut rng = crate::harness::Rng::new(a.seed);
    // Kill times drawn from the production run (records / rate), away from its two ends, so
    // every kill lands while records flow; sorted, in ms from the start.
    let run_ms = total * 1000 / a.rate.max(1);
    let mut times: Vec<u64> = (0..a.kills)
        .map(|_| rng.range(run_ms / 20, run_ms * 19 / 20))
        .collect();
    times.sort_unstable();
    // Follows both replicas for `d`, every 20 ms.
    let pump = |reps: &mut Replicas, seen: &mut Seen, d: Duration| {
        let until = Instant::now() + d;
        loop {
            let n = reps.poll_lines();
            seen.add_count(n, true);
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    };
    let mut log = Vec::new();
    let mut at_kill = Vec::new();
    let mut last_restarted = 0;
    for (k, at_ms) in times.iter().enumerate() {
        let aim = match k % 3 {
            0 => Aim::Stream,
            1 => Aim::Checkpoint,
            _ => Aim::Rebalance,
        };
        let mut commit_note = String::new();
        let victim = if aim == Aim::Rebalance {
            pump(reps, &mut seen, Duration::from_millis(rng.range(200, 2500)));
            1 - last_restarted
        } else {
            let at = t0 + Duration::from_millis(*at_ms);
            pump(
                reps,
                &mut seen,
                at.saturating_duration_since(Instant::now()),
            );
            let victim = rng.range(0, 2) as usize;
            if aim == Aim::Checkpoint {
                // The pipeline starts a commit `checkpoint_interval` after it started the
                // previous one and logs it once the broker answered (a few ms on loopback): aim
                // at the next start, from the last line this process logged.
                let wait_until = Instant::now() + 3 * cp;
                while reps.membership[victim].last_commit.is_none() && Instant::now() < wait_until {
                    pump(reps, &mut seen, Duration::from_millis(20));
                }
                match reps.membership[victim].last_commit {
                    Some(last) => {
                        let mut due = last + cp;
                        while due < Instant::now() + Duration::from_millis(80) {
                            due += cp;
                        }
                        // The bench reads the line up to 20 ms late and the line comes after
                        // the commit's round trip: the next commit starts up to ~60 ms before
                        // `due`.
                        let target = due - Duration::from_millis(rng.range(0, 60));
                        let coarse = target.saturating_duration_since(Instant::now());
                        pump(
                            reps,
                            &mut seen,
                            coarse.saturating_sub(Duration::from_millis(40)),
                        );
                        std::thread::sleep(target.saturating_duration_since(Instant::now()));
                        commit_note = format!(
                            "; aimed {} ms before its next commit was due (from the last one's line)",
                            (due - target).as_millis()
                        );
                    }
                    None => commit_note = "; no commit logged yet, killed unaimed".into(),
                }
            }
            victim
        };
        let killed = Instant::now();
        let m_before = reps.membership[victim];
        reps.kill9(victim);
        let n = reps.poll_lines();
        seen.add_count(n, true);
        let m = reps.membership[victim];
        if aim == Aim::Checkpoint && !commit_note.contains("unaimed") {
            // A commit line the bench read only now was written before the kill.
            let logged_after_due = m.commits > m_before.commits
                || m.last_commit.is_some_and(|c| {
                    killed.saturating_duration_since(c) < Duration::from_millis(60)
                });
            commit_note.push_str(if logged_after_due {
                " (its commit line came before the kill: killed just after the write)"
            } else {
                " (no commit line before the kill: killed before or during the write)"
            });
        }
        at_kill.push((seen.deliveries, killed.duration_since(t0)));
        log.push(format!(
            "kill {k} ({aim:?}): replica {} (up {:.1} s) at {} deliveries ({:.0}% of {}), {:.1} s into the run; {}; last commit {}{}",
            ["a", "b"][victim],
            m.started
                .map_or(0.0, |t| killed.saturating_duration_since(t).as_secs_f64()),
            seen.deliveries,
            100.0 * seen.deliveries as f64 / total as f64,
            total,
            t0.elapsed().as_secs_f64(),
            group_state(&m, killed),
            ago(m.last_commit, killed),
            commit_note,
        ));
        eprintln!("kills: {}", log.last().map_or("", String::as_str));
        reps.restart(victim);
        last_restarted = victim;
    }
    KillRun { t0, seen, at_kill }
}

/// Scenario 1: `--records` produced at `--rate` records/s while two replicas deliver them, and
/// `--kills` kill -9 at random times of that run (seeded), aimed in turn at a random moment of
/// the stream, at a replica's next periodic checkpoint commit, and at the replica caught in the
/// rebalance that the last restart caused. Progress is counted from the sinks' new bytes only
/// (newlines); ids are read once at the end.
pub fn kills(a: &Args) -> Row {
    let broker = Broker::start().expect("nisshi");
    broker.create_topic("kills", a.partitions);
    let dir = tempfile::tempdir().expect("temp dir");
    let cp = Duration::from_secs_f64(crate::parse_secs(&a.checkpoint));
    let total = a.records as u64;
    let producer = SteadyProducer::start_limited(
        &broker.bootstrap,
        "kills",
        a.partitions,
        a.rate,
        a.seed,
        total,
    );
    let mut reps = Replicas::start(a, dir.path(), &broker.bootstrap, "kills");
    let mut run = kill_at_random_times(a, &mut reps, cp);
    let sent = producer.finish_limit();
    let want: HashSet<String> = sent.into_keys().collect();
    let produced_in = run.t0.elapsed();
    let end = end_offsets(&broker.bootstrap, "kills", a.partitions);
    eprintln!(
        "kills: produced {} records in {:.0} s",
        want.len(),
        produced_in.as_secs_f64()
    );
    // Creating a consumer per check is slow: every 2 s.
    let done = finish_kill_run(
        &mut reps,
        &mut run,
        want.len(),
        Duration::from_secs(2),
        |_| broker.committed("faults", "kills", a.partitions) == end,
    );
    eprintln!(
        "kills: all committed after {:.1} s; ids counted",
        run.t0.elapsed().as_secs_f64()
    );
    kill_row(
        a,
        "1. kill -9",
        &run,
        &want,
        done,
        reps.peak_rss_mib,
        cp,
        produced_in,
        "kills",
    )
}

/// After the kills: follows both replicas until `all_done` (checked every `every`, and only
/// once the delivered lines reached the `produced` count: a check is costly) or 900 s, stops
/// both cleanly and counts every id they delivered. Whether `all_done` held.
pub(crate) fn finish_kill_run(
    reps: &mut Replicas,
    run: &mut KillRun,
    produced: usize,
    every: Duration,
    mut all_done: impl FnMut(&Replicas) -> bool,
) -> bool {
    let mut last_check = Instant::now();
    let done = wait_for(Duration::from_secs(900), || {
        let n = reps.poll_lines();
        let waiting = run.seen.deliveries < produced;
        run.seen.add_count(n, waiting);
        if waiting || last_check.elapsed() < every {
            return false;
        }
        last_check = Instant::now();
        all_done(reps)
    });
    reps.stop();
    let n = reps.poll_lines();
    run.seen.add_count(n, false);
    run.seen.counts = reps.ids();
    done
}

/// The result row of a kill scenario: loss and duplicates by id, the duplicate bound, and
/// whether every kill landed while records flowed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn kill_row(
    a: &Args,
    name: &str,
    run: &KillRun,
    want: &HashSet<String>,
    done: bool,
    peak_rss_mib: f64,
    cp: Duration,
    produced_in: Duration,
    scenario: &str,
) -> Row {
    let (seen, at_kill) = (&run.seen, &run.at_kill);
    let lost = seen.lost(want);
    let dups = seen.duplicates();
    let per_kill_bound = seen.peak_rate * cp.as_secs_f64();
    // The stricter reading of "one checkpoint interval of traffic": at the produced rate.
    let per_kill_offered = a.rate as f64 * cp.as_secs_f64();
    let bound = per_kill_bound * a.kills as f64;
    // A kill after the last record was produced may hit an idle replica: every kill must land
    // while records flow.
    let late = at_kill.iter().filter(|(_, t)| *t >= produced_in).count();
    let mut problems = Vec::new();
    if lost > 0 {
        problems.push(format!("{lost} records lost"));
    }
    if !done {
        problems.push("not all delivered and committed in 900 s".into());
    }
    if dups as f64 > bound {
        problems.push(format!("{dups} duplicates > bound {bound:.0}"));
    }
    if late > 0 {
        problems.push(format!("{late} kills after the last record was produced"));
    }
    let range = |f: fn(&(usize, Duration)) -> f64| {
        let v: Vec<f64> = at_kill.iter().map(f).collect();
        (
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(0.0, f64::max),
        )
    };
    let (t_min, t_max) = range(|k| k.1.as_secs_f64());
    let (d_min, d_max) = range(|k| k.0 as f64);
    Row {
        scenario: format!("{name} ×{}, two replicas", a.kills),
        records: want.len(),
        lost,
        duplicates: dups,
        max_stall: seen.max_gap,
        peak_rss_mib,
        verdict: verdict(&problems),
        notes: format!(
            "kills {t_min:.0}–{t_max:.0} s into a {:.0} s production run, at {d_min:.0}–{d_max:.0} deliveries (duplicates included); {:.0} duplicates per kill; bound one checkpoint interval ({}) at the peak delivery rate ({:.0} records/s) = {:.0} per kill (at the produced {} records/s: {:.0})",
            produced_in.as_secs_f64(),
            dups as f64 / a.kills.max(1) as f64,
            a.checkpoint,
            seen.peak_rate,
            per_kill_bound,
            a.rate,
            per_kill_offered,
        ),
        command: format!(
            "faults {scenario} --records {} --kills {} --rate {} --checkpoint {} --seed {}",
            a.records, a.kills, a.rate, a.checkpoint, a.seed
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
