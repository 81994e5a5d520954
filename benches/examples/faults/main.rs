//! The fault suite (issue 12): the real `entrastream run` against the nisshi broker and the
//! in-repo HEC and Sumo peers, through kill -9, a long Splunk outage, connection faults from a
//! TCP fault proxy, replica takeovers and hostile input. Loss and duplicates are counted by the
//! generator's record ids. Not part of `scripts/test`: run on demand, figures in
//! `docs/reliability.md`.
//!
//! Usage (after `cargo build --release --features entrastream/isal -p entrastream`):
//!   cargo run --release -p entrastream-benches --features isal --example faults -- SCENARIO [flags]
//! SCENARIO: kills | outage | network | takeover | hostile | amqp-kills | all
//! Flags (defaults are the full sizes; see docs/reliability.md for the short ones):
//!   --records N (1000000; outage, amqp-kills: 100000)   --kills N (20)        --checkpoint DUR (5s)
//!   (kills: the records are produced at --rate while the replicas run, kills at random times)
//!   --partitions P (4)     --budget-mib B (64)   --session-ms MS (10000)
//!   --outage-secs S (360)  --rate R (2000 records/s)   --rounds N (10)
//!   --fault-secs S (30)    --pass-secs S (30)    --latency-ms MS (2000)   --ack
//!   --samples DIR (../shared/samples)   --wait-secs S (120)   --seed N (time)
//! Env: FAULTS_KEEP_LOGS=DIR keeps the network scenario's daemon log in DIR.

mod amqp;
mod harness;
mod hostile;
mod kills;
mod network;
mod outage;
mod router;

use std::path::PathBuf;

use harness::Row;

/// Sizes and settings, from the command line.
#[derive(Debug, Clone)]
pub struct Args {
    pub scenario: String,
    pub records: usize,
    pub kills: usize,
    pub checkpoint: String,
    pub partitions: i32,
    pub budget_mib: u64,
    pub session_ms: u64,
    pub outage_secs: u64,
    pub rate: u64,
    pub rounds: usize,
    pub fault_secs: u64,
    pub pass_secs: u64,
    pub latency_ms: u64,
    pub ack: bool,
    pub samples: PathBuf,
    pub wait_secs: u64,
    pub seed: u64,
    /// The command line, for the table.
    pub argv: String,
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    let mut a = Args {
        scenario: argv.first().cloned().unwrap_or_else(|| "all".into()),
        records: 0,
        kills: 20,
        checkpoint: "5s".into(),
        partitions: 4,
        budget_mib: 64,
        session_ms: 10_000,
        outage_secs: 360,
        rate: 2_000,
        rounds: 10,
        fault_secs: 30,
        pass_secs: 30,
        latency_ms: 2_000,
        ack: false,
        samples: PathBuf::from("../shared/samples"),
        wait_secs: 120,
        seed,
        argv: argv.join(" "),
    };
    let mut i = 1;
    while i < argv.len() {
        let flag = argv[i].as_str();
        if flag == "--ack" {
            a.ack = true;
            i += 1;
            continue;
        }
        let v = argv
            .get(i + 1)
            .unwrap_or_else(|| panic!("{flag} needs a value"))
            .clone();
        let num = |what: &str| -> u64 { v.parse().unwrap_or_else(|_| panic!("{what}: a number")) };
        match flag {
            "--records" => a.records = num(flag) as usize,
            "--kills" => a.kills = num(flag) as usize,
            "--checkpoint" => a.checkpoint = v.clone(),
            "--partitions" => a.partitions = num(flag) as i32,
            "--budget-mib" => a.budget_mib = num(flag),
            "--session-ms" => a.session_ms = num(flag),
            "--outage-secs" => a.outage_secs = num(flag),
            "--rate" => a.rate = num(flag),
            "--rounds" => a.rounds = num(flag) as usize,
            "--fault-secs" => a.fault_secs = num(flag),
            "--pass-secs" => a.pass_secs = num(flag),
            "--latency-ms" => a.latency_ms = num(flag),
            "--samples" => a.samples = PathBuf::from(&v),
            "--wait-secs" => a.wait_secs = num(flag),
            "--seed" => a.seed = num(flag),
            other => panic!("unknown flag {other}"),
        }
        i += 2;
    }
    a
}

/// Seconds of a config duration such as `5s`, `500ms` or `1m`.
pub fn parse_secs(d: &str) -> f64 {
    let (num, unit) = d.split_at(d.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(d.len()));
    let n: f64 = num.trim().parse().expect("a duration such as 5s");
    match unit {
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        _ => n,
    }
}

fn main() {
    let a = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("faults: {} (load average {})", a.argv, load.trim());
    let with_records = |default: usize| {
        let mut b = a.clone();
        if b.records == 0 {
            b.records = default;
        }
        b
    };
    let scenarios: Vec<&str> = if a.scenario == "all" {
        vec![
            "kills",
            "outage",
            "network",
            "takeover",
            "hostile",
            "amqp-kills",
        ]
    } else {
        vec![a.scenario.as_str()]
    };
    let mut rows: Vec<Row> = Vec::new();
    for s in scenarios {
        let row = match s {
            "kills" => kills::kills(&with_records(1_000_000)),
            "amqp-kills" => amqp::amqp_kills(&with_records(100_000), &rt),
            "outage" => outage::outage(&with_records(100_000), &rt),
            "network" => network::network(&a, &rt),
            "takeover" => kills::takeover(&a),
            "hostile" => hostile::hostile(&a, &rt),
            other => panic!(
                "unknown scenario {other}: kills | outage | network | takeover | hostile | amqp-kills | all"
            ),
        };
        eprintln!("{}", row.markdown());
        rows.push(row);
    }
    println!(
        "| scenario | records | lost | duplicates | max stall | peak RSS | verdict | notes | command |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---|---|");
    for r in &rows {
        println!("{}", r.markdown());
    }
}
