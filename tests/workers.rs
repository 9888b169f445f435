//! Standalone JSONL workers: spawn only what `spawn_allow` permits, list with
//! status and current task, kill gracefully, restart by type, isolation.

mod common;

use std::time::Duration;

use common::*;
use hive::events::{BusOptions, EventKind};
use hive::runtime::{PoolWorkerState, PoolWorkerStatus, SpawnRequest, WorkerOptions};
use hive::supervisor::{Intensity, Restart};
use hive::{Hive, HiveError, HiveOptions};

async fn pool(allow: &[&str], max_restarts: u32) -> Hive {
    let workers = WorkerOptions {
        spawn_allow: allow.iter().map(|s| s.to_string()).collect(),
        intensity: Intensity { max_restarts, window: Duration::from_secs(60), ..Intensity::default() },
        ..WorkerOptions::default()
    };
    let opts =
        HiveOptions { workers, bus: BusOptions { ring_capacity: 100_000, max_lag: 100_000 }, ..HiveOptions::default() };
    Hive::start(opts).await.unwrap()
}

fn req(path: &str, args: &[&str]) -> SpawnRequest {
    SpawnRequest {
        worker_path: path.into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        ..SpawnRequest::default()
    }
}

#[tokio::test]
async fn spawn_is_refused_outside_spawn_allow() {
    let hive = pool(&["actors/*.py"], 3).await;
    assert!(matches!(hive.spawn_worker(req("/bin/sh", &[])).await, Err(HiveError::Forbidden(_))));
    assert!(matches!(hive.spawn_worker(req("actors/../Cargo.toml", &[])).await, Err(HiveError::Forbidden(_))));
    assert!(matches!(hive.spawn_worker(req("actors/nope.py", &[])).await, Err(HiveError::NotFound { .. })));
    assert!(hive.list_workers().await.unwrap().is_empty());
    let none = pool(&[], 3).await;
    let err = none.spawn_worker(req("actors/echo.py", &[])).await.unwrap_err();
    assert!(matches!(&err, HiveError::Forbidden(m) if m.contains("disabled")), "{err:?}");
}

#[tokio::test]
async fn spawned_worker_runs_tasks_lists_its_current_task_and_is_killed_gracefully() {
    let hive = pool(&["actors/*.py"], 3).await;
    let mut spawn = req("actors/echo.py", &[]);
    spawn.env.insert("ECHO_TOKEN_DELAY_MS".into(), "100".into());
    let id = hive.spawn_worker(spawn).await.unwrap();
    let pid = eventually("pid", || async { hive.worker(&id).await.ok()?.pid }).await;
    let mut rx = hive.events().subscribe();
    let task = hive.worker_task(&id, "one two three").await.unwrap();
    let listed = eventually("busy with the task", || async {
        let w = hive.list_workers().await.unwrap().into_iter().find(|w| w.id == id)?;
        (w.current_task.as_deref() == Some(&*task)).then_some(w)
    })
    .await;
    assert_eq!((listed.state, listed.status), (PoolWorkerState::Busy, PoolWorkerStatus::Running));
    assert!(listed.worker_path.ends_with("actors/echo.py"));
    until(&mut rx, |e| matches!(&e.kind, EventKind::TaskCompleted { task_id } if *task_id == task)).await;

    hive.kill_worker(&id).await.unwrap();
    let events = until(&mut rx, |e| e.event_type() == "agent_removed").await;
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Log { message, .. } if message.contains("exited with code 0")))
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "reaped");
    assert!(matches!(hive.kill_worker(&id).await, Err(HiveError::NotFound { .. })));
    assert!(hive.list_workers().await.unwrap().is_empty());
}

#[tokio::test]
async fn crash_looping_worker_fails_alone() {
    let hive = pool(&["actors/*.py"], 2).await;
    let good = hive.spawn_worker(req("actors/echo.py", &[])).await.unwrap();
    let bad = hive.spawn_worker(req("actors/misbehave.py", &["exit-now"])).await.unwrap();
    let w = eventually("bad failed", || async {
        let w = hive.worker(&bad).await.unwrap();
        (w.state == PoolWorkerState::Failed).then_some(w)
    })
    .await;
    assert!(w.failure_reason.unwrap().contains("max restart intensity"));
    let mut rx = hive.events().subscribe();
    let t = hive.worker_task(&good, "fine").await.unwrap();
    until(&mut rx, |e| matches!(&e.kind, EventKind::TaskCompleted { task_id } if *task_id == t)).await;
    assert!(matches!(hive.worker_task(&bad, "x").await, Err(HiveError::Conflict(_))));
    hive.kill_worker(&bad).await.unwrap();
}

#[tokio::test]
async fn temporary_worker_is_not_restarted_and_a_send_from_a_worker_is_denied() {
    let hive = pool(&["actors/*.py"], 5).await;
    let mut r = req("actors/misbehave.py", &["crash-after", "1"]);
    r.restart = Restart::Temporary;
    let id = hive.spawn_worker(r).await.unwrap();
    let mut rx = hive.events().subscribe();
    let t = hive.worker_task(&id, "boom").await.unwrap();
    let events = until(&mut rx, |e| is(e, "agent_exited", &id)).await;
    assert!(events.iter().any(|e| task_failed(e, &t, "agent_crashed")));
    eventually("stopped", || async {
        (hive.worker(&id).await.unwrap().state == PoolWorkerState::Stopped).then_some(())
    })
    .await;

    // relay.py sends to RELAY_TO; a worker has no topology, so it is told `denied`.
    let mut relay = req("actors/relay.py", &[]);
    relay.env.insert("RELAY_TO".into(), "anyone".into());
    let rid = hive.spawn_worker(relay).await.unwrap();
    hive.worker_task(&rid, "hello?").await.unwrap();
    until(&mut rx, |e| {
        e.agent.as_deref() == Some(&*rid)
            && matches!(&e.kind, EventKind::Log { message, .. } if message.contains("denied"))
    })
    .await;
}

