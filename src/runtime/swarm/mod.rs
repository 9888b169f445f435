//! The swarm actor: the one owner of a running swarm's effective spec, and
//! the API through which it changes (add/remove agents and objects, edges,
//! scaling) and is read (status, topology, snapshot).
//!
//! Every change is checked completely before anything is applied: a change
//! that is refused leaves the swarm exactly as it was. Changes are applied in
//! the order they arrive. When the swarm's tree gives up, the swarm actor
//! emits `swarm_failed` and stops with the reason, which the registry keeps.

pub(crate) mod agent;
pub(crate) mod ctx;
pub(crate) mod handle;
pub(crate) mod mailbox;
pub(crate) mod object;
mod ops;
pub(crate) mod router;
pub(crate) mod sample;
pub(crate) mod slot;
mod tasks;
pub(crate) use tasks::not_recorded;
pub(crate) use tasks::{MAX_CONTENT_BYTES, cancel_on, enqueue_on, open_then_queue};
mod status;
mod tree;

use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde::Serialize;
use serde_json::Value;

pub use status::{AgentStatus, GroupStatus, ObjectStatus, SupervisionView, SwarmState, SwarmStatus};

use crate::config::{AgentSpec, Edge, ObjectSpec, SwarmSpec};
use crate::error::{HiveError, Resource};
use crate::events::{EventBus, EventKind, now_ms};
use crate::objects::ObjectKinds;
use crate::runtime::overlay::OverlayOp;
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Task, TaskOwner};
use crate::runtime::swarm::router::{EndpointSender, RoutedMessage, RouterCell, RouterMsg};
use crate::runtime::swarm::slot::HistoryEntry;
use crate::supervisor::{ActorExit, ExitReason, SupervisorMsg, exit_of, stop_child};
use tree::{Slots, SwarmShared};

/// Bounds applied to every swarm.
#[derive(Debug, Clone, Copy)]
pub struct SwarmLimits {
    /// Items an agent's or object's mailbox holds.
    pub mailbox_capacity: usize,
    /// Longest line a stdio child may write (longer ones are discarded and reported).
    pub max_line_bytes: usize,
}

impl Default for SwarmLimits {
    fn default() -> Self {
        Self { mailbox_capacity: 10_000, max_line_bytes: crate::runtime::swarm::agent::process::DEFAULT_MAX_LINE_BYTES }
    }
}

/// Start arguments of a swarm actor.
pub(crate) struct SwarmArgs {
    /// The validated spec.
    pub spec: SwarmSpec,
    /// The event bus.
    pub bus: EventBus,
    /// Known object kinds.
    pub kinds: ObjectKinds,
    /// Bounds.
    pub limits: SwarmLimits,
    /// Where applied changes are recorded (the overlay), if durable.
    pub store: Option<crate::store::Writer>,
    /// The dispatcher's registry name, when the gateway runs.
    pub dispatcher: Option<Arc<str>>,
    /// The task book.
    pub tasks: crate::task::TaskBook,
    /// Where the process groups of stdio children are recorded.
    pub groups: crate::runtime::swarm::agent::process::groups::ChildGroups,
}

/// Reads one agent's status without a message round trip: its published
/// counters live in the agent's slot. A probe follows the agent it was made
/// for until that agent is removed (a later agent of the same name is new).
#[derive(Clone)]
pub struct AgentProbe {
    slot: Arc<crate::runtime::swarm::slot::AgentSlot>,
}

impl AgentProbe {
    /// The agent's status, as [`AgentStatus`].
    pub fn status(&self) -> AgentStatus {
        AgentStatus::of(&self.slot)
    }

    /// Routed messages received so far (one atomic load).
    pub fn messages_received(&self) -> u64 {
        self.slot.status.messages_received()
    }

    /// Restarts so far (one atomic load).
    pub fn restarts(&self) -> u32 {
        self.slot.status.restarts()
    }

    /// The agent's state.
    pub fn state(&self) -> crate::runtime::swarm::slot::AgentState {
        self.slot.status.state()
    }
}

/// Result of scaling a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScaleResult {
    /// Members started.
    pub added: Vec<String>,
    /// Members stopped.
    pub removed: Vec<String>,
    /// Members that could not be started, with the reason.
    pub failed: Vec<ScaleFailure>,
}

