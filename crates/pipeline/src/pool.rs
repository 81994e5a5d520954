//! The parse pool: parse + encode of messages on a fixed set of OS threads, results handed back
//! to the pipeline task in the order the source delivered the messages.
//!
//! Why a global sequence with ordered reassembly (rather than partitions pinned to threads):
//! every message gets the next sequence number as the pipeline task takes it from the source;
//! any idle thread parses it; the pipeline task appends results to the open batch strictly in
//! sequence order ([`Reorder`]). So each sink receives exactly the record order the
//! single-task pipeline produced (per partition *and* across partitions), batches are cut the
//! same way, and the acknowledgement and commit logic sees the same batches: nothing of the
//! delivery contract depends on the pool. Pinning partitions to threads would also keep
//! per-partition order, but would cap a hot partition at one core (Event Hubs traffic is
//! often skewed, and a pod may own fewer partitions than it has cores), and would need
//! re-pinning on every rebalance. The cost of the global order is head-of-line waiting: a
//! large message delays the *appending* (not the parsing) of the messages after it, which the
//! bounded window ([`ParsePool::has_room`]) keeps to a few messages.
//!
//! Why OS threads and not the async runtime's blocking pool: parse + encode is pure CPU work
//! of up to a 1 MB message (milliseconds), which must not hold an async worker (the sink and
//! source tasks share them), and the thread count must follow the CPU quota
//! ([`crate::cpus`]), not tokio's blocking-pool ceiling of 512.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use entrastream_model::SourceMessage;
use tokio::sync::mpsc;

use crate::batch::{ParseShared, ParsedMessage, parse_message};

/// What a parse thread reports for one message.
pub(crate) enum Parsed {
    Done(ParsedMessage),
    /// The parser or an encoder panicked on this message; the pipeline task re-raises it, as it
    /// did when it parsed on its own.
    Panicked(Box<dyn Any + Send>),
}

/// Values numbered 0, 1, 2… that arrive in any order, released strictly in number order.
#[derive(Debug)]
pub(crate) struct Reorder<T> {
    next: u64,
    waiting: BTreeMap<u64, T>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            next: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<T> Reorder<T> {
    pub fn insert(&mut self, seq: u64, value: T) {
        self.waiting.insert(seq, value);
    }

    /// The next value in number order, if it has arrived.
    pub fn pop(&mut self) -> Option<T> {
        let v = self.waiting.remove(&self.next)?;
        self.next += 1;
        Some(v)
    }

    /// The number of the next value to release.
    pub fn next(&self) -> u64 {
        self.next
    }
}

type Job = (u64, SourceMessage);

/// The pool and the reassembly of its results (owned by the pipeline task).
pub(crate) struct ParsePool {
    /// The threads end when this is dropped (with the pool) and the queue is empty.
    jobs: std_mpsc::Sender<Job>,
    /// Results, in completion order.
    pub results: mpsc::UnboundedReceiver<(u64, Parsed)>,
    reorder: Reorder<Parsed>,
    next_seq: u64,
    threads: usize,
    window: usize,
    shared: Arc<ParseShared>,
}

impl ParsePool {
    /// Starts `threads` parse threads. Fails only if not even one thread can be spawned.
    pub fn start(threads: usize, shared: Arc<ParseShared>) -> std::io::Result<ParsePool> {
        let (job_tx, job_rx) = std_mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (result_tx, results) = mpsc::unbounded_channel();
        let mut started = 0;
        let mut first_error = None;
        for i in 0..threads.max(1) {
            let rx = job_rx.clone();
            let tx = result_tx.clone();
            let shared = shared.clone();
            match std::thread::Builder::new()
                .name(format!("parse-{i}"))
                .spawn(move || parse_thread(&rx, &tx, &shared))
            {
                Ok(_) => started += 1,
                Err(e) => {
                    tracing::warn!(error = %e, thread = i, "parse thread could not be started");
                    first_error.get_or_insert(e);
                }
            }
        }
        if started == 0 {
            return Err(first_error.unwrap_or_else(|| std::io::Error::other("no thread")));
        }
        Ok(ParsePool {
            jobs: job_tx,
            results,
            reorder: Reorder::default(),
            next_seq: 0,
            threads: started,
            // Enough queued that no thread waits for the pipeline task, few enough that the
            // encodings held for reassembly stay a handful of messages.
            window: 2 * started + 2,
            shared,
        })
    }

    /// Parse threads running.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Messages handed to the pool and not yet taken back in order.
    pub fn outstanding(&self) -> usize {
        usize::try_from(self.next_seq - self.reorder.next()).unwrap_or(usize::MAX)
    }

    pub fn is_idle(&self) -> bool {
        self.outstanding() == 0
    }

    /// Whether another message may be submitted (the reassembly window is not full).
    pub fn has_room(&self) -> bool {
        self.outstanding() < self.window
    }

    /// Hands one message to the pool.
    pub fn submit(&mut self, m: SourceMessage) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Err(std_mpsc::SendError(job)) = self.jobs.send((seq, m)) else {
            return;
        };
        // Unreachable (the threads outlive the sender and catch panics), but never lose a
        // message: parse it here rather than leave a gap the reassembly would wait on forever.
        let parsed = parse_message(&job.1, &self.shared);
        self.reorder.insert(job.0, Parsed::Done(parsed));
    }

    /// Takes one result (in any order) for reassembly.
    pub fn accept(&mut self, seq: u64, parsed: Parsed) {
        self.reorder.insert(seq, parsed);
    }

    /// The next result in submission order, when it is there.
    pub fn next_in_order(&mut self) -> Option<Parsed> {
        self.reorder.pop()
    }
}

fn parse_thread(
    jobs: &Mutex<std_mpsc::Receiver<Job>>,
    results: &mpsc::UnboundedSender<(u64, Parsed)>,
    shared: &ParseShared,
) {
    loop {
        // The lock is held while waiting: the idle threads queue on the mutex instead of on
        // the channel, which is the same.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok((seq, m)) = job else {
            return; // the pipeline is gone
        };
        let parsed = match catch_unwind(AssertUnwindSafe(|| parse_message(&m, shared))) {
            Ok(p) => Parsed::Done(p),
            Err(panic) => Parsed::Panicked(panic),
        };
        if results.send((seq, parsed)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Reorder;

    #[test]
    fn reorder_releases_in_number_order_whatever_the_arrival_order() {
        let mut r = Reorder::default();
        r.insert(2, "c");
        assert_eq!(r.pop(), None, "0 has not arrived");
        r.insert(1, "b");
        assert_eq!(r.pop(), None, "0 has not arrived");
        r.insert(0, "a");
        assert_eq!(r.pop(), Some("a"));
        assert_eq!(r.pop(), Some("b"));
        assert_eq!(r.pop(), Some("c"));
        assert_eq!(r.pop(), None);
        r.insert(3, "d");
        assert_eq!(r.pop(), Some("d"));
        assert_eq!(r.next(), 4);
    }
}
