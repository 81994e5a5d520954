use std::sync::atomic::Ordering;
use std::time::Duration;

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn poison_goes_to_dead_letter_offsets_advance_metrics_valid_no_secret_leaks() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("poison", 3);
    let traffic = produce(&broker.bootstrap, "poison", 3, 6000, 16, 11);
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = daemon_config(
        dir.path(),
        "p",
        &broker.bootstrap,
        "poison",
        "poison-group",
        "",
    );
    let text = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("enabled = false", "listen = \"127.0.0.1:0\"");
    let env = Env::from_pairs([("E2E_SASL_PASSWORD", SECRET)]);
    let config = Config::from_str(&text, false, &env).unwrap();
    assert!(!format!("{config:?}").contains(SECRET));
    assert!(!config.to_toml().contains(SECRET));
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total_messages: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total_messages {
        assert!(
            std::time::Instant::now() < deadline,
            "pipeline did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // let one checkpoint interval pass so the scrape includes a commit of everything
    let commits = running.progress.commits.load(Ordering::SeqCst);
    while running.progress.commits.load(Ordering::SeqCst) <= commits {
        assert!(std::time::Instant::now() < deadline, "no checkpoint commit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = running.admin_addr.unwrap().to_string();
    let metrics = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || http_get(&addr, "/metrics")
    })
    .await
    .unwrap();
    let status = tokio::task::spawn_blocking(move || http_get(&addr, "/status"))
        .await
        .unwrap();
    let summary = running.stop().await.unwrap();

    // every good record delivered
    let seen = ids_in(&dir.path().join("p-records.ndjson"));
    let missing: Vec<_> = traffic
        .ids()
        .into_iter()
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "{} records missing", missing.len());
    // poison dead-lettered with partition, offset and reason
    let dl = std::fs::read_to_string(dir.path().join("p-dead-letter.ndjson")).unwrap();
    let dl: Vec<serde_json::Value> = dl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        dl.len() >= traffic.poison,
        "{} dead-letter lines for {} poison messages",
        dl.len(),
        traffic.poison
    );
    for d in &dl {
        assert!(
            d["partition"].is_i64()
                && d["offset"].is_i64()
                && d["reason"].is_string()
                && d["error"].is_string(),
            "{d}"
        );
    }
    // offsets advanced past the poison, to the end of every partition
    assert_eq!(
        broker.committed("poison-group", "poison", 3),
        traffic.end_offsets()
    );
    assert_eq!(summary.committed.len(), 3);
    // metrics: names, and promtool accepts the scrape
    let body = metrics
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    for name in [
        "entrastream_records_in_total",
        "entrastream_records_out_total",
        "entrastream_dead_lettered_total",
        "entrastream_sink_request_duration_seconds_bucket",
        "entrastream_in_flight_bytes",
        "entrastream_committed_offset",
        "entrastream_checkpoint_commits_total",
        // issue 17: which build runs, and the process collector's series
        "entrastream_build_info{",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(body.contains(name), "{name} missing from /metrics");
    }
    assert_promtool_accepts(&body);
    // no secret in metrics or status
    assert!(!body.contains(SECRET));
    assert!(!status.contains(SECRET));
}
