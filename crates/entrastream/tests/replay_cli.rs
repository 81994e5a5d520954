//! `entrastream replay` as a process: `kill -9` mid-replay, then the same command resumes
//! from the state file and every record arrives (duplicates allowed, no gaps).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rec(time: &str, id: &str) -> String {
    format!(
        r#"{{"time":"{time}","tenantId":"t","category":"SignInLogs","operationName":"Sign-in activity","properties":{{"id":"{id}","createdDateTime":"{time}","userPrincipalName":"someone@example.com","appDisplayName":"Office 365"}}}}"#
    )
}

fn delivered(path: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        // A kill can tear the last line of the sink's file; the file sink terminates it on
        // reopen and the record is sent again.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            *out.entry(v["properties"]["id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    out
}

#[test]
fn kill_9_mid_replay_then_the_same_command_resumes_without_gaps() {
    let d = tempfile::tempdir().unwrap();
    let archive = d.path().join("archive");
    let mut want = Vec::new();
    for h in 0..6 {
        let dir = archive.join(format!(
            "insights-logs-signinlogs/tenantId=t/y=2024/m=06/d=20/h={h:02}/m=00"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for i in 0..4000 {
            let id = format!("h{h}-{i}");
            text.push_str(&rec(&format!("2024-06-20T{h:02}:10:00Z"), &id));
            text.push('\n');
            want.push(id);
        }
        std::fs::write(dir.join("PT1H.json"), text).unwrap();
    }
    let out = d.path().join("out.ndjson");
    let config = d.path().join("replay.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nenabled = false\n\n[pipeline]\ncheckpoint_interval = \"100ms\"\n\n[[sinks]]\nname = \"out\"\ntype = \"file\"\nschema = \"raw\"\npath = \"{}\"\n\n[dead_letter]\npath = \"{}\"\n",
            out.display(),
            d.path().join("dead.ndjson").display()
        ),
    )
    .unwrap();
    let command = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_entrastream"));
        c.current_dir(d.path())
            .args(["replay", "--config"])
            .arg(&config)
            .arg("--from")
            .arg(&archive)
            .args(["--rate", "1.5"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    // ~5.5 MB at 1.5 MB/s: killed after 1.5 s, well before the end.
    let mut child = command().spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still replaying when killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let states: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            (n.starts_with("entrastream-replay-") && n.ends_with(".json")).then_some(n)
        })
        .collect();
    assert_eq!(states.len(), 1, "the default state file: {states:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join(&states[0])).unwrap()).unwrap();
    let files = state["files"].as_object().unwrap();
    assert!(!files.is_empty(), "progress was committed before the kill");
    assert!(
        files.values().any(|p| p["done"] == false) || files.len() < 6,
        "not finished at the kill: {state}"
    );
    let before = delivered(&out).len();
    assert!(before > 0 && before < want.len(), "{before}");

    let started = Instant::now();
    let second = command().output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("complete; state in"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60));
    let got = delivered(&out);
    want.sort();
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        want,
        "no record missing"
    );
    let resent: usize = got.values().map(|n| n - 1).sum();
    assert!(
        resent < want.len() / 2,
        "resumed, not restarted: {resent} sent twice"
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let config = d.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[[sinks]]\nname = \"out\"\ntype = \"stdout\"\n\n[dead_letter]\npath = \"{}\"\n",
            d.path().join("dead.ndjson").display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .current_dir(d.path())
            .arg("replay")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--from", ".", "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--from", ".", "--sinks", "splunk"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("configured: out"));
}

/// `replay --from http://127.0.0.1:<port>/devstoreaccount1/<container>` (Azurite): blobs are
/// listed and read with ranged GETs; `kill -9` mid-replay, then the same command resumes
/// from the state file (blob + byte offset) and every record arrives.
#[test]
fn replay_from_azurite_resumes_after_kill_9_without_gaps() {
    let Some(azurite) = entrastream_testkit::Azurite::start() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let account = azurite.account();
    let upload = |path: &str, text: &[u8]| {
        rt.block_on(entrastream_testkit::put_append_blob(&account, path, text))
    };
    let d = tempfile::tempdir().unwrap();
    let mut want = Vec::new();
    for h in 0..6 {
        let mut text = String::new();
        for i in 0..4000 {
            let id = format!("h{h}-{i}");
            text.push_str(&rec(&format!("2024-06-20T{h:02}:10:00Z"), &id));
            text.push('\n');
            want.push(id);
        }
        upload(
            &format!(
                "insights-logs-signinlogs/tenantId=t/y=2024/m=06/d=20/h={h:02}/m=00/PT1H.json"
            ),
            text.as_bytes(),
        );
    }
    // A numbered sibling of hour 5 (what the sink writes past the block limit) is read too.
    let sibling = rec("2024-06-20T05:50:00Z", "sibling");
    upload(
        "insights-logs-signinlogs/tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.1.json",
        format!("{sibling}\n").as_bytes(),
    );
    want.push("sibling".into());
    let out = d.path().join("out.ndjson");
    let config = d.path().join("replay.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nenabled = false\n\n[pipeline]\ncheckpoint_interval = \"100ms\"\n\n[[sinks]]\nname = \"out\"\ntype = \"file\"\nschema = \"raw\"\npath = \"{}\"\n\n[dead_letter]\npath = \"{}\"\n",
            out.display(),
            d.path().join("dead.ndjson").display()
        ),
    )
    .unwrap();
    let from = format!(
        "http://127.0.0.1:{}/devstoreaccount1/insights-logs-signinlogs",
        azurite.port
    );
    let command = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_entrastream"));
        c.current_dir(d.path())
            .args(["replay", "--config"])
            .arg(&config)
            .args(["--from", &from, "--rate", "1.5"])
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let mut child = command().spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still replaying when killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let states: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            (n.starts_with("entrastream-replay-") && n.ends_with(".json")).then_some(n)
        })
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join(&states[0])).unwrap()).unwrap();
    let files = state["files"].as_object().unwrap();
    assert!(!files.is_empty(), "progress was committed before the kill");
    assert!(
        files.keys().all(|k| k.starts_with(&from)),
        "state names blobs by URL: {state}"
    );
    let before = delivered(&out).len();
    assert!(before > 0 && before < want.len(), "{before}");

    let second = command().output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("complete; state in"), "{stderr}");
    let got = delivered(&out);
    want.sort();
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        want,
        "no record missing"
    );
    let resent: usize = got.values().map(|n| n - 1).sum();
    assert!(
        resent < want.len() / 2,
        "resumed, not restarted: {resent} sent twice"
    );

    // `report` reads the same SOURCE forms: the container URL, and a directory in the layout
    // holding a gzip hour file.
    let report = |source: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["report", "--format", "json", source])
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["window"]["records_read"].as_u64().unwrap()
    };
    assert_eq!(report(&from), want.len() as u64);
    let hour = d
        .path()
        .join("dir/insights-logs-signinlogs/tenantId=t/y=2024/m=06/d=20/h=01/m=00");
    std::fs::create_dir_all(&hour).unwrap();
    let mut gz = Vec::new();
    for part in ["a", "b"] {
        let text: String = (0..10)
            .map(|i| format!("{}\n", rec("2024-06-20T01:00:00Z", &format!("{part}{i}"))))
            .collect();
        entrastream_archive::encode_member(
            entrastream_archive::Compression::Gzip,
            text.as_bytes(),
            &mut gz,
        )
        .unwrap();
    }
    std::fs::write(hour.join("PT1H.json.gz"), gz).unwrap();
    assert_eq!(report(d.path().join("dir").to_str().unwrap()), 20);
}
