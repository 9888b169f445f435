//! The closed set of event types, with the level, category and message each
//! one renders to. Adding a variant here is how a new event type is born;
//! `docs/events.md` lists them all.

use std::sync::Arc;

use serde_json::{Value, json};

use super::class::{Category, Level, OutputKind};

/// What happened. Each variant is one `event_type` (its name in snake case,
/// `Log` = `log_entry`); its fields become the event's `metadata`, under the
/// same names unless said otherwise (`docs/events.md` lists them all).
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A swarm started with its agents and objects.
    SwarmStarted {
        /// How many agents it started with.
        agents: usize,
        /// How many objects it started with.
        objects: usize,
    },
    /// A swarm stopped.
    SwarmStopped {
        /// `requested` (through the API) or `shutdown` (the runtime stopped).
        reason: String,
    },
    /// A swarm failed (a supervisor of it gave up).
    SwarmFailed {
        /// Why.
        reason: String,
    },
    /// An agent was added to a running swarm.
    AgentAdded {
        /// Its backend (`mock`, `stdio`, `zmq`, ...).
        backend: &'static str,
        /// The scale group it belongs to, if any.
        group: Option<Arc<str>>,
    },
    /// An agent was removed.
    AgentRemoved,
    /// An agent (re)started.
    AgentStarted {
        /// 0 for the first start, then one more per restart.
        incarnation: u32,
    },
    /// An agent exited without its supervisor asking it to.
    AgentExited {
        /// The exit reason.
        reason: String,
        /// Whether the supervisor restarts it.
        restarting: bool,
    },
    /// An agent stopped gracefully, as its supervisor asked.
    AgentStopped,
    /// An agent's supervisor restarted it.
    AgentRestarted {
        /// Its restarts so far.
        restarts: u32,
    },
    /// An agent's state changed.
    AgentStatus {
        /// The new state (`idle`, `busy`, ...).
        state: &'static str,
    },
    /// A scale group changed size.
    GroupScaled {
        /// The group.
        group: Arc<str>,
        /// Its size before.
        from: u32,
        /// Its size after.
        to: u32,
    },
    /// An object was added to a running swarm.
    ObjectAdded {
        /// Its kind (`kv`, `counter`, `queue`, or yours).
        kind: Arc<str>,
    },
    /// An object was removed.
    ObjectRemoved,
    /// An object's configuration changed.
    ObjectConfigured,
    /// An object exited without its supervisor asking it to.
    ObjectExited {
        /// The exit reason.
        reason: String,
        /// Whether the supervisor restarts it.
        restarting: bool,
    },
    /// An object stopped gracefully, as its supervisor asked.
    ObjectStopped,
    /// An object's supervisor restarted it.
    ObjectRestarted {
        /// Its restarts so far.
        restarts: u32,
    },
    /// A swarm's agents or objects supervisor reached its restart intensity.
    SupervisorGaveUp {
        /// Which supervisor (`agents`, `objects`, `worker`).
        supervisor: &'static str,
        /// Why it gave up.
        reason: String,
    },
    /// The router delivered a message along an edge.
    MessageRouted {
        /// The sender.
        from: Arc<str>,
        /// The recipient.
        to: Arc<str>,
        /// The message; metadata carries its first 200 bytes as `content_preview`.
        content: Arc<str>,
    },
    /// The router delivered a message to every neighbour of its sender.
    MessageBroadcast {
        /// The sender.
        from: Arc<str>,
        /// How many endpoints received it.
        recipients: usize,
    },
    /// The router refused a message (no such edge, unknown endpoint, ...).
    RouteDenied {
        /// The sender.
        from: Arc<str>,
        /// The intended recipient.
        to: Arc<str>,
        /// Why it was refused.
        reason: String,
    },
    /// An object answered a request.
    ObjectReplied {
        /// Who asked.
        to: Arc<str>,
        /// Whether the request succeeded.
        ok: bool,
    },
    /// Edges were added to or removed from a swarm's topology.
    TopologyChanged {
        /// The `[from, to]` edges added.
        added: Vec<(String, String)>,
        /// The `[from, to]` edges removed.
        removed: Vec<(String, String)>,
    },
    /// A task was queued for an agent or worker.
    TaskQueued {
        /// The task.
        task_id: Arc<str>,
        /// Who sent it.
        from: Arc<str>,
    },
    /// An agent or worker began a task.
    TaskStarted {
        /// The task.
        task_id: Arc<str>,
    },
    /// A task ended with a result.
    TaskCompleted {
        /// The task.
        task_id: Arc<str>,
    },
    /// A task failed.
    TaskFailed {
        /// The task.
        task_id: Arc<str>,
        /// The failure code (`timeout`, `agent_crashed`, ..., or a backend's own).
        code: String,
        /// What went wrong; metadata key `error`.
        message: String,
    },
    /// A task was cancelled.
    TaskCancelled {
        /// The task.
        task_id: Arc<str>,
    },
    /// An agent produced output.
    AgentOutput {
        /// The task it belongs to, if any.
        task_id: Option<Arc<str>>,
        /// A token, a result or a raw line; metadata key `kind`.
        output: OutputKind,
        /// The output itself.
        content: String,
    },
    /// A backend logged something (`event_type` `log_entry`).
    Log {
        /// Its level, which is also the event's level.
        level: Level,
        /// The log line; it is the event's message.
        message: String,
    },
    /// A ZeroMQ worker said hello and was accepted.
    WorkerConnected {
        /// What it can do (matched against a task's `capabilities`).
        capabilities: Vec<String>,
        /// How many tasks it takes at once.
        slots: u32,
    },
    /// A ZeroMQ worker left or was declared gone.
    WorkerDisconnected {
        /// Why (`heartbeat_timeout`, or how its connection or local link ended).
        reason: String,
        /// How many of its tasks went back to the queue.
        requeued: usize,
    },
    /// A ZeroMQ worker's hello was refused.
    WorkerRejected {
        /// Why (bad token, duplicate id, ...).
        reason: String,
    },
    /// A ZeroMQ worker entered or left maintenance.
    WorkerMaintenance {
        /// Whether it takes new tasks now.
        accepting: bool,
    },
    /// A caller's role does not include the one a route needs.
    AccessDenied {
        /// The token's name.
        token: Arc<str>,
        /// Its role and the one needed.
        role: crate::access::Role,
        /// The role the route needs.
        needed: crate::access::Role,
        /// `METHOD /route/{template}`.
        route: String,
        /// The client's address.
        address: String,
    },
    /// The gateway dropped a frame it could not read.
    FrameRejected {
        /// Why (not msgpack, not a map, unknown type, missing field).
        reason: String,
    },
    /// A task went back to the queue: its worker was lost, or the daemon
    /// restarted while the task ran.
    TaskRequeued {
        /// The task.
        task_id: Arc<str>,
        /// The attempt it is queued for (1 = the first).
        attempt: u32,
    },
    /// A schedule's tick created a task.
    ScheduleFired {
        /// The schedule.
        schedule: Arc<str>,
        /// The task it created.
        task_id: Arc<str>,
        /// The tick (ms since the epoch).
        tick_ms: u64,
        /// Missed ticks this fire stands for (catch-up `once`).
        caught_up: u64,
    },
    /// A schedule's tick did not fire: its previous task still ran, or the
    /// tick was missed (downtime, catch-up `skip`).
    ScheduleSkipped {
        /// The schedule.
        schedule: Arc<str>,
        /// The (latest) tick.
        tick_ms: u64,
        /// How many ticks were skipped.
        missed: u64,
        /// Why.
        reason: String,
    },
    /// A schedule's tick could not create its task.
    ScheduleFailed {
        /// The schedule.
        schedule: Arc<str>,
        /// The tick.
        tick_ms: u64,
        /// Why.
        error: String,
    },
    /// A worker reported on a task it no longer holds; the report was dropped.
    ResultIgnored {
        /// The task.
        task_id: Arc<str>,
        /// Why (reassigned, cancelled or already ended).
        reason: String,
    },
}

