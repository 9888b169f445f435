//! Standalone JSONL workers (the Sol gateway's `/api/v1/agents`): OS
//! processes outside any swarm, spawned, listed and killed through the API.
//!
//! Each worker runs under its own one-child supervisor (the pool's settings:
//! restart type per worker, shared intensity and backoff), so a worker that
//! crash-loops fails alone: it is kept as `failed` with its reason, the
//! others go on. Spawning is refused unless the worker's path, resolved
//! (symlinks and `..` removed), matches a `spawn_allow` glob; with no globs
//! configured nothing may be spawned. Workers have no topology: a `send`
//! from one is answered `denied`. Their events carry the swarm name
//! `_workers` (which no swarm can have). The filesystem checks of a spawn
//! (path resolution, the interpreter lookup) run in `spawn_blocking`, off
//! the pool actor's thread.

mod link;
mod status;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::config::{AgentSpec, BackendSpec, DEFAULT_KILL_TIMEOUT_MS, LaunchSpec, StdioSpec};
use crate::error::HiveError;
use crate::events::{EventBus, EventKind, now_ms, rfc3339_ms};
use crate::runtime::swarm::AgentStatus;
use crate::runtime::swarm::agent::process::allow::{allowed, unsafe_env, which};
use crate::runtime::swarm::agent::{child_spec, report_exit, retire};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Task, TaskOwner};
use crate::runtime::swarm::router::RouterCell;
use crate::runtime::swarm::router::table::{Endpoint, RoutingTable};
use crate::runtime::swarm::slot::{AgentSlot, AgentState};
use crate::runtime::swarm::{enqueue_on, open_then_queue};
use crate::supervisor::{
    ExitReason, Intensity, Restart, Shutdown, Strategy, Supervisor, SupervisorArgs, SupervisorHooks, SupervisorMsg,
    exit_of, spawn_error, stop_child,
};
pub use status::{PoolWorkerState, PoolWorkerStatus, WorkerStatus};

/// The swarm name on worker events.
pub const WORKERS_SWARM: &str = "_workers";
/// Most workers the pool runs at once.
pub const MAX_WORKERS: usize = 1_000;

/// Settings of the worker pool.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Globs of worker paths that may be spawned (relative globs are
    /// relative to the daemon's working directory). Empty: none.
    pub spawn_allow: Vec<String>,
    /// Restart intensity (and backoff) of each worker.
    pub intensity: Intensity,
    /// Inbox bound of each worker.
    pub mailbox_capacity: usize,
    /// Bound of a line a worker writes.
    pub max_line_bytes: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            spawn_allow: Vec::new(),
            intensity: Intensity {
                max_restarts: 5,
                window: Duration::from_secs(60),
                backoff: Duration::from_millis(100),
                backoff_max: Duration::from_secs(5),
            },
            mailbox_capacity: 10_000,
            max_line_bytes: crate::runtime::swarm::agent::process::DEFAULT_MAX_LINE_BYTES,
        }
    }
}

/// What to spawn.
#[derive(Debug, Clone, Default)]
pub struct SpawnRequest {
    /// The program (a `.py` file runs with `python3`).
    pub worker_path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Restart type (default permanent).
    pub restart: Restart,
    /// Graceful-stop timeout before SIGKILL (default 5 s).
    pub kill_timeout_ms: Option<u64>,
    /// What it can do, for dispatched tasks that need capabilities.
    pub capabilities: Vec<String>,
}

/// Messages of the pool.
pub(crate) enum PoolMsg {
    /// Spawn a worker (if `spawn_allow` permits its path); answers its id.
    Spawn(SpawnRequest, RpcReplyPort<Result<String, HiveError>>),
    /// The status of every worker.
    List(RpcReplyPort<Vec<WorkerStatus>>),
    /// The status of one worker, by id.
    Get(String, RpcReplyPort<Result<WorkerStatus, HiveError>>),
    /// Stop a worker, by id.
    Kill(String, RpcReplyPort<Result<(), HiveError>>),
    /// Queue a task (worker id, content, the submitting token's name) on a
    /// worker; answers the task id.
    Task(String, String, Option<String>, RpcReplyPort<Result<Arc<str>, HiveError>>),
    /// The slot and context of a worker, to cancel one of its tasks outside
    /// the pool's handler (the cancel waits on the worker).
    Cancel(String, RpcReplyPort<Result<(Arc<AgentSlot>, SwarmCtx), HiveError>>),
    /// A worker's dispatcher link ended on its own (the dispatcher went away).
    LinkEnded(String),
    /// Try to link a worker to the (restarted) dispatcher again; the number
    /// of tries so far.
    Relink(String, u32),
}

