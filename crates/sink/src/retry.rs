//! Jittered, capped exponential backoff for sinks that keep failing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Backoff between attempts: `initial * 2^attempt`, capped at `max`, with "equal jitter" (half
/// fixed, half random) so that many sinks recovering together do not retry in lockstep. Attempts
/// are unlimited: the pipeline never drops a batch because a peer stayed down; it keeps the
/// partitions paused instead (see the pipeline's delivery contract).
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    rng: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

impl RetryPolicy {
    /// A policy with these bounds.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        RetryPolicy {
            initial,
            max: max.max(initial),
            rng: seed | 1,
        }
    }

    /// The delay before retry number `attempt` (0 = first retry).
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let exp = self
            .initial
            .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max);
        let half = exp / 2;
        // xorshift64*: plenty for jitter, no dependency.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let frac = (r >> 11) as f64 / (1u64 << 53) as f64;
        half + half.mul_f64(frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter() {
        let mut p = RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 0..40 {
            let d = p.delay(attempt);
            let cap =
                Duration::from_millis(100 * (1u64 << attempt.min(20))).min(Duration::from_secs(2));
            assert!(d <= cap, "attempt {attempt}: {d:?} > {cap:?}");
            assert!(d >= cap / 2, "attempt {attempt}: {d:?} < half of {cap:?}");
        }
    }
}
