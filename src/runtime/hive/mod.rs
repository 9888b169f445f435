//! [`Hive`]: the runtime as a library — a thin façade. It starts the root of
//! the tree (`root.rs`), the store's service when it has a data directory,
//! and the task book, restores what was running (`restore.rs`), and hands
//! out small handles, one per area, each in its own file:
//! [`Swarms`] (`swarms.rs`), [`Workers`] (`workers.rs`), [`Dispatch`]
//! (`dispatch.rs`), [`Tasks`] (`tasks.rs`) and [`Events`] (`events.rs`);
//! health, maintenance and the daemon's log lines are in `health.rs`, the
//! metrics' scrape in `metrics.rs`. The
//! calls that bring new work pass the maintenance gate
//! (`runtime/maintenance.rs`) first.
//! Its other methods are shorthands for those handles' calls. Every call is
//! a message to an actor; none touches actor state directly.

mod dispatch;
mod events;
mod health;
mod http_workers;
mod metrics;
pub(super) mod orchestrate;
mod restore;
mod root;
mod schedules;
mod swarms;
mod tasks;
mod workers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorRef};

pub use dispatch::Dispatch;
pub use events::Events;
pub use health::{Health, HealthDetail, PriorityDepth, QueueDepth, SlotCounts, StoreHealth, StoreMode, WorkerCounts};
pub use http_workers::HttpTaken;
pub use metrics::METRICS_CONTENT_TYPE;
#[cfg(feature = "server")]
pub(crate) use schedules::MAX_RUNS_READ;
pub use schedules::Schedules;
pub use swarms::Swarms;
pub use tasks::Tasks;
pub use workers::Workers;

use crate::config::{SwarmSpec, ValidateOptions};
use crate::error::HiveError;
use crate::events::{BusOptions, EventBus};
use crate::gateway::{DispatchRequest, GatewayStatus, Submit, ZmqWorker};
use crate::objects::ObjectKinds;
use crate::runtime::maintenance::Maintenance;
use crate::runtime::overlay::OverlayOp;
use crate::runtime::registry::{Registry, RegistryArgs, RegistryMsg, SwarmSummary};
use crate::runtime::swarm::agent::process::groups::{self, ChildGroups};
use crate::runtime::swarm::handle::SwarmHandle;
use crate::runtime::swarm::{SwarmLimits, SwarmMsg};
use crate::runtime::workers::{PoolArgs, PoolMsg, SpawnRequest, WorkerOptions, WorkerPool, WorkerStatus};
use crate::store::{EventQuery, Retention, Store, StoreService, StoredEvent};
use crate::supervisor::{Intensity, Strategy, Supervisor, SupervisorArgs, SupervisorMsg};
use crate::task::{BookOptions, Follower, TaskBook, TaskRecord};

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
    /// How long stored events and ended tasks are kept.
    pub retention: Retention,
    /// Ended tasks the task book keeps in memory.
    pub tasks: BookOptions,
    /// Restore only these swarms (all recorded as running when `None`).
    pub restore_only: Option<Vec<String>>,
    /// The ZeroMQ worker gateway and dispatcher (off when `None`).
    pub gateway: Option<crate::gateway::GatewayOptions>,
    /// The ring of the daemon's log lines that [`Hive::logs`] reads (the
    /// daemon feeds it from tracing, `logs::RingLayer`; by default an
    /// empty ring nothing feeds).
    pub logs: crate::logs::LogRing,
    /// The scheduler's settings.
    pub schedules: crate::schedule::SchedulerOptions,
    /// What `GET /metrics` shows (the per-agent limit).
    pub metrics: crate::metrics::MetricsOptions,
    /// The wall clock schedules fire by (the system's when `None`; a test
    /// gives [`crate::schedule::TokioClock`]).
    pub clock: Option<Arc<dyn crate::schedule::Clock>>,
    /// Tests only (feature `fault-injection`): the store's disk fails when
    /// this switch says so (`store::DiskFaults`).
    #[cfg(feature = "fault-injection")]
    #[doc(hidden)]
    pub disk_faults: Option<crate::store::DiskFaults>,
}

