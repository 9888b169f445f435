//! Workers over plain HTTP (the job runner's flow), as the dispatcher sees
//! them: a worker registers, long-polls for its next task, streams output
//! and ends each task with a result or an error, over REST. It sits in the
//! same dispatcher as ZeroMQ and JSONL workers: the same queue, priority,
//! slots, capability matching, drain and requeue.
//!
//! What an HTTP worker is owed and owes:
//! * it is alive while it heartbeats or polls (a poll in progress counts);
//!   silent for [`GatewayOptions::http_heartbeat_timeout`] it is lost;
//! * each task it is given carries a lease ([`GatewayOptions::lease`]),
//!   renewed when it takes the task, when it sends output and when it
//!   heartbeats; a lease that runs out makes the worker lost;
//! * a lost worker's tasks are requeued up to `max_attempts`, and each task
//!   completes at most once: a report for a task the worker no longer holds
//!   is refused (409) and recorded (`result_ignored`);
//! * its tasks wait for it in a queue bounded by its slots (the dispatcher
//!   never gives a worker more tasks than it has slots).
//!
//! [`GatewayOptions::http_heartbeat_timeout`]: super::GatewayOptions::http_heartbeat_timeout
//! [`GatewayOptions::lease`]: super::GatewayOptions::lease

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc};

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
    /// A task's lease, in ms, renewed by taking it, output and heartbeats.
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

/// A registered worker's queue of tasks, shared by its polls (one at a
/// time) and its liveness stamp.
#[derive(Clone)]
pub(crate) struct HttpInbox {
    pub(crate) tasks: Arc<Mutex<mpsc::Receiver<Assignment>>>,
    pub(crate) last_seen: Arc<AtomicU64>,
}
