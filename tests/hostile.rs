//! Records whose own values are hostile to the sinks' requests (control characters, line
//! breaks, 10 KB and non-ASCII categories and metadata) through every sink type: the file sink,
//! Splunk HEC's event and raw endpoints and Sumo Logic. Each record is delivered or
//! dead-lettered with a reason by each sink, and the rest of the stream flows (issue 12,
//! item 2: a category ending in a line break used to stall the Sumo sink for good).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_testkit::{HecPeer, HecPeerOptions, SumoPeer};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::support::*;

/// Record `i`'s hostile change (one in six records is left as generated).
fn make_hostile(i: usize, record: &mut serde_json::Value) {
    let long_non_ascii = "ä登\u{7}".repeat(2_000);
    match i % 6 {
        0 => {}
        1 => record["category"] = "SignIn\nLogs\r".into(),
        2 => record["category"] = "x".repeat(10_240).into(),
        3 => record["category"] = "Anmeldeprotokolle-äöü-登录-\u{7}".into(),
        4 => {
            record["tenantId"] = "tenant\u{0}\n\u{1b}[31m".into();
            record["operationName"] = long_non_ascii.into();
            record["resourceId"] = "/tenants/\r\n/x".into();
        }
        _ => record["category"] = "\n".into(),
    }
}

/// Generated envelopes with hostile records, produced to `topic` (envelope `n` to partition
/// `n % partitions`); returns the ids of every record.
fn produce_hostile(bootstrap: &str, topic: &str, partitions: i32, envelopes: usize) -> Vec<String> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let mut generator = Generator::new(GeneratorConfig {
        seed: 1212,
        ..Default::default()
    })
    .expect("generator");
    let mut ids = Vec::new();
    let mut buf = Vec::new();
    let mut i = 0;
    for n in 0..envelopes {
        buf.clear();
        generator.next_envelope_with(20, &mut buf);
        let mut v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        for r in v["records"].as_array_mut().unwrap() {
            make_hostile(i, r);
            i += 1;
        }
        let body = serde_json::to_vec(&v).unwrap();
        ids.extend(record_ids(&body));
        let p = (n % partitions as usize) as i32;
        while producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .partition(p)
                    .payload(&body),
            )
            .is_err()
        {
            producer.poll(Duration::from_millis(10));
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    ids
}

const SINKS: [&str; 4] = ["file", "hec_event", "hec_raw", "sumo"];

fn id_of_line(line: &str) -> Option<String> {
    record_id_in(line.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn hostile_categories_and_metadata_are_delivered_or_dead_lettered_by_every_sink() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("hostile", 2);
    let ids = {
        let b = broker.bootstrap.clone();
        tokio::task::spawn_blocking(move || produce_hostile(&b, "hostile", 2, 30))
            .await
            .unwrap()
    };
    let event = HecPeer::start(HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await;
    let raw = HecPeer::start(HecPeerOptions::default()).await;
    let sumo = SumoPeer::start("E2EHOSTILESUMO").await;
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "h",
        &broker.bootstrap,
        "hostile",
        "hostile-group",
        "batch_max_bytes = \"64KiB\"\nretry_max = \"200ms\"",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sinks = format!(
        "[[sinks]]\nname = \"hec_event\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\nack_poll_interval = \"20ms\"\n\n\
         [[sinks]]\nname = \"hec_raw\"\ntype = \"splunk_hec\"\napi = \"raw\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\n\n\
         [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"E2E_SUMO_URL\"\nschema = \"raw\"\nbatch_timeout = \"200ms\"\n\n",
        event.url(),
        raw.url()
    );
    let text = add_sinks(&text, &sinks);
    let env = Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_HEC_TOKEN", event.token().to_string()),
        ("E2E_SUMO_URL", sumo.url()),
    ]);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total = 30u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "a sink stalled: {} of {total} messages done",
            running.progress.messages_done.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();

    // What each sink delivered.
    let mut delivered: HashMap<&str, HashSet<String>> = HashMap::new();
    delivered.insert(
        "file",
        ids_in(&dir.path().join("h-records.ndjson"))
            .into_keys()
            .collect(),
    );
    let from_events = |peer: &HecPeer, raw: bool| -> HashSet<String> {
        peer.events()
            .iter()
            .filter_map(|e| {
                if raw {
                    id_of_line(e["event"].as_str()?)
                } else {
                    id_of_line(&e["event"].to_string())
                }
            })
            .collect()
    };
    delivered.insert("hec_event", from_events(&event, false));
    delivered.insert("hec_raw", from_events(&raw, true));
    delivered.insert(
        "sumo",
        sumo.lines().iter().filter_map(|l| id_of_line(l)).collect(),
    );
    // What each sink dead-lettered, with its reason.
    let dl = std::fs::read_to_string(dir.path().join("h-dead-letter.ndjson")).unwrap_or_default();
    let dead: Vec<serde_json::Value> = dl
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for d in &dead {
        assert!(
            d["error"].as_str().is_some_and(|e| !e.is_empty()) && d["reason"].is_string(),
            "a dead letter without a reason: {d}"
        );
    }
    let mut missing = Vec::new();
    for sink in SINKS {
        for id in &ids {
            let ok = delivered[sink].contains(id)
                || dead.iter().any(|d| {
                    // This sink's rejection, or the parser's (before any sink).
                    (d["source"] == sink || !SINKS.iter().any(|s| d["source"] == *s))
                        && d["raw"].as_str().is_some_and(|r| r.contains(id.as_str()))
                });
            if !ok {
                missing.push(format!("{sink}: {id}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} neither delivered nor dead-lettered: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        broker.committed("hostile-group", "hostile", 2),
        vec![15, 15]
    );
    // Sumo's categories are header-safe.
    for r in sumo.requests() {
        let c = r.category.unwrap_or_default();
        assert!(
            c.len() <= 128 && c.bytes().all(|b| b.is_ascii_graphic()),
            "{c:?}"
        );
    }
    eprintln!(
        "hostile e2e: {} records; delivered file {}, hec_event {}, hec_raw {}, sumo {}; {} dead letters",
        ids.len(),
        delivered["file"].len(),
        delivered["hec_event"].len(),
        delivered["hec_raw"].len(),
        delivered["sumo"].len(),
        dead.len()
    );
}
