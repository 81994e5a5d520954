//! The sink's counters: atomics that tests and `check-sinks` read, each mirrored into the
//! daemon's `/metrics` through a [`SyslogSinkStats`] from the telemetry crate (detached, so
//! exported nowhere, unless the sink was given one with [`crate::SyslogSink::with_metrics`]).
//! Every change goes through a method here, so the two cannot drift apart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use entrastream_telemetry::SyslogSinkStats;

/// Counters of one syslog sink. All are totals since start except the gauges noted.
#[derive(Debug)]
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
    /// Gauge: RELP messages sent and not yet acknowledged, over all connections.
    pub relp_in_flight: AtomicU64,
    /// Records dead-lettered because they exceed `max_message_bytes`.
    pub dead_lettered_too_large: AtomicU64,
    /// `send` calls that returned `Retryable`.
    pub retries: AtomicU64,
    /// Gauge: false while the last attempt failed.
    pub healthy: AtomicBool,
    exported: SyslogSinkStats,
}

impl Default for SyslogStats {
    fn default() -> Self {
        Self::exported_by(SyslogSinkStats::detached("syslog"))
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl SyslogStats {
    /// Counters that also record into `exported` (healthy from the start).
    pub fn exported_by(exported: SyslogSinkStats) -> Self {
        exported.healthy(true);
        SyslogStats {
            messages_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            resent_records: AtomicU64::new(0),
            relp_acks: AtomicU64::new(0),
            relp_nacks: AtomicU64::new(0),
            relp_in_flight: AtomicU64::new(0),
            dead_lettered_too_large: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            exported,
        }
    }

    /// A counter's current value (tests, `check-sinks`).
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub(crate) fn sent(&self, messages: u64) {
        add(&self.messages_sent, messages);
        self.exported.sent(messages);
    }

    pub(crate) fn wrote(&self, bytes: u64) {
        add(&self.bytes_sent, bytes);
        self.exported.bytes(bytes);
    }

    pub(crate) fn reconnected(&self) {
        add(&self.reconnects, 1);
        self.exported.reconnect();
    }

    pub(crate) fn connect_failed(&self) {
        add(&self.connect_failures, 1);
        self.exported.connect_failure();
    }

    pub(crate) fn resent(&self, records: u64) {
        add(&self.resent_records, records);
        self.exported.resent(records);
    }

    pub(crate) fn relp_answer(&self, ok: bool) {
        add(
            if ok {
                &self.relp_acks
            } else {
                &self.relp_nacks
            },
            1,
        );
        self.exported.relp_answer(ok);
    }

    /// One connection's unacknowledged RELP messages went from `from` to `to`.
    pub(crate) fn relp_in_flight_moved(&self, from: u64, to: u64) {
        if to >= from {
            add(&self.relp_in_flight, to - from);
        } else {
            self.relp_in_flight.fetch_sub(from - to, Ordering::Relaxed);
        }
        let delta = i64::try_from(to).unwrap_or(i64::MAX) - i64::try_from(from).unwrap_or(i64::MAX);
        self.exported.relp_in_flight(delta);
    }

    pub(crate) fn too_large(&self) {
        add(&self.dead_lettered_too_large, 1);
        self.exported.dead_lettered("too_large", 1);
    }

    pub(crate) fn retried(&self) {
        add(&self.retries, 1);
    }

    pub(crate) fn set_healthy(&self, ok: bool) {
        self.healthy.store(ok, Ordering::Relaxed);
        self.exported.healthy(ok);
    }
}
