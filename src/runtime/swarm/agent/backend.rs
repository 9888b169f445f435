//! What an agent's backends (mock, stdio, zmq) answer, and the typed channel
//! through which a backend reports an end that comes later. Backends know
//! this file, not the agent actor: the agent hands each backend an
//! [`EndTx`] that turns a report into its own message.

use std::sync::Arc;
use std::time::Duration;

use crate::task::TaskEnd;

/// How a backend answered a task it was handed.
pub(crate) enum Outcome {
    /// Ended now.
    Ended(TaskEnd),
    /// Ends after this delay (a mock agent's `delay_ms`): the agent asks
    /// the backend again then.
    After(Duration),
    /// Still running; the backend reports the end later (an [`EndTx`], or
    /// the child's answer).
    Pending,
}

/// Where a backend reports the end of a task that was [`Outcome::Pending`].
#[derive(Clone)]
pub(crate) struct EndTx(Arc<dyn Fn(Arc<str>, TaskEnd) + Send + Sync>);

impl EndTx {
    /// A channel that calls `f` with each report.
    pub(crate) fn new(f: impl Fn(Arc<str>, TaskEnd) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Reports that task `id` ended.
    pub(crate) fn send(&self, id: Arc<str>, end: TaskEnd) {
        (self.0)(id, end)
    }
}
