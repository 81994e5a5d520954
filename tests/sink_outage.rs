use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entrastream_app::config::{Config, Env};
use entrastream_app::{Hooks, start};
use entrastream_sink::{EncodedBatch, Outcome, RecordEncoder, RetryReason, Sink, SinkError};

use crate::support::*;

/// Wraps a sink; refuses every send (retryable) while the outage window is open.
#[derive(Debug)]
struct Outage {
    inner: Box<dyn Sink>,
    window: Arc<Mutex<Option<(Instant, Duration)>>>,
}

#[async_trait]
impl Sink for Outage {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.inner.encoder()
    }
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let down = self
            .window
            .lock()
            .unwrap()
            .is_some_and(|(from, len)| from.elapsed() < len);
        if down {
            return Outcome::Retryable(RetryReason::Unavailable("503 scripted outage".into()));
        }
        self.inner.send(batch).await
    }
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        self.inner.healthcheck().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The serial guard only keeps other e2e tests (other threads) out; no task here contends for it.
#[allow(clippy::await_holding_lock)]
async fn a_sink_outage_pauses_bounds_memory_and_loses_nothing() {
    let _serial = serial();
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("outage", 4);
    let outage_secs: u64 = std::env::var("E2E_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let traffic = {
        let b = broker.bootstrap.clone();
        tokio::task::spawn_blocking(move || produce(&b, "outage", 4, 60_000, 0, 51))
            .await
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let budget: i64 = 4 << 20;
    let cfg = daemon_config(
        dir.path(),
        "o",
        &broker.bootstrap,
        "outage",
        "outage-group",
        "max_in_flight_bytes = \"4MiB\"\nbatch_max_bytes = \"256KiB\"\nretry_max = \"1s\"",
    );
    let env = Env::from_pairs([("E2E_SASL_PASSWORD", SECRET)]);
    let config = Config::from_str(&std::fs::read_to_string(&cfg).unwrap(), false, &env).unwrap();
    let window: Arc<Mutex<Option<(Instant, Duration)>>> = Arc::default();
    let w = window.clone();
    let hooks = Hooks {
        wrap_sink: Some(Box::new(move |inner| {
            Box::new(Outage {
                inner,
                window: w.clone(),
            }) as Box<dyn Sink>
        })),
        extra_sinks: Vec::new(),
    };
    let running = start(&config, &env, hooks).await.unwrap();
    // sample in-flight bytes, paused partitions and readiness while it runs
    let max_in_flight = Arc::new(AtomicI64::new(0));
    let max_paused = Arc::new(AtomicI64::new(0));
    let saw_unready = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (m, mi, mp, su, stop, h) = (
            running.metrics.clone(),
            max_in_flight.clone(),
            max_paused.clone(),
            saw_unready.clone(),
            stop.clone(),
            running.health.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                mi.fetch_max(m.in_flight_bytes.get(), Ordering::SeqCst);
                mp.fetch_max(m.paused_partitions.get(), Ordering::SeqCst);
                if h.ready().is_err() {
                    su.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // open the outage once some records are through
    let records_path = dir.path().join("o-records.ndjson");
    let deadline = Instant::now() + Duration::from_secs(60);
    while line_count(&records_path) < 2_000 {
        assert!(Instant::now() < deadline, "no deliveries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    *window.lock().unwrap() = Some((Instant::now(), Duration::from_secs(outage_secs)));
    let delivered_at_start = line_count(&records_path);
    tokio::time::sleep(Duration::from_secs(outage_secs / 2)).await;
    assert_eq!(
        line_count(&records_path),
        delivered_at_start,
        "sink wrote during the outage"
    );
    let end = traffic.end_offsets();
    let committed_mid = broker.committed("outage-group", "outage", 4);
    assert!(
        committed_mid.iter().zip(&end).any(|(c, e)| c < e),
        "everything committed although the sink was down"
    );
    let total: u64 = end.iter().sum::<i64>() as u64;
    let deadline = Instant::now() + Duration::from_secs(outage_secs + 120);
    while running.progress.messages_done.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "did not recover after the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    let pauses = running.metrics.partition_pauses.get();
    let retries = running.metrics.render();
    running.stop().await.unwrap();
    let seen = ids_in(&records_path);
    let missing = traffic
        .ids()
        .into_iter()
        .filter(|id| !seen.contains_key(id))
        .count();
    assert_eq!(missing, 0, "records lost");
    assert!(pauses > 0, "partitions were never paused");
    assert!(
        max_paused.load(Ordering::SeqCst) > 0,
        "paused_partitions gauge never rose"
    );
    assert!(
        saw_unready.load(Ordering::SeqCst),
        "readiness never reported the failing sink"
    );
    assert!(retries.contains("entrastream_sink_retries_total{sink=\"file\"}"));
    // Above the budget the pipeline takes no further message, so in flight stays within the
    // budget plus the message that crossed it and the encodings of one batch.
    let slack = 2 * traffic.max_message as i64 + 2 * (256 << 10);
    let max = max_in_flight.load(Ordering::SeqCst);
    eprintln!("max in-flight {max} bytes, budget {budget}, slack {slack}");
    assert!(
        max <= budget + slack,
        "in-flight {max} > budget {budget} + {slack}"
    );
    assert_eq!(broker.committed("outage-group", "outage", 4), end);
}
