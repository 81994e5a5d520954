//! Supervision of the sink and dead-letter worker tasks: which sink each task serves, so that
//! a task that panics or ends early is reported by name (`PipelineError::SinkWorker`).

use std::collections::HashMap;

/// Which sink a worker task serves.
#[derive(Debug)]
pub(crate) enum WorkerName {
    Sink(String),
    DeadLetter(String),
}

impl WorkerName {
    pub(crate) fn name(&self) -> &str {
        match self {
            WorkerName::Sink(n) | WorkerName::DeadLetter(n) => n,
        }
    }
}

/// The worker tasks and, per task id, the sink each serves (a panic reports only the id).
#[derive(Debug, Default)]
pub(crate) struct Workers {
    pub(crate) set: tokio::task::JoinSet<()>,
    pub(crate) names: HashMap<tokio::task::Id, WorkerName>,
}

impl Workers {
    fn spawn_named<F>(&mut self, name: WorkerName, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    pub(crate) fn spawn<F>(&mut self, sink: String, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.spawn_named(WorkerName::Sink(sink), task);
    }

    pub(crate) fn spawn_dead_letter<F>(&mut self, sink: String, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.spawn_named(WorkerName::DeadLetter(sink), task);
    }

    pub(crate) fn dead_letter_name(&self) -> String {
        self.names
            .values()
            .find_map(|n| match n {
                WorkerName::DeadLetter(n) => Some(n.clone()),
                WorkerName::Sink(_) => None,
            })
            .unwrap_or_else(|| "dead_letter".to_string())
    }
}

/// The message of a panic payload (`panic!` carries a `&str` or a `String`).
pub(crate) fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-text panic payload".to_string()
    }
}
