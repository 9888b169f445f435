//! How an event is classed: its level (severity), its category (what area
//! of the runtime it concerns) and, for agent output, which kind of output it
//! is. Each is a closed enum with the serde names the API shows.

use serde::Serialize;

/// Severity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Chatty detail (tokens, routed messages).
    Debug,
    /// Normal lifecycle.
    Info,
    /// Something went wrong but was handled (a restart, a denied message).
    Warning,
    /// A failure (a task failed, a swarm gave up).
    Error,
}

impl Level {
    /// Every level, for error messages.
    pub const ALL: [Level; 4] = [Self::Debug, Self::Info, Self::Warning, Self::Error];
    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// What part of the runtime an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Swarm lifecycle.
    Swarm,
    /// Agent lifecycle and output.
    Agent,
    /// Object lifecycle.
    Object,
    /// Messages and topology.
    Routing,
    /// Backend processes and their logs.
    Backend,
    /// Pool workers.
    Worker,
    /// Tasks.
    Task,
    /// The runtime itself.
    System,
}

impl Category {
    /// Every category, for error messages.
    pub const ALL: [Category; 8] =
        [Self::Swarm, Self::Agent, Self::Object, Self::Routing, Self::Backend, Self::Worker, Self::Task, Self::System];
    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Swarm => "swarm",
            Self::Agent => "agent",
            Self::Object => "object",
            Self::Routing => "routing",
            Self::Backend => "backend",
            Self::Worker => "worker",
            Self::Task => "task",
            Self::System => "system",
        }
    }
}

/// Which part of a task's output an `agent_output` event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// A streamed partial token.
    Token,
    /// The final result of a task.
    Result,
    /// A line of output that was not protocol JSON.
    Raw,
}
