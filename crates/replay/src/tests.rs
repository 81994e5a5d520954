//! Replays of directories and files through the real pipeline into a file sink.

use std::collections::BTreeMap;
use std::path::Path;

use entrastream_app::config::{Config, Env};
use entrastream_archive::{Compression, encode_member};

use super::*;

fn rec(cat: &str, time: &str, id: &str) -> String {
    format!(
        r#"{{"time":"{time}","tenantId":"t","category":"{cat}","operationName":"x","properties":{{"id":"{id}","createdDateTime":"{time}","activityDateTime":"{time}"}}}}"#
    )
}

fn config(dir: &Path) -> Config {
    let text = format!(
        "[admin]\nenabled = false\n\n[pipeline]\ncheckpoint_interval = \"100ms\"\nbatch_linger = \"10ms\"\n\n[[sinks]]\nname = \"out\"\ntype = \"file\"\nschema = \"raw\"\npath = \"{}\"\n\n[dead_letter]\npath = \"{}\"\n",
        dir.join("out.ndjson").display(),
        dir.join("dead.ndjson").display()
    );
    Config::from_str(&text, false, &Env::default()).unwrap()
}

fn opts(from: &Path, state: &Path) -> ReplayOptions {
    ReplayOptions {
        from: vec![from.display().to_string()],
        state: Some(state.to_path_buf()),
        ..ReplayOptions::default()
    }
}

