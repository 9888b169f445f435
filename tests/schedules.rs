//! The scheduler at library level, on tokio's paused clock with an
//! injected wall clock: fire counts over a simulated hour, the overlap and
//! catch-up policies, a restart on the same store. Then the runtime with a
//! real redb file: a crash between a tick's task and the scheduler's note
//! of it, a restart of the daemon on the same directory, and no tick twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use hive::HiveError;
use hive::events::EventBus;
use hive::schedule::{
    CatchUp, Fire, FireRequest, MemoryStore, Overlap, PoolTarget, RunOutcome, ScheduleSpec, ScheduleStore, Scheduler,
    SchedulerArgs, SchedulerMsg, SchedulerOptions, Target, TokioClock,
};
use ractor::{Actor, ActorRef};

/// A runtime that only remembers what it was asked to fire.
#[derive(Default)]
struct Recorder {
    fired: Mutex<Vec<FireRequest>>,
    open: Mutex<HashSet<String>>,
    cancelled: Mutex<Vec<String>>,
    /// Fired tasks stay open (for the overlap policies).
    keep_open: bool,
}

impl Recorder {
    fn ticks(&self) -> Vec<u64> {
        self.fired.lock().unwrap().iter().map(|r| r.tick.tick_ms).collect()
    }
}

impl Fire for Recorder {
    fn check(&self, _: &Target) -> BoxFuture<'_, Result<(), HiveError>> {
        async { Ok(()) }.boxed()
    }
    fn fire(&self, req: FireRequest) -> BoxFuture<'_, Result<Arc<str>, HiveError>> {
        let mut fired = self.fired.lock().unwrap();
        let id = format!("t{}", fired.len());
        fired.push(req);
        if self.keep_open {
            self.open.lock().unwrap().insert(id.clone());
        }
        async move { Ok(id.into()) }.boxed()
    }
    fn is_open(&self, task_id: &str) -> bool {
        self.open.lock().unwrap().contains(task_id)
    }
    fn cancel(&self, _: &Target, task_id: &str) -> BoxFuture<'_, ()> {
        self.open.lock().unwrap().remove(task_id);
        self.cancelled.lock().unwrap().push(task_id.to_string());
        async {}.boxed()
    }
    fn running_swarms(&self) -> BoxFuture<'_, Vec<String>> {
        async { Vec::new() }.boxed()
    }
}

/// 2026-12-03T00:00:00Z.
const T0: u64 = 1_796_256_000_000;

fn every(name: &str, period: &str) -> ScheduleSpec {
    ScheduleSpec {
        name: name.into(),
        cron: None,
        timezone: None,
        every: Some(period.into()),
        at: None,
        target: Target::Pool(PoolTarget::default()),
        content: "tick".into(),
        enabled: true,
        overlap: Overlap::Queue,
        catch_up: CatchUp::Skip,
    }
}

async fn start(fire: Arc<Recorder>, store: Arc<dyn ScheduleStore>, clock: Arc<TokioClock>) -> ActorRef<SchedulerMsg> {
    let args =
        SchedulerArgs { clock, store, fire, bus: EventBus::new(Default::default()), opts: SchedulerOptions::default() };
    Actor::spawn(None, Scheduler, args).await.expect("scheduler starts").0
}

async fn create(s: &ActorRef<SchedulerMsg>, spec: ScheduleSpec) {
    ractor::call!(s, SchedulerMsg::Create, Box::new(spec), Some("ops".into())).unwrap().expect("created");
}

#[tokio::test(start_paused = true)]
async fn an_every_second_schedule_fires_3600_times_in_a_simulated_hour() {
    let fire = Arc::new(Recorder::default());
    let clock = Arc::new(TokioClock::starting_at(T0));
    let s = start(fire.clone(), Arc::new(MemoryStore::default()), clock).await;
    create(&s, every("beat", "1s")).await;
    tokio::time::sleep(Duration::from_millis(3_600_000 + 500)).await;
    let ticks = fire.ticks();
    assert_eq!(ticks.len(), 3600, "one fire per second");
    let expected: Vec<u64> = (1..=3600).map(|k| T0 + k * 1000).collect();
    assert_eq!(ticks, expected, "each tick once, in order, on its second");
    let by = fire.fired.lock().unwrap()[0].submitted_by.clone();
    assert_eq!(by.as_deref(), Some("ops"), "tasks are the creator's");
    let runs = ractor::call!(s, SchedulerMsg::Runs, "beat".into(), 5).unwrap().unwrap().1;
    assert_eq!(runs.len(), 5);
    assert!(runs.iter().all(|r| r.outcome == RunOutcome::Fired));
    assert_eq!(runs[0].tick_ms, T0 + 3_600_000, "newest first");
    s.stop(None);
}

