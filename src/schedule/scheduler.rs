//! The scheduler: one actor, a permanent child of the root. It holds every
//! schedule with its next tick in a time-ordered queue, sleeps until the
//! first one is due (a tokio timer it owns, re-armed after each message),
//! and then handles each due schedule:
//!
//! * the ticks due since its last one are counted; one tick, on time
//!   (within [`SchedulerOptions::grace`]), fires. More than one, or one
//!   later than the grace, is a catch-up: `skip` records them skipped,
//!   `once` fires the latest;
//! * a fire first looks at the schedule's previous task: if it is still
//!   open, `skip` skips the tick, `queue` fires anyway and
//!   `cancel_previous` cancels it first;
//! * the fires of one wake run concurrently (so their records share
//!   commits); each task's record carries its tick, and the store writes
//!   the tick's run with it. Skips and failures are written as runs too,
//!   in one commit per wake.
//!
//! At start it loads every schedule with its latest run: the last tick
//! handled is that run's, so a restart (of the actor or the daemon) never
//! fires a tick again, and the ticks it missed follow the catch-up policy.
//! A swarm's schedules fire only while the runtime says the swarm runs
//! ([`SchedulerMsg::Attach`], [`SchedulerMsg::Detach`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::clock::Clock;
use super::fire::{Fire, FireRequest};
use super::record::{Owner, Run, RunOutcome, Schedule};
use super::store::{MAX_RUNS, ScheduleStore};
use super::view::{NEXT_FIRES, ScheduleEdit, ScheduleView};
use crate::config::schedule::Timing;
use crate::config::schedule::{CatchUp, Overlap, ScheduleSpec, Target};
use crate::error::HiveError;
use crate::events::{EventBus, EventKind};
use crate::task::ScheduleTick;

/// Longest the scheduler sleeps between looks at the clock.
const MAX_NAP: Duration = Duration::from_secs(60);
/// Fires of one wake in flight at once.
const FIRES_AT_ONCE: usize = 64;
/// Missed ticks counted one by one before only the latest is sought.
const COUNT_CAP: u64 = 10_000;
/// A schedule's runs are trimmed to [`MAX_RUNS`] every this many runs.
const TRIM_EVERY: u32 = 64;

/// Settings of the scheduler.
#[derive(Clone)]
pub struct SchedulerOptions {
    /// A tick handled later than this after it was due counts as missed.
    pub grace: Duration,
    /// Most schedules in the daemon.
    pub max_schedules: usize,
    /// Test hook: after this many more fires the scheduler fails, once,
    /// before it notes anything of them (the store has their tasks and
    /// runs; the restarted scheduler must not fire them again).
    #[doc(hidden)]
    pub fail_after_fires: Option<Arc<AtomicU64>>,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self { grace: Duration::from_secs(30), max_schedules: 100_000, fail_after_fires: None }
    }
}

/// What the scheduler starts with.
#[derive(Clone)]
pub struct SchedulerArgs {
    /// The wall clock.
    pub clock: Arc<dyn Clock>,
    /// Where schedules and runs are kept.
    pub store: Arc<dyn ScheduleStore>,
    /// The runtime, to fire at.
    pub fire: Arc<dyn Fire>,
    /// Where `schedule_*` events go.
    pub bus: EventBus,
    /// Settings.
    pub opts: SchedulerOptions,
}

type Reply<T> = RpcReplyPort<Result<T, HiveError>>;

/// Messages of the scheduler.
pub enum SchedulerMsg {
    /// Makes a schedule (by the token named).
    Create(Box<ScheduleSpec>, Option<String>, Reply<ScheduleView>),
    /// Edits one.
    Edit(String, Box<ScheduleEdit>, Reply<ScheduleView>),
    /// Deletes one (with its runs).
    Delete(String, Reply<()>),
    /// One schedule.
    Get(String, Reply<ScheduleView>),
    /// Every schedule, by name.
    List(RpcReplyPort<Vec<ScheduleView>>),
    /// A schedule's latest runs, newest first, with its id.
    Runs(String, usize, Reply<(String, Vec<Run>)>),
    /// A swarm runs with these schedules (named `<swarm>.<name>`, aimed at
    /// its agents): they are made, updated or dropped to match, and fire.
    Attach(String, Vec<ScheduleSpec>, Reply<()>),
    /// A swarm stopped: its schedules stop firing; with `true` (purged)
    /// they are deleted.
    Detach(String, bool, RpcReplyPort<()>),
    /// The timer of this generation rang.
    Tick(u64),
}

