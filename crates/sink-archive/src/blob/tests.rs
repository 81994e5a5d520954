//! The `azure_blob` sink against Azurite (a real Blob peer) and against failing peers.

use std::time::Duration;

use entrastream_archive::{DecodeEvent, decode_members};
use entrastream_testkit::{Azurite, FaultMode, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::tests::{batch_for, record};

const T1: &str = "11111111-1111-1111-1111-111111111111";
const HOUR5: &str = "tenantId=11111111-1111-1111-1111-111111111111/y=2024/m=06/d=20/h=05/m=00";

fn config(cs: &str, compression: Compression) -> BlobConfig {
    BlobConfig {
        account_url: None,
        connection_string: Some(entrastream_secret::Secret::new(cs)),
        sas: None,
        layout: crate::Layout::AzureMonitor,
        compression,
        max_block_bytes: crate::config::MAX_BLOCK_BYTES,
        max_blocks_per_blob: 50_000,
        request_timeout: Duration::from_secs(10),
    }
}

fn sink(c: &BlobConfig) -> AzureBlobSink {
    c.validate().unwrap();
    AzureBlobSink::new(
        "archive",
        Schema::Raw,
        c,
        account_for(c, None).unwrap(),
        None,
    )
}

fn batch(s: &AzureBlobSink, bodies: &[String]) -> EncodedBatch {
    batch_for(s.encoder(), bodies)
}

async fn block_count(account: &Account, path: &str) -> u64 {
    let r = account
        .send(Request {
            op: "head",
            method: Method::HEAD,
            path,
            query: &[],
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{path}");
    r.header_u64("x-ms-blob-committed-block-count").unwrap()
}

fn ids(compression: Compression, bytes: &[u8]) -> Vec<String> {
    let mut plain = Vec::new();
    decode_members(compression, bytes, |ev| match ev {
        DecodeEvent::Data(d) => plain.extend_from_slice(d),
        DecodeEvent::Damaged { offset, error } => panic!("damaged at {offset}: {error}"),
    });
    String::from_utf8(plain)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON record per line");
            v["properties"]["id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn records(prefix: &str, n: usize, hour: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            record(
                "SignInLogs",
                T1,
                &format!("2024-06-20T{hour:02}:10:{:02}Z", i % 60),
                &format!("{prefix}{i}"),
            )
        })
        .collect()
}

/// Creates containers and blobs on first use, puts each record in its category's container
/// and its event hour's blob, and a second writer (another replica, as after a restart)
/// appends to the same blob instead of replacing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_appended_to_their_hour_blob_created_on_first_use() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let c = config(&azurite.connection_string(), compression);
        let mut a = sink(&c);
        let mut b = sink(&c);
        let tag = format!("{compression:?}");
        let mut first = records(&format!("{tag}-a"), 3, 5);
        first.push(record(
            "AuditLogs",
            T1,
            "2024-06-20T06:00:00Z",
            &format!("{tag}-audit"),
        ));
        assert!(matches!(
            a.send(&batch(&a, &first)).await,
            Outcome::Delivered
        ));
        let second = records(&format!("{tag}-b"), 2, 5);
        assert!(matches!(
            b.send(&batch(&b, &second)).await,
            Outcome::Delivered
        ));
        let account = a.account();
        let signin = format!(
            "insights-logs-signinlogs/{HOUR5}/{}",
            hour_file_name(0, compression)
        );
        let got = ids(
            compression,
            &entrastream_testkit::get_blob(account, &signin)
                .await
                .unwrap(),
        );
        let want: Vec<String> = (0..3)
            .map(|i| format!("{tag}-a{i}"))
            .chain((0..2).map(|i| format!("{tag}-b{i}")))
            .collect();
        assert_eq!(got, want, "{signin}");
        let audit = format!(
            "insights-logs-auditlogs/tenantId={T1}/y=2024/m=06/d=20/h=06/m=00/{}",
            hour_file_name(0, compression)
        );
        assert_eq!(
            ids(
                compression,
                &entrastream_testkit::get_blob(account, &audit)
                    .await
                    .unwrap()
            ),
            [format!("{tag}-audit")]
        );
        // One block per writer and blob: the batch went out as one Append Block.
        assert_eq!(block_count(account, &signin).await, 2);
    }
}

/// A small block limit: the blob rolls to `PT1H.1.json`, `PT1H.2.json`, …; every record is
/// in exactly one of them, in order; and a new sink (a restart) skips the full siblings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolls_to_numbered_siblings_at_the_block_limit() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let mut c = config(&azurite.connection_string(), Compression::None);
    c.max_blocks_per_blob = 2;
    c.max_block_bytes = 1024;
    let metrics = entrastream_telemetry::Metrics::new();
    let mut s = AzureBlobSink::new(
        "archive",
        Schema::Raw,
        &c,
        account_for(&c, None).unwrap(),
        Some(metrics.archive_stats("archive")),
    );
    // ~330-byte records: three per 1 KiB block.
    let all = records("r", 20, 5);
    for chunk in all.chunks(7) {
        assert!(matches!(
            s.send(&batch(&s, chunk)).await,
            Outcome::Delivered
        ));
    }
    let mut restarted = sink(&c);
    let more = records("late", 3, 5);
    assert!(matches!(
        restarted.send(&batch(&restarted, &more)).await,
        Outcome::Delivered
    ));
    let account = s.account();
    let mut got = Vec::new();
    let mut sibling = 0;
    while let Some(bytes) = entrastream_testkit::get_blob(
        account,
        &format!(
            "insights-logs-signinlogs/{HOUR5}/{}",
            hour_file_name(sibling, Compression::None)
        ),
    )
    .await
    {
        let path = format!(
            "insights-logs-signinlogs/{HOUR5}/{}",
            hour_file_name(sibling, Compression::None)
        );
        assert!(block_count(account, &path).await <= 2, "{path}");
        assert!(bytes.len() <= 2 * 1024, "{path}");
        got.extend(ids(Compression::None, &bytes));
        sibling += 1;
    }
    let want: Vec<String> = (0..20)
        .map(|i| format!("r{i}"))
        .chain((0..3).map(|i| format!("late{i}")))
        .collect();
    assert_eq!(got, want);
    assert!(sibling >= 4, "rolled {sibling} times");
    let text = metrics.render();
    assert!(
        text.contains("entrastream_sink_archive_rollovers_total{sink=\"archive\"}"),
        "{text}"
    );
}

