//! A RELP session kept busy across sends: the answers are read by a task of its own, so the
//! messages of the next send go out while the previous send's acknowledgements are still
//! coming back, and the receiver never waits for the sender between two sends.
//!
//! The window (`relp_window` messages unacknowledged at most) is a semaphore: a message takes
//! a permit before it is written, its `rsp 200` gives it back. Each submission carries a
//! [`Ticket`] that counts its records until each is answered; the ticket resolves when the
//! last one is. A record is confirmed only by `rsp 200` for its transaction; any other
//! answer, a `serverclose`, a malformed frame, a closed connection or no answer within the
//! timeout ends the session, and every record still in its window is reported unconfirmed
//! to its ticket (the caller sends those again on a new session: duplicates, never gaps).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use entrastream_sink::EncodedBatch;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::conn::{QuickAck, Stream};
use crate::relp::{self, Frame, Session};
use crate::stats::SyslogStats;

/// Bytes of frames gathered before a write: bounds memory whatever the window holds.
const WRITE_CHUNK: usize = 256 * 1024;

/// How long the answer reader waits before its next read while the receiver still holds at
/// least half the window: it then has at least that much work queued, so a short wait idles
/// neither side, and the answers arriving meanwhile are read in one go.
///
/// Why: rsyslog answers each message with a write of its own and without TCP_NODELAY. When
/// the sender reads (and acknowledges, `TCP_QUICKACK`) each answer as it arrives, every one
/// becomes a TCP segment of its own that wakes the sender: measured ~27,000 reads, each with
/// an epoll wake-up, a `recvfrom` and a `setsockopt`, for 50,000 messages, and on the
/// receiver a full loopback transmit per answer on its single `imrelp` thread, which is what
/// limits RELP. Read once per pace instead, the receiver's Nagle gathers the answers written
/// meanwhile and sends them together when the next read acknowledges.
pub const READ_PACE: Duration = Duration::from_millis(1);

/// Permits a writer waits for once the window is full, as a fraction of the window: a
/// refill of several messages per write instead of one write per answer (the receiver
/// answers each message on its own), while the window stays at least 7/8 full.
const REFILL_DIVISOR: usize = 8;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What became of the records of one submission.
#[derive(Debug, Default)]
struct TicketState {
    /// Records neither acknowledged nor failed yet.
    open: usize,
    confirmed: Vec<usize>,
    failure: Option<String>,
    done: Option<oneshot::Sender<()>>,
}

/// The records of one submission (their indices in the batch), answered one by one.
#[derive(Debug)]
pub struct Ticket {
    state: Mutex<TicketState>,
}

/// Resolves when every record of a [`Ticket`] is answered or failed.
pub type TicketDone = oneshot::Receiver<()>;

impl Ticket {
    /// A ticket for `records` records, and what resolves when all are answered.
    pub fn new(records: usize) -> (Arc<Ticket>, TicketDone) {
        let (tx, rx) = oneshot::channel();
        let t = Ticket {
            state: Mutex::new(TicketState {
                open: records,
                confirmed: Vec::with_capacity(records),
                failure: None,
                done: Some(tx),
            }),
        };
        if records == 0 {
            let _ = lock(&t.state).done.take().map(|d| d.send(()));
        }
        (Arc::new(t), rx)
    }

    fn settle(&self, confirmed: Option<usize>, failed: usize, reason: Option<&str>) {
        let mut s = lock(&self.state);
        if let Some(i) = confirmed {
            s.confirmed.push(i);
            s.open = s.open.saturating_sub(1);
        }
        if failed > 0 {
            s.open = s.open.saturating_sub(failed);
            if s.failure.is_none() {
                s.failure = reason.map(str::to_owned);
            }
        }
        if s.open == 0
            && let Some(d) = s.done.take()
        {
            let _ = d.send(());
        }
    }

    /// Fails every record still open (nothing was sent: no connection).
    pub fn fail_all(&self, reason: &str) {
        let open = lock(&self.state).open;
        self.settle(None, open, Some(reason));
    }

    /// The acknowledged records, and why the others were not (None when all were).
    pub fn result(&self) -> (Vec<usize>, Option<String>) {
        let mut s = lock(&self.state);
        let failure = s.failure.take().or_else(|| {
            (s.open > 0).then(|| "the RELP session ended before every answer".to_owned())
        });
        (std::mem::take(&mut s.confirmed), failure)
    }
}

/// Messages written and not yet answered, oldest first.
#[derive(Debug, Default)]
struct Window {
    in_flight: VecDeque<(u32, Arc<Ticket>, usize)>,
    /// Why the session ended; set once.
    dead: Option<String>,
    /// Last time an answer arrived or the window went from empty to non-empty.
    progress: Option<Instant>,
}

#[derive(Debug)]
struct Shared {
    window: Mutex<Window>,
    /// `relp_window`: the most messages unacknowledged at once.
    window_size: usize,
    permits: Semaphore,
    stats: Arc<SyslogStats>,
}