/// Longest content preview carried in routing metadata.
const PREVIEW: usize = 200;

pub(crate) fn preview(s: &str) -> &str {
    if s.len() <= PREVIEW {
        return s;
    }
    let mut end = PREVIEW;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl EventKind {
    /// The `event_type` word.
    pub fn event_type(&self) -> &'static str {
        use EventKind::*;
        match self {
            SwarmStarted { .. } => "swarm_started",
            SwarmStopped { .. } => "swarm_stopped",
            SwarmFailed { .. } => "swarm_failed",
            AgentAdded { .. } => "agent_added",
            AgentRemoved => "agent_removed",
            AgentStarted { .. } => "agent_started",
            AgentExited { .. } => "agent_exited",
            AgentStopped => "agent_stopped",
            AgentRestarted { .. } => "agent_restarted",
            AgentStatus { .. } => "agent_status",
            GroupScaled { .. } => "group_scaled",
            ObjectAdded { .. } => "object_added",
            ObjectRemoved => "object_removed",
            ObjectConfigured => "object_configured",
            ObjectExited { .. } => "object_exited",
            ObjectStopped => "object_stopped",
            ObjectRestarted { .. } => "object_restarted",
            SupervisorGaveUp { .. } => "supervisor_gave_up",
            MessageRouted { .. } => "message_routed",
            MessageBroadcast { .. } => "message_broadcast",
            RouteDenied { .. } => "route_denied",
            ObjectReplied { .. } => "object_replied",
            TopologyChanged { .. } => "topology_changed",
            TaskQueued { .. } => "task_queued",
            TaskStarted { .. } => "task_started",
            TaskCompleted { .. } => "task_completed",
            TaskFailed { .. } => "task_failed",
            TaskCancelled { .. } => "task_cancelled",
            AgentOutput { .. } => "agent_output",
            Log { .. } => "log_entry",
            WorkerConnected { .. } => "worker_connected",
            WorkerDisconnected { .. } => "worker_disconnected",
            WorkerRejected { .. } => "worker_rejected",
            WorkerMaintenance { .. } => "worker_maintenance",
            FrameRejected { .. } => "frame_rejected",
            AccessDenied { .. } => "access_denied",
            TaskRequeued { .. } => "task_requeued",
            ResultIgnored { .. } => "result_ignored",
            ScheduleFired { .. } => "schedule_fired",
            ScheduleSkipped { .. } => "schedule_skipped",
            ScheduleFailed { .. } => "schedule_failed",
        }
    }

    /// Every `event_type` word, for filter validation.
    pub const TYPES: [&'static str; 41] = [
        "swarm_started",
        "swarm_stopped",
        "swarm_failed",
        "agent_added",
        "agent_removed",
        "agent_started",
        "agent_exited",
        "agent_stopped",
        "agent_restarted",
        "agent_status",
        "group_scaled",
        "object_added",
        "object_removed",
        "object_configured",
        "object_exited",
        "object_stopped",
        "object_restarted",
        "supervisor_gave_up",
        "message_routed",
        "message_broadcast",
        "route_denied",
        "object_replied",
        "topology_changed",
        "task_queued",
        "task_started",
        "task_completed",
        "task_failed",
        "task_cancelled",
        "agent_output",
        "log_entry",
        "worker_connected",
        "worker_disconnected",
        "worker_rejected",
        "worker_maintenance",
        "frame_rejected",
        "access_denied",
        "task_requeued",
        "result_ignored",
        "schedule_fired",
        "schedule_skipped",
        "schedule_failed",
    ];

    /// The event's level.
    pub fn level(&self) -> Level {
        use EventKind::*;
        match self {
            SwarmFailed { .. } | SupervisorGaveUp { .. } | TaskFailed { .. } => Level::Error,
            AgentExited { .. }
            | ObjectExited { .. }
            | RouteDenied { .. }
            | WorkerDisconnected { .. }
            | WorkerRejected { .. }
            | FrameRejected { .. }
            | AccessDenied { .. }
            | TaskRequeued { .. }
            | ScheduleSkipped { .. }
            | ScheduleFailed { .. }
            | ResultIgnored { .. } => Level::Warning,
            AgentOutput { output: OutputKind::Token, .. }
            | MessageRouted { .. }
            | ObjectReplied { .. }
            | TaskStarted { .. }
            | AgentStatus { .. } => Level::Debug,
            Log { level, .. } => *level,
            _ => Level::Info,
        }
    }

    /// The event's category.
    pub fn category(&self) -> Category {
        use EventKind::*;
        match self {
            SwarmStarted { .. } | SwarmStopped { .. } | SwarmFailed { .. } | SupervisorGaveUp { .. } => Category::Swarm,
            AgentAdded { .. }
            | AgentRemoved
            | AgentStarted { .. }
            | AgentExited { .. }
            | AgentRestarted { .. }
            | AgentStopped
            | AgentStatus { .. }
            | GroupScaled { .. }
            | AgentOutput { .. } => Category::Agent,
            ObjectAdded { .. }
            | ObjectRemoved
            | ObjectConfigured
            | ObjectExited { .. }
            | ObjectRestarted { .. }
            | ObjectStopped => Category::Object,
            MessageRouted { .. }
            | MessageBroadcast { .. }
            | RouteDenied { .. }
            | ObjectReplied { .. }
            | TopologyChanged { .. } => Category::Routing,
            TaskQueued { .. }
            | TaskStarted { .. }
            | TaskCompleted { .. }
            | TaskFailed { .. }
            | TaskCancelled { .. }
            | TaskRequeued { .. }
            | ScheduleFired { .. }
            | ScheduleSkipped { .. }
            | ScheduleFailed { .. }
            | ResultIgnored { .. } => Category::Task,
            Log { .. } => Category::Backend,
            WorkerConnected { .. }
            | WorkerDisconnected { .. }
            | WorkerRejected { .. }
            | WorkerMaintenance { .. }
            | FrameRejected { .. } => Category::Worker,
            AccessDenied { .. } => Category::System,
        }
    }

    /// A one-line human description.
    pub fn message(&self) -> String {
        use EventKind::*;
        match self {
            SwarmStarted { agents, objects } => {
                format!("swarm started with {agents} agents and {objects} objects")
            }
            SwarmStopped { reason } => format!("swarm stopped ({reason})"),
            SwarmFailed { reason } => format!("swarm failed: {reason}"),
            AgentAdded { backend, .. } => format!("agent added ({backend})"),
            AgentRemoved => "agent removed".into(),
            AgentStopped => "agent stopped".into(),
            ObjectStopped => "object stopped".into(),
            AgentStarted { incarnation: 0 } => "agent started".into(),
            AgentStarted { incarnation } => format!("agent started (incarnation {incarnation})"),
            AgentExited { reason, restarting: true } => format!("agent exited ({reason}), restarting"),
            AgentExited { reason, restarting: false } => format!("agent exited ({reason})"),
            AgentRestarted { restarts } => format!("agent restarted ({restarts} restarts)"),
            AgentStatus { state } => format!("agent is {state}"),
            GroupScaled { group, from, to } => format!("group {group} scaled from {from} to {to}"),
            ObjectAdded { kind } => format!("object added ({kind})"),
            ObjectRemoved => "object removed".into(),
            ObjectConfigured => "object configuration updated".into(),
            ObjectExited { reason, restarting: true } => format!("object exited ({reason}), restarting"),
            ObjectExited { reason, restarting: false } => format!("object exited ({reason})"),
            ObjectRestarted { restarts } => format!("object restarted ({restarts} restarts)"),
            SupervisorGaveUp { supervisor, reason } => {
                format!("{supervisor} supervisor gave up: {reason}")
            }
            MessageRouted { from, to, .. } => format!("{from} → {to}"),
            MessageBroadcast { from, recipients } => {
                format!("{from} broadcast to {recipients} endpoints")
            }
            RouteDenied { from, to, reason } => format!("{from} → {to} denied: {reason}"),
            ObjectReplied { to, ok } => {
                format!("replied to {to} ({})", if *ok { "ok" } else { "error" })
            }
            TopologyChanged { added, removed } => {
                format!("topology changed: {} edges added, {} removed", added.len(), removed.len())
            }
            TaskQueued { task_id, from } => format!("task {task_id} queued by {from}"),
            TaskStarted { task_id } => format!("task {task_id} started"),
            TaskCompleted { task_id } => format!("task {task_id} completed"),
            TaskFailed { task_id, code, message } => format!("task {task_id} failed ({code}): {message}"),
            TaskCancelled { task_id } => format!("task {task_id} cancelled"),
            AgentOutput { content, .. } => preview(content).to_string(),
            Log { message, .. } => message.clone(),
            WorkerConnected { capabilities, slots } => {
                format!("worker connected with {slots} slot(s), capabilities [{}]", capabilities.join(", "))
            }
            WorkerDisconnected { reason, requeued } => {
                format!("worker disconnected ({reason}); {requeued} task(s) requeued")
            }
            WorkerRejected { reason } => format!("worker refused: {reason}"),
            WorkerMaintenance { accepting: true } => "worker accepts tasks again".into(),
            WorkerMaintenance { accepting: false } => "worker draining: no new tasks".into(),
            FrameRejected { reason } => format!("frame rejected: {reason}"),
            AccessDenied { token, role, needed, route, address } => {
                format!("access denied: token '{token}' ({role}) from {address} needs {needed} for {route}")
            }
            TaskRequeued { task_id, attempt } => format!("task {task_id} requeued (attempt {attempt})"),
            ResultIgnored { task_id, reason } => format!("a result for task {task_id} was ignored: {reason}"),
            ScheduleFired { schedule, task_id, caught_up: 0, .. } => {
                format!("schedule {schedule} fired task {task_id}")
            }
            ScheduleFired { schedule, task_id, caught_up, .. } => {
                format!("schedule {schedule} fired task {task_id}, catching up {caught_up} missed tick(s)")
            }
            ScheduleSkipped { schedule, missed, reason, .. } => {
                format!("schedule {schedule} skipped {missed} tick(s): {reason}")
            }
            ScheduleFailed { schedule, error, .. } => format!("schedule {schedule} failed to fire: {error}"),
        }
    }

    /// The structured fields.
    pub fn metadata(&self) -> Value {
        use EventKind::*;
        match self {
            SwarmStarted { agents, objects } => json!({"agents": agents, "objects": objects}),
            SwarmStopped { reason } | SwarmFailed { reason } => json!({"reason": reason}),
            AgentAdded { backend, group } => json!({"backend": backend, "group": group}),
            AgentRemoved | ObjectRemoved | ObjectConfigured | AgentStopped | ObjectStopped => {
                json!({})
            }
            AgentStarted { incarnation } => json!({"incarnation": incarnation}),
            AgentExited { reason, restarting } | ObjectExited { reason, restarting } => {
                json!({"reason": reason, "restarting": restarting})
            }
            AgentRestarted { restarts } | ObjectRestarted { restarts } => {
                json!({"restarts": restarts})
            }
            AgentStatus { state } => json!({"state": state}),
            GroupScaled { group, from, to } => json!({"group": group, "from": from, "to": to}),
            ObjectAdded { kind } => json!({"kind": kind}),
            SupervisorGaveUp { supervisor, reason } => {
                json!({"supervisor": supervisor, "reason": reason})
            }
            MessageRouted { from, to, content } => {
                json!({"from": from, "to": to, "content_preview": preview(content)})
            }
            MessageBroadcast { from, recipients } => {
                json!({"from": from, "recipients": recipients})
            }
            RouteDenied { from, to, reason } => json!({"from": from, "to": to, "reason": reason}),
            ObjectReplied { to, ok } => json!({"to": to, "ok": ok}),
            TopologyChanged { added, removed } => json!({"added": added, "removed": removed}),
            TaskQueued { task_id, from } => json!({"task_id": task_id, "from": from}),
            TaskStarted { task_id } | TaskCompleted { task_id } | TaskCancelled { task_id } => {
                json!({"task_id": task_id})
            }
            TaskFailed { task_id, code, message } => {
                json!({"task_id": task_id, "code": code, "error": message})
            }
            AgentOutput { task_id, output, content } => {
                json!({"task_id": task_id, "kind": output, "content": content})
            }
            Log { level, .. } => json!({"level": level}),
            WorkerConnected { capabilities, slots } => json!({"capabilities": capabilities, "slots": slots}),
            WorkerDisconnected { reason, requeued } => json!({"reason": reason, "requeued": requeued}),
            WorkerRejected { reason } | FrameRejected { reason } => json!({"reason": reason}),
            WorkerMaintenance { accepting } => json!({"accepting": accepting}),
            AccessDenied { token, role, needed, route, address } => {
                json!({"token": token, "role": role, "needed": needed, "route": route, "address": address})
            }
            TaskRequeued { task_id, attempt } => json!({"task_id": task_id, "attempt": attempt}),
            ResultIgnored { task_id, reason } => json!({"task_id": task_id, "reason": reason}),
            ScheduleFired { schedule, task_id, tick_ms, caught_up } => {
                json!({"schedule": schedule, "task_id": task_id, "tick": crate::events::rfc3339_ms(*tick_ms), "caught_up": caught_up})
            }
            ScheduleSkipped { schedule, tick_ms, missed, reason } => {
                json!({"schedule": schedule, "tick": crate::events::rfc3339_ms(*tick_ms), "missed": missed, "reason": reason})
            }
            ScheduleFailed { schedule, tick_ms, error } => {
                json!({"schedule": schedule, "tick": crate::events::rfc3339_ms(*tick_ms), "error": error})
            }
        }
    }
}

#[cfg(test)]
mod tests;
