//! Syslog sink: RFC 5424 messages whose MSG is the record as JSON in the sink's schema, an
//! ArcSight CEF event or an IBM LEEF 2.0 event, sent over TCP, TLS or RELP to a SIEM or a
//! syslog relay (rsyslog, syslog-ng).
//!
//! Design decision: records are never truncated and acceptance is stated per transport. A
//! message larger than `max_message_bytes` is refused by the encoder and dead-lettered with
//! the reason. Over RELP a record counts as delivered only when the receiver acknowledged it
//! (`rsp 200`); over TCP/TLS when it is written and flushed, and after any connection error
//! everything not yet confirmed in the batch is resent on a new connection (duplicates are
//! counted, never gaps). What plain TCP cannot promise: bytes the kernel accepted but the
//! receiver never read are lost if the receiver dies before reading them and the connection
//! closes cleanly afterwards; only RELP closes that gap.
//!
//! Connections: `concurrency` of them, each reused across sends while it stays open; a batch
//! is split into that many contiguous parts sent at once. A failed part reconnects with
//! backoff inside the same send for up to `retry_window`, then the send reports `Retryable`
//! and remembers which records are already confirmed, so the pipeline's resend skips them.
//! RELP keeps its window full across sends: the pipeline starts each batch with
//! `Sink::start_send` on the next connection in turn (two outstanding per connection) while
//! the connection's answers are read by a task of its own ([`window`]); the batch's outcome
//! comes when every record is answered, and after a failure the resend goes through `send`.
//!
//! Layout: [`config`] → [`encoder`] ([`rfc5424`], [`severity`], [`mapping`], [`cef`],
//! [`leef`]) → [`frame`]; I/O: [`tls`] → [`conn`] → [`stream`] (TCP/TLS) or [`relp`] →
//! [`window`]; counters in [`stats`].
#![forbid(unsafe_code)]

pub mod cef;
pub mod config;
pub mod conn;
pub mod encoder;
pub mod frame;
pub mod leef;
pub mod mapping;
pub mod relp;
pub mod rfc5424;
pub mod severity;
pub mod stats;
pub mod stream;
#[cfg(test)]
mod test_records;
pub mod tls;
pub mod window;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use entrastream_entra::Schema;
use entrastream_sink::{
    BatchProgress, Coalesce, EncodedBatch, Outcome, PendingSend, RecordEncoder, RejectReason,
    Rejection, RetryReason, Sink, SinkError,
};
use entrastream_telemetry::SyslogSinkStats;

pub use config::{Config, ConfigError, Facility, Format, Framing, TlsConfig, Transport};
pub use encoder::SyslogEncoder;
pub use stats::SyslogStats;

use conn::{Connector, Stream};

/// Why the sink cannot be built; the message names the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// One connection slot of the pool.
#[derive(Debug, Default)]
enum Slot {
    #[default]
    Closed,
    /// A TCP/TLS connection and the buffer its sends gather frames in (kept across sends:
    /// a fresh 256 KiB buffer per send cost page faults).
    Stream(Stream, Vec<u8>),
    Relp(window::Pipe),
}

/// A new connection before it becomes a [`Slot`]: the RELP session still in the caller's hands.
enum Opened {
    Stream(Stream),
    Relp(relp::Session),
}

/// Progress of batches whose send failed, kept for their resend (at most this many).
const RESUMABLE: usize = 16;

/// What became of one part of a batch.
struct PartResult {
    slot: Slot,
    confirmed: Vec<usize>,
    failure: Option<String>,
}

/// First wait between reconnects inside one send, doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The syslog sink.
#[derive(Debug)]
pub struct SyslogSink {
    name: String,
    cfg: Config,
    encoder: Arc<SyslogEncoder>,
    connector: Connector,
    slots: Vec<Slot>,
    stats: Arc<SyslogStats>,
    connected_once: AtomicBool,
    /// What failed sends had confirmed already, so their resends skip it (RELP sends that
    /// settle after `start_send` returned store theirs here too).
    resumable: Arc<Mutex<Vec<BatchProgress>>>,
    /// The slot the next started send goes to (round robin over the pool).
    next_slot: usize,
}

