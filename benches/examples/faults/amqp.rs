//! Scenario 6: scenario 1's kills against the AMQP source. The in-repo Event Hubs peer
//! (`crates/eventhubs-peer`) stands in for the service; the two replicas share a file checkpoint
//! and ownership store (`[checkpoint] type = "file"`, safe for several processes on one host),
//! each with its own stable `owner_id`, so a restarted replica takes its partitions back at once
//! instead of waiting for its old claims to expire. A checkpoint write here is the store's
//! locked temp-file-and-rename, the step the issue asks kills to hit.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use entrastream_eventhubs_peer::{EventHubsPeer, PeerConfig};

use crate::Args;
use crate::harness::{file_sink, paced_envelopes};
use crate::kills::{Replicas, finish_kill_run, kill_at_random_times, kill_row};

const HUB: &str = "kills";

/// A replica's config: AMQP source on the peer, file sink, shared file store.
fn config(a: &Args, peer: &EventHubsPeer, dir: &Path, name: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[log]
format = "json"
level = "info"

[source]
type = "amqp"
connection_string = {cs:?}
custom_endpoint = {endpoint:?}
start_position = "earliest"
owner_id = "{name}"
update_interval = "2s"
ownership_expiry = "10s"

[checkpoint]
type = "file"
path = {store:?}

[pipeline]
checkpoint_interval = "{checkpoint}"
drain_timeout = "4s"
shutdown_timeout = "15s"
max_in_flight_bytes = "{budget}MiB"

{sink}

[dead_letter]
path = {dl:?}
rotate_bytes = 0

[admin]
enabled = false
"#,
        cs = peer.connection_string(HUB),
        endpoint = peer.endpoint(),
        store = dir.join("checkpoints").display().to_string(),
        checkpoint = a.checkpoint,
        budget = a.budget_mib,
        sink = file_sink(&dir.join(format!("{name}-records.ndjson"))),
        dl = dir
            .join(format!("{name}-dead-letter.ndjson"))
            .display()
            .to_string(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// Appends generated envelopes of 25 records to the peer's partitions in turn at `rate`
/// records/s until `limit` records; returns every id appended.
fn produce(
    peer: EventHubsPeer,
    partitions: i32,
    rate: u64,
    seed: u64,
    limit: u64,
    stop: Arc<AtomicBool>,
) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut messages = 0u64;
    paced_envelopes(rate, seed, limit, &stop, |buf, new| {
        peer.append(
            HUB,
            &(messages % partitions as u64).to_string(),
            buf.to_vec(),
        );
        messages += 1;
        ids.extend(new);
    });
    ids
}

pub fn amqp_kills(a: &Args, rt: &tokio::runtime::Runtime) -> crate::harness::Row {
    let peer = rt
        .block_on(EventHubsPeer::start(PeerConfig::single_hub(
            HUB,
            a.partitions as u32,
        )))
        .expect("Event Hubs peer");
    let dir = tempfile::tempdir().expect("temp dir");
    let cp = Duration::from_secs_f64(crate::parse_secs(&a.checkpoint));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (peer, stop) = (peer.clone(), stop.clone());
        let (partitions, rate, seed, limit) = (a.partitions, a.rate, a.seed, a.records as u64);
        std::thread::spawn(move || produce(peer, partitions, rate, seed, limit, stop))
    };
    let configs = [
        config(a, &peer, dir.path(), "a"),
        config(a, &peer, dir.path(), "b"),
    ];
    let mut reps = Replicas::from_configs(dir.path(), configs);
    let mut run = kill_at_random_times(a, &mut reps, cp);
    let want = producer.join().expect("producer thread");
    let produced_in = run.t0.elapsed();
    eprintln!(
        "amqp-kills: appended {} records in {:.0} s",
        want.len(),
        produced_in.as_secs_f64()
    );
    // Done when every id was delivered: the store's checkpoints are checked by the clean stop
    // (it commits what is done) and the loss count below.
    let done = finish_kill_run(
        &mut reps,
        &mut run,
        want.len(),
        Duration::from_secs(5),
        |reps| {
            let got = reps.ids();
            want.iter().all(|id| got.contains_key(id))
        },
    );
    stop.store(true, Ordering::Relaxed);
    kill_row(
        a,
        "6. AMQP (Event Hubs peer, file store): kill -9",
        &run,
        &want,
        done,
        reps.peak_rss_mib,
        cp,
        produced_in,
        "amqp-kills",
    )
}
