//! Pipeline state-machine tests against in-memory sources and scripted sinks.

use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_entra::Schema;
use entrastream_generator::{Generator, GeneratorConfig, poison_message};
use entrastream_sink::{
    Coalesce, EncodedBatch, NdjsonEncoder, Outcome, RejectReason, Rejection, RetryReason, SinkError,
};
use entrastream_source::VecSource;

use super::*;

/// A sink that stores what it accepts and follows a script: fail the first `fail_first`
/// sends, reject records whose text contains `reject_marker`.
#[derive(Debug, Clone)]
struct ScriptSink {
    name: String,
    accepted: Arc<Mutex<Vec<Bytes>>>,
    sends: Arc<AtomicU64>,
    fail_first: u64,
    reject_marker: Option<String>,
    coalesce: Option<Coalesce>,
    /// Encoded bytes of every send.
    send_sizes: Arc<Mutex<Vec<usize>>>,
}

impl ScriptSink {
    fn new(name: &str) -> Self {
        ScriptSink {
            name: name.into(),
            accepted: Arc::default(),
            sends: Arc::default(),
            fail_first: 0,
            reject_marker: None,
            coalesce: None,
            send_sizes: Arc::default(),
        }
    }
    fn lines(&self) -> Vec<String> {
        let all = self.accepted.lock().unwrap();
        all.iter()
            .flat_map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

#[async_trait]
impl Sink for ScriptSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        Arc::new(NdjsonEncoder {
            schema: Schema::Native,
        })
    }
    fn coalesce(&self) -> Option<Coalesce> {
        self.coalesce
    }
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        self.send_sizes.lock().unwrap().push(batch.data.len());
        let n = self.sends.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Outcome::Retryable(RetryReason::Unavailable("scripted outage".into()));
        }
        if batch.records.is_empty() {
            // dead-letter batches carry pre-encoded lines only
            self.accepted.lock().unwrap().push(batch.data.clone());
            return Outcome::Delivered;
        }
        let mut rejected = Vec::new();
        let mut kept = Vec::new();
        for i in 0..batch.records.len() {
            let rec = batch.record(i).unwrap_or_default();
            if self
                .reject_marker
                .as_ref()
                .is_some_and(|m| String::from_utf8_lossy(rec).contains(m.as_str()))
            {
                rejected.push(Rejection {
                    index: i,
                    reason: RejectReason::Invalid("scripted rejection".into()),
                });
            } else {
                kept.extend_from_slice(rec);
                kept.push(b'\n');
            }
        }
        self.accepted.lock().unwrap().push(Bytes::from(kept));
        if rejected.is_empty() {
            Outcome::Delivered
        } else {
            Outcome::Rejected(rejected)
        }
    }
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A VecSource shared with the test so pauses and commits can be inspected afterwards.
#[derive(Debug, Clone)]
struct Shared(Arc<Mutex<VecSource>>);

#[async_trait]
impl Source for Shared {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        let ev = self.0.lock().unwrap().queue_pop();
        Ok(ev)
    }
    async fn commit(&mut self, c: &Checkpoint) -> Result<(), SourceError> {
        self.0.lock().unwrap().commits.push(c.clone());
        Ok(())
    }
    fn pause(&mut self, p: &[PartitionId]) -> Result<(), SourceError> {
        self.0.lock().unwrap().pause(p)
    }
    fn resume(&mut self, p: &[PartitionId]) -> Result<(), SourceError> {
        self.0.lock().unwrap().resume(p)
    }
    async fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

trait PopSync {
    fn queue_pop(&mut self) -> SourceEvent;
}

impl PopSync for VecSource {
    fn queue_pop(&mut self) -> SourceEvent {
        // VecSource::next_event never awaits; poll it to completion synchronously.
        let fut = Source::next_event(self);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut fut = Box::pin(fut);
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(ev)) => ev,
            _ => SourceEvent::Eof,
        }
    }
}

struct Traffic {
    partitions: Vec<Vec<Bytes>>,
    records: usize,
    ids: Vec<String>,
}

fn traffic(envelopes: usize, partitions: usize, poison: usize) -> Traffic {
    let mut g = Generator::new(GeneratorConfig {
        seed: 7,
        ..Default::default()
    })
    .unwrap();
    let mut parts = vec![Vec::new(); partitions];
    let mut records = 0;
    let mut ids = Vec::new();
    for i in 0..envelopes {
        let mut buf = Vec::new();
        let info = g.next_envelope(&mut buf);
        records += info.records;
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        for r in v["records"].as_array().unwrap() {
            let id = r["properties"]["id"]
                .as_str()
                .or(r["properties"]["requestId"].as_str())
                .unwrap_or_default();
            ids.push(id.to_string());
        }
        parts[i % partitions].push(Bytes::from(buf));
    }
    for i in 0..poison {
        let mut buf = Vec::new();
        poison_message(i, &mut buf);
        parts[i % partitions].push(Bytes::from(buf));
    }
    Traffic {
        partitions: parts,
        records,
        ids,
    }
}