/// The scheduler actor.
#[derive(Clone, Copy)]
pub struct Scheduler;

struct Entry {
    s: Schedule,
    timing: Timing,
    /// The last tick handled.
    last_tick: Option<u64>,
    last_run: Option<Run>,
    /// The last task it created (for the overlap policy).
    last_task: Option<Arc<str>>,
    /// Its place in the queue.
    next: Option<u64>,
    /// Whether it may fire (an API schedule always; a swarm's while it runs).
    attached: bool,
    since_trim: u32,
}

impl Entry {
    fn new(s: Schedule, last_run: Option<Run>, attached: bool) -> Result<Self, String> {
        let timing = s.spec.timing(matches!(s.owner, Owner::Swarm(_)))?;
        Ok(Self {
            timing,
            last_tick: last_run.as_ref().map(|r| r.tick_ms),
            last_task: last_run.as_ref().and_then(|r| r.task_id.as_deref().map(Into::into)),
            last_run,
            s,
            next: None,
            attached,
            since_trim: 0,
        })
    }

    /// Ticks after this are due.
    fn base(&self) -> u64 {
        self.last_tick.unwrap_or(0).max(self.s.resume_ms)
    }

    fn live(&self) -> bool {
        self.attached && self.s.spec.enabled
    }

    fn upcoming(&self) -> Vec<u64> {
        if !self.live() {
            return Vec::new();
        }
        self.timing.upcoming(self.base(), self.s.anchor_ms, NEXT_FIRES)
    }

    fn view(&self) -> ScheduleView {
        ScheduleView::of(&self.s, self.upcoming(), self.last_run.as_ref())
    }
}

/// What one due schedule does at a wake.
enum Action {
    Fire { name: Arc<str>, req: FireRequest, cancel: Option<Arc<str>>, caught_up: u64 },
    Skip { name: Arc<str>, tick: u64, missed: u64, reason: String },
}

/// How a fire went (`None`: the action was a skip).
type Fired = Option<Result<Arc<str>, HiveError>>;

/// The scheduler's state.
pub struct State {
    args: SchedulerArgs,
    entries: HashMap<Arc<str>, Entry>,
    queue: BTreeSet<(u64, Arc<str>)>,
    timer: Option<JoinHandle<Result<(), ractor::MessagingErr<SchedulerMsg>>>>,
    generation: u64,
}

/// Runs a store call: on the blocking pool, unless the store answers at once.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn ScheduleStore>,
    f: impl FnOnce() -> Result<T, HiveError> + Send + 'static,
) -> Result<T, HiveError> {
    if store.is_inline() {
        return f();
    }
    tokio::task::spawn_blocking(f).await.map_err(|e| HiveError::Unavailable(e.to_string()))?
}

impl State {
    fn now(&self) -> u64 {
        self.args.clock.now_ms()
    }

    /// Puts `name` in the queue at its next tick (or takes it out).
    fn requeue(&mut self, name: &Arc<str>) {
        let Some(e) = self.entries.get_mut(name) else { return };
        if let Some(at) = e.next.take() {
            self.queue.remove(&(at, name.clone()));
        }
        if e.live() {
            e.next = e.timing.next_after(e.base(), e.s.anchor_ms);
            if let Some(at) = e.next {
                self.queue.insert((at, name.clone()));
            }
        }
    }