/// Blocks hold whole lines, never more than the limit as stored (also compressed), and a
/// record longer than a block is dead-lettered, not split.
#[test]
fn blocks_never_split_a_record_and_stay_under_the_limit() {
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let mut c = config("UseDevelopmentStorage=true", compression);
        c.max_block_bytes = 1024;
        let s = sink(&c);
        let bodies: Vec<String> = (0..50)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i * 7)))
            .collect();
        let mut lines: Lines<'_> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (i, b.as_bytes()))
            .collect();
        let big = format!("{{\"pad\":\"{}\"}}", "y".repeat(5000));
        lines.push((50, big.as_bytes()));
        let (blocks, oversize) = s.blocks(&lines).unwrap();
        assert_eq!(oversize, [50]);
        let mut all = Vec::new();
        for b in &blocks {
            assert!(b.len() <= 1024, "{compression:?}: {}", b.len());
            let mut plain = Vec::new();
            decode_members(compression, b, |ev| match ev {
                DecodeEvent::Data(d) => plain.extend_from_slice(d),
                DecodeEvent::Damaged { .. } => panic!("damaged block"),
            });
            assert_eq!(plain.last(), Some(&b'\n'), "a block ends at a line end");
            all.extend_from_slice(&plain);
        }
        let want: String = bodies.iter().map(|b| format!("{b}\n")).collect();
        assert_eq!(String::from_utf8(all).unwrap(), want);
    }
}

/// A wrong account key: the batch waits (retryable, operator's fix) with an error naming the
/// fix, never the key; `check-sinks` fails the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_is_a_clear_error_without_the_key() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    let wrong = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=";
    let cs = entrastream_testkit::azurite_connection_string(azurite.port, wrong);
    let mut s = sink(&config(&cs, Compression::None));
    let out = s.send(&batch(&s, &records("x", 1, 5))).await;
    let Outcome::Retryable(RetryReason::Operator(msg)) = out else {
        panic!("{out:?}");
    };
    assert!(msg.contains("403"), "{msg}");
    assert!(msg.contains("account key"), "{msg}");
    assert!(!msg.contains(wrong), "{msg}");
    let e = s.healthcheck().await.unwrap_err().to_string();
    assert!(e.contains("refused our credentials"), "{e}");
    assert!(!e.contains(wrong), "{e}");
}

/// Serves `n` answers of `status` (reading each request whole), then closes.
async fn failing_peer(status: u16, n: usize) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for _ in 0..n {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(k) = c.read(&mut chunk).await {
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 {status} Busy\r\nx-ms-error-code: ServerBusy\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = c.write_all(answer.as_bytes()).await;
        }
    });
    addr
}

/// 5xx and timeouts are retryable (the pipeline sends the batch again), and the same batch
/// is delivered once the service answers again, with nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_timeouts_are_retried_until_delivered() {
    let Some(azurite) = Azurite::start() else {
        return;
    };
    // 503 from a busy service.
    let busy = failing_peer(503, 1).await;
    let cs = |port: u16| {
        entrastream_testkit::azurite_connection_string(port, entrastream_testkit::AZURITE_DEV_KEY)
    };
    let mut s = sink(&config(&cs(busy.port()), Compression::None));
    let out = s.send(&batch(&s, &records("busy", 1, 5))).await;
    assert!(
        matches!(out, Outcome::Retryable(RetryReason::Unavailable(ref m)) if m.contains("503")),
        "{out:?}"
    );

    // A timeout through a proxy that swallows everything, then the same batch again.
    let proxy = FaultProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], azurite.port)))
        .await
        .unwrap();
    let mut c = config(&cs(proxy.addr().port()), Compression::None);
    c.request_timeout = Duration::from_secs(1);
    let mut s = sink(&c);
    let b = batch(&s, &records("slow", 4, 5));
    proxy.set_mode(FaultMode::Blackhole);
    let out = s.send(&b).await;
    assert!(
        matches!(out, Outcome::Retryable(RetryReason::Unreachable(ref m)) if m.contains("took longer")),
        "{out:?}"
    );
    proxy.set_mode(FaultMode::Pass);
    let out = s.send(&b).await;
    assert!(matches!(out, Outcome::Delivered), "{out:?}");
    let path = format!(
        "insights-logs-signinlogs/{HOUR5}/{}",
        hour_file_name(0, Compression::None)
    );
    let got = ids(
        Compression::None,
        &entrastream_testkit::get_blob(s.account(), &path)
            .await
            .unwrap(),
    );
    for i in 0..4 {
        assert!(got.contains(&format!("slow{i}")), "{got:?}");
    }
}