impl Shared {
    /// Ends the session: every record in the window is reported unconfirmed to its ticket.
    fn end(&self, reason: String) {
        let (failed, reason) = {
            let mut w = lock(&self.window);
            if w.dead.is_some() {
                return;
            }
            w.dead = Some(reason.clone());
            (std::mem::take(&mut w.in_flight), reason)
        };
        self.permits.close();
        let n = failed.len() as u64;
        self.stats.resent(n);
        self.stats.relp_in_flight_moved(n, 0);
        for (_, ticket, _) in failed {
            ticket.settle(None, 1, Some(&reason));
        }
    }

    /// Acts on one frame from the receiver.
    fn answer(&self, f: Frame) -> Result<(), String> {
        if f.command == "serverclose" {
            return Err("the RELP receiver closed the session (serverclose)".into());
        }
        if f.command != "rsp" {
            return Err(format!(
                "unexpected RELP command from the receiver: {:?}",
                f.command
            ));
        }
        if !f.data.starts_with(b"200") {
            self.stats.relp_answer(false);
            return Err(format!(
                "the RELP receiver refused a message: {:?}",
                String::from_utf8_lossy(&f.data)
            ));
        }
        let found = {
            let mut w = lock(&self.window);
            // Answers come in order; a receiver may answer out of order, so search then.
            let pos = match w.in_flight.front() {
                Some((t, _, _)) if *t == f.txnr => Some(0),
                _ => w.in_flight.iter().position(|(t, _, _)| *t == f.txnr),
            };
            let found = pos.and_then(|p| w.in_flight.remove(p));
            if found.is_some() {
                w.progress = Some(Instant::now());
            }
            found
        };
        let Some((_, ticket, idx)) = found else {
            return Err(format!(
                "RELP answer for transaction {} which is not in flight",
                f.txnr
            ));
        };
        self.permits.add_permits(1);
        self.stats.relp_in_flight_moved(1, 0);
        self.stats.relp_answer(true);
        self.stats.sent(1);
        ticket.settle(Some(idx), 0, None);
        Ok(())
    }
}

/// Reads and acts on the receiver's answers until the session ends.
async fn read_answers(
    mut reader: ReadHalf<Stream>,
    quickack: QuickAck,
    mut buf: Vec<u8>,
    shared: Arc<Shared>,
    timeout: Duration,
) {
    let window = shared.window_size;
    let reason = loop {
        let mut parsed = 0;
        let mut answered = 0;
        loop {
            match relp::parse_frame(&buf[parsed..]) {
                Ok(Some((f, used))) => {
                    parsed += used;
                    answered += 1;
                    if let Err(e) = shared.answer(f) {
                        shared.end(e);
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    shared.end(e);
                    return;
                }
            }
        }
        buf.drain(..parsed);
        // Pace the reads while the receiver holds half the window or more, unless answers
        // already come faster than a quarter of the window per read (a fast receiver: then
        // waiting could let it run out of messages).
        if answered > 0
            && answered < window.div_ceil(4)
            && lock(&shared.window).in_flight.len() * 2 >= window
        {
            tokio::time::sleep(READ_PACE).await;
        }
        let mut chunk = [0u8; 16 * 1024];
        // Re-armed before each read: rsyslog writes its answers without TCP_NODELAY, and a
        // delayed ACK from us would hold its last answers back (see `Stream::quickack`).
        quickack.arm();
        // A quarter of the timeout per read, so a stall is noticed within 1.25 timeouts.
        match tokio::time::timeout(timeout / 4, reader.read(&mut chunk)).await {
            Ok(Ok(0)) => break "the RELP receiver closed the connection".to_owned(),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => break format!("RELP read failed: {e}"),
            Err(_) => {
                let w = lock(&shared.window);
                let stalled =
                    !w.in_flight.is_empty() && w.progress.is_some_and(|p| p.elapsed() >= timeout);
                if stalled {
                    break format!("no RELP answer within {timeout:?}: the receiver is stalled");
                }
            }
        }
    };
    shared.end(reason);
}

/// An open RELP session whose answers are read by a task of its own.
#[derive(Debug)]
pub struct Pipe {
    writer: WriteHalf<Stream>,
    /// Frames gathered for the next write, kept across submissions (a fresh 256 KiB buffer
    /// per submission cost page faults: ~3% of the sender's CPU, measured).
    out: Vec<u8>,
    next_txnr: u32,
    window: usize,
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
    timeout: Duration,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.reader.abort();
        self.shared
            .end("the RELP session was closed by the sender".into());
    }
}

impl Pipe {
    /// Takes over an opened session; at most `window` messages unacknowledged at once.
    pub fn start(
        session: Session,
        window: usize,
        stats: Arc<SyslogStats>,
        timeout: Duration,
    ) -> Pipe {
        let (stream, next_txnr, buf) = session.into_parts();
        let quickack = stream.quickack_handle();
        let (reader, writer) = tokio::io::split(stream);
        let window = window.max(1);
        let shared = Arc::new(Shared {
            window: Mutex::new(Window::default()),
            window_size: window,
            permits: Semaphore::new(window),
            stats,
        });
        let reader = tokio::spawn(read_answers(reader, quickack, buf, shared.clone(), timeout));
        Pipe {
            writer,
            out: Vec::new(),
            next_txnr,
            window,
            shared,
            reader,
            timeout,
        }
    }

