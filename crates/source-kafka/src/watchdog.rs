//! A silent broker connection noticed in seconds, not after `socket.timeout.ms`.
//!
//! A connection whose path goes silent without a reset (a NAT or load-balancer entry dropped,
//! a blackholed route) is noticed by librdkafka only when a request on it times out. The
//! partition fetch in flight on it waits `socket.timeout.ms` (30 s, the low end of Microsoft's
//! range for Event Hubs, see [`crate::SOCKET_TIMEOUT_MS`]) plus `fetch.wait.max.ms`, and
//! librdkafka cannot stop that partition's fetcher before: a rebalance (the group session is
//! lost behind the same silence) waits in "wait-unassign-to-complete" for it, so the consumer
//! rejoins only after the request timeout, whatever else has healed by then (the fault suite's
//! network row measured 41–48 s of stall behind a 15 s blackhole).
//!
//! Design decision: keep `socket.timeout.ms` where Microsoft wants it and *ask* a suspect
//! connection instead. A healthy broker answers every fetch within `fetch.wait.max.ms` (it
//! holds an empty fetch at most that long), so a broker connection with requests waiting and
//! nothing received for [`SILENCE_MARGIN`] beyond that is suspect (librdkafka's statistics
//! say both: `waitresp_cnt`, `rxidle`). The watchdog then sends that broker one cheap request
//! with a short timeout of its own: a watermark query (`ListOffsets`) for a partition it leads,
//! bounded by [`PROBE_TIMEOUT`]. A live connection answers it (nothing happens); on a dead one
//! it times out, and librdkafka drops a connection as soon as one of its requests timed out
//! (`socket.max.fails = 1`, its default), failing the stuck fetch with it: the fetcher stops,
//! a pending unassign completes and the consumer reconnects and rejoins on the healed path.
//! Only the probe has the short timeout; every other request keeps `socket.timeout.ms`, so a
//! slow but live broker is never cut off (the probe is answered). The probe runs on its own
//! thread: it never holds the poll thread.
//!
//! It works from librdkafka's statistics (`statistics.interval.ms`, 5 s as the source sets it:
//! a suspect is probed 5–10 s into the silence) and relies on `socket.max.fails` ≥ 1; a user
//! who sets either to 0 in `[source.properties]` switches the watchdog off with it, and a dead
//! connection is then noticed after `socket.timeout.ms` again.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::statistics::Statistics;

/// How much longer than `fetch.wait.max.ms` a broker connection with requests waiting may stay
/// silent before it is probed. A healthy broker answers a fetch within `fetch.wait.max.ms`
/// plus a round trip; 5 s covers a slow, busy or throttled answer many times over.
pub const SILENCE_MARGIN: Duration = Duration::from_secs(5);

/// How long the probe may wait for its answer. A watermark query is answered in milliseconds
/// by a live broker (behind at most one fetch, `fetch.wait.max.ms`, on the same connection);
/// this is the detection time of a dead connection once it is suspect.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// librdkafka's `fetch.wait.max.ms` default.
const DEFAULT_FETCH_WAIT: Duration = Duration::from_millis(500);

/// A broker connection to probe, and a partition it leads (the probe's route to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// librdkafka's name of the broker (`host:port/id`).
    pub broker: String,
    /// A topic of a partition the broker leads.
    pub topic: String,
    /// That partition.
    pub partition: i32,
    /// How long nothing was received on the connection.
    pub silent_for: Duration,
}

/// How long a broker connection with requests waiting may stay silent before it is probed,
/// for the consumer's `fetch.wait.max.ms` (`None`: librdkafka's default).
pub fn silence_bound(fetch_wait_max_ms: Option<&str>) -> Duration {
    fetch_wait_max_ms
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_FETCH_WAIT, Duration::from_millis)
        + SILENCE_MARGIN
}

/// The broker connections the statistics show as suspect: up, with requests waiting for an
/// answer, nothing received for longer than `silent_after`, and leading a partition (the
/// group coordinator's and the bootstrap connections lead none: their requests have their own
/// timeouts, and they cannot be probed with a watermark query). One probe per broker, through
/// its lowest partition.
pub fn suspects(stats: &Statistics, silent_after: Duration) -> Vec<Probe> {
    let mut probes: Vec<Probe> = stats
        .brokers
        .values()
        .filter(|b| b.nodeid >= 0 && b.state == "UP" && b.waitresp_cnt > 0)
        .filter_map(|b| {
            let silent_for = Duration::from_micros(u64::try_from(b.rxidle).ok()?);
            if silent_for <= silent_after {
                return None;
            }
            let led = b
                .toppars
                .values()
                .filter(|tp| tp.partition >= 0)
                .min_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)))?;
            Some(Probe {
                broker: b.name.clone(),
                topic: led.topic.clone(),
                partition: led.partition,
                silent_for,
            })
        })
        .collect();
    probes.sort_by(|a, b| a.broker.cmp(&b.broker));
    probes
}

/// The statistics side: hands suspects to the probe thread without ever waiting.
#[derive(Debug)]
pub struct Watchdog {
    probes: SyncSender<Probe>,
    silent_after: Duration,
}

impl Watchdog {
    /// A watchdog for connections silent longer than `silent_after`; the receiver goes to
    /// [`run`].
    pub fn new(silent_after: Duration) -> (Self, Receiver<Probe>) {
        // One probe queued at most: while one is running, further suspects wait for the next
        // statistics interval (the probe itself drops the connection if it is dead).
        let (probes, rx) = std::sync::mpsc::sync_channel(1);
        (
            Watchdog {
                probes,
                silent_after,
            },
            rx,
        )
    }

