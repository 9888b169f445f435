//! A generic OTP supervisor on top of ractor.
//!
//! ractor links actors and reports [`SupervisionEvent`]s but restarts nothing
//! by itself; this module owns the restart logic. A [`Supervisor`] keeps an
//! ordered list of children (start order), each with a [`ChildSpec`]
//! (restart type, shutdown policy, start function), and applies its
//! [`Strategy`] and [`Intensity`] when one exits:
//!
//! * a child is restarted when its [`Restart`] type says so for the exit reason;
//! * `one_for_all` / `rest_for_one` first stop the affected siblings in
//!   reverse start order (temporary siblings are removed, not restarted),
//!   then start them again in start order;
//! * every restart decision is counted by the [`RestartLimiter`]; exceeding
//!   the intensity stops all children (reverse order, graceful) and the
//!   supervisor fails with [`ExitReason::GaveUp`], which its parent sees;
//! * stopping the supervisor stops its children in reverse start order, each
//!   with its own [`Shutdown`] policy (graceful, then kill).
//!
//! Children are matched to supervision events by actor id, so the exit of an
//! incarnation that the supervisor itself replaced or stopped is ignored.

mod limiter;
mod stop;
mod types;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

pub use limiter::{Decision, RestartLimiter};
pub use stop::{ActorExit, exit_of, exit_reason_of_failure, exit_reason_of_stop, spawn_error, stop_child};
pub use types::{ExitReason, Intensity, Restart, Shutdown, Strategy};

/// The future a [`StartFn`] returns: the started, linked child, or why not.
pub type StartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, StartError>> + Send>>;

/// Why a child did not start: the actor's own reason (its `pre_start`
/// error), in words. A failed spawn converts with `?`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl From<String> for StartError {
    fn from(why: String) -> Self {
        Self(why)
    }
}

impl From<ractor::SpawnErr> for StartError {
    fn from(e: ractor::SpawnErr) -> Self {
        Self(spawn_error(&e))
    }
}

/// Starts one incarnation of a child, linked to the given supervisor cell.
pub type StartFn = Arc<dyn Fn(ActorCell) -> StartFuture + Send + Sync>;

/// How to start, restart and stop one child.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among the supervisor's children.
    pub id: Arc<str>,
    /// When the child is restarted.
    pub restart: Restart,
    /// How the child is stopped.
    pub shutdown: Shutdown,
    /// Starts an incarnation, linked to the supervisor passed in.
    pub start: StartFn,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

/// Callbacks through which a supervisor reports what it does (events, status).
/// They run inside the supervisor and must not block.
pub trait SupervisorHooks: Send + Sync + 'static {
    /// A child exited; `restarting` says whether a restart follows.
    fn child_exited(&self, _id: &str, _reason: &ExitReason, _restarting: bool) {}
    /// A running child was stopped because a sibling's restart takes it along;
    /// it starts again with the group.
    fn child_restarting(&self, _id: &str) {}
    /// A child was started again after an exit; `restarts` counts its restarts.
    fn child_restarted(&self, _id: &str, _restarts: u32) {}
    /// The supervisor reached its intensity and is giving up.
    fn gave_up(&self, _reason: &str) {}
}

/// Hooks that report nothing.
pub struct NoHooks;
impl SupervisorHooks for NoHooks {}

/// Start arguments of a [`Supervisor`].
pub struct SupervisorArgs {
    /// Restart strategy.
    pub strategy: Strategy,
    /// Restart intensity and backoff.
    pub intensity: Intensity,
    /// Initial children, started in order; a failure to start fails the supervisor.
    pub children: Vec<ChildSpec>,
    /// Observer of exits and restarts.
    pub hooks: Arc<dyn SupervisorHooks>,
}

/// Errors of the supervisor's child-management calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// No child with that id.
    #[error("no child named '{0}'")]
    NotFound(String),
    /// A child with that id already exists.
    #[error("a child named '{0}' already exists")]
    AlreadyExists(String),
    /// The child's start function failed.
    #[error("child '{0}' failed to start: {1}")]
    StartFailed(String, StartError),
}

/// What a supervisor reports about one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: Arc<str>,
    /// Whether an incarnation is running (false while waiting for a restart).
    pub running: bool,
    /// How many times it was restarted.
    pub restarts: u32,
}

