//! The Sumo sink against the Sumo peer: throttling, the 1 MB limit, a bad URL, and the URL
//! (the credential) staying out of errors and Debug output.
//! `SUMO_TEST_THROTTLE_SECS=30` reproduces the issue's figure.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use entrastream_model::PartitionId;
use entrastream_secret::Secret;
use entrastream_sink::{EncodedBatch, Outcome, RecordMeta, Sink};
use entrastream_sink_sumo::config::DEFAULT_SCHEMA;
use entrastream_sink_sumo::{Config, SumoSink};
use entrastream_testkit::SumoPeer;

fn batch(from: usize, to: usize) -> EncodedBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for n in from..to {
        let start = data.len();
        let cat = if n % 3 == 0 {
            "AuditLogs"
        } else {
            "SignInLogs"
        };
        write!(
            data,
            r#"{{"id":"r-{n}","category":"{cat}","pad":"{}"}}"#,
            "q".repeat(400)
        )
        .unwrap();
        records.push(RecordMeta {
            range: start..data.len(),
            partition: PartitionId::new("hub", 0),
            offset: n as i64,
            category: cat.into(),
        });
        data.push(b'\n');
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

async fn deliver(sink: &mut SumoSink, b: &EncodedBatch) -> (Outcome, u64) {
    let mut retries = 0;
    loop {
        match sink.send(b).await {
            Outcome::Retryable(_) => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return (other, retries),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_then_all_delivered_and_no_request_above_1mb() {
    let secs: u64 = std::env::var("SUMO_TEST_THROTTLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let peer = SumoPeer::start("ZaVnC4dhaV2dQ0t8nA").await;
    let mut cfg = Config::new(Secret::new(peer.url()));
    cfg.source_name = Some("entra".into());
    cfg.fields.insert("tenant".into(), "contoso".into());
    let mut sink = SumoSink::new("sumo", DEFAULT_SCHEMA, cfg).unwrap();
    let metrics = sink.metrics();
    peer.fail_for(429, Duration::from_secs(secs));
    let mut total = 0;
    let mut retries = 0;
    // ~4.3 MB per batch: several requests each.
    for from in (0..30_000).step_by(10_000) {
        let b = batch(from, from + 10_000);
        let (o, r) = deliver(&mut sink, &b).await;
        assert_eq!(o, Outcome::Delivered);
        retries += r;
        total += 10_000;
    }
    assert!(retries > 0);
    assert!(metrics.throttled.load(std::sync::atomic::Ordering::Relaxed) > 0);
    let lines = peer.lines();
    let ids: HashSet<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids.len(), total, "all delivered");
    assert_eq!(lines.len(), total, "no duplicates");
    assert_eq!(peer.oversize_requests(), 0);
    for r in peer.requests() {
        assert!(r.decoded_len <= 1_000_000, "{}", r.decoded_len);
        let cat = r.category.as_deref().unwrap();
        assert!(
            cat == "azure/entra/signin" || cat == "azure/entra/audit",
            "{cat}"
        );
        assert_eq!(r.name.as_deref(), Some("entra"));
        assert_eq!(r.fields.as_deref(), Some("tenant=contoso"));
        for l in &r.lines {
            let audit = l.contains("\"AuditLogs\"");
            assert_eq!(audit, cat == "azure/entra/audit");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_url_is_unhealthy_never_dead_lettered_and_secret_never_shown() {
    let peer = SumoPeer::start("S3CR3TPATHTOKEN").await;
    let bad = peer.url().replace("S3CR3TPATHTOKEN", "S3CR3TWR0NG");
    let mut sink = SumoSink::new("sumo", DEFAULT_SCHEMA, Config::new(Secret::new(bad))).unwrap();
    let b = batch(0, 10);
    let o = sink.send(&b).await;
    let mut texts = vec![format!("{o:?}"), format!("{sink:?}")];
    assert!(o.is_retryable(), "{o:?}");
    assert!(
        !sink
            .metrics()
            .healthy
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    texts.push(format!("{:?}", sink.healthcheck().await));
    peer.refuse_connections_for(Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(50)).await;
    texts.push(format!("{:?}", sink.send(&b).await));
    texts.push(format!("{:?}", sink.healthcheck().await));
    let all = texts.join("\n");
    assert!(
        all.contains("connection failed") || all.contains("unreachable"),
        "{all}"
    );
    assert!(!all.contains("S3CR3T"), "{all}");
    assert!(peer.lines().is_empty());

    let mut good =
        SumoSink::new("sumo", DEFAULT_SCHEMA, Config::new(Secret::new(peer.url()))).unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(good.healthcheck().await.is_ok());
    assert_eq!(
        peer.requests()[0].category.as_deref(),
        Some("entrastream/check")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_408_and_503_retry_and_count_possible_duplicates() {
    let peer = SumoPeer::start("tok").await;
    let mut sink =
        SumoSink::new("sumo", DEFAULT_SCHEMA, Config::new(Secret::new(peer.url()))).unwrap();
    peer.fail_for(408, Duration::from_millis(300));
    let (o, r) = deliver(&mut sink, &batch(0, 100)).await;
    assert_eq!(o, Outcome::Delivered);
    assert!(r > 0);
    assert!(
        sink.metrics()
            .duplicates
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    peer.fail_for(503, Duration::from_millis(300));
    let (o, _) = deliver(&mut sink, &batch(100, 200)).await;
    assert_eq!(o, Outcome::Delivered);
    assert_eq!(peer.lines().len(), 200);
}

/// A batch above the 1 MB limit is cut into as few requests as the limit allows, of even size,
/// so no request falls below Sumo's recommended 100 KB (1.4 MB → two of ~700 KB, not 1 MB and
/// 400 KB; 4.3 MB → five of ~860 KB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_become_even_requests_between_100kb_and_1mb() {
    let peer = SumoPeer::start("EvenSplitSecret").await;
    let mut cfg = Config::new(Secret::new(peer.url()));
    cfg.category = Some("azure/entra".into());
    let mut sink = SumoSink::new("sumo", DEFAULT_SCHEMA, cfg).unwrap();
    for (from, to) in [(0, 3_300), (3_300, 13_300), (13_300, 13_400)] {
        let (o, _) = deliver(&mut sink, &batch(from, to)).await;
        assert_eq!(o, Outcome::Delivered);
    }
    let sizes: Vec<usize> = peer.requests().iter().map(|r| r.decoded_len).collect();
    // 3,300 records ≈ 1.4 MB → 2 requests; 10,000 ≈ 4.3 MB → 5; 100 ≈ 43 KB → 1 (a batch
    // handed over alone is smaller than 100 KB only when the pipeline's merging timed out).
    assert_eq!(sizes.len(), 2 + 5 + 1, "{sizes:?}");
    let (last, full) = sizes.split_last().unwrap();
    assert!(*last < 100_000);
    for s in full {
        assert!((100_000..=1_000_000).contains(s), "{sizes:?}");
    }
    assert_eq!(peer.lines().len(), 13_400);
}

/// The sink asks the pipeline to merge batches up to 100 KB (waiting at most `batch_timeout`)
/// and never past `concurrency` requests at its request limit (each request stays within it).
#[test]
fn the_sink_asks_for_batches_merged_between_100kb_and_its_limit() {
    let mut cfg = Config::new(Secret::new("https://sumo.invalid/receiver/v1/http/X"));
    cfg.batch_timeout = Duration::from_millis(1500);
    let sink = SumoSink::new("sumo", DEFAULT_SCHEMA, cfg.clone()).unwrap();
    let c = sink.coalesce().unwrap();
    assert_eq!(c.min_bytes, 100_000);
    assert_eq!(c.max_bytes, 2 * 1_000_000, "default concurrency 2");
    assert_eq!(c.max_wait, Duration::from_millis(1500));
    cfg.max_request_bytes = 50_000;
    cfg.concurrency = 3;
    let c = SumoSink::new("sumo", DEFAULT_SCHEMA, cfg)
        .unwrap()
        .coalesce()
        .unwrap();
    assert_eq!((c.min_bytes, c.max_bytes), (50_000, 150_000));
}

/// A batch of records whose categories are these (record `i` holds `"id":"h-i"`).
fn batch_with_categories(categories: &[String]) -> EncodedBatch {
    let mut data = Vec::new();
    let mut records = Vec::new();
    for (n, cat) in categories.iter().enumerate() {
        let start = data.len();
        write!(
            data,
            r#"{{"id":"h-{n}","category":{}}}"#,
            serde_json::to_string(cat).unwrap()
        )
        .unwrap();
        records.push(RecordMeta {
            range: start..data.len(),
            partition: PartitionId::new("hub", 0),
            offset: n as i64,
            category: cat.clone(),
        });
        data.push(b'\n');
    }
    EncodedBatch {
        data: Bytes::from(data),
        records,
    }
}

/// A category from the data becomes `X-Sumo-Category`. With a line break, a control
/// character, 10 KB of text or non-ASCII letters in it, the request used to fail to build on
/// every retry (the sink stalled for good); now every record is delivered under a sanitised
/// category, in one send, and the ordinary records beside them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_categories_are_sanitised_and_never_stall_the_sink() {
    let peer = SumoPeer::start("HOSTILECATS").await;
    let mut sink =
        SumoSink::new("sumo", DEFAULT_SCHEMA, Config::new(Secret::new(peer.url()))).unwrap();
    let cats: Vec<String> = vec![
        "SignInLogs".into(),
        "Audit\nLogs".into(),
        "Bell\u{7}Tab\tCR\r".into(),
        "x".repeat(10_000),
        "Anmeldeprotokolle-äöü-登录".into(),
        "\n".into(),
        "AuditLogs".into(),
    ];
    let b = batch_with_categories(&cats);
    let outcome = tokio::time::timeout(Duration::from_secs(20), sink.send(&b))
        .await
        .expect("one send, no stall");
    assert_eq!(outcome, Outcome::Delivered);
    let mut seen: Vec<String> = peer
        .requests()
        .iter()
        .map(|r| r.category.clone().unwrap())
        .collect();
    seen.sort();
    for c in &seen {
        assert!(c.len() <= 128, "{c}");
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-.:@+".contains(&b)),
            "{c:?}"
        );
    }
    assert!(seen.contains(&"azure/entra/signin".to_string()), "{seen:?}");
    assert!(seen.contains(&"azure/entra/audit".to_string()), "{seen:?}");
    assert!(
        seen.contains(&"azure/entra/audit_logs".to_string()),
        "{seen:?}"
    );
    // A category of nothing but a line break: the fallback.
    assert!(seen.contains(&"azure/entra/other".to_string()), "{seen:?}");
    assert_eq!(peer.line_count(), cats.len());
}

/// A 400 or 431 (the collector refuses the content) is split down to the one record it is
/// about, which is rejected with the status and the collector's text; the others are
/// delivered. Before, any such status was retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_refusals_split_and_dead_letter_only_the_refused_record() {
    let peer = SumoPeer::start("REFUSALS").await;
    let mut sink =
        SumoSink::new("sumo", DEFAULT_SCHEMA, Config::new(Secret::new(peer.url()))).unwrap();
    for status in [400u16, 431, 413] {
        let cats: Vec<String> = (0..9).map(|_| "SignInLogs".to_string()).collect();
        let mut b = batch_with_categories(&cats);
        // Mark record 5 (same length, so the ranges stay right) for the peer's rule, which
        // refuses every request that holds it.
        let data = String::from_utf8(b.data.to_vec())
            .unwrap()
            .replace(r#""h-5""#, r#""P-5""#);
        b.data = Bytes::from(data);
        peer.refuse_requests_containing(Some((r#""P-5""#, status)));
        let before = peer.line_count();
        let outcome = tokio::time::timeout(Duration::from_secs(20), sink.send(&b))
            .await
            .expect("no endless retry");
        match outcome {
            Outcome::Rejected(r) => {
                assert_eq!(r.len(), 1, "{r:?}");
                assert_eq!(r[0].index, 5);
                assert!(
                    r[0].reason.starts_with(&format!("HTTP {status}")),
                    "{}",
                    r[0].reason
                );
            }
            other => panic!("HTTP {status}: {other:?}"),
        }
        assert_eq!(peer.line_count() - before, 8, "HTTP {status}");
    }
}

/// A 302 (to a page that answers 200) is not an acceptance: the batch is retried, the sink is
/// unhealthy, the error says why; `check-sinks`'s probe fails with the same reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_never_delivered() {
    use entrastream_testkit::Impostor;
    let peer = SumoPeer::start("REDIRECTED").await;
    let mut sink =
        SumoSink::new("sumo", DEFAULT_SCHEMA, Config::new(Secret::new(peer.url()))).unwrap();
    peer.impersonate(Some(Impostor::Redirect));
    let b = batch(0, 10);
    match sink.send(&b).await {
        Outcome::Retryable(m) => assert!(m.contains("HTTP 302") && m.contains("redirect"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        !sink
            .metrics()
            .healthy
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let (reachable, _, problem) = sink.probe().await;
    assert!(reachable);
    assert!(problem.unwrap().contains("redirect"));
    assert!(sink.healthcheck().await.is_err());
    assert_eq!(peer.line_count(), 0);
    peer.impersonate(None);
    let (o, _) = deliver(&mut sink, &b).await;
    assert_eq!(o, Outcome::Delivered);
    assert_eq!(peer.line_count(), 10);
}

/// A configured header value the HTTP client cannot carry stops the start with the key to fix.
#[test]
fn configured_header_values_are_checked_at_start() {
    let mut cfg = Config::new(Secret::new("https://collectors.example/receiver/v1/http/X"));
    cfg.source_name = Some("bad\nname".into());
    let e = SumoSink::new("sumo", DEFAULT_SCHEMA, cfg).unwrap_err();
    assert!(e.contains("sumo_name"), "{e}");
}
