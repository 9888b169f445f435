//! Schedules as the API shows them ([`ScheduleView`], [`RunView`]) and an
//! edit as the API takes it ([`ScheduleEdit`], a `PATCH` body).

use serde::{Deserialize, Serialize};

use super::record::{Owner, Run, RunOutcome, Schedule};
use crate::config::schedule::{CatchUp, Overlap, ScheduleSpec, Target};
use crate::events::rfc3339_ms;
use crate::task::TaskStatus;

/// How many next fire times a view lists.
pub const NEXT_FIRES: usize = 5;

/// A schedule, as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleView {
    /// Its identity (a schedule made again under the same name has another).
    pub id: String,
    /// As written (`enabled` says whether it fires).
    #[serde(flatten)]
    pub spec: ScheduleSpec,
    /// The swarm whose file declares it (`null`: made through the API).
    pub swarm: Option<String>,
    /// The token that made it (its tasks are submitted by that name).
    pub created_by: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The next fire times (RFC 3339), at most five; empty when it is
    /// disabled, its swarm is not running, or an `at` schedule has fired.
    pub next_fires: Vec<String>,
    /// The last tick handled.
    pub last_run: Option<RunView>,
}

impl ScheduleView {
    pub(super) fn of(s: &Schedule, next: Vec<u64>, last: Option<&Run>) -> Self {
        Self {
            id: s.id.clone(),
            spec: s.spec.clone(),
            swarm: match &s.owner {
                Owner::Api => None,
                Owner::Swarm(name) => Some(name.clone()),
            },
            created_by: s.created_by.clone(),
            created_at: rfc3339_ms(s.created_ms),
            updated_at: rfc3339_ms(s.updated_ms),
            next_fires: next.into_iter().map(rfc3339_ms).collect(),
            last_run: last.map(|r| RunView::of(r, None)),
        }
    }
}

/// One handled tick, as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunView {
    /// The tick (RFC 3339).
    pub tick: String,
    /// When it was handled (RFC 3339).
    pub at: String,
    /// `fired`, `skipped` or `failed`.
    pub outcome: RunOutcome,
    /// The task it created.
    pub task_id: Option<String>,
    /// That task's status now (`null` when it created none, or the task
    /// record is gone).
    pub task_status: Option<TaskStatus>,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    /// How many ticks a skip stands for.
    pub missed: u64,
}

impl RunView {
    /// `run`, with its task's status if known.
    pub fn of(run: &Run, task_status: Option<TaskStatus>) -> Self {
        Self {
            tick: rfc3339_ms(run.tick_ms),
            at: rfc3339_ms(run.at_ms),
            outcome: run.outcome,
            task_id: run.task_id.clone(),
            task_status,
            reason: run.reason.clone(),
            missed: run.missed,
        }
    }
}

/// A `PATCH`: the fields to change. Giving one of `cron`, `every` and `at`
/// replaces the timing (the other two are cleared).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEdit {
    /// Fire or not.
    pub enabled: Option<bool>,
    /// A new cron expression.
    pub cron: Option<String>,
    /// Its time zone (with `cron`, or alone to move a cron schedule).
    pub timezone: Option<String>,
    /// A new period.
    pub every: Option<String>,
    /// A new instant (RFC 3339).
    pub at: Option<String>,
    /// A new target.
    pub target: Option<Target>,
    /// New content.
    pub content: Option<String>,
    /// A new overlap policy.
    pub overlap: Option<Overlap>,
    /// A new catch-up policy.
    pub catch_up: Option<CatchUp>,
}

impl ScheduleEdit {
    /// Whether it changes more than `enabled`.
    pub fn edits_spec(&self) -> bool {
        Self { enabled: None, ..self.clone() } != Self::default()
    }

    /// Whether it changes when the schedule fires.
    pub fn edits_timing(&self) -> bool {
        self.cron.is_some() || self.every.is_some() || self.at.is_some() || self.timezone.is_some()
    }

    /// `spec` with the edit applied (not checked yet).
    pub fn apply(&self, spec: &ScheduleSpec) -> ScheduleSpec {
        let mut s = spec.clone();
        if self.cron.is_some() || self.every.is_some() || self.at.is_some() {
            (s.cron, s.every, s.at) = (self.cron.clone(), self.every.clone(), self.at.clone());
            if self.cron.is_none() {
                s.timezone = None;
            }
        }
        if let Some(tz) = &self.timezone {
            s.timezone = Some(tz.clone());
        }
        if let Some(v) = self.enabled {
            s.enabled = v;
        }
        if let Some(t) = &self.target {
            s.target = t.clone();
        }
        if let Some(c) = &self.content {
            s.content = c.clone();
        }
        if let Some(o) = self.overlap {
            s.overlap = o;
        }
        if let Some(c) = self.catch_up {
            s.catch_up = c;
        }
        s
    }
}
