//! The archive sink in the daemon and replay next to a live consumer group (issue 15, test 1
//! with the `archive_dir` sink, and test 2's "the live group's offsets are unchanged" with a
//! directory source; the Azurite variants wait for the `azure_blob` sink).

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_entra::{ParseOptions, RecordSlice, parse_record};

use crate::support::*;

/// Every line of every file under `root`, with the file's path relative to `root`.
fn archive_lines(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                for line in std::fs::read_to_string(&p).unwrap().lines() {
                    out.push((rel.clone(), line.to_owned()));
                }
            }
        }
    }
    out
}

/// Where Azure's layout puts a record, computed from its fields: the category lowercased, the
/// `tenantId`, and the hour of its event time as written in RFC 3339.
fn expected_path(line: &str) -> String {
    let r = parse_record(
        RecordSlice {
            bytes: line.as_bytes(),
            offset: 0,
        },
        &ParseOptions::default(),
    )
    .unwrap();
    let mut t = String::new();
    r.event_time().unwrap().write_rfc3339(&mut t).unwrap();
    // 2024-06-20T05:10:00Z → y=2024/m=06/d=20/h=05
    let (y, mo, d, h) = (&t[0..4], &t[5..7], &t[8..10], &t[11..13]);
    format!(
        "insights-logs-{}/tenantId={}/y={y}/m={mo}/d={d}/h={h}/m=00/PT1H.json",
        r.category().to_lowercase(),
        r.tenant_id().unwrap_or("unknown"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn run_archives_every_record_once_in_its_container_and_hour_and_replay_leaves_the_group_alone()
 {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "archive", 4, 50_000, 15).await;
    let hec = acked_hec_peer().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let path = daemon_config(
        dir.path(),
        "a",
        &broker.bootstrap,
        "archive",
        "archive-group",
        "",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sinks = format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\nack_poll_interval = \"50ms\"\n\n[[sinks]]\nname = \"archive\"\ntype = \"archive_dir\"\npath = \"{}\"\n\n",
        hec.url(),
        archive.display()
    );
    let text = replace_sinks(&text, &sinks);
    let env = Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_HEC_TOKEN", hec.token().to_string()),
    ]);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "not everything delivered in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();
    let end = traffic.end_offsets();
    assert_eq!(broker.committed("archive-group", "archive", 4), end);

    // Every record once, in the container and hour file its own fields name.
    let want = traffic.ids();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut misplaced = Vec::new();
    for (file, line) in archive_lines(&archive) {
        let id = record_id_in(line.as_bytes()).expect("a record per line");
        *seen.entry(id).or_default() += 1;
        let expected = expected_path(&line);
        if file != expected {
            misplaced.push((file, expected));
        }
    }
    assert!(
        misplaced.is_empty(),
        "{} misplaced, e.g. {:?}",
        misplaced.len(),
        misplaced.first()
    );
    let missing = want.iter().filter(|id| !seen.contains_key(*id)).count();
    let extra = seen.keys().filter(|id| !want.contains(*id)).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "archive differs from what was produced"
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "a clean run archives each record once"
    );
    assert!(hec.event_count() >= want.len(), "Splunk got everything too");

    // Replay the archive with the same config (its [source] names the live group) into a
    // file: every record arrives, the group's committed offsets do not move.
    let out = dir.path().join("replayed.ndjson");
    let replay_text = replace_sinks(
        &text,
        &format!(
            "[[sinks]]\nname = \"out\"\ntype = \"file\"\nschema = \"raw\"\npath = \"{}\"\n\n",
            out.display()
        ),
    );
    let replay_config = Config::from_str(&replay_text, false, &env).unwrap();
    let opts = entrastream_replay::ReplayOptions {
        from: vec![archive.display().to_string()],
        state: Some(dir.path().join("replay-state.json")),
        ..Default::default()
    };
    let summary = entrastream_replay::replay(&replay_config, &opts, std::future::pending::<()>())
        .await
        .unwrap();
    assert!(summary.complete, "{}", summary.render());
    let replayed = ids_in(&out);
    let missing = want.iter().filter(|id| !replayed.contains_key(*id)).count();
    assert_eq!(missing, 0, "replay lost records");
    assert_eq!(
        broker.committed("archive-group", "archive", 4),
        end,
        "replay moved the live group's offsets"
    );
    eprintln!("archive e2e: {} records, {} hour files", want.len(), {
        let mut files: Vec<String> = archive_lines(&archive)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        files.dedup();
        files.len()
    });
}

