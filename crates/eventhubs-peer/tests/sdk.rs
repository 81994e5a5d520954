//! The peer driven by the official `azure_messaging_eventhubs` 0.16.0 client (and, where the
//! SDK cannot show it, a raw fe2o3-amqp client), so the peer stays honest about what the SDK
//! accepts.

use azure_core_amqp::{AmqpErrorCondition, AmqpErrorKind};
use azure_messaging_eventhubs::error::ErrorKind;
use azure_messaging_eventhubs::models::{EventData, ReceivedEventData};
use azure_messaging_eventhubs::{
    ConsumerClient, EventHubsError, OpenReceiverOptions, ProducerClient, RetryOptions,
    SendEventOptions, StartLocation, StartPosition,
};
use entrastream_eventhubs_peer::{EventHubsPeer, HubSpec, PeerConfig};
use futures::StreamExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every test body is bounded so a peer bug shows up as a failure, not a hung `cargo test`.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SDK builds its TLS config from rustls' process default, which rustls cannot pick when
/// the workspace build carries two providers (aws-lc-rs from the SDK, ring from reqwest).
fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

fn retry() -> RetryOptions {
    // Fail fast on errors the tests provoke on purpose; the defaults retry for up to a minute.
    RetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(20),
        max_delay: azure_core::time::Duration::milliseconds(100),
        max_retries: 1,
        max_total_elapsed: azure_core::time::Duration::seconds(5),
    }
}

async fn consumer_with(
    peer: &EventHubsPeer,
    connection_string: &str,
    consumer_group: Option<&str>,
) -> Result<ConsumerClient, EventHubsError> {
    let mut builder = ConsumerClient::builder()
        .with_custom_endpoint(peer.endpoint())
        .with_retry_options(retry());
    if let Some(cg) = consumer_group {
        builder = builder.with_consumer_group(cg.to_owned());
    }
    builder
        .open_with_connection_string(connection_string, None)
        .await
}

async fn consumer(peer: &EventHubsPeer, hub: &str) -> ConsumerClient {
    consumer_with(peer, &peer.connection_string(hub), None)
        .await
        .expect("open consumer")
}

fn start(location: StartLocation, inclusive: bool) -> Option<OpenReceiverOptions> {
    Some(OpenReceiverOptions {
        start_position: Some(StartPosition {
            location,
            inclusive,
        }),
        ..Default::default()
    })
}

/// Every `AmqpError` in the error's source chain. The SDK nests them: a CBS failure during
/// `get_eventhub_properties` arrives as `AmqpError(AzureCore("Error authorizing management path",
/// source: AmqpError(ManagementStatusCode(401, ..))))`.
fn amqp_errors(err: &EventHubsError) -> Vec<&azure_core_amqp::AmqpError> {
    let mut out = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(amqp) = c.downcast_ref::<azure_core_amqp::AmqpError>() {
            out.push(amqp);
        }
        cause = c.source();
    }
    out
}

/// The AMQP condition inside an SDK error, wherever the SDK put it.
fn condition(err: &EventHubsError) -> Option<AmqpErrorCondition> {
    if let ErrorKind::ConsumerDisconnected(Some(d)) = &err.kind {
        return Some(d.condition.clone());
    }
    amqp_errors(err).into_iter().find_map(|e| match e.kind() {
        AmqpErrorKind::AmqpDescribedError(d) => Some(d.condition.clone()),
        _ => None,
    })
}

/// The management/CBS status code inside an SDK error.
fn status_code(err: &EventHubsError) -> Option<u16> {
    amqp_errors(err).into_iter().find_map(|e| match e.kind() {
        AmqpErrorKind::ManagementStatusCode(code, _) => Some(u16::from(*code)),
        _ => None,
    })
}

