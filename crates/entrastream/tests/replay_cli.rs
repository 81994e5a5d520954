//! `entrastream replay` as a process: `kill -9` mid-replay, then the same command resumes
//! from the state file and every record arrives (duplicates allowed, no gaps).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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
    let config = write_config(d.path(), "replay.toml", &file_sink_sections(&out));
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
    let config = write_config(
        d.path(),
        "c.toml",
        "[[sinks]]\nname = \"out\"\ntype = \"stdout\"\n",
    );
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
    let config = write_config(d.path(), "replay.toml", &file_sink_sections(&out));
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

/// The storage-export path Azure Monitor gives a record (docs/archive.md): its category lower
/// case, its tenant, the hour of its event time.
fn azure_blob_path(record: &[u8]) -> Option<String> {
    let r = entrastream_entra::parse_record(
        entrastream_entra::RecordSlice {
            bytes: record,
            offset: 0,
        },
        &entrastream_entra::ParseOptions::default(),
    )
    .expect("a generated record parses");
    let mut t = String::new();
    r.event_time()?.write_rfc3339(&mut t).unwrap();
    let (y, mo, d, h) = (&t[0..4], &t[5..7], &t[8..10], &t[11..13]);
    Some(format!(
        "insights-logs-{}/tenantId={}/y={y}/m={mo}/d={d}/h={h}/m=00/PT1H.json",
        r.category().to_lowercase(),
        r.tenant_id().unwrap_or("unknown"),
    ))
}