/// A member that could not be started.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScaleFailure {
    /// Member name.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// Result of a topology change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EdgeChange {
    /// Edges added (already present ones are not counted).
    pub added: usize,
    /// Edges removed.
    pub removed: usize,
}

type Reply<T> = RpcReplyPort<Result<T, HiveError>>;

/// Messages a swarm actor handles (the runtime's library API, 1:1: each
/// is one [`SwarmHandle`](crate::SwarmHandle) method). Changes of the swarm
/// (agents, objects, edges, scale) are recorded in its overlay when a store
/// is configured.
pub(crate) enum SwarmMsg {
    /// The swarm's status.
    Status(RpcReplyPort<SwarmStatus>),
    /// What the metrics show of it, with per-agent rows up to `usize` agents.
    Sample(usize, RpcReplyPort<sample::SwarmSample>),
    /// The effective spec: the seed with every runtime change applied.
    Spec(RpcReplyPort<SwarmSpec>),
    /// Add an agent (or a scale group).
    AddAgent {
        /// The agent.
        spec: AgentSpec,
        /// Endpoints it gets edges to.
        connections: Vec<String>,
        /// Endpoints that get edges to it.
        incoming: Vec<String>,
        /// The names of the agents started.
        reply: Reply<Vec<String>>,
    },
    /// Remove an agent (or every member of a group), by name; answers the removed names.
    RemoveAgent(String, Reply<Vec<String>>),
    /// Restart an agent, by name.
    RestartAgent(String, Reply<()>),
    /// An agent's live status, by name.
    AgentStatus(String, Reply<AgentStatus>),
    /// An agent's last (at most `usize`) task history entries.
    History(String, usize, Reply<Vec<HistoryEntry>>),
    /// Add an object.
    AddObject {
        /// The object.
        spec: ObjectSpec,
        /// Endpoints it gets edges to.
        connections: Vec<String>,
        /// Endpoints that get edges to it.
        incoming: Vec<String>,
        /// Done.
        reply: Reply<()>,
    },
    /// Remove an object, by name.
    RemoveObject(String, Reply<()>),
    /// An object's state as JSON, by name.
    ObjectState(String, Reply<Value>),
    /// Give an object (by name) a new configuration.
    ConfigureObject(String, Value, Reply<()>),
    /// Add and remove edges, all or nothing.
    UpdateEdges {
        /// Edges to add.
        add: Vec<Edge>,
        /// Edges to remove.
        remove: Vec<Edge>,
        /// How many changed.
        reply: Reply<EdgeChange>,
    },
    /// Grow or shrink a scale group.
    Scale {
        /// The group.
        group: String,
        /// Its new size.
        count: u64,
        /// The members started and stopped.
        reply: Reply<ScaleResult>,
    },
    /// Queue a task for an agent.
    SendTask {
        /// The agent (not a group: tasks go to one member).
        agent: String,
        /// The task's input.
        content: String,
        /// Who sends it.
        from: String,
        /// The name of the token that submits it.
        submitted_by: Option<String>,
        /// The schedule tick it is created for.
        tick: Option<crate::task::ScheduleTick>,
        /// Whether the task's updates come with its id.
        follow: bool,
        /// The task's id, and its updates when followed.
        reply: Reply<(Arc<str>, Option<crate::task::Follower>)>,
    },
    /// Cancel one of an agent's tasks.
    CancelTask {
        /// The agent.
        agent: String,
        /// The task.
        task_id: String,
        /// Done.
        reply: Reply<()>,
    },
    /// Route a message along the topology.
    SendMessage {
        /// The sending endpoint.
        from: String,
        /// The receiving endpoint.
        to: String,
        /// The message.
        content: String,
        /// The number of recipients.
        reply: Reply<usize>,
    },
    /// The last (at most `usize`) routed messages.
    Messages(usize, Reply<Vec<RoutedMessage>>),
    /// A sender that speaks for the named endpoint.
    Sender(String, Reply<EndpointSender>),
    /// Pause (`true`) or resume (`false`) every agent; answers how many changed.
    Pause(bool, Reply<usize>),
    /// An actor-free reader of one agent's status, by name.
    Probe(String, Reply<AgentProbe>),
    /// Queue a recorded task again under its own id (the restore after a
    /// restart of the runtime).
    Requeue {
        /// The agent.
        agent: String,
        /// The task's id, as recorded.
        task_id: String,
        /// The task's input.
        content: String,
        /// Who sent it.
        from: String,
        /// Done.
        reply: Reply<()>,
    },
    /// The runtime (not the user) is stopping this swarm: it stops with
    /// reason `shutdown`; `true` = the runtime records its tasks, so queued
    /// ones are left to the restore instead of failed.
    RuntimeShutdown(bool, RpcReplyPort<()>),
}

