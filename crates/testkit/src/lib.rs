//! Test support for entrastream's SIEM sinks: HTTP peers that answer like Splunk's HTTP Event
//! Collector ([`HecPeer`]) and a Sumo Logic HTTP source ([`SumoPeer`]), including their failures.
//!
//! Design decision: each peer is a small hyper server on a loopback port whose behaviour is
//! switched at run time through a shared state (fail with a status for a while, refuse
//! connections for a while, lose or delay acknowledgements). Every request body is decoded and
//! stored, so a test compares what the peer accepted with what it sent. Benchmarks start them
//! with `keep_events: false` / `keep_lines: false`: the protocol is answered the same way, but
//! events and lines are only validated and counted, not kept.
//!
//! Also for the end-to-end tests and the fault suite: a TCP proxy that injects connection
//! faults ([`FaultProxy`]), counting delivered records by id ([`Traffic`], [`count_ids`]), and,
//! with feature `kafka`, the nisshi broker and generated traffic ([`kafka`]); a real rsyslog
//! for the syslog sink ([`Rsyslog`]); with feature `entra`, a peer of the Microsoft identity
//! platform's token endpoint ([`entra_token`]) for the Entra credential paths.
//!
//! Design decision: this crate is the one test harness of the workspace. The launchers of the
//! external peers (nisshi in [`kafka`], Azurite in [`Azurite`], promtool in [`promtool`]),
//! finding their executables ([`find_tool`]), loopback ports ([`free_port`]), the CI rule for a
//! missing peer ([`peer_missing`]), the deadline loops ([`wait_until`], [`wait_listening`]) and
//! the daemon as a child process ([`ChildProcess`]) live here once, and the end-to-end tests
//! (`tests/`), the crates' own tests and the benchmarks (`benches/`) use them.
#![forbid(unsafe_code)]

mod azurite;
#[cfg(feature = "entra")]
pub mod entra_token;
mod fault_proxy;
mod hec;
mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
mod pki;
mod process;
pub mod promtool;
mod records;
mod rsyslog;
mod scrape;
mod sumo;
mod tools;
mod wait;

pub use azurite::{AZURITE_DEV_KEY, Azurite, AzuriteOptions, azurite_connection_string};
#[cfg(feature = "blob")]
pub use azurite::{blob_lines, containers, get_blob, put_append_blob};
pub use fault_proxy::{FaultMode, FaultProxy, FaultStats};
pub use hec::{HecPeer, HecPeerOptions, HecStats};
pub use http::{Impostor, PAGE_PATH};
pub use pki::{TestPki, test_pki};
pub use process::{ChildProcess, output_within, wait_for_child};
pub use records::{Traffic, count_ids, ids_in, line_count, record_id, record_ids};
pub use rsyslog::{IMTCP_WORKERS_SINCE, Rsyslog, RsyslogOptions, RsyslogTls, rsyslogd_release};
pub use scrape::{http_get, metric_value, try_http_get};
pub use sumo::{SumoPeer, SumoPeerOptions, SumoRequest};
pub use tools::{find_tool, free_port, peer_missing};
pub use wait::{poll_until, wait_listening, wait_until};
