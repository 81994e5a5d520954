//! entrastream end to end, against a real Kafka-protocol broker (nisshi) started per test on a
//! loopback port. In CI (`CI=true`) a missing peer fails the test; elsewhere it is skipped with
//! a visible message.
#![forbid(unsafe_code)]

mod support;
// The Event Hubs peer, AMQP daemon configs, checkpoint stores.
mod amqp_support;
// The AMQP source: resume, replicas sharing partitions, retention, bad credentials.
mod amqp;

// The daemon entry point for child-process tests (crash, rebalance, shutdown).
mod child;
// Crash: kill -9 at several points, restart, everything delivered, duplicates bounded.
mod crash;
// Poison messages, offsets advancing, /metrics through promtool, no secret leaks.
mod poison;
// Two daemons in one group; one is killed; the survivor takes over.
mod rebalance;
// SIGTERM mid-stream: exit 0, committed offsets equal what was delivered.
mod shutdown;
// A sink that refuses writes for a while: nothing lost, paused, memory bounded.
mod sink_outage;
// A Splunk outage past max.poll.interval.ms: the consumer keeps its group; retention headroom.
mod poll_outage;
// Splunk HEC and Sumo Logic sinks against their peers, one down: nothing lost.
mod siem;
// The syslog sink in the daemon: Kafka → entrastream → rsyslog over RELP, nothing lost.
mod syslog;
// `entrastream checkpoints show|set` against what the daemon committed.
mod checkpoints;
// The disk buffer in the daemon: metrics and /status, a full buffer, kill -9 while draining.
mod buffer;
// Hostile categories and metadata through every sink type: delivered or dead-lettered.
mod hostile;
// The archive_dir sink in the daemon (container and hour per record) and replay beside the
// live group.
mod archive;