fn fast_config() -> PipelineConfig {
    PipelineConfig {
        checkpoint_interval: Duration::from_millis(20),
        batch_max_bytes: 64 * 1024,
        batch_linger: Duration::from_millis(5),
        retry_initial: Duration::from_millis(1),
        retry_max: Duration::from_millis(20),
        ..PipelineConfig::default()
    }
}

async fn run_with(
    source: Shared,
    sinks: Vec<ScriptSink>,
    dl: ScriptSink,
    config: PipelineConfig,
) -> (RunSummary, Arc<Progress>, Metrics) {
    let metrics = Metrics::new();
    let progress = Arc::new(Progress::default());
    let (_tx, rx) = watch::channel(false);
    let slots = sinks
        .into_iter()
        .map(|s| SinkSlot {
            sink: Box::new(s) as Box<dyn Sink>,
            filter: CategoryFilter::new(None),
        })
        .collect();
    let summary = run(
        Box::new(source),
        Sinks {
            slots,
            dead_letter: Box::new(dl),
        },
        config,
        Telemetry {
            metrics: metrics.clone(),
            health: Health::new(),
            progress: progress.clone(),
        },
        rx,
    )
    .await
    .unwrap();
    (summary, progress, metrics)
}

fn last_offsets(t: &Traffic) -> Vec<i64> {
    t.partitions.iter().map(|p| p.len() as i64 - 1).collect()
}

#[tokio::test]
async fn every_record_is_delivered_or_dead_lettered_and_offsets_advance() {
    let t = traffic(200, 3, 8);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let sink = ScriptSink::new("file");
    let dl = ScriptSink::new("dead_letter");
    let (summary, progress, metrics) =
        run_with(src.clone(), vec![sink.clone()], dl.clone(), fast_config()).await;
    let lines = sink.lines();
    // every generated record arrives
    let seen: std::collections::HashSet<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let p = &v["properties"];
            p["id"]
                .as_str()
                .or(p["requestId"].as_str())
                .map(str::to_owned)
        })
        .collect();
    for id in &t.ids {
        assert!(seen.contains(id), "record {id} missing");
    }
    assert!(lines.len() >= t.records);
    let records_in = progress.records_in.load(Ordering::SeqCst) as usize;
    assert_eq!(lines.len(), records_in, "records out == records parsed");
    // poison went to the dead-letter sink with partition, offset and reason
    let dl_lines = dl.lines();
    assert!(dl_lines.len() >= 8, "{dl_lines:?}");
    for l in &dl_lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(
            v["partition"].is_i64()
                && v["offset"].is_i64()
                && v["reason"].is_string()
                && v["raw"].is_string(),
            "{l}"
        );
    }
    assert_eq!(
        progress.dead_lettered.load(Ordering::SeqCst) as usize,
        dl_lines.len()
    );
    // offsets advanced to the end of every partition, poison included
    for (i, last) in last_offsets(&t).into_iter().enumerate() {
        assert_eq!(
            summary.committed.get(&PartitionId::new("hub", i as i32)),
            Some(Position::Offset(last))
        );
    }
    assert_eq!(summary.abandoned_messages, 0);
    assert!(metrics.render().contains("entrastream_dead_lettered_total"));
}

#[tokio::test]
async fn a_failing_sink_is_retried_and_nothing_commits_past_it() {
    let t = traffic(60, 2, 0);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let mut flaky = ScriptSink::new("flaky");
    flaky.fail_first = 25;
    let good = ScriptSink::new("good");
    let dl = ScriptSink::new("dead_letter");
    let (summary, _, metrics) = run_with(
        src.clone(),
        vec![flaky.clone(), good.clone()],
        dl,
        fast_config(),
    )
    .await;
    assert_eq!(flaky.lines().len(), t.records);
    assert_eq!(good.lines().len(), t.records);
    assert!(
        metrics
            .render()
            .contains("entrastream_sink_retries_total{sink=\"flaky\"} 25")
    );
    // commits are monotonic per partition and end at the last offset
    let commits = src.0.lock().unwrap().commits.clone();
    let mut last: HashMap<PartitionId, Position> = HashMap::new();
    for c in &commits {
        for (p, pos) in c.iter() {
            if let Some(prev) = last.get(p) {
                assert!(pos > prev, "commit went backwards: {c:?}");
            }
            last.insert(p.clone(), *pos);
        }
    }
    for (i, l) in last_offsets(&t).into_iter().enumerate() {
        assert_eq!(
            summary.committed.get(&PartitionId::new("hub", i as i32)),
            Some(Position::Offset(l))
        );
    }
}