/// This machine's host name for the HOSTNAME field, or `-` (the RFC's nil value).
fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

impl SyslogSink {
    /// Builds the sink named `name` whose `rfc5424_json` MSG uses `schema`: validates the
    /// settings and reads the TLS files (the key path of `tls.key_file_env` from the process
    /// environment). Opens no connection: that happens on the first send or healthcheck.
    pub fn new(name: impl Into<String>, schema: Schema, cfg: Config) -> Result<Self, BuildError> {
        Self::with_env(name, schema, cfg, |k| std::env::var(k).ok())
    }

    /// [`SyslogSink::new`] with the environment given (tests, an injected environment).
    pub fn with_env(
        name: impl Into<String>,
        schema: Schema,
        cfg: Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        cfg.validate()?;
        let tls = match &cfg.tls {
            Some(t) => Some(tls::client(t, cfg.host(), env)?),
            None => None,
        };
        let hostname = cfg.hostname.clone().unwrap_or_else(system_hostname);
        let encoder = Arc::new(SyslogEncoder::new(&cfg, schema, &hostname));
        let connector = Connector::new(cfg.address.clone(), tls, cfg.connect_timeout);
        let stats = Arc::new(SyslogStats::default());
        Ok(SyslogSink {
            name: name.into(),
            slots: (0..cfg.concurrency).map(|_| Slot::Closed).collect(),
            cfg,
            encoder,
            connector,
            stats,
            connected_once: AtomicBool::new(false),
            resumable: Arc::new(Mutex::new(Vec::new())),
            next_slot: 0,
        })
    }

    /// Records into these `/metrics` series (from `Metrics::syslog_stats`) from now on; the
    /// counters start again from zero.
    pub fn with_metrics(mut self, exported: SyslogSinkStats) -> Self {
        exported.relp_window(self.relp_window_total());
        self.stats = Arc::new(SyslogStats::exported_by(exported));
        self
    }

    /// The most RELP messages unacknowledged at once over the whole pool (0 without RELP).
    fn relp_window_total(&self) -> u64 {
        if self.cfg.transport == Transport::Relp {
            (self.cfg.relp_window as u64).saturating_mul(self.cfg.concurrency as u64)
        } else {
            0
        }
    }

