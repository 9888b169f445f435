//! Which task records a list shows, and in what order: a [`TaskFilter`]
//! (statuses, the worker that ran it, a capability it needs) and a
//! [`TaskOrder`] over a closed set of fields ([`TaskSort`]). The task book
//! and the store answer pages with the same filter and order, so a list
//! reads the same with or without a data directory.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::model::TaskStatus;
use super::record::TaskRecord;

/// Which records a list shows; an empty filter shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only these statuses (all if empty).
    pub statuses: Vec<TaskStatus>,
    /// Only tasks last run (or running) on this worker or agent.
    pub worker: Option<String>,
    /// Only tasks that need this capability.
    pub capability: Option<String>,
    /// Only tasks this token submitted.
    pub submitted_by: Option<String>,
}

impl TaskFilter {
    /// Whether `r` is shown.
    pub fn matches(&self, r: &TaskRecord) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self.worker.as_deref().is_none_or(|w| r.worker.as_deref() == Some(w))
            && self.capability.as_deref().is_none_or(|c| r.capabilities.iter().any(|x| x == c))
            && self.submitted_by.as_deref().is_none_or(|o| r.submitted_by.as_deref() == Some(o))
    }

    /// Whether it filters on the status alone (the store then decodes less).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The fields a task list sorts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskSort {
    /// Creation (the id's order).
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Last start (never started last).
    StartedAt,
    /// Priority (1 first).
    Priority,
    /// Attempts.
    Attempts,
}

impl TaskSort {
    /// Every field, as the API names them.
    pub const ALL: [TaskSort; 5] = [Self::CreatedAt, Self::UpdatedAt, Self::StartedAt, Self::Priority, Self::Attempts];

    /// Its API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::StartedAt => "started_at",
            Self::Priority => "priority",
            Self::Attempts => "attempts",
        }
    }
}

/// A field and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOrder {
    /// The field.
    pub by: TaskSort,
    /// Largest first.
    pub descending: bool,
}

impl Default for TaskOrder {
    /// Newest first.
    fn default() -> Self {
        Self { by: TaskSort::CreatedAt, descending: true }
    }
}

impl TaskOrder {
    /// Whether this is the store's key order (or its reverse), which needs
    /// no sort.
    pub fn is_by_id(&self) -> bool {
        self.by == TaskSort::CreatedAt
    }

    /// Compares two records in this order (ties: newest first).
    pub fn compare(&self, a: &TaskRecord, b: &TaskRecord) -> Ordering {
        let o = match self.by {
            TaskSort::CreatedAt => a.id.cmp(&b.id),
            TaskSort::UpdatedAt => a.updated_ms.cmp(&b.updated_ms),
            TaskSort::StartedAt => a.started_ms.cmp(&b.started_ms),
            TaskSort::Priority => a.priority.unwrap_or(5).cmp(&b.priority.unwrap_or(5)),
            TaskSort::Attempts => a.attempts.cmp(&b.attempts),
        };
        let o = if self.descending { o.reverse() } else { o };
        o.then_with(|| b.id.cmp(&a.id))
    }
}