/// Tries to link a worker to a restarting dispatcher again, this far apart.
const RELINK_EVERY: Duration = Duration::from_millis(200);
/// Tries before a worker stays out of the dispatch pool (10 s in all).
const RELINK_TRIES: u32 = 50;

/// Start arguments of the pool.
pub(crate) struct PoolArgs {
    /// Settings.
    pub opts: WorkerOptions,
    /// The event bus.
    pub bus: EventBus,
    /// The task book: workers' tasks are opened and ended there, like
    /// swarm tasks.
    pub tasks: crate::task::TaskBook,
    /// The dispatcher's name: workers also take dispatched tasks.
    pub dispatcher: Option<Arc<str>>,
    /// Where the process groups of workers are recorded.
    pub groups: crate::runtime::swarm::agent::process::groups::ChildGroups,
}

struct Entry {
    slot: Arc<AgentSlot>,
    sup: Option<ActorRef<SupervisorMsg>>,
    path: String,
    args: Vec<String>,
    spawned_at_ms: u64,
    failure: Option<String>,
    /// Its dispatcher link, while it has one.
    link: Option<tokio::task::JoinHandle<()>>,
    /// What it can do, for dispatched tasks.
    capabilities: Vec<String>,
}

/// The pool actor.
#[derive(Clone, Copy)]
pub(crate) struct WorkerPool;

/// The pool's state.
pub(crate) struct PoolState {
    opts: WorkerOptions,
    dispatcher: Option<Arc<str>>,
    ctx: SwarmCtx,
    workers: BTreeMap<String, Entry>,
    by_sup: HashMap<ractor::ActorId, String>,
    next_id: u64,
}

struct WorkerHooks {
    ctx: SwarmCtx,
    slot: Arc<AgentSlot>,
}

impl SupervisorHooks for WorkerHooks {
    fn child_exited(&self, _id: &str, reason: &ExitReason, restarting: bool) {
        report_exit(&self.ctx, &self.slot, reason.to_string(), restarting);
    }
    fn child_restarted(&self, _id: &str, restarts: u32) {
        self.ctx.emit(&self.slot.name, EventKind::AgentRestarted { restarts });
    }
    fn gave_up(&self, reason: &str) {
        let reason = reason.into();
        self.ctx.emit(&self.slot.name, EventKind::SupervisorGaveUp { supervisor: "worker", reason });
    }
}

impl Actor for WorkerPool {
    type Msg = PoolMsg;
    type State = PoolState;
    type Arguments = PoolArgs;

    async fn pre_start(&self, _: ActorRef<PoolMsg>, a: PoolArgs) -> Result<PoolState, ActorProcessingErr> {
        let ctx = SwarmCtx {
            router: Arc::new(RouterCell::new(WORKERS_SWARM.into(), a.bus.clone())),
            swarm: WORKERS_SWARM.into(),
            bus: a.bus,
            max_line_bytes: a.opts.max_line_bytes,
            dispatcher: None,
            tasks: a.tasks,
            groups: a.groups,
        };
        Ok(PoolState {
            opts: a.opts,
            dispatcher: a.dispatcher,
            ctx,
            workers: BTreeMap::new(),
            by_sup: HashMap::new(),
            next_id: 1,
        })
    }