#[tokio::test]
async fn env_that_would_bypass_spawn_allow_is_refused() {
    let hive = pool(&["actors/*.py"], 3).await;
    for key in ["PATH", "LD_PRELOAD", "PYTHONPATH"] {
        let mut r = req("actors/echo.py", &[]);
        r.env.insert(key.into(), "/tmp/evil".into());
        let err = hive.spawn_worker(r).await.unwrap_err();
        assert!(matches!(&err, HiveError::Forbidden(m) if m.contains(key)), "{key}: {err:?}");
    }
    assert!(hive.list_workers().await.unwrap().is_empty());
}

/// A standalone worker's dispatched tasks end once each, and none waits for
/// its timeout, even while the event bus is flooded far past its ring and
/// every subscriber lags: a task's end reaches its waiter through the task
/// model, not through the bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatched_tasks_of_a_lagging_worker_link_all_end_once() {
    use hive::gateway::{DispatchRequest, GatewayOptions, Submit};
    let echo = format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"));
    let gw = GatewayOptions {
        endpoint: "tcp://127.0.0.1:0".into(),
        task_timeout: Duration::from_secs(600),
        ..Default::default()
    };
    let opts = HiveOptions {
        gateway: Some(gw),
        workers: WorkerOptions { spawn_allow: vec![echo.clone()], ..WorkerOptions::default() },
        // A tiny ring and lag bound: every subscriber falls behind at once.
        bus: BusOptions { ring_capacity: 32, max_lag: 8 },
        ..HiveOptions::default()
    };
    let hive = std::sync::Arc::new(Hive::start(opts).await.unwrap());
    let spawn = SpawnRequest { capabilities: vec!["jsonl".into()], ..req(&echo, &[]) };
    hive.spawn_worker(spawn).await.unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (bus, stop) = (hive.events().clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..256 {
                    bus.emit(None, None, EventKind::Log { level: hive::events::Level::Debug, message: "flood".into() });
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut waiting = Vec::new();
    for i in 0..1000 {
        let req =
            DispatchRequest { prompt: format!("task {i}"), capabilities: vec!["jsonl".into()], ..Default::default() };
        let (id, updates) = hive.dispatch(req, Submit::Follow).await.unwrap();
        waiting.push((id, updates.expect("followed")));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut ended = std::collections::HashSet::new();
    for (id, mut rx) in waiting {
        let end = loop {
            match tokio::time::timeout_at(deadline, rx.next()).await {
                Ok(Some(hive::task::TaskUpdate::Done(end))) => break end,
                Ok(Some(_)) => {}
                Ok(None) => panic!("task {id}: its updates closed without an end"),
                Err(_) => panic!("task {id} did not end: {} of 1000 ended before the deadline", ended.len()),
            }
        };
        assert!(matches!(end, hive::task::TaskEnd::Completed { .. }), "task {id}: {end:?}");
        assert!(ended.insert(id), "a task ended twice");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.await.unwrap();
    assert_eq!(ended.len(), 1000);
    hive.shutdown().await;
}

/// A task dispatched to a standalone JSONL worker is told once: the
/// dispatcher owns it and tells its lifecycle (its end with the end, in one
/// commit); the worker's agent only reports to the dispatcher. Each used to
/// be told twice (by the agent too), under two names.
#[tokio::test]
async fn a_task_dispatched_to_a_jsonl_worker_is_told_once_not_by_the_worker_too() {
    use hive::gateway::{DispatchRequest, GatewayOptions, Submit};
    let echo = format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"));
    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() };
    let opts = HiveOptions {
        gateway: Some(gw),
        workers: WorkerOptions { spawn_allow: vec![echo.clone()], ..WorkerOptions::default() },
        ..HiveOptions::default()
    };
    let hive = Hive::start(opts).await.unwrap();
    hive.spawn_worker(SpawnRequest { capabilities: vec!["jsonl".into()], ..req(&echo, &[]) }).await.unwrap();
    let mut rx = hive.events().subscribe();
    let req = DispatchRequest { prompt: "once".into(), capabilities: vec!["jsonl".into()], ..Default::default() };
    let (id, updates) = hive.dispatch(req, Submit::Follow).await.unwrap();
    let end = updates.expect("followed").end().await;
    assert!(matches!(end, Some(hive::task::TaskEnd::Completed { .. })), "{end:?}");
    // A marker after the end: every event about the task is before it.
    let marker =
        hive.events().emit(None, None, EventKind::Log { level: hive::events::Level::Info, message: "m".into() });
    let events = until(&mut rx, |e| e.seq == marker).await;
    let about = |kind: &str| {
        events.iter().filter(|e| e.event_type() == kind && e.kind.metadata()["task_id"].as_str() == Some(&*id)).count()
    };
    let results = events
        .iter()
        .filter(|e| e.kind.metadata()["task_id"].as_str() == Some(&*id) && e.kind.metadata()["kind"] == "result")
        .count();
    let told = (about("task_queued"), about("task_started"), about("task_completed"), results);
    assert_eq!(told, (1, 1, 1, 1), "queued, started, completed, result: {events:#?}");
    hive.shutdown().await;
}