#[tokio::test]
async fn rejected_records_go_to_the_dead_letter_sink() {
    let t = traffic(80, 2, 0);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let mut picky = ScriptSink::new("picky");
    picky.reject_marker = Some("\"AuditLogs\"".into());
    let dl = ScriptSink::new("dead_letter");
    let (_, progress, _) = run_with(src, vec![picky.clone()], dl.clone(), fast_config()).await;
    let delivered = picky.lines().len();
    let dl_lines = dl.lines();
    assert!(!dl_lines.is_empty(), "the generator mix has audit records");
    assert_eq!(
        delivered + dl_lines.len(),
        progress.records_in.load(Ordering::SeqCst) as usize
    );
    let v: serde_json::Value = serde_json::from_str(&dl_lines[0]).unwrap();
    assert_eq!(v["source"], "picky");
    assert_eq!(v["reason"], "sink_rejected");
    assert_eq!(v["error"], "scripted rejection");
}

#[tokio::test]
async fn a_full_budget_pauses_and_later_resumes() {
    let t = traffic(300, 2, 0);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let mut slow = ScriptSink::new("slow");
    slow.fail_first = 30;
    let dl = ScriptSink::new("dead_letter");
    let config = PipelineConfig {
        max_in_flight_bytes: 96 * 1024,
        batch_max_bytes: 16 * 1024,
        ..fast_config()
    };
    let (_, _, metrics) = run_with(src.clone(), vec![slow.clone()], dl, config).await;
    let s = src.0.lock().unwrap();
    assert!(s.pause_count > 0, "never paused");
    assert!(s.paused.is_empty(), "still paused at the end");
    assert_eq!(slow.lines().len(), t.records);
    assert!(
        metrics
            .render()
            .contains("entrastream_partition_pauses_total")
    );
}

#[tokio::test]
async fn merged_batches_are_acknowledged_only_with_their_send_and_rejections_find_their_batch() {
    let t = traffic(120, 2, 4);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let mut merging = ScriptSink::new("merging");
    merging.reject_marker = Some("\"AuditLogs\"".into());
    merging.fail_first = 3;
    let max_bytes = 1 << 20;
    // Waits far longer than the test for 400 KiB: every send but the last merges batches.
    merging.coalesce = Some(Coalesce {
        min_bytes: 400 * 1024,
        max_bytes,
        max_wait: Duration::from_secs(600),
    });
    let plain = ScriptSink::new("plain");
    let dl = ScriptSink::new("dead_letter");
    let config = PipelineConfig {
        batch_max_bytes: 16 * 1024,
        ..fast_config()
    };
    let (summary, progress, _) = run_with(
        src.clone(),
        vec![merging.clone(), plain.clone()],
        dl.clone(),
        config,
    )
    .await;
    let records_in = progress.records_in.load(Ordering::SeqCst) as usize;
    // every record reached the plain sink, and the merging sink took it or dead-lettered it
    assert_eq!(plain.lines().len(), records_in);
    let rejected: Vec<serde_json::Value> = dl
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["reason"] == "sink_rejected")
        .collect();
    assert!(!rejected.is_empty(), "the generator mix has audit records");
    assert_eq!(merging.lines().len() + rejected.len(), records_in);
    for v in &rejected {
        assert_eq!(v["source"], "merging");
        assert_eq!(v["category"], "AuditLogs");
    }
    // batches were merged, never past max_bytes (one batch alone may be larger)
    let sizes = merging.send_sizes.lock().unwrap().clone();
    let plain_sizes = plain.send_sizes.lock().unwrap().clone();
    let largest_batch = plain_sizes.iter().copied().max().unwrap();
    assert!(
        sizes.iter().all(|&s| s <= max_bytes.max(largest_batch)),
        "{sizes:?}"
    );
    // (the three scripted failures resend their merged batch)
    assert!(
        sizes.len() - 3 < plain_sizes.len() / 2,
        "{} sends for {} batches",
        sizes.len(),
        plain_sizes.len()
    );
    for (i, last) in last_offsets(&t).into_iter().enumerate() {
        assert_eq!(
            summary.committed.get(&PartitionId::new("hub", i as i32)),
            Some(Position::Offset(last))
        );
    }
    assert_eq!(summary.abandoned_messages, 0);
}