/// The swarm actor.
pub(crate) struct Swarm;

/// A running swarm's state.
pub(crate) struct SwarmRun {
    shared: Arc<SwarmShared>,
    spec: SwarmSpec,
    kinds: ObjectKinds,
    limits: SwarmLimits,
    top: Option<ActorRef<SupervisorMsg>>,
    started_at_ms: u64,
    store: Option<crate::store::Writer>,
    keep_queued_tasks: bool,
    runtime_shutdown: bool,
}

impl Actor for Swarm {
    type Msg = SwarmMsg;
    type State = SwarmRun;
    type Arguments = SwarmArgs;

    async fn pre_start(&self, myself: ActorRef<SwarmMsg>, a: SwarmArgs) -> Result<SwarmRun, ActorProcessingErr> {
        let name: Arc<str> = a.spec.name.as_str().into();
        let ctx = SwarmCtx {
            router: Arc::new(RouterCell::new(name.clone(), a.bus.clone())),
            swarm: name,
            bus: a.bus,
            max_line_bytes: a.limits.max_line_bytes,
            dispatcher: a.dispatcher.clone(),
            tasks: a.tasks,
            groups: a.groups,
        };
        let shared = Arc::new(SwarmShared {
            ctx,
            agents: RwLock::new(Slots::default()),
            objects: RwLock::new(Slots::default()),
            agents_sup: RwLock::new(None),
            objects_sup: RwLock::new(None),
        });
        let mut run = SwarmRun {
            shared,
            spec: SwarmSpec { agents: Vec::new(), objects: Vec::new(), topology: Vec::new(), ..a.spec.clone() },
            kinds: a.kinds,
            limits: a.limits,
            top: None,
            started_at_ms: now_ms(),
            store: a.store,
            keep_queued_tasks: false,
            runtime_shutdown: false,
        };
        run.load(&a.spec)?;
        let top = tree::start_tree(myself.get_cell(), run.shared.clone(), run.spec.supervision).await?;
        run.top = Some(top);
        let (agents, objects) = (run.shared.agent_slots().len(), run.shared.object_slots().len());
        run.shared.ctx.emit_swarm(EventKind::SwarmStarted { agents, objects });
        Ok(run)
    }

    async fn post_stop(&self, _: ActorRef<SwarmMsg>, run: &mut SwarmRun) -> Result<(), ActorProcessingErr> {
        if let Some(top) = run.top.take() {
            stop_child(top.get_cell(), crate::supervisor::Shutdown::Infinity).await;
            if !run.keep_queued_tasks {
                run.fail_queued_tasks(
                    crate::task::FailCode::SwarmStopped,
                    "the swarm stopped before running this task",
                );
            }
            // At a runtime shutdown a recorded swarm stays recorded as
            // running, to come back at the next start.
            let reason = if run.runtime_shutdown { "shutdown" } else { "requested" };
            run.shared.ctx.emit_swarm(EventKind::SwarmStopped { reason: reason.into() });
        }
        Ok(())
    }