/// Receives `n` events or fails after [`EVENT_TIMEOUT`] per event.
async fn take(
    stream: &mut (
             impl futures::Stream<Item = azure_messaging_eventhubs::Result<ReceivedEventData>> + Unpin
         ),
    n: usize,
) -> Vec<ReceivedEventData> {
    let mut out = Vec::new();
    while out.len() < n {
        let next = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("timed out after {} of {n} events", out.len()))
            .expect("stream ended")
            .expect("receive error");
        out.push(next);
    }
    out
}

fn seqs(events: &[ReceivedEventData]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.sequence_number().unwrap())
        .collect()
}

/// Opens a receiver on `partition` and returns the error its first receive ends with.
async fn first_receive_error(
    client: &ConsumerClient,
    partition: &str,
    options: Option<OpenReceiverOptions>,
) -> EventHubsError {
    let receiver = client
        .open_receiver_on_partition(partition.to_owned(), options)
        .await
        .unwrap();
    let mut stream = receiver.stream_events();
    tokio::time::timeout(EVENT_TIMEOUT, stream.next())
        .await
        .expect("no answer to the first receive")
        .expect("stream ended without an error")
        .expect_err("the first receive was meant to fail")
}

async fn wait_for_receivers(peer: &EventHubsPeer, hub: &str, partition: &str, n: usize) {
    for _ in 0..500 {
        if peer.receivers(hub, partition).len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "expected {n} receivers on {hub}/{partition}, have {:?}",
        peer.receivers(hub, partition)
    );
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis()
}

