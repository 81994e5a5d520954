//! The peers the children read from and write to: the nisshi broker, the in-repo Event Hubs
//! peer, and the Splunk HEC and Sumo Logic peers of the SIEM rows (all but nisshi in this
//! process, on runtimes of their own); rsyslog for the syslog rows (its own process).

use entrastream_eventhubs_peer::{EventHubsPeer, PeerConfig};
use entrastream_testkit::kafka::Broker;
use entrastream_testkit::{
    HecPeer, HecPeerOptions, Rsyslog, RsyslogOptions, RsyslogTls, SumoPeer, SumoPeerOptions,
    TestPki, test_pki,
};

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

/// rsyslog with a RELP input and a TLS input (server certificate of a fresh test CA, no client
/// certificate asked), writing every message raw to a file per input; and the PKI directory.
/// `strict`: as the tests run it (direct queues, a flush per transaction); else tuned for
/// throughput (`RsyslogOptions::throughput`). `imtcp_workers`: imtcp's `workerThreads`
/// (rsyslog 8.2504 or later; None leaves rsyslog's default).
pub fn rsyslog(
    strict: bool,
    imtcp_workers: Option<usize>,
) -> (Rsyslog, tempfile::TempDir, TestPki) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = test_pki(dir.path());
    let r = Rsyslog::start(RsyslogOptions {
        relp: true,
        tls: Some(RsyslogTls {
            ca_file: pki.ca.clone(),
            cert_file: pki.server_cert.clone(),
            key_file: pki.server_key.clone(),
            require_client_cert: false,
        }),
        raw_only: true,
        throughput: !strict,
        imtcp_worker_threads: imtcp_workers,
        ..Default::default()
    })
    .expect("rsyslogd is installed (scripts/test installs rsyslog, rsyslog-relp, rsyslog-gnutls)");
    (r, dir, pki)
}

/// CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; 0 when gone.
pub fn process_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the 3rd field, utime
    // and stime the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