    /// The sink's counters (for the metrics exporter, tests and `check-sinks`).
    pub fn stats(&self) -> Arc<SyslogStats> {
        self.stats.clone()
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A new connection, with the RELP session opened when the transport is RELP; its
    /// answers then read by a task of its own ([`window::Pipe`]).
    async fn open(&self) -> Result<Slot, String> {
        Ok(match self.connect().await? {
            Opened::Stream(s) => Slot::Stream(s, Vec::new()),
            Opened::Relp(session) => Slot::Relp(window::Pipe::start(
                session,
                self.cfg.relp_window,
                self.stats.clone(),
                self.cfg.request_timeout,
            )),
        })
    }

    /// Connects (TCP, TLS handshake, RELP open) and counts reconnects and failures.
    async fn connect(&self) -> Result<Opened, String> {
        let opened = async {
            let stream = self.connector.connect().await?;
            if self.cfg.transport == Transport::Relp {
                relp::Session::open(stream, self.cfg.connect_timeout)
                    .await
                    .map(Opened::Relp)
            } else {
                Ok(Opened::Stream(stream))
            }
        }
        .await;
        match &opened {
            Ok(_) => {
                if self.connected_once.swap(true, Ordering::Relaxed) {
                    self.stats.reconnected();
                }
            }
            Err(_) => self.stats.connect_failed(),
        }
        opened
    }

    /// Sends one part of a batch on one slot.
    async fn send_part(&self, mut slot: Slot, batch: &EncodedBatch, part: &[usize]) -> PartResult {
        let still_open = match &mut slot {
            Slot::Stream(s, _) => s.is_open().await,
            Slot::Relp(r) => r.is_open(),
            Slot::Closed => false,
        };
        let slot = match slot {
            open if still_open => open,
            _ => match self.open().await {
                Ok(s) => s,
                Err(e) => {
                    return PartResult {
                        slot: Slot::Closed,
                        confirmed: Vec::new(),
                        failure: Some(e),
                    };
                }
            },
        };
        match slot {
            Slot::Stream(mut s, mut out) => {
                let octets = self.cfg.framing == Framing::OctetCounting;
                let timeout = self.cfg.request_timeout;
                match stream::send(&mut s, &mut out, batch, part, octets, timeout).await {
                    Ok(bytes) => {
                        self.stats.sent(part.len() as u64);
                        self.stats.wrote(bytes);
                        PartResult {
                            slot: Slot::Stream(s, out),
                            confirmed: part.to_vec(),
                            failure: None,
                        }
                    }
                    Err(e) => {
                        self.stats.resent(e.written as u64);
                        PartResult {
                            slot: Slot::Closed,
                            confirmed: Vec::new(),
                            failure: Some(e.reason),
                        }
                    }
                }
            }
            Slot::Relp(mut r) => {
                let (ticket, answered) = window::Ticket::new(part.len());
                // An error ends the session and settles the ticket; the answers say the rest.
                let _ = r.submit(batch, part, &ticket).await;
                let _ = answered.await;
                let (confirmed, failure) = ticket.result();
                PartResult {
                    slot: if failure.is_none() {
                        Slot::Relp(r)
                    } else {
                        Slot::Closed
                    },
                    confirmed,
                    failure,
                }
            }
            Slot::Closed => PartResult {
                slot: Slot::Closed,
                confirmed: Vec::new(),
                failure: Some("no connection".into()),
            },
        }
    }

    /// The progress of `batch`: what an earlier failed send of it confirmed, else fresh;
    /// records above `max_message_bytes` rejected. The encoder refuses oversized records
    /// already; a batch built elsewhere is checked again so nothing too large ever reaches
    /// a receiver that would cut it.
    fn progress_of(&self, batch: &EncodedBatch) -> BatchProgress {
        let earlier = {
            let mut kept = self
                .resumable
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            kept.iter()
                .position(|p| p.is_for(batch))
                .map(|i| kept.remove(i))
        };
        let fresh = earlier.is_none();
        let mut progress = BatchProgress::resume(earlier, batch);
        if !fresh {
            return progress;
        }
        for i in progress.pending() {
            let len = batch.records[i].range.len() as u64;
            if len > self.cfg.max_message_bytes {
                self.stats.too_large();
                progress.reject(Rejection {
                    index: i,
                    reason: RejectReason::TooLarge(format!(
                        "{}: {len} bytes is above max_message_bytes = {} (not truncated; raise max_message_bytes together with the receiver's limit to deliver it)",
                        encoder::TOO_LARGE,
                        self.cfg.max_message_bytes
                    )),
                });
            }
        }
        progress
    }
}

#[async_trait]
impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn encoder(&self) -> Arc<dyn RecordEncoder> {
        self.encoder.clone()
    }

