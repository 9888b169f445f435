//! Workers over plain HTTP (the job runner's flow), as the dispatcher sees
//! them: a worker registers, long-polls for its next task, streams output
//! and ends each task with a result or an error, over REST. It sits in the
//! same dispatcher as ZeroMQ and JSONL workers: the same queue, priority,
//! slots, capability matching, drain and requeue.
//!
//! What an HTTP worker is owed and owes:
//! * it belongs to the token that registered it: calls naming its id from
//!   any other token are refused (403), so one worker token cannot poll,
//!   heartbeat or report as another's worker;
//! * it is alive while it heartbeats or polls (a poll in progress counts);
//!   silent for [`GatewayOptions::http_heartbeat_timeout`] it is lost;
//! * a task the dispatcher gives it waits, counted against its slots, until
//!   a poll takes it; the poll asks the dispatcher for it, so a task that
//!   ended while it waited (cancelled, timed out) is simply no longer there
//!   and nothing can be dropped on the way;
//! * each poll is bound to one registration ([`HttpSession::epoch`]): a poll
//!   left over from an earlier registration of the same id takes nothing
//!   (404), so a task is never delivered to two polls;
//! * a task taken by a poll whose answer is not delivered (the client went
//!   away) goes back to the queue at once;
//! * each task it is given carries a lease ([`GatewayOptions::lease`]),
//!   running from the assignment, renewed when a poll takes the task, and,
//!   once taken, when it sends output and when it heartbeats; a heartbeat
//!   does not renew a task it has not taken. A lease that runs out (a task
//!   held but never taken, a worker that hangs) makes the worker lost;
//! * a lost worker's tasks are requeued up to `max_attempts`, and each task
//!   completes at most once: a report for a task the worker no longer holds
//!   is refused (409) and recorded (`result_ignored`).
//!
//! [`GatewayOptions::http_heartbeat_timeout`]: super::GatewayOptions::http_heartbeat_timeout
//! [`GatewayOptions::lease`]: super::GatewayOptions::lease

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};

/// Longest a long-poll for the next task may wait.
pub const MAX_POLL_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a worker registers with.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRegistration {
    /// Its id, unique among the connected workers of every transport:
    /// letters, digits, `_`, `.`, `:` and `-`, starting with a letter or
    /// digit, at most 128 (it names the worker in paths).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    pub id: String,
    /// What it can do (a task's capabilities must all be among them).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Tasks it runs at once (default 1, at most 10 000).
    #[schema(minimum = 1, maximum = 10000)]
    pub slots: Option<u32>,
    /// Free-form metadata, shown in the worker list.
    #[serde(default)]
    pub tags: BTreeMap<String, serde_json::Value>,
}

/// What a registered worker is told.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HttpTerms {
    /// Its id.
    pub id: String,
    /// Heartbeat (or poll) at least this often, in ms, or be lost.
    pub heartbeat_timeout_ms: u64,
    /// A task's lease, in ms, from its assignment: renewed by taking it, then
    /// by output and heartbeats.
    pub lease_ms: u64,
    /// Longest `wait` of a poll, in s.
    pub max_wait_s: u64,
}

/// A task as an HTTP worker is given it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Assignment {
    /// The task.
    pub task_id: String,
    /// What to do.
    pub prompt: String,
    /// Model override.
    pub model: Option<String>,
    /// Extra context.
    pub context: Option<String>,
    /// 1 (highest) to 255.
    pub priority: u8,
    /// The capabilities it needs.
    pub capabilities: Vec<String>,
    /// A swarm agent's task: its swarm.
    pub swarm: Option<String>,
    /// A swarm agent's task: its agent.
    pub agent: Option<String>,
    /// How long the lease lasts from each renewal, in ms.
    pub lease_ms: u64,
}

/// How a worker reports on a task it holds.
#[derive(Debug, Clone)]
pub enum HttpReport {
    /// A chunk of output (a token, as ZeroMQ workers stream them).
    Output(String),
    /// The result: the task completed.
    Result(String),
    /// The task failed with a code of the worker's and a message.
    Error {
        /// The worker's code.
        code: String,
        /// Why.
        message: String,
    },
}

/// One registration of an HTTP worker, as its polls hold it: which
/// registration it is, the wake-up for a task given, the one-poll-at-a-time
/// lock and its liveness stamp.
#[derive(Clone)]
pub(crate) struct HttpSession {
    /// Unique per registration in a dispatcher: a take names it, and one
    /// naming an earlier registration of the same id gets nothing.
    pub(crate) epoch: u64,
    /// Notified when the worker is given a task (or is gone).
    pub(crate) ready: Arc<Notify>,
    /// Held by the poll in progress.
    pub(crate) poll: Arc<Mutex<()>>,
    pub(crate) last_seen: Arc<AtomicU64>,
}
