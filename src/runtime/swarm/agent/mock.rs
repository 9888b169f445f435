//! The `mock` backend: an in-process agent for tests, demos and benchmarks.
//! It echoes each task (or answers `reply`), optionally after `delay_ms`,
//! fails every `fail_every`-th task, panics on `panic_on`, and with `relay`
//! forwards every message it receives to its out-edges.

use std::sync::Arc;
use std::time::Duration;

use super::backend::Outcome;
use crate::config::{AgentSpec, BackendSpec, MockSpec};
use crate::runtime::swarm::mailbox::{Message, Task};
use crate::task::{FailCode, TaskEnd};

/// A mock backend's settings and task counter.
pub(crate) struct MockBackend {
    spec: MockSpec,
    tasks: u64,
}

impl MockBackend {
    /// The backend for an agent (non-mock specs get the default echo).
    pub(crate) fn new(spec: &AgentSpec) -> Self {
        let spec = match &spec.backend {
            BackendSpec::Mock(m) => m.clone(),
            _ => MockSpec::default(),
        };
        Self { spec, tasks: 0 }
    }

    /// Unwinds (the actor's handler catches it as a crash) when told to.
    /// `resume_unwind` skips the panic hook: a crash the test asked for
    /// prints no panic message and captures no backtrace, whatever
    /// `RUST_BACKTRACE` says (tests used to set it, for the whole process).
    fn check_panic(&self, content: &str) {
        if self.spec.panic_on.as_deref() == Some(content) {
            std::panic::resume_unwind(Box::new(format!("mock agent told to panic on {content:?}")));
        }
    }

    /// Starts a task: answers now, or after the delay.
    pub(crate) fn start(&mut self, task: &Task) -> Outcome {
        self.check_panic(&task.content);
        if self.spec.delay_ms > 0 {
            return Outcome::After(Duration::from_millis(self.spec.delay_ms));
        }
        Outcome::Ended(self.finish(task))
    }

    /// Produces the end of a task.
    pub(crate) fn finish(&mut self, task: &Task) -> TaskEnd {
        self.tasks += 1;
        let every = u64::from(self.spec.fail_every);
        if every > 0 && self.tasks.is_multiple_of(every) {
            return TaskEnd::failed(FailCode::MockFailure, format!("mock agent fails every task number {every}"));
        }
        TaskEnd::Completed { content: self.spec.reply.clone().unwrap_or_else(|| task.content.clone()) }
    }

    /// Handles a routed message; returns content to broadcast, if relaying.
    pub(crate) fn on_message(&mut self, m: &Message) -> Option<Arc<str>> {
        self.check_panic(&m.content);
        (self.spec.relay && !m.reply).then(|| m.content.clone())
    }
}
