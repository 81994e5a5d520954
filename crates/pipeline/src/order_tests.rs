//! The parse pool keeps order: each sink receives every partition's records in offset order
//! (and, inside a message, in body order), however the pool's threads finish.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use entrastream_entra::Schema;
use entrastream_generator::{Generator, GeneratorConfig};
use entrastream_sink::{Coalesce, EncodedBatch, NdjsonEncoder, Outcome, SinkError};
use entrastream_source::VecSource;

use super::*;

/// Records, in the order the sink received them: (partition, offset, record id).
type Received = Arc<Mutex<Vec<(i32, i64, String)>>>;

#[derive(Debug)]
struct OrderSink {
    name: String,
    received: Received,
    coalesce: Option<Coalesce>,
}

#[async_trait]
impl Sink for OrderSink {
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
        let mut got = self.received.lock().unwrap();
        for (i, meta) in batch.records.iter().enumerate() {
            let v: serde_json::Value =
                serde_json::from_slice(batch.record(i).unwrap_or_default()).unwrap_or_default();
            got.push((meta.partition.partition, meta.offset, record_id(&v)));
        }
        Outcome::Delivered
    }
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

fn record_id(r: &serde_json::Value) -> String {
    let p = &r["properties"];
    p["id"]
        .as_str()
        .or(p["requestId"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// `partitions` partitions of `per_partition` messages each. A message is large (the records
/// of 16 generated envelopes) or small (one envelope's) in a checkerboard over partition and
/// offset, so that a small message is parsed long before the large one read just before it:
/// appended as the threads finish, records would arrive out of order. Returns the bodies and,
/// per partition, the record ids in offset and body order.
fn uneven_traffic(partitions: usize, per_partition: usize) -> (Vec<Vec<Bytes>>, Vec<Vec<String>>) {
    let mut g = Generator::new(GeneratorConfig {
        seed: 16,
        ..Default::default()
    })
    .unwrap();
    let mut bodies = vec![Vec::new(); partitions];
    let mut expected = vec![Vec::new(); partitions];
    for off in 0..per_partition {
        for p in 0..partitions {
            let envelopes = if (off + p) % 2 == 0 { 16 } else { 1 };
            let mut records = Vec::new();
            for _ in 0..envelopes {
                let mut buf = Vec::new();
                g.next_envelope(&mut buf);
                let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
                records.extend(v["records"].as_array().unwrap().iter().cloned());
            }
            expected[p].extend(records.iter().map(record_id));
            let body = serde_json::to_vec(&serde_json::json!({ "records": records })).unwrap();
            bodies[p].push(Bytes::from(body));
        }
    }
    (bodies, expected)
}

#[tokio::test]
async fn the_parse_pool_delivers_each_partitions_records_in_offset_order_to_every_sink() {
    const PARTITIONS: usize = 4;
    const MESSAGES: usize = 16;
    let (bodies, expected) = uneven_traffic(PARTITIONS, MESSAGES);
    let sinks: Vec<(String, Received, Option<Coalesce>)> = vec![
        ("a".into(), Received::default(), None),
        ("b".into(), Received::default(), None),
        (
            "merging".into(),
            Received::default(),
            Some(Coalesce {
                min_bytes: 256 * 1024,
                max_bytes: 4 << 20,
                max_wait: Duration::from_millis(5),
            }),
        ),
    ];
    let slots = sinks
        .iter()
        .map(|(name, received, coalesce)| SinkSlot {
            sink: Box::new(OrderSink {
                name: name.clone(),
                received: received.clone(),
                coalesce: *coalesce,
            }) as Box<dyn Sink>,
            filter: CategoryFilter::new(None),
        })
        .collect();
    let dead_letter = Box::new(OrderSink {
        name: "dead_letter".into(),
        received: Received::default(),
        coalesce: None,
    });
    let config = PipelineConfig {
        checkpoint_interval: Duration::from_millis(20),
        batch_max_bytes: 64 * 1024,
        batch_linger: Duration::from_millis(5),
        parse_threads: NonZeroUsize::new(4),
        ..PipelineConfig::default()
    };
    let (_tx, rx) = watch::channel(false);
    let metrics = Metrics::new();
    let summary = run(
        Box::new(VecSource::new("hub", bodies)),
        Sinks { slots, dead_letter },
        config,
        Telemetry {
            metrics: metrics.clone(),
            health: Health::new(),
            progress: Arc::new(Progress::default()),
        },
        rx,
    )
    .await
    .unwrap();
    for (name, received, _) in &sinks {
        let got = received.lock().unwrap();
        let mut by_partition: BTreeMap<i32, Vec<(i64, &str)>> = BTreeMap::new();
        for (p, off, id) in got.iter() {
            by_partition.entry(*p).or_default().push((*off, id));
        }
        assert_eq!(by_partition.len(), PARTITIONS, "sink {name}");
        for (p, records) in by_partition {
            let inversion = records.windows(2).position(|w| w[1].0 < w[0].0);
            assert!(
                inversion.is_none(),
                "sink {name}, partition {p}: offset {} delivered after offset {}",
                records[inversion.unwrap_or(0) + 1].0,
                records[inversion.unwrap_or(0)].0,
            );
            let ids: Vec<&str> = records.iter().map(|r| r.1).collect();
            assert_eq!(
                ids, expected[p as usize],
                "sink {name}, partition {p}: records not in offset and body order"
            );
        }
    }
    let text = metrics.render();
    assert!(text.contains("entrastream_parse_threads 4"), "{text}");
    assert!(
        text.contains("entrastream_parse_queue_messages 0"),
        "{text}"
    );
    for p in 0..PARTITIONS {
        assert_eq!(
            summary.committed.get(&PartitionId::new("hub", p as i32)),
            Some(Position::Offset(MESSAGES as i64 - 1))
        );
    }
}
