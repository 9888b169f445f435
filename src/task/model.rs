//! The words of a task's lifecycle: its status, how it ended, and why it
//! failed. Each is a closed enum with the serde names the API and the store
//! have always used (`queued`, `in_progress`, `ok`, `error`, `cancelled`);
//! a failure code that a child or a worker reports is kept as its own
//! bounded variant, so nothing downstream compares or splits strings.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a task is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TaskStatus {
    /// Waiting for its agent or for a worker.
    #[serde(rename = "queued")]
    Queued,
    /// Started and not ended.
    #[serde(rename = "in_progress")]
    Running,
    /// Ended with a result.
    #[serde(rename = "ok")]
    Completed,
    /// Ended with an error code and message.
    #[serde(rename = "error")]
    Failed,
    /// Ended by a cancel.
    #[serde(rename = "cancelled")]
    Cancelled,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 5] = [Self::Queued, Self::Running, Self::Completed, Self::Failed, Self::Cancelled];

    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "in_progress",
            Self::Completed => "ok",
            Self::Failed => "error",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status of an API name (`None` for an unknown one).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the task has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest failure code kept from a child or a worker (longer ones are cut).
pub const MAX_CODE_BYTES: usize = 64;

/// Why a task failed. Hive's own codes are closed; a code that a child or
/// a worker sends is kept as [`FailCode::Reported`] (at most
/// [`MAX_CODE_BYTES`]), unless it names one of Hive's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailCode {
    /// The agent's process died while running the task.
    AgentCrashed,
    /// The agent was stopped (or exited without restart) before the task ended.
    AgentStopped,
    /// The agent was removed before running the task.
    AgentRemoved,
    /// The agent no longer reads its stdin.
    AgentUnreachable,
    /// The agent reported an error without a code.
    AgentError,
    /// The swarm stopped before the task ran.
    SwarmStopped,
    /// The swarm failed before the task ran.
    SwarmFailed,
    /// The task did not end within its timeout.
    Timeout,
    /// Its workers kept disappearing (`max_attempts` reached).
    WorkerLost,
    /// A worker reported an error without a code.
    WorkerError,
    /// The runtime stopped while the task ran (it is not run twice).
    RuntimeRestarted,
    /// It was queued when the runtime stopped and could not be queued again.
    NotRestored,
    /// It could not be queued (a full inbox).
    Rejected,
    /// A mock agent's planned failure.
    MockFailure,
    /// The dispatcher refused it.
    DispatchRefused,
    /// The dispatcher was not there to take it.
    GatewayUnavailable,
    /// A code a child or a worker sent (bounded).
    Reported(Arc<str>),
}

impl FailCode {
    const OWN: [FailCode; 16] = [
        Self::AgentCrashed,
        Self::AgentStopped,
        Self::AgentRemoved,
        Self::AgentUnreachable,
        Self::AgentError,
        Self::SwarmStopped,
        Self::SwarmFailed,
        Self::Timeout,
        Self::WorkerLost,
        Self::WorkerError,
        Self::RuntimeRestarted,
        Self::NotRestored,
        Self::Rejected,
        Self::MockFailure,
        Self::DispatchRefused,
        Self::GatewayUnavailable,
    ];

    /// The code's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::AgentCrashed => "agent_crashed",
            Self::AgentStopped => "agent_stopped",
            Self::AgentRemoved => "agent_removed",
            Self::AgentUnreachable => "agent_unreachable",
            Self::AgentError => "agent_error",
            Self::SwarmStopped => "swarm_stopped",
            Self::SwarmFailed => "swarm_failed",
            Self::Timeout => "timeout",
            Self::WorkerLost => "worker_lost",
            Self::WorkerError => "worker_error",
            Self::RuntimeRestarted => "runtime_restarted",
            Self::NotRestored => "not_restored",
            Self::Rejected => "rejected",
            Self::MockFailure => "mock_failure",
            Self::DispatchRefused => "dispatch_refused",
            Self::GatewayUnavailable => "gateway_unavailable",
            Self::Reported(c) => c,
        }
    }

    /// A code as a child or a worker sent it: one of Hive's own when it
    /// names one, else kept (cut to [`MAX_CODE_BYTES`] at a char boundary).
    pub fn reported(code: &str) -> Self {
        if let Some(own) = Self::OWN.iter().find(|c| c.as_str() == code) {
            return own.clone();
        }
        let mut end = code.len().min(MAX_CODE_BYTES);
        while !code.is_char_boundary(end) {
            end -= 1;
        }
        Self::Reported(code[..end].into())
    }
}

