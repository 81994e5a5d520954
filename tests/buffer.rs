//! The disk buffer (issue 13) in the daemon: its metrics and `/status` while a buffered sink's
//! peer is down, a full buffer pausing the partitions without dropping anything, and `kill -9`
//! while the buffer drains to a flapping peer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_testkit::SumoPeer;

use crate::support::*;

/// Record ids in the Sumo peer, with how often each arrived.
fn sumo_ids(peer: &SumoPeer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for l in peer.lines() {
        if let Some(id) = record_id_in(l.as_bytes()) {
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

/// A Sumo Logic sink (URL from `E2E_SUMO_URL`) behind a disk buffer in `dir`.
fn buffered_sumo(dir: &std::path::Path, max_size: &str) -> String {
    format!(
        "[[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"E2E_SUMO_URL\"\nschema = \"raw\"\n\
         buffer = {{ type = \"disk\", path = \"{}\", max_size = \"{max_size}\" }}\n\n",
        dir.display()
    )
}

fn env_with_sumo(sumo: &SumoPeer) -> Env {
    Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_SUMO_URL", sumo.url()),
    ])
}

/// One sample of a scrape, `name` including its labels (`…{sink="sumo"}`).
fn sample(text: &str, name: &str) -> f64 {
    metric_value(text, name).unwrap_or_else(|| panic!("{name} missing from\n{text}"))
}

/// The body of `GET path` from the admin server.
async fn get(addr: &str, path: &'static str) -> String {
    let addr = addr.to_string();
    let answer = tokio::task::spawn_blocking(move || http_get(&addr, path))
        .await
        .expect("http get");
    match answer.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_string(),
        None => answer,
    }
}