macro_rules! bounded {
    ($body:expr) => {
        tokio::time::timeout(TEST_TIMEOUT, $body)
            .await
            .expect("test timed out")
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_properties_match_the_peer() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 3))
            .await
            .unwrap();
        for i in 0..4 {
            peer.append("hub", "1", format!("event {i}"));
        }
        let client = consumer(&peer, "hub").await;

        let hub = client.get_eventhub_properties().await.unwrap();
        assert_eq!(hub.name, "hub");
        assert_eq!(hub.partition_ids, vec!["0", "1", "2"]);
        assert!(hub.created_on.is_some());

        let p = client.get_partition_properties("1").await.unwrap();
        let info = peer.partition_info("hub", "1");
        assert_eq!(p.id, "1");
        assert_eq!(p.eventhub, "hub");
        assert_eq!(p.beginning_sequence_number, info.begin_sequence_number);
        assert_eq!(p.last_enqueued_sequence_number, 3);
        assert_eq!(
            p.last_enqueued_sequence_number,
            info.last_enqueued_sequence_number
        );
        assert_eq!(p.last_enqueued_offset, info.last_enqueued_offset);
        assert_eq!(
            p.last_enqueued_time_utc.map(millis),
            info.last_enqueued_time.map(millis)
        );
        assert!(!p.is_empty);

        let empty = client.get_partition_properties("0").await.unwrap();
        assert!(empty.is_empty);
        assert_eq!(empty.last_enqueued_sequence_number, -1);
        assert_eq!(empty.last_enqueued_offset, "-1");
        assert_eq!(empty.last_enqueued_time_utc, None);

        let missing = client.get_partition_properties("7").await.unwrap_err();
        assert_eq!(status_code(&missing), Some(404), "{missing:?}");
        assert!(peer.stats().management_reads >= 4);
        assert!(peer.stats().cbs_accepted >= 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_positions_select_exactly_the_expected_events() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 2))
            .await
            .unwrap();
        let t0 = SystemTime::now() - Duration::from_secs(600);
        let appended: Vec<_> = (0..10)
            .map(|i| {
                peer.append_with_key(
                    "hub",
                    "0",
                    format!("body-{i}"),
                    (i == 2).then_some("key-2"),
                    t0 + Duration::from_secs(i),
                )
            })
            .collect();
        let client = consumer(&peer, "hub").await;

        let cases: Vec<(StartLocation, bool, i64)> = vec![
            (StartLocation::Earliest, false, 0),
            (StartLocation::SequenceNumber(4), true, 4),
            (StartLocation::SequenceNumber(4), false, 5),
            (StartLocation::Offset(appended[3].offset.clone()), true, 3),
            (StartLocation::Offset(appended[3].offset.clone()), false, 4),
            (
                StartLocation::EnqueuedTime(appended[6].enqueued_time),
                true,
                6,
            ),
            (
                StartLocation::EnqueuedTime(appended[6].enqueued_time),
                false,
                7,
            ),
        ];
        for (location, inclusive, first) in cases {
            let what = format!("{location:?} inclusive={inclusive}");
            let receiver = client
                .open_receiver_on_partition("0".into(), start(location, inclusive))
                .await
                .unwrap();
            let mut stream = receiver.stream_events();
            let got = take(&mut stream, (10 - first) as usize).await;
            assert_eq!(seqs(&got), (first..10).collect::<Vec<_>>(), "{what}");
            for event in &got {
                let i = event.sequence_number().unwrap() as usize;
                assert_eq!(event.offset().as_deref(), Some(appended[i].offset.as_str()));
                assert_eq!(
                    event.enqueued_time().map(millis),
                    Some(millis(appended[i].enqueued_time))
                );
                assert_eq!(
                    event.event_data().body(),
                    Some(format!("body-{i}").as_bytes())
                );
                let key = event.partition_key().as_deref();
                assert_eq!(key, (i == 2).then_some("key-2"), "{what}");
            }
            drop(stream);
            receiver.close().await.unwrap();
        }
        // Latest: an event appended before the link attached is not delivered, the next one is.
        let receiver = client
            .open_receiver_on_partition("1".into(), start(StartLocation::Latest, false))
            .await
            .unwrap();
        peer.append("hub", "1", "before attach");
        let poll = tokio::spawn(async move {
            let mut stream = receiver.stream_events();
            seqs(&take(&mut stream, 1).await)
        });
        wait_for_receivers(&peer, "hub", "1", 1).await;
        let sentinel = peer.append("hub", "1", "after attach");
        assert_eq!(poll.await.unwrap(), vec![sentinel.sequence_number]);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earliest_delivers_everything_and_then_new_events() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 1))
            .await
            .unwrap();
        for i in 0..5 {
            peer.append("hub", "0", vec![i as u8; 4096]);
        }
        let client = consumer(&peer, "hub").await;
        let receiver = client
            .open_receiver_on_partition("0".into(), start(StartLocation::Earliest, false))
            .await
            .unwrap();
        let mut stream = receiver.stream_events();
        assert_eq!(seqs(&take(&mut stream, 5).await), vec![0, 1, 2, 3, 4]);
        let sentinel = peer.append("hub", "0", "sentinel");
        let next = take(&mut stream, 1).await;
        assert_eq!(seqs(&next), vec![sentinel.sequence_number]);
        assert_eq!(peer.stats().events_delivered, 6);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_is_refused_with_401() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 1))
            .await
            .unwrap();
        let wrong = peer
            .connection_string("hub")
            .replace("SharedAccessKey=", "SharedAccessKey=wrong");
        let client = consumer_with(&peer, &wrong, None).await.unwrap();
        let err = client.get_eventhub_properties().await.unwrap_err();
        eprintln!("bad key: {err:?}");
        assert_eq!(status_code(&err), Some(401), "{err:?}");

        let wrong_name = peer.connection_string("hub").replace(
            "SharedAccessKeyName=RootManageSharedAccessKey",
            "SharedAccessKeyName=Nope",
        );
        let client = consumer_with(&peer, &wrong_name, None).await.unwrap();
        let err = client.get_partition_properties("0").await.unwrap_err();
        assert_eq!(status_code(&err), Some(401), "{err:?}");
        assert!(peer.stats().cbs_refused >= 2);
        assert_eq!(peer.stats().cbs_accepted, 0);

        // A receiver with the wrong key fails at its own put-token the same way.
        let client = consumer_with(&peer, &wrong, None).await.unwrap();
        let err = first_receive_error(&client, "0", None).await;
        eprintln!("bad key receiver: {err:?}");
        assert_eq!(status_code(&err), Some(401), "{err:?}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hub_is_404_and_unknown_consumer_group_not_found() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 1))
            .await
            .unwrap();
        let client = consumer(&peer, "nohub").await;
        let err = client.get_eventhub_properties().await.unwrap_err();
        eprintln!("unknown hub: {err:?}");
        assert_eq!(status_code(&err), Some(404), "{err:?}");

        let client = consumer_with(&peer, &peer.connection_string("hub"), Some("nogroup"))
            .await
            .unwrap();
        let err = first_receive_error(&client, "0", None).await;
        eprintln!("unknown consumer group: {err:?}");
        assert_eq!(
            condition(&err),
            Some(AmqpErrorCondition::NotFound),
            "{err:?}"
        );
        assert!(format!("{err:?}").contains("nogroup"));

        let client = consumer(&peer, "hub").await;
        let err = first_receive_error(&client, "9", None).await;
        assert_eq!(
            condition(&err),
            Some(AmqpErrorCondition::NotFound),
            "{err:?}"
        );
        assert!(peer.receivers("hub", "0").is_empty());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn epoch_receivers_steal_and_refuse() {
    install_crypto_provider();
    bounded!(async {
        let mut config = PeerConfig::single_hub("hub", 1);
        config.hubs[0].consumer_groups.push("other".into());
        let peer = EventHubsPeer::start(config).await.unwrap();
        peer.append("hub", "0", "e0");
        let epoch = |level| {
            Some(OpenReceiverOptions {
                owner_level: Some(level),
                start_position: Some(StartPosition {
                    location: StartLocation::Earliest,
                    inclusive: false,
                }),
                ..Default::default()
            })
        };

        // Separate clients: one SDK connection caches one receiver per partition path.
        let first_client = consumer(&peer, "hub").await;
        let first = first_client
            .open_receiver_on_partition("0".into(), epoch(0))
            .await
            .unwrap();
        let mut first_stream = first.stream_events();
        take(&mut first_stream, 1).await;
        assert_eq!(peer.receivers("hub", "0")[0].owner_level, Some(0));

        let second_client = consumer(&peer, "hub").await;
        let second = second_client
            .open_receiver_on_partition("0".into(), epoch(0))
            .await
            .unwrap();
        let mut second_stream = second.stream_events();
        take(&mut second_stream, 1).await;

        let err = tokio::time::timeout(EVENT_TIMEOUT, first_stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        eprintln!("stolen: {err:?}");
        assert!(
            matches!(err.kind, ErrorKind::ConsumerDisconnected(Some(_))),
            "{err:?}"
        );
        assert_eq!(condition(&err), Some(AmqpErrorCondition::LinkStolen));
        assert_eq!(peer.stats().links_stolen, 1);
        let owners = peer.receivers("hub", "0");
        assert_eq!(owners.len(), 1, "{owners:?}");

        // A lower epoch is refused while epoch 0 owns the partition.
        let low_client = consumer(&peer, "hub").await;
        let err = first_receive_error(&low_client, "0", epoch(-1)).await;
        eprintln!("lower epoch: {err:?}");
        assert!(
            matches!(err.kind, ErrorKind::ConsumerDisconnected(Some(_))),
            "{err:?}"
        );

        // So is a receiver without epoch.
        let plain_client = consumer(&peer, "hub").await;
        let err = first_receive_error(&plain_client, "0", None).await;
        assert!(
            matches!(err.kind, ErrorKind::ConsumerDisconnected(Some(_))),
            "{err:?}"
        );

        // Another consumer group is independent of the owner.
        let other_client = consumer_with(&peer, &peer.connection_string("hub"), Some("other"))
            .await
            .unwrap();
        let other = other_client
            .open_receiver_on_partition("0".into(), start(StartLocation::Earliest, false))
            .await
            .unwrap();
        let mut other_stream = other.stream_events();
        take(&mut other_stream, 1).await;

        // The owner still receives.
        let sentinel = peer.append("hub", "0", "e1");
        assert_eq!(
            seqs(&take(&mut second_stream, 1).await),
            vec![sentinel.sequence_number]
        );
        assert_eq!(peer.receivers("hub", "0").len(), 2);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_expired_events() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 1))
            .await
            .unwrap();
        let old = SystemTime::now() - Duration::from_secs(2 * 3600);
        for i in 0..3 {
            peer.append_at("hub", "0", format!("old {i}"), old);
        }
        peer.append("hub", "0", "new 3");
        peer.append("hub", "0", "new 4");
        assert_eq!(peer.partition_info("hub", "0").begin_sequence_number, 0);
        peer.set_retention("hub", Duration::from_secs(3600));

        let client = consumer(&peer, "hub").await;
        let props = client.get_partition_properties("0").await.unwrap();
        assert_eq!(props.beginning_sequence_number, 3);
        assert_eq!(props.last_enqueued_sequence_number, 4);
        assert_eq!(peer.partition_info("hub", "0").begin_sequence_number, 3);

        // A position inside the expired range starts at the oldest retained event.
        let receiver = client
            .open_receiver_on_partition("0".into(), start(StartLocation::SequenceNumber(1), true))
            .await
            .unwrap();
        let mut stream = receiver.stream_events();
        assert_eq!(seqs(&take(&mut stream, 2).await), vec![3, 4]);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_number_past_the_end_is_out_of_range() {
    install_crypto_provider();
    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 1))
            .await
            .unwrap();
        peer.append("hub", "0", "only");
        let client = consumer(&peer, "hub").await;
        let err =
            first_receive_error(&client, "0", start(StartLocation::SequenceNumber(5), false)).await;
        eprintln!("out of range: {err:?}");
        assert_eq!(
            condition(&err),
            Some(AmqpErrorCondition::ArgumentOutOfRangeError),
            "{err:?}"
        );
    });
}

