//! The runtime: swarms as supervised actor trees.
//!
//! [`Hive`] is the entry point; [`SwarmHandle`] the per-swarm API. The
//! actors (registry, swarm, router, agent, object) live in the submodules;
//! `docs/semantics.md` states what they guarantee.

mod agent;
mod backend;
mod error;
mod hive;
mod local_link;
mod mailbox;
mod mock;
mod object;
pub mod overlay;
mod process;
mod registry;
mod router;
mod slot;
mod stdio;
mod swarm;
mod swarm_ctx;
mod swarm_handle;
mod table;
mod workers;
mod zmq_agent;

pub use crate::store::Retention;
pub use error::{EdgeError, ErrorCode, HiveError, Resource};
pub use hive::{Dispatch, Events, Hive, HiveOptions, Swarms, Tasks, Workers};
/// Orchestrate: several dispatched tasks under one timeout.
pub mod orchestrate {
    pub use super::hive::orchestrate::{MAX_TASKS, OrchestrateMode, Outcome, Plan, Report, StepResult, Strategy};
}
pub use registry::SwarmSummary;
pub use router::{EndpointSender, RoutedMessage};
pub use slot::{AgentState, HistoryEntry};
pub use swarm::{
    AgentProbe, AgentStatus, EdgeChange, GroupStatus, ObjectStatus, ScaleFailure, ScaleResult, SupervisionView,
    SwarmLimits, SwarmState, SwarmStatus,
};
pub use swarm_handle::SwarmHandle;
pub use table::RouteError;
pub use workers::{MAX_WORKERS, SpawnRequest, WORKERS_SWARM, WorkerOptions, WorkerStatus};