    async fn send(&mut self, batch: &EncodedBatch) -> Outcome {
        let mut progress = self.progress_of(batch);
        let deadline = Instant::now() + self.cfg.retry_window;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let pending = progress.pending();
            if pending.is_empty() {
                break;
            }
            let parts = self.slots.len().min(pending.len()).max(1);
            let per_part = pending.len().div_ceil(parts);
            let mut slots = std::mem::take(&mut self.slots);
            let idle = slots.split_off(parts.min(slots.len()));
            let sends = pending
                .chunks(per_part)
                .zip(slots)
                .map(|(part, slot)| self.send_part(slot, batch, part));
            let results = futures_util::future::join_all(sends).await;
            let mut failure = None;
            let mut slots = Vec::with_capacity(results.len() + idle.len());
            for r in results {
                for i in r.confirmed {
                    if let Some(d) = progress.done.get_mut(i) {
                        *d = true;
                    }
                }
                failure = failure.or(r.failure);
                slots.push(r.slot);
            }
            slots.extend(idle);
            self.slots = slots;
            let Some(reason) = failure else { continue };
            self.stats.set_healthy(false);
            if Instant::now() + backoff >= deadline {
                self.stats.retried();
                tracing::warn!(sink = %self.name, "syslog send failed, will retry: {reason}");
                remember(&self.resumable, progress);
                return Outcome::Retryable(RetryReason::Unreachable(reason));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.stats.set_healthy(true);
        if progress.rejections.is_empty() {
            Outcome::Delivered
        } else {
            Outcome::Rejected(progress.rejections)
        }
    }

    /// Opens a connection as a send would (TCP connect, TLS handshake, RELP open), then
    /// closes it (RELP politely).
    async fn healthcheck(&mut self) -> Result<(), SinkError> {
        let opened = self.connect().await.map_err(SinkError::Unreachable)?;
        if let Opened::Relp(session) = opened {
            session.close().await.map_err(SinkError::Unreachable)?;
        }
        Ok(())
    }

    /// RELP: two sends per connection, so one is written into the window while the one
    /// before it is still being acknowledged. TCP/TLS: one (a send ends with its flush).
    fn max_outstanding_sends(&self) -> usize {
        if self.cfg.transport == Transport::Relp {
            2 * self.slots.len().max(1)
        } else {
            1
        }
    }

    /// RELP: writes the batch into the window of the next connection of the pool and
    /// returns; the outcome comes when every record is answered (`rsp 200` each), so the
    /// window stays full across sends. One attempt: after `Retryable` the pipeline resends
    /// with [`Sink::send`], which reconnects and skips what was confirmed. TCP/TLS: `send`.
    async fn start_send(&mut self, batch: &EncodedBatch) -> PendingSend {
        if self.cfg.transport != Transport::Relp {
            let outcome = self.send(batch).await;
            return Box::pin(std::future::ready(outcome));
        }
        let mut progress = self.progress_of(batch);
        let pending = progress.pending();
        let (ticket, answered) = window::Ticket::new(pending.len());
        if !pending.is_empty() {
            let n = self.slots.len().max(1);
            let at = self.next_slot % n;
            self.next_slot = (at + 1) % n;
            let slot = std::mem::take(&mut self.slots[at]);
            let open = match slot {
                Slot::Relp(p) if p.is_open() => Ok(p),
                _ => match self.open().await {
                    Ok(Slot::Relp(p)) => Ok(p),
                    Ok(_) => Err("not a RELP connection".to_owned()),
                    Err(e) => Err(e),
                },
            };
            match open {
                Ok(mut pipe) => {
                    // An error ends the session and settles the ticket.
                    let _ = pipe.submit(batch, &pending, &ticket).await;
                    self.slots[at] = Slot::Relp(pipe);
                }
                Err(e) => ticket.fail_all(&e),
            }
        }
        let stats = self.stats.clone();
        let resumable = self.resumable.clone();
        let name = self.name.clone();
        Box::pin(async move {
            let _ = answered.await;
            let (confirmed, failure) = ticket.result();
            for i in confirmed {
                if let Some(d) = progress.done.get_mut(i) {
                    *d = true;
                }
            }
            match failure {
                None => {
                    stats.set_healthy(true);
                    if progress.rejections.is_empty() {
                        Outcome::Delivered
                    } else {
                        Outcome::Rejected(progress.rejections)
                    }
                }
                Some(reason) => {
                    stats.set_healthy(false);
                    stats.retried();
                    tracing::warn!(sink = %name, "syslog send failed, will retry: {reason}");
                    remember(&resumable, progress);
                    Outcome::Retryable(RetryReason::Unreachable(reason))
                }
            }
        })
    }

    fn coalesce(&self) -> Option<Coalesce> {
        let max_bytes = usize::try_from(self.cfg.batch_max_bytes).unwrap_or(usize::MAX);
        Some(Coalesce {
            min_bytes: if self.cfg.batch_timeout.is_zero() {
                0
            } else {
                max_bytes / 2
            },
            max_bytes,
            max_wait: self.cfg.batch_timeout,
        })
    }
}

/// Keeps `progress` for the resend of its batch (the oldest goes beyond [`RESUMABLE`]: its
/// resend then starts afresh, which duplicates but never loses).
fn remember(kept: &Mutex<Vec<BatchProgress>>, progress: BatchProgress) {
    let mut kept = kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if kept.len() >= RESUMABLE {
        kept.remove(0);
    }
    kept.push(progress);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use entrastream_model::PartitionId;
    use entrastream_sink::RecordMeta;

    /// Everything the first connection to `listener` writes, until it closes.
    async fn read_one_connection(listener: tokio::net::TcpListener) -> Vec<u8> {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut got)
            .await
            .unwrap();
        got
    }