#[tokio::test]
async fn a_sink_with_a_minimum_request_gets_batches_merged_up_to_it() {
    let t = traffic(150, 1, 0);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let min_bytes = 100 * 1024;
    let mut sumo_like = ScriptSink::new("sumo_like");
    // A wait far longer than the test: only reaching min_bytes or the end of the stream
    // (which closes the queues) releases a merged batch.
    sumo_like.coalesce = Some(Coalesce {
        min_bytes,
        max_bytes: 1 << 20,
        max_wait: Duration::from_secs(600),
    });
    let dl = ScriptSink::new("dead_letter");
    let config = PipelineConfig {
        batch_max_bytes: 8 * 1024,
        ..fast_config()
    };
    let (summary, progress, _) = run_with(src.clone(), vec![sumo_like.clone()], dl, config).await;
    assert_eq!(
        sumo_like.lines().len(),
        progress.records_in.load(Ordering::SeqCst) as usize
    );
    let sizes = sumo_like.send_sizes.lock().unwrap().clone();
    assert!(sizes.len() >= 2, "{sizes:?}");
    let (last, rest) = sizes.split_last().unwrap();
    assert!(*last > 0);
    assert!(
        rest.iter().all(|&s| (min_bytes..=1 << 20).contains(&s)),
        "{sizes:?}"
    );
    assert_eq!(
        summary.committed.get(&PartitionId::new("hub", 0)),
        Some(Position::Offset(t.partitions[0].len() as i64 - 1))
    );
}

/// A sink that delegates to a [`ScriptSink`] but panics on its `panic_at`-th send (0-based):
/// a bug in a sink, as the worker task sees it.
#[derive(Debug, Clone)]
struct PanicSink {
    inner: ScriptSink,
    sends: Arc<AtomicU64>,
    panic_at: u64,
}

