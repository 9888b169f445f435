//! Table-driven tests of the supervisor: every strategy × restart type ×
//! exit kind, intensity → escalation, shutdown order and timeouts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef};

use super::*;

type Log = Arc<Mutex<Vec<String>>>;

/// A test child: logs `start:id` and `stop:id`, and exits on command.
struct TestChild;

enum Cmd {
    Exit(ExitReason),
    Panic,
    Sleep(Duration),
}

struct TestArgs {
    id: String,
    log: Log,
    stop_delay: Duration,
}

impl Actor for TestChild {
    type Msg = Cmd;
    type State = TestArgs;
    type Arguments = TestArgs;

    async fn pre_start(&self, _: ActorRef<Cmd>, a: TestArgs) -> Result<TestArgs, ActorProcessingErr> {
        a.log.lock().unwrap().push(format!("start:{}", a.id));
        Ok(a)
    }

    async fn post_stop(&self, _: ActorRef<Cmd>, s: &mut TestArgs) -> Result<(), ActorProcessingErr> {
        if !s.stop_delay.is_zero() {
            tokio::time::sleep(s.stop_delay).await;
        }
        s.log.lock().unwrap().push(format!("stop:{}", s.id));
        Ok(())
    }

    async fn handle(&self, me: ActorRef<Cmd>, msg: Cmd, _: &mut TestArgs) -> Result<(), ActorProcessingErr> {
        match msg {
            Cmd::Panic => panic!("boom"),
            Cmd::Sleep(d) => tokio::time::sleep(d).await,
            Cmd::Exit(ExitReason::Normal) => me.stop(Some("normal".into())),
            Cmd::Exit(r) => return Err(Box::new(ActorExit(r))),
        }
        Ok(())
    }
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl SupervisorHooks for Recorder {
    fn child_exited(&self, id: &str, reason: &ExitReason, restarting: bool) {
        self.events.lock().unwrap().push(format!("exit:{id}:{reason}:{restarting}"));
    }
    fn child_restarted(&self, id: &str, n: u32) {
        self.events.lock().unwrap().push(format!("restarted:{id}:{n}"));
    }
    fn gave_up(&self, reason: &str) {
        self.events.lock().unwrap().push(format!("gave_up:{reason}"));
    }
}

/// Children started so far, by id, so the test can address the live incarnation.
type Cells = Arc<Mutex<Vec<(String, ActorCell)>>>;

fn spec(id: &str, restart: Restart, log: &Log, cells: &Cells, stop_delay: Duration, shutdown: Shutdown) -> ChildSpec {
    let (id_owned, log, cells) = (id.to_string(), log.clone(), cells.clone());
    ChildSpec {
        id: id.into(),
        restart,
        shutdown,
        start: Arc::new(move |sup| {
            let (id, log, cells) = (id_owned.clone(), log.clone(), cells.clone());
            Box::pin(async move {
                let args = TestArgs { id: id.clone(), log, stop_delay };
                let (r, _) = Actor::spawn_linked(None, TestChild, args, sup).await.map_err(|e| e.to_string())?;
                cells.lock().unwrap().push((id, r.get_cell()));
                Ok(r.get_cell())
            })
        }),
    }
}

struct Harness {
    sup: ActorRef<SupervisorMsg>,
    log: Log,
    cells: Cells,
    hooks: Arc<Recorder>,
    parent_events: tokio::sync::mpsc::UnboundedReceiver<ExitReason>,
}

/// A parent that forwards its supervisor's exit reason to the test.
struct Parent;
impl Actor for Parent {
    type Msg = ();
    type State = tokio::sync::mpsc::UnboundedSender<ExitReason>;
    type Arguments = tokio::sync::mpsc::UnboundedSender<ExitReason>;
    async fn pre_start(&self, _: ActorRef<()>, tx: Self::Arguments) -> Result<Self::State, ActorProcessingErr> {
        Ok(tx)
    }
    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        e: SupervisionEvent,
        tx: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let reason = match e {
            SupervisionEvent::ActorFailed(_, err) => exit_reason_of_failure(&err),
            SupervisionEvent::ActorTerminated(_, _, r) => exit_reason_of_stop(r.as_deref()),
            _ => return Ok(()),
        };
        let _ = tx.send(reason);
        Ok(())
    }
}

