//! Indexer acknowledgement: waits for the ackIds of sent requests, polling
//! `/services/collector/ack`, until each is indexed or its ack timeout passes.

use std::time::{Duration, Instant};

use crate::service::HecService;

/// One request waiting for its ack.
#[derive(Debug, Clone)]
pub struct PendingAck<T> {
    /// The ackId Splunk returned.
    pub ack_id: u64,
    /// When the request was answered.
    pub sent_at: Instant,
    /// What the caller attached (the request's chunk).
    pub item: T,
}

/// The result of waiting.
#[derive(Debug)]
pub struct AckResult<T> {
    /// Indexed.
    pub acked: Vec<T>,
    /// Not indexed within the ack timeout: to be resent (may duplicate).
    pub timed_out: Vec<T>,
    /// The last poll error, if any.
    pub last_error: Option<String>,
}

/// Polls until every pending ack is true or timed out. The first poll is immediate (most acks
/// are ready by then on a healthy indexer), later ones every `interval`.
pub async fn wait_for_acks<T>(
    service: &HecService,
    mut pending: Vec<PendingAck<T>>,
    timeout: Duration,
    interval: Duration,
) -> AckResult<T> {
    let mut acked = Vec::new();
    let mut timed_out = Vec::new();
    let mut last_error = None;
    let mut first = true;
    while !pending.is_empty() {
        if !first {
            tokio::time::sleep(interval).await;
        }
        first = false;
        let ids: Vec<u64> = pending.iter().map(|p| p.ack_id).collect();
        match service.poll_acks(&ids).await {
            Ok(status) => {
                let mut rest = Vec::with_capacity(pending.len());
                for p in pending {
                    if status.get(&p.ack_id).copied().unwrap_or(false) {
                        acked.push(p.item);
                    } else {
                        rest.push(p);
                    }
                }
                pending = rest;
            }
            Err(e) => last_error = Some(e),
        }
        let now = Instant::now();
        let (late, rest): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|p| now.duration_since(p.sent_at) >= timeout);
        timed_out.extend(late.into_iter().map(|p| p.item));
        pending = rest;
    }
    AckResult {
        acked,
        timed_out,
        last_error,
    }
}
