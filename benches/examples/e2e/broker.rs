//! The peers the children read from and write to: the nisshi broker, the in-repo Event Hubs
//! peer, and the Splunk HEC and Sumo Logic peers of the SIEM rows (all but nisshi in this
//! process, on runtimes of their own).

use entrastream_eventhubs_peer::{EventHubsPeer, PeerConfig};
use entrastream_testkit::kafka::Broker;
use entrastream_testkit::{HecPeer, HecPeerOptions, SumoPeer, SumoPeerOptions};

use crate::args::Args;

/// nisshi on a free loopback port.
pub fn nisshi() -> Broker {
    Broker::start().expect("nisshi is installed (scripts/test installs it)")
}

/// A multi-threaded runtime of `workers` threads for peers served in this process.
pub fn peer_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("peer runtime")
}

/// The Event Hubs peer with one hub of `partitions` partitions.
pub fn event_hubs(rt: &tokio::runtime::Runtime, hub: &str, partitions: u32) -> EventHubsPeer {
    rt.block_on(EventHubsPeer::start(PeerConfig::single_hub(
        hub, partitions,
    )))
    .expect("Event Hubs peer")
}

/// Starts the peer of SIEM `mode` (`hec-noack`, `hec-ack` or `sumo`), points `a` at it, and
/// returns what the peer counted (events or lines), to read after the child has finished.
pub fn siem_peer(rt: &tokio::runtime::Runtime, mode: &str, a: &mut Args) -> Box<dyn Fn() -> usize> {
    if mode == "sumo" {
        // Benchmark mode: the protocol as in the tests, lines counted, not kept.
        let peer = rt.block_on(SumoPeer::start_with(
            "BenchSumoSecret",
            SumoPeerOptions { keep_lines: false },
        ));
        a.peer_url = peer.url();
        Box::new(move || peer.line_count())
    } else {
        let peer = rt.block_on(HecPeer::start(
            // Benchmark mode: token, channel, gzip, max content length, every
            // event's JSON and `event` field checked, ackIds and ack polls answered;
            // events counted instead of parsed into trees and kept.
            HecPeerOptions {
                ack: mode == "hec-ack",
                keep_events: false,
                ..Default::default()
            },
        ));
        a.peer_url = peer.url();
        a.peer_token = peer.token().to_string();
        Box::new(move || peer.event_count())
    }
}