async fn harness(strategy: Strategy, intensity: Intensity, kids: &[(&str, Restart)]) -> Harness {
    let log: Log = Arc::default();
    let cells: Cells = Arc::default();
    let hooks = Arc::new(Recorder::default());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (parent, _) = Actor::spawn(None, Parent, tx).await.unwrap();
    let children = kids.iter().map(|(id, r)| spec(id, *r, &log, &cells, Duration::ZERO, Shutdown::default())).collect();
    let args = SupervisorArgs { strategy, intensity, children, hooks: hooks.clone() };
    let (sup, _) = Actor::spawn_linked(None, Supervisor, args, parent.get_cell()).await.unwrap();
    Harness { sup, log, cells, hooks, parent_events: rx }
}

impl Harness {
    fn current(&self, id: &str) -> ActorCell {
        let cells = self.cells.lock().unwrap();
        cells.iter().rev().find(|(i, _)| i == id).map(|(_, c)| c.clone()).unwrap()
    }
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
    /// Sends `cmd` to the current incarnation of `id` and waits until the
    /// supervisor has handled the exit (a `which_children` call is ordered
    /// after the supervision event only once the child is gone, so poll).
    async fn exit(&self, id: &str, cmd: Cmd) {
        let cell = self.current(id);
        cell.send_message(cmd).unwrap();
        cell.wait(Some(Duration::from_secs(5))).await.unwrap();
        self.settle().await;
    }
    /// Waits until every remaining child is running again (or the supervisor died).
    /// Polls with a tokio sleep, not a yield: under paused time the clock only
    /// moves when every task waits on a timer, so a yield loop would keep a
    /// backoff from ever elapsing.
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match ractor::call!(self.sup, SupervisorMsg::WhichChildren) {
                Ok(kids) if kids.iter().all(|k| k.running) => return,
                Err(_) => return,
                _ => {}
            }
            assert!(tokio::time::Instant::now() < deadline, "children did not settle");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    async fn children(&self) -> Vec<(String, u32)> {
        ractor::call!(self.sup, SupervisorMsg::WhichChildren)
            .unwrap()
            .into_iter()
            .map(|c| (c.id.to_string(), c.restarts))
            .collect()
    }
}

fn lots() -> Intensity {
    Intensity { max_restarts: 100, window: Duration::from_secs(10), ..Intensity::default() }
}

/// What happens to a, b, c when b exits: (strategy, b's restart type, exit,
/// expected log after the exit, expected children left).
#[tokio::test]
async fn strategy_restart_type_exit_table() {
    use ExitReason::*;
    use Restart::*;
    use Strategy::*;
    let abnormal = || Failed("bad".into());
    type Case = (Strategy, Restart, ExitReason, &'static [&'static str], &'static [&'static str]);
    let cases: Vec<Case> = vec![
        // one_for_one: only b.
        (OneForOne, Permanent, Normal, &["start:b"], &["a", "b", "c"]),
        (OneForOne, Permanent, abnormal(), &["start:b"], &["a", "b", "c"]),
        (OneForOne, Transient, Normal, &[], &["a", "c"]),
        (OneForOne, Transient, abnormal(), &["start:b"], &["a", "b", "c"]),
        (OneForOne, Temporary, abnormal(), &[], &["a", "c"]),
        (OneForOne, Temporary, Normal, &[], &["a", "c"]),
        // one_for_all: stop c, a (reverse), start a, b, c.
        (OneForAll, Permanent, Normal, &["stop:c", "stop:a", "start:a", "start:b", "start:c"], &["a", "b", "c"]),
        (OneForAll, Permanent, abnormal(), &["stop:c", "stop:a", "start:a", "start:b", "start:c"], &["a", "b", "c"]),
        (OneForAll, Transient, Normal, &[], &["a", "c"]),
        (OneForAll, Transient, abnormal(), &["stop:c", "stop:a", "start:a", "start:b", "start:c"], &["a", "b", "c"]),
        (OneForAll, Temporary, abnormal(), &[], &["a", "c"]),
        // rest_for_one: stop c, start b, c.
        (RestForOne, Permanent, Normal, &["stop:c", "start:b", "start:c"], &["a", "b", "c"]),
        (RestForOne, Permanent, abnormal(), &["stop:c", "start:b", "start:c"], &["a", "b", "c"]),
        (RestForOne, Transient, Normal, &[], &["a", "c"]),
        (RestForOne, Transient, abnormal(), &["stop:c", "start:b", "start:c"], &["a", "b", "c"]),
        (RestForOne, Temporary, abnormal(), &[], &["a", "c"]),
    ];
    for (strategy, restart, exit, want_log, want_children) in cases {
        let what = format!("{strategy:?} {restart:?} {exit}");
        let h = harness(strategy, lots(), &[("a", Permanent), ("b", restart), ("c", Permanent)]).await;
        assert_eq!(h.take_log(), ["start:a", "start:b", "start:c"], "{what}");
        // "b" exits on its own: its own post_stop runs only for normal exits.
        let normal = exit == Normal;
        h.exit("b", Cmd::Exit(exit)).await;
        let mut log = h.take_log();
        if normal {
            assert_eq!(log.remove(0), "stop:b", "{what}");
        }
        assert_eq!(log, want_log, "{what}");
        let kids: Vec<String> = h.children().await.into_iter().map(|c| c.0).collect();
        assert_eq!(kids, want_children, "{what}");
        h.sup.stop_and_wait(None, None).await.unwrap();
    }
}

