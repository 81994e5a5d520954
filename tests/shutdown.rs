use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn sigterm_mid_stream_exits_zero_and_commits_exactly_what_was_delivered() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("shutdown", 4);
    let traffic = produce(&broker.bootstrap, "shutdown", 4, 100_000, 0, 21);
    let dir = tempfile::tempdir().unwrap();
    let cfg = daemon_config(
        dir.path(),
        "s",
        &broker.bootstrap,
        "shutdown",
        "shutdown-group",
        "",
    );
    let records = dir.path().join("s-records.ndjson");
    let mut daemon = Daemon::start(&cfg);
    wait_for_daemon(&daemon, "first deliveries", Duration::from_secs(60), || {
        line_count(&records) > 5_000
    });
    let sent = Instant::now();
    daemon.term();
    let status = daemon
        .wait_timeout(Duration::from_secs(15 + 5))
        .expect("exit within shutdown_timeout");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        daemon.log_text()
    );
    eprintln!("shutdown took {:?}", sent.elapsed());
    let committed = broker.committed("shutdown-group", "shutdown", 4);
    let expected = traffic.ids_below(&committed);
    let seen = ids_in(&records);
    assert!(!expected.is_empty());
    let missing = expected.iter().filter(|id| !seen.contains_key(*id)).count();
    let extra = seen.keys().filter(|id| !expected.contains(*id)).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "committed {committed:?}: delivered and committed differ"
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "a clean shutdown must not duplicate"
    );
    let log = daemon.log_text();
    assert!(!log.contains(SECRET), "secret in the daemon's log");
}