/// `/metrics` and `/status` show the buffer as it is: while Sumo answers 503, every record sits
/// in its buffer (records, bytes, age, retries), and once Sumo is back the buffer empties.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn buffer_metrics_and_status_show_the_buffer_filling_and_draining() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "bufmetrics", 2, 3_000, 83).await;
    let sumo = SumoPeer::start("E2ESUMOBUFMETRICSSECRET").await;
    sumo.fail_for(503, Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "m",
        &broker.bootstrap,
        "bufmetrics",
        "bufmetrics-group",
        "retry_max = \"300ms\"",
    );
    let buffer_dir = dir.path().join("sumo-buffer");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("enabled = false", "listen = \"127.0.0.1:0\"");
    let text = add_sinks(&text, &buffered_sumo(&buffer_dir, "64MiB"));
    let env = env_with_sumo(&sumo);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let addr = running.admin_addr.unwrap().to_string();
    let end = traffic.end_offsets();
    let total = traffic.ids().len() as f64;

    // Sumo down: the checkpoint reaches the end, everything waits in the buffer.
    let deadline = Instant::now() + Duration::from_secs(60);
    while broker.committed("bufmetrics-group", "bufmetrics", 2) != end {
        assert!(Instant::now() < deadline, "no checkpoint progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let text = get(&addr, "/metrics").await;
    assert_promtool_accepts(&text);
    let s = |n: &str| sample(&text, &format!("{n}{{sink=\"sumo\"}}"));
    assert_eq!(s("entrastream_buffer_records"), total);
    assert_eq!(s("entrastream_buffer_written_records_total"), total);
    assert_eq!(s("entrastream_buffer_max_bytes"), (64u64 << 20) as f64);
    let bytes = s("entrastream_buffer_bytes");
    assert!(bytes > total * 100.0, "{bytes} bytes for {total} records");
    assert!(s("entrastream_buffer_disk_bytes") >= bytes);
    assert!(s("entrastream_buffer_written_bytes_total") >= bytes);
    assert!(s("entrastream_buffer_segments") >= 1.0);
    assert!(s("entrastream_buffer_oldest_record_age_seconds") >= 1.0);
    assert!(s("entrastream_buffer_drain_retries_total") >= 1.0);
    assert_eq!(s("entrastream_buffer_full"), 0.0);
    assert_eq!(s("entrastream_buffer_delivered_records_total"), 0.0);
    assert_eq!(s("entrastream_buffer_corrupt_records_total"), 0.0);
    let status: serde_json::Value = serde_json::from_str(&get(&addr, "/status").await).unwrap();
    let b = &status["buffers"][0];
    assert_eq!(b["sink"], "sumo", "{status}");
    assert_eq!(b["type"], "disk");
    assert_eq!(b["path"], buffer_dir.display().to_string());
    assert_eq!(b["max_size"], "64MiB");
    assert_eq!(b["records"].as_f64(), Some(total));
    assert_eq!(b["full"], false);
    assert!(b["bytes"].as_f64().unwrap() > 0.0);
    assert_eq!(status["buffers"].as_array().unwrap().len(), 1, "{status}");

    // Sumo back: the buffer drains, the gauges fall to zero, the counters show what went.
    sumo.fail_for(503, Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = get(&addr, "/metrics").await;
        if metric_value(&text, "entrastream_buffer_records{sink=\"sumo\"}") == Some(0.0) {
            let s = |n: &str| sample(&text, &format!("{n}{{sink=\"sumo\"}}"));
            assert_eq!(s("entrastream_buffer_delivered_records_total"), total);
            assert_eq!(s("entrastream_buffer_bytes"), 0.0);
            assert_eq!(s("entrastream_buffer_oldest_record_age_seconds"), 0.0);
            assert!(s("entrastream_buffer_read_bytes_total") >= bytes);
            assert!(s("entrastream_buffer_position_writes_total") >= 1.0);
            assert!(
                s("entrastream_buffer_read_from_memory_bytes_total")
                    <= s("entrastream_buffer_read_bytes_total")
            );
            break;
        }
        assert!(Instant::now() < deadline, "the buffer did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status: serde_json::Value = serde_json::from_str(&get(&addr, "/status").await).unwrap();
    assert_eq!(status["buffers"][0]["records"], 0, "{status}");
    running.stop().await.unwrap();
    let got = sumo_ids(&sumo);
    assert!(traffic.ids().iter().all(|id| got.contains_key(id)));
}

/// Issue 13, test 3: a buffer at its (small) `max_size` is backpressure: its sink stops
/// accepting, the byte budget fills, partitions pause, the checkpoint holds and nothing is
/// dropped or dead-lettered; once the peer is back everything arrives everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn a_full_buffer_pauses_the_partitions_drops_nothing_and_recovers() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "buffull", 4, 20_000, 89).await;
    let sumo = SumoPeer::start("E2ESUMOBUFFULLSECRET").await;
    sumo.fail_for(503, Duration::from_secs(600));
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "f",
        &broker.bootstrap,
        "buffull",
        "buffull-group",
        "max_in_flight_bytes = \"4MiB\"\nbatch_max_bytes = \"256KiB\"\nretry_max = \"300ms\"",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let text = add_sinks(&text, &buffered_sumo(&dir.path().join("buf"), "1MiB"));
    let env = env_with_sumo(&sumo);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let end = traffic.end_offsets();
    let want = traffic.ids();

    // Full: the buffer refuses, the partitions pause.
    let deadline = Instant::now() + Duration::from_secs(60);
    let full_text = loop {
        let text = running.metrics.render();
        let full = metric_value(&text, "entrastream_buffer_full{sink=\"sumo\"}") == Some(1.0);
        if full && running.metrics.paused_partitions.get() > 0 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the buffer never filled and paused the partitions:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let written = sample(
        &full_text,
        "entrastream_buffer_written_bytes_total{sink=\"sumo\"}",
    );
    let disk = sample(&full_text, "entrastream_buffer_disk_bytes{sink=\"sumo\"}");
    // A full buffer takes nothing more for a while, and holds the checkpoint.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = running.metrics.render();
    assert_eq!(
        sample(
            &text,
            "entrastream_buffer_written_bytes_total{sink=\"sumo\"}"
        ),
        written,
        "a full buffer accepted records"
    );
    assert_eq!(sample(&text, "entrastream_buffer_full{sink=\"sumo\"}"), 1.0);
    assert!(running.metrics.paused_partitions.get() > 0);
    assert!(
        disk <= (4u64 << 20) as f64,
        "{disk} bytes on disk for a 1 MiB buffer"
    );
    let held = broker.committed("buffull-group", "buffull", 4);
    assert_ne!(
        held, end,
        "the checkpoint passed records a full buffer refused"
    );
    let dead_letter = dir.path().join("f-dead-letter.ndjson");
    assert_eq!(line_count(&dead_letter), 0, "records were dead-lettered");
    let paused_at = Instant::now();

    // Recovery: Sumo back, the buffer drains, the partitions resume, everything arrives.
    sumo.fail_for(503, Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let done = broker.committed("buffull-group", "buffull", 4) == end;
        let s = sumo_ids(&sumo);
        if done && want.iter().all(|id| s.contains_key(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery: committed {:?} of {end:?}, Sumo has {} of {}",
            broker.committed("buffull-group", "buffull", 4),
            s.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let recovered = paused_at.elapsed();
    let text = running.metrics.render();
    assert_eq!(running.metrics.paused_partitions.get(), 0);
    running.stop().await.unwrap();
    let file = ids_in(&dir.path().join("f-records.ndjson"));
    assert!(
        want.iter().all(|id| file.contains_key(id)),
        "file sink lost records"
    );
    assert_eq!(line_count(&dead_letter), 0, "records were dead-lettered");
    eprintln!(
        "full buffer: {} records, {disk} disk bytes at the 1 MiB bound, recovered in {:.1} s, {} pauses",
        want.len(),
        recovered.as_secs_f64(),
        metric_value(&text, "entrastream_partition_pauses_total").unwrap_or(0.0)
    );
}

/// Issue 13, test 2: the whole stream goes into Sumo's buffer while Sumo is down; then Sumo
/// flaps (503 half of the time) and the daemon is killed with `kill -9` five times while the
/// buffer drains, restarting each time → every record in both sinks, duplicates counted (the
/// buffer resends what its sink had not acknowledged).
// Four workers: the waits below block one, the Sumo peer and the flapping need the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::await_holding_lock)]
async fn kill_9_while_the_buffer_drains_to_a_flapping_peer_loses_nothing() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "bufkill", 4, 20_000, 97).await;
    let sumo = Arc::new(SumoPeer::start("E2ESUMOBUFKILLSECRET").await);
    // Down at first, so that the whole stream is in the buffer before the kills; then flapping.
    sumo.fail_for(503, Duration::from_secs(600));
    let flapping = Arc::new(AtomicBool::new(true));
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let path = daemon_config(
        dir.path(),
        "k",
        &broker.bootstrap,
        "bufkill",
        "bufkill-group",
        "retry_max = \"300ms\"",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("enabled = false", &format!("listen = \"127.0.0.1:{port}\""));
    // Small Sumo requests so that the drain takes several seconds and the kills land in it.
    let sinks = buffered_sumo(&dir.path().join("buf"), "512MiB").replace(
        "schema = \"raw\"",
        "schema = \"raw\"\nmax_request_bytes = 65536\nconcurrency = 1",
    );
    std::fs::write(&path, add_sinks(&text, &sinks)).unwrap();
    let env = [("E2E_SUMO_URL".to_string(), sumo.url())];
    let want = traffic.ids();
    let end = traffic.end_offsets();
    let kills = [2_000usize, 5_000, 8_000, 11_000, 14_000];
    let mut d = Daemon::start_with_env(&path, &env);
    wait_for_daemon(
        &d,
        "the stream in the buffer",
        Duration::from_secs(60),
        || broker.committed("bufkill-group", "bufkill", 4) == end,
    );
    assert_eq!(sumo.line_count(), 0, "Sumo took records while down");
    // Flapping: down 1 s of every 2 s until the test ends; the drain runs from the buffer only.
    let flapper = tokio::spawn({
        let (sumo, flapping) = (sumo.clone(), flapping.clone());
        async move {
            while flapping.load(Ordering::Relaxed) {
                sumo.fail_for(503, Duration::from_secs(1));
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    });
    for (k, at) in kills.iter().enumerate() {
        if k > 0 {
            d = Daemon::start_with_env(&path, &env);
        }
        let sumo_w = sumo.clone();
        wait_for_daemon(
            &d,
            &format!("{at} records in Sumo before kill {k}"),
            Duration::from_secs(60),
            || sumo_w.line_count() >= *at,
        );
        let before = sumo_ids(&sumo).len();
        assert!(
            before < want.len(),
            "kill {k} came after the buffer had drained ({before} records in Sumo)"
        );
        d.kill9();
        eprintln!("kill {k} with {before} distinct records in Sumo");
    }
    let mut d = Daemon::start_with_env(&path, &env);
    let sumo_w = sumo.clone();
    wait_for_daemon(&d, "every record in Sumo", Duration::from_secs(90), || {
        let s = sumo_ids(&sumo_w);
        want.iter().all(|id| s.contains_key(id))
    });
    wait_for_daemon(&d, "everything committed", Duration::from_secs(30), || {
        broker.committed("bufkill-group", "bufkill", 4) == end
    });
    let scrape = http_get(&format!("127.0.0.1:{port}"), "/metrics");
    let scrape = scrape
        .split_once("\r\n\r\n")
        .map_or(scrape.as_str(), |(_, b)| b);
    d.term();
    assert!(
        d.wait_timeout(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        d.log_text()
    );
    flapping.store(false, Ordering::Relaxed);
    flapper.abort();
    let s = sumo_ids(&sumo);
    let file = ids_in(&dir.path().join("k-records.ndjson"));
    let lost_sumo = want.iter().filter(|id| !s.contains_key(*id)).count();
    let lost_file = want.iter().filter(|id| !file.contains_key(*id)).count();
    assert_eq!((lost_sumo, lost_file), (0, 0), "records lost (Sumo, file)");
    let dup_sumo: usize = s.values().map(|n| n - 1).sum();
    let dup_file: usize = file.values().map(|n| n - 1).sum();
    let replayed = metric_value(
        scrape,
        "entrastream_buffer_replayed_records_total{sink=\"sumo\"}",
    );
    assert_eq!(line_count(&dir.path().join("k-dead-letter.ndjson")), 0);
    // What a kill can make Sumo receive twice: the requests the drain had sent but not yet
    // acknowledged in the buffer, one read batch (64 KiB) per kill; records are > 100 bytes.
    let bound = kills.len() * (64 << 10) / 100;
    eprintln!(
        "kill -9 ×{} while draining: {} records, 0 lost; duplicates: Sumo {dup_sumo} (bound {bound}), file {dup_file}; \
         the last restart resent {replayed:?} buffered records",
        kills.len(),
        want.len()
    );
    assert!(dup_sumo <= bound, "{dup_sumo} duplicates in Sumo > {bound}");
    // That each kill landed while the buffer was draining is asserted before it (fewer records
    // in Sumo than sent). How many records the last restart resends depends on whether the kill
    // hit a request in flight or the gap between two, so it is reported, not asserted (a loaded
    // CI machine gave 0 once).
    assert!(
        replayed.is_some(),
        "the buffer's replayed counter is missing from /metrics"
    );
}
