//! A task as recorded: what was asked, by whom, of which transport, and
//! where its lifecycle stands. The store keeps one per task (with a data
//! directory); the [`TaskBook`](super::TaskBook) keeps the open ones and a
//! bounded number of ended ones in memory either way.

use serde::{Deserialize, Serialize};

use super::model::{FailCode, TaskEnd, TaskStatus, Transport};

/// A task as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskRecord {
    /// Task id (time-ordered: ids sort by creation).
    pub id: String,
    /// Swarm of the target agent (`_workers` for standalone workers,
    /// `_dispatch` for dispatched tasks).
    pub swarm: String,
    /// Target agent or worker (empty for dispatched tasks).
    pub target: String,
    /// What to do.
    pub content: String,
    /// Who sent it.
    pub from: String,
    /// Where its lifecycle stands.
    pub status: TaskStatus,
    /// Times it was started.
    pub attempts: u32,
    /// Created (ms since the epoch).
    pub created_ms: u64,
    /// Last change (ms since the epoch).
    pub updated_ms: u64,
    /// The result, when completed.
    pub result: Option<String>,
    /// The error, when failed: `code: message` (as the API has always shown it).
    pub error: Option<String>,
    /// Dispatched tasks: priority (1 highest).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Dispatched tasks: capabilities the worker needs.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Dispatched tasks: model override.
    #[serde(default)]
    pub model: Option<String>,
    /// Dispatched tasks: extra context.
    #[serde(default)]
    pub context: Option<String>,
    /// The failure code, when failed.
    #[serde(default)]
    pub error_code: Option<FailCode>,
    /// The failure message, when failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The transport that runs it (`None` only in records written before
    /// it was recorded; see [`TaskRecord::transport`]).
    #[serde(default)]
    pub transport: Option<Transport>,
    /// The worker (dispatched tasks) or the agent that runs it or ran it
    /// last (`None` while it waits, and in records written before it was
    /// recorded).
    #[serde(default)]
    pub worker: Option<String>,
    /// Its last start (ms since the epoch).
    #[serde(default)]
    pub started_ms: Option<u64>,
    /// Its end (ms since the epoch).
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// While it runs: the last [`MAX_OUTPUT_BYTES`] of the tokens streamed
    /// so far. Kept by the task book only (the store never writes tokens);
    /// dropped at its end, when `result` or `error` says how it went.
    #[serde(default)]
    pub output: Option<String>,
    /// The name of the token that submitted it (`None` for tasks the
    /// runtime made itself, and in records written before it was kept):
    /// non-admins see only their own.
    #[serde(default)]
    pub submitted_by: Option<String>,
    /// The schedule tick that created it (`None` for tasks nobody
    /// scheduled): the store records the tick's run in the record's own
    /// transaction, so a tick fires at most once.
    #[serde(default)]
    pub tick: Option<ScheduleTick>,
}

/// The schedule tick a task was created for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleTick {
    /// The schedule's identity (not its name: a name can be reused).
    pub schedule_id: String,
    /// Its name.
    pub schedule: String,
    /// The tick (ms since the epoch).
    pub tick_ms: u64,
}

/// The most output so far a running task's record keeps (its tail).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

impl TaskRecord {
    /// A new task's record: `queued`, created now.
    pub fn queued(id: &str, transport: Transport, swarm: &str, target: &str, content: &str, from: &str) -> Self {
        let now = crate::events::now_ms();
        Self {
            id: id.into(),
            swarm: swarm.into(),
            target: target.into(),
            content: content.into(),
            from: from.into(),
            status: TaskStatus::Queued,
            attempts: 0,
            created_ms: now,
            updated_ms: now,
            result: None,
            error: None,
            priority: None,
            capabilities: Vec::new(),
            model: None,
            context: None,
            error_code: None,
            error_message: None,
            transport: Some(transport),
            worker: None,
            started_ms: None,
            ended_ms: None,
            output: None,
            submitted_by: None,
            tick: None,
        }
    }

    /// Whether the task has ended.
    pub fn is_final(&self) -> bool {
        self.status.is_final()
    }

    /// The transport that runs it. Records from before the transport was
    /// recorded name it by their swarm (the one place that reads it so).
    pub fn transport(&self) -> Transport {
        self.transport.unwrap_or(match self.swarm.as_str() {
            LEGACY_WORKERS_SWARM => Transport::Worker,
            LEGACY_DISPATCH_SWARM => Transport::Dispatch,
            _ => Transport::Agent,
        })
    }

    /// How it ended, if it has.
    pub fn end(&self) -> Option<TaskEnd> {
        match self.status {
            TaskStatus::Completed => Some(TaskEnd::Completed { content: self.result.clone().unwrap_or_default() }),
            TaskStatus::Failed => Some(TaskEnd::Failed {
                code: self.error_code.clone().unwrap_or(FailCode::Reported("error".into())),
                message: self.error_message.clone().or_else(|| self.error.clone()).unwrap_or_default(),
            }),
            TaskStatus::Cancelled => Some(TaskEnd::Cancelled),
            TaskStatus::Queued | TaskStatus::Running => None,
        }
    }

    /// Appends streamed output, keeping the last [`MAX_OUTPUT_BYTES`] (cut
    /// at a character boundary).
    pub fn push_output(&mut self, token: &str) {
        let out = self.output.get_or_insert_with(String::new);
        out.push_str(token);
        if out.len() > MAX_OUTPUT_BYTES {
            let mut cut = out.len() - MAX_OUTPUT_BYTES;
            while !out.is_char_boundary(cut) {
                cut += 1;
            }
            out.drain(..cut);
        }
    }

    /// Applies a change of its lifecycle, stamped `at_ms`.
    pub fn apply(&mut self, change: &TaskChange, at_ms: u64) {
        match change {
            TaskChange::Started { worker } => {
                self.status = TaskStatus::Running;
                self.attempts += 1;
                self.worker = worker.clone().or_else(|| (!self.target.is_empty()).then(|| self.target.clone()));
                self.started_ms = Some(at_ms);
                self.output = None;
            }
            TaskChange::Requeued => {
                self.status = TaskStatus::Queued;
                self.worker = None;
                self.output = None;
            }
            TaskChange::Ended(end) => self.apply_end(end, at_ms),
        }
        self.updated_ms = at_ms;
    }

    /// Applies its end, stamped `at_ms` ([`TaskChange::Ended`] without
    /// making the change).
    pub fn apply_end(&mut self, end: &TaskEnd, at_ms: u64) {
        self.status = end.status();
        self.ended_ms = Some(at_ms);
        self.output = None;
        match end {
            TaskEnd::Completed { content } => self.result = Some(content.clone()),
            TaskEnd::Failed { code, message } => {
                self.error = Some(format!("{code}: {message}"));
                self.error_code = Some(code.clone());
                self.error_message = Some(message.clone());
            }
            TaskEnd::Cancelled => {}
        }
        self.updated_ms = at_ms;
    }
}

/// The swarm name of standalone workers' records written before records
/// named their transport.
const LEGACY_WORKERS_SWARM: &str = "_workers";
/// The swarm name of dispatched tasks' records written before records
/// named their transport.
const LEGACY_DISPATCH_SWARM: &str = "_dispatch";

/// One step of a task's lifecycle, as the store applies it to the record.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskChange {
    /// Started (one more attempt), on this worker (`None`: its target).
    Started {
        /// The worker that took it.
        worker: Option<String>,
    },
    /// Back in the queue (its worker was lost).
    Requeued,
    /// Ended.
    Ended(TaskEnd),
}