/// The SDK always grants credit automatically, so a raw fe2o3 client with manual credit shows
/// that the peer never sends beyond what was granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_credit_is_honoured() {
    install_crypto_provider();
    use fe2o3_amqp::link::receiver::CreditMode;
    use fe2o3_amqp::sasl_profile::SaslProfile;
    use fe2o3_amqp::types::messaging::{Body, Source};
    use fe2o3_amqp::types::primitives::Value;
    use fe2o3_amqp::{Connection, Receiver, Session};

    bounded!(async {
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", 1))
            .await
            .unwrap();
        for i in 0..20 {
            peer.append("hub", "0", format!("e{i}"));
        }
        let config = PeerConfig::single_hub("hub", 1);
        // SASL PLAIN with the policy authorizes the whole namespace, no CBS round needed.
        let mut connection = Connection::builder()
            .container_id("credit-test")
            .sasl_profile(SaslProfile::Plain {
                username: config.key_name.clone(),
                password: config.key.clone(),
            })
            .open(peer.endpoint().as_str())
            .await
            .unwrap();
        let mut session = Session::begin(&mut connection).await.unwrap();
        let mut receiver = Receiver::builder()
            .name("credit")
            .source(
                Source::builder()
                    .address("hub/ConsumerGroups/$Default/Partitions/0")
                    .build(),
            )
            .credit_mode(CreditMode::Manual)
            .attach(&mut session)
            .await
            .unwrap();
        receiver.set_credit(5).await.unwrap();
        for _ in 0..5 {
            receiver.recv::<Body<Value>>().await.unwrap();
        }
        // Give the peer every chance to overrun the credit.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(peer.stats().events_delivered, 5);
        receiver.set_credit(3).await.unwrap();
        for _ in 0..3 {
            receiver.recv::<Body<Value>>().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(peer.stats().events_delivered, 8);
        receiver.close().await.unwrap();
        session.end().await.unwrap();
        connection.close().await.unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_sends_are_appended() {
    install_crypto_provider();
    bounded!(async {
        let mut config = PeerConfig::single_hub("hub", 2);
        config.hubs.push(HubSpec::new("second", 1));
        let peer = EventHubsPeer::start(config).await.unwrap();
        let producer = ProducerClient::builder()
            .with_custom_endpoint(peer.endpoint())
            .with_retry_options(retry())
            .open_with_connection_string(&peer.connection_string("hub"), None)
            .await
            .unwrap();
        producer
            .send_event(
                EventData::builder().with_body(b"single".to_vec()).build(),
                Some(SendEventOptions {
                    partition_id: Some("1".into()),
                }),
            )
            .await
            .unwrap();
        let batch = producer
            .create_batch(Some(azure_messaging_eventhubs::EventDataBatchOptions {
                partition_id: Some("1".into()),
                ..Default::default()
            }))
            .await
            .unwrap();
        for i in 0..3 {
            assert!(
                batch
                    .try_add_event_data(format!("batch {i}").into_bytes(), None)
                    .unwrap()
            );
        }
        producer.send_batch(batch, None).await.unwrap();
        assert_eq!(
            peer.partition_info("hub", "1")
                .last_enqueued_sequence_number,
            3
        );
        assert!(peer.partition_info("hub", "0").is_empty);

        let client = consumer(&peer, "hub").await;
        let receiver = client
            .open_receiver_on_partition("1".into(), start(StartLocation::Earliest, false))
            .await
            .unwrap();
        let mut stream = receiver.stream_events();
        let got = take(&mut stream, 4).await;
        let bodies: Vec<_> = got
            .iter()
            .map(|e| String::from_utf8(e.event_data().body().unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(bodies, ["single", "batch 0", "batch 1", "batch 2"]);
    });
}

/// The SDK authorizes every receiver with its own `$cbs` link pair and session, and drops them
/// right after the put-token. How the peer answers those detaches decides whether fe2o3-amqp
/// 0.16.2 keeps the connection (see `CBS_DETACH_ANSWER_DELAY` in the peer): with answers that
/// arrived after the client's `end`, a few rounds on one connection were enough to lose it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_authorizations_keep_the_connection() {
    install_crypto_provider();
    bounded!(async {
        const PARTITIONS: usize = 12;
        let peer = EventHubsPeer::start(PeerConfig::single_hub("hub", PARTITIONS as u32))
            .await
            .unwrap();
        let client = consumer(&peer, "hub").await;
        // One receiver per partition on one connection. Each first receive authorizes its
        // partition with a `$cbs` link pair and session that the SDK drops right after: twelve
        // rounds. A lost connection fails the receivers attached before it as well.
        let mut receivers = Vec::new();
        for partition in 0..PARTITIONS {
            let id = partition.to_string();
            peer.append("hub", &id, format!("in {id}"));
            let receiver = client
                .open_receiver_on_partition(id.clone(), start(StartLocation::Earliest, false))
                .await
                .unwrap_or_else(|e| panic!("partition {id}: open: {e}"));
            let mut stream = receiver.stream_events();
            assert_eq!(seqs(&take(&mut stream, 1).await), vec![0], "partition {id}");
            drop(stream);
            receivers.push(receiver);
        }
        assert!(
            peer.stats().cbs_accepted >= PARTITIONS as u64,
            "{:?}",
            peer.stats()
        );
        for (partition, receiver) in receivers.iter().enumerate() {
            let sentinel = peer.append("hub", &partition.to_string(), "sentinel");
            let mut stream = receiver.stream_events();
            let got = take(&mut stream, 1).await;
            assert_eq!(
                seqs(&got),
                vec![sentinel.sequence_number],
                "partition {partition}"
            );
        }
        assert_eq!(peer.stats().connections, 1, "the client had to reconnect");
    });
}
