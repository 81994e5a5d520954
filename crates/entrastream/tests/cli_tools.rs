//! The command line as a tool (issue 17): completions and man pages from the clap
//! definitions, enumerated values listed in help, exit codes in each command's help,
//! `ENTRASTREAM_CONFIG`, and `checkpoints` wiring (usage, invalid config, refusal).

use std::process::{Command, Output};

fn entrastream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(args)
        .env_remove("ENTRASTREAM_CONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn completions_cover_subcommands_and_enumerated_values() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef entrastream"),
        ("fish", "complete -c entrastream"),
    ] {
        let out = entrastream(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["checkpoints", "check-config", "ocsf", "markdown", "amqp"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    assert_eq!(entrastream(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_pages_come_from_the_same_definitions() {
    let out = entrastream(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH entrastream"),
        "{page}"
    );
    assert!(page.contains("checkpoints"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = entrastream(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    for page in [
        "entrastream.1",
        "entrastream-run.1",
        "entrastream-checkpoints-set.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_default();
        assert!(text.contains(".SH"), "{page} missing or empty");
    }
}

#[test]
fn help_lists_enumerated_values_and_exit_codes() {
    for (cmd, values) in [
        (vec!["parse"], "raw"),
        (vec!["report"], "markdown"),
        (vec!["demo"], "amqp"),
        (vec!["checkpoints", "show"], "json"),
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = stdout(&entrastream(&args));
        assert!(
            help.contains("Possible values") || help.contains("possible values"),
            "{cmd:?}: {help}"
        );
        assert!(help.contains(values), "{cmd:?}: {help}");
    }
    for cmd in [
        "parse",
        "generate",
        "run",
        "check-config",
        "check-sinks",
        "demo",
        "report",
        "completions",
        "man",
    ] {
        let help = stdout(&entrastream(&[cmd, "--help"]));
        assert!(help.contains("Exit codes:\n  0"), "{cmd}: {help}");
    }
    for cmd in ["show", "set"] {
        let help = stdout(&entrastream(&["checkpoints", cmd, "--help"]));
        assert!(
            help.contains("Exit codes:\n  0"),
            "checkpoints {cmd}: {help}"
        );
    }
}

#[test]
fn values_keep_their_old_spellings() {
    let out = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["parse", "--schema", "ECS", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = entrastream(&["report", "--format", "md", "/dev/null"]);
    assert_eq!(
        md.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&md.stderr)
    );
    let markdown = entrastream(&["report", "--format", "MARKDOWN", "/dev/null"]);
    assert_eq!(markdown.status.code(), Some(0));
    assert_eq!(stdout(&md), stdout(&markdown));
    assert_ne!(stdout(&md), stdout(&entrastream(&["report", "/dev/null"])));
}

#[test]
fn the_config_file_can_come_from_entrastream_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("e.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"127.0.0.1:1\"\ntopic = \"t\"\n\n[[sinks]]\nname = \"f\"\ntype = \"file\"\npath = \"{}\"\n\n[dead_letter]\npath = \"{}\"\n",
            dir.path().join("out.ndjson").display(),
            dir.path().join("dl.ndjson").display()
        ),
    )
    .unwrap();
    let by_flag = entrastream(&["check-config", "--config", cfg.to_str().unwrap()]);
    assert_eq!(
        by_flag.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&by_flag.stderr)
    );
    let by_env = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .arg("check-config")
        .env("ENTRASTREAM_CONFIG", &cfg)
        .output()
        .unwrap();
    assert_eq!(
        by_env.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    assert_eq!(stdout(&by_env), stdout(&by_flag));
    // The flag wins over the environment.
    let flag_wins = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["check-config", "--config", cfg.to_str().unwrap()])
        .env("ENTRASTREAM_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(flag_wins.status.code(), Some(0));
    // Neither: a usage error naming both.
    let neither = entrastream(&["check-config"]);
    assert_eq!(neither.status.code(), Some(2));
    let bad = Command::new(env!("CARGO_BIN_EXE_entrastream"))
        .args(["checkpoints", "show"])
        .env("ENTRASTREAM_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid configuration"));
}

#[test]
fn checkpoints_set_needs_exactly_one_target() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("none.toml");
    let cfg = cfg.to_str().unwrap();
    assert_eq!(
        entrastream(&["checkpoints", "set", "-c", cfg])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        entrastream(&[
            "checkpoints",
            "set",
            "-c",
            cfg,
            "--to-earliest",
            "--to-latest"
        ])
        .status
        .code(),
        Some(2)
    );
    // An offset names its partition.
    let out = entrastream(&["checkpoints", "set", "-c", cfg, "--to-offset", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--partition"));
    let out = entrastream(&["checkpoints", "set", "-c", cfg, "--to-time", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
}

/// The binary's wiring of `checkpoints` on a real broker: `show --format json`, and `set`
/// refused with exit 3 (nothing written) while a member is live, applied once it has left.
#[test]
fn checkpoints_against_a_broker_refuse_while_a_member_is_live() {
    use entrastream_testkit::kafka::{Broker, Producing};
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::time::{Duration, Instant};

    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("cli-cp", 2);
    let mut p = Producing::new(&broker.bootstrap, "cli-cp", 2);
    for i in 0..10 {
        p.send(format!("m{i}").as_bytes());
    }
    p.finish();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"{}\"\ntopic = \"cli-cp\"\nconsumer_group = \"cli-g\"\n\n[[sinks]]\nname = \"f\"\ntype = \"file\"\npath = \"{}\"\n",
            broker.bootstrap,
            dir.path().join("out.ndjson").display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();

    let show = entrastream(&["checkpoints", "show", "-c", cfg, "--format", "json"]);
    assert_eq!(
        show.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["source"], "kafka");
    assert_eq!(v["partitions"][1]["log_end"], 5);
    assert_eq!(v["partitions"][1]["lag"], 5);

    let member: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "cli-g")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    member.subscribe(&["cli-cp"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while member.assignment().unwrap().count() < 2 {
        assert!(Instant::now() < deadline, "no assignment");
        let _ = member.poll(Duration::from_millis(100));
    }
    let set = entrastream(&["checkpoints", "set", "-c", cfg, "--to-latest", "--yes"]);
    let text = stdout(&set);
    assert_eq!(set.status.code(), Some(3), "{text}");
    assert!(
        text.contains("refused") && text.contains("member rdkafka-"),
        "{text}"
    );
    assert!(text.contains("partition 1: - -> 5"), "{text}");
    assert_eq!(
        broker.committed("cli-g", "cli-cp", 2),
        vec![0, 0],
        "nothing written"
    );

    drop(member);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let set = entrastream(&["checkpoints", "set", "-c", cfg, "--to-latest", "--yes"]);
        if set.status.code() == Some(0) {
            assert!(
                stdout(&set).contains("applied: 2 partition(s)"),
                "{}",
                stdout(&set)
            );
            break;
        }
        assert!(Instant::now() < deadline, "{}", stdout(&set));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(broker.committed("cli-g", "cli-cp", 2), vec![5, 5]);
}