    async fn post_stop(&self, _: ActorRef<PoolMsg>, s: &mut PoolState) -> Result<(), ActorProcessingErr> {
        let sups: Vec<_> = s.workers.values_mut().rev().filter_map(|e| e.sup.take()).collect();
        futures::future::join_all(sups.into_iter().map(|sup| stop_child(sup.get_cell(), Shutdown::Infinity))).await;
        for link in s.workers.values_mut().filter_map(|e| e.link.take()) {
            link.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<PoolMsg>,
        msg: PoolMsg,
        s: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PoolMsg::Spawn(req, reply) => {
                let _ = reply.send(s.spawn(&myself, req).await);
            }
            PoolMsg::List(reply) => {
                let _ = reply.send(s.workers.iter().map(|(id, e)| status(id, e)).collect());
            }
            PoolMsg::Get(id, reply) => {
                let r = s.workers.get(&id).map(|e| status(&id, e)).ok_or(HiveError::worker(id));
                let _ = reply.send(r);
            }
            PoolMsg::Kill(id, reply) => {
                let _ = reply.send(s.kill(&id).await);
            }
            PoolMsg::Task(id, content, submitted_by, reply) => {
                let _ = reply.send(s.task(&id, content, submitted_by).await);
            }
            PoolMsg::Cancel(id, reply) => {
                let r = s.workers.get(&id).map(|e| (e.slot.clone(), s.ctx.clone())).ok_or(HiveError::worker(id));
                let _ = reply.send(r);
            }
            PoolMsg::LinkEnded(id) => {
                if let Some(e) = s.workers.get_mut(&id)
                    && e.link.take().is_some()
                {
                    let message = format!("worker {id}'s dispatcher went away; linking it again when it is back");
                    s.ctx.emit(&e.slot.name, EventKind::Log { level: crate::events::Level::Warning, message });
                    let wid = id.clone();
                    myself.send_after(RELINK_EVERY, move || PoolMsg::Relink(wid, 1));
                }
            }
            PoolMsg::Relink(id, tries) => {
                let Some(e) = s.workers.get(&id).filter(|e| e.sup.is_some() && e.link.is_none()) else {
                    return Ok(());
                };
                let (slot, caps) = (e.slot.clone(), e.capabilities.clone());
                match s.link(&myself, &id, slot.clone(), caps).await {
                    Ok(handle) => {
                        if let Some(e) = s.workers.get_mut(&id) {
                            e.link = Some(handle);
                        }
                        let message = format!("worker {id} takes dispatched tasks again");
                        s.ctx.emit(&slot.name, EventKind::Log { level: crate::events::Level::Info, message });
                    }
                    Err(_) if tries < RELINK_TRIES => {
                        myself.send_after(RELINK_EVERY, move || PoolMsg::Relink(id, tries + 1));
                    }
                    Err(why) => {
                        let message = format!("worker {id} no longer takes dispatched tasks: {why}");
                        s.ctx.emit(&slot.name, EventKind::Log { level: crate::events::Level::Warning, message });
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<PoolMsg>,
        e: SupervisionEvent,
        s: &mut PoolState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = exit_of(e) else { return Ok(()) };
        let Some(id) = s.by_sup.remove(&cell.get_id()) else { return Ok(()) };
        if let Some(entry) = s.workers.get_mut(&id) {
            entry.sup = None;
            if let Some(d) = &s.dispatcher {
                link::detach(d, &id, "the worker failed");
            }
            if let Some(link) = entry.link.take() {
                link.abort();
            }
            entry.slot.status.set_state(AgentState::Stopped);
            retire(&s.ctx, &entry.slot, crate::task::FailCode::AgentStopped, "the worker failed and is not restarted");
            entry.failure = Some(match reason {
                ExitReason::GaveUp(r) => r,
                other => other.to_string(),
            });
        }
        Ok(())
    }
}

fn status(id: &str, e: &Entry) -> WorkerStatus {
    let w = status::Spawned {
        id,
        path: &e.path,
        args: &e.args,
        capabilities: &e.capabilities,
        spawned_at: rfc3339_ms(e.spawned_at_ms),
        failure: e.failure.as_deref(),
    };
    WorkerStatus::of(w, e.slot.status.state(), AgentStatus::of(&e.slot))
}

/// Runs filesystem calls off the async workers (a slow disk or NFS mount
/// must not stall the runtime's threads).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, HiveError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| HiveError::Unavailable(format!("a filesystem check failed: {e}")))
}

impl PoolState {
    async fn spawn(&mut self, myself: &ActorRef<PoolMsg>, req: SpawnRequest) -> Result<String, HiveError> {
        let path = blocking({
            let (path, globs) = (req.worker_path.clone(), self.opts.spawn_allow.clone());
            move || allowed(&path, &globs)
        })
        .await??;
        if self.workers.values().filter(|e| e.sup.is_some()).count() >= MAX_WORKERS {
            return Err(HiveError::Full(format!("the pool runs at most {MAX_WORKERS} workers")));
        }
        if let Some(key) = req.env.keys().find(|k| unsafe_env(k)) {
            return Err(HiveError::Forbidden(format!(
                "env '{key}' is refused: it could make the worker run code spawn_allow does not permit"
            )));
        }
        let path_s = path.to_string_lossy().into_owned();
        let mut command = if path_s.ends_with(".py") {
            // The interpreter is resolved in the daemon's PATH, never the request's.
            let python = blocking(|| which("python3"))
                .await?
                .ok_or_else(|| HiveError::Unavailable("python3 is not on the daemon's PATH".into()))?;
            vec![python.to_string_lossy().into_owned(), path_s.clone()]
        } else {
            vec![path_s.clone()]
        };
        command.extend(req.args.iter().cloned());
        let id = format!("w{}", self.next_id);
        self.next_id += 1;
        let spec = AgentSpec {
            name: id.clone(),
            replicas: None,
            backend: BackendSpec::Stdio(StdioSpec { command, cwd: req.cwd, env: req.env, launch: LaunchSpec::Local }),
            restart: req.restart,
            kill_timeout_ms: req.kill_timeout_ms.unwrap_or(DEFAULT_KILL_TIMEOUT_MS),
            skills: Vec::new(),
            model: None,
        };
        let slot = Arc::new(AgentSlot::new(id.as_str().into(), None, Arc::new(spec), self.opts.mailbox_capacity));
        let mut table: RoutingTable = (*self.ctx.router.table()).clone();
        table.insert_endpoint(slot.name.clone(), Endpoint { group: None, mailbox: slot.mailbox.clone() });
        self.ctx.router.set_table(Arc::new(table));
        let args = SupervisorArgs {
            strategy: Strategy::OneForOne,
            intensity: self.opts.intensity,
            children: vec![child_spec(slot.clone(), self.ctx.clone())],
            hooks: Arc::new(WorkerHooks { ctx: self.ctx.clone(), slot: slot.clone() }),
        };
        let sup = match Actor::spawn_linked(None, Supervisor, args, myself.get_cell()).await {
            Ok((sup, _)) => sup,
            Err(e) => {
                self.unroute(&id);
                return Err(HiveError::BadRequest(format!("worker failed to start: {}", spawn_error(&e))));
            }
        };
        self.by_sup.insert(sup.get_id(), id.clone());
        self.ctx.emit(&slot.name, EventKind::AgentAdded { backend: "stdio", group: None });
        let mut link = None;
        if self.dispatcher.is_some() {
            match self.link(myself, &id, slot.clone(), req.capabilities.clone()).await {
                Ok(handle) => link = Some(handle),
                Err(e) => {
                    let message = format!("worker {id} does not take dispatched tasks: {e}");
                    self.ctx.emit(&slot.name, EventKind::Log { level: crate::events::Level::Warning, message });
                }
            }
        }
        let entry = Entry {
            slot,
            sup: Some(sup),
            path: path_s,
            args: req.args,
            spawned_at_ms: now_ms(),
            failure: None,
            link,
            capabilities: req.capabilities,
        };
        self.workers.insert(id.clone(), entry);
        Ok(id)
    }

    /// Offers worker `id` to the dispatcher; the pool hears when its link ends.
    async fn link(
        &self,
        myself: &ActorRef<PoolMsg>,
        id: &str,
        slot: Arc<AgentSlot>,
        capabilities: Vec<String>,
    ) -> Result<tokio::task::JoinHandle<()>, HiveError> {
        let d = self.dispatcher.as_deref().ok_or_else(|| HiveError::Unavailable("the gateway is off".into()))?;
        let (pool, wid) = (myself.clone(), id.to_string());
        let ended = move || {
            let _ = pool.cast(PoolMsg::LinkEnded(wid));
        };
        link::attach(d, &self.ctx, slot, capabilities, ended).await
    }

    fn unroute(&self, id: &str) {
        let mut table: RoutingTable = (*self.ctx.router.table()).clone();
        table.remove_endpoint(id);
        self.ctx.router.set_table(Arc::new(table));
    }

    async fn kill(&mut self, id: &str) -> Result<(), HiveError> {
        let mut entry = self.workers.remove(id).ok_or_else(|| HiveError::worker(id))?;
        self.unroute(id);
        if let Some(sup) = entry.sup.take() {
            self.by_sup.remove(&sup.get_id());
            stop_child(sup.get_cell(), Shutdown::Infinity).await;
        }
        if let Some(d) = &self.dispatcher {
            link::detach(d, id, "killed");
        }
        if let Some(link) = entry.link.take() {
            link.abort();
        }
        retire(
            &self.ctx,
            &entry.slot,
            crate::task::FailCode::AgentRemoved,
            "the worker was killed before running this task",
        );
        self.ctx.emit(&entry.slot.name, EventKind::AgentRemoved);
        Ok(())
    }

    /// Queues a task; with a store, its record is written (durably) first,
    /// so `GET /api/v1/tasks/{id}` follows it like a swarm task. (Workers are
    /// not restored after a restart; their queued tasks then end `not_restored`.)
    async fn task(&self, id: &str, content: String, submitted_by: Option<String>) -> Result<Arc<str>, HiveError> {
        let entry = self.workers.get(id).ok_or_else(|| HiveError::worker(id))?;
        if entry.sup.is_none() || entry.slot.is_retired() {
            return Err(HiveError::Conflict(format!("worker '{id}' is not running")));
        }
        if content.len() > crate::runtime::swarm::MAX_CONTENT_BYTES {
            return Err(HiveError::BadRequest("task content is over 1 MiB".into()));
        }
        let task =
            Task { id: uuid::Uuid::now_v7().to_string().into(), content, from: "user".into(), owner: TaskOwner::Book };
        let mut record = crate::task::TaskRecord::queued(
            &task.id,
            crate::task::Transport::Worker,
            WORKERS_SWARM,
            &entry.slot.name,
            &task.content,
            "user",
        );
        record.submitted_by = submitted_by;
        let (id, _) = open_then_queue(&self.ctx.tasks, record, false, || {
            enqueue_on(&self.ctx, &entry.slot, task)
                .map_err(|()| HiveError::Full(format!("worker '{id}' inbox is full")))
        })
        .await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_that_changes_what_runs_is_refused() {
        for k in ["PATH", "LD_PRELOAD", "ld_library_path", "PYTHONPATH", "PYTHONSTARTUP", "BASH_ENV", "NODE_OPTIONS"] {
            assert!(unsafe_env(k), "{k}");
        }
        for k in ["ECHO_TOKEN_DELAY_MS", "RELAY_TO", "HOME", "LANG"] {
            assert!(!unsafe_env(k), "{k}");
        }
        assert!(which("sh").is_some_and(|p| p.is_absolute()));
    }

    #[test]
    fn spawn_allow_matches_resolved_paths_only() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.py");
        std::fs::write(&ok, "").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let glob = format!("{}/*.py", dir.path().canonicalize().unwrap().display());
        assert!(allowed(ok.to_str().unwrap(), std::slice::from_ref(&glob)).is_ok());
        // `..` is resolved before matching: inside stays allowed, outside is refused.
        let inside = format!("{}/../ok.py", sub.display());
        assert!(allowed(&inside, std::slice::from_ref(&glob)).is_ok());
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("evil.py"), "").unwrap();
        // Both temp dirs share a parent: sub/../../<other>/evil.py.
        let other_name = other.path().file_name().unwrap().to_str().unwrap();
        let outside = format!("{}/../../{other_name}/evil.py", sub.display());
        assert!(std::path::Path::new(&outside).exists(), "{outside}");
        assert!(matches!(allowed(&outside, std::slice::from_ref(&glob)), Err(HiveError::Forbidden(_))));
        assert!(matches!(allowed("/bin/sh", std::slice::from_ref(&glob)), Err(HiveError::Forbidden(_))));
        assert!(matches!(allowed(ok.to_str().unwrap(), &[]), Err(HiveError::Forbidden(_))));
        assert!(matches!(allowed("/no/such/file.py", &[glob]), Err(HiveError::NotFound { .. })));
    }
}