impl fmt::Display for FailCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FailCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::reported(&s))
    }
}

impl utoipa::PartialSchema for FailCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Hive's own codes (agent_crashed, agent_stopped, agent_removed, agent_unreachable, agent_error, \
                 swarm_stopped, swarm_failed, timeout, worker_lost, worker_error, runtime_restarted, not_restored, \
                 rejected, mock_failure, dispatch_refused, gateway_unavailable) or the code a child or worker sent \
                 (at most 64 bytes)",
            ))
            .max_length(Some(MAX_CODE_BYTES))
            .into()
    }
}

impl utoipa::ToSchema for FailCode {}

/// How a task ended: exactly one of these, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TaskEnd {
    /// Completed with this content.
    Completed {
        /// The result.
        content: String,
    },
    /// Failed with a code and a message.
    Failed {
        /// Why.
        code: FailCode,
        /// What happened, for people.
        message: String,
    },
    /// Cancelled.
    Cancelled,
}

impl TaskEnd {
    /// A failure.
    pub fn failed(code: FailCode, message: impl Into<String>) -> Self {
        Self::Failed { code, message: message.into() }
    }

    /// The status it leaves the task in.
    pub fn status(&self) -> TaskStatus {
        match self {
            Self::Completed { .. } => TaskStatus::Completed,
            Self::Failed { .. } => TaskStatus::Failed,
            Self::Cancelled => TaskStatus::Cancelled,
        }
    }

    /// The events that report this end of task `task_id`, in order: the
    /// result's output (when it completed), then `task_completed`,
    /// `task_failed` or `task_cancelled`.
    pub fn events(&self, task_id: &std::sync::Arc<str>) -> impl Iterator<Item = crate::events::EventKind> + use<> {
        use crate::events::{EventKind, OutputKind};
        let task_id = task_id.clone();
        let (output, end) = match self {
            Self::Completed { content } => (
                Some(EventKind::AgentOutput {
                    task_id: Some(task_id.clone()),
                    output: OutputKind::Result,
                    content: content.clone(),
                }),
                EventKind::TaskCompleted { task_id },
            ),
            Self::Failed { code, message } => {
                (None, EventKind::TaskFailed { task_id, code: code.as_str().into(), message: message.clone() })
            }
            Self::Cancelled => (None, EventKind::TaskCancelled { task_id }),
        };
        output.into_iter().chain(std::iter::once(end))
    }

    /// The result, the error message, or `cancelled`: the one text the
    /// Sol-style answers carry as `content`.
    pub fn content(&self) -> &str {
        match self {
            Self::Completed { content } => content,
            Self::Failed { message, .. } => message,
            Self::Cancelled => "cancelled",
        }
    }
}

/// What a follower of a task hears, in order: tokens (or how many it
/// missed), then the end, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskUpdate {
    /// Partial output.
    Token(String),
    /// This many tokens were not delivered: the follower fell behind.
    Missed(u64),
    /// The end.
    Done(TaskEnd),
}

/// Which transport runs a task (and so who can cancel it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// A swarm's agent.
    Agent,
    /// A standalone JSONL worker.
    Worker,
    /// The dispatcher (ZeroMQ and JSONL pool workers).
    Dispatch,
}

impl Transport {
    /// Every transport.
    pub const ALL: [Transport; 3] = [Self::Agent, Self::Worker, Self::Dispatch];

    /// Its wire name (as serialized): `agent`, `worker` or `dispatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Worker => "worker",
            Self::Dispatch => "dispatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_their_wire_names() {
        for s in TaskStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(TaskStatus::parse("running"), None);
    }

    #[test]
    fn reported_codes_are_hives_own_when_they_name_one_and_bounded_otherwise() {
        assert_eq!(FailCode::reported("timeout"), FailCode::Timeout);
        assert_eq!(FailCode::reported("rate_limited").as_str(), "rate_limited");
        let long = "é".repeat(100);
        let cut = FailCode::reported(&long);
        assert!(cut.as_str().len() <= MAX_CODE_BYTES && long.starts_with(cut.as_str()));
        for own in FailCode::OWN {
            assert_eq!(FailCode::reported(own.as_str()), own);
            let back: FailCode = serde_json::from_value(serde_json::to_value(&own).unwrap()).unwrap();
            assert_eq!(back, own);
        }
    }
}