/// How much of its restart intensity a supervisor uses now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntensityUsed {
    /// Restarts inside the sliding window now.
    pub recent: u32,
    /// The most the window allows (one more gives up).
    pub max_restarts: u32,
}

/// Messages a [`Supervisor`] handles.
pub enum SupervisorMsg {
    /// Add a child at the end of the start order and start it.
    StartChild(ChildSpec, RpcReplyPort<Result<(), SupervisorError>>),
    /// Add and start several children, in order; one result each.
    StartChildren(Vec<ChildSpec>, RpcReplyPort<Vec<Result<(), SupervisorError>>>),
    /// Stop a child with its shutdown policy and forget it.
    TerminateChild(Arc<str>, RpcReplyPort<Result<(), SupervisorError>>),
    /// Stop several children (in the given order, concurrently) and forget them.
    TerminateChildren(Vec<Arc<str>>, RpcReplyPort<Vec<Result<(), SupervisorError>>>),
    /// Stop a child and start it again (not counted against the intensity).
    RestartChild(Arc<str>, RpcReplyPort<Result<(), SupervisorError>>),
    /// The children, in start order.
    WhichChildren(RpcReplyPort<Vec<ChildInfo>>),
    /// The restart intensity in use: restarts inside the window now, and
    /// the most the window allows.
    IntensityUsed(RpcReplyPort<IntensityUsed>),
    /// Internal: a backoff delay elapsed; restart the pending children.
    RestartPending(u64),
}

/// The supervisor actor. See the module documentation for its semantics.
pub struct Supervisor;

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    restarts: u32,
}

/// The supervisor's state (owned by the actor; never shared).
pub struct SupervisorState {
    strategy: Strategy,
    limiter: RestartLimiter,
    hooks: Arc<dyn SupervisorHooks>,
    children: BTreeMap<u64, Child>,
    by_id: HashMap<Arc<str>, u64>,
    by_actor: HashMap<ActorId, u64>,
    next_key: u64,
    pending: BTreeSet<u64>,
    generation: u64,
}