#[tokio::test(start_paused = true)]
async fn overlap_skip_skips_while_the_previous_task_runs_and_cancel_previous_cancels_it() {
    let fire = Arc::new(Recorder { keep_open: true, ..Default::default() });
    let clock = Arc::new(TokioClock::starting_at(T0));
    let s = start(fire.clone(), Arc::new(MemoryStore::default()), clock).await;
    create(&s, ScheduleSpec { overlap: Overlap::Skip, ..every("skipper", "10s") }).await;
    tokio::time::sleep(Duration::from_millis(35_500)).await;
    assert_eq!(fire.ticks(), vec![T0 + 10_000], "the first task never ends: later ticks are skipped");
    let runs = ractor::call!(s, SchedulerMsg::Runs, "skipper".into(), 10).unwrap().unwrap().1;
    let outcomes: Vec<RunOutcome> = runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, vec![RunOutcome::Skipped, RunOutcome::Skipped, RunOutcome::Fired]);

    ractor::call!(s, SchedulerMsg::Delete, "skipper".into()).unwrap().unwrap();
    create(&s, ScheduleSpec { overlap: Overlap::CancelPrevious, ..every("canceller", "10s") }).await;
    tokio::time::sleep(Duration::from_millis(30_500)).await;
    assert_eq!(fire.ticks().len(), 4, "cancel_previous fires every tick");
    assert_eq!(fire.cancelled.lock().unwrap().len(), 2, "each fire after the first cancelled the one before");
    s.stop(None);
}

#[tokio::test(start_paused = true)]
async fn after_downtime_catch_up_skip_skips_and_once_fires_the_latest_tick_once() {
    let fire = Arc::new(Recorder::default());
    let store: Arc<dyn ScheduleStore> = Arc::new(MemoryStore::default());
    let clock = Arc::new(TokioClock::starting_at(T0));
    let s = start(fire.clone(), store.clone(), clock.clone()).await;
    create(&s, every("skip", "1s")).await;
    create(&s, ScheduleSpec { catch_up: CatchUp::Once, ..every("once", "1s") }).await;
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    s.stop_and_wait(None, None).await.unwrap();
    assert_eq!(fire.ticks().len(), 20, "ten ticks each before the stop");

    // Down for 100 s: a new scheduler on the same store.
    tokio::time::sleep(Duration::from_secs(100)).await;
    fire.fired.lock().unwrap().clear();
    let s = start(fire.clone(), store, clock).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let once: Vec<u64> =
        fire.fired.lock().unwrap().iter().filter(|r| r.tick.schedule == "once").map(|r| r.tick.tick_ms).collect();
    assert_eq!(once, vec![T0 + 110_000], "once: the latest missed tick fires, once");
    assert!(
        fire.fired.lock().unwrap().iter().all(|r| r.tick.schedule == "once"),
        "skip: nothing fires for the missed ticks"
    );
    let runs = ractor::call!(s, SchedulerMsg::Runs, "skip".into(), 1).unwrap().unwrap().1;
    assert_eq!((runs[0].outcome, runs[0].missed), (RunOutcome::Skipped, 100), "one run records the 100 missed ticks");
    // Then both go on, on time.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let after: Vec<(String, u64)> =
        fire.fired.lock().unwrap().iter().map(|r| (r.tick.schedule.clone(), r.tick.tick_ms)).collect();
    assert!(
        after.contains(&("skip".into(), T0 + 111_000)) && after.contains(&("once".into(), T0 + 112_000)),
        "{after:?}"
    );
    s.stop(None);
}

