//! What the typed task stream (`/ws/tasks`) sends: one notice per change of
//! a task, as the task book decides it (queued, started, a chunk of output,
//! the end). Notices go to a bounded broadcast; a subscriber that falls
//! behind is told how many it missed, and the book never waits for one.
//! Output notices are built only while someone listens.

use std::sync::Arc;

use serde::Serialize;

use super::model::{FailCode, TaskEnd};
use super::record::TaskRecord;

/// Notices a subscriber may fall behind before it is told it lagged.
pub const NOTICE_LAG: usize = 4_096;

/// A change of one task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskNotice {
    /// The task.
    pub task_id: Arc<str>,
    /// The token that submitted it.
    pub submitted_by: Option<Arc<str>>,
    /// What happened.
    #[serde(flatten)]
    pub what: Happened,
}

impl TaskNotice {
    /// What happened to the task of `record`.
    pub fn of(record: &TaskRecord, what: Happened) -> Self {
        Self { task_id: record.id.as_str().into(), submitted_by: record.submitted_by.as_deref().map(Into::into), what }
    }
}

/// What happened to a task, as `type` names it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum Happened {
    /// Queued (new, or back in the queue).
    #[serde(rename = "task.queued")]
    Queued,
    /// Started on a worker or agent.
    #[serde(rename = "task.started")]
    Started {
        /// Where, when the transport names it.
        worker: Option<String>,
    },
    /// A chunk of its output.
    #[serde(rename = "task.output")]
    Output {
        /// The chunk.
        content: String,
    },
    /// Completed.
    #[serde(rename = "task.completed")]
    Completed {
        /// Its result.
        content: String,
    },
    /// Failed.
    #[serde(rename = "task.failed")]
    Failed {
        /// Why, as a code.
        code: FailCode,
        /// Why, in words.
        message: String,
    },
    /// Cancelled.
    #[serde(rename = "task.cancelled")]
    Cancelled,
}

impl Happened {
    /// The notice of an end.
    pub fn ended(end: &TaskEnd) -> Self {
        match end {
            TaskEnd::Completed { content } => Self::Completed { content: content.clone() },
            TaskEnd::Failed { code, message } => Self::Failed { code: code.clone(), message: message.clone() },
            TaskEnd::Cancelled => Self::Cancelled,
        }
    }
}
