//! `entrastream checkpoints` against the daemon's own results (issue 17): `show` after a run
//! equals what the run committed; `set` by time, then `run` resumes exactly at the first
//! record at or after that time; `set` is refused while a daemon consumes.

use std::path::Path;
use std::time::{Duration, SystemTime};

use entrastream_app::config::{Config, Env};
use entrastream_checkpoint_tool::Target;
use entrastream_checkpoint_tool::amqp::AmqpTool;
use entrastream_checkpoint_tool::kafka::KafkaTool;

use crate::amqp_support::{AmqpCase, AmqpDaemon, Hub, checkpoints, positions};
use crate::support::*;
use entrastream_partition_store::StoredCheckpoint;

fn kafka_tool(cfg: &Path) -> KafkaTool {
    let env = Env::from_pairs([("E2E_SASL_PASSWORD", SECRET)]);
    let config = Config::load(cfg, &env).expect("config");
    let settings = entrastream_app::kafka_config(&config).expect("kafka settings");
    KafkaTool::new(settings, Duration::from_secs(3600)).expect("kafka tool")
}

fn amqp_tool(hub: &Hub, d: &AmqpDaemon<'_>) -> AmqpTool {
    let env = Env::from_pairs(d.env());
    let config = Config::load(&d.write(), &env).expect("config");
    let settings = entrastream_app::amqp::amqp_settings(&config).expect("amqp settings");
    let store = entrastream_app::amqp::checkpoint_store(&config, &settings).expect("store");
    hub.block_on(AmqpTool::new(settings, store))
        .expect("amqp tool")
}

/// Runs the daemon until every id of `expected` is in `records`, then stops it cleanly.
fn run_until_delivered(cfg: &Path, env: &[(String, String)], records: &Path, expected: usize) {
    let mut daemon = Daemon::start_with_env(cfg, env);
    wait_for_daemon(
        &daemon,
        "every record delivered",
        Duration::from_secs(120),
        || line_count(records) >= expected && ids_in(records).len() >= expected,
    );
    daemon.term();
    let status = daemon.wait_timeout(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        daemon.log_text()
    );
}

#[test]
fn kafka_show_after_a_run_equals_what_was_committed_and_set_by_time_resumes_there() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let rt = current_thread_runtime();
    let before = rt.block_on(produce_topic(&broker, "cp", 3, 3_000, 41));
    // Kafka timestamps are milliseconds; leave a clear gap on both sides of the cut.
    std::thread::sleep(Duration::from_millis(1100));
    let cut = SystemTime::now();
    std::thread::sleep(Duration::from_millis(200));
    let after = produce(&broker.bootstrap, "cp", 3, 2_000, 0, 42);
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(dir.path(), "cp", &broker.bootstrap, "cp", "cp-group", "");
    let records = dir.path().join("cp-records.ndjson");
    run_until_delivered(&cfg, &[], &records, before.records + after.records);

    // show == what the run committed == the log's end.
    let tool = kafka_tool(&cfg);
    let report = tool.show().unwrap();
    let committed = broker.committed("cp-group", "cp", 3);
    let shown: Vec<i64> = report
        .partitions
        .iter()
        .map(|p| p.committed.unwrap_or(-1))
        .collect();
    assert_eq!(shown, committed, "{report:#?}");
    let ends: Vec<i64> = before
        .end_offsets()
        .iter()
        .zip(after.end_offsets())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(committed, ends);
    assert!(
        report
            .partitions
            .iter()
            .all(|p| p.lag == 0 && p.log_end == ends[p.partition as usize])
    );
    assert_eq!(report.group_state.as_deref(), Some("Empty"), "{report:#?}");

    // set --to-time: each partition moves to the first record produced after the cut.
    let plan = tool.plan(Target::Time(cut), None).unwrap();
    let new: Vec<i64> = plan.moves.iter().map(|m| m.new).collect();
    assert_eq!(new, before.end_offsets(), "{plan:#?}");
    assert!(plan.blockers.is_empty(), "{plan:#?}");
    tool.apply(&plan).unwrap();

    // run again into a fresh file: exactly the records after the cut, each once.
    let cfg2 = daemon_config(dir.path(), "cp2", &broker.bootstrap, "cp", "cp-group", "");
    let records2 = dir.path().join("cp2-records.ndjson");
    run_until_delivered(&cfg2, &[], &records2, after.records);
    let seen = ids_in(&records2);
    let expected = after.ids();
    let missing = expected.iter().filter(|id| !seen.contains_key(*id)).count();
    let extra = seen.keys().filter(|id| !expected.contains(*id)).count();
    assert_eq!((missing, extra), (0, 0), "resumed elsewhere than the cut");
    assert!(seen.values().all(|n| *n == 1));
}

