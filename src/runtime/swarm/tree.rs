//! Builds a swarm's supervision tree:
//!
//! ```text
//! swarm:<name>        the swarm actor (API, effective spec)
//! └─ top              supervisor, rest_for_one, intensity 0
//!    ├─ router
//!    ├─ agents        supervisor: the swarm file's strategy and intensity
//!    └─ objects       supervisor: one_for_one, the swarm file's intensity
//! ```
//!
//! `top` has intensity 0: when the agents or objects supervisor gives up (or
//! the router dies) the whole swarm fails, and only this swarm. Child
//! supervisors read the *current* endpoints when they (re)start, so a restart
//! never brings back a removed agent or forgets an added one.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ractor::{Actor, ActorRef};

use crate::config::SupervisionSpec;
use crate::events::EventKind;
use crate::runtime::swarm::agent::{child_spec as agent_child, report_exit};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::object::{Object, ObjectArgs};
use crate::runtime::swarm::router::{Router, RouterArgs};
use crate::runtime::swarm::slot::{AgentSlot, AgentState, ObjectSlot};
use crate::supervisor::{
    ChildSpec, ExitReason, Intensity, Restart, Shutdown, Strategy, Supervisor, SupervisorArgs, SupervisorHooks,
    SupervisorMsg,
};

/// Slots in start order, with lookup by name.
pub(crate) struct Slots<T> {
    /// In start (insertion) order.
    pub order: Vec<Arc<T>>,
    /// By name.
    pub by_name: HashMap<Arc<str>, Arc<T>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self { order: Vec::new(), by_name: HashMap::new() }
    }
}

impl<T> Slots<T> {
    /// Appends a slot.
    pub(crate) fn insert(&mut self, name: Arc<str>, slot: Arc<T>) {
        self.order.push(slot.clone());
        self.by_name.insert(name, slot);
    }

    /// Removes the named slots.
    pub(crate) fn remove(&mut self, names: &[Arc<str>]) -> Vec<Arc<T>> {
        let gone: Vec<Arc<T>> = names.iter().filter_map(|n| self.by_name.remove(n)).collect();
        self.order.retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)));
        gone
    }
}

