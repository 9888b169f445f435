//! The ZeroMQ worker gateway and the task dispatcher.
//!
//! Workers on any machine connect a DEALER socket to the gateway's ROUTER
//! (PROTOCOLS.md §2) and take tasks. The dispatcher (one actor) owns the
//! queue and the assignments; each connected worker has its own supervised
//! connection actor that owns its liveness (`conn.rs`). Guarantees:
//! * with a data dir, every dispatched task is recorded in the store, and
//!   its record is committed before any of its events: a caller that is
//!   only acknowledged ([`Submit::Queue`], [`Submit::QueueAndFollow`]) is
//!   answered once the record is durable; a caller that waits for the
//!   result itself ([`Submit::Follow`]) is answered at once and the task
//!   runs while its record is written;
//! * the highest-priority task (1 highest, FIFO within a priority) goes to
//!   a ready worker with a free slot and every needed capability, the one
//!   idle longest first;
//! * a task completes at most once: a result for a task that was
//!   reassigned, cancelled, timed out or already ended is ignored, with a
//!   `result_ignored` event;
//! * a task whose worker dies (silent for `heartbeat_timeout`) is requeued
//!   with its place in the queue, up to `max_attempts`, then fails with
//!   `worker_lost`;
//! * a draining worker (`off`) keeps its running tasks and gets no new one;
//! * malformed frames become `frame_rejected` events; nothing a worker sends
//!   can crash the gateway.
//! * the dispatcher owns the ROUTER socket's task (`socket.rs`, which hands
//!   it frames through a sink and knows nothing of it): when that task ends,
//!   however, the dispatcher fails and the root restarts it on the address
//!   first bound; the open dispatched tasks the task book holds are queued
//!   again, and workers register again when told their heartbeat is unknown.
//!
//! Next to the dispatcher, one more supervised actor delivers webhook
//! results (`webhook.rs`: allowed URLs only, bounded, retried).

mod conn;
mod dispatcher;
mod http_worker;
pub mod protocol;
mod queue;
mod socket;
mod webhook;

use std::time::Duration;

use serde::Serialize;

pub(crate) use dispatcher::{Dispatcher, DispatcherArgs, DispatcherMsg, LocalCmd, LocalWorker};
pub(crate) use http_worker::HttpSession;
pub use http_worker::{Assignment, HttpRegistration, HttpReport, HttpTerms, MAX_POLL_WAIT};
pub use webhook::{Delivery, Webhook, WebhookOptions};
pub(crate) use webhook::{WebhookArgs, Webhooks, dispatch_to, webhooks_name, webhooks_ref};

/// The running dispatcher registered under `name`, if it is up (it may be
/// restarting).
pub(crate) fn dispatcher_ref(name: &str) -> Option<ractor::ActorRef<DispatcherMsg>> {
    ractor::registry::where_is(name.to_string()).map(ractor::ActorRef::from)
}

/// Why a worker's connection ended when it went silent.
pub const HEARTBEAT_TIMEOUT: &str = conn::HEARTBEAT_TIMEOUT;

/// The swarm name of dispatched tasks' events and records.
pub const DISPATCH_SWARM: &str = "_dispatch";

/// Settings of the gateway.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Where the ROUTER binds (default `tcp://127.0.0.1:5555`; port 0 = any).
    pub endpoint: String,
    /// The shared token workers may send in `ready`.
    pub token: Option<String>,
    /// Tokens with roles (the daemon's, shared and reloaded with the HTTP
    /// adapter's): a `worker` or `admin` token is accepted in `ready` too.
    /// With neither `token` nor a `worker` token listed, `ready` is not
    /// checked.
    pub tokens: crate::access::Tokens,
    /// A worker silent this long is dead (default 5 s).
    pub heartbeat_timeout: Duration,
    /// An HTTP worker neither heartbeating nor polling this long is dead
    /// (default 30 s).
    pub http_heartbeat_timeout: Duration,
    /// How long an HTTP worker holds a task without a sign of life (taking
    /// it, output, a heartbeat) before it is lost (default 60 s).
    pub lease: Duration,
    /// Attempts before a task whose workers keep dying fails (default 3).
    pub max_attempts: u32,
    /// Default per-task timeout (default 300 s).
    pub task_timeout: Duration,
    /// Most tasks waiting (default 100 000); more → `Full`.
    pub max_queue: usize,
    /// Most connected workers (default 10 000).
    pub max_workers: usize,
    /// Where dispatched tasks' results may be POSTed, and the bounds on it.
    pub webhooks: WebhookOptions,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            endpoint: "tcp://127.0.0.1:5555".into(),
            token: None,
            tokens: crate::access::Tokens::default(),
            heartbeat_timeout: Duration::from_secs(5),
            http_heartbeat_timeout: Duration::from_secs(30),
            lease: Duration::from_secs(60),
            max_attempts: 3,
            task_timeout: Duration::from_secs(300),
            max_queue: 100_000,
            max_workers: 10_000,
            webhooks: WebhookOptions::default(),
        }
    }
}