#[test]
fn kafka_set_is_refused_while_a_daemon_runs() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    let rt = current_thread_runtime();
    let traffic = rt.block_on(produce_topic(&broker, "busy", 2, 1_000, 43));
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(
        dir.path(),
        "busy",
        &broker.bootstrap,
        "busy",
        "busy-group",
        "",
    );
    let records = dir.path().join("busy-records.ndjson");
    let mut daemon = Daemon::start(&cfg);
    wait_for_daemon(&daemon, "deliveries", Duration::from_secs(60), || {
        ids_in(&records).len() >= traffic.records
    });
    let tool = kafka_tool(&cfg);
    let plan = tool.plan(Target::Earliest, None).unwrap();
    assert_eq!(plan.blockers.len(), 1, "{plan:#?}");
    // The daemon's client.id starts its member id.
    assert!(
        plan.blockers[0].contains("member entrastream-"),
        "{plan:#?}"
    );
    daemon.term();
    assert!(daemon.wait_timeout(Duration::from_secs(30)).is_some());
}

#[test]
fn amqp_show_after_a_run_equals_the_store_and_set_by_time_resumes_there() {
    let _serial = serial();
    let AmqpCase { hub, dir, store } =
        AmqpCase::file(Hub::start("cpamqp", 2, Duration::from_secs(24 * 3600)));
    let d = AmqpDaemon::new(dir.path(), "cpa", &hub, &store);
    let cfg = d.write();
    let now = SystemTime::now();
    let mut traffic = Traffic::default();
    hub.produce_at(
        &mut traffic,
        1_000,
        51,
        Some(now - Duration::from_secs(7200)),
    );
    let before: Vec<i64> = traffic.messages.iter().map(|m| m.len() as i64).collect();
    let before_ids = traffic.ids();
    hub.produce_at(&mut traffic, 800, 52, Some(now - Duration::from_secs(3600)));
    let after_ids: std::collections::HashSet<String> =
        traffic.ids().difference(&before_ids).cloned().collect();
    run_until_delivered(&cfg, &d.env(), &d.records(), traffic.records);

    let tool = amqp_tool(&hub, &d);
    let report = hub.block_on(tool.show()).unwrap();
    assert!(report.hub_reachable, "{report:#?}");
    let shown: Vec<i64> = report
        .partitions
        .iter()
        .map(|p| p.checkpoint_sequence_number.unwrap_or(-1))
        .collect();
    assert_eq!(shown, checkpoints(&hub, &store, "$Default"), "{report:#?}");
    let last: Vec<i64> = traffic
        .messages
        .iter()
        .map(|m| m.len() as i64 - 1)
        .collect();
    assert_eq!(shown, last);
    assert!(
        report.partitions.iter().all(|p| p.lag == Some(0)),
        "{report:#?}"
    );
    // The stopped daemon relinquished its partitions.
    assert!(
        report.partitions.iter().all(|p| !p.owner_live),
        "{report:#?}"
    );

    // set --to-time between the two batches: the next event read is the first of the second.
    let cut = now - Duration::from_secs(5400);
    let plan = hub.block_on(tool.plan(Target::Time(cut), None)).unwrap();
    let next: Vec<i64> = plan.moves.iter().map(|m| m.next_read).collect();
    assert_eq!(next, before, "{plan:#?}");
    assert!(plan.blockers.is_empty(), "{plan:#?}");
    hub.block_on(tool.apply(&plan)).unwrap();
    let moved: Vec<i64> = before.iter().map(|n| n - 1).collect();
    assert_eq!(checkpoints(&hub, &store, "$Default"), moved);
    let shown = hub.block_on(tool.show()).unwrap();
    let lag: Vec<Option<i64>> = shown.partitions.iter().map(|p| p.lag).collect();
    let expected_lag: Vec<Option<i64>> = traffic
        .messages
        .iter()
        .zip(&before)
        .map(|(m, b)| Some(m.len() as i64 - b))
        .collect();
    assert_eq!(lag, expected_lag, "{shown:#?}");
    // The first unprocessed event was enqueued an hour ago.
    for p in &shown.partitions {
        let age = p.lag_seconds.expect("lag in time");
        assert!((3590.0..3700.0).contains(&age), "{shown:#?}");
    }

    // run again into a fresh file: exactly the second batch.
    let d2 = AmqpDaemon::new(dir.path(), "cpa2", &hub, &store);
    let cfg2 = d2.write();
    run_until_delivered(&cfg2, &d2.env(), &d2.records(), after_ids.len());
    let seen = ids_in(&d2.records());
    let pos = positions(&traffic);
    let wrong: Vec<_> = seen
        .keys()
        .filter(|id| !after_ids.contains(*id))
        .map(|id| (id, pos.get(id)))
        .take(5)
        .collect();
    assert!(
        wrong.is_empty(),
        "records before the cut came again: {wrong:?}"
    );
    assert!(after_ids.iter().all(|id| seen.contains_key(id)));
}