    fn arm(&mut self, myself: &ActorRef<SchedulerMsg>) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
        let Some((at, _)) = self.queue.first() else { return };
        let wait = Duration::from_millis(at.saturating_sub(self.now())).min(MAX_NAP);
        self.generation += 1;
        let generation = self.generation;
        self.timer = Some(myself.send_after(wait, move || SchedulerMsg::Tick(generation)));
    }

    fn entry(&self, name: &str) -> Result<&Entry, HiveError> {
        self.entries.get(name).ok_or_else(|| HiveError::not_found(crate::error::Resource::Schedule, name))
    }

    async fn save(&self, s: &Schedule) -> Result<(), HiveError> {
        let (store, s) = (self.args.store.clone(), s.clone());
        blocking(&store.clone(), move || store.put(&s)).await
    }

    async fn create(&mut self, spec: ScheduleSpec, by: Option<String>) -> Result<ScheduleView, HiveError> {
        let timing = spec.timing(false).map_err(HiveError::BadRequest)?;
        if self.entries.contains_key(spec.name.as_str()) {
            return Err(HiveError::Conflict(format!("a schedule named '{}' exists", spec.name)));
        }
        if self.entries.len() >= self.args.opts.max_schedules {
            return Err(HiveError::Full(format!(
                "the daemon has its most schedules ({})",
                self.args.opts.max_schedules
            )));
        }
        let now = self.now();
        if let Timing::At(at) = timing
            && at <= now
        {
            return Err(HiveError::BadRequest(format!("'at' ({}) is in the past", spec.at.as_deref().unwrap_or(""))));
        }
        self.args.fire.check(&spec.target).await?;
        let s = Schedule {
            id: uuid::Uuid::now_v7().to_string(),
            spec,
            owner: Owner::Api,
            created_by: by,
            created_ms: now,
            updated_ms: now,
            anchor_ms: now,
            resume_ms: now,
        };
        self.save(&s).await?;
        let name: Arc<str> = s.spec.name.as_str().into();
        let e = Entry::new(s, None, true).map_err(HiveError::BadRequest)?;
        let view = e.view();
        self.entries.insert(name.clone(), e);
        self.requeue(&name);
        Ok(view)
    }

    async fn edit(&mut self, name: &str, edit: ScheduleEdit) -> Result<ScheduleView, HiveError> {
        let e = self.entry(name)?;
        if let Owner::Swarm(swarm) = &e.s.owner
            && edit.edits_spec()
        {
            return Err(HiveError::Conflict(format!(
                "schedule '{name}' is declared in swarm '{swarm}''s file: only 'enabled' can change here"
            )));
        }
        let spec = edit.apply(&e.s.spec);
        let timing = spec.timing(matches!(e.s.owner, Owner::Swarm(_))).map_err(HiveError::BadRequest)?;
        if edit.target.is_some() {
            self.args.fire.check(&spec.target).await?;
        }
        let now = self.now();
        let mut s = e.s.clone();
        let woke = spec.enabled && !s.spec.enabled;
        s.spec = spec;
        s.updated_ms = now;
        if edit.edits_timing() {
            s.anchor_ms = now;
        }
        if edit.edits_timing() || woke {
            // Ticks before now were not this schedule's to fire.
            s.resume_ms = now;
        }
        self.save(&s).await?;
        let key: Arc<str> = name.into();
        let e = self.entries.get_mut(name).expect("checked");
        (e.s, e.timing) = (s, timing);
        let view = e.view();
        self.requeue(&key);
        Ok(view)
    }

    async fn delete(&mut self, name: &str) -> Result<(), HiveError> {
        let e = self.entry(name)?;
        if let Owner::Swarm(swarm) = &e.s.owner {
            return Err(HiveError::Conflict(format!(
                "schedule '{name}' is declared in swarm '{swarm}''s file: it goes with the swarm"
            )));
        }
        self.forget(name).await
    }

    async fn forget(&mut self, name: &str) -> Result<(), HiveError> {
        let id = self.entry(name)?.s.id.clone();
        let store = self.args.store.clone();
        blocking(&store.clone(), move || store.delete(&id)).await?;
        let key: Arc<str> = name.into();
        if let Some(e) = self.entries.remove(name)
            && let Some(at) = e.next
        {
            self.queue.remove(&(at, key));
        }
        Ok(())
    }

    async fn attach(&mut self, swarm: &str, specs: Vec<ScheduleSpec>) -> Result<(), HiveError> {
        let now = self.now();
        let owner = Owner::Swarm(swarm.to_string());
        let mut keep = Vec::with_capacity(specs.len());
        for spec in specs {
            let name: Arc<str> = spec.name.as_str().into();
            keep.push(name.clone());
            let timing = spec.timing(true).map_err(HiveError::BadRequest)?;
            match self.entries.get_mut(&name) {
                Some(e) if e.s.owner != owner => {
                    return Err(HiveError::Conflict(format!("a schedule named '{name}' exists")));
                }
                Some(e) => {
                    if e.s.spec != spec {
                        let timing_changed = (&e.s.spec.cron, &e.s.spec.timezone, &e.s.spec.every, &e.s.spec.at)
                            != (&spec.cron, &spec.timezone, &spec.every, &spec.at);
                        e.s.spec = spec;
                        e.s.updated_ms = now;
                        if timing_changed {
                            (e.s.anchor_ms, e.s.resume_ms) = (now, now);
                        }
                        e.timing = timing;
                        let s = e.s.clone();
                        self.save(&s).await?;
                    }
                }
                None => {
                    let s = Schedule {
                        id: uuid::Uuid::now_v7().to_string(),
                        spec,
                        owner: owner.clone(),
                        created_by: None,
                        created_ms: now,
                        updated_ms: now,
                        anchor_ms: now,
                        resume_ms: now,
                    };
                    self.save(&s).await?;
                    self.entries.insert(name.clone(), Entry::new(s, None, false).map_err(HiveError::BadRequest)?);
                }
            }
        }
        let gone: Vec<Arc<str>> = self
            .entries
            .iter()
            .filter(|(n, e)| e.s.owner == owner && !keep.contains(n))
            .map(|(n, _)| n.clone())
            .collect();
        for name in gone {
            self.forget(&name).await?;
        }
        for name in keep {
            if let Some(e) = self.entries.get_mut(&name) {
                e.attached = true;
            }
            self.requeue(&name);
        }
        Ok(())
    }

    async fn detach(&mut self, swarm: &str, purge: bool) {
        let owner = Owner::Swarm(swarm.to_string());
        let names: Vec<Arc<str>> =
            self.entries.iter().filter(|(_, e)| e.s.owner == owner).map(|(n, _)| n.clone()).collect();
        for name in names {
            if purge {
                if let Err(e) = self.forget(&name).await {
                    tracing::warn!(schedule = %name, "its record could not be deleted: {e}");
                }
                continue;
            }
            if let Some(e) = self.entries.get_mut(&name) {
                e.attached = false;
            }
            self.requeue(&name);
        }
    }

    /// Decides what each due schedule does.
    fn due(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        while let Some((at, name)) = self.queue.first().cloned() {
            if at > now {
                break;
            }
            self.queue.remove(&(at, name.clone()));
            let grace = self.args.opts.grace.as_millis() as u64;
            let Some(e) = self.entries.get_mut(&name) else { continue };
            e.next = None;
            let Some((n, latest)) = e.timing.due(e.base(), now, e.s.anchor_ms, COUNT_CAP) else {
                self.requeue(&name);
                continue;
            };
            let missed = if now.saturating_sub(latest) > grace { n } else { n - 1 };
            e.last_tick = Some(latest);
            let tick = ScheduleTick { schedule_id: e.s.id.clone(), schedule: name.to_string(), tick_ms: latest };
            let open = e.last_task.clone().filter(|t| self.args.fire.is_open(t));
            let action = match (missed, e.s.spec.catch_up, open, e.s.spec.overlap) {
                (1.., CatchUp::Skip, ..) => Action::Skip {
                    name: name.clone(),
                    tick: latest,
                    missed: n,
                    reason: "missed while the scheduler was down or late".into(),
                },
                (_, _, Some(prev), Overlap::Skip) => Action::Skip {
                    name: name.clone(),
                    tick: latest,
                    missed: n,
                    reason: format!("the previous task {prev} has not ended"),
                },
                (_, _, open, overlap) => Action::Fire {
                    name: name.clone(),
                    req: FireRequest {
                        target: e.s.spec.target.clone(),
                        content: e.s.spec.content.clone(),
                        submitted_by: e.s.created_by.clone(),
                        tick,
                    },
                    cancel: open.filter(|_| overlap == Overlap::CancelPrevious),
                    caught_up: n - 1,
                },
            };
            actions.push(action);
            self.requeue(&name);
        }
        actions
    }

    /// Runs the due schedules' actions and records how they went.
    async fn wake(&mut self) -> Result<(), ActorProcessingErr> {
        let now = self.now();
        let actions = self.due(now);
        if actions.is_empty() {
            return Ok(());
        }
        let fire = self.args.fire.clone();
        let results: Vec<(Action, Fired)> = futures::stream::iter(actions)
            .map(|a| {
                let fire = fire.clone();
                async move {
                    match &a {
                        Action::Skip { .. } => (a, None),
                        Action::Fire { req, cancel, .. } => {
                            if let Some(prev) = cancel {
                                fire.cancel(&req.target, prev).await;
                            }
                            let r = fire.fire(req.clone()).await;
                            (a, Some(r))
                        }
                    }
                }
            })
            .buffer_unordered(FIRES_AT_ONCE)
            .collect()
            .await;
        if let Some(left) = &self.args.opts.fail_after_fires {
            let fired = results.iter().filter(|(_, r)| matches!(r, Some(Ok(_)))).count() as u64;
            let before = left.load(Ordering::SeqCst);
            if before != u64::MAX && fired > 0 {
                if fired >= before {
                    left.store(u64::MAX, Ordering::SeqCst);
                    return Err("test hook: the scheduler fails after creating its tasks".into());
                }
                left.store(before - fired, Ordering::SeqCst);
            }
        }
        let at = self.now();
        let mut runs = Vec::with_capacity(results.len());
        let mut trims = Vec::new();
        for (action, result) in results {
            let (name, run, kind) = match (action, result) {
                (Action::Fire { name, req, caught_up, .. }, Some(Ok(task_id))) => {
                    let run = Run {
                        tick_ms: req.tick.tick_ms,
                        at_ms: at,
                        outcome: RunOutcome::Fired,
                        task_id: Some(task_id.to_string()),
                        reason: None,
                        missed: caught_up,
                    };
                    let kind = EventKind::ScheduleFired {
                        schedule: name.clone(),
                        task_id: task_id.clone(),
                        tick_ms: req.tick.tick_ms,
                        caught_up,
                    };
                    if let Some(e) = self.entries.get_mut(&name) {
                        e.last_task = Some(task_id);
                    }
                    (name, run, kind)
                }
                (Action::Skip { name, tick, missed, reason }, _) => {
                    let run = Run {
                        tick_ms: tick,
                        at_ms: at,
                        outcome: RunOutcome::Skipped,
                        task_id: None,
                        reason: Some(reason.clone()),
                        missed,
                    };
                    (name.clone(), run, EventKind::ScheduleSkipped { schedule: name, tick_ms: tick, missed, reason })
                }
                (Action::Fire { name, req, .. }, fired) => {
                    // `None` cannot come with a fire; it is a failure all the same.
                    let error = match fired {
                        Some(Err(err)) => err.to_string(),
                        _ => "not fired".to_string(),
                    };
                    let tick_ms = req.tick.tick_ms;
                    let run = Run {
                        tick_ms,
                        at_ms: at,
                        outcome: RunOutcome::Failed,
                        task_id: None,
                        reason: Some(error.clone()),
                        missed: 0,
                    };
                    (name.clone(), run, EventKind::ScheduleFailed { schedule: name, tick_ms, error })
                }
            };
            let Some(e) = self.entries.get_mut(&name) else { continue };
            let swarm: Arc<str> = match &e.s.spec.target {
                Target::Agent(a) => a.swarm.as_str().into(),
                Target::Pool(_) => "_dispatch".into(),
            };
            self.args.bus.emit(Some(&swarm), None, kind);
            e.last_run = Some(run.clone());
            e.since_trim += 1;
            if e.since_trim >= TRIM_EVERY {
                e.since_trim = 0;
                trims.push(e.s.id.clone());
            }
            runs.push((e.s.id.clone(), run));
        }
        let store = self.args.store.clone();
        let written = blocking(&store.clone(), move || {
            store.put_runs(&runs)?;
            for id in trims {
                store.trim(&id, MAX_RUNS)?;
            }
            Ok(())
        })
        .await;
        if let Err(e) = written {
            // The fired ticks' runs are with their tasks; only skips and
            // failures are lost from the history (their events say it).
            tracing::warn!("schedule runs could not be recorded: {e}");
        }
        Ok(())
    }
}