/// Runs a store call on the blocking pool (redb is synchronous; a commit
/// waits on fsync) and maps its error.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, HiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HiveError::Unavailable(e.to_string()))?
        .map_err(crate::store::StoreError::into_hive)
}

/// The swarm registry registered as `name`.
fn registry_ref(name: &str) -> Result<ActorRef<RegistryMsg>, HiveError> {
    ractor::registry::where_is(name.to_string())
        .map(ActorRef::from)
        .ok_or_else(|| HiveError::Unavailable("the swarm registry is restarting".into()))
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// A running runtime.
pub struct Hive {
    root: ActorRef<SupervisorMsg>,
    store: Option<StoreService>,
    registry_name: String,
    pool_name: String,
    dispatcher_name: Option<String>,
    scheduler_name: String,
    bus: EventBus,
    book: TaskBook,
    kinds: ObjectKinds,
    /// Whether new work is taken (every entry point of new work checks it).
    maintenance: Maintenance,
    started: std::time::Instant,
    logs: crate::logs::LogRing,
    metrics: crate::metrics::Metrics,
}

impl Hive {
    /// Starts a runtime.
    pub async fn start(opts: HiveOptions) -> Result<Self, HiveError> {
        let opened = match &opts.data_dir {
            None => None,
            Some(dir) => {
                let dir = dir.clone();
                #[cfg(feature = "fault-injection")]
                let faults = opts.disk_faults.clone();
                Some(
                    blocking(move || {
                        #[cfg(feature = "fault-injection")]
                        let store = match faults {
                            Some(f) => Store::open_faulty(&dir, f)?,
                            None => Store::open(&dir)?,
                        };
                        #[cfg(not(feature = "fault-injection"))]
                        let store = Store::open(&dir)?;
                        let next = store.next_seq()?;
                        // The store's lock is held: no other daemon uses the
                        // directory, so the groups its children left are a
                        // killed run's. Swept before any child is spawned.
                        let groups = sweep_children(&dir)?;
                        Ok((store, next, groups))
                    })
                    .await?,
                )
            }
        };
        let (opened, groups) = match opened {
            Some((store, next, groups)) => (Some((store, next)), groups),
            None => (None, ChildGroups::none()),
        };
        let bus = match &opened {
            Some((_, next_seq)) => EventBus::durable(opts.bus, *next_seq),
            None => EventBus::new(opts.bus),
        };
        let book = TaskBook::new(opts.tasks, opened.is_some());
        let reader = opened.as_ref().map(|(s, _)| s.clone());
        let service = opened.map(|(store, _)| StoreService::start(store, &bus, &book, opts.retention));
        let writer = service.as_ref().map(|s| s.writer().clone());

        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let registry_name = format!("hive-{instance}.registry");
        let pool_name = format!("hive-{instance}.workers");
        let dispatcher_name = opts.gateway.as_ref().map(|_| format!("hive-{instance}.dispatcher"));
        let dispatcher: Option<Arc<str>> = dispatcher_name.as_deref().map(Into::into);
        let scheduler_name = format!("hive-{instance}.schedules");
        let maintenance = Maintenance::default();
        let mut children = vec![
            root::child("swarms", registry_name.clone(), Registry, {
                // One setting governs every program the runtime spawns on request.
                let mut kinds = opts.kinds.clone();
                if kinds.program_globs().is_empty() {
                    kinds.allow_programs(opts.workers.spawn_allow.clone());
                }
                let (bus, limits, book) = (bus.clone(), opts.limits, book.clone());
                let (writer, reader, dispatcher) = (writer.clone(), reader.clone(), dispatcher.clone());
                let groups = groups.clone();
                move || RegistryArgs {
                    bus: bus.clone(),
                    kinds: kinds.clone(),
                    limits,
                    store: writer.clone(),
                    reader: reader.clone(),
                    dispatcher: dispatcher.clone(),
                    tasks: book.clone(),
                    groups: groups.clone(),
                }
            }),
            root::child("workers", pool_name.clone(), WorkerPool, {
                let (wopts, bus, book, dispatcher) = (opts.workers.clone(), bus.clone(), book.clone(), dispatcher);
                move || PoolArgs {
                    opts: wopts.clone(),
                    bus: bus.clone(),
                    tasks: book.clone(),
                    dispatcher: dispatcher.clone(),
                    groups: groups.clone(),
                }
            }),
        ];
        if let (Some(gw), Some(name)) = (opts.gateway.clone(), dispatcher_name.clone()) {
            let (wopts, wbus) = (gw.webhooks.clone(), bus.clone());
            children.push(root::child(
                "webhooks",
                crate::gateway::webhooks_name(&name),
                crate::gateway::Webhooks,
                move || crate::gateway::WebhookArgs { opts: wopts.clone(), bus: wbus.clone() },
            ));
            let (bus, book, reader) = (bus.clone(), book.clone(), reader.clone());
            // Kept across restarts: a restarted dispatcher binds the same address.
            let bound = Arc::new(std::sync::OnceLock::new());
            children.push(root::child("dispatcher", name, crate::gateway::Dispatcher, move || {
                crate::gateway::DispatcherArgs {
                    opts: gw.clone(),
                    bus: bus.clone(),
                    tasks: book.clone(),
                    reader: reader.clone(),
                    bound: bound.clone(),
                }
            }));
        }
        {
            // Kept across the scheduler's restarts (in memory without a store).
            let store: Arc<dyn crate::schedule::ScheduleStore> = match &reader {
                Some(s) => Arc::new(s.clone()),
                None => Arc::new(crate::schedule::MemoryStore::default()),
            };
            let fire: Arc<dyn crate::schedule::Fire> = Arc::new(schedules::Reach {
                registry: registry_name.clone(),
                dispatcher: dispatcher_name.clone(),
                gate: maintenance.clone(),
                book: book.clone(),
            });
            let clock = opts.clock.clone().unwrap_or_else(|| Arc::new(crate::schedule::SystemClock));
            let (bus, sopts) = (bus.clone(), opts.schedules.clone());
            children.push(root::child("schedules", scheduler_name.clone(), crate::schedule::Scheduler, move || {
                crate::schedule::SchedulerArgs {
                    clock: clock.clone(),
                    store: store.clone(),
                    fire: fire.clone(),
                    bus: bus.clone(),
                    opts: sopts.clone(),
                }
            }));
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
        let hive = Self {
            root,
            store: service,
            registry_name,
            pool_name,
            dispatcher_name,
            scheduler_name,
            bus,
            book,
            kinds: opts.kinds,
            maintenance,
            started: std::time::Instant::now(),
            logs: opts.logs,
            metrics: crate::metrics::Metrics::new(opts.metrics),
        };
        if let Some(store) = hive.store()? {
            restore::restore(&hive, &store, opts.restore_only.as_deref()).await?;
        }
        Ok(hive)
    }

    /// The swarms.
    pub fn swarms(&self) -> Swarms<'_> {
        Swarms(self)
    }

    /// The standalone JSONL workers.
    pub fn workers(&self) -> Workers<'_> {
        Workers(self)
    }

    /// The dispatcher and its workers (ZeroMQ and pool workers).
    pub fn gateway(&self) -> Dispatch<'_> {
        Dispatch(self)
    }

    /// The schedules.
    pub fn schedules(&self) -> Schedules<'_> {
        Schedules(self)
    }

    /// The tasks, whatever their transport.
    pub fn tasks(&self) -> Tasks<'_> {
        Tasks(self)
    }

    /// The events: the live bus and queries.
    pub fn event_log(&self) -> Events<'_> {
        Events(self)
    }

    /// The task book (where transports report and waiters learn).
    pub fn task_book(&self) -> &TaskBook {
        &self.book
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.bus
    }

    /// Whether events, overlays and tasks are stored (a data directory).
    pub fn has_store(&self) -> bool {
        self.store.is_some()
    }

    /// Validation options matching this runtime's object kinds.
    pub fn validate_options(&self) -> ValidateOptions {
        ValidateOptions { object_kinds: self.kinds.names() }
    }

    /// The store, if the runtime has one (an error once it has shut down).
    fn store(&self) -> Result<Option<Store>, HiveError> {
        match &self.store {
            None => Ok(None),
            Some(s) => s.store().map(Some).ok_or_else(|| HiveError::Unavailable("the runtime has shut down".into())),
        }
    }

    fn registry(&self) -> Result<ActorRef<RegistryMsg>, HiveError> {
        registry_ref(&self.registry_name)
    }

    fn pool(&self) -> Result<ActorRef<PoolMsg>, HiveError> {
        ractor::registry::where_is(self.pool_name.clone())
            .map(ActorRef::from)
            .ok_or_else(|| HiveError::Unavailable("the worker pool is restarting".into()))
    }

    fn handle(&self, name: String, actor: ActorRef<SwarmMsg>) -> SwarmHandle {
        SwarmHandle { name, actor, gate: self.maintenance.clone() }
    }

    /// Stops every swarm (newest first) and the runtime, then stores what is
    /// left. Safe to call from any holder of a shared `Hive`; calls after
    /// the first return at once.
    pub async fn shutdown(&self) {
        let _ = self.root.stop_and_wait(Some("shutdown".into()), None).await;
        if let Some(s) = &self.store {
            s.shutdown(&self.bus, &self.book).await;
        }
    }

    // Shorthands for the handles' calls.

    /// [`Swarms::start`].
    pub async fn start_swarm(&self, spec: SwarmSpec) -> Result<SwarmHandle, HiveError> {
        self.swarms().start(spec).await
    }
    /// [`Swarms::stop`].
    pub async fn stop_swarm(&self, name: &str) -> Result<(), HiveError> {
        self.swarms().stop(name).await
    }
    /// [`Swarms::get`].
    pub async fn swarm(&self, name: &str) -> Result<SwarmHandle, HiveError> {
        self.swarms().get(name).await
    }
    /// [`Swarms::list`].
    pub async fn list_swarms(&self) -> Result<Vec<SwarmSummary>, HiveError> {
        self.swarms().list().await
    }
    /// [`Swarms::summary`].
    pub async fn swarm_summary(&self, name: &str) -> Result<SwarmSummary, HiveError> {
        self.swarms().summary(name).await
    }
    /// [`Swarms::overlay`].
    pub async fn overlay(&self, name: &str) -> Result<Vec<OverlayOp>, HiveError> {
        self.swarms().overlay(name).await
    }
    /// [`Swarms::clear_overlay`].
    pub async fn clear_overlay(&self, name: &str) -> Result<(), HiveError> {
        self.swarms().clear_overlay(name).await
    }
    /// [`Swarms::clean`].
    pub async fn clean(&self, purge: bool) -> Result<Vec<String>, HiveError> {
        self.swarms().clean(purge).await
    }
    /// [`Swarms::purge`].
    pub async fn purge_swarm(&self, name: &str) -> Result<usize, HiveError> {
        self.swarms().purge(name).await
    }
    /// [`Swarms::restart`].
    pub async fn restart_swarm(&self, name: &str, clean: bool) -> Result<SwarmHandle, HiveError> {
        self.swarms().restart(name, clean).await
    }
    /// [`Workers::spawn`].
    pub async fn spawn_worker(&self, req: SpawnRequest) -> Result<String, HiveError> {
        self.workers().spawn(req).await
    }
    /// [`Workers::list`].
    pub async fn list_workers(&self) -> Result<Vec<WorkerStatus>, HiveError> {
        self.workers().list().await
    }
    /// [`Workers::get`].
    pub async fn worker(&self, id: &str) -> Result<WorkerStatus, HiveError> {
        self.workers().get(id).await
    }
    /// [`Workers::kill`].
    pub async fn kill_worker(&self, id: &str) -> Result<(), HiveError> {
        self.workers().kill(id).await
    }
    /// [`Workers::task`].
    pub async fn worker_task(&self, id: &str, content: &str) -> Result<Arc<str>, HiveError> {
        self.workers().task(id, content).await
    }
    /// [`Dispatch::enabled`].
    pub fn gateway_enabled(&self) -> bool {
        self.gateway().enabled()
    }
    /// [`Dispatch::submit`].
    pub async fn dispatch(&self, req: DispatchRequest, how: Submit) -> Result<(Arc<str>, Option<Follower>), HiveError> {
        self.gateway().submit(req, how).await
    }
    /// [`Dispatch::submit_webhook`].
    pub async fn dispatch_webhook(
        &self,
        req: DispatchRequest,
        hook: crate::gateway::Webhook,
    ) -> Result<Arc<str>, HiveError> {
        self.gateway().submit_webhook(req, hook).await
    }
    /// [`Dispatch::follow`].
    pub async fn follow_dispatched(&self, task_id: &str) -> Result<Follower, HiveError> {
        self.gateway().follow(task_id).await
    }
    /// [`Dispatch::cancel`].
    pub async fn cancel_dispatched(&self, task_id: &str) -> Result<(), HiveError> {
        self.gateway().cancel(task_id).await
    }
    /// [`Dispatch::workers`].
    pub async fn zmq_workers(&self) -> Result<Vec<ZmqWorker>, HiveError> {
        self.gateway().workers().await
    }
    /// [`Dispatch::status`].
    pub async fn zmq_status(&self) -> Result<GatewayStatus, HiveError> {
        self.gateway().status().await
    }
    /// [`Dispatch::set_accepting`].
    pub async fn set_worker_accepting(&self, worker_id: &str, accepting: bool) -> Result<(), HiveError> {
        self.gateway().set_accepting(worker_id, accepting).await
    }
    /// [`Tasks::get`].
    pub async fn task(&self, id: &str) -> Result<TaskRecord, HiveError> {
        self.tasks().get(id).await
    }
    /// [`Tasks::page`].
    pub async fn tasks_page(
        &self,
        filter: crate::task::TaskFilter,
        order: crate::task::TaskOrder,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<TaskRecord>, usize), HiveError> {
        self.tasks().page(filter, order, offset, limit).await
    }
    /// [`Events::query`].
    pub async fn query_events(&self, q: EventQuery) -> Result<Vec<StoredEvent>, HiveError> {
        self.event_log().query(q).await
    }
    /// [`Events::stored_after`].
    pub async fn stored_events_after(
        &self,
        q: EventQuery,
        after: u64,
        upto: u64,
        scan: usize,
    ) -> Result<(Vec<StoredEvent>, Option<u64>), HiveError> {
        self.event_log().stored_after(q, after, upto, scan).await
    }
}

/// Kills the process groups a killed run on `data_dir` left behind, then
/// answers where this run records its own. Blocking.
fn sweep_children(data_dir: &std::path::Path) -> Result<ChildGroups, crate::store::StoreError> {
    let swept = groups::sweep(data_dir);
    if swept.killed > 0 || swept.survivors > 0 {
        tracing::warn!(
            killed = swept.killed,
            survivors = swept.survivors,
            "killed the process groups of children a previous run left behind"
        );
    }
    ChildGroups::in_dir(data_dir).map_err(|e| {
        crate::store::StoreError::failed(format!("cannot record child processes in {}: {e}", data_dir.display()))
    })
}
