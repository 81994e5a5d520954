use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_testkit::{HecPeer, HecPeerOptions, SumoPeer};

use crate::support::*;

fn id_of(v: &serde_json::Value) -> Option<String> {
    let p = &v["properties"];
    p["id"]
        .as_str()
        .or(p["requestId"].as_str())
        .map(str::to_owned)
}

fn hec_ids(peer: &HecPeer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in peer.events() {
        if let Some(id) = id_of(&e["event"]) {
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

fn sumo_ids(peer: &SumoPeer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for l in peer.lines() {
        if let Some(id) = serde_json::from_str(&l).ok().as_ref().and_then(id_of) {
            *out.entry(id).or_insert(0) += 1;
        }
    }
    out
}

/// Splunk HEC (indexer ack on) and Sumo Logic at once; Sumo answers 503 for a while. Splunk keeps
/// receiving until the byte budget is reached, the checkpoint is held by Sumo, and after the
/// outage both have every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn two_siem_sinks_one_down_nothing_lost_checkpoint_held_by_the_slower() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("siem", 4);
    let outage = Duration::from_secs(
        std::env::var("E2E_SIEM_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    );
    let traffic = {
        let b = broker.bootstrap.clone();
        tokio::task::spawn_blocking(move || produce(&b, "siem", 4, 20_000, 0, 77))
            .await
            .unwrap()
    };
    let hec = HecPeer::start(HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await;
    let sumo = SumoPeer::start("E2ESUMOSECRET").await;
    sumo.fail_for(503, outage);
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "s",
        &broker.bootstrap,
        "siem",
        "siem-group",
        "max_in_flight_bytes = \"4MiB\"\nbatch_max_bytes = \"256KiB\"\nretry_max = \"500ms\"",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let start_sinks = text.find("[[sinks]]").unwrap();
    let end_sinks = text.find("[dead_letter]").unwrap();
    let sinks = format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\nack_poll_interval = \"50ms\"\nack_timeout = \"5s\"\n\n\
         [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"E2E_SUMO_URL\"\nschema = \"raw\"\n\n",
        hec.url()
    );
    let text = format!("{}{sinks}{}", &text[..start_sinks], &text[end_sinks..]);
    let env = Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_HEC_TOKEN", hec.token().to_string()),
        ("E2E_SUMO_URL", sumo.url()),
    ]);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(
        &config,
        &env,
        Hooks {
            wrap_sink: None,
            extra_sinks: Vec::new(),
        },
    )
    .await
    .unwrap();
    let total: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;

    // While Sumo is down: Splunk receives, then plateaus at the byte budget.
    tokio::time::sleep(outage.mul_f64(0.8)).await;
    let during = hec.event_count();
    assert!(during > 0, "Splunk received nothing while Sumo was down");
    assert!(
        running.health.ready().is_err(),
        "readiness shows the down sink"
    );
    let end = traffic.end_offsets();
    let committed = broker.committed("siem-group", "siem", 4);
    assert!(
        committed.iter().zip(&end).any(|(c, e)| c < e),
        "checkpoint passed records Sumo does not have"
    );
    assert!(
        running.progress.messages_done.load(Ordering::SeqCst) < total,
        "budget did not hold"
    );

    let deadline = Instant::now() + outage + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "did not recover after the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();
    let want = traffic.ids();
    let (h, s) = (hec_ids(&hec), sumo_ids(&sumo));
    let lost_h = want.iter().filter(|id| !h.contains_key(*id)).count();
    let lost_s = want.iter().filter(|id| !s.contains_key(*id)).count();
    assert_eq!((lost_h, lost_s), (0, 0), "records lost (splunk, sumo)");
    assert_eq!(broker.committed("siem-group", "siem", 4), end);
    eprintln!(
        "siem e2e: {} records; splunk had {during} while sumo was down; sumo refused {} requests",
        want.len(),
        sumo.refused_requests()
    );
}