/// What the swarm actor shares with its supervisors' start functions and hooks.
pub(crate) struct SwarmShared {
    /// The swarm's context.
    pub ctx: SwarmCtx,
    /// Agents by name, in start order.
    pub agents: RwLock<Slots<AgentSlot>>,
    /// Objects by name, in start order.
    pub objects: RwLock<Slots<ObjectSlot>>,
    /// The running agents supervisor.
    pub agents_sup: RwLock<Option<ActorRef<SupervisorMsg>>>,
    /// The running objects supervisor.
    pub objects_sup: RwLock<Option<ActorRef<SupervisorMsg>>>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// Write access that survives a poisoned lock.
pub(crate) fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl SwarmShared {
    /// The running agents supervisor.
    pub(crate) fn agents_sup(&self) -> Option<ActorRef<SupervisorMsg>> {
        read(&self.agents_sup).clone()
    }
    /// The running objects supervisor.
    pub(crate) fn objects_sup(&self) -> Option<ActorRef<SupervisorMsg>> {
        read(&self.objects_sup).clone()
    }
    /// An agent's slot.
    pub(crate) fn agent(&self, name: &str) -> Option<Arc<AgentSlot>> {
        read(&self.agents).by_name.get(name).cloned()
    }
    /// An object's slot.
    pub(crate) fn object(&self, name: &str) -> Option<Arc<ObjectSlot>> {
        read(&self.objects).by_name.get(name).cloned()
    }
    /// Every agent slot in start order.
    pub(crate) fn agent_slots(&self) -> Vec<Arc<AgentSlot>> {
        read(&self.agents).order.clone()
    }
    /// Every object slot in start order.
    pub(crate) fn object_slots(&self) -> Vec<Arc<ObjectSlot>> {
        read(&self.objects).order.clone()
    }
}

/// The intensity a swarm file asks for.
pub(crate) fn intensity_of(s: &SupervisionSpec) -> Intensity {
    Intensity {
        max_restarts: s.max_restarts,
        window: Duration::from_secs(u64::from(s.max_seconds)),
        backoff: Duration::from_millis(s.backoff_ms),
        backoff_max: Duration::from_millis(s.backoff_max_ms),
    }
}

/// The child spec of one object.
pub(crate) fn object_child(slot: Arc<ObjectSlot>, ctx: SwarmCtx) -> ChildSpec {
    ChildSpec {
        id: slot.name.clone(),
        restart: slot.spec().restart,
        shutdown: Shutdown::Timeout(Duration::from_secs(5)),
        start: Arc::new(move |sup| {
            let args = ObjectArgs { slot: slot.clone(), ctx: ctx.clone() };
            Box::pin(async move {
                let (r, _) = Actor::spawn_linked(None, Object, args, sup).await.map_err(|e| e.to_string())?;
                Ok(r.get_cell())
            })
        }),
    }
}

#[derive(Clone, Copy)]
enum Part {
    Agents,
    Objects,
}

/// Reports a child supervisor's exits and restarts as events and status.
struct EndpointHooks {
    shared: Arc<SwarmShared>,
    part: Part,
}

impl SupervisorHooks for EndpointHooks {
    fn child_exited(&self, id: &str, reason: &ExitReason, restarting: bool) {
        let ctx = &self.shared.ctx;
        let reason = reason.to_string();
        match self.part {
            Part::Agents => {
                if let Some(slot) = self.shared.agent(id) {
                    report_exit(ctx, &slot, reason, restarting);
                }
            }
            Part::Objects => {
                if let Some(slot) = self.shared.object(id) {
                    slot.status.set_state(if restarting { AgentState::Restarting } else { AgentState::Stopped });
                    ctx.emit(&slot.name, EventKind::ObjectExited { reason, restarting });
                }
            }
        }
    }
    fn child_restarting(&self, id: &str) {
        match self.part {
            Part::Agents => self.shared.agent(id).inspect(|s| s.status.set_state(AgentState::Restarting)).map(|_| ()),
            Part::Objects => self.shared.object(id).inspect(|s| s.status.set_state(AgentState::Restarting)).map(|_| ()),
        };
    }
    fn child_restarted(&self, id: &str, restarts: u32) {
        if let (Part::Agents, Some(slot)) = (self.part, self.shared.agent(id)) {
            self.shared.ctx.emit(&slot.name, EventKind::AgentRestarted { restarts });
        }
    }
    fn gave_up(&self, reason: &str) {
        let supervisor = match self.part {
            Part::Agents => "agents",
            Part::Objects => "objects",
        };
        self.shared.ctx.emit_swarm(EventKind::SupervisorGaveUp { supervisor, reason: reason.into() });
    }
}

fn endpoint_sup(shared: Arc<SwarmShared>, supervision: SupervisionSpec, part: Part) -> ChildSpec {
    let id = match part {
        Part::Agents => "agents",
        Part::Objects => "objects",
    };
    ChildSpec {
        id: id.into(),
        restart: Restart::Permanent,
        shutdown: Shutdown::Infinity,
        start: Arc::new(move |parent| {
            let shared = shared.clone();
            Box::pin(async move {
                let ctx = shared.ctx.clone();
                let (strategy, children) = match part {
                    Part::Agents => (
                        supervision.strategy,
                        shared.agent_slots().into_iter().map(|s| agent_child(s, ctx.clone())).collect(),
                    ),
                    Part::Objects => (
                        Strategy::OneForOne,
                        shared.object_slots().into_iter().map(|s| object_child(s, ctx.clone())).collect(),
                    ),
                };
                let hooks = Arc::new(EndpointHooks { shared: shared.clone(), part });
                let args = SupervisorArgs { strategy, intensity: intensity_of(&supervision), children, hooks };
                let (r, _) = Actor::spawn_linked(None, Supervisor, args, parent).await.map_err(|e| e.to_string())?;
                let cell = r.get_cell();
                let slot = match part {
                    Part::Agents => &shared.agents_sup,
                    Part::Objects => &shared.objects_sup,
                };
                *write(slot) = Some(r);
                Ok(cell)
            })
        }),
    }
}

fn router_child(shared: Arc<SwarmShared>) -> ChildSpec {
    ChildSpec {
        id: "router".into(),
        restart: Restart::Permanent,
        shutdown: Shutdown::Timeout(Duration::from_secs(5)),
        start: Arc::new(move |parent| {
            let ctx = shared.ctx.clone();
            Box::pin(async move {
                let args = RouterArgs { swarm: ctx.swarm.clone(), cell: ctx.router.clone(), bus: ctx.bus.clone() };
                let (r, _) = Actor::spawn_linked(None, Router, args, parent).await.map_err(|e| e.to_string())?;
                Ok(r.get_cell())
            })
        }),
    }
}

/// Starts the swarm's top supervisor (and so the whole tree) linked to `swarm`.
pub(crate) async fn start_tree(
    swarm: ractor::ActorCell,
    shared: Arc<SwarmShared>,
    supervision: SupervisionSpec,
) -> Result<ActorRef<SupervisorMsg>, String> {
    let children = vec![
        router_child(shared.clone()),
        endpoint_sup(shared.clone(), supervision, Part::Agents),
        endpoint_sup(shared, supervision, Part::Objects),
    ];
    let args = SupervisorArgs {
        strategy: Strategy::RestForOne,
        intensity: Intensity { max_restarts: 0, window: Duration::from_secs(1), ..Intensity::default() },
        children,
        hooks: Arc::new(crate::supervisor::NoHooks),
    };
    let (top, _) = Actor::spawn_linked(None, Supervisor, args, swarm).await.map_err(|e| e.to_string())?;
    Ok(top)
}
