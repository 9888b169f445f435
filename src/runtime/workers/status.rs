//! A standalone worker as listed (`/api/v1/agents`): one key per name. Its
//! `status` is Sol's word for the process (`running` while it is up, idle
//! or busy), its `state` Hive's finer one; both are closed enums.

use serde::{Deserialize, Serialize};

use crate::runtime::swarm::AgentStatus;
use crate::runtime::swarm::slot::AgentState;

/// A worker's state, as Hive tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolWorkerState {
    /// Its process is being started.
    Starting,
    /// Up, waiting for a task.
    Idle,
    /// Up, running a task.
    Busy,
    /// Paused.
    Paused,
    /// Its process exited; a restart follows.
    Restarting,
    /// Stopped for good.
    Stopped,
    /// Given up (restart intensity reached): see `failure_reason`.
    Failed,
}

/// A worker's status, in Sol's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolWorkerStatus {
    /// Its process is being started.
    Starting,
    /// Its process is up (idle or busy).
    Running,
    /// Paused.
    Paused,
    /// Its process exited; a restart follows.
    Restarting,
    /// Stopped for good.
    Stopped,
    /// Given up.
    Failed,
}

impl PoolWorkerState {
    pub(super) fn of(agent: AgentState, failed: bool) -> Self {
        if failed {
            return Self::Failed;
        }
        match agent {
            AgentState::Starting => Self::Starting,
            AgentState::Idle => Self::Idle,
            AgentState::Busy => Self::Busy,
            AgentState::Paused => Self::Paused,
            AgentState::Restarting => Self::Restarting,
            AgentState::Stopped => Self::Stopped,
        }
    }

    /// Sol's word for it.
    pub fn status(self) -> PoolWorkerStatus {
        match self {
            Self::Starting => PoolWorkerStatus::Starting,
            Self::Idle | Self::Busy => PoolWorkerStatus::Running,
            Self::Paused => PoolWorkerStatus::Paused,
            Self::Restarting => PoolWorkerStatus::Restarting,
            Self::Stopped => PoolWorkerStatus::Stopped,
            Self::Failed => PoolWorkerStatus::Failed,
        }
    }
}

/// A worker as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorkerStatus {
    /// Worker id.
    pub id: String,
    /// Sol's status: `starting`, `running` (idle or busy), `paused`,
    /// `restarting`, `stopped` or `failed`.
    pub status: PoolWorkerStatus,
    /// Hive's state: `starting`, `idle`, `busy`, `paused`, `restarting`,
    /// `stopped` or `failed`.
    pub state: PoolWorkerState,
    /// The task it is working on.
    pub current_task: Option<String>,
    /// The path it was spawned from (resolved).
    pub worker_path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Capabilities, for dispatched tasks (it also has `local/<id>`).
    pub capabilities: Vec<String>,
    /// When it was spawned (RFC 3339).
    pub spawned_at: String,
    /// Why it failed (restart intensity reached).
    pub failure_reason: Option<String>,
    /// OS process id, while it runs.
    pub pid: Option<u32>,
    /// Restarts so far.
    pub restarts: u32,
    /// Tasks waiting in its inbox.
    pub inbox: usize,
    /// Last activity (RFC 3339), if any.
    pub last_activity: Option<String>,
    /// Tasks completed.
    pub tasks_completed: u64,
    /// Tasks failed or cancelled.
    pub tasks_failed: u64,
    /// The free-form state it last reported.
    pub detail: Option<String>,
}

/// What the pool knows of a worker besides its agent's status.
pub(super) struct Spawned<'a> {
    pub(super) id: &'a str,
    pub(super) path: &'a str,
    pub(super) args: &'a [String],
    pub(super) capabilities: &'a [String],
    pub(super) spawned_at: String,
    pub(super) failure: Option<&'a str>,
}

impl WorkerStatus {
    pub(super) fn of(w: Spawned<'_>, state: AgentState, agent: AgentStatus) -> Self {
        let state = PoolWorkerState::of(state, w.failure.is_some());
        Self {
            id: w.id.to_string(),
            status: state.status(),
            state,
            current_task: agent.current_task.map(|t| t.to_string()),
            worker_path: w.path.to_string(),
            args: w.args.to_vec(),
            capabilities: w.capabilities.to_vec(),
            spawned_at: w.spawned_at,
            failure_reason: w.failure.map(str::to_string),
            pid: agent.pid,
            restarts: agent.restarts,
            inbox: agent.inbox,
            last_activity: agent.last_activity,
            tasks_completed: agent.tasks_completed,
            tasks_failed: agent.tasks_failed,
            detail: agent.detail,
        }
    }
}