#[test]
fn amqp_set_is_refused_while_a_replica_owns_partitions() {
    let _serial = serial();
    let AmqpCase { hub, dir, store } =
        AmqpCase::file(Hub::start("cpbusy", 2, Duration::from_secs(24 * 3600)));
    let d = AmqpDaemon::new(dir.path(), "owner-a", &hub, &store);
    let cfg = d.write();
    let mut traffic = Traffic::default();
    hub.produce(&mut traffic, 200, 53);
    let mut daemon = Daemon::start_with_env(&cfg, &d.env());
    wait_for_daemon(&daemon, "deliveries", Duration::from_secs(60), || {
        ids_in(&d.records()).len() >= traffic.records
    });
    let tool = amqp_tool(&hub, &d);
    let report = hub.block_on(tool.show()).unwrap();
    assert!(
        report
            .partitions
            .iter()
            .all(|p| p.owner_live && p.owner.as_deref() == Some("owner-a")),
        "{report:#?}"
    );
    let plan = hub.block_on(tool.plan(Target::Earliest, None)).unwrap();
    assert_eq!(plan.blockers.len(), 2, "{plan:#?}");
    assert!(
        plan.blockers.iter().all(|b| b.contains("owner owner-a")),
        "{plan:#?}"
    );
    daemon.term();
    assert!(daemon.wait_timeout(Duration::from_secs(30)).is_some());
}

/// `checkpoints set` on a Blob store (Azurite) writes what the Azure SDK's own processors
/// read: the official `azure_messaging_eventhubs_checkpointstore_blob` (`tests/sdk-compat`)
/// reads back, per partition, the sequence number and offset the plan moved to, so an SDK
/// processor sharing the container resumes where the tool put it.
#[test]
fn amqp_set_on_blob_storage_is_read_by_the_official_sdk_store() {
    let _serial = serial();
    let sdk = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("sdk-compat/target/debug/sdk-compat");
    if !sdk.is_file() {
        entrastream_testkit::peer_missing(
            "tests/sdk-compat binary (cargo build --manifest-path tests/sdk-compat/Cargo.toml)",
        );
        return;
    }
    let Some(azurite) = entrastream_testkit::Azurite::start() else {
        return;
    };
    let AmqpCase { hub, dir, store } = AmqpCase::blob(
        Hub::start("cpsdk", 2, Duration::from_secs(24 * 3600)),
        &azurite,
        "cpsdk",
    );
    let d = AmqpDaemon::new(dir.path(), "cps", &hub, &store);
    let now = SystemTime::now();
    let mut traffic = Traffic::default();
    hub.produce_at(&mut traffic, 300, 54, Some(now - Duration::from_secs(7200)));
    let before: Vec<i64> = traffic.messages.iter().map(|m| m.len() as i64).collect();
    hub.produce_at(&mut traffic, 200, 55, Some(now - Duration::from_secs(3600)));

    let tool = amqp_tool(&hub, &d);
    let plan = hub
        .block_on(tool.plan(Target::Time(now - Duration::from_secs(5400)), None))
        .unwrap();
    assert!(plan.blockers.is_empty(), "{plan:#?}");
    hub.block_on(tool.apply(&plan)).unwrap();
    let moved: Vec<i64> = before.iter().map(|n| n - 1).collect();
    assert_eq!(
        plan.moves.iter().map(|m| m.new).collect::<Vec<_>>(),
        moved,
        "{plan:#?}"
    );

    let key = hub.key("$Default");
    // Our store lower-cases blob names as the .NET processor does; the Rust SDK's store uses
    // the names as given (docs/operations.md), so it is asked with the lower-cased names.
    let out = std::process::Command::new(&sdk)
        .arg("read-checkpoints")
        .args(["--connection-string", &azurite.connection_string()])
        .args(["--container", "cpsdk"])
        .args(["--namespace", &key.fully_qualified_namespace.to_lowercase()])
        .args(["--hub", &key.event_hub.to_lowercase()])
        .args(["--group", &key.consumer_group.to_lowercase()])
        .output()
        .expect("run sdk-compat");
    assert!(
        out.status.success(),
        "sdk-compat read-checkpoints: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut by_partition: Vec<(String, Option<i64>, Option<String>)> = read
        .as_array()
        .expect("an array of checkpoints")
        .iter()
        .map(|c| {
            (
                c["partition_id"].as_str().unwrap_or_default().to_string(),
                c["sequence_number"].as_i64(),
                c["offset"].as_str().map(str::to_string),
            )
        })
        .collect();
    by_partition.sort();
    let ours: Vec<StoredCheckpoint> = hub
        .block_on(store.open().list_checkpoints(&key))
        .expect("our store's checkpoints");
    let mut ours: Vec<(String, Option<i64>, Option<String>)> = ours
        .into_iter()
        .map(|c| (c.partition_id, c.sequence_number, c.offset))
        .collect();
    ours.sort();
    assert_eq!(by_partition, ours, "the SDK reads what the tool wrote");
    assert_eq!(
        by_partition.iter().map(|c| c.1).collect::<Vec<_>>(),
        moved.iter().map(|n| Some(*n)).collect::<Vec<_>>()
    );
    assert!(
        by_partition
            .iter()
            .all(|c| c.2.as_deref().is_some_and(|o| !o.is_empty())),
        "an SDK processor resumes from the offset: {by_partition:?}"
    );
}

/// The runtime these synchronous tests produce their traffic on.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
