//! [`Hive`]: the runtime as a library. It starts the root supervisor
//! (`one_for_one`) with the swarm registry under it, and hands out
//! [`SwarmHandle`]s whose methods are the runtime API the REST adapter calls
//! one to one. Every method is a message to an actor; none touches actor
//! state directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorRef, RpcReplyPort, rpc::CallResult};
use serde_json::Value;

use super::error::HiveError;
use super::overlay::{self, OverlayOp};
use super::registry::{Registry, RegistryArgs, RegistryMsg, SwarmSummary};
use super::router::{EndpointSender, RoutedMessage};
use super::slot::HistoryEntry;
use super::swarm::{AgentProbe, AgentStatus, EdgeChange, ScaleResult, SwarmLimits, SwarmMsg, SwarmStatus};
use super::workers::{PoolArgs, PoolMsg, SpawnRequest, WorkerOptions, WorkerPool, WorkerStatus};
use crate::config::{self, AgentSpec, Edge, ObjectSpec, SwarmSpec, ValidateOptions};
use crate::events::{BusOptions, EventBus, EventKind};
use crate::objects::ObjectKinds;
use crate::supervisor::{ChildSpec, Intensity, Restart, Shutdown, Strategy, Supervisor, SupervisorArgs, SupervisorMsg};

/// Settings of a runtime.
#[derive(Clone, Default)]
pub struct HiveOptions {
    /// Event ring and subscriber bounds.
    pub bus: BusOptions,
    /// Bounds for every swarm.
    pub limits: SwarmLimits,
    /// Object kinds (built-ins plus any you register).
    pub kinds: ObjectKinds,
    /// Standalone workers: what may be spawned, and how they restart.
    pub workers: WorkerOptions,
    /// Where the durable store lives (`hive.redb` inside it). With it, every
    /// swarm and every runtime change is recorded and restored at the next
    /// start; without it, the runtime keeps everything in memory.
    pub data_dir: Option<std::path::PathBuf>,
    /// How long stored events are kept.
    pub retention: Retention,
    /// Restore only these swarms (all recorded as running when `None`).
    pub restore_only: Option<Vec<String>>,
    /// The ZeroMQ worker gateway and dispatcher (off when `None`).
    pub gateway: Option<crate::gateway::GatewayOptions>,
}

/// Retention of stored events and ended tasks: the newest `max_events`
/// events and `max_tasks` ended tasks, none older than `max_age`, pruned
/// every `interval` in the background (tasks still queued or running are
/// always kept).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most events kept (default 1 000 000).
    pub max_events: u64,
    /// Most ended tasks kept (default 1 000 000).
    pub max_tasks: u64,
    /// Oldest event kept (default 7 days).
    pub max_age: Duration,
    /// How often the pruner runs (default 60 s).
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_events: 1_000_000,
            max_tasks: 1_000_000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            interval: Duration::from_secs(60),
        }
    }
}

/// The threads that keep the store: writer, event flusher, pruner.
struct Durability {
    /// Taken at shutdown, so the data file closes even while the `Hive` is
    /// still shared.
    store: std::sync::Mutex<Option<crate::store::Store>>,
    writer: crate::store::Writer,
    /// Taken by the first shutdown.
    threads: std::sync::Mutex<Option<StoreThreads>>,
}

struct StoreThreads {
    writer_thread: crate::store::WriterThread,
    flusher: crate::store::Flusher,
    pruner: (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>),
}

fn start_pruner(
    store: crate::store::Store,
    r: Retention,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("hive-event-pruner".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(r.interval) {
                let oldest = crate::events::now_ms().saturating_sub(r.max_age.as_millis() as u64);
                while let Ok(n) = store.prune_events(r.max_events, oldest, 10_000) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = store.prune_tasks(oldest, r.max_tasks);
            }
        })
        .expect("spawn the event pruner thread");
    (stop, handle)
}

fn no_tasks() -> HiveError {
    HiveError::Unavailable("tasks are recorded only with a data directory".into())
}

/// Runs a store call on the blocking pool (redb is synchronous; a commit
/// waits on fsync) and maps its error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, HiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HiveError::Unavailable(e.to_string()))?
        .map_err(|e| HiveError::Unavailable(e.0))
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// A running runtime.
pub struct Hive {
    root: ActorRef<SupervisorMsg>,
    durability: Option<Durability>,
    registry_name: String,
    pool_name: String,
    bus: EventBus,
    kinds: ObjectKinds,
    dispatcher_name: Option<String>,
}