#[tokio::test]
async fn panicking_child_is_restarted_and_reported_as_panicked() {
    let h = harness(Strategy::OneForOne, lots(), &[("a", Restart::Transient)]).await;
    h.exit("a", Cmd::Panic).await;
    assert_eq!(h.children().await, [("a".to_string(), 1)]);
    let events = h.hooks.events.lock().unwrap().clone();
    assert!(events[0].starts_with("exit:a:panicked:"), "{events:?}");
    assert!(events[0].ends_with(":true"), "{events:?}");
    assert_eq!(events[1], "restarted:a:1");
}

#[tokio::test]
async fn temporary_sibling_is_removed_not_restarted_by_one_for_all() {
    let h = harness(
        Strategy::OneForAll,
        lots(),
        &[("a", Restart::Permanent), ("t", Restart::Temporary), ("c", Restart::Permanent)],
    )
    .await;
    h.take_log();
    h.exit("a", Cmd::Exit(ExitReason::Failed("x".into()))).await;
    assert_eq!(h.take_log(), ["stop:c", "stop:t", "start:a", "start:c"]);
    let kids: Vec<String> = h.children().await.into_iter().map(|c| c.0).collect();
    assert_eq!(kids, ["a", "c"]);
}

#[tokio::test]
async fn exceeding_intensity_stops_children_in_reverse_and_escalates() {
    let intensity = Intensity { max_restarts: 2, window: Duration::from_secs(60), ..Intensity::default() };
    let mut h = harness(
        Strategy::OneForOne,
        intensity,
        &[("a", Restart::Permanent), ("b", Restart::Permanent), ("c", Restart::Permanent)],
    )
    .await;
    h.take_log();
    for _ in 0..2 {
        h.exit("b", Cmd::Panic).await;
    }
    assert_eq!(h.take_log(), ["start:b", "start:b"]);
    // The third restart within the window exceeds max_restarts = 2.
    h.current("b").send_message(Cmd::Panic).unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), h.parent_events.recv()).await.unwrap().unwrap();
    assert!(matches!(reason, ExitReason::GaveUp(ref m) if m.contains("3 restarts")), "{reason:?}");
    assert_eq!(h.take_log(), ["stop:c", "stop:a"]);
    assert!(h.hooks.events.lock().unwrap().last().unwrap().starts_with("gave_up:"));
}

// Paused time: the backoff is a tokio timer (ractor's send_after), so the
// clock moves only as far as the test's waits take it. (The intensity window
// is counted in std::time::Instant, which paused time does not move; this
// test stays far inside it.)
#[tokio::test(start_paused = true)]
async fn backoff_delays_the_restart() {
    let intensity = Intensity {
        max_restarts: 5,
        window: Duration::from_secs(60),
        backoff: Duration::from_millis(50),
        backoff_max: Duration::from_millis(50),
    };
    let h = harness(Strategy::OneForOne, intensity, &[("a", Restart::Permanent)]).await;
    let cell = h.current("a");
    cell.send_message(Cmd::Panic).unwrap();
    cell.wait(None).await.unwrap();
    let exited = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(49)).await;
    let waiting = ractor::call!(h.sup, SupervisorMsg::WhichChildren).unwrap();
    assert!(!waiting[0].running, "restarted before its 50 ms backoff");
    h.settle().await;
    assert!(exited.elapsed() >= Duration::from_millis(50));
    assert_eq!(h.children().await, [("a".to_string(), 1)]);
}

