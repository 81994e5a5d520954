//! Scenario 5: hostile input through `run` into a file, a Splunk HEC and a Sumo Logic sink at
//! once: records whose category and metadata carry control characters, 10 KB values and
//! non-ASCII text; the generator's poison messages; and the parser's fuzz seeds (the sample
//! corpus, whole files and one line per message, as `scripts/fuzz` seeds them).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use entrastream_generator::{Generator, GeneratorConfig, poison_message};
use entrastream_testkit::kafka::{Broker, Producing};
use entrastream_testkit::{HecPeer, HecPeerOptions, SumoPeer, count_ids, record_ids};
use serde_json::Value;

use crate::Args;
use crate::harness::{Daemon, DaemonConfig, Row, file_sink, verdict, wait_for};
use crate::outage::{hec_ids, hec_sink};

/// Values no sink may choke on.
fn hostile_values() -> Vec<(&'static str, String)> {
    vec![
        ("newline", "SignInLogs\n".to_string()),
        (
            "control characters",
            "Audit\u{0}Logs\r\u{1b}[31m\u{7f}\t".to_string(),
        ),
        ("10 KB", "X".repeat(10 * 1024)),
        ("non-ASCII", "Connexions-Σ-登录-😀".to_string()),
        ("header injection", "a\r\nX-Injected: 1".to_string()),
        ("empty", String::new()),
    ]
}

/// One-record envelopes from the generator with a hostile category or metadata field.
fn hostile_messages(seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut generator = Generator::new(GeneratorConfig {
        seed,
        ..Default::default()
    })
    .expect("generator");
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for field in [
        "category",
        "operationName",
        "resourceId",
        "tenantId",
        "callerIpAddress",
        "properties.userDisplayName",
    ] {
        for (what, value) in hostile_values() {
            buf.clear();
            generator.next_envelope_with(1, &mut buf);
            let mut env: Value = serde_json::from_slice(&buf).expect("generator JSON");
            let record = &mut env["records"][0];
            match field.split_once('.') {
                Some((outer, inner)) => record[outer][inner] = Value::String(value.clone()),
                None => record[field] = Value::String(value.clone()),
            }
            out.push((
                format!("{field}: {what}"),
                serde_json::to_vec(&env).expect("JSON"),
            ));
        }
    }
    out
}

/// The sample corpus the fuzz targets are seeded from: each file, and each of its lines.
fn fuzz_seeds(samples: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![samples.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or_default();
            if ext != "log" && ext != "json" {
                continue;
            }
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if !line.is_empty() {
                    out.push((format!("seed {name} line {i}"), line.to_vec()));
                }
            }
            out.push((format!("seed {name}"), bytes));
        }
    }
    out
}

