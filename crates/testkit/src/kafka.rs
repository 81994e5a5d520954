//! The nisshi Kafka-protocol broker as a child process, and producing generated traffic to it
//! (feature `kafka`): shared by the end-to-end tests and the benchmarks.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use entrastream_generator::{Generator, GeneratorConfig, poison_message};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::{Traffic, find_tool, free_port, peer_missing, record_ids, wait_listening};

/// The nisshi broker on a free loopback port, stopped on drop.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`
    pub bootstrap: String,
}

impl Broker {
    /// Starts nisshi, or returns None (after `peer_missing`) when it is not installed.
    pub fn start() -> Option<Broker> {
        Self::start_advertising(None)
    }

    /// Starts nisshi advertising `advertised` (`127.0.0.1:PORT`) in its metadata instead of its
    /// own listener. Kafka clients use the bootstrap address only for the first request and then
    /// connect to the advertised one: so a proxy on the advertised address carries all traffic
    /// after bootstrap, of every client.
    pub fn start_advertising(advertised: Option<&str>) -> Option<Broker> {
        let Some(bin) = find_tool("nisshi") else {
            peer_missing("the nisshi Kafka broker");
            return None;
        };
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = advertised.map_or_else(|| url.clone(), |a| format!("tcp://{a}"));
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
            ])
            .args([
                "--storage-engine",
                "memory://nisshi/",
                "--group-initial-rebalance-delay",
                "0s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nisshi");
        let bootstrap = format!("127.0.0.1:{port}");
        let mut child = child;
        wait_listening(
            "nisshi",
            &bootstrap,
            Duration::from_secs(20),
            Some(&mut child),
        );
        Some(Broker { child, bootstrap })
    }

    /// Creates a topic through the admin API.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let bootstrap = self.bootstrap.clone();
        let topic = topic.to_string();
        // Own thread and runtime: callers may be inside an async test.
        std::thread::spawn(move || {
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .expect("admin client");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let res = rt
                .block_on(admin.create_topics(
                    &[NewTopic::new(
                        &topic,
                        partitions,
                        TopicReplication::Fixed(1),
                    )],
                    &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                ))
                .expect("create topic");
            for r in res {
                r.expect("topic created");
            }
        })
        .join()
        .expect("create topic thread");
    }

    /// Committed offsets (exclusive) of a group, per partition.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let c = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(|p| match c.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A producer that never drops a message: it waits while librdkafka's queue is full.
#[allow(missing_debug_implementations)] // BaseProducer has no Debug
pub struct Producing {
    producer: BaseProducer,
    topic: String,
    partitions: i32,
    /// Messages sent so far.
    pub messages: u64,
    /// Bytes sent so far.
    pub bytes: u64,
}

impl Producing {
    /// A producer for an existing topic; messages keep their order per partition.
    pub fn new(bootstrap: &str, topic: &str, partitions: i32) -> Self {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("linger.ms", "5")
            .set("max.in.flight.requests.per.connection", "1")
            .set("queue.buffering.max.kbytes", "1048576")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("producer");
        Producing {
            producer,
            topic: topic.to_string(),
            partitions,
            messages: 0,
            bytes: 0,
        }
    }

    /// Sends to partition `messages % partitions`; returns the partition.
    pub fn send(&mut self, body: &[u8]) -> i32 {
        let p = (self.messages % self.partitions as u64) as i32;
        self.send_to(p, body);
        p
    }

    /// Sends to one partition.
    pub fn send_to(&mut self, partition: i32, body: &[u8]) {
        let record = BaseRecord::<(), [u8]>::to(&self.topic)
            .partition(partition)
            .payload(body);
        let mut record = Some(record);
        while let Some(r) = record.take() {
            if let Err((e, r)) = self.producer.send(r) {
                assert!(
                    matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ),
                    "produce: {e}"
                );
                self.producer.poll(Duration::from_millis(5));
                record = Some(r);
            }
        }
        self.producer.poll(Duration::ZERO);
        self.messages += 1;
        self.bytes += body.len() as u64;
    }

    /// Waits until the broker has every message; returns (messages, bytes).
    pub fn finish(self) -> (u64, u64) {
        self.producer
            .flush(Duration::from_secs(300))
            .expect("producer flush");
        (self.messages, self.bytes)
    }
}

/// Sends one message to partition `p` and records which ids it carries.
fn send(producer: &mut Producing, buf: &[u8], p: i32, ids: Vec<String>, t: &mut Traffic) {
    producer.send_to(p, buf);
    t.max_message = t.max_message.max(buf.len());
    t.messages[p as usize].push(ids);
}

/// Sends poison message `n` to partition `n % partitions`. Poison messages may carry good
/// records too; the tests count only generated ids, so none are recorded.
fn send_poison(
    producer: &mut Producing,
    buf: &mut Vec<u8>,
    n: usize,
    partitions: i32,
    t: &mut Traffic,
) {
    buf.clear();
    poison_message(n, buf);
    send(
        producer,
        buf,
        (n % partitions as usize) as i32,
        Vec::new(),
        t,
    );
}

/// Produces `records` generated records (envelope `i` to partition `i % partitions`) plus
/// `poison` malformed messages, in order, to a fresh topic.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: usize,
    poison: usize,
    seed: u64,
) -> Traffic {
    let mut producer = Producing::new(bootstrap, topic, partitions);
    let mut generator = Generator::new(GeneratorConfig {
        seed,
        ..Default::default()
    })
    .expect("generator");
    let mut t = Traffic {
        messages: vec![Vec::new(); partitions as usize],
        poison,
        ..Default::default()
    };
    let mut buf = Vec::new();
    let mut i = 0usize;
    let poison_every = if poison > 0 {
        (records / 25 / (poison + 1)).max(1)
    } else {
        usize::MAX
    };
    let mut poison_sent = 0;
    while t.records < records {
        buf.clear();
        generator.next_envelope_with(25.min(records - t.records), &mut buf);
        let ids = record_ids(&buf);
        t.records += ids.len();
        send(
            &mut producer,
            &buf,
            (i % partitions as usize) as i32,
            ids,
            &mut t,
        );
        i += 1;
        if poison_sent < poison && i.is_multiple_of(poison_every) {
            send_poison(&mut producer, &mut buf, poison_sent, partitions, &mut t);
            poison_sent += 1;
        }
    }
    while poison_sent < poison {
        send_poison(&mut producer, &mut buf, poison_sent, partitions, &mut t);
        poison_sent += 1;
    }
    producer.finish();
    t
}