#[tokio::test]
async fn stopping_supervisor_stops_children_in_reverse_start_order() {
    let h = harness(
        Strategy::OneForOne,
        lots(),
        &[("a", Restart::Permanent), ("b", Restart::Permanent), ("c", Restart::Permanent)],
    )
    .await;
    h.take_log();
    h.sup.stop_and_wait(None, None).await.unwrap();
    assert_eq!(h.take_log(), ["stop:c", "stop:b", "stop:a"]);
}

// Paused time: the child sleeps 30 s on a tokio timer, the shutdown timeout
// is 50 ms; a kill ends the wait at 50 ms of virtual time, no kill at 30 s.
#[tokio::test(start_paused = true)]
async fn child_exceeding_shutdown_timeout_is_killed() {
    let h = harness(Strategy::OneForOne, lots(), &[]).await;
    let slow = spec(
        "slow",
        Restart::Permanent,
        &h.log,
        &h.cells,
        Duration::ZERO,
        Shutdown::Timeout(Duration::from_millis(50)),
    );
    ractor::call!(h.sup, SupervisorMsg::StartChild, slow).unwrap().unwrap();
    // Busy in a handler: the stop request waits behind it, so only the kill ends it.
    h.current("slow").send_message(Cmd::Sleep(Duration::from_secs(30))).unwrap();
    let started = tokio::time::Instant::now();
    ractor::call!(h.sup, SupervisorMsg::TerminateChild, "slow".into()).unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30), "waited for the handler instead of killing it");
    // Killed: its post_stop never ran.
    assert_eq!(h.take_log(), ["start:slow"]);
    assert!(h.children().await.is_empty());
    assert!(h.hooks.events.lock().unwrap().is_empty(), "a terminated child is not an exit to react to");
}

#[tokio::test]
async fn dynamic_children_start_terminate_and_duplicate_ids() {
    let h = harness(Strategy::OneForOne, lots(), &[("a", Restart::Permanent)]).await;
    let dup = spec("a", Restart::Permanent, &h.log, &h.cells, Duration::ZERO, Shutdown::default());
    let err = ractor::call!(h.sup, SupervisorMsg::StartChild, dup).unwrap().unwrap_err();
    assert_eq!(err, SupervisorError::AlreadyExists("a".into()));
    let err = ractor::call!(h.sup, SupervisorMsg::TerminateChild, "zz".into()).unwrap().unwrap_err();
    assert_eq!(err, SupervisorError::NotFound("zz".into()));
    ractor::call!(h.sup, SupervisorMsg::RestartChild, "a".into()).unwrap().unwrap();
    assert_eq!(h.take_log(), ["start:a", "stop:a", "start:a"]);
    assert_eq!(h.children().await, [("a".to_string(), 1)]);
}

#[tokio::test]
async fn child_that_fails_to_start_counts_against_intensity() {
    let intensity = Intensity { max_restarts: 3, window: Duration::from_secs(60), ..Intensity::default() };
    let mut h = harness(Strategy::OneForOne, intensity, &[]).await;
    let attempts = Arc::new(Mutex::new(0));
    let a2 = attempts.clone();
    let cells = h.cells.clone();
    let log = h.log.clone();
    // Starts once, then fails every later start.
    let flaky = ChildSpec {
        id: "flaky".into(),
        restart: Restart::Permanent,
        shutdown: Shutdown::default(),
        start: Arc::new(move |sup| {
            let (attempts, cells, log) = (a2.clone(), cells.clone(), log.clone());
            Box::pin(async move {
                let n = {
                    let mut g = attempts.lock().unwrap();
                    *g += 1;
                    *g
                };
                if n > 1 {
                    return Err(StartError(format!("attempt {n} failed")));
                }
                let args = TestArgs { id: "flaky".into(), log, stop_delay: Duration::ZERO };
                let (r, _) = Actor::spawn_linked(None, TestChild, args, sup).await?;
                cells.lock().unwrap().push(("flaky".into(), r.get_cell()));
                Ok(r.get_cell())
            })
        }),
    };
    ractor::call!(h.sup, SupervisorMsg::StartChild, flaky).unwrap().unwrap();
    h.current("flaky").send_message(Cmd::Panic).unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), h.parent_events.recv()).await.unwrap().unwrap();
    assert!(matches!(reason, ExitReason::GaveUp(_)), "{reason:?}");
    assert_eq!(*attempts.lock().unwrap(), 4, "1 start + 3 failed restarts, then give up");
}