/// Distinct (partition, offset) of the dead-letter lines.
fn dead_lettered(path: &Path) -> HashMap<(i64, i64), Vec<String>> {
    let mut out: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line)
            && let (Some(p), Some(o)) = (v["partition"].as_i64(), v["offset"].as_i64())
        {
            out.entry((p, o)).or_default().push(format!(
                "{}/{}",
                v["source"].as_str().unwrap_or("?"),
                v["reason"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}

pub fn hostile(a: &Args, rt: &tokio::runtime::Runtime) -> Row {
    let hec = rt.block_on(HecPeer::start(HecPeerOptions::default()));
    let sumo = rt.block_on(SumoPeer::start("faults-secret"));
    let broker = Broker::start().expect("nisshi");
    let partitions = 2;
    broker.create_topic("hostile", partitions);
    let mut corpus = hostile_messages(a.seed);
    let hostile_count = corpus.len();
    for i in 0..7 {
        let mut b = Vec::new();
        poison_message(i, &mut b);
        corpus.push((format!("poison {i}"), b));
    }
    let seeds = fuzz_seeds(&a.samples);
    let seed_count = seeds.len();
    corpus.extend(seeds);
    // Partition p's offsets in order of sending.
    let mut p = Producing::new(&broker.bootstrap, "hostile", partitions);
    let mut at: Vec<(i64, i64)> = Vec::new();
    let mut next = vec![0i64; partitions as usize];
    for (_, body) in &corpus {
        let part = p.send(body);
        at.push((part as i64, next[part as usize]));
        next[part as usize] += 1;
    }
    p.finish();
    eprintln!(
        "hostile: {} messages ({hostile_count} hostile records, 7 poison, {seed_count} fuzz seeds from {})",
        corpus.len(),
        a.samples.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let records = dir.path().join("hostile-records.ndjson");
    let sinks = format!(
        "{}\n{}\n[[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nschema = \"native\"\nurl = {:?}\n",
        file_sink(&records),
        hec_sink(&hec.url(), hec.token(), false),
        sumo.url()
    );
    let config = DaemonConfig {
        brokers: &broker.bootstrap,
        topic: "hostile",
        group: "faults",
        properties: vec![],
        checkpoint_interval: "1s",
        budget_mib: a.budget_mib,
        sinks,
    }
    .write(dir.path(), "hostile");
    let log = dir.path().join("hostile.log");
    let mut daemon = Daemon::start(&config, &log);
    let t0 = Instant::now();
    let done = wait_for(Duration::from_secs(a.wait_secs), || {
        daemon.sample_rss();
        broker.committed("faults", "hostile", partitions) == next
    });
    let took = t0.elapsed();
    let alive = daemon.alive();
    let committed = broker.committed("faults", "hostile", partitions);
    let exit = daemon.stop(Duration::from_secs(20));
    let mut file_ids = HashMap::new();
    count_ids(
        &std::fs::read_to_string(&records).unwrap_or_default(),
        &mut file_ids,
    );
    let hec_got = hec_ids(&hec);
    let mut sumo_got = HashMap::new();
    count_ids(&sumo.lines().join("\n"), &mut sumo_got);
    let dl = dead_lettered(&dir.path().join("hostile-dead-letter.ndjson"));
    // A message is accounted for when every record id it carries reached every sink, or when
    // it was dead-lettered (with its reason).
    let mut lost_records = 0;
    let mut unaccounted = Vec::new();
    let mut records_total = 0;
    let mut ids_seen = HashSet::new();
    for ((what, body), pos) in corpus.iter().zip(&at) {
        let ids = record_ids_lenient(body);
        records_total += ids.len();
        if dl.contains_key(pos) {
            continue;
        }
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| {
                !(file_ids.contains_key(*id)
                    && hec_got.contains_key(*id)
                    && sumo_got.contains_key(*id))
            })
            .collect();
        if !missing.is_empty() {
            lost_records += missing.len();
            let sinks: Vec<&str> = [
                ("file", &file_ids),
                ("splunk", &hec_got),
                ("sumo", &sumo_got),
            ]
            .iter()
            .filter(|(_, m)| missing.iter().any(|id| !m.contains_key(*id)))
            .map(|(n, _)| *n)
            .collect();
            unaccounted.push(format!("{what} (missing in {})", sinks.join(", ")));
        }
        ids_seen.extend(ids);
    }
    for u in &unaccounted {
        eprintln!("hostile: neither delivered nor dead-lettered: {u}");
    }
    let mut reasons: Vec<String> = dl.values().flatten().cloned().collect();
    reasons.sort();
    reasons.dedup();
    let dups: usize = [&file_ids, &hec_got, &sumo_got]
        .iter()
        .map(|m| m.values().map(|n| n - 1).sum::<usize>())
        .sum();
    let mut problems = Vec::new();
    if !alive {
        problems.push(format!("daemon exited ({exit:?})"));
    }
    if !done {
        problems.push(format!(
            "not all committed after {} s (committed {committed:?} of {next:?})",
            a.wait_secs
        ));
    }
    if !unaccounted.is_empty() {
        problems.push(format!(
            "{} messages neither delivered to every sink nor dead-lettered",
            unaccounted.len()
        ));
    }
    Row {
        scenario: "5. hostile input + fuzz seeds → file, HEC, Sumo".into(),
        records: records_total,
        lost: lost_records,
        duplicates: dups,
        max_stall: took,
        peak_rss_mib: daemon.peak_rss_mib(),
        verdict: verdict(&problems),
        notes: format!(
            "{} messages: {hostile_count} hostile one-record envelopes, 7 poison, {seed_count} fuzz seeds (duplicates: summed over the 3 sinks; a seed file and its lines carry the same ids); {} messages dead-lettered ({}); stall = time to commit everything; unaccounted: {}",
            corpus.len(),
            dl.len(),
            reasons.join(", "),
            if unaccounted.is_empty() {
                "none".to_string()
            } else {
                unaccounted.join("; ")
            }
        ),
        command: format!("faults hostile --samples {}", a.samples.display()),
    }
}

/// Record ids of a message that may not be JSON at all.
fn record_ids_lenient(body: &[u8]) -> Vec<String> {
    if serde_json::from_slice::<Value>(body).is_ok() {
        record_ids(body)
    } else {
        Vec::new()
    }
}
