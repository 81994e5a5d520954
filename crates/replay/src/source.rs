//! [`ReplaySource`]: the pipeline's source during a replay. Each file is a partition (topic =
//! the file's name, partition 0) whose offsets are byte offsets; a commit becomes the state
//! file. It never talks to a hub, a consumer group or a checkpoint store.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use entrastream_model::{Checkpoint, PartitionId, Position, SourceMessage};
use entrastream_source::{Source, SourceError, SourceEvent};
use tokio::sync::mpsc;

use crate::reader::Tracking;
use crate::state::ReplayState;

/// Messages from the reader thread; commits to the state file.
#[derive(Debug)]
pub struct ReplaySource {
    rx: mpsc::Receiver<SourceMessage>,
    announced: bool,
    tracking: Arc<Mutex<Tracking>>,
    state: ReplayState,
    /// `None`: progress is not persisted (dry runs, tests).
    state_path: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    files: usize,
}

impl ReplaySource {
    pub(crate) fn new(
        rx: mpsc::Receiver<SourceMessage>,
        tracking: Arc<Mutex<Tracking>>,
        state: ReplayState,
        state_path: Option<PathBuf>,
        stop: Arc<AtomicBool>,
        files: usize,
    ) -> Self {
        ReplaySource {
            rx,
            announced: false,
            tracking,
            state,
            state_path,
            stop,
            files,
        }
    }

    /// The state as last committed.
    pub fn state(&self) -> &ReplayState {
        &self.state
    }

    /// Applies a committed checkpoint to the state; true when something moved.
    fn apply(&mut self, checkpoint: &Checkpoint) -> bool {
        let Ok(mut t) = self.tracking.lock() else {
            return false;
        };
        let mut moved = false;
        for (p, pos) in checkpoint.iter() {
            let Position::Offset(o) = *pos else { continue };
            let name = &p.topic;
            let Some(ends) = t.ends.get_mut(name) else {
                continue;
            };
            // Every message at or below the watermark is done: the furthest end among them.
            let Some(end) = ends.range(..=o).map(|(_, e)| *e).max() else {
                continue;
            };
            let keep = ends.split_off(&(o + 1));
            *ends = keep;
            let done = t.eof.get(name) == Some(&end);
            let entry = self.state.files.entry(name.clone()).or_default();
            if end > entry.offset || done && !entry.done {
                entry.offset = entry.offset.max(end);
                entry.done |= done;
                moved = true;
            }
            if done {
                t.ends.remove(name);
            }
        }
        moved
    }
}

#[async_trait]
impl Source for ReplaySource {
    async fn next_event(&mut self) -> Result<SourceEvent, SourceError> {
        if !self.announced {
            // Partitions (files) are registered as their first message arrives.
            self.announced = true;
            return Ok(SourceEvent::Assigned(Vec::new()));
        }
        match self.rx.recv().await {
            Some(m) => Ok(SourceEvent::Message(m)),
            None => Ok(SourceEvent::Eof),
        }
    }

    async fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), SourceError> {
        if !self.apply(checkpoint) {
            return Ok(());
        }
        if let Some(path) = &self.state_path {
            // Off the async threads: a rename and two fsyncs.
            let (state, path) = (self.state.clone(), path.clone());
            tokio::task::spawn_blocking(move || state.save(&path))
                .await
                .map_err(|e| SourceError::Commit(format!("state writer failed: {e}")))?
                .map_err(|e| SourceError::Commit(e.to_string()))?;
        }
        Ok(())
    }

    fn pause(&mut self, _: &[PartitionId]) -> Result<(), SourceError> {
        // The reader blocks on the bounded channel while the pipeline takes nothing.
        Ok(())
    }

    fn resume(&mut self, _: &[PartitionId]) -> Result<(), SourceError> {
        Ok(())
    }

    async fn close(&mut self) -> Result<(), SourceError> {
        self.stop.store(true, Ordering::Relaxed);
        self.rx.close();
        Ok(())
    }

    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "kind": "replay", "files": self.files })
    }
}
