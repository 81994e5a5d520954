//! The producers: the generated input, the backlog in nisshi, the same bodies in the Event Hubs
//! peer, the larger backlog of the stalled-sink run, and the trickle of the 32-partition run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entrastream_eventhubs_peer::EventHubsPeer;
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_testkit::kafka::{Broker, Producing};

use crate::MIB;
use crate::args::Args;

/// Generator seed 7 (as `realistic_bodies`), envelopes until exactly `records` records.
pub fn generate(records: u64, mut each: impl FnMut(&[u8])) {
    let mut generator = Generator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    })
    .expect("the default generator config is valid");
    let mut buf = Vec::new();
    let mut n = 0u64;
    while n < records {
        buf.clear();
        let remaining = (records - n) as usize;
        let info = if remaining < 50 {
            generator.next_envelope_with(remaining, &mut buf)
        } else {
            generator.next_envelope(&mut buf)
        };
        n += info.records as u64;
        each(&buf);
    }
}

/// Step 1: the input, once: the generated bodies and their total size.
pub fn input(records: u64) -> (Vec<Vec<u8>>, u64) {
    let t = Instant::now();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    generate(records, |b| bodies.push(b.to_vec()));
    let input_bytes: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    eprintln!(
        "generated {} messages, {:.1} MB in {:.1}s",
        bodies.len(),
        input_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    (bodies, input_bytes)
}

/// Step 3: the backlog in nisshi, topic `e2e`: (messages, bytes) produced.
pub fn into_nisshi(broker: &Broker, bodies: &[Vec<u8>], partitions: i32) -> (u64, u64) {
    let t = Instant::now();
    broker.create_topic("e2e", partitions);
    let mut p = Producing::new(&broker.bootstrap, "e2e", partitions);
    for b in bodies {
        p.send(b);
    }
    let (messages, produced) = p.finish();
    eprintln!(
        "produced {messages} messages, {:.1} MB into nisshi in {:.1}s",
        produced as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    (messages, produced)
}

/// Step 3b: the same bodies in the Event Hubs peer's hub `e2e`, with the same partition spread.
pub fn into_event_hubs(peer: &EventHubsPeer, bodies: &[Vec<u8>], partitions: i32) {
    for (i, b) in bodies.iter().enumerate() {
        peer.append("e2e", &(i % partitions as usize).to_string(), b.clone());
    }
}

/// One event on each of the 32 partitions of hub `idle` every second until `stop`, so that
/// checkpoints keep moving.
pub fn trickle(peer32: EventHubsPeer, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut body = Vec::new();
        generate(1, |b| body = b.to_vec());
        while !stop.load(Ordering::Relaxed) {
            for p in 0..32 {
                peer32.append("idle", &p.to_string(), body.clone());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// Step 5: a backlog of at least `--backlog-mib` for the stalled sink: topic `e2e` when it is large
/// enough, else a new topic `backlog`. Returns the topic and its bytes.
pub fn stall_backlog(broker: &Broker, args: &Args, produced: u64) -> (String, u64) {
    let backlog_target = args.backlog_mib * MIB;
    if produced >= backlog_target {
        return ("e2e".to_string(), produced);
    }
    let t = Instant::now();
    broker.create_topic("backlog", args.partitions);
    let mut p = Producing::new(&broker.bootstrap, "backlog", args.partitions);
    let mut generator = Generator::new(GeneratorConfig {
        seed: 7,
        ..GeneratorConfig::default()
    })
    .expect("generator");
    let mut buf = Vec::new();
    while p.bytes < backlog_target {
        buf.clear();
        generator.next_envelope(&mut buf);
        p.send(&buf);
    }
    let (_, b) = p.finish();
    eprintln!(
        "produced a {:.1} MB backlog into nisshi in {:.1}s",
        b as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    ("backlog".to_string(), b)
}