/// Issue 15, test 1: an archive in Azure's own format (written here as Microsoft documents it:
/// one append blob per category, tenant and hour, one record per line) is read by `replay` and
/// `report` exactly like the archive entrastream writes. `replay` from Azure's archive into an
/// `azure_blob` sink gives, blob for blob and line for line, the same archive; `report` over
/// either gives the same document.
#[test]
fn azures_own_archive_and_ours_are_read_alike_by_replay_and_report() {
    let Some(azure) = entrastream_testkit::Azurite::start() else {
        return;
    };
    let Some(ours) = entrastream_testkit::Azurite::start() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let generated = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["generate", "--messages", "40", "--seed", "15"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut records = 0;
    for body in generated
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
    {
        for slice in entrastream_entra::split(body) {
            let slice = slice.expect("generated envelopes split");
            // Azure stamps every record with its time; a generated one without a readable
            // time has no hour blob to go to.
            let Some(path) = azure_blob_path(slice.bytes) else {
                continue;
            };
            let text = blobs.entry(path).or_default();
            text.extend_from_slice(slice.bytes);
            text.push(b'\n');
            records += 1;
        }
    }
    assert!(
        blobs.len() > 3,
        "several containers and hours: {:?}",
        blobs.keys()
    );
    let azure_account = azure.account();
    for (path, text) in &blobs {
        rt.block_on(entrastream_testkit::put_append_blob(
            &azure_account,
            path,
            text,
        ));
    }
    let urls = |z: &entrastream_testkit::Azurite| -> Vec<String> {
        rt.block_on(entrastream_testkit::containers(
            &z.account(),
            "insights-logs-",
        ))
        .into_iter()
        .map(|c| format!("http://127.0.0.1:{}/devstoreaccount1/{c}", z.port))
        .collect()
    };

    // Azure's archive replayed into entrastream's archive sink.
    let d = tempfile::tempdir().unwrap();
    let config = write_config(
        d.path(),
        "replay.toml",
        "[admin]\nenabled = false\n\n[[sinks]]\nname = \"archive\"\ntype = \"azure_blob\"\nconnection_string_env = \"E2E_OURS_CS\"\n",
    );
    let replayed = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["replay", "--config", config.to_str().unwrap()])
        .args(urls(&azure).iter().flat_map(|u| ["--from", u.as_str()]))
        .env("E2E_OURS_CS", ours.connection_string())
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .current_dir(d.path())
        .output()
        .unwrap();
    assert_eq!(
        replayed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let lines = |z: &entrastream_testkit::Azurite| {
        let mut l = rt.block_on(entrastream_testkit::blob_lines(
            &z.account(),
            "insights-logs-",
        ));
        l.sort();
        l
    };
    let (theirs, mine) = (lines(&azure), lines(&ours));
    assert_eq!(theirs.len(), records);
    assert!(
        theirs == mine,
        "replay of Azure's archive into ours differs: {} lines against {}, first difference {:?}",
        theirs.len(),
        mine.len(),
        theirs.iter().zip(&mine).find(|(a, b)| a != b)
    );

    // `report` over either archive: the same answers.
    let report = |z: &entrastream_testkit::Azurite| -> serde_json::Value {
        let o = Command::new(env!("CARGO_BIN_EXE_entrastream"))
            .args(["report", "--format", "json"])
            .args(urls(z))
            .env_remove("AZURE_STORAGE_CONNECTION_STRING")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (over_theirs, over_mine) = (report(&azure), report(&ours));
    assert_eq!(over_theirs["window"]["records_read"], records);
    assert_eq!(
        over_theirs, over_mine,
        "report differs between the archives"
    );
}

/// A `.gz` input far larger than the byte budget (~200 MB decompressed, ~110 MB compressed:
/// random base64 in every record keeps gzip from shrinking it much) replays into the
/// blackhole sink with every record delivered and peak RSS (`VmHWM`) bounded: the compressed
/// file is decoded as a stream, not held whole in memory (which alone would be ~110 MB).
#[test]
fn a_gzip_input_much_larger_than_the_budget_replays_in_bounded_memory() {
    use std::io::Write;
    const RECORDS: u64 = 400_000;
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("big.ndjson.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(std::fs::File::create(&input).unwrap()),
        flate2::Compression::fast(),
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut decompressed = 0u64;
    for i in 0..RECORDS {
        let mut noise = String::with_capacity(300);
        for _ in 0..300 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.push(alphabet[(x & 63) as usize] as char);
        }
        let line = format!(
            r#"{{"time":"2024-06-20T05:10:00Z","tenantId":"t","category":"SignInLogs","operationName":"Sign-in activity","properties":{{"id":"big-{i}","createdDateTime":"2024-06-20T05:10:00Z","userPrincipalName":"someone@example.com","appDisplayName":"Office 365","userAgent":"{noise}"}}}}"#
        );
        gz.write_all(line.as_bytes()).unwrap();
        gz.write_all(b"\n").unwrap();
        decompressed += line.len() as u64 + 1;
    }
    gz.finish().unwrap().flush().unwrap();
    let compressed = std::fs::metadata(&input).unwrap().len();
    const BUDGET: u64 = 16 << 20;
    assert!(
        decompressed > 180_000_000 && compressed > 6 * BUDGET,
        "input {decompressed} B, {compressed} B compressed"
    );
    let config = write_config(
        d.path(),
        "replay.toml",
        "[admin]\nenabled = false\n\n[pipeline]\nmax_in_flight_bytes = \"16MiB\"\ncheckpoint_interval = \"200ms\"\n\n[[sinks]]\nname = \"hole\"\ntype = \"blackhole\"\n",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entrastream"));
    cmd.current_dir(d.path())
        .args(["replay", "--config"])
        .arg(&config)
        .arg("--from")
        .arg(&input);
    let started = Instant::now();
    let mut child = entrastream_testkit::ChildProcess::spawn(cmd, &d.path().join("replay.log"));
    // VmHWM is a high-water mark: the last reading before the exit is the peak (within the
    // last 20 ms of a run that decodes from its first second).
    let mut peak_kib = 0;
    let status = loop {
        if let Some(k) = child.peak_rss_kib() {
            peak_kib = peak_kib.max(k);
        }
        if let Some(s) = child.wait_timeout(Duration::from_millis(20)) {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "replay did not finish in 90 s"
        );
    };
    let log = child.log_text();
    assert!(status.success(), "{log}");
    assert!(
        log.contains(&format!("records {RECORDS} ({RECORDS} delivered)")),
        "{log}"
    );
    let peak_mib = peak_kib / 1024;
    eprintln!(
        "gzip replay: {} MB decompressed, {} MB compressed, peak RSS {peak_mib} MiB, {:.1} s",
        decompressed / 1_000_000,
        compressed / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    // Budget (16 MiB) + the runtime, parser and sink buffers; far below the compressed size.
    assert!(
        peak_mib < 96 && (peak_kib * 1024) < compressed * 3 / 4,
        "peak RSS {peak_mib} MiB for a {} MB compressed input",
        compressed / 1_000_000
    );
}

/// Writes `dir/NAME` with the given sections and the dead-letter file in `dir`, as every
/// replay config here has; returns its path.
fn write_config(dir: &Path, name: &str, sections: &str) -> PathBuf {
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "{sections}\n[dead_letter]\npath = \"{}\"\n",
            dir.join("dead.ndjson").display()
        ),
    )
    .unwrap();
    config
}

/// `[admin]` off, fast checkpoints, and a raw `file` sink writing to `out`.
fn file_sink_sections(out: &Path) -> String {
    format!(
        "[admin]\nenabled = false\n\n[pipeline]\ncheckpoint_interval = \"100ms\"\n\n[[sinks]]\nname = \"out\"\ntype = \"file\"\nschema = \"raw\"\npath = \"{}\"\n",
        out.display()
    )
}