#[async_trait]
impl Sink for PanicSink {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.inner.encoder()
    }
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        if self.sends.fetch_add(1, Ordering::SeqCst) == self.panic_at {
            panic!("scripted sink bug");
        }
        self.inner.send(batch).await
    }
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Record ids of every message, per partition and offset.
fn ids_by_offset(t: &Traffic) -> Vec<Vec<Vec<String>>> {
    t.partitions
        .iter()
        .map(|msgs| {
            msgs.iter()
                .map(|m| {
                    let v: serde_json::Value = serde_json::from_slice(m).unwrap_or_default();
                    v["records"]
                        .as_array()
                        .map(|rs| {
                            rs.iter()
                                .map(|r| {
                                    let p = &r["properties"];
                                    p["id"]
                                        .as_str()
                                        .or(p["requestId"].as_str())
                                        .unwrap_or_default()
                                        .to_string()
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect()
}

async fn run_expecting_failure(
    source: Shared,
    sinks: Vec<Box<dyn Sink>>,
    dl: Box<dyn Sink>,
    config: PipelineConfig,
) -> PipelineError {
    let (_tx, rx) = watch::channel(false);
    let slots = sinks
        .into_iter()
        .map(|sink| SinkSlot {
            sink,
            filter: CategoryFilter::new(None),
        })
        .collect();
    let run = run(
        Box::new(source),
        Sinks {
            slots,
            dead_letter: dl,
        },
        config,
        Telemetry {
            metrics: Metrics::new(),
            health: Health::new(),
            progress: Arc::new(Progress::default()),
        },
        rx,
    );
    match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Ok(summary)) => panic!("the run succeeded with a dead sink worker: {summary:?}"),
        Ok(Err(e)) => e,
        Err(_) => panic!("the run never ended after its sink worker died"),
    }
}

#[tokio::test]
async fn a_panicking_sink_ends_the_run_and_nothing_commits_past_its_work() {
    let t = traffic(240, 2, 0);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let panicky = PanicSink {
        inner: ScriptSink::new("panicky"),
        sends: Arc::default(),
        panic_at: 3,
    };
    let good = ScriptSink::new("good");
    let config = PipelineConfig {
        batch_max_bytes: 8 * 1024,
        ..fast_config()
    };
    let err = run_expecting_failure(
        src.clone(),
        vec![Box::new(panicky.clone()), Box::new(good.clone())],
        Box::new(ScriptSink::new("dead_letter")),
        config,
    )
    .await;
    match &err {
        PipelineError::SinkWorker { sink, what } => {
            assert_eq!(sink, "panicky");
            assert!(what.contains("scripted sink bug"), "{what}");
        }
        other => panic!("wrong error: {other}"),
    }
    // Every committed message reached the panicking sink.
    let accepted: std::collections::HashSet<String> = panicky
        .inner
        .lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let p = &v["properties"];
            p["id"]
                .as_str()
                .or(p["requestId"].as_str())
                .map(str::to_owned)
        })
        .collect();
    let ids = ids_by_offset(&t);
    let commits = src.0.lock().unwrap().commits.clone();
    for c in &commits {
        for (p, pos) in c.iter() {
            let Position::Offset(last) = pos else {
                continue;
            };
            for offset in 0..=*last {
                for id in &ids[p.partition as usize][offset as usize] {
                    assert!(
                        accepted.contains(id),
                        "{p:?} committed to {last}, but record {id} at {offset} never reached the sink"
                    );
                }
            }
        }
    }
    // The run did not get through the stream by skipping the sink.
    let total: usize = t.partitions.iter().map(Vec::len).sum();
    let committed_msgs: i64 = commits
        .last()
        .map(|c| {
            c.iter()
                .filter_map(|(_, pos)| match pos {
                    Position::Offset(o) => Some(o + 1),
                    _ => None,
                })
                .sum()
        })
        .unwrap_or(0);
    assert!((committed_msgs as usize) < total);
}

#[tokio::test]
async fn a_panicking_dead_letter_sink_ends_the_run_before_its_messages_commit() {
    let t = traffic(40, 2, 6);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let dl = PanicSink {
        inner: ScriptSink::new("dead_letter"),
        sends: Arc::default(),
        panic_at: 0,
    };
    let err = run_expecting_failure(
        src.clone(),
        vec![Box::new(ScriptSink::new("good"))],
        Box::new(dl),
        fast_config(),
    )
    .await;
    assert!(
        matches!(&err, PipelineError::SinkWorker { sink, .. } if sink == "dead_letter"),
        "{err}"
    );
    // Poison messages follow the 20 envelopes of each partition: none of them is committed.
    for c in src.0.lock().unwrap().commits.iter() {
        for (p, pos) in c.iter() {
            assert!(
                *pos < Position::Offset(20),
                "{p:?} committed to {pos:?}, past poison the dead-letter sink never wrote"
            );
        }
    }
}

#[tokio::test]
async fn dead_lettered_messages_are_counted_once_however_many_entries_they_yield() {
    let t = traffic(20, 2, 8);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let dl = ScriptSink::new("dead_letter");
    let (_, progress, _) = run_with(
        src,
        vec![ScriptSink::new("file")],
        dl.clone(),
        fast_config(),
    )
    .await;
    let distinct: std::collections::HashSet<(i64, i64)> = dl
        .lines()
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["partition"].as_i64().unwrap(),
                v["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(distinct.len(), 8, "one per poison message");
    assert!(dl.lines().len() > 8, "some poison yields several entries");
    assert_eq!(progress.dead_lettered_messages.load(Ordering::SeqCst), 8);
    assert_eq!(
        progress.dead_lettered.load(Ordering::SeqCst) as usize,
        dl.lines().len()
    );
}

#[tokio::test]
async fn ten_thousand_made_up_categories_stay_below_the_series_ceiling() {
    let messages: Vec<Bytes> = (0..10_000)
        .map(|i| {
            Bytes::from(format!(
                r#"{{"records":[{{"time":"2025-01-06T08:00:00Z","category":"MadeUp{i}","operationName":"op","properties":{{"id":"r{i}"}}}}]}}"#
            ))
        })
        .collect();
    let src = Shared(Arc::new(Mutex::new(VecSource::new("hub", vec![messages]))));
    let (_, progress, metrics) = run_with(
        src,
        vec![ScriptSink::new("a"), ScriptSink::new("b")],
        ScriptSink::new("dead_letter"),
        fast_config(),
    )
    .await;
    assert_eq!(progress.records_in.load(Ordering::SeqCst), 10_000);
    let text = metrics.render();
    let series = |family: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .count()
    };
    let records_in = series("entrastream_records_in_total");
    let records_out = series("entrastream_records_out_total");
    assert!(
        records_in <= entrastream_telemetry::RECORDS_IN_SERIES_MAX,
        "{records_in} series of records_in"
    );
    assert!(
        records_out <= 2 * entrastream_telemetry::RECORDS_OUT_SERIES_PER_SINK_MAX,
        "{records_out} series of records_out"
    );
    assert!(text.contains("entrastream_records_in_total{category=\"other\"} 10000"));
}

/// Messages without end on one partition; a revoke only on the rebalance path, as the Kafka
/// source sends it while the pipeline reads no messages.
struct RevokeWhileFull {
    bodies: Vec<Bytes>,
    next: i64,
    assigned: bool,
    revoke: Option<oneshot::Sender<Checkpoint>>,
}

#[async_trait]
impl Source for RevokeWhileFull {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        let p = PartitionId::new("hub", 0);
        if !self.assigned {
            self.assigned = true;
            return Ok(SourceEvent::Assigned(vec![(p, Position::Beginning)]));
        }
        let body = self.bodies[self.next as usize % self.bodies.len()].clone();
        self.next += 1;
        Ok(SourceEvent::Message(SourceMessage {
            partition: p,
            offset: self.next - 1,
            sequence_number: None,
            enqueued_time: None,
            body,
            unreadable: None,
        }))
    }
    async fn next_rebalance(&mut self) -> Result<SourceEvent, SourceError> {
        match self.revoke.take() {
            Some(drained) => Ok(SourceEvent::Revoked {
                partitions: vec![PartitionId::new("hub", 0)],
                drained,
            }),
            None => std::future::pending().await,
        }
    }
    async fn commit(&mut self, _: &Checkpoint) -> Result<(), SourceError> {
        Ok(())
    }
    fn pause(&mut self, _: &[PartitionId]) -> Result<(), SourceError> {
        Ok(())
    }
    fn resume(&mut self, _: &[PartitionId]) -> Result<(), SourceError> {
        Ok(())
    }
    async fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A sink that is down for good fills the byte budget, and the pipeline takes no more
/// messages; a revoke must still be read and answered within the drain timeout, or the
/// consumer group waits on this member (and librdkafka's poll thread with it).
#[tokio::test]
async fn a_revoke_is_answered_while_the_budget_is_full() {
    let t = traffic(40, 1, 0);
    let (tx, rx) = oneshot::channel();
    let source = RevokeWhileFull {
        bodies: t.partitions[0].clone(),
        next: 0,
        assigned: false,
        revoke: Some(tx),
    };
    let mut down = ScriptSink::new("down");
    down.fail_first = u64::MAX;
    let config = PipelineConfig {
        max_in_flight_bytes: 64 * 1024,
        batch_max_bytes: 16 * 1024,
        drain_timeout: Duration::from_millis(300),
        shutdown_timeout: Duration::from_millis(100),
        ..fast_config()
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let slots = vec![SinkSlot {
        sink: Box::new(down) as Box<dyn Sink>,
        filter: CategoryFilter::new(None),
    }];
    let running = tokio::spawn(run(
        Box::new(source),
        Sinks {
            slots,
            dead_letter: Box::new(ScriptSink::new("dead_letter")),
        },
        config,
        Telemetry {
            metrics: Metrics::new(),
            health: Health::new(),
            progress: Arc::new(Progress::default()),
        },
        shutdown_rx,
    ));
    let answer = tokio::time::timeout(Duration::from_secs(10), rx)
        .await
        .expect("the revoke was not answered while the budget was full")
        .expect("the pipeline dropped the revoke");
    // Nothing was delivered, so nothing of the partition may be committed.
    assert!(
        answer
            .iter()
            .all(|(_, pos)| pos.kafka_commit_offset().is_none_or(|o| o == 0)),
        "{answer:?}"
    );
    shutdown_tx.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
}

/// A source whose checkpoint commits never answer (a blackholed group coordinator).
#[derive(Debug, Clone)]
struct CommitNeverAnswers(Shared);

#[async_trait]
impl Source for CommitNeverAnswers {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        self.0.next_event().await
    }
    async fn commit(&mut self, _: &Checkpoint) -> Result<(), SourceError> {
        std::future::pending().await
    }
    fn pause(&mut self, p: &[PartitionId]) -> Result<(), SourceError> {
        self.0.pause(p)
    }
    fn resume(&mut self, p: &[PartitionId]) -> Result<(), SourceError> {
        self.0.resume(p)
    }
    async fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// A commit that hangs must not hold the run loop: the messages already read keep flowing to
/// the sinks, the hung commit counts as failed, and the run still ends (issue 12: a blackholed
/// broker held the loop for the client's 30 s socket timeout).
#[tokio::test]
async fn a_hung_commit_does_not_stop_delivery() {
    let t = traffic(60, 2, 0);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let sink = ScriptSink::new("file");
    let metrics = Metrics::new();
    let (_tx, rx) = watch::channel(false);
    let config = PipelineConfig {
        commit_timeout: Duration::from_millis(100),
        shutdown_timeout: Duration::from_millis(500),
        ..fast_config()
    };
    let run = run(
        Box::new(CommitNeverAnswers(src)),
        Sinks {
            slots: vec![SinkSlot {
                sink: Box::new(sink.clone()) as Box<dyn Sink>,
                filter: CategoryFilter::new(None),
            }],
            dead_letter: Box::new(ScriptSink::new("dead_letter")),
        },
        config,
        Telemetry {
            metrics: metrics.clone(),
            health: Health::new(),
            progress: Arc::new(Progress::default()),
        },
        rx,
    );
    let summary = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run loop waited on a commit that never answers")
        .unwrap();
    assert!(sink.lines().len() >= t.records, "every record delivered");
    assert!(
        summary.committed.iter().next().is_none(),
        "nothing was committed"
    );
    assert!(metrics.checkpoint_commit_failures.get() >= 1);
}

/// A source driven by the test, event by event, whose own commits always fail: the only
/// confirmed commit it reports is the one the test sends as [`SourceEvent::Committed`].
struct Scripted {
    events: tokio::sync::mpsc::UnboundedReceiver<SourceEvent>,
}

#[async_trait]
impl Source for Scripted {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        Ok(self.events.recv().await.unwrap_or(SourceEvent::Eof))
    }
    async fn commit(&mut self, _: &Checkpoint) -> Result<(), SourceError> {
        Err(SourceError::Commit(
            "the coordinator refuses every commit".into(),
        ))
    }
    fn pause(&mut self, _: &[PartitionId]) -> Result<(), SourceError> {
        Ok(())
    }
    fn resume(&mut self, _: &[PartitionId]) -> Result<(), SourceError> {
        Ok(())
    }
    async fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    fn describe(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Item 7 of issue 12: `entrastream_committed_offset` moves only when a commit really
/// happened. Answering a revoke is not one (the Kafka source skips the commit of a lost
/// assignment, and a commit may fail): before, the gauge moved to the answered watermark the
/// moment the revoke was answered. Now it moves when the source confirms the commit.
#[tokio::test]
async fn the_committed_offset_moves_on_a_confirmed_commit_not_on_a_revoke_answer() {
    let t = traffic(10, 1, 0);
    let bodies = t.partitions[0].clone();
    let p = PartitionId::new("hub", 0);
    let (events, rx) = tokio::sync::mpsc::unbounded_channel();
    let metrics = Metrics::new();
    let sink = ScriptSink::new("file");
    let (_shutdown, shutdown_rx) = watch::channel(false);
    let running = tokio::spawn(run(
        Box::new(Scripted { events: rx }),
        Sinks {
            slots: vec![SinkSlot {
                sink: Box::new(sink.clone()) as Box<dyn Sink>,
                filter: CategoryFilter::new(None),
            }],
            dead_letter: Box::new(ScriptSink::new("dead_letter")),
        },
        fast_config(),
        Telemetry {
            metrics: metrics.clone(),
            health: Health::new(),
            progress: Arc::new(Progress::default()),
        },
        shutdown_rx,
    ));
    events
        .send(SourceEvent::Assigned(vec![(
            p.clone(),
            Position::Beginning,
        )]))
        .unwrap();
    for (offset, body) in bodies.iter().enumerate() {
        events
            .send(SourceEvent::Message(SourceMessage {
                partition: p.clone(),
                offset: offset as i64,
                sequence_number: None,
                enqueued_time: None,
                body: body.clone(),
                unreadable: None,
            }))
            .unwrap();
    }
    let last = bodies.len() as i64 - 1;
    let (drained, answer) = oneshot::channel();
    events
        .send(SourceEvent::Revoked {
            partitions: vec![p.clone()],
            drained,
        })
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), answer)
        .await
        .expect("the revoke was not answered")
        .expect("the pipeline dropped the revoke");
    assert_eq!(answer.get(&p), Some(Position::Offset(last)), "{answer:?}");
    let gauge = || {
        metrics
            .committed_offset
            .with_label_values(&["hub", "0"])
            .get()
    };
    // Let a few checkpoint intervals pass: the source refuses every periodic commit.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gauge(), 0, "the gauge moved on the revoke answer alone");
    let mut confirmed = Checkpoint::new();
    confirmed.set(p.clone(), Position::Offset(last));
    events.send(SourceEvent::Committed(confirmed)).unwrap();
    events.send(SourceEvent::Eof).unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the run did not end")
        .unwrap()
        .unwrap();
    assert_eq!(
        gauge(),
        last + 1,
        "the confirmed commit did not move the gauge"
    );
    assert_eq!(summary.committed.get(&p), Some(Position::Offset(last)));
}

/// A gate the test opens once: encodes wait on it, so a message stays in the parse pool.
#[derive(Debug, Default)]
struct Gate {
    open: Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// NDJSON encoding that waits for the gate (a parse thread busy with a large message).
#[derive(Debug)]
struct GatedEncoder(Arc<Gate>);

impl RecordEncoder for GatedEncoder {
    fn encode(
        &self,
        record: &entrastream_entra::Record<'_>,
        ctx: &entrastream_entra::EncodeContext,
        out: &mut Vec<u8>,
    ) -> Result<(), entrastream_sink::EncodeError> {
        self.0.wait();
        NdjsonEncoder {
            schema: Schema::Native,
        }
        .encode(record, ctx, out)
    }
}

/// A sink that accepts everything, encoding through the gate.
#[derive(Debug)]
struct GatedSink {
    gate: Arc<Gate>,
    records: Arc<AtomicU64>,
}

#[async_trait]
impl Sink for GatedSink {
    fn name(&self) -> &str {
        "gated"
    }
    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        Arc::new(GatedEncoder(self.gate.clone()))
    }
    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        self.records
            .fetch_add(batch.records.len() as u64, Ordering::SeqCst);
        Outcome::Delivered
    }
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A message in the parse pool is charged its encodings-to-be in the byte budget at once: with
/// a budget the body alone stays under but body + encoding does not, the pipeline pauses the
/// partitions while the message is still being parsed (before, the encodings-to-be only
/// stopped the reading and `apply_budget` never saw them), then resumes and delivers all.
#[tokio::test]
async fn a_message_in_the_parse_pool_counts_in_the_budget_and_pauses_the_partitions() {
    let t = traffic(6, 1, 0);
    let first = t.partitions[0][0].len();
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let gate = Arc::new(Gate::default());
    let records = Arc::new(AtomicU64::new(0));
    let metrics = Metrics::new();
    let config = PipelineConfig {
        // The first body fits, body + one sink's encoding (estimated at its length) does not.
        max_in_flight_bytes: first + first / 2,
        parse_threads: NonZeroUsize::new(1),
        ..fast_config()
    };
    let (_tx, shutdown) = watch::channel(false);
    let running = tokio::spawn(run(
        Box::new(src.clone()),
        Sinks {
            slots: vec![SinkSlot {
                sink: Box::new(GatedSink {
                    gate: gate.clone(),
                    records: records.clone(),
                }),
                filter: CategoryFilter::new(None),
            }],
            dead_letter: Box::new(ScriptSink::new("dead_letter")),
        },
        config,
        Telemetry {
            metrics: metrics.clone(),
            health: Health::new(),
            progress: Arc::new(Progress::default()),
        },
        shutdown,
    ));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut paused_while_pooled = false;
    while Instant::now() < deadline {
        if src.0.lock().unwrap().pause_count > 0 {
            paused_while_pooled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let in_flight_while_pooled = metrics.in_flight_bytes.get();
    gate.open();
    let summary = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the run ends once the gate opens")
        .unwrap()
        .unwrap();
    assert!(
        paused_while_pooled,
        "the partitions were not paused while the pool held a message over budget"
    );
    assert_eq!(
        in_flight_while_pooled,
        2 * first as i64,
        "in flight while pooled: the body plus its estimated encoding"
    );
    assert_eq!(records.load(Ordering::SeqCst) as usize, t.records);
    assert!(src.0.lock().unwrap().paused.is_empty(), "still paused");
    assert_eq!(metrics.in_flight_bytes.get(), 0, "bytes left charged");
    assert_eq!(summary.abandoned_messages, 0);
}

/// Every byte charged is released: after parse errors, encode-time dead letters, sink
/// rejections and two sinks of different sizes, nothing stays in the budget (a leak would
/// fill it for good and stall every partition).
#[tokio::test]
async fn the_budget_returns_to_zero_after_dead_letters_and_rejections() {
    let t = traffic(120, 3, 8);
    let src = Shared(Arc::new(Mutex::new(VecSource::new(
        "hub",
        t.partitions.clone(),
    ))));
    let mut picky = ScriptSink::new("picky");
    picky.reject_marker = Some("\"AuditLogs\"".into());
    let config = PipelineConfig {
        max_in_flight_bytes: 128 * 1024,
        batch_max_bytes: 16 * 1024,
        ..fast_config()
    };
    let (summary, progress, metrics) = run_with(
        src.clone(),
        vec![picky, ScriptSink::new("all")],
        ScriptSink::new("dead_letter"),
        config,
    )
    .await;
    assert!(progress.dead_lettered.load(Ordering::SeqCst) > 0);
    assert!(
        src.0.lock().unwrap().pause_count > 0,
        "the budget never filled"
    );
    assert_eq!(summary.abandoned_messages, 0);
    assert_eq!(metrics.in_flight_bytes.get(), 0, "bytes left charged");
}