    fn batch(sizes: &[usize]) -> EncodedBatch {
        let mut data = Vec::new();
        let mut records = Vec::new();
        for &n in sizes {
            let start = data.len();
            data.extend(std::iter::repeat_n(b'x', n));
            records.push(RecordMeta {
                range: start..data.len(),
                partition: PartitionId::new("t", 0),
                offset: 0,
                category: "SignInLogs".into(),
            });
        }
        EncodedBatch {
            data: Bytes::from(data),
            records,
        }
    }

    /// An in-test RELP receiver for the first connection to `listener`: answers `open` at
    /// once, then each `syslog` frame `latency` after it arrived and at most one answer per
    /// `service` (a receiver busy writing). For each message it logs how many earlier ones
    /// were still unanswered when it arrived.
    async fn slow_relp_receiver(
        listener: tokio::net::TcpListener,
        latency: Duration,
        service: Duration,
        log: Arc<Mutex<Vec<usize>>>,
    ) {
        use std::sync::atomic::AtomicUsize;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (s, _) = listener.accept().await.unwrap();
        let (mut rd, wr) = s.into_split();
        let wr = Arc::new(tokio::sync::Mutex::new(wr));
        let answered = Arc::new(AtomicUsize::new(0));
        let (queue, mut due) = tokio::sync::mpsc::unbounded_channel::<(u32, Instant)>();
        let answerer = {
            let (wr, answered) = (wr.clone(), answered.clone());
            tokio::spawn(async move {
                while let Some((txnr, at)) = due.recv().await {
                    tokio::time::sleep_until((at + latency).into()).await;
                    let mut out = Vec::new();
                    relp::push_frame(&mut out, txnr, "rsp", b"200 OK");
                    if wr.lock().await.write_all(&out).await.is_err() {
                        return;
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(service).await;
                }
            })
        };
        let (mut buf, mut received) = (Vec::new(), 0usize);
        let mut chunk = [0u8; 4096];
        loop {
            while let Some((f, used)) = relp::parse_frame(&buf).unwrap() {
                buf.drain(..used);
                match f.command.as_str() {
                    "open" => {
                        let mut out = Vec::new();
                        let offer = b"200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog";
                        relp::push_frame(&mut out, f.txnr, "rsp", offer);
                        wr.lock().await.write_all(&out).await.unwrap();
                    }
                    "syslog" => {
                        log.lock()
                            .unwrap()
                            .push(received - answered.load(Ordering::SeqCst));
                        received += 1;
                        queue.send((f.txnr, Instant::now())).unwrap();
                    }
                    other => panic!("unexpected RELP command {other}"),
                }
            }
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        drop(queue);
        let _ = answerer.await;
    }

    /// The window stays full across sends: the second send's messages go out while the
    /// first send's are still being answered, and each outcome still waits for every
    /// `rsp 200` of its own records.
    #[tokio::test]
    async fn relp_window_stays_full_across_sends() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = Config::new(listener.local_addr().unwrap().to_string());
        cfg.transport = Transport::Relp;
        cfg.relp_window = 8;
        let log = Arc::new(Mutex::new(Vec::new()));
        let receiver = tokio::spawn(slow_relp_receiver(
            listener,
            Duration::from_millis(30),
            Duration::from_millis(3),
            log.clone(),
        ));
        let mut sink = SyslogSink::new("s", Schema::Raw, cfg).unwrap();
        assert!(sink.max_outstanding_sends() >= 2);
        let first = sink.start_send(&batch(&[10; 8])).await;
        let second = sink.start_send(&batch(&[20; 8])).await;
        assert_eq!(first.await, Outcome::Delivered);
        assert_eq!(second.await, Outcome::Delivered);
        let stats = sink.stats();
        assert_eq!(SyslogStats::get(&stats.relp_acks), 16);
        assert_eq!(SyslogStats::get(&stats.relp_in_flight), 0);
        drop(sink);
        receiver.await.unwrap();
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 16);
        assert!(
            log[8] >= 4,
            "when the second send's first message arrived, most of the first send's were still unanswered: {log:?}"
        );
    }

