//! What reading a swarm returns: its status and its agents' and objects'.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{BackendKind, BackendType, Edge, SupervisionSpec};
use crate::events::rfc3339_ms;
use crate::runtime::swarm::slot::{AgentSlot, AgentState, ObjectSlot};

/// The state of a swarm in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SwarmState {
    /// Running.
    Running,
    /// Stopped by request.
    Stopped,
    /// Gave up (restart intensity exceeded); see `failure_reason`.
    Failed,
}

impl SwarmState {
    /// Every state.
    pub const ALL: [SwarmState; 3] = [Self::Running, Self::Stopped, Self::Failed];

    /// Its wire name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }
}

/// One agent's status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    /// Name.
    pub name: Arc<str>,
    /// Its scale group.
    pub group: Option<Arc<str>>,
    /// `mock`, `stdio` or `zmq`.
    pub backend: BackendKind,
    /// genswarms' name of the backend: `local`, `ssh`, `bwrap`, `docker`
    /// (a stdio agent's launch), `mock` or `zmq`.
    pub backend_type: BackendType,
    /// `starting`, `idle`, `busy`, `paused`, `restarting`, `stopped`.
    pub state: AgentState,
    /// Restarts so far.
    pub restarts: u32,
    /// Items waiting in its mailbox.
    pub inbox: usize,
    /// The task it is working on.
    pub current_task: Option<Arc<str>>,
    /// Last activity (RFC 3339), if any.
    pub last_activity: Option<String>,
    /// Tasks completed.
    pub tasks_completed: u64,
    /// Tasks failed or cancelled.
    pub tasks_failed: u64,
    /// Routed messages received.
    pub messages_received: u64,
    /// OS process id (stdio agents).
    pub pid: Option<u32>,
    /// The free-form state the agent last reported.
    pub detail: Option<String>,
    /// Model passed to the agent.
    pub model: Option<String>,
    /// Skill files.
    pub skills: Vec<String>,
}

/// One object's status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ObjectStatus {
    /// Name.
    pub name: Arc<str>,
    /// Kind.
    pub kind: String,
    /// genswarms' name of the same: the kind that handles its messages.
    pub handler: String,
    /// `idle`, `restarting`, `stopped`.
    pub state: &'static str,
    /// Restarts so far.
    pub restarts: u32,
    /// Requests waiting.
    pub inbox: usize,
    /// Current configuration.
    pub config: Value,
    /// OS process id of the handler program (`handler = "stdio"`), while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// A swarm's status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SwarmStatus {
    /// Name.
    pub name: String,
    /// Registry state.
    pub state: SwarmState,
    /// When it was started (RFC 3339).
    pub started_at: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Supervision settings (`None` while the swarm does not run).
    pub supervision: Option<SupervisionView>,
    /// Agents, in start order.
    pub agents: Vec<AgentStatus>,
    /// Objects.
    pub objects: Vec<ObjectStatus>,
    /// Scale groups and their sizes.
    pub groups: Vec<GroupStatus>,
    /// Declared edges.
    pub topology: Vec<Edge>,
    /// Restarts of all agents and objects.
    pub restarts: u64,
}

impl SwarmStatus {
    /// The status of a swarm that does not run: its registry entry.
    pub fn not_running(s: crate::runtime::registry::SwarmSummary) -> Self {
        Self {
            name: s.name,
            state: s.state,
            started_at: s.started_at,
            failure_reason: s.failure_reason,
            supervision: None,
            agents: Vec::new(),
            objects: Vec::new(),
            groups: Vec::new(),
            topology: Vec::new(),
            restarts: 0,
        }
    }
}

/// A scale group's size.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupStatus {
    /// Base name.
    pub name: String,
    /// Members.
    pub replicas: u32,
}

/// Supervision settings as shown in status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SupervisionView {
    /// Strategy word.
    pub strategy: &'static str,
    /// Max restarts.
    pub max_restarts: u32,
    /// Window in seconds.
    pub max_seconds: u32,
    /// Backoff in ms.
    pub backoff_ms: u64,
}

impl From<&SupervisionSpec> for SupervisionView {
    fn from(s: &SupervisionSpec) -> Self {
        Self {
            strategy: s.strategy.as_str(),
            max_restarts: s.max_restarts,
            max_seconds: s.max_seconds,
            backoff_ms: s.backoff_ms,
        }
    }
}

/// Renders ms-since-epoch as RFC 3339 (None for 0).
pub(crate) fn rfc3339(ms: u64) -> Option<String> {
    (ms > 0).then(|| rfc3339_ms(ms))
}

impl AgentStatus {
    /// Reads an agent's slot.
    pub fn of(slot: &AgentSlot) -> Self {
        let (completed, failed) = slot.status.task_counts();
        Self {
            name: slot.name.clone(),
            group: slot.group.clone(),
            backend: slot.spec.backend.backend_kind(),
            backend_type: slot.spec.backend.backend_type(),
            state: slot.status.state(),
            restarts: slot.status.restarts(),
            inbox: slot.mailbox.len(),
            current_task: slot.mailbox.in_flight(),
            last_activity: rfc3339(slot.status.last_activity_ms()),
            tasks_completed: completed,
            tasks_failed: failed,
            messages_received: slot.status.messages_received(),
            pid: slot.status.pid(),
            detail: slot.status.detail(),
            model: slot.spec.model.clone(),
            skills: slot.spec.skills.clone(),
        }
    }
}

impl ObjectStatus {
    /// Reads an object's slot.
    pub fn of(slot: &ObjectSlot) -> Self {
        let spec = slot.spec();
        Self {
            name: slot.name.clone(),
            handler: spec.kind.clone(),
            kind: spec.kind,
            state: slot.status.state().as_str(),
            restarts: slot.status.restarts(),
            inbox: slot.mailbox.len(),
            config: spec.config,
            pid: slot.status.pid(),
        }
    }
}