/// When a submitter is answered, and whether it gets the task's updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submit {
    /// Answered once the task is recorded durably; no updates. For callers
    /// that acknowledge the task and leave (async mode).
    Queue,
    /// Answered once the task is recorded durably, with its updates. For
    /// callers that acknowledge the task and deliver its result later
    /// (webhook mode).
    QueueAndFollow,
    /// Answered at once, with its updates: the caller waits for the result
    /// itself (sync and stream modes, orchestrate, swarm agents), so nothing
    /// is acknowledged before the result. The record is still written, and
    /// committed before any of the task's events, but the task does not
    /// wait for the disk.
    Follow,
}

impl Submit {
    /// Whether the submitter gets the task's updates.
    pub fn follows(self) -> bool {
        !matches!(self, Submit::Queue)
    }
}

/// A task to dispatch.
#[derive(Debug, Clone, Default)]
pub struct DispatchRequest {
    /// What to do.
    pub prompt: String,
    /// Model override.
    pub model: Option<String>,
    /// Extra context.
    pub context: Option<String>,
    /// 1 (highest) to 255; default 5.
    pub priority: Option<u8>,
    /// Capabilities the worker must have.
    pub capabilities: Vec<String>,
    /// Timeout (default: the gateway's).
    pub timeout: Option<Duration>,
    /// For a swarm agent's task: its swarm and agent.
    pub swarm: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// The name of the token that submits it.
    pub submitted_by: Option<String>,
    /// The schedule tick it is created for (recorded with it).
    pub tick: Option<crate::task::ScheduleTick>,
}

pub use crate::task::TaskUpdate;

/// A dispatched task, as the dispatcher answers a submit.
pub struct Dispatched {
    /// Its id.
    pub id: std::sync::Arc<str>,
    /// Its updates, when the submit follows it.
    pub follower: Option<crate::task::Follower>,
    /// Resolves once its record is durable, when the submitter must wait for
    /// that before acknowledging it ([`Submit::Queue`], [`Submit::QueueAndFollow`]).
    pub(crate) durable: Option<tokio::sync::oneshot::Receiver<Result<(), crate::task::NotDurable>>>,
}

/// A connected worker's state, as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// It has a free slot.
    Ready,
    /// Every slot is taken.
    Busy,
    /// Maintenance: it finishes its tasks and gets no new one.
    Draining,
}

impl WorkerState {
    /// Every state.
    pub const ALL: [WorkerState; 3] = [Self::Ready, Self::Busy, Self::Draining];

    /// Its wire name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Busy => "busy",
            Self::Draining => "draining",
        }
    }
}

/// How the dispatcher reaches a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerTransport {
    /// A ZeroMQ DEALER.
    Zmq,
    /// A standalone JSONL worker of the pool.
    Jsonl,
    /// A worker polling over HTTP.
    Http,
}

impl WorkerTransport {
    /// Every transport.
    pub const ALL: [WorkerTransport; 3] = [Self::Zmq, Self::Jsonl, Self::Http];

    /// Its wire name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zmq => "zmq",
            Self::Jsonl => "jsonl",
            Self::Http => "http",
        }
    }
}

/// A connected worker as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ZmqWorker {
    /// Its id.
    pub worker_id: String,
    /// How it is reached.
    pub transport: WorkerTransport,
    /// `ready` (a free slot), `busy` (every slot taken) or `draining` (off).
    pub status: WorkerState,
    /// What it can do.
    pub capabilities: Vec<String>,
    /// Tasks it runs at once.
    pub slots: u32,
    /// Tasks it is running.
    pub running: Vec<String>,
    /// ms since the epoch.
    pub connected_at: u64,
    /// ms since the epoch.
    pub last_heartbeat: u64,
    /// One of the tasks it runs (Sol compatibility).
    pub current_task: Option<String>,
    /// Free-form metadata it sent.
    pub tags: serde_json::Value,
}

/// The gateway's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GatewayStatus {
    /// The gateway runs.
    pub enabled: bool,
    /// Where the ROUTER is bound.
    pub endpoint: String,
    /// Its port.
    pub port: u16,
    /// Connected workers.
    pub connected: usize,
    /// Tasks waiting.
    pub queue_depth: usize,
    /// Tasks running on workers.
    pub running: usize,
}