type HandlerResult = Result<(), ActorProcessingErr>;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            strategy: args.strategy,
            limiter: RestartLimiter::new(args.intensity),
            hooks: args.hooks,
            children: BTreeMap::new(),
            by_id: HashMap::new(),
            by_actor: HashMap::new(),
            next_key: 0,
            pending: BTreeSet::new(),
            generation: 0,
        };
        for spec in args.children {
            if let Err(e) = state.add_and_start(&myself, spec).await {
                state.stop_all().await;
                return Err(Box::new(e));
            }
        }
        Ok(state)
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        state.stop_all().await;
        Ok(())
    }

    async fn handle(&self, myself: ActorRef<Self::Msg>, msg: Self::Msg, state: &mut Self::State) -> HandlerResult {
        match msg {
            SupervisorMsg::StartChild(spec, reply) => {
                let r = state.add_and_start(&myself, spec).await;
                let _ = reply.send(r);
            }
            SupervisorMsg::StartChildren(specs, reply) => {
                let mut out = Vec::with_capacity(specs.len());
                for spec in specs {
                    out.push(state.add_and_start(&myself, spec).await);
                }
                let _ = reply.send(out);
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let r = state.terminate(std::slice::from_ref(&id)).await.remove(0);
                let _ = reply.send(r);
            }
            SupervisorMsg::TerminateChildren(ids, reply) => {
                let _ = reply.send(state.terminate(&ids).await);
            }
            SupervisorMsg::RestartChild(id, reply) => {
                let r = state.restart_child(&myself, &id).await;
                let failed = matches!(r, Err(SupervisorError::StartFailed(..)));
                let _ = reply.send(r);
                if failed {
                    // The old incarnation is gone and the new one did not start:
                    // restart it like any child that needs one (intensity, backoff).
                    state.retry_start(&myself, &id).await?;
                }
            }
            SupervisorMsg::WhichChildren(reply) => {
                let _ = reply.send(state.which_children());
            }
            SupervisorMsg::IntensityUsed(reply) => {
                let max = state.limiter.intensity().max_restarts;
                let _ = reply.send(IntensityUsed { recent: state.limiter.recent(Instant::now()), max_restarts: max });
            }
            SupervisorMsg::RestartPending(generation) => {
                if generation == state.generation {
                    state.restart_pending(&myself).await?;
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> HandlerResult {
        let Some((cell, reason)) = exit_of(event) else { return Ok(()) };
        let Some(key) = state.by_actor.remove(&cell.get_id()) else {
            return Ok(()); // an incarnation we stopped or replaced ourselves
        };
        state.on_child_exit(&myself, key, reason).await
    }
}

impl SupervisorState {
    async fn add_and_start(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<(), SupervisorError> {
        if self.by_id.contains_key(&spec.id) {
            return Err(SupervisorError::AlreadyExists(spec.id.to_string()));
        }
        let cell =
            (spec.start)(myself.get_cell()).await.map_err(|e| SupervisorError::StartFailed(spec.id.to_string(), e))?;
        let key = self.next_key;
        self.next_key += 1;
        self.by_id.insert(spec.id.clone(), key);
        self.by_actor.insert(cell.get_id(), key);
        self.children.insert(key, Child { spec, cell: Some(cell), restarts: 0 });
        Ok(())
    }

    async fn terminate(&mut self, ids: &[Arc<str>]) -> Vec<Result<(), SupervisorError>> {
        let mut stops = Vec::new();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(key) = self.by_id.remove(id) else {
                out.push(Err(SupervisorError::NotFound(id.to_string())));
                continue;
            };
            self.pending.remove(&key);
            if let Some(child) = self.children.remove(&key)
                && let Some(cell) = child.cell
            {
                self.by_actor.remove(&cell.get_id());
                stops.push(stop_child(cell, child.spec.shutdown));
            }
            out.push(Ok(()));
        }
        futures::future::join_all(stops).await;
        out
    }

    async fn restart_child(&mut self, myself: &ActorRef<SupervisorMsg>, id: &str) -> Result<(), SupervisorError> {
        let key = *self.by_id.get(id).ok_or_else(|| SupervisorError::NotFound(id.to_string()))?;
        let child = self.children.get_mut(&key).expect("by_id and children agree");
        if let Some(cell) = child.cell.take() {
            self.by_actor.remove(&cell.get_id());
            stop_child(cell, child.spec.shutdown).await;
        }
        self.pending.remove(&key);
        self.start_one(myself, key).await
    }

    async fn retry_start(&mut self, myself: &ActorRef<SupervisorMsg>, id: &str) -> HandlerResult {
        let Some(&key) = self.by_id.get(id) else { return Ok(()) };
        self.pending.insert(key);
        let reason = ExitReason::Failed("failed to start after a manual restart".into());
        match self.limiter.on_restart(Instant::now()) {
            Decision::Restart { after } => {
                self.hooks.child_exited(id, &reason, true);
                self.generation += 1;
                let generation = self.generation;
                myself.send_after(after.max(std::time::Duration::from_millis(10)), move || {
                    SupervisorMsg::RestartPending(generation)
                });
                Ok(())
            }
            Decision::GiveUp { restarts } => {
                self.hooks.child_exited(id, &reason, false);
                Err(self
                    .give_up(format!(
                        "reached max restart intensity: {restarts} restarts, last: '{id}' failed to start"
                    ))
                    .await)
            }
        }
    }

    fn which_children(&self) -> Vec<ChildInfo> {
        self.children
            .values()
            .map(|c| ChildInfo { id: c.spec.id.clone(), running: c.cell.is_some(), restarts: c.restarts })
            .collect()
    }

    async fn on_child_exit(&mut self, myself: &ActorRef<SupervisorMsg>, key: u64, reason: ExitReason) -> HandlerResult {
        let Some(child) = self.children.get_mut(&key) else {
            return Ok(());
        };
        child.cell = None;
        let id = child.spec.id.clone();
        if !child.spec.restart.should_restart(&reason) {
            self.hooks.child_exited(&id, &reason, false);
            self.forget(key);
            return Ok(());
        }
        // Decide first, so that the hook hears whether a restart really follows.
        let after = match self.limiter.on_restart(Instant::now()) {
            Decision::Restart { after } => after,
            Decision::GiveUp { restarts } => {
                self.hooks.child_exited(&id, &reason, false);
                let window = self.limiter.intensity().window;
                return Err(self
                    .give_up(format!(
                        "reached max restart intensity: {restarts} restarts within {window:?}, last: '{id}' {reason}"
                    ))
                    .await);
            }
        };
        self.hooks.child_exited(&id, &reason, true);
        let group: Vec<u64> = match self.strategy {
            Strategy::OneForOne => vec![key],
            Strategy::OneForAll => self.children.keys().copied().collect(),
            Strategy::RestForOne => self.children.range(key..).map(|(k, _)| *k).collect(),
        };
        // Stop the affected siblings, last started first.
        for &k in group.iter().rev().filter(|&&k| k != key) {
            let Some(sibling) = self.children.get_mut(&k) else {
                continue;
            };
            if let Some(cell) = sibling.cell.take() {
                self.by_actor.remove(&cell.get_id());
                stop_child(cell, sibling.spec.shutdown).await;
            }
            let sid = sibling.spec.id.clone();
            if sibling.spec.restart == Restart::Temporary {
                // Not restarted: it leaves the supervisor, as if it had exited.
                self.hooks.child_exited(&sid, &ExitReason::Shutdown, false);
                self.forget(k);
            } else {
                self.hooks.child_restarting(&sid);
            }
        }
        self.pending.extend(group.into_iter().filter(|k| self.children.contains_key(k)));
        self.generation += 1;
        if after.is_zero() {
            self.restart_pending(myself).await
        } else {
            let generation = self.generation;
            myself.send_after(after, move || SupervisorMsg::RestartPending(generation));
            Ok(())
        }
    }

    /// Starts the pending children in start order. A child that fails to
    /// start counts as another restart against the intensity.
    async fn restart_pending(&mut self, myself: &ActorRef<SupervisorMsg>) -> HandlerResult {
        while let Some(&key) = self.pending.first() {
            self.pending.remove(&key);
            let Err(e) = self.start_one(myself, key).await else {
                continue;
            };
            self.pending.insert(key);
            let id = self.children[&key].spec.id.clone();
            let reason = ExitReason::Failed(e.to_string());
            match self.limiter.on_restart(Instant::now()) {
                Decision::Restart { after } if after.is_zero() => self.hooks.child_exited(&id, &reason, true),
                Decision::Restart { after } => {
                    self.hooks.child_exited(&id, &reason, true);
                    self.generation += 1;
                    let generation = self.generation;
                    myself.send_after(after, move || SupervisorMsg::RestartPending(generation));
                    return Ok(());
                }
                Decision::GiveUp { restarts } => {
                    self.hooks.child_exited(&id, &reason, false);
                    return Err(self
                        .give_up(format!("reached max restart intensity: {restarts} restarts, last: {e}"))
                        .await);
                }
            }
        }
        Ok(())
    }

    async fn start_one(&mut self, myself: &ActorRef<SupervisorMsg>, key: u64) -> Result<(), SupervisorError> {
        let child = self.children.get_mut(&key).expect("pending child exists");
        let cell = (child.spec.start)(myself.get_cell())
            .await
            .map_err(|e| SupervisorError::StartFailed(child.spec.id.to_string(), e))?;
        child.restarts += 1;
        self.by_actor.insert(cell.get_id(), key);
        child.cell = Some(cell);
        self.hooks.child_restarted(&child.spec.id, child.restarts);
        Ok(())
    }

    fn forget(&mut self, key: u64) {
        if let Some(child) = self.children.remove(&key) {
            self.by_id.remove(&child.spec.id);
        }
        self.pending.remove(&key);
    }

    async fn give_up(&mut self, reason: String) -> ActorProcessingErr {
        self.hooks.gave_up(&reason);
        self.stop_all().await;
        Box::new(ActorExit(ExitReason::GaveUp(reason)))
    }

    /// Stops every running child, last started first, each with its policy.
    async fn stop_all(&mut self) {
        self.pending.clear();
        self.generation += 1;
        let keys: Vec<u64> = self.children.keys().rev().copied().collect();
        for key in keys {
            if let Some(child) = self.children.get_mut(&key)
                && let Some(cell) = child.cell.take()
            {
                self.by_actor.remove(&cell.get_id());
                stop_child(cell, child.spec.shutdown).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