/// How a task ended, as [`SwarmHandle::run_task`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Completed with this result.
    Completed(String),
    /// Failed with this code and message.
    Failed {
        /// Error code (`agent_crashed`, `mock_failure`, ...).
        code: String,
        /// Message.
        message: String,
    },
    /// Cancelled.
    Cancelled,
}

/// The task an event ends, and how: a result, a failure or a cancellation.
pub(crate) fn task_end_of(e: &crate::events::Event) -> Option<(&Arc<str>, TaskOutcome)> {
    match &e.kind {
        EventKind::AgentOutput { task_id: Some(t), content, output: crate::events::OutputKind::Result } => {
            Some((t, TaskOutcome::Completed(content.clone())))
        }
        EventKind::TaskFailed { task_id, code, message } => {
            Some((task_id, TaskOutcome::Failed { code: code.clone(), message: message.clone() }))
        }
        EventKind::TaskCancelled { task_id } => Some((task_id, TaskOutcome::Cancelled)),
        _ => None,
    }
}

impl Hive {
    /// Starts a runtime.
    pub async fn start(opts: HiveOptions) -> Result<Self, HiveError> {
        let store = match &opts.data_dir {
            None => None,
            Some(dir) => {
                let dir = dir.clone();
                let (store, next_seq) = blocking(move || {
                    let store = crate::store::Store::open(&dir)?;
                    let next = store.next_seq()?;
                    Ok((store, next))
                })
                .await?;
                let (writer, thread) = crate::store::Writer::start(store.clone(), Default::default());
                Some((store, writer, thread, next_seq))
            }
        };
        let bus = match &store {
            Some((_, _, _, next_seq)) => EventBus::durable(opts.bus, *next_seq),
            None => EventBus::new(opts.bus),
        };
        let writer = store.as_ref().map(|(_, w, _, _)| w.clone());
        let reader = store.as_ref().map(|(s, _, _, _)| s.clone());
        let registry_name = format!("hive-{}.registry", INSTANCE.fetch_add(1, Ordering::Relaxed));
        let (name, rbus, kinds, limits) = (registry_name.clone(), bus.clone(), opts.kinds.clone(), opts.limits);
        let dispatcher_name = opts.gateway.as_ref().map(|_| registry_name.replace(".registry", ".dispatcher"));
        let rdispatcher: Option<Arc<str>> = dispatcher_name.as_deref().map(Into::into);
        let pdispatcher = rdispatcher.clone();
        let registry = ChildSpec {
            id: "swarms".into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            start: Arc::new(move |sup| {
                let args = RegistryArgs {
                    bus: rbus.clone(),
                    kinds: kinds.clone(),
                    limits,
                    store: writer.clone(),
                    reader: reader.clone(),
                    dispatcher: rdispatcher.clone(),
                };
                let name = name.clone();
                Box::pin(async move {
                    let (r, _) =
                        Actor::spawn_linked(Some(name), Registry, args, sup).await.map_err(|e| e.to_string())?;
                    Ok(r.get_cell())
                })
            }),
        };
        let pool_name = registry_name.replace(".registry", ".workers");
        let (name, pbus, wopts) = (pool_name.clone(), bus.clone(), opts.workers.clone());
        let pool_store = store.as_ref().map(|(_, w, _, _)| w.clone());
        let pool = ChildSpec {
            id: "workers".into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            start: Arc::new(move |sup| {
                let args = PoolArgs {
                    opts: wopts.clone(),
                    bus: pbus.clone(),
                    store: pool_store.clone(),
                    dispatcher: pdispatcher.clone(),
                };
                let name = name.clone();
                Box::pin(async move {
                    let (r, _) =
                        Actor::spawn_linked(Some(name), WorkerPool, args, sup).await.map_err(|e| e.to_string())?;
                    Ok(r.get_cell())
                })
            }),
        };
        let mut children = vec![registry, pool];
        if let (Some(gw), Some(name)) = (opts.gateway.clone(), dispatcher_name.clone()) {
            let dbus = bus.clone();
            let writer = store.as_ref().map(|(_, w, _, _)| w.clone());
            let reader = store.as_ref().map(|(s, _, _, _)| s.clone());
            children.push(ChildSpec {
                id: "dispatcher".into(),
                restart: Restart::Permanent,
                shutdown: Shutdown::Infinity,
                start: Arc::new(move |sup| {
                    let args = crate::gateway::DispatcherArgs {
                        opts: gw.clone(),
                        bus: dbus.clone(),
                        writer: writer.clone(),
                        reader: reader.clone(),
                    };
                    let name = name.clone();
                    Box::pin(async move {
                        let (r, _) = Actor::spawn_linked(Some(name), crate::gateway::Dispatcher, args, sup)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(r.get_cell())
                    })
                }),
            });
        }
        let args = SupervisorArgs {
            strategy: Strategy::OneForOne,
            intensity: Intensity::default(),
            children,
            hooks: Arc::new(crate::supervisor::NoHooks),
        };
        let (root, _) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|e| HiveError::Unavailable(format!("the runtime failed to start: {e}")))?;
        let durability = store.map(|(store, writer, writer_thread, _)| Durability {
            writer,
            threads: std::sync::Mutex::new(Some(StoreThreads {
                flusher: crate::store::Flusher::start(store.clone(), bus.clone()),
                pruner: start_pruner(store.clone(), opts.retention),
                writer_thread,
            })),
            store: std::sync::Mutex::new(Some(store)),
        });
        let hive = Self { root, durability, registry_name, pool_name, bus, kinds: opts.kinds, dispatcher_name };
        if let Some(store) = hive.store()? {
            hive.restore(&store, opts.restore_only.as_deref()).await?;
        }
        Ok(hive)
    }

    /// Brings back every swarm the store says was running: its seed, then its
    /// overlay replayed in order.
    async fn restore(&self, store: &crate::store::Store, only: Option<&[String]>) -> Result<(), HiveError> {
        let store = store.clone();
        let records = blocking({
            let store = store.clone();
            move || store.swarms()
        })
        .await?;
        let opts = self.validate_options();
        let wanted = |r: &crate::store::SwarmRecord| only.is_none_or(|names| names.contains(&r.name));
        for record in records.into_iter().filter(|r| r.state == "running" && wanted(r)) {
            let problem = |what: String| {
                let message = format!("swarm '{}' not restored: {what}", record.name);
                self.bus.emit(None, None, EventKind::Log { level: crate::events::Level::Error, message });
            };
            let seed = match config::parse_toml(&record.seed_toml, &opts) {
                Ok(s) => s,
                Err(e) => {
                    problem(format!("its stored seed is invalid: {e}"));
                    continue;
                }
            };
            let effective = self.replayed(&store, &record.name, &seed).await?;
            let r = ractor::call!(self.registry()?, RegistryMsg::Restore, effective, record.seed_toml.clone());
            match r {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => problem(e.to_string()),
                Err(e) => problem(e.to_string()),
            }
        }
        self.restore_tasks(&store, only).await
    }

    /// Queues again, in creation order, every task that was queued when the
    /// runtime stopped; a task that was running then fails with
    /// `runtime_restarted` (it may have had effects: it is not run twice).
    async fn restore_tasks(&self, store: &crate::store::Store, only: Option<&[String]>) -> Result<(), HiveError> {
        let reader = store.clone();
        let open = blocking(move || reader.tasks(&["queued", "in_progress"])).await?;
        // Tasks of swarms left out of this restore stay recorded as they are.
        // Dispatched tasks are the dispatcher's: it reloads them itself.
        let mine = |t: &crate::store::TaskRecord| t.swarm != crate::gateway::DISPATCH_SWARM;
        for t in open.into_iter().filter(|t| mine(t) && only.is_none_or(|names| names.contains(&t.swarm))) {
            let (swarm_name, agent): (Arc<str>, Arc<str>) = (t.swarm.as_str().into(), t.target.as_str().into());
            let requeued = match (t.status.as_str(), self.swarm(&t.swarm).await) {
                ("queued", Ok(swarm)) => swarm
                    .ask(|reply| SwarmMsg::Requeue {
                        agent: t.target.clone(),
                        task_id: t.id.clone(),
                        content: t.content.clone(),
                        from: t.from.clone(),
                        reply,
                    })
                    .await
                    .map_err(|e| e.to_string()),
                ("queued", Err(e)) => Err(e.to_string()),
                _ => Err("the runtime stopped while this task ran".into()),
            };
            if let Err(why) = requeued {
                let code = if t.status == "in_progress" { "runtime_restarted" } else { "not_restored" };
                // Durable before start returns, then announced.
                let mut ended = t.clone();
                ended.status = "error".into();
                ended.error = Some(format!("{code}: {why}"));
                ended.updated_ms = crate::events::now_ms();
                let (store, record) = (store.clone(), ended);
                blocking(move || store.put_task(&record)).await?;
                let kind = EventKind::TaskFailed { task_id: t.id.as_str().into(), code: code.into(), message: why };
                self.bus.emit(Some(&swarm_name), Some(&agent), kind);
            }
        }
        Ok(())
    }

    /// A recorded task (needs a data directory).
    pub async fn task(&self, id: &str) -> Result<crate::store::TaskRecord, HiveError> {
        let store = self.store()?.ok_or_else(no_tasks)?;
        let key = id.to_string();
        blocking(move || store.task(&key)).await?.ok_or_else(|| HiveError::task(id))
    }

    /// One page of the recorded tasks with one of `statuses` (all if
    /// empty), newest first: at most `limit` after skipping `offset`, and how
    /// many there are in all. Memory is bounded by the page.
    pub async fn tasks_page(
        &self,
        statuses: &[&str],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<crate::store::TaskRecord>, usize), HiveError> {
        let store = self.store()?.ok_or_else(no_tasks)?;
        let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
        blocking(move || {
            let refs: Vec<&str> = statuses.iter().map(String::as_str).collect();
            store.tasks_page(&refs, offset, limit)
        })
        .await
    }

    /// Recorded tasks with one of `statuses` (all if empty), oldest first.
    pub async fn tasks(&self, statuses: &[&str]) -> Result<Vec<crate::store::TaskRecord>, HiveError> {
        let store = self.store()?.ok_or_else(no_tasks)?;
        let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
        blocking(move || {
            let refs: Vec<&str> = statuses.iter().map(String::as_str).collect();
            store.tasks(&refs)
        })
        .await
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.bus
    }

    /// Events matching `q`, newest `q.limit`, oldest first: from the store
    /// when the runtime has one (everything kept by retention), else from the
    /// in-memory ring.
    pub async fn query_events(&self, q: crate::store::EventQuery) -> Result<Vec<crate::store::StoredEvent>, HiveError> {
        if let Some(store) = self.store()? {
            return blocking(move || store.query_events(&q)).await;
        }
        let keep = |e: &crate::events::Event| {
            q.since.is_none_or(|s| e.seq > s)
                && q.after_ms.is_none_or(|t| e.timestamp_ms >= t)
                && q.swarm.as_deref().is_none_or(|s| e.swarm.as_deref() == Some(s))
                && q.agent.as_deref().is_none_or(|a| e.agent.as_deref() == Some(a))
                && q.level.as_deref().is_none_or(|l| e.level().as_str() == l)
                && q.category.as_deref().is_none_or(|c| e.category().as_str() == c)
                && q.event_type.as_deref().is_none_or(|t| e.event_type() == t)
        };
        Ok(self.bus.recent(q.limit, keep).iter().map(|e| crate::store::StoredEvent::from(&**e)).collect())
    }

    /// The store, if the runtime has one (an error once it has shut down).
    fn store(&self) -> Result<Option<crate::store::Store>, HiveError> {
        let Some(d) = &self.durability else { return Ok(None) };
        match &*d.store.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(s) => Ok(Some(s.clone())),
            None => Err(HiveError::Unavailable("the runtime has shut down".into())),
        }
    }

    /// Whether events, overlays and tasks are stored (a data directory).
    pub fn has_store(&self) -> bool {
        self.durability.is_some()
    }

    /// Stored events with `after < seq < upto` that `q` keeps, oldest first,
    /// reading at most `scan` entries, and the last sequence number read
    /// (`None` once the range is exhausted; see
    /// [`crate::store::Store::events_after`]): the part of a replay the ring
    /// no longer holds. Empty without a store.
    pub async fn stored_events_after(
        &self,
        q: crate::store::EventQuery,
        after: u64,
        upto: u64,
        scan: usize,
    ) -> Result<(Vec<crate::store::StoredEvent>, Option<u64>), HiveError> {
        let Some(store) = self.store()? else { return Ok((Vec::new(), None)) };
        blocking(move || store.events_after(&q, after, upto, scan)).await
    }

    /// Validation options matching this runtime's object kinds.
    pub fn validate_options(&self) -> ValidateOptions {
        ValidateOptions { object_kinds: self.kinds.names() }
    }

    fn registry(&self) -> Result<ActorRef<RegistryMsg>, HiveError> {
        ractor::registry::where_is(self.registry_name.clone())
            .map(ActorRef::from)
            .ok_or_else(|| HiveError::Unavailable("the swarm registry is restarting".into()))
    }

    /// Starts a swarm from a spec (checked again here for specs built in code).
    pub async fn start_swarm(&self, spec: SwarmSpec) -> Result<SwarmHandle, HiveError> {
        config::check_spec(&spec, &self.validate_options()).map_err(HiveError::InvalidConfig)?;
        let name = spec.name.clone();
        let actor = ractor::call!(self.registry()?, RegistryMsg::Start, spec)??;
        Ok(SwarmHandle { name, actor })
    }

    /// Stops a running swarm gracefully.
    pub async fn stop_swarm(&self, name: &str) -> Result<(), HiveError> {
        ractor::call!(self.registry()?, RegistryMsg::Stop, name.to_string())?
    }

    /// A handle to a running swarm.
    pub async fn swarm(&self, name: &str) -> Result<SwarmHandle, HiveError> {
        let actor = ractor::call!(self.registry()?, RegistryMsg::Get, name.to_string())??;
        Ok(SwarmHandle { name: name.to_string(), actor })
    }

    /// Every swarm the registry knows (running, stopped, failed).
    pub async fn list_swarms(&self) -> Result<Vec<SwarmSummary>, HiveError> {
        Ok(ractor::call!(self.registry()?, RegistryMsg::List)?)
    }

    /// One swarm's registry entry.
    pub async fn swarm_summary(&self, name: &str) -> Result<SwarmSummary, HiveError> {
        ractor::call!(self.registry()?, RegistryMsg::Summary, name.to_string())?.ok_or_else(|| HiveError::swarm(name))
    }

    /// A swarm's recorded runtime changes, in order (needs a data directory).
    pub async fn overlay(&self, name: &str) -> Result<Vec<OverlayOp>, HiveError> {
        ractor::call!(self.registry()?, RegistryMsg::Overlay, name.to_string())?
    }

    /// Folds a running swarm's changes into its seed and empties its overlay:
    /// the snapshot and a restart give the same swarm as before, with no
    /// recorded changes (needs a data directory).
    pub async fn clear_overlay(&self, name: &str) -> Result<(), HiveError> {
        ractor::call!(self.registry()?, RegistryMsg::ClearOverlay, name.to_string())?
    }

    /// Forgets stopped and failed swarms; returns their names. With
    /// `purge`, everything stored about them goes too (record, overlay,
    /// events, tasks).
    pub async fn clean(&self, purge: bool) -> Result<Vec<String>, HiveError> {
        let gone = ractor::call!(self.registry()?, RegistryMsg::Clean)?;
        if purge {
            for name in &gone {
                self.purge_stored(name).await?;
            }
        }
        Ok(gone)
    }

    /// Stops a swarm if it runs, forgets it, and deletes everything stored
    /// about it (record, overlay, events, tasks). Returns the number of
    /// stored events deleted.
    pub async fn purge_swarm(&self, name: &str) -> Result<usize, HiveError> {
        match self.stop_swarm(name).await {
            Ok(()) | Err(HiveError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        ractor::call!(self.registry()?, RegistryMsg::Forget, name.to_string())??;
        self.purge_stored(name).await
    }

    /// Deletes a swarm's stored data once every event emitted so far is
    /// committed (so its last events, e.g. the stop, go too).
    async fn purge_stored(&self, name: &str) -> Result<usize, HiveError> {
        let Some(store) = self.store()? else { return Ok(0) };
        let target = self.bus.next_seq().saturating_sub(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let store = store.clone();
            if blocking(move || store.last_seq()).await? >= target || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let name = name.to_string();
        blocking(move || store.purge_swarm(&name)).await
    }

    /// Restarts a swarm (running, stopped or failed) as its users left it:
    /// seed plus every recorded change. With `clean`, from its seed alone,
    /// with its overlay, events and tasks deleted.
    pub async fn restart_swarm(&self, name: &str, clean: bool) -> Result<SwarmHandle, HiveError> {
        let seed_toml = ractor::call!(self.registry()?, RegistryMsg::Seed, name.to_string())??;
        let opts = self.validate_options();
        let seed = config::parse_toml(&seed_toml, &opts).map_err(HiveError::InvalidConfig)?;
        let effective = match self.swarm(name).await {
            Ok(running) => Some(running.spec().await?),
            Err(_) => None,
        };
        match self.stop_swarm(name).await {
            Ok(()) | Err(HiveError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        if clean {
            self.purge_stored(name).await?;
            return self.start_swarm(seed).await;
        }
        let effective = match (effective, self.store()?) {
            (Some(spec), _) => spec,
            (None, Some(store)) => self.replayed(&store, name, &seed).await?,
            (None, None) => seed,
        };
        let actor = ractor::call!(self.registry()?, RegistryMsg::Restore, effective, seed_toml)??;
        Ok(SwarmHandle { name: name.to_string(), actor })
    }

    /// A swarm's seed with its stored overlay replayed (changes that no
    /// longer apply are reported as error events and skipped).
    async fn replayed(
        &self,
        store: &crate::store::Store,
        name: &str,
        seed: &SwarmSpec,
    ) -> Result<SwarmSpec, HiveError> {
        let (store, key) = (store.clone(), name.to_string());
        let ops = blocking(move || store.overlay(&key)).await?;
        let ops: Vec<OverlayOp> = ops.iter().filter_map(|(_, b)| OverlayOp::decode(b).ok()).collect();
        let (effective, skipped) = overlay::replay(seed, &ops, &self.validate_options());
        for why in skipped {
            let message = format!("swarm '{name}': a recorded change was skipped: {why}");
            self.bus.emit(None, None, EventKind::Log { level: crate::events::Level::Error, message });
        }
        Ok(effective)
    }

    fn pool(&self) -> Result<ActorRef<PoolMsg>, HiveError> {
        ractor::registry::where_is(self.pool_name.clone())
            .map(ActorRef::from)
            .ok_or_else(|| HiveError::Unavailable("the worker pool is restarting".into()))
    }

    /// Spawns a standalone JSONL worker (only paths `spawn_allow` permits);
    /// returns its id.
    pub async fn spawn_worker(&self, req: SpawnRequest) -> Result<String, HiveError> {
        ractor::call!(self.pool()?, PoolMsg::Spawn, req)?
    }

    /// Every standalone worker with its status and current task.
    pub async fn list_workers(&self) -> Result<Vec<WorkerStatus>, HiveError> {
        Ok(ractor::call!(self.pool()?, PoolMsg::List)?)
    }

    /// One standalone worker.
    pub async fn worker(&self, id: &str) -> Result<WorkerStatus, HiveError> {
        ractor::call!(self.pool()?, PoolMsg::Get, id.to_string())?
    }

    /// Stops a worker gracefully (shutdown line, SIGTERM, SIGKILL after its
    /// kill timeout) and forgets it.
    pub async fn kill_worker(&self, id: &str) -> Result<(), HiveError> {
        ractor::call!(self.pool()?, PoolMsg::Kill, id.to_string())?
    }

    /// Cancels a queued or running task of a worker.
    pub async fn cancel_worker_task(&self, id: &str, task_id: &str) -> Result<(), HiveError> {
        let (slot, ctx) = ractor::call!(self.pool()?, PoolMsg::Cancel, id.to_string())??;
        super::swarm::cancel_on(&ctx, &slot, task_id).await
    }

    /// Queues a task for a worker; returns the task id.
    pub async fn worker_task(&self, id: &str, content: &str) -> Result<Arc<str>, HiveError> {
        ractor::call!(self.pool()?, PoolMsg::Task, id.to_string(), content.to_string())?
    }

    fn dispatcher(&self) -> Result<ActorRef<crate::gateway::DispatcherMsg>, HiveError> {
        let name = self
            .dispatcher_name
            .as_deref()
            .ok_or_else(|| HiveError::Unavailable("the ZeroMQ gateway is disabled".into()))?;
        crate::gateway::dispatcher_ref(name)
            .ok_or_else(|| HiveError::Unavailable("the dispatcher is restarting".into()))
    }

    /// Whether the ZeroMQ gateway runs.
    pub fn gateway_enabled(&self) -> bool {
        self.dispatcher_name.is_some()
    }

    /// Queues a task for the ZeroMQ workers. `how` says when the answer
    /// comes (once the task is recorded, or at once for a caller that waits
    /// for the result) and whether it carries the task's updates (tokens,
    /// then the end); see [`crate::gateway::Submit`].
    pub async fn dispatch(
        &self,
        req: crate::gateway::DispatchRequest,
        how: crate::gateway::Submit,
    ) -> Result<(Arc<str>, Option<tokio::sync::mpsc::Receiver<crate::gateway::TaskUpdate>>), HiveError> {
        use crate::gateway::DispatcherMsg;
        ractor::call!(self.dispatcher()?, DispatcherMsg::Submit, req, how)?
    }

    /// Updates of a dispatched task that has not ended.
    pub async fn follow_dispatched(
        &self,
        task_id: &str,
    ) -> Result<tokio::sync::mpsc::Receiver<crate::gateway::TaskUpdate>, HiveError> {
        ractor::call!(self.dispatcher()?, crate::gateway::DispatcherMsg::Subscribe, task_id.to_string())?
    }

    /// Cancels a dispatched task (its worker gets `cancel`).
    pub async fn cancel_dispatched(&self, task_id: &str) -> Result<(), HiveError> {
        ractor::call!(self.dispatcher()?, crate::gateway::DispatcherMsg::Cancel, task_id.to_string())?
    }

    /// The connected ZeroMQ workers.
    pub async fn zmq_workers(&self) -> Result<Vec<crate::gateway::ZmqWorker>, HiveError> {
        Ok(ractor::call!(self.dispatcher()?, crate::gateway::DispatcherMsg::Workers)?)
    }

    /// The gateway's state (`enabled: false` when it is off).
    pub async fn zmq_status(&self) -> Result<crate::gateway::GatewayStatus, HiveError> {
        if !self.gateway_enabled() {
            return Ok(crate::gateway::GatewayStatus {
                enabled: false,
                endpoint: String::new(),
                port: 0,
                connected: 0,
                queue_depth: 0,
                running: 0,
            });
        }
        Ok(ractor::call!(self.dispatcher()?, crate::gateway::DispatcherMsg::Status)?)
    }

    /// Maintenance: `false` drains a worker (running tasks finish, no new
    /// ones), `true` makes it accept tasks again.
    pub async fn set_worker_accepting(&self, worker_id: &str, accepting: bool) -> Result<(), HiveError> {
        ractor::call!(self.dispatcher()?, crate::gateway::DispatcherMsg::Accepting, worker_id.to_string(), accepting)?
    }

    /// Stops every swarm (newest first) and the runtime. Safe to call from
    /// any holder of a shared `Hive`; calls after the first return at once.
    pub async fn shutdown(&self) {
        let _ = self.root.stop_and_wait(Some("shutdown".into()), None).await;
        let Some(d) = &self.durability else { return };
        let Some(t) = d.threads.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        // Our handle goes now; the threads' handles go when they end.
        d.store.lock().unwrap_or_else(|p| p.into_inner()).take();
        // The last events (the stops) are committed before we return; every
        // writer handle went with the actors, so the writer drains and exits.
        self.bus.close();
        d.writer.shutdown().await;
        let _ = t.pruner.0.send(());
        let _ = tokio::task::spawn_blocking(move || {
            t.flusher.join();
            t.writer_thread.join();
            let _ = t.pruner.1.join();
        })
        .await;
    }
}

/// A handle to a running swarm: the runtime API, one method per operation.
#[derive(Clone)]
pub struct SwarmHandle {
    name: String,
    actor: ActorRef<SwarmMsg>,
}

impl std::fmt::Debug for SwarmHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmHandle").field("name", &self.name).finish_non_exhaustive()
    }
}

type Port<T> = RpcReplyPort<Result<T, HiveError>>;

impl SwarmHandle {
    /// The swarm's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn ask<T: Send + 'static>(&self, f: impl FnOnce(Port<T>) -> SwarmMsg) -> Result<T, HiveError> {
        match self.actor.call(f, None).await? {
            CallResult::Success(r) => r,
            _ => Err(HiveError::Unavailable(format!("swarm '{}' stopped", self.name))),
        }
    }

    /// Status: state, agents, objects, groups, topology, restarts.
    pub async fn status(&self) -> Result<SwarmStatus, HiveError> {
        Ok(ractor::call!(self.actor, SwarmMsg::Status)?)
    }

    /// The effective spec (seed plus every change).
    pub async fn spec(&self) -> Result<SwarmSpec, HiveError> {
        Ok(ractor::call!(self.actor, SwarmMsg::Spec)?)
    }

    /// The effective spec as a swarm file.
    pub async fn snapshot_toml(&self) -> Result<String, HiveError> {
        Ok(config::to_toml(&self.spec().await?))
    }

    /// Adds an agent (or a group) with outgoing `connections` and `incoming`
    /// edges; returns the names started.
    pub async fn add_agent(
        &self,
        spec: AgentSpec,
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<Vec<String>, HiveError> {
        self.ask(|reply| SwarmMsg::AddAgent { spec, connections, incoming, reply }).await
    }

    /// Removes an agent, or a whole group; returns the names stopped.
    pub async fn remove_agent(&self, name: &str) -> Result<Vec<String>, HiveError> {
        self.ask(|r| SwarmMsg::RemoveAgent(name.into(), r)).await
    }

    /// Restarts an agent with its spec (not counted against the intensity).
    pub async fn restart_agent(&self, name: &str) -> Result<(), HiveError> {
        self.ask(|r| SwarmMsg::RestartAgent(name.into(), r)).await
    }

    /// One agent's status.
    pub async fn agent_status(&self, name: &str) -> Result<AgentStatus, HiveError> {
        self.ask(|r| SwarmMsg::AgentStatus(name.into(), r)).await
    }

    /// An agent's last `limit` history entries.
    pub async fn history(&self, name: &str, limit: usize) -> Result<Vec<HistoryEntry>, HiveError> {
        self.ask(|r| SwarmMsg::History(name.into(), limit, r)).await
    }

    /// Adds an object with edges.
    pub async fn add_object(
        &self,
        spec: ObjectSpec,
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<(), HiveError> {
        self.ask(|reply| SwarmMsg::AddObject { spec, connections, incoming, reply }).await
    }

    /// Removes an object.
    pub async fn remove_object(&self, name: &str) -> Result<(), HiveError> {
        self.ask(|r| SwarmMsg::RemoveObject(name.into(), r)).await
    }

    /// An object's live state.
    pub async fn object_state(&self, name: &str) -> Result<Value, HiveError> {
        self.ask(|r| SwarmMsg::ObjectState(name.into(), r)).await
    }

    /// Replaces an object's configuration.
    pub async fn configure_object(&self, name: &str, config: Value) -> Result<(), HiveError> {
        self.ask(|r| SwarmMsg::ConfigureObject(name.into(), config, r)).await
    }

    /// Adds and removes edges, all or nothing.
    pub async fn update_edges(&self, add: Vec<Edge>, remove: Vec<Edge>) -> Result<EdgeChange, HiveError> {
        self.ask(|reply| SwarmMsg::UpdateEdges { add, remove, reply }).await
    }

    /// Scales a group to `count` members.
    pub async fn scale(&self, group: &str, count: u64) -> Result<ScaleResult, HiveError> {
        self.ask(|reply| SwarmMsg::Scale { group: group.into(), count, reply }).await
    }

    /// Queues a task for an agent; returns its id.
    pub async fn send_task(&self, agent: &str, content: &str) -> Result<Arc<str>, HiveError> {
        self.ask(|reply| SwarmMsg::SendTask {
            agent: agent.into(),
            content: content.into(),
            from: "user".into(),
            reply,
        })
        .await
    }

    /// Sends a task and waits (up to `timeout`) for how it ends.
    pub async fn run_task(
        &self,
        bus: &EventBus,
        agent: &str,
        content: &str,
        timeout: Duration,
    ) -> Result<TaskOutcome, HiveError> {
        let mut rx = bus.subscribe();
        let id = self.send_task(agent, content).await?;
        let wait = async {
            loop {
                let e = match rx.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: the end may be among the skipped events; the ring has them.
                        match bus.recent(1, |e| Self::task_end(e, &id).is_some()).pop() {
                            Some(e) => return Ok(Self::task_end(&e, &id).expect("filtered")),
                            None => continue,
                        }
                    }
                    Err(_) => return Err(HiveError::Unavailable("the event bus closed".into())),
                };
                if let Some(end) = Self::task_end(&e, &id) {
                    return Ok(end);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| HiveError::Unavailable(format!("task {id} did not finish within {timeout:?}")))?
    }

    /// How task `id` ended, if `e` says so.
    fn task_end(e: &crate::events::Event, id: &str) -> Option<TaskOutcome> {
        task_end_of(e).filter(|(t, _)| &***t == id).map(|(_, end)| end)
    }

    /// Cancels a queued or running task of an agent.
    pub async fn cancel_task(&self, agent: &str, task_id: &str) -> Result<(), HiveError> {
        self.ask(|reply| SwarmMsg::CancelTask { agent: agent.into(), task_id: task_id.into(), reply }).await
    }

    /// Routes a message `from → to`; returns the number of recipients.
    pub async fn send_message(&self, from: &str, to: &str, content: &str) -> Result<usize, HiveError> {
        self.ask(|reply| SwarmMsg::SendMessage { from: from.into(), to: to.into(), content: content.into(), reply })
            .await
    }

    /// A sender that speaks for endpoint `from` (see [`EndpointSender`]).
    pub async fn sender(&self, from: &str) -> Result<EndpointSender, HiveError> {
        self.ask(|r| SwarmMsg::Sender(from.into(), r)).await
    }

    /// An actor-free reader of one agent's status (see [`AgentProbe`]).
    pub async fn probe(&self, agent: &str) -> Result<AgentProbe, HiveError> {
        self.ask(|r| SwarmMsg::Probe(agent.into(), r)).await
    }

    /// Pauses every agent (SIGSTOP to each stdio agent's process group; mock
    /// agents stop taking items); returns how many were paused.
    pub async fn pause(&self) -> Result<usize, HiveError> {
        self.ask(|r| SwarmMsg::Pause(true, r)).await
    }

    /// Resumes every paused agent (SIGCONT); returns how many were resumed.
    pub async fn resume(&self) -> Result<usize, HiveError> {
        self.ask(|r| SwarmMsg::Pause(false, r)).await
    }

    /// The last `limit` routed messages.
    pub async fn messages(&self, limit: usize) -> Result<Vec<RoutedMessage>, HiveError> {
        self.ask(|r| SwarmMsg::Messages(limit, r)).await
    }
}