/// Issue 15 tests 1 and 2 against Azurite: `run` with the HEC peer and an `azure_blob` sink on
/// 50,000 generated records puts every record once in its container and hour blob; `replay`
/// from the containers' URLs into a second HEC peer delivers every record and leaves the
/// live group's committed offsets where they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn run_archives_to_azurite_and_replay_from_the_containers_reaches_hec() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let Some(azurite) = entrastream_testkit::Azurite::start() else {
        return;
    };
    let traffic = produce_topic(&broker, "blobarchive", 4, 50_000, 16).await;
    let hec = acked_hec_peer().await;
    let dir = tempfile::tempdir().unwrap();
    let path = daemon_config(
        dir.path(),
        "a",
        &broker.bootstrap,
        "blobarchive",
        "blobarchive-group",
        "",
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let sinks = format!(
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN\"\nschema = \"raw\"\nindexer_ack = true\nack_poll_interval = \"50ms\"\n\n[[sinks]]\nname = \"archive\"\ntype = \"azure_blob\"\nconnection_string_env = \"E2E_ARCHIVE_CS\"\n\n",
        hec.url(),
    );
    let text = replace_sinks(&text, &sinks);
    let env = Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_HEC_TOKEN", hec.token().to_string()),
        ("E2E_ARCHIVE_CS", azurite.connection_string()),
    ]);
    let config = Config::from_str(&text, false, &env).unwrap();
    let running = start(&config, &env, Hooks::default()).await.unwrap();
    let total: u64 = traffic.end_offsets().iter().sum::<i64>() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "not everything delivered in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await.unwrap();
    let end = traffic.end_offsets();
    assert_eq!(broker.committed("blobarchive-group", "blobarchive", 4), end);

    let account = azurite.account();
    let want = traffic.ids();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut misplaced = Vec::new();
    let lines = entrastream_testkit::blob_lines(&account, "insights-logs-").await;
    let mut containers: Vec<String> = Vec::new();
    for (blob, line) in &lines {
        let id = record_id_in(line.as_bytes()).expect("a record per line");
        *seen.entry(id).or_default() += 1;
        let expected = expected_path(line);
        if *blob != expected {
            misplaced.push((blob.clone(), expected));
        }
        let c = blob.split('/').next().unwrap().to_owned();
        if !containers.contains(&c) {
            containers.push(c);
        }
    }
    assert!(
        misplaced.is_empty(),
        "{} misplaced, e.g. {:?}",
        misplaced.len(),
        misplaced.first()
    );
    let missing = want.iter().filter(|id| !seen.contains_key(*id)).count();
    let extra = seen.keys().filter(|id| !want.contains(*id)).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "archive differs from what was produced"
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "a clean run archives each record once"
    );

    // Replay every container from Azurite into a second HEC peer.
    let hec2 = acked_hec_peer().await;
    let replay_text = replace_sinks(
        &text,
        &format!(
            "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{}\"\ntoken_env = \"E2E_HEC_TOKEN2\"\nschema = \"raw\"\nindexer_ack = true\nack_poll_interval = \"50ms\"\n\n",
            hec2.url()
        ),
    );
    let env2 = Env::from_pairs([
        ("E2E_SASL_PASSWORD", SECRET.to_string()),
        ("E2E_HEC_TOKEN2", hec2.token().to_string()),
    ]);
    let replay_config = Config::from_str(&replay_text, false, &env2).unwrap();
    let opts = entrastream_replay::ReplayOptions {
        from: containers
            .iter()
            .map(|c| format!("http://127.0.0.1:{}/devstoreaccount1/{c}", azurite.port))
            .collect(),
        state: Some(dir.path().join("replay-state.json")),
        ..Default::default()
    };
    let summary = entrastream_replay::replay(&replay_config, &opts, std::future::pending::<()>())
        .await
        .unwrap();
    assert!(summary.complete, "{}", summary.render());
    let mut replayed: HashMap<String, usize> = HashMap::new();
    for e in hec2.events() {
        if let Some(id) = record_id_in(e["event"].to_string().as_bytes()) {
            *replayed.entry(id).or_default() += 1;
        }
    }
    let missing = want.iter().filter(|id| !replayed.contains_key(*id)).count();
    assert_eq!(missing, 0, "replay from Azurite lost records");
    assert_eq!(
        broker.committed("blobarchive-group", "blobarchive", 4),
        end,
        "replay moved the live group's offsets"
    );
    eprintln!(
        "azure_blob e2e: {} records, {} containers, {} lines",
        want.len(),
        containers.len(),
        lines.len()
    );
}