    async fn handle(&self, _: ActorRef<SwarmMsg>, msg: SwarmMsg, run: &mut SwarmRun) -> Result<(), ActorProcessingErr> {
        match msg {
            SwarmMsg::Status(r) => {
                let _ = r.send(run.status());
            }
            SwarmMsg::Sample(per_agent, r) => {
                let _ = r.send(run.sample(per_agent));
            }
            SwarmMsg::Spec(r) => {
                let _ = r.send(run.effective_spec());
            }
            SwarmMsg::AddAgent { spec, connections, incoming, reply } => {
                if let Err(e) = run.writable() {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                let op = OverlayOp::add_agent(&spec, connections.clone(), incoming.clone());
                let r = run.add_agent(spec, connections, incoming).await;
                let _ = reply.send(run.persisted(r, op).await);
            }
            SwarmMsg::RemoveAgent(name, r) => {
                if let Err(e) = run.writable() {
                    let _ = r.send(Err(e));
                    return Ok(());
                }
                let op = OverlayOp::RemoveAgent { name: name.clone() };
                let res = run.remove_agent(&name).await;
                let _ = r.send(run.persisted(res, op).await);
            }
            SwarmMsg::RestartAgent(name, r) => {
                let _ = r.send(run.restart_agent(&name).await);
            }
            SwarmMsg::AgentStatus(name, r) => {
                let _ =
                    r.send(run.shared.agent(&name).map(|s| AgentStatus::of(&s)).ok_or_else(|| HiveError::agent(&name)));
            }
            SwarmMsg::History(name, limit, r) => {
                let _ =
                    r.send(run.shared.agent(&name).map(|s| s.history(limit)).ok_or_else(|| HiveError::agent(&name)));
            }
            SwarmMsg::AddObject { spec, connections, incoming, reply } => {
                if let Err(e) = run.writable() {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                let op = OverlayOp::add_object(&spec, connections.clone(), incoming.clone());
                let r = run.add_object(spec, connections, incoming).await;
                let _ = reply.send(run.persisted(r, op).await);
            }
            SwarmMsg::RemoveObject(name, r) => {
                if let Err(e) = run.writable() {
                    let _ = r.send(Err(e));
                    return Ok(());
                }
                let op = OverlayOp::RemoveObject { name: name.clone() };
                let res = run.remove_object(&name).await;
                let _ = r.send(run.persisted(res, op).await);
            }
            SwarmMsg::ObjectState(name, r) => run.object_state(&name, r),
            SwarmMsg::ConfigureObject(name, config, r) => {
                if let Err(e) = run.writable() {
                    let _ = r.send(Err(e));
                    return Ok(());
                }
                let op = OverlayOp::ConfigureObject { name: name.clone(), config: config.to_string() };
                let res = run.configure_object(&name, config).await;
                let _ = r.send(run.persisted(res, op).await);
            }
            SwarmMsg::UpdateEdges { add, remove, reply } => {
                if let Err(e) = run.writable() {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                let op = OverlayOp::Edges { add: add.clone(), remove: remove.clone() };
                let r = run.update_edges(add, remove);
                let r = match r {
                    Ok(c) if c.added + c.removed == 0 => Ok(c),
                    r => run.persisted(r, op).await,
                };
                let _ = reply.send(r);
            }
            SwarmMsg::Scale { group, count, reply } => {
                if let Err(e) = run.writable() {
                    let _ = reply.send(Err(e));
                    return Ok(());
                }
                let r = run.scale(&group, count).await;
                // Record the size reached (members that failed to start are not in it).
                let reached = run.spec.agents.iter().find(|a| a.name == group).and_then(|a| a.replicas).unwrap_or(0);
                let r = run.persisted(r, OverlayOp::Scale { group, count: reached }).await;
                let _ = reply.send(r);
            }
            SwarmMsg::SendTask { agent, content, from, submitted_by, tick, follow, reply } => {
                run.shared.ctx.bus.ready().await; // wait while the disk is behind with events
                let _ = reply.send(run.send_task(&agent, content, &from, (submitted_by, tick), follow).await);
            }
            SwarmMsg::RuntimeShutdown(keep_queued_tasks, reply) => {
                run.runtime_shutdown = true;
                run.keep_queued_tasks = keep_queued_tasks;
                let _ = reply.send(());
            }
            SwarmMsg::Requeue { agent, task_id, content, from, reply } => {
                let r = run.task_target(&agent).and_then(|slot| {
                    let task = Task {
                        id: task_id.as_str().into(),
                        content,
                        from: from.as_str().into(),
                        owner: TaskOwner::Book,
                    };
                    run.enqueue(&slot, task)
                });
                let _ = reply.send(r.map(|_| ()));
            }
            SwarmMsg::CancelTask { agent, task_id, reply } => {
                let _ = reply.send(run.cancel_task(&agent, &task_id).await);
            }
            SwarmMsg::SendMessage { from, to, content, reply } => {
                run.shared.ctx.bus.ready().await;
                run.send_message(from, to, content, reply);
            }
            SwarmMsg::Probe(name, reply) => {
                let r = run.shared.agent(&name).map(|slot| AgentProbe { slot }).ok_or_else(|| HiveError::agent(&name));
                let _ = reply.send(r);
            }
            SwarmMsg::Pause(pause, reply) => {
                let _ = reply.send(run.pause(pause).await);
            }
            SwarmMsg::Sender(from, reply) => {
                let r = if run.shared.ctx.router.table().endpoint(&from).is_some() {
                    Ok(EndpointSender { cell: run.shared.ctx.router.clone(), from: from.as_str().into() })
                } else {
                    Err(HiveError::not_found(Resource::Endpoint, from))
                };
                let _ = reply.send(r);
            }
            SwarmMsg::Messages(limit, reply) => match run.shared.ctx.router.router() {
                Some(router) => {
                    let r = ractor::call!(router, RouterMsg::Messages, limit).map_err(HiveError::from);
                    let _ = reply.send(r);
                }
                None => {
                    let _ = reply.send(Err(HiveError::Unavailable("the router is restarting".into())));
                }
            },
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SwarmMsg>,
        e: SupervisionEvent,
        run: &mut SwarmRun,
    ) -> Result<(), ActorProcessingErr> {
        let Some((_, reason)) = exit_of(e) else { return Ok(()) };
        // The top supervisor exited on its own: the swarm has failed.
        run.top = None;
        let reason = match reason {
            ExitReason::GaveUp(r) => innermost(&r).to_string(),
            other => other.to_string(),
        };
        run.fail_queued_tasks(crate::task::FailCode::SwarmFailed, "the swarm failed before running this task");
        run.shared.ctx.emit_swarm(EventKind::SwarmFailed { reason: reason.clone() });
        drop(myself);
        Err(Box::new(ActorExit(ExitReason::GaveUp(reason))))
    }
}

impl SwarmRun {
    /// Sends a task: it is opened in the task book (with a store, its
    /// record is durable) before it is queued, so that it is queued again
    /// after a crash.
    async fn send_task(
        &self,
        agent: &str,
        content: String,
        from: &str,
        (submitted_by, tick): (Option<String>, Option<crate::task::ScheduleTick>),
        follow: bool,
    ) -> Result<(Arc<str>, Option<crate::task::Follower>), HiveError> {
        let (slot, task) = self.prepare_task(agent, content, from)?;
        let mut record = crate::task::TaskRecord::queued(
            &task.id,
            crate::task::Transport::Agent,
            &self.spec.name,
            &slot.name,
            &task.content,
            &task.from,
        );
        record.submitted_by = submitted_by;
        record.tick = tick;
        open_then_queue(&self.shared.ctx.tasks, record, follow, || self.enqueue(&slot, task)).await
    }

    /// `Err` while the store is unavailable (its disk failed): a change
    /// that must be recorded is refused before anything of it is applied.
    fn writable(&self) -> Result<(), HiveError> {
        match &self.store {
            Some(w) => w.writable().map_err(|e| e.to_hive("the change was not applied")),
            None => Ok(()),
        }
    }

    /// Records an applied change in the overlay (durably, when the swarm has
    /// a store) before its result goes back to the caller.
    async fn persisted<T>(&self, result: Result<T, HiveError>, op: OverlayOp) -> Result<T, HiveError> {
        let value = result?;
        if let Some(store) = &self.store {
            store
                .append_overlay(&self.spec.name, op.encode())
                .await
                .map_err(|e| e.to_hive("the change was applied but could not be recorded durably"))?;
        }
        Ok(value)
    }
}

/// The innermost reason of nested give-ups ("... last: 'agents' gave up: X" → X).
fn innermost(reason: &str) -> &str {
    match reason.rfind("gave up: ") {
        Some(i) => &reason[i + "gave up: ".len()..],
        None => reason,
    }
}