impl Actor for Scheduler {
    type Msg = SchedulerMsg;
    type State = State;
    type Arguments = SchedulerArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SchedulerMsg>,
        args: SchedulerArgs,
    ) -> Result<State, ActorProcessingErr> {
        let store = args.store.clone();
        let loaded = blocking(&store.clone(), move || store.load()).await?;
        let running = args.fire.running_swarms().await;
        let mut st = State { args, entries: HashMap::new(), queue: BTreeSet::new(), timer: None, generation: 0 };
        for (s, last) in loaded {
            let attached = match &s.owner {
                Owner::Api => true,
                Owner::Swarm(swarm) => running.contains(swarm),
            };
            let name: Arc<str> = s.spec.name.as_str().into();
            match Entry::new(s, last, attached) {
                Ok(e) => {
                    st.entries.insert(name.clone(), e);
                    st.requeue(&name);
                }
                Err(e) => tracing::warn!(schedule = %name, "a stored schedule does not parse and is ignored: {e}"),
            }
        }
        st.arm(&myself);
        Ok(st)
    }

    async fn post_stop(&self, _: ActorRef<SchedulerMsg>, st: &mut State) -> Result<(), ActorProcessingErr> {
        if let Some(t) = st.timer.take() {
            t.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SchedulerMsg>,
        msg: SchedulerMsg,
        st: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SchedulerMsg::Create(spec, by, reply) => {
                let _ = reply.send(st.create(*spec, by).await);
            }
            SchedulerMsg::Edit(name, edit, reply) => {
                let _ = reply.send(st.edit(&name, *edit).await);
            }
            SchedulerMsg::Delete(name, reply) => {
                let _ = reply.send(st.delete(&name).await);
            }
            SchedulerMsg::Get(name, reply) => {
                let _ = reply.send(st.entry(&name).map(Entry::view));
            }
            SchedulerMsg::List(reply) => {
                let mut all: Vec<ScheduleView> = st.entries.values().map(Entry::view).collect();
                all.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
                let _ = reply.send(all);
            }
            SchedulerMsg::Runs(name, limit, reply) => {
                let r = match st.entry(&name) {
                    Ok(e) => {
                        let (store, id) = (st.args.store.clone(), e.s.id.clone());
                        blocking(&store.clone(), move || Ok((id.clone(), store.runs(&id, limit)?))).await
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(r);
            }
            SchedulerMsg::Attach(swarm, specs, reply) => {
                let _ = reply.send(st.attach(&swarm, specs).await);
            }
            SchedulerMsg::Detach(swarm, purge, reply) => {
                st.detach(&swarm, purge).await;
                let _ = reply.send(());
            }
            SchedulerMsg::Tick(generation) => {
                if generation == st.generation {
                    st.timer = None;
                    st.wake().await?;
                }
            }
        }
        st.arm(&myself);
        Ok(())
    }
}