/// id → times delivered, from the file sink's output.
fn delivered(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(dir.join("out.ndjson")).unwrap_or_default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *out.entry(v["properties"]["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    out
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

async fn never() {
    std::future::pending::<()>().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azures_layout_and_ours_replay_every_record_once_and_record_completion() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("archive");
    // As Azure writes it: plain JSON Lines in insights-logs-<category>/tenantId=…/PT1H.json.
    let mut want = Vec::new();
    let mut azure = String::new();
    for i in 0..300 {
        let id = format!("az{i}");
        azure.push_str(&rec("SignInLogs", "2024-06-20T05:10:00Z", &id));
        azure.push('\n');
        want.push(id);
    }
    write(
        &archive.join("insights-logs-signinlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.json"),
        azure.as_bytes(),
    );
    // As entrastream writes it with compression, and a numbered sibling.
    for (file, c) in [
        ("PT1H.json.gz", Compression::Gzip),
        ("PT1H.1.json.zst", Compression::Zstd),
    ] {
        let mut bytes = Vec::new();
        for m in 0..3 {
            let mut member = String::new();
            for i in 0..50 {
                let id = format!("{file}-{m}-{i}");
                member.push_str(&rec("AuditLogs", "2024-06-20T06:00:00Z", &id));
                member.push('\n');
                want.push(id);
            }
            encode_member(c, member.as_bytes(), &mut bytes).unwrap();
        }
        write(
            &archive.join(format!(
                "insights-logs-auditlogs/tenantId=t/y=2024/m=06/d=20/h=06/m=00/{file}"
            )),
            &bytes,
        );
    }
    let state = d.path().join("state.json");
    let s = replay(&config(d.path()), &opts(&archive, &state), never())
        .await
        .unwrap();
    assert!(s.complete, "{}", s.render());
    assert_eq!(s.records, want.len() as u64);
    assert_eq!(s.dead_lettered, 0);
    let got = delivered(d.path());
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want);
    assert!(got.values().all(|&n| n == 1), "each once");
    let st = ReplayState::load(&state).unwrap();
    assert_eq!(st.files.len(), 3);
    assert!(st.files.values().all(|p| p.done), "{st:?}");
    // The same command again: everything is done, nothing is sent twice.
    let again = replay(&config(d.path()), &opts(&archive, &state), never())
        .await
        .unwrap();
    assert_eq!((again.files_already_done, again.records), (3, 0));
    assert!(delivered(d.path()).values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_lines_and_damaged_members_are_dead_lettered_with_file_and_offset() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    // A plain NDJSON export with a broken line between good ones.
    let good1 = rec("SignInLogs", "2024-06-20T05:10:00Z", "p1");
    let good2 = rec("SignInLogs", "2024-06-20T05:10:00Z", "p2");
    let plain = format!("{good1}\n{{\"broken\": \n{good2}\n");
    write(&input.join("export.ndjson"), plain.as_bytes());
    // A gzip file: a good member, a truncated one, a good one.
    let mut gz = Vec::new();
    encode_member(
        Compression::Gzip,
        format!("{}\n", rec("AuditLogs", "2024-06-20T05:00:00Z", "g1")).as_bytes(),
        &mut gz,
    )
    .unwrap();
    let torn_at = gz.len();
    let mut torn = Vec::new();
    let big: String = (0..2000)
        .map(|i| rec("AuditLogs", "2024-06-20T05:00:00Z", &format!("lost{i}")) + "\n")
        .collect();
    encode_member(Compression::Gzip, big.as_bytes(), &mut torn).unwrap();
    gz.extend_from_slice(&torn[..torn.len() / 3]);
    encode_member(
        Compression::Gzip,
        format!("{}\n", rec("AuditLogs", "2024-06-20T05:00:00Z", "g2")).as_bytes(),
        &mut gz,
    )
    .unwrap();
    write(&input.join("archive.ndjson.gz"), &gz);

    let s = replay(
        &config(d.path()),
        &opts(&input, &d.path().join("s.json")),
        never(),
    )
    .await
    .unwrap();
    assert!(s.complete, "{}", s.render());
    assert_eq!(s.damaged_members, 1);
    let got = delivered(d.path());
    for id in ["p1", "p2", "g1", "g2"] {
        assert_eq!(got.get(id), Some(&1), "{id} delivered once: {got:?}");
    }
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(d.path().join("dead.ndjson"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let plain_name = input.join("export.ndjson").display().to_string();
    let broken = dead
        .iter()
        .find(|v| v["topic"] == plain_name.as_str())
        .expect("the broken line is dead-lettered under its file");
    let at = broken["offset"].as_u64().unwrap() + broken["body_offset"].as_u64().unwrap_or(0);
    assert_eq!(
        at as usize,
        good1.len() + 1,
        "offset of the broken line in the file"
    );
    let gz_name = input.join("archive.ndjson.gz").display().to_string();
    let damaged = dead
        .iter()
        .find(|v| v["topic"] == gz_name.as_str() && v["reason"] == "unreadable_body")
        .expect("the damaged member is dead-lettered under its file");
    let why = damaged["error"].as_str().unwrap();
    assert!(
        why.contains(&format!("gzip member at compressed byte {torn_at}")),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_until_and_categories_select_exactly_what_an_independent_filter_selects() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.ndjson");
    let cats = ["SignInLogs", "AuditLogs", "NonInteractiveUserSignInLogs"];
    let mut text = String::new();
    for i in 0..600u32 {
        let cat = cats[(i % 3) as usize];
        // Spread over 2024-06-20 00:00 .. 10:00, minute by minute, out of order.
        let minute = (i * 37) % 600;
        let time = format!(
            "2024-06-20T{:02}:{:02}:{:02}Z",
            minute / 60,
            minute % 60,
            i % 60
        );
        let r = rec(cat, &time, &format!("r{i}"));
        if i % 7 == 0 {
            // Some lines are envelopes of two records.
            let j = i + 10_000;
            let r2 = rec("AuditLogs", &time, &format!("r{j}"));
            text.push_str(&format!("{{\"records\":[{r},{r2}]}}\n"));
        } else {
            text.push_str(&r);
            text.push('\n');
        }
    }
    write(&input, text.as_bytes());
    let since = "2024-06-20T02:30:00Z";
    let until = "2024-06-20T07:00:00Z";
    // Independently: serde_json over every record, string comparison of RFC 3339 times.
    let mut want: Vec<String> = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let records = match v.get("records") {
            Some(rs) => rs.as_array().unwrap().clone(),
            None => vec![v],
        };
        for r in records {
            let t = r["time"].as_str().unwrap();
            let c = r["category"].as_str().unwrap();
            if t >= since && t < until && (c == "SignInLogs" || c == "AuditLogs") {
                want.push(r["properties"]["id"].as_str().unwrap().to_owned());
            }
        }
    }
    want.sort();
    let mut o = opts(&input, &d.path().join("s.json"));
    o.selection = Selection {
        since: Some(parse_time(since).unwrap()),
        until: Some(parse_time(until).unwrap()),
        categories: Some(vec!["signinlogs".into(), "AuditLogs".into()]),
    };
    let s = replay(&config(d.path()), &o, never()).await.unwrap();
    assert!(s.complete, "{}", s.render());
    let got = delivered(d.path());
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want);
    assert!(got.values().all(|&n| n == 1));
    assert_eq!(s.records + s.not_selected, 600 + 86);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replay_resumes_where_it_stopped_without_gaps() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in");
    let mut want = Vec::new();
    for f in 0..4 {
        let mut text = String::new();
        for i in 0..3000 {
            let id = format!("f{f}-{i}");
            text.push_str(&rec("SignInLogs", "2024-06-20T05:10:00Z", &id));
            text.push('\n');
            want.push(id);
        }
        write(&input.join(format!("part{f}.ndjson")), text.as_bytes());
    }
    let state = d.path().join("s.json");
    let mut o = opts(&input, &state);
    o.rate_mb = Some(1.0); // ~2.5 MB in total: stopped after 0.8 s, mid-way
    let first = replay(
        &config(d.path()),
        &o,
        tokio::time::sleep(Duration::from_millis(800)),
    )
    .await
    .unwrap();
    assert!(!first.complete, "{}", first.render());
    let partial = delivered(d.path()).len();
    assert!(partial > 0 && partial < want.len(), "{partial}");
    o.rate_mb = None;
    let second = replay(&config(d.path()), &o, never()).await.unwrap();
    assert!(second.complete, "{}", second.render());
    assert!(second.records < want.len() as u64, "resumed, not restarted");
    let got = delivered(d.path());
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want, "no gaps");
}

#[tokio::test]
async fn dry_run_counts_per_sink_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.ndjson");
    let text = format!(
        "{}\n{}\nnot json\n",
        rec("SignInLogs", "2024-06-20T05:10:00Z", "a"),
        rec("AuditLogs", "2024-06-20T05:10:00Z", "b")
    );
    write(&input, text.as_bytes());
    let state = d.path().join("s.json");
    let mut o = opts(&input, &state);
    o.dry_run = true;
    let s = replay(&config(d.path()), &o, never()).await.unwrap();
    assert_eq!((s.records, s.dead_lettered), (2, 1));
    assert_eq!(s.by_sink.get("out"), Some(&2));
    assert!(!d.path().join("out.ndjson").exists());
    assert!(!state.exists());
    let mut bad = o.clone();
    bad.sinks = Some(vec!["nope".into()]);
    let e = replay(&config(d.path()), &bad, never())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("configured: out"), "{e}");
}
