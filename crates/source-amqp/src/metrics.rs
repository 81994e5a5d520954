//! The AMQP source's own metrics (names are a contract: alerts and the dashboard use them).

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Reports consumer lag in events (the daemon's shared `entrastream_consumer_lag_messages`).
pub type LagReporter = std::sync::Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

/// Metrics of the AMQP source, registered in the daemon's registry.
#[derive(Clone, Debug)]
pub struct AmqpMetrics {
    /// Partitions the hub has.
    pub source_partitions: IntGaugeVec,
    /// Partitions this replica owns.
    pub owned_partitions: IntGaugeVec,
    /// Seconds until the oldest unprocessed event of a partition leaves the hub's retention.
    pub retention_headroom: GaugeVec,
    /// Last sequence number the hub enqueued, by partition.
    pub last_enqueued_sequence: IntGaugeVec,
    /// Highest sequence number every sink accepted, by partition.
    pub processed_sequence: IntGaugeVec,
    /// Events that left retention before they were read, by partition.
    pub lost_to_retention: IntCounterVec,
    /// Partitions claimed (newly owned).
    pub ownership_claims: IntCounterVec,
    /// Partitions lost, by reason (stolen, expired, rebalanced).
    pub ownership_losses: IntCounterVec,
    /// Requests to the checkpoint/ownership store, by operation and outcome.
    pub store_requests: IntCounterVec,
}

impl AmqpMetrics {
    /// Counts `lost` events of `partition` that left the hub's retention unread.
    pub fn count_lost_to_retention(&self, hub: &str, partition: &str, lost: i64) {
        self.lost_to_retention
            .with_label_values(&[hub, partition])
            .inc_by(u64::try_from(lost).unwrap_or_default());
    }

    /// Registers the metrics. A name already registered (two sources in one registry, tests)
    /// is not an error: the second copy simply is not exported.
    pub fn register(registry: &Registry) -> Self {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
            let _ = r.register(Box::new(c.clone()));
            c
        }
        let int_gauge = |name: &str, help: &str, labels: &[&str]| {
            reg(
                registry,
                IntGaugeVec::new(Opts::new(name, help), labels)
                    .unwrap_or_else(|e| panic!("metric {name}: {e}")),
            )
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(
                registry,
                IntCounterVec::new(Opts::new(name, help), labels)
                    .unwrap_or_else(|e| panic!("metric {name}: {e}")),
            )
        };
        AmqpMetrics {
            source_partitions: int_gauge(
                "entrastream_source_partitions",
                "Partitions the event hub has",
                &["topic"],
            ),
            owned_partitions: int_gauge(
                "entrastream_owned_partitions",
                "Partitions this replica owns in the checkpoint store",
                &["topic"],
            ),
            retention_headroom: reg(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "entrastream_retention_headroom_seconds",
                        "Seconds until the oldest unprocessed event leaves the hub's retention (then events are lost)",
                    ),
                    &["topic", "partition"],
                )
                .unwrap_or_else(|e| panic!("metric: {e}")),
            ),
            last_enqueued_sequence: int_gauge(
                "entrastream_last_enqueued_sequence_number",
                "Sequence number of the last event the hub enqueued",
                &["topic", "partition"],
            ),
            processed_sequence: int_gauge(
                "entrastream_processed_sequence_number",
                "Highest sequence number every sink accepted",
                &["topic", "partition"],
            ),
            lost_to_retention: counter(
                "entrastream_events_lost_to_retention_total",
                "Events that left the hub's retention before entrastream read them",
                &["topic", "partition"],
            ),
            ownership_claims: counter(
                "entrastream_ownership_claims_total",
                "Partitions this replica claimed",
                &["topic"],
            ),
            ownership_losses: counter(
                "entrastream_ownership_losses_total",
                "Partitions this replica stopped owning, by reason",
                &["topic", "reason"],
            ),
            store_requests: counter(
                "entrastream_checkpoint_store_requests_total",
                "Requests to the checkpoint and ownership store, by operation and outcome",
                &["operation", "outcome"],
            ),
        }
    }

    /// Drops the per-partition series of a partition this replica no longer owns, so a
    /// scrape never shows another replica's partition with stale values.
    pub fn forget_partition(&self, topic: &str, partition: &str) {
        let labels = [topic, partition];
        let _ = self.retention_headroom.remove_label_values(&labels);
        let _ = self.last_enqueued_sequence.remove_label_values(&labels);
        let _ = self.processed_sequence.remove_label_values(&labels);
    }
}