    /// A batch of the records `texts`.
    fn batch_of(texts: &[String]) -> EncodedBatch {
        let mut b = batch(&texts.iter().map(String::len).collect::<Vec<_>>());
        b.data = Bytes::from(texts.concat());
        b
    }

    /// (connection, message) of each message an in-test receiver took.
    type Received = Arc<Mutex<Vec<(usize, Vec<u8>)>>>;

    /// An in-test RELP receiver for two connections to `listener`: on the first it answers
    /// `answered` messages, then drops the connection when the next one arrives; on the
    /// second it answers everything. Logs (connection, message) of each message received.
    async fn failing_relp_receiver(
        listener: tokio::net::TcpListener,
        answered: usize,
        got: Received,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for conn in 0..2 {
            let (mut s, _) = listener.accept().await.unwrap();
            let (mut buf, mut chunk, mut n) = (Vec::new(), [0u8; 4096], 0);
            'conn: loop {
                while let Some((f, used)) = relp::parse_frame(&buf).unwrap() {
                    buf.drain(..used);
                    let mut out = Vec::new();
                    match f.command.as_str() {
                        "open" => relp::push_frame(
                            &mut out,
                            f.txnr,
                            "rsp",
                            b"200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog",
                        ),
                        "syslog" if conn == 0 && n == answered => break 'conn,
                        "syslog" => {
                            got.lock().unwrap().push((conn, f.data));
                            n += 1;
                            relp::push_frame(&mut out, f.txnr, "rsp", b"200 OK");
                        }
                        _ => relp::push_frame(&mut out, f.txnr, "rsp", b"200 OK"),
                    }
                    s.write_all(&out).await.unwrap();
                }
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
        }
    }