    /// False once the session has ended (an error, the receiver closed it).
    pub fn is_open(&self) -> bool {
        lock(&self.shared.window).dead.is_none()
    }

    /// Messages written and not yet answered (tests).
    pub fn in_flight(&self) -> usize {
        lock(&self.shared.window).in_flight.len()
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let io = async {
            self.writer.write_all(bytes).await?;
            self.writer.flush().await
        };
        match tokio::time::timeout(self.timeout, io).await {
            Ok(Ok(())) => {
                self.shared.stats.wrote(bytes.len() as u64);
                Ok(())
            }
            Ok(Err(e)) => Err(format!("RELP write failed: {e}")),
            Err(_) => Err(format!(
                "RELP write stalled for {:?}: the receiver stopped reading",
                self.timeout
            )),
        }
    }

    /// Takes `want` permits (at least one), waiting at most the timeout.
    async fn permits(&self, want: usize) -> Result<usize, String> {
        let available = self.shared.permits.available_permits();
        let refill = (self.window / REFILL_DIVISOR).clamp(1, want);
        let take = if available >= refill {
            available.min(want)
        } else {
            refill
        };
        let n = u32::try_from(take).unwrap_or(u32::MAX);
        match tokio::time::timeout(self.timeout, self.shared.permits.acquire_many(n)).await {
            Ok(Ok(p)) => {
                p.forget();
                Ok(take)
            }
            Ok(Err(_closed)) => Err(self.death()),
            Err(_) => Err(format!(
                "no RELP answer within {:?}: the receiver is stalled",
                self.timeout
            )),
        }
    }

    fn death(&self) -> String {
        lock(&self.shared.window)
            .dead
            .clone()
            .unwrap_or_else(|| "the RELP session ended".into())
    }

    /// Writes the records `indices` of `batch` into the window, each answered to `ticket`;
    /// returns once all are written (the answers come later). On an error the session ends
    /// and every record of `indices` not confirmed is reported to `ticket` as failed.
    pub async fn submit(
        &mut self,
        batch: &EncodedBatch,
        indices: &[usize],
        ticket: &Arc<Ticket>,
    ) -> Result<(), String> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        out.reserve(WRITE_CHUNK.min(batch.data.len() + 32 * indices.len()));
        let result = self.submit_through(&mut out, batch, indices, ticket).await;
        self.out = out;
        result
    }

    /// [`Pipe::submit`], gathering frames in `out`.
    async fn submit_through(
        &mut self,
        out: &mut Vec<u8>,
        batch: &EncodedBatch,
        indices: &[usize],
        ticket: &Arc<Ticket>,
    ) -> Result<(), String> {
        let mut next = 0;
        let mut credit = 0usize;
        let failed = |this: &Self, reason: String, registered: usize| {
            this.shared.end(reason.clone());
            // Those registered were failed by `end`; the rest never went out.
            ticket.settle(None, indices.len() - registered, Some(&reason));
            reason
        };
        while next < indices.len() {
            if credit == 0 {
                // Nothing may wait for answers to messages still in `out`.
                let refill = (self.window / REFILL_DIVISOR).clamp(1, indices.len() - next);
                if self.shared.permits.available_permits() < refill && !out.is_empty() {
                    let r = self.write(out).await;
                    out.clear();
                    if let Err(e) = r {
                        return Err(failed(self, e, next));
                    }
                }
                match self.permits(indices.len() - next).await {
                    Ok(n) => credit = n,
                    Err(e) => return Err(failed(self, e, next)),
                }
            }
            let idx = indices[next];
            let txnr = self.next_txnr;
            self.next_txnr = relp::following(txnr);
            relp::push_frame(out, txnr, "syslog", batch.record(idx).unwrap_or_default());
            {
                let mut w = lock(&self.shared.window);
                if let Some(reason) = w.dead.clone() {
                    drop(w);
                    // The permit came before the end; nothing of this record went out.
                    return Err(failed(self, reason, next));
                }
                if w.in_flight.is_empty() {
                    w.progress = Some(Instant::now());
                }
                w.in_flight.push_back((txnr, ticket.clone(), idx));
            }
            self.shared.stats.relp_in_flight_moved(0, 1);
            next += 1;
            credit -= 1;
            if out.len() >= WRITE_CHUNK {
                let r = self.write(out).await;
                out.clear();
                if let Err(e) = r {
                    return Err(failed(self, e, next));
                }
            }
        }
        // Permits taken ahead and not used go back.
        self.shared.permits.add_permits(credit);
        if !out.is_empty()
            && let Err(e) = self.write(out).await
        {
            return Err(failed(self, e, next));
        }
        Ok(())
    }
}