    /// Called at every statistics interval.
    pub fn check(&self, stats: &Statistics) {
        for probe in suspects(stats, self.silent_after) {
            match self.probes.try_send(probe) {
                Ok(()) | Err(TrySendError::Full(_)) => {}
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

/// The probe thread: one bounded watermark query per suspect until `stop` or the consumer is
/// gone. Holds the consumer only while a probe runs.
pub fn run<C: ConsumerContext>(
    consumer: Weak<BaseConsumer<C>>,
    probes: Receiver<Probe>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    while !stop.load(Ordering::SeqCst) {
        let probe = match probes.recv_timeout(Duration::from_millis(200)) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(consumer) = consumer.upgrade() else {
            return;
        };
        tracing::info!(
            broker = %probe.broker,
            silent_secs = probe.silent_for.as_secs_f64(),
            "no answer from a broker connection with requests waiting; probing it with a watermark query"
        );
        match consumer.fetch_watermarks(&probe.topic, probe.partition, PROBE_TIMEOUT) {
            Ok(_) => {
                tracing::info!(broker = %probe.broker, "the broker connection answered the probe")
            }
            Err(e) => tracing::warn!(
                broker = %probe.broker,
                error = %e,
                "the broker connection did not answer the probe in {}s: librdkafka drops it (socket.max.fails) and reconnects; fetches resume on the new connection",
                PROBE_TIMEOUT.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(brokers: serde_json::Value) -> Statistics {
        serde_json::from_value(serde_json::json!({
            "name": "c", "client_id": "c", "type": "consumer", "ts": 0, "time": 0, "age": 0,
            "replyq": 0, "msg_cnt": 0, "msg_size": 0, "msg_max": 0, "msg_size_max": 0,
            "simple_cnt": 0, "metadata_cache_cnt": 0, "tx": 0, "tx_bytes": 0, "rx": 0,
            "rx_bytes": 0, "txmsgs": 0, "txmsg_bytes": 0, "rxmsgs": 0, "rxmsg_bytes": 0,
            "brokers": brokers, "topics": {},
        }))
        .expect("statistics")
    }

    fn broker(
        name: &str,
        nodeid: i32,
        state: &str,
        waitresp: i64,
        rxidle_ms: i64,
        parts: &[i32],
    ) -> serde_json::Value {
        let toppars: serde_json::Map<String, serde_json::Value> = parts
            .iter()
            .map(|p| {
                (
                    format!("t-{p}"),
                    serde_json::json!({"topic": "t", "partition": p}),
                )
            })
            .collect();
        serde_json::json!({
            "name": name, "nodeid": nodeid, "nodename": name, "source": "learned",
            "state": state, "stateage": 0, "outbuf_cnt": 0, "outbuf_msg_cnt": 0,
            "waitresp_cnt": waitresp, "waitresp_msg_cnt": 0, "tx": 0, "txbytes": 0,
            "txerrs": 0, "txretries": 0, "txidle": 0, "req_timeouts": 0, "rx": 0,
            "rxbytes": 0, "rxerrs": 0, "rxcorriderrs": 0, "rxpartial": 0,
            "rxidle": rxidle_ms * 1000, "req": {}, "zbuf_grow": 0, "buf_grow": 0,
            "toppars": toppars,
        })
    }

    #[test]
    fn only_a_silent_partition_leader_with_requests_waiting_is_probed() {
        let bound = silence_bound(Some("500"));
        assert_eq!(bound, Duration::from_millis(5500));
        let s = stats(serde_json::json!({
            // Silent for 8 s with a fetch waiting: probed through its lowest partition.
            "dead:9092/1": broker("dead:9092/1", 1, "UP", 1, 8000, &[3, 1]),
            // Answers within the fetch wait: healthy.
            "live:9092/2": broker("live:9092/2", 2, "UP", 1, 400, &[0]),
            // Nothing asked (all its partitions paused): silence is normal.
            "idle:9092/3": broker("idle:9092/3", 3, "UP", 0, 60_000, &[2]),
            // Already reconnecting: librdkafka's own timeouts apply.
            "down:9092/4": broker("down:9092/4", 4, "DOWN", 1, 60_000, &[4]),
            // The group coordinator's connection leads no partition: not probed here.
            "GroupCoordinator": broker("GroupCoordinator", 1, "UP", 1, 60_000, &[]),
            // The bootstrap connection.
            "boot:9092/bootstrap": broker("boot:9092/bootstrap", -1, "UP", 1, 60_000, &[5]),
            // Never received anything yet.
            "new:9092/6": broker("new:9092/6", 6, "UP", 1, -1, &[6]),
        }));
        assert_eq!(
            suspects(&s, bound),
            vec![Probe {
                broker: "dead:9092/1".into(),
                topic: "t".into(),
                partition: 1,
                silent_for: Duration::from_secs(8),
            }]
        );
    }

    #[test]
    fn the_silence_bound_follows_the_fetch_wait() {
        assert_eq!(silence_bound(None), Duration::from_millis(5500));
        assert_eq!(silence_bound(Some("50")), Duration::from_millis(5050));
        assert_eq!(silence_bound(Some("10000")), Duration::from_secs(15));
        assert_eq!(silence_bound(Some("soon")), Duration::from_millis(5500));
    }
}
