use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_testkit::{HecPeer, SumoPeer};

use crate::support::*;

/// The environment of a config with both SIEM sinks: the SASL password, the HEC token and the
/// Sumo URL, each from its peer.
fn siem_env(hec: &HecPeer, sumo: &SumoPeer) -> Env {
    Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_HEC_TOKEN", hec.token().to_string()),
        ("E2E_SUMO_URL", sumo.url()),
    ])
}

/// A Splunk HEC sink with indexer acknowledgement, records in the raw schema.
fn acked_hec_sink(hec: &HecPeer) -> String {
    format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\nack_poll_interval = \"50ms\"\nack_timeout = \"5s\"\n\n",
        hec.url()
    )
}

/// Issue 13's daemon: Splunk HEC with indexer acknowledgement and Sumo Logic behind a disk
/// buffer in `dir`, reading `topic` (group `<topic>-group`); `(in_flight, buffer)` are the
/// pipeline's `max_in_flight_bytes` and the buffer's `max_size`.
fn splunk_and_buffered_sumo(
    dir: &std::path::Path,
    broker: &Broker,
    topic: &str,
    (in_flight, buffer): (&str, &str),
    (hec, sumo): (&HecPeer, &SumoPeer),
) -> (Config, Env) {
    let path = daemon_config(
        dir,
        topic,
        &broker.bootstrap,
        topic,
        &format!("{topic}-group"),
        &format!(
            "max_in_flight_bytes = \"{in_flight}\"\nbatch_max_bytes = \"256KiB\"\nretry_max = \"500ms\""
        ),
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sinks = format!(
        "{}[[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"E2E_SUMO_URL\"\nschema = \"raw\"\n\
         buffer = {{ type = \"disk\", path = \"{}\", max_size = \"{buffer}\" }}\n\n",
        acked_hec_sink(hec),
        dir.join("sumo-buffer").display()
    );
    let text = replace_sinks(&text, &sinks);
    let env = siem_env(hec, sumo);
    let config = Config::from_str(&text, false, &env).unwrap();
    (config, env)
}

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
    let outage = Duration::from_secs(
        std::env::var("E2E_SIEM_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    );
    let traffic = produce_topic(&broker, "siem", 4, 20_000, 77).await;
    let hec = acked_hec_peer().await;
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
    let sinks = format!(
        "{}[[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"E2E_SUMO_URL\"\nschema = \"raw\"\n\n",
        acked_hec_sink(&hec)
    );
    let text = replace_sinks(&text, &sinks);
    let env = siem_env(&hec, &sumo);
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

/// The Splunk HEC and Sumo Logic sinks' own metrics on `/metrics` after a run against the
/// peers (with a 503 and a lost indexer ack on the HEC side), labelled by sink name; promtool
/// accepts the scrape; neither the HEC token nor the Sumo URL appears in it. Also: with small
/// pipeline batches, Sumo still gets requests between 100 KB and 1 MB (the last may be smaller).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn siem_sink_metrics_are_exported_per_sink_promtool_clean_without_secrets() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "siemmetrics", 2, 6_000, 78).await;
    let hec = acked_hec_peer().await;
    hec.fail_for(503, 9, Duration::from_millis(300));
    hec.lose_next_acks(1);
    let sumo_secret = "E2ESUMOMETRICSURLSECRET";
    let sumo = SumoPeer::start(sumo_secret).await;
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "m",
        &broker.bootstrap,
        "siemmetrics",
        "siemmetrics-group",
        "batch_max_bytes = \"64KiB\"\nretry_max = \"200ms\"",
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("enabled = false", "listen = \"127.0.0.1:0\"");
    let sinks = format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nindexer_ack = true\nack_poll_interval = \"20ms\"\nack_timeout = \"1s\"\n\n\
         [[sinks]]\nname = \"sumo\"\ntype = \"sumo_logic\"\nurl_env = \"E2E_SUMO_URL\"\nsumo_category = \"azure/entra\"\nbatch_timeout = \"5s\"\n\n",
        hec.url()
    );
    let text = replace_sinks(&text, &sinks);
    let env = siem_env(&hec, &sumo);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(Instant::now() < deadline, "pipeline did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr = running.admin_addr.unwrap().to_string();
    let scrape = tokio::task::spawn_blocking(move || http_get(&addr, "/metrics"))
        .await
        .unwrap();
    running.stop().await.unwrap();
    let body = scrape
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();

    for want in [
        "entrastream_sink_http_requests_total{code=\"0\",sink=\"splunk\",status=\"200\"}",
        "entrastream_sink_http_requests_total{code=\"9\",sink=\"splunk\",status=\"503\"}",
        "entrastream_sink_http_requests_total{code=\"none\",sink=\"sumo\",status=\"200\"}",
        "entrastream_sink_http_request_bytes_total{sink=\"splunk\"}",
        "entrastream_sink_http_wire_bytes_total{sink=\"sumo\"}",
        "entrastream_sink_http_request_size_bytes_bucket{sink=\"sumo\",le=\"1000000\"}",
        "entrastream_sink_batch_records_bucket{sink=\"splunk\",le=\"+Inf\"}",
        "entrastream_sink_http_request_duration_seconds_count{sink=\"sumo\"}",
        "entrastream_sink_pending_acks{sink=\"splunk\"} 0",
        "entrastream_sink_healthy{sink=\"splunk\"} 1",
        "entrastream_sink_healthy{sink=\"sumo\"} 1",
        "entrastream_sink_retries_total{sink=\"splunk\"}",
    ] {
        assert!(body.contains(want), "{want} missing from /metrics:\n{body}");
    }
    let value = |series: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} missing"))
    };
    // the lost ack was resent: its records are counted as possible duplicates
    assert!(value("entrastream_sink_duplicates_total{sink=\"splunk\"}") >= 1.0);
    // gzip is on: fewer bytes on the wire than in the bodies
    for sink in ["splunk", "sumo"] {
        let raw = value(&format!(
            "entrastream_sink_http_request_bytes_total{{sink=\"{sink}\"}}"
        ));
        let wire = value(&format!(
            "entrastream_sink_http_wire_bytes_total{{sink=\"{sink}\"}}"
        ));
        assert!(
            wire > 0.0 && wire < raw,
            "{sink}: {wire} on the wire for {raw}"
        );
    }
    assert_promtool_accepts(&body);
    for secret in [hec.token(), sumo_secret, SECRET] {
        assert!(!body.contains(secret), "a secret is in /metrics");
    }

    // Sumo: small pipeline batches (64 KiB of messages) were merged up to 100 KB; nothing
    // above 1 MB; only the last request may be smaller (the end of the stream).
    let sizes: Vec<usize> = sumo.requests().iter().map(|r| r.decoded_len).collect();
    assert!(sizes.len() > 1, "{sizes:?}");
    assert!(sizes.iter().all(|&s| s <= 1_000_000), "{sizes:?}");
    let small = sizes.iter().filter(|&&s| s < 100_000).count();
    assert!(small <= 1, "requests under 100 KB: {sizes:?}");
    assert_eq!(sumo_ids(&sumo).len(), traffic.ids().len());
}

