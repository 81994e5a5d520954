//! The contiguous-watermark rule of the drain: batches are numbered in buffer order as they
//! are read; they may finish in any order (several in flight, a slow dead-letter write, a
//! retried middle batch), but the acknowledged position only moves past a batch once it and
//! every batch before it are finished. Anything else would let a crash skip a batch that was
//! still in flight: a gap, not a duplicate.

use std::collections::BTreeMap;

/// Finished batches not yet contiguous with the watermark, and the number of the next batch
/// the watermark waits for.
#[derive(Debug)]
pub(crate) struct Watermark<P> {
    next: u64,
    finished: BTreeMap<u64, P>,
}

impl<P> Watermark<P> {
    /// A watermark waiting for batch `first`.
    pub(crate) fn new(first: u64) -> Self {
        Watermark {
            next: first,
            finished: BTreeMap::new(),
        }
    }

    /// Batch `id` is finished; its end is `end`. Returns the new position when the watermark
    /// moved (the end of the last batch of the contiguous run that `id` completed), `None`
    /// while an earlier batch is still out. A batch reported twice, or one already behind the
    /// watermark, changes nothing.
    pub(crate) fn finish(&mut self, id: u64, end: P) -> Option<P> {
        if id < self.next {
            return None;
        }
        self.finished.insert(id, end);
        let mut moved = None;
        while let Some(end) = self.finished.remove(&self.next) {
            moved = Some(end);
            self.next += 1;
        }
        moved
    }

    /// The first batch not finished yet.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Finished batches waiting behind an unfinished one.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.finished.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_batches_move_it_one_by_one() {
        let mut w = Watermark::new(0);
        assert_eq!(w.finish(0, "a"), Some("a"));
        assert_eq!(w.finish(1, "b"), Some("b"));
        assert_eq!(w.waiting(), 0);
    }

    #[test]
    fn out_of_order_batches_wait_for_the_earlier_ones() {
        let mut w = Watermark::new(10);
        assert_eq!(w.finish(12, 120), None, "10 and 11 are still out");
        assert_eq!(w.finish(11, 110), None, "10 is still out");
        assert_eq!(w.waiting(), 2);
        assert_eq!(
            w.finish(10, 100),
            Some(120),
            "10 completes the run up to 12"
        );
        assert_eq!(w.waiting(), 0);
        assert_eq!(w.finish(13, 130), Some(130));
    }

    #[test]
    fn a_middle_batch_that_is_late_holds_everything_after_it() {
        let mut w = Watermark::new(0);
        assert_eq!(w.finish(0, 0), Some(0));
        // Batch 1 fails and is retried while 2..=5 finish.
        for id in 2..=5 {
            assert_eq!(w.finish(id, id), None);
        }
        assert_eq!(w.finish(1, 1), Some(5));
    }

    #[test]
    fn repeats_and_old_batches_change_nothing() {
        let mut w = Watermark::new(0);
        assert_eq!(w.finish(0, 0), Some(0));
        assert_eq!(w.finish(0, 0), None);
        assert_eq!(w.finish(2, 2), None);
        assert_eq!(w.finish(2, 2), None);
        assert_eq!(w.waiting(), 1);
        assert_eq!(w.finish(1, 1), Some(2));
    }
}
