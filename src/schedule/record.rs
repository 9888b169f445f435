//! What the scheduler keeps of a schedule (its [`Schedule`] record: the
//! spec, who made it, its anchor) and of each tick it handled (a [`Run`]).
//! A schedule's progress is its runs: the latest run's tick is the last
//! tick handled. A fired tick's run is written by the store in the same
//! transaction as the task it created (the task record carries the tick,
//! [`crate::task::ScheduleTick`]), so no crash can leave a fired tick
//! without its run, and no tick fires twice.

use serde::{Deserialize, Serialize};

use crate::config::schedule::ScheduleSpec;

/// Who a schedule belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Made through the API (or `hive schedule add`); lives until deleted.
    Api,
    /// Declared in this swarm's file: fires while the swarm runs, goes with
    /// its purge.
    Swarm(String),
}

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Its identity (time-ordered): a schedule made again under the same
    /// name is another schedule, with runs of its own.
    pub id: String,
    /// As written.
    pub spec: ScheduleSpec,
    /// Whose it is.
    pub owner: Owner,
    /// The token that made it: its tasks are submitted by that name.
    pub created_by: Option<String>,
    /// When it was made (ms since the epoch).
    pub created_ms: u64,
    /// Last edit.
    pub updated_ms: u64,
    /// Where an `every` schedule's ticks start (its making, or the last
    /// change of its timing).
    pub anchor_ms: u64,
    /// No tick at or before this is handled (set when it is enabled again,
    /// so the ticks it slept through are neither fired nor caught up).
    #[serde(default)]
    pub resume_ms: u64,
}

/// How a tick went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// A task was created (`task_id`).
    Fired,
    /// Not fired (the previous task still ran, or the tick was missed).
    Skipped,
    /// Firing failed (`reason`).
    Failed,
}

/// One handled tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The tick (ms since the epoch).
    pub tick_ms: u64,
    /// When it was handled.
    pub at_ms: u64,
    /// How.
    pub outcome: RunOutcome,
    /// The task it created.
    pub task_id: Option<String>,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// Skipped ticks this run stands for (missed ticks are recorded as one).
    #[serde(default)]
    pub missed: u64,
}
