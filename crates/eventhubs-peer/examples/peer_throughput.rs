//! How fast one SDK consumer can drain the peer: 50,000 × 4 KB events on one partition, received
//! from the earliest position by `azure_messaging_eventhubs`' `ConsumerClient`, timed from the
//! first `stream_events` poll to the last event. Not a test (timings vary by machine); run it to
//! check the peer is not the bottleneck of an AMQP-source benchmark:
//!
//! ```sh
//! cargo run --release -p entrastream-eventhubs-peer --example peer_throughput [EVENTS] [PREFETCH]
//! ```

use azure_messaging_eventhubs::{
    ConsumerClient, OpenReceiverOptions, StartLocation, StartPosition,
};
use entrastream_eventhubs_peer::{EventHubsPeer, PeerConfig};
use futures::StreamExt;
use std::time::Instant;

const EVENT_SIZE: usize = 4096;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let prefetch: u32 = args.next().map_or(Ok(300), |a| a.parse())?;

    let peer = EventHubsPeer::start(PeerConfig::single_hub("bench", 1)).await?;
    let body = vec![b'x'; EVENT_SIZE];
    let started = Instant::now();
    for _ in 0..events {
        peer.append("bench", "0", body.clone());
    }
    println!(
        "appended {events} x {EVENT_SIZE} B in {:.2?}",
        started.elapsed()
    );

    // The SDK needs rustls' process default provider; a workspace build carries two.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = ConsumerClient::builder()
        .with_custom_endpoint(peer.endpoint())
        .open_with_connection_string(&peer.connection_string("bench"), None)
        .await?;
    let receiver = client
        .open_receiver_on_partition(
            "0".to_owned(),
            Some(OpenReceiverOptions {
                prefetch: Some(prefetch),
                start_position: Some(StartPosition {
                    location: StartLocation::Earliest,
                    inclusive: false,
                }),
                ..Default::default()
            }),
        )
        .await?;
    let mut stream = receiver.stream_events();
    let started = Instant::now();
    let mut received = 0usize;
    let mut bytes = 0usize;
    while received < events {
        let event = stream.next().await.ok_or("stream ended early")??;
        bytes += event.event_data().body().map_or(0, <[u8]>::len);
        received += 1;
    }
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64();
    println!(
        "received {received} events ({:.1} MB) in {elapsed:.2?}: {:.0} events/s, {:.1} MB/s \
         (prefetch {prefetch}; peer delivered {})",
        bytes as f64 / 1e6,
        received as f64 / secs,
        bytes as f64 / 1e6 / secs,
        peer.stats().events_delivered
    );
    drop(stream);
    receiver.close().await?;
    client.close().await?;
    peer.shutdown().await;
    Ok(())
}
