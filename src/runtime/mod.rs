//! The runtime: swarms as supervised actor trees. The folders follow the
//! tree that runs (`docs/architecture.md` draws it):
//!
//! * `hive/`: the [`Hive`] façade, the root of the tree (`root.rs`), restore,
//!   and one handle per area;
//! * `registry.rs`: the swarm registry (one child of the root);
//! * `swarm/`: a swarm actor and what runs under it — its router
//!   (`swarm/router/`), its agents (`swarm/agent/`: the actor and its
//!   backends), its objects (`swarm/object.rs`);
//! * `workers/`: the standalone JSONL worker pool (another root child) and
//!   each worker's link to the dispatcher;
//! * `maintenance.rs`: the daemon-wide switch every entry point of new work checks.
//! * `files.rs`: client-named swarm and skill files, confined to their
//!   directories, read and written on the blocking pool.
//!
//! [`SwarmHandle`] is the per-swarm API; `docs/semantics.md` states what the
//! actors guarantee.

mod files;
mod hive;
mod maintenance;
pub mod overlay;
mod registry;
mod swarm;
mod workers;

pub use crate::error::{EdgeError, ErrorCode, HiveError, Resource};
pub use crate::store::Retention;
pub use files::{SkillContent, SkillEntry, SkillFile, SkillWritten, confined};
#[cfg(feature = "server")]
pub(crate) use hive::MAX_RUNS_READ;
pub use hive::{
    Dispatch, Events, Health, HealthDetail, Hive, HiveOptions, HttpTaken, METRICS_CONTENT_TYPE, PriorityDepth,
    QueueDepth, Schedules, SlotCounts, StoreHealth, StoreMode, Swarms, Tasks, WorkerCounts, Workers,
};
/// Orchestrate: several dispatched tasks under one timeout.
pub mod orchestrate {
    pub use super::hive::orchestrate::{MAX_TASKS, OrchestrateMode, Outcome, Plan, Report, StepResult, Strategy};
}
pub use maintenance::{MAINTENANCE_RETRY_AFTER_S, Maintenance, MaintenanceState};
pub use registry::SwarmSummary;
/// The directory, inside a data directory, where live children's process
/// groups are recorded (empty once the daemon stopped cleanly).
pub const CHILD_RECORDS: &str = swarm::agent::process::groups::DIR;
pub use swarm::agent::process::spawner::die_with_parent;
pub use swarm::handle::SwarmHandle;
pub use swarm::router::table::RouteError;
pub use swarm::router::{EndpointSender, RoutedMessage};
pub use swarm::slot::{AgentState, HistoryEntry};
pub use swarm::{
    AgentProbe, AgentStatus, EdgeChange, GroupStatus, ObjectStatus, ScaleFailure, ScaleResult, SupervisionView,
    SwarmLimits, SwarmState, SwarmStatus,
};
pub use workers::{
    MAX_WORKERS, PoolWorkerState, PoolWorkerStatus, SpawnRequest, WORKERS_SWARM, WorkerOptions, WorkerStatus,
};