#[tokio::test(start_paused = true)]
async fn bad_specs_are_refused_and_change_nothing() {
    let fire = Arc::new(Recorder::default());
    let clock = Arc::new(TokioClock::starting_at(T0));
    let s = start(fire.clone(), Arc::new(MemoryStore::default()), clock).await;
    let bad = [
        ScheduleSpec { every: None, cron: Some("61 * * * *".into()), ..every("a", "1s") },
        ScheduleSpec {
            every: None,
            cron: Some("* * * * *".into()),
            timezone: Some("Mars/Base".into()),
            ..every("a", "1s")
        },
        every("a", "500ms"),
        ScheduleSpec { at: Some("2020-01-01T00:00:00Z".into()), every: None, ..every("a", "1s") },
        ScheduleSpec { cron: Some("* * * * *".into()), ..every("a", "1s") },
        every("bad name", "1s"),
    ];
    for spec in bad {
        let r = ractor::call!(s, SchedulerMsg::Create, Box::new(spec.clone()), None).unwrap();
        assert!(matches!(r, Err(HiveError::BadRequest(_))), "{spec:?} → {r:?}");
    }
    create(&s, every("a", "1s")).await;
    let dup = ractor::call!(s, SchedulerMsg::Create, Box::new(every("a", "5s")), None).unwrap();
    assert!(matches!(dup, Err(HiveError::Conflict(_))));
    let all = ractor::call!(s, SchedulerMsg::List).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].spec.every.as_deref(), Some("1s"));
    s.stop(None);
}

mod runtime {
    //! The runtime with a data directory: real redb, real tasks.
    use super::*;
    use hive::{Hive, HiveOptions};

    const SWARM: &str = r#"
name = "clock"
[[agents]]
name = "a"
backend = "mock"

[[schedules]]
name = "beat"
agent = "a"
every = "1s"
content = "beat"
overlap = "queue"
catch_up = "once"
"#;

    async fn ticks_of(hive: &Hive) -> Vec<u64> {
        let all = hive.tasks().list(&[]).await.unwrap();
        let mut ticks: Vec<u64> = all.iter().filter_map(|t| t.tick.as_ref()).map(|t| t.tick_ms).collect();
        ticks.sort_unstable();
        ticks
    }

    async fn wait_for(hive: &Hive, n: usize) -> Vec<u64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ticks = ticks_of(hive).await;
            if ticks.len() >= n || tokio::time::Instant::now() > deadline {
                return ticks;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn unique(ticks: &[u64]) -> bool {
        ticks.iter().collect::<HashSet<_>>().len() == ticks.len()
    }

    #[tokio::test]
    async fn a_crash_between_a_ticks_task_and_its_note_and_a_restart_fire_no_tick_twice() {
        let dir = tempfile::tempdir().unwrap();
        let left = Arc::new(AtomicU64::new(2));
        let opts = || HiveOptions {
            data_dir: Some(dir.path().to_path_buf()),
            schedules: SchedulerOptions { fail_after_fires: Some(left.clone()), ..Default::default() },
            ..Default::default()
        };
        let hive = Hive::start(opts()).await.unwrap();
        let spec = hive::config::parse_toml(SWARM, &hive.validate_options()).unwrap();
        hive.start_swarm(spec).await.unwrap();
        // The scheduler fails once after its second fire (the supervisor
        // restarts it, and it reads its progress back from the store).
        let ticks = wait_for(&hive, 4).await;
        assert!(ticks.len() >= 4, "fires go on after the scheduler's crash: {ticks:?}");
        assert_eq!(left.load(Ordering::SeqCst), u64::MAX, "the crash point was reached");
        assert!(unique(&ticks), "no tick fired twice across the crash: {ticks:?}");
        hive.shutdown().await;
        drop(hive);

        // The daemon is down a while; the same directory again.
        let before = ticks.len();
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let hive = Hive::start(opts()).await.unwrap();
        let ticks = wait_for(&hive, before + 3).await;
        assert!(unique(&ticks), "no tick fired twice across the restart: {ticks:?}");
        let gap = ticks.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(gap >= 2_000, "the missed ticks were not all fired (catch-up once fires one): {ticks:?}");
        let view = hive.schedules().get("clock.beat").await.unwrap();
        assert_eq!(view.swarm.as_deref(), Some("clock"));
        assert!(!view.next_fires.is_empty());
        let runs = hive.schedules().runs("clock.beat", 100).await.unwrap();
        assert!(runs.iter().any(|r| r.missed >= 1), "the catch-up fire says how many ticks it stands for: {runs:?}");

        // The swarm's purge takes its schedules.
        hive.swarms().purge("clock").await.unwrap();
        assert!(hive.schedules().get("clock.beat").await.is_err());
        hive.shutdown().await;
    }
}