    /// A session that dies with two sends outstanding: both report `Retryable`, and their
    /// resends on a new session carry exactly the records that were not acknowledged.
    #[tokio::test]
    async fn relp_sends_outstanding_when_the_session_dies_are_resent_without_what_was_acknowledged()
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = Config::new(listener.local_addr().unwrap().to_string());
        cfg.transport = Transport::Relp;
        cfg.relp_window = 8;
        cfg.retry_window = Duration::from_secs(5);
        let got = Arc::new(Mutex::new(Vec::new()));
        let receiver = tokio::spawn(failing_relp_receiver(listener, 4, got.clone()));
        let texts = |p: &str| (0..8).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let (a, b) = (batch_of(&texts("a")), batch_of(&texts("b")));
        let mut sink = SyslogSink::new("s", Schema::Raw, cfg).unwrap();
        let first = sink.start_send(&a).await;
        let second = sink.start_send(&b).await;
        let (first, second) = (first.await, second.await);
        assert!(first.is_retryable(), "{first:?}");
        assert!(second.is_retryable(), "{second:?}");
        assert_eq!(sink.send(&a).await, Outcome::Delivered);
        assert_eq!(sink.send(&b).await, Outcome::Delivered);
        assert!(SyslogStats::get(&sink.stats().resent_records) >= 4);
        drop(sink);
        receiver.await.unwrap();
        let got = got.lock().unwrap().clone();
        let on = |conn: usize| -> Vec<String> {
            got.iter()
                .filter(|(c, _)| *c == conn)
                .map(|(_, m)| String::from_utf8_lossy(m).into_owned())
                .collect()
        };
        assert_eq!(on(0), ["a0", "a1", "a2", "a3"]);
        let mut resent = on(1);
        resent.sort();
        let mut want: Vec<String> = texts("a")[4..].to_vec();
        want.extend(texts("b"));
        assert_eq!(resent, want, "the acknowledged a0..a3 are not sent again");
    }

    #[tokio::test]
    async fn too_large_records_are_rejected_with_the_reason_and_the_rest_sent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = Config::new(listener.local_addr().unwrap().to_string());
        cfg.max_message_bytes = 1000;
        let mut sink = SyslogSink::new("s", Schema::Raw, cfg).unwrap();
        let reader = tokio::spawn(read_one_connection(listener));
        let outcome = sink.send(&batch(&[10, 1001, 1000])).await;
        let Outcome::Rejected(r) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].index, 1);
        assert!(
            r[0].reason
                .contains("1001 bytes is above max_message_bytes = 1000")
        );
        drop(sink);
        let got = reader.await.unwrap();
        let mut want = b"10 ".to_vec();
        want.extend([b'x'; 10]);
        want.extend_from_slice(b"1000 ");
        want.extend([b'x'; 1000]);
        assert_eq!(
            got, want,
            "the others are sent whole; the large one not at all"
        );
    }

    /// The counters reach a registry's scrape with the values of a real send (TCP to a local
    /// reader): messages and bytes as written, the oversized record as dead-lettered.
    #[tokio::test]
    async fn stats_reach_the_registry_given_with_metrics() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut cfg = Config::new(listener.local_addr().unwrap().to_string());
        cfg.max_message_bytes = 1000;
        let metrics = entrastream_telemetry::Metrics::new();
        let mut sink = SyslogSink::new("qradar", Schema::Raw, cfg)
            .unwrap()
            .with_metrics(metrics.syslog_stats("qradar"));
        let reader = tokio::spawn(read_one_connection(listener));
        let outcome = sink.send(&batch(&[10, 1001, 1000])).await;
        assert!(matches!(outcome, Outcome::Rejected(_)), "{outcome:?}");
        let stats = sink.stats();
        drop(sink);
        let wire = reader.await.unwrap().len();
        assert_eq!(wire, 3 + 10 + 5 + 1000);
        assert_eq!(SyslogStats::get(&stats.bytes_sent), wire as u64);
        let text = metrics.render();
        for want in [
            "entrastream_sink_syslog_messages_total{sink=\"qradar\"} 2".to_string(),
            format!("entrastream_sink_syslog_bytes_total{{sink=\"qradar\"}} {wire}"),
            "entrastream_sink_dead_lettered_total{reason=\"too_large\",sink=\"qradar\"} 1".into(),
            "entrastream_sink_healthy{sink=\"qradar\"} 1".into(),
            "entrastream_sink_syslog_reconnects_total{sink=\"qradar\"} 0".into(),
            "entrastream_sink_syslog_relp_window{sink=\"qradar\"} 0".into(),
        ] {
            assert!(text.contains(&want), "{want} missing from\n{text}");
        }
    }

    #[tokio::test]
    async fn unreachable_receiver_fails_healthcheck_and_send_is_retryable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cfg = Config::new(format!("127.0.0.1:{port}"));
        cfg.retry_window = Duration::from_millis(250);
        let mut sink = SyslogSink::new("s", Schema::Raw, cfg).unwrap();
        let e = sink.healthcheck().await.unwrap_err().to_string();
        assert!(e.contains("cannot connect"), "{e}");
        let outcome = sink.send(&batch(&[5])).await;
        assert!(outcome.is_retryable(), "{outcome:?}");
        let stats = sink.stats();
        assert!(SyslogStats::get(&stats.connect_failures) >= 2);
        assert_eq!(SyslogStats::get(&stats.retries), 1);
        assert!(!stats.healthy.load(Ordering::Relaxed));
    }
}
