//! `checkpoints show` / `set` against a real Kafka-protocol broker (nisshi): what show reports
//! is what the group committed and what the broker holds; set moves the group's offsets only
//! when no member is live, to positions the broker resolves.

use std::time::{Duration, SystemTime};

use entrastream_checkpoint_tool::kafka::KafkaTool;
use entrastream_checkpoint_tool::{Target, ToolError};
use entrastream_source_kafka::KafkaSourceConfig;
use entrastream_testkit::kafka::{Broker, Producing};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn source(broker: &Broker, topic: &str, group: &str) -> KafkaSourceConfig {
    KafkaSourceConfig {
        drain_timeout: Duration::from_secs(5),
        ..KafkaSourceConfig::for_brokers(broker.bootstrap.clone(), topic, group)
    }
}

/// Produces `per_partition` messages to each partition; returns when the broker has them.
fn produce(broker: &Broker, topic: &str, partitions: i32, per_partition: usize) {
    let mut p = Producing::new(&broker.bootstrap, topic, partitions);
    for i in 0..per_partition {
        for part in 0..partitions {
            p.send_to(part, format!("message {i}").as_bytes());
        }
    }
    p.finish();
}

fn commit(broker: &Broker, topic: &str, group: &str, offsets: &[i64]) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets.iter().enumerate() {
        tpl.add_partition_offset(topic, p as i32, Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
}

#[test]
fn show_reports_what_the_group_committed_and_the_log_holds() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("show", 3);
    produce(&broker, "show", 3, 40);
    commit(&broker, "show", "g-show", &[40, 25, 0]);
    let tool =
        KafkaTool::new(source(&broker, "show", "g-show"), Duration::from_secs(3600)).unwrap();
    let r = tool.show().unwrap();
    let got: Vec<(Option<i64>, i64, i64, i64)> = r
        .partitions
        .iter()
        .map(|p| (p.committed, p.log_start, p.log_end, p.lag))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(40), 0, 40, 0),
            (Some(25), 0, 40, 15),
            (Some(0), 0, 40, 40)
        ],
        "{r:#?}"
    );
    assert!(r.members.is_empty(), "{r:#?}");
    // The lagging partitions' first unconsumed records were just produced.
    for p in &r.partitions[1..] {
        let lag = p.lag_seconds.expect("lag in time");
        assert!(lag < 120.0, "{lag}");
        let headroom = p.retention_headroom_seconds.expect("headroom");
        assert!(
            headroom > 3600.0 - 120.0 && headroom <= 3600.0,
            "{headroom}"
        );
    }
    assert_eq!(r.partitions[0].lag_seconds, Some(0.0));
    // The group's committed offsets were not touched by show.
    assert_eq!(broker.committed("g-show", "show", 3), vec![40, 25, 0]);
}

#[test]
fn set_by_time_moves_to_the_first_record_at_or_after_it() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("bytime", 2);
    produce(&broker, "bytime", 2, 10);
    // Kafka timestamps have millisecond resolution: leave a clear gap around the cut.
    std::thread::sleep(Duration::from_millis(1100));
    let cut = SystemTime::now();
    std::thread::sleep(Duration::from_millis(100));
    produce(&broker, "bytime", 2, 7);
    commit(&broker, "bytime", "g-time", &[17, 17]);
    let tool = KafkaTool::new(
        source(&broker, "bytime", "g-time"),
        Duration::from_secs(3600),
    )
    .unwrap();

    let plan = tool.plan(Target::Time(cut), None).unwrap();
    let moves: Vec<(Option<i64>, i64)> = plan.moves.iter().map(|m| (m.old, m.new)).collect();
    assert_eq!(moves, vec![(Some(17), 10), (Some(17), 10)], "{plan:#?}");
    assert!(plan.blockers.is_empty(), "{plan:#?}");
    // Planning writes nothing.
    assert_eq!(broker.committed("g-time", "bytime", 2), vec![17, 17]);
    tool.apply(&plan).unwrap();
    assert_eq!(broker.committed("g-time", "bytime", 2), vec![10, 10]);

    // A time after every record: the next record produced is the first read.
    let plan = tool
        .plan(
            Target::Time(SystemTime::now() + Duration::from_secs(60)),
            Some(1),
        )
        .unwrap();
    assert_eq!(plan.moves.len(), 1);
    assert_eq!(
        (plan.moves[0].partition.as_str(), plan.moves[0].new),
        ("1", 17)
    );

    // Earliest, latest, and one partition to an offset.
    let p = tool.plan(Target::Earliest, None).unwrap();
    assert!(p.moves.iter().all(|m| m.new == 0), "{p:#?}");
    let p = tool.plan(Target::Latest, None).unwrap();
    assert!(p.moves.iter().all(|m| m.new == 17), "{p:#?}");
    let p = tool.plan(Target::Offset(3), Some(0)).unwrap();
    tool.apply(&p).unwrap();
    assert_eq!(broker.committed("g-time", "bytime", 2), vec![3, 10]);
}

#[test]
fn positions_the_log_cannot_resolve_are_refused() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("bounds", 1);
    produce(&broker, "bounds", 1, 5);
    let tool = KafkaTool::new(source(&broker, "bounds", "g-b"), Duration::from_secs(3600)).unwrap();
    for (target, only) in [
        (Target::Offset(6), Some(0)),
        (Target::Offset(-1), Some(0)),
        (Target::Earliest, Some(7)),
        (Target::Sequence(1), Some(0)),
    ] {
        let e = tool.plan(target, only).unwrap_err();
        assert!(matches!(e, ToolError::Unresolvable(_)), "{target:?}: {e}");
    }
    let e = KafkaTool::new(
        source(&broker, "no-such-topic", "g"),
        Duration::from_secs(1),
    )
    .unwrap()
    .show()
    .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn a_live_member_blocks_the_move_and_is_named() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("live", 2);
    produce(&broker, "live", 2, 5);
    let daemon: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "g-live")
        .set("client.id", "the-daemon")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    daemon.subscribe(&["live"]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while daemon.assignment().unwrap().count() < 2 {
        assert!(std::time::Instant::now() < deadline, "no assignment");
        let _ = daemon.poll(Duration::from_millis(100));
    }
    let tool =
        KafkaTool::new(source(&broker, "live", "g-live"), Duration::from_secs(3600)).unwrap();
    let report = tool.show().unwrap();
    assert_eq!(report.members.len(), 1, "{report:#?}");
    // librdkafka's member ids start with the client.id. (nisshi 0.8 leaves the member's
    // client id, host and assignment empty in DescribeGroups; Kafka fills them in, and the
    // assignment parser has its own unit tests.)
    let member = &report.members[0];
    assert!(member.id.starts_with("the-daemon"), "{report:#?}");
    if !member.partitions.is_empty() {
        assert_eq!(member.partitions, vec![0, 1], "{report:#?}");
    }
    let plan = tool.plan(Target::Earliest, None).unwrap();
    assert_eq!(plan.blockers.len(), 1, "{plan:#?}");
    assert!(plan.blockers[0].contains(&member.id), "{plan:#?}");
    // Once the member has left, the same move applies.
    drop(daemon);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let plan = loop {
        let plan = tool.plan(Target::Earliest, None).unwrap();
        if plan.blockers.is_empty() {
            break plan;
        }
        assert!(std::time::Instant::now() < deadline, "{plan:#?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    tool.apply(&plan).unwrap();
    assert_eq!(broker.committed("g-live", "live", 2), vec![0, 0]);
}
