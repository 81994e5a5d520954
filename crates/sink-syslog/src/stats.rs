//! The sink's counters, kept as atomics so the lead's telemetry can export them (and tests
//! and `check-sinks` read them) without this crate knowing the metrics registry.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counters of one syslog sink. All are totals since start except the gauges noted.
#[derive(Debug, Default)]
pub struct SyslogStats {
    /// Messages handed to the transport and confirmed (RELP: acknowledged; TCP/TLS: written
    /// and flushed).
    pub messages_sent: AtomicU64,
    /// Bytes of those messages on the wire, framing included (before TLS).
    pub bytes_sent: AtomicU64,
    /// Connections opened after the first (each follows an error or a closed connection).
    pub reconnects: AtomicU64,
    /// Connection attempts that failed (refused, timed out, TLS handshake or RELP open).
    pub connect_failures: AtomicU64,
    /// Records sent again because their connection failed before they were confirmed (the
    /// receiver may hold them twice).
    pub resent_records: AtomicU64,
    /// RELP `rsp 200` acknowledgements received.
    pub relp_acks: AtomicU64,
    /// RELP answers other than 200 (the record is kept and resent).
    pub relp_nacks: AtomicU64,
    /// Gauge: RELP messages sent and not yet acknowledged.
    pub relp_in_flight: AtomicU64,
    /// Records dead-lettered because they exceed `max_message_bytes`.
    pub dead_lettered_too_large: AtomicU64,
    /// `send` calls that returned `Retryable`.
    pub retries: AtomicU64,
    /// Gauge: false while the last attempt failed.
    pub healthy: AtomicBool,
}

impl SyslogStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A counter's current value (tests, `check-sinks`).
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
