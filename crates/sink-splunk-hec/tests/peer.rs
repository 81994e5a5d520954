//! The HEC sink against the HEC peer: outages, an invalid event, lost acks, a revoked token,
//! 413 splitting, and secrets staying out of logs, errors and Debug output.
//!
//! Durations and volumes default small for CI; the issue's figures are reproduced with
//! `HEC_TEST_OUTAGE_SECS=30 HEC_TEST_REVOKED_SECS=60 HEC_TEST_RECORDS=200000`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use entrastream_model::PartitionId;
use entrastream_secret::Secret;
use entrastream_sink::{EncodedBatch, Outcome, RecordMeta, Sink};
use entrastream_sink_splunk_hec::config::DEFAULT_SCHEMA;
use entrastream_sink_splunk_hec::{Config, HecSink};
use entrastream_testkit::{HecPeer, HecPeerOptions};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Records `from..to` as HEC envelopes, one batch.
fn batch(from: usize, to: usize) -> EncodedBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for n in from..to {
        let start = data.len();
        write!(
            data,
            r#"{{"time":1714557600.{:03},"sourcetype":"azure:monitor:aad","fields":{{"category":"SignInLogs"}},"event":{{"id":"r-{n}","userPrincipalName":"user{n}@contoso.example","padding":"{}"}}}}"#,
            n % 1000,
            "p".repeat(150)
        )
        .unwrap();
        records.push(RecordMeta {
            range: start..data.len(),
            partition: PartitionId::new("insights-logs-signinlogs", (n % 4) as i32),
            offset: n as i64,
            category: "SignInLogs".into(),
        });
        data.push(b'\n');
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

fn config(peer: &HecPeer, ack: bool) -> Config {
    let mut c = Config::new(peer.url(), Secret::new(peer.token()));
    c.indexer_ack = ack;
    c.ack_timeout = Duration::from_millis(800);
    c.ack_poll_interval = Duration::from_millis(25);
    c.request_timeout = Duration::from_secs(5);
    c.max_content_length = 64 * 1024;
    c
}

/// What the pipeline does: resend a `Retryable` batch after a backoff until it is not.
async fn deliver(sink: &mut HecSink, b: &EncodedBatch, retries: &mut u64) -> Outcome {
    let mut delay = Duration::from_millis(20);
    loop {
        match sink.send(b).await {
            Outcome::Retryable(_) => {
                *retries += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

fn ids(peer: &HecPeer) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for e in peer.events() {
        let id = e["event"]["id"].as_str().unwrap_or("?").to_string();
        *m.entry(id).or_default() += 1;
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_503_then_refused_loses_nothing_and_counts_duplicates() {
    let total = env_u64("HEC_TEST_RECORDS", 20_000) as usize;
    let outage = Duration::from_millis(env_u64("HEC_TEST_OUTAGE_SECS", 0) * 1000)
        .max(Duration::from_millis(1500));
    let peer = HecPeer::start(HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, true)).unwrap();
    let metrics = sink.metrics();
    // The outage starts right after the first batch is delivered (mid-stream, whatever the
    // machine's speed): 503 for `outage`, then refused connections for `outage`.
    let mut chaos = None;
    let started = Instant::now();
    let mut retries = 0;
    let per_batch = 2_000;
    let mut saw_unhealthy = false;
    for from in (0..total).step_by(per_batch) {
        let b = batch(from, (from + per_batch).min(total));
        let mut delay = Duration::from_millis(20);
        loop {
            match sink.send(&b).await {
                Outcome::Delivered => break,
                Outcome::Retryable(_) => {
                    retries += 1;
                    saw_unhealthy |= !metrics.healthy.load(std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(250));
                }
                Outcome::Rejected(r) => panic!("nothing may be rejected: {r:?}"),
            }
        }
        if chaos.is_none() {
            let p2 = peer.clone();
            p2.fail_for(503, 9, outage);
            chaos = Some(tokio::spawn(async move {
                tokio::time::sleep(outage).await;
                p2.refuse_connections_for(outage);
            }));
        }
        // Keep sending through the whole outage so both phases are exercised.
        if from + per_batch >= total && started.elapsed() < outage * 2 {
            tokio::time::sleep(outage * 2 - started.elapsed()).await;
        }
    }
    if let Some(c) = chaos {
        c.await.unwrap();
    }
    let seen = ids(&peer);
    assert_eq!(seen.len(), total, "every record indexed");
    let extra: usize = seen.values().map(|n| n - 1).sum();
    let dup = metrics
        .duplicates
        .load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert!(
        extra <= dup,
        "{extra} duplicates indexed but only {dup} counted"
    );
    assert!(retries > 0 && saw_unhealthy, "the outage was noticed");
    assert!(peer.stats().gzip_requests > 0);
    assert!(metrics.requests_with("503/9") > 0, "{:?}", metrics.requests);
    assert!(
        metrics.requests_with("network") > 0,
        "{:?}",
        metrics.requests
    );
    eprintln!(
        "outage: {total} records, {retries} retries, {extra} duplicates indexed ({dup} counted), {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invalid_event_only_it_is_rejected_with_splunks_reason() {
    let peer = HecPeer::start(HecPeerOptions::default()).await;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, false)).unwrap();
    let good = batch(0, 10);
    // Replace record 4 with malformed JSON.
    let mut data = Vec::new();
    let mut records = Vec::new();
    for i in 0..10 {
        let start = data.len();
        if i == 4 {
            data.extend_from_slice(br#"{"time":1,"event": nope}"#);
        } else {
            data.extend_from_slice(good.record(i).unwrap());
        }
        let mut m = good.records[i].clone();
        m.range = start..data.len();
        records.push(m);
        data.push(b'\n');
    }
    let b = EncodedBatch {
        data: Bytes::from(data),
        records,
    };
    let mut retries = 0;
    match deliver(&mut sink, &b, &mut retries).await {
        Outcome::Rejected(r) => {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].index, 4);
            assert!(
                r[0].reason.contains("Invalid data format"),
                "{}",
                r[0].reason
            );
            assert!(r[0].reason.contains("code 6"), "{}", r[0].reason);
        }
        other => panic!("{other:?}"),
    }
    let seen = ids(&peer);
    assert_eq!(seen.len(), 9);
    assert!(!seen.contains_key("r-4"));
    assert!(seen.values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_acks_are_resent_after_timeout_and_never_reported_delivered_early() {
    let peer = HecPeer::start(HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&peer, true);
    cfg.ack_timeout = Duration::from_millis(400);
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, cfg).unwrap();
    let metrics = sink.metrics();
    let b = batch(0, 2_000);
    peer.lose_next_acks(2);
    let first = sink.send(&b).await;
    assert!(
        first.is_retryable(),
        "acks were lost: must not be Delivered ({first:?})"
    );
    let mut retries = 0;
    assert_eq!(
        deliver(&mut sink, &b, &mut retries).await,
        Outcome::Delivered
    );
    let seen = ids(&peer);
    assert_eq!(seen.len(), 2_000);
    let extra: usize = seen.values().map(|n| n - 1).sum();
    let dup = metrics
        .duplicates
        .load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert!(
        extra > 0,
        "the lost requests were indexed, so resending duplicates them"
    );
    assert_eq!(extra, dup, "duplicates counted exactly");
    assert_eq!(peer.channels().len(), 1, "one channel per sink instance");

    // Delayed (not lost) acks: Delivered only after they turn true.
    peer.delay_acks(Duration::from_millis(300));
    let b2 = batch(2_000, 2_500);
    let t = Instant::now();
    assert_eq!(sink.send(&b2).await, Outcome::Delivered);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_is_never_dead_lettered_and_recovers() {
    let revoked = Duration::from_millis(env_u64("HEC_TEST_REVOKED_SECS", 0) * 1000)
        .max(Duration::from_millis(1200));
    let peer = HecPeer::start(HecPeerOptions::default()).await;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, false)).unwrap();
    let metrics = sink.metrics();
    assert!(sink.healthcheck().await.is_ok());
    peer.fail_for(403, 1, revoked);
    let b = batch(0, 1_000);
    let first = sink.send(&b).await;
    match &first {
        Outcome::Retryable(m) => assert!(m.contains("token"), "{m}"),
        other => panic!("must be retryable: {other:?}"),
    }
    assert!(!metrics.healthy.load(std::sync::atomic::Ordering::Relaxed));
    let err = sink.healthcheck().await.unwrap_err().to_string();
    assert!(err.contains("403"), "{err}");
    let mut retries = 0;
    assert_eq!(
        deliver(&mut sink, &b, &mut retries).await,
        Outcome::Delivered
    );
    assert!(retries > 0);
    assert!(metrics.healthy.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(ids(&peer).len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_splits_and_an_oversize_record_is_rejected_not_truncated() {
    let peer = HecPeer::start(HecPeerOptions {
        max_content_length: 20_000,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&peer, false);
    cfg.gzip = false;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, cfg).unwrap();
    let mut b = batch(0, 500);
    // Make record 7 larger than the sink's own max_content_length (64 KiB).
    let mut data = b.data.to_vec();
    let start = data.len();
    data.extend_from_slice(format!(r#"{{"event":"{}"}}"#, "x".repeat(70_000)).as_bytes());
    b.records[7].range = start..data.len();
    data.push(b'\n');
    b.data = Bytes::from(data);
    let mut retries = 0;
    match deliver(&mut sink, &b, &mut retries).await {
        Outcome::Rejected(r) => {
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].index, 7);
            assert!(r[0].reason.contains("max_content_length"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ids(&peer).len(), 499);
    assert!(peer.stats().by_status.get(&413).copied().unwrap_or(0) > 0);
    assert!(peer.stats().max_decoded_body <= 20_000);
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_logs_errors_or_debug() {
    let buf = Buf::default();
    let w = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _g = tracing::subscriber::set_default(subscriber);
    let token = "5ec12e7-70ken-0000-0000-000000000042";
    let peer = HecPeer::start(HecPeerOptions {
        token: token.into(),
        ..Default::default()
    })
    .await;
    let mut cfg = config(&peer, false);
    cfg.tls.insecure_skip_verify = true;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, cfg.clone()).unwrap();
    let mut texts = vec![format!("{sink:?}"), format!("{cfg:?}")];
    peer.fail_for(403, 4, Duration::from_millis(300));
    texts.push(format!("{:?}", sink.send(&batch(0, 10)).await));
    texts.push(format!("{:?}", sink.healthcheck().await));
    peer.refuse_connections_for(Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(50)).await;
    texts.push(format!("{:?}", sink.send(&batch(0, 10)).await));
    texts.push(format!("{:?}", sink.healthcheck().await));
    texts.push(String::from_utf8_lossy(&buf.0.lock().unwrap()).to_string());
    let all = texts.join("\n");
    assert!(
        all.contains("insecure_skip_verify"),
        "the TLS warning is logged"
    );
    assert!(
        all.contains("refuses the data"),
        "the operator alert is logged: {all}"
    );
    assert!(!all.contains(token), "token leaked: {all}");
}

/// Loopback throughput of the sink alone (peer on the same 2 cores, so a lower bound):
/// `cargo test --release -p entrastream-sink-splunk-hec --test peer throughput -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let total = env_u64("HEC_TEST_RECORDS", 200_000) as usize;
    let batches: Vec<EncodedBatch> = (0..total)
        .step_by(4_000)
        .map(|f| batch(f, (f + 4_000).min(total)))
        .collect();
    let bytes: usize = batches.iter().map(|b| b.data.len()).sum();
    for ack in [false, true] {
        let peer = HecPeer::start(HecPeerOptions {
            ack,
            ..Default::default()
        })
        .await;
        let mut cfg = config(&peer, ack);
        cfg.max_content_length = 1_000_000;
        cfg.ack_poll_interval = Duration::from_millis(10);
        let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, cfg).unwrap();
        let t = Instant::now();
        for b in &batches {
            assert_eq!(sink.send(b).await, Outcome::Delivered);
        }
        let s = t.elapsed().as_secs_f64();
        assert_eq!(peer.event_count(), total);
        eprintln!(
            "HEC ack={ack} gzip=on: {total} records, {:.1} MB in {s:.2}s = {:.0} records/s, {:.1} MB/s",
            bytes as f64 / 1e6,
            total as f64 / s,
            bytes as f64 / 1e6 / s
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_endpoint_sends_lines_with_metadata_in_the_query_and_a_channel() {
    let peer = HecPeer::start(HecPeerOptions {
        ack: true,
        ..Default::default()
    })
    .await;
    let mut cfg = config(&peer, true);
    cfg.api = entrastream_sink_splunk_hec::HecApi::Raw;
    cfg.index = Some("entra logs".into());
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, cfg).unwrap();
    let mut retries = 0;
    assert_eq!(
        deliver(&mut sink, &batch(0, 300), &mut retries).await,
        Outcome::Delivered
    );
    assert_eq!(peer.event_count(), 300);
    assert_eq!(peer.channels(), vec![sink.channel().to_string()]);
}

/// The sink asks the pipeline for up to `concurrency` requests' worth of queued batches per
/// send, without waiting; and against the peer's benchmark mode (events counted, not kept) a
/// merged send of several requests is indexed once, acknowledged, with no request above the
/// limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_sends_fill_concurrent_requests_and_the_counting_peer_indexes_each_event_once() {
    let peer = HecPeer::start(HecPeerOptions {
        ack: true,
        keep_events: false,
        ..Default::default()
    })
    .await;
    let cfg = config(&peer, true);
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, cfg.clone()).unwrap();
    let c = sink.coalesce().unwrap();
    assert_eq!(c.min_bytes, 0);
    assert_eq!(c.max_bytes, cfg.max_content_length * cfg.concurrency);
    assert_eq!(c.max_wait, Duration::ZERO);
    let merged = EncodedBatch::concat(vec![batch(0, 700), batch(700, 1_300)]);
    assert!(merged.data.len() > 2 * cfg.max_content_length);
    assert_eq!(sink.send(&merged).await, Outcome::Delivered);
    assert_eq!(peer.event_count(), 1_300);
    assert!(peer.events().is_empty(), "benchmark mode keeps no events");
    let stats = peer.stats();
    let requests = stats.by_status.get(&200).copied().unwrap_or(0);
    assert!(requests >= 3, "{stats:?}");
    assert!(
        stats.max_decoded_body <= cfg.max_content_length,
        "{stats:?}"
    );
    assert_eq!(stats.gzip_requests, requests);
}

/// A proxy answering 200 with an HTML page (to data, health and probe alike) is not Splunk
/// accepting the data: the batch is retried with an excerpt of the page, the sink is
/// unhealthy, `check-sinks`'s probe fails; once HEC answers again, everything is delivered.
/// Before, any 2xx without a `code` counted as delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_html_page_is_never_an_acceptance() {
    use entrastream_testkit::Impostor;
    let peer = HecPeer::start(HecPeerOptions::default()).await;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, false)).unwrap();
    let metrics = sink.metrics();
    peer.impersonate(Some(Impostor::HtmlPage));
    let b = batch(0, 200);
    for _ in 0..3 {
        match sink.send(&b).await {
            Outcome::Retryable(m) => {
                assert!(m.contains("HTTP 200") && m.contains("Sign in"), "{m}");
                assert!(m.len() < 1_000, "a bounded excerpt: {m}");
            }
            other => panic!("never delivered: {other:?}"),
        }
    }
    assert!(!metrics.healthy.load(std::sync::atomic::Ordering::Relaxed));
    assert!(sink.healthcheck().await.is_err());
    let probe = sink.probe().await;
    assert!(probe.problem.is_some(), "{probe:?}");
    assert_eq!(peer.event_count(), 0);
    peer.impersonate(None);
    let mut retries = 0;
    assert_eq!(
        deliver(&mut sink, &b, &mut retries).await,
        Outcome::Delivered
    );
    assert_eq!(ids(&peer).len(), 200);
}

/// A 302 to a page that answers 200: not followed, so never delivered; the error names the
/// redirect. Before, reqwest followed it and the page's 200 counted as delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_200_page_is_never_an_acceptance() {
    use entrastream_testkit::Impostor;
    for ack in [false, true] {
        let peer = HecPeer::start(HecPeerOptions {
            ack,
            ..Default::default()
        })
        .await;
        let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, ack)).unwrap();
        peer.impersonate(Some(Impostor::Redirect));
        let b = batch(0, 50);
        match sink.send(&b).await {
            Outcome::Retryable(m) => {
                assert!(m.contains("HTTP 302") && m.contains("redirect"), "{m}")
            }
            other => panic!("ack={ack}: never delivered: {other:?}"),
        }
        let err = sink.healthcheck().await.unwrap_err().to_string();
        assert!(err.contains("redirect"), "{err}");
        peer.impersonate(None);
        let mut retries = 0;
        assert_eq!(
            deliver(&mut sink, &b, &mut retries).await,
            Outcome::Delivered
        );
        assert_eq!(ids(&peer).len(), 50);
    }
}

/// `indexer_ack = true` but the token has acknowledgement off (the peer answers code 0 without
/// an ackId): never `Delivered`, unhealthy, retried, the error tells the operator to enable
/// indexer acknowledgement, and the resent records are counted as possible duplicates.
/// Before, the answer without an ackId counted as indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_without_ack_id_is_never_delivered_when_ack_is_on() {
    let peer = HecPeer::start(HecPeerOptions {
        ack: false,
        ..Default::default()
    })
    .await;
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, true)).unwrap();
    let metrics = sink.metrics();
    let b = batch(0, 100);
    for _ in 0..3 {
        match sink.send(&b).await {
            Outcome::Retryable(m) => {
                assert!(
                    m.contains("enable indexer acknowledgement on the token"),
                    "{m}"
                )
            }
            other => panic!("never delivered: {other:?}"),
        }
    }
    assert!(!metrics.healthy.load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(
        metrics
            .duplicates
            .load(std::sync::atomic::Ordering::Relaxed),
        300
    );
    assert_eq!(
        metrics
            .records_delivered
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// The HEC `code` label is capped in one place (entrastream-telemetry): a code above the 27
/// Splunk documents today keeps its number up to the documented 31, anything larger is `other`,
/// and neither is exported as `none` (which means "no code in the answer").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hec_codes_are_capped_once_into_the_documented_labels() {
    let peer = HecPeer::start(HecPeerOptions::default()).await;
    let metrics = entrastream_telemetry::Metrics::new();
    let mut sink = HecSink::new("splunk", DEFAULT_SCHEMA, config(&peer, false))
        .unwrap()
        .with_stats(metrics.sink_stats("splunk"));
    let b = batch(0, 10);
    for code in [30, 4000] {
        peer.fail_for(503, code, Duration::from_secs(30));
        let outcome = sink.send(&b).await;
        assert!(matches!(outcome, Outcome::Retryable(_)), "{outcome:?}");
    }
    let text = metrics.render();
    for want in [
        "entrastream_sink_http_requests_total{code=\"30\",sink=\"splunk\",status=\"503\"}",
        "entrastream_sink_http_requests_total{code=\"other\",sink=\"splunk\",status=\"503\"}",
    ] {
        assert!(text.contains(want), "{want} missing from\n{text}");
    }
    assert!(
        !text.contains("code=\"none\",sink=\"splunk\",status=\"503\""),
        "{text}"
    );
    let counters = sink.metrics();
    assert!(counters.requests_with("503/30") >= 1);
    assert!(counters.requests_with("503/other") >= 1);
}