/// Issue 13: with a disk buffer in front of Sumo Logic, Sumo's outage no longer holds Splunk or
/// the checkpoint. While Sumo answers 503, Splunk receives every record and the committed
/// offsets reach the end of every partition; when Sumo is back its buffer drains and it has
/// every record too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn a_buffered_sink_down_holds_neither_the_other_sink_nor_the_checkpoint() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "buffered", 4, 20_000, 79).await;
    let hec = acked_hec_peer().await;
    let sumo = SumoPeer::start("E2ESUMOBUFFEREDSECRET").await;
    let outage = Duration::from_secs(40);
    sumo.fail_for(503, outage);
    let outage_began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = splunk_and_buffered_sumo(
        dir.path(),
        &broker,
        "buffered",
        ("4MiB", "512MiB"),
        (&hec, &sumo),
    );
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let end = traffic.end_offsets();
    let want = traffic.ids();

    // During the outage: the checkpoint reaches the end and Splunk has everything.
    loop {
        let done = broker.committed("buffered-group", "buffered", 4) == end;
        if done {
            break;
        }
        assert!(
            outage_began.elapsed() < outage.mul_f64(0.9),
            "the checkpoint did not reach the end while the buffered sink was down: {:?} of {end:?}",
            broker.committed("buffered-group", "buffered", 4)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let h = hec_ids(&hec);
    let missing_h = want.iter().filter(|id| !h.contains_key(*id)).count();
    assert_eq!(missing_h, 0, "Splunk is missing records while Sumo is down");
    assert!(
        outage_began.elapsed() < outage,
        "the test ran past the outage: it proves nothing"
    );
    let s_during = sumo_ids(&sumo);
    assert!(
        s_during.len() < want.len(),
        "Sumo had every record during its outage"
    );

    // After the outage: the buffer drains into Sumo.
    let deadline = outage_began + outage + Duration::from_secs(120);
    loop {
        let s = sumo_ids(&sumo);
        if want.iter().all(|id| s.contains_key(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the buffer did not drain into Sumo: {} of {} records",
            s.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await.unwrap();
    eprintln!(
        "buffered e2e: {} records; Splunk had all {:.1} s into Sumo's {} s outage",
        want.len(),
        outage_began.elapsed().as_secs_f64(),
        outage.as_secs()
    );
}

/// Issue 13, test 1 at the scale: 100,000 records produced at a steady rate, Sumo Logic
/// down (503) for 60 s in the middle of the stream, Sumo behind a disk buffer. Splunk must stay
/// live the whole time (every record reaches it within a few seconds of being produced), the
/// checkpoint keeps moving through the outage, Sumo's share stops growing while it is down,
/// and in the end both peers hold every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn sumo_down_60_s_mid_stream_of_100_000_records_splunk_stays_live_nothing_lost() {
    use std::sync::{Arc, Mutex};
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    const RECORDS: usize = 100_000;
    const RATE: f64 = 1_400.0; // records/s: the stream lasts ~71 s, the outage sits inside it
    let outage = Duration::from_secs(60);
    let lag_bound = Duration::from_secs(5);
    broker.create_topic("live", 4);
    let hec = acked_hec_peer().await;
    let sumo = SumoPeer::start("E2ESUMOLIVESECRET").await;
    let dir = tempfile::tempdir().unwrap();
    let (config, env) =
        splunk_and_buffered_sumo(dir.path(), &broker, "live", ("8MiB", "2GiB"), (&hec, &sumo));
    let running = start(&config, &env, Hooks::default()).await.unwrap();

    // The producer paces itself and notes, per envelope, when it was sent and how many records
    // had been sent up to and including it; the checker turns Splunk's count into a lag.
    let sent: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let producer = {
        let (sent, ids, bootstrap) = (sent.clone(), ids.clone(), broker.bootstrap.clone());
        tokio::task::spawn_blocking(move || {
            let mut out = entrastream_testkit::kafka::Producing::new(&bootstrap, "live", 4);
            let mut generator =
                entrastream_generator::Generator::new(entrastream_generator::GeneratorConfig {
                    seed: 83,
                    ..Default::default()
                })
                .unwrap();
            let (began, mut total, mut buf) = (Instant::now(), 0usize, Vec::new());
            while total < RECORDS {
                buf.clear();
                generator.next_envelope_with(25.min(RECORDS - total), &mut buf);
                let these = record_ids(&buf);
                total += these.len();
                out.send(&buf);
                ids.lock().unwrap().extend(these);
                sent.lock().unwrap().push((Instant::now(), total));
                let due = began + Duration::from_secs_f64(total as f64 / RATE);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            out.finish();
        })
    };

    // Splunk's lag now: the age of the oldest envelope whose records it cannot all have yet
    // (it receives each record once here; nothing fails on its side).
    let lag = |hec_count: usize| -> Duration {
        let sent = sent.lock().unwrap();
        let first_missing = sent.partition_point(|&(_, upto)| upto <= hec_count);
        sent.get(first_missing)
            .map_or(Duration::ZERO, |(at, _)| at.elapsed())
    };
    let committed = || -> i64 { broker.committed("live-group", "live", 4).iter().sum() };

    // Ten seconds into the stream, Sumo goes down for 60 s.
    let mut worst = Duration::ZERO;
    let stream_began = Instant::now();
    while stream_began.elapsed() < Duration::from_secs(10) {
        worst = worst.max(lag(hec.event_count()));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sumo.fail_for(503, outage);
    let outage_began = Instant::now();
    let (committed_at_start, sumo_at_start) = (committed(), sumo.line_count());
    let mut committed_mid = 0;
    while outage_began.elapsed() < outage - Duration::from_secs(2) {
        let l = lag(hec.event_count());
        assert!(
            l < lag_bound,
            "Splunk fell {l:?} behind the stream {:?} into Sumo's outage",
            outage_began.elapsed()
        );
        worst = worst.max(l);
        if committed_mid == 0 && outage_began.elapsed() > outage / 2 {
            committed_mid = committed();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (committed_late, sumo_late) = (committed(), sumo.line_count());
    assert!(
        committed_at_start < committed_mid && committed_mid < committed_late,
        "the checkpoint did not keep moving through the outage: {committed_at_start} → \
         {committed_mid} → {committed_late}"
    );
    // Requests in flight when the outage began may still land; after that, nothing.
    assert!(
        sumo_late < sumo_at_start + 5_000,
        "Sumo kept receiving while it answered 503: {sumo_at_start} → {sumo_late}"
    );

    // The rest of the stream, then the drain.
    while !producer.is_finished() {
        let l = lag(hec.event_count());
        assert!(l < lag_bound, "Splunk fell {l:?} behind after the outage");
        worst = worst.max(l);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    producer.await.unwrap();
    let want: std::collections::HashSet<String> = ids.lock().unwrap().iter().cloned().collect();
    assert_eq!(want.len(), RECORDS);
    let deadline = Instant::now() + Duration::from_secs(180);
    while hec.event_count() < RECORDS || sumo.line_count() < RECORDS {
        assert!(
            Instant::now() < deadline,
            "not delivered after the stream: Splunk {} Sumo {} of {RECORDS}",
            hec.event_count(),
            sumo.line_count()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (h, s) = (hec_ids(&hec), sumo_ids(&sumo));
    let missing_h = want.iter().filter(|id| !h.contains_key(*id)).count();
    let missing_s = want.iter().filter(|id| !s.contains_key(*id)).count();
    assert_eq!(
        (missing_h, missing_s),
        (0, 0),
        "records lost (Splunk, Sumo)"
    );
    running.stop().await.unwrap();
    eprintln!(
        "buffered live e2e: {RECORDS} records at {RATE} records/s; Sumo down {} s from 10 s in; \
         Splunk's worst lag {worst:?}; checkpoint sum {committed_at_start} → {committed_mid} → \
         {committed_late} during the outage; Sumo lines {sumo_at_start} → {sumo_late} during it, \
         {} at the end ({} duplicates)",
        outage.as_secs(),
        s.values().sum::<usize>(),
        s.values().sum::<usize>() - s.len()
    );
}
