//! Durable swarms: every applied change is recorded, and a runtime started
//! on the same data directory brings back the running swarms exactly as
//! their users left them — also after a kill -9 of a real process.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use hive::config::{Edge, SwarmSpec};
use hive::runtime::SwarmState;
use hive::store::EventQuery;
use hive::{Hive, HiveOptions};

async fn durable(dir: &Path) -> Hive {
    Hive::start(HiveOptions { data_dir: Some(dir.to_path_buf()), ..HiveOptions::default() }).await.unwrap()
}

const SEED: &str = r#"
name = "keep"
[[agents]]
name = "planner"
[[agents]]
name = "worker"
replicas = 2
[[objects]]
name = "board"
kind = "kv"
[topology]
planner = ["worker"]
"#;

fn edges(s: &SwarmSpec) -> BTreeSet<Edge> {
    s.topology.iter().cloned().collect()
}

fn same(a: &SwarmSpec, b: &SwarmSpec) {
    assert_eq!(a.agents, b.agents);
    assert_eq!(a.objects, b.objects);
    assert_eq!(edges(a), edges(b));
    assert_eq!(a.supervision, b.supervision);
}

#[tokio::test]
async fn a_restarted_runtime_brings_back_every_change_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let hive = durable(dir.path()).await;
    let swarm = hive.start_swarm(spec(&hive, SEED)).await.unwrap();
    let opts = hive.validate_options();
    swarm.scale("worker", 5).await.unwrap();
    swarm.update_edges(vec![Edge::new("worker", "board"), Edge::new("worker_4", "planner")], vec![]).await.unwrap();
    let critic = hive::config::parse_agent_json(&serde_json::json!({"name": "critic", "replicas": 2})).unwrap();
    swarm.add_agent(critic, vec!["planner".into()], vec!["worker_1".into()]).await.unwrap();
    let hits = hive::config::parse_object_json(&serde_json::json!({"name": "hits", "kind": "counter"}), &opts).unwrap();
    swarm.add_object(hits, vec![], vec!["critic".into()]).await.unwrap();
    swarm.configure_object("board", serde_json::json!({"max_keys": 7})).await.unwrap();
    swarm.scale("worker", 3).await.unwrap(); // drops worker_4 and its member edge
    swarm.update_edges(vec![], vec![Edge::new("planner", "worker")]).await.unwrap();
    swarm.remove_agent("critic").await.unwrap();
    swarm.remove_object("hits").await.unwrap();
    let critic2 = hive::config::parse_agent_json(&serde_json::json!({"name": "critic"})).unwrap();
    swarm.add_agent(critic2, vec![], vec![]).await.unwrap();
    // A refused change records nothing.
    assert!(swarm.scale("worker", 1_000_000).await.is_err());
    let before = swarm.spec().await.unwrap();
    let other = hive.start_swarm(spec(&hive, &SEED.replace("\"keep\"", "\"gone\""))).await.unwrap();
    other.scale("worker", 4).await.unwrap();
    hive.stop_swarm("gone").await.unwrap();
    hive.shutdown().await;

    let hive = durable(dir.path()).await;
    let summaries = hive.list_swarms().await.unwrap();
    assert_eq!(
        summaries.iter().map(|s| (s.name.as_str(), s.state)).collect::<Vec<_>>(),
        [("keep", SwarmState::Running)]
    );
    let swarm = hive.swarm("keep").await.unwrap();
    let after = swarm.spec().await.unwrap();
    same(&before, &after);
    // The log tells a user's stop from the runtime's.
    let stops = EventQuery { event_type: Some("swarm_stopped".into()), limit: 10, ..EventQuery::default() };
    let reasons: Vec<(Option<String>, String)> =
        hive.query_events(stops).await.unwrap().into_iter().map(|e| (e.swarm, e.metadata)).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0.as_deref(), Some("gone"));
    assert!(reasons[0].1.contains("\"requested\""), "{reasons:?}");
    assert_eq!(reasons[1].0.as_deref(), Some("keep"));
    assert!(reasons[1].1.contains("\"shutdown\""), "{reasons:?}");
    assert_eq!(swarm.status().await.unwrap().agents.len(), 5, "planner, worker_1..3, critic");
    // It runs, and further changes keep being recorded on top.
    assert!(swarm.send_message("worker_2", "board", r#"{"op":"keys"}"#).await.is_ok());
    swarm.scale("worker", 1).await.unwrap();
    let expected = swarm.spec().await.unwrap();
    hive.shutdown().await;
    let hive = durable(dir.path()).await;
    same(&expected, &hive.swarm("keep").await.unwrap().spec().await.unwrap());

    // Starting a swarm of the same name afresh replaces seed and overlay.
    hive.stop_swarm("keep").await.unwrap();
    hive.clean(false).await.unwrap();
    hive.start_swarm(spec(&hive, SEED)).await.unwrap();
    hive.shutdown().await;
    let hive = durable(dir.path()).await;
    same(&spec(&hive, SEED), &hive.swarm("keep").await.unwrap().spec().await.unwrap());
    hive.shutdown().await;
}

#[tokio::test]
async fn a_data_file_that_is_not_a_store_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(hive::store::FILE_NAME);
    std::fs::write(&file, b"this is not a redb file, and it must survive").unwrap();
    let err = Hive::start(HiveOptions { data_dir: Some(dir.path().into()), ..HiveOptions::default() }).await.err();
    let err = err.expect("refused").to_string();
    assert!(err.contains("cannot open the data file"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"this is not a redb file, and it must survive");
}

/// The child side of the kill -9 test: runs only when the parent sets
/// HIVE_MUTATOR_DIR, makes mutations forever and prints each one once acknowledged.
#[tokio::test]
#[ignore = "run by kill_9_during_mutations_keeps_every_acknowledged_change"]
async fn mutator_child() {
    let Ok(dir) = std::env::var("HIVE_MUTATOR_DIR") else { return };
    // libtest has printed "test mutator_child ... " without a newline: end
    // that line, or the first line printed here would be glued to it (and a
    // task id lost when that line was a task's).
    println!();
    let hive = durable(Path::new(&dir)).await;
    // A subscriber that prints every event it sees (what a client would see).
    let mut rx = hive.events().subscribe();
    tokio::spawn(async move {
        while let Ok(e) = rx.recv().await {
            println!("event {}", e.seq);
        }
    });
    let swarm = hive
        .start_swarm(spec(
            &hive,
            "name = \"m\"\n[[agents]]\nname = \"w\"\nreplicas = 0\n[[agents]]\nname = \"hub\"\n\
             [[agents]]\nname = \"slow\"\nmock = { delay_ms = 600000 }\n",
        ))
        .await
        .unwrap();
    // Three tasks: the first runs (for ten minutes), two wait behind it.
    for i in 0..3 {
        println!("task {}", swarm.send_task("slow", &format!("job {i}")).await.unwrap());
    }
    for i in 1..=100_000u64 {
        // Alternate two kinds of change so that the state after i changes is known.
        if i % 2 == 1 {
            swarm.scale("w", i.div_ceil(2) % 50 + 1).await.unwrap();
        } else {
            swarm.update_edges(vec![Edge::new("hub", format!("w_{}", (i / 2) % 50 + 1))], vec![]).await.unwrap();
        }
        println!("ack {i}");
    }
}

/// What the swarm must look like after the first `n` changes of `mutator_child`.
fn expected_after(n: u64) -> (u32, BTreeSet<(String, String)>) {
    let mut replicas = 0u32;
    let mut edges = BTreeSet::new();
    for i in 1..=n {
        if i % 2 == 1 {
            replicas = (i.div_ceil(2) % 50 + 1) as u32;
            edges.retain(|(_, to): &(String, String)| {
                to.trim_start_matches("w_").parse::<u32>().map_or(true, |k| k <= replicas)
            });
        } else {
            let target = format!("w_{}", (i / 2) % 50 + 1);
            let k: u32 = target[2..].parse().unwrap();
            if k <= replicas {
                edges.insert(("hub".to_string(), target));
            }
        }
    }
    (replicas, edges)
}

#[test]
fn kill_9_during_mutations_keeps_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "mutator_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("HIVE_MUTATOR_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = 0u64;
    let mut seen: Vec<u64> = Vec::new();
    let mut tasks: Vec<String> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("event ") {
            seen.push(n.parse().unwrap());
        }
        if let Some(id) = line.strip_prefix("task ") {
            tasks.push(id.to_string());
        }
        if let Some(n) = line.strip_prefix("ack ") {
            acked = n.parse().unwrap();
            if acked == 500 {
                // kill -9 while the next change is in flight.
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked, 500);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let hive = durable(dir.path()).await;
        let swarm = hive.swarm("m").await.expect("the swarm came back");
        let spec = swarm.spec().await.unwrap();
        let replicas = spec.agents.iter().find(|a| a.name == "w").unwrap().replicas.unwrap();
        let got: BTreeSet<(String, String)> = spec.topology.iter().map(|e| (e.from.clone(), e.to.clone())).collect();
        // Every acknowledged change is there; the one in flight may or may not be.
        let ok = [500, 501].iter().any(|&n| expected_after(n) == (replicas, got.clone()));
        assert!(ok, "state after restart matches neither 500 nor 501 changes: {replicas} replicas, {got:?}");
        assert_eq!(swarm.status().await.unwrap().agents.len() as u32, replicas + 2, "it runs");
        // The task that was running is not run twice; the queued ones are queued again.
        assert_eq!(tasks.len(), 3);
        let first = hive.task(&tasks[0]).await.unwrap();
        assert_eq!(first.status.as_str(), "error", "{first:?}");
        assert!(first.error.as_deref().is_some_and(|e| e.starts_with("runtime_restarted")), "{first:?}");
        for id in &tasks[1..] {
            let t = hive.task(id).await.unwrap();
            assert!(matches!(t.status.as_str(), "queued" | "in_progress"), "{t:?}");
        }
        let slow = swarm.agent_status("slow").await.unwrap();
        assert_eq!((slow.current_task.as_deref(), slow.inbox), (Some(tasks[1].as_str()), 1));
        // Every event the killed process's subscriber saw was stored.
        assert!(seen.len() > 500, "the subscriber saw events");
        let all = EventQuery { limit: usize::MAX, ..EventQuery::default() };
        let stored: BTreeSet<u64> = hive.query_events(all).await.unwrap().iter().map(|e| e.seq).collect();
        let missing: Vec<u64> = seen.iter().filter(|s| !stored.contains(s)).copied().collect();
        assert!(missing.is_empty(), "seen but not stored: {missing:?}");
        // Numbers are never handed out twice.
        let next = hive.events().next_seq();
        assert!(next > *seen.iter().max().unwrap(), "next seq {next} repeats a number already seen");
        hive.shutdown().await;
    });
}

#[tokio::test]
async fn subscribers_see_only_committed_events_and_since_resumes_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let hive = durable(dir.path()).await;
    let mut rx = hive.events().subscribe();
    let swarm = hive.start_swarm(spec(&hive, SEED)).await.unwrap();
    let mut last_task = None;
    for i in 0..20 {
        last_task = Some(swarm.send_task("worker_1", &format!("t{i}")).await.unwrap());
        swarm.send_message("planner", "worker", "hi").await.unwrap();
    }
    let last_task = last_task.unwrap();
    // Each event a subscriber receives is already in the store, at the moment
    // it is received.
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(DEADLINE, rx.recv()).await.expect("events flow").expect("no lag");
        let q = EventQuery { since: Some(e.seq - 1), limit: usize::MAX, ..EventQuery::default() };
        let first = hive.query_events(q).await.unwrap().first().map(|s| s.seq);
        assert_eq!(first, Some(e.seq), "{} was published before it was stored", e.seq);
        let done = matches!(&e.kind, hive::events::EventKind::TaskCompleted { task_id } if *task_id == last_task);
        seen.push(e);
        if done {
            break;
        }
    }
    let last_seen = seen.last().unwrap().seq;
    hive.shutdown().await;

    let hive = durable(dir.path()).await;
    let q = EventQuery { since: Some(last_seen), limit: usize::MAX, ..EventQuery::default() };
    let after: Vec<u64> = hive.query_events(q).await.unwrap().iter().map(|e| e.seq).collect();
    // Mock agents stream no tokens, so every number is stored: contiguous from
    // last_seen + 1, no gap, no duplicate; the restart's own events follow.
    assert!(!after.is_empty());
    assert_eq!(after, (last_seen + 1..last_seen + 1 + after.len() as u64).collect::<Vec<_>>());
    let all = EventQuery { limit: usize::MAX, ..EventQuery::default() };
    let everything: Vec<u64> = hive.query_events(all).await.unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(everything, (1..=everything.len() as u64).collect::<Vec<_>>(), "no gap, no duplicate overall");
    assert!(hive.events().next_seq() > *everything.last().unwrap());
    hive.shutdown().await;
}

#[tokio::test]
async fn a_purge_right_after_another_deletes_its_swarm_without_waiting_for_deleted_events() {
    // The second purge emits nothing new: the newest event number then
    // belongs to the first swarm, whose events the first purge deleted.
    // The wait is for the commit of that number, not for it to be stored.
    let dir = tempfile::tempdir().unwrap();
    let hive = durable(dir.path()).await;
    for name in ["first", "second"] {
        hive.start_swarm(spec(&hive, &SEED.replace("\"keep\"", &format!("\"{name}\"")))).await.unwrap();
    }
    hive.stop_swarm("first").await.unwrap();
    hive.stop_swarm("second").await.unwrap();
    assert!(hive.purge_swarm("second").await.unwrap() > 0);
    let purged = tokio::time::timeout(std::time::Duration::from_secs(5), hive.purge_swarm("first"))
        .await
        .expect("the purge answers without waiting out its 10 s commit wait")
        .unwrap();
    assert!(purged > 0, "the first swarm's events are deleted");
    let left = hive.query_events(EventQuery { limit: usize::MAX, ..EventQuery::default() }).await.unwrap();
    assert!(left.iter().all(|e| e.swarm.is_none()), "nothing of either swarm is left: {left:?}");
    assert_eq!(
        hive.health(true).await.unwrap().detail.unwrap().store.unstored_events,
        0,
        "every event emitted is committed"
    );
    hive.shutdown().await;
}

#[tokio::test]
async fn retention_prunes_stored_events_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let retention = hive::runtime::Retention {
        max_events: 50,
        max_tasks: 1000,
        max_age: std::time::Duration::from_secs(3600),
        interval: std::time::Duration::from_millis(50),
    };
    let opts = HiveOptions { data_dir: Some(dir.path().into()), retention, ..HiveOptions::default() };
    let hive = Hive::start(opts).await.unwrap();
    let swarm = hive.start_swarm(spec(&hive, SEED)).await.unwrap();
    for _ in 0..100 {
        swarm.send_message("planner", "worker", "hi").await.unwrap();
    }
    let all = || EventQuery { limit: usize::MAX, ..EventQuery::default() };
    eventually("pruned to 50", || async { (hive.query_events(all()).await.unwrap().len() <= 50).then_some(()) }).await;
    let kept = hive.query_events(all()).await.unwrap();
    assert!(kept.windows(2).all(|w| w[0].seq < w[1].seq));
    hive.shutdown().await;
}

#[tokio::test]
async fn overlay_can_be_read_and_cleared_into_the_seed() {
    use hive::runtime::overlay::OverlayOp;
    let dir = tempfile::tempdir().unwrap();
    let hive = durable(dir.path()).await;
    let swarm = hive.start_swarm(spec(&hive, SEED)).await.unwrap();
    swarm.scale("worker", 4).await.unwrap();
    swarm.update_edges(vec![Edge::new("worker", "board")], vec![]).await.unwrap();
    swarm.configure_object("board", serde_json::json!({"max_keys": 3})).await.unwrap();
    let ops = hive.overlay("keep").await.unwrap();
    assert_eq!(ops.len(), 3);
    assert!(matches!(&ops[0], OverlayOp::Scale { group, count: 4 } if group == "worker"));
    assert!(matches!(&ops[1], OverlayOp::Edges { add, .. } if add == &[Edge::new("worker", "board")]));
    assert!(matches!(&ops[2], OverlayOp::ConfigureObject { name, .. } if name == "board"));
    let before = swarm.spec().await.unwrap();
    hive.clear_overlay("keep").await.unwrap();
    assert!(hive.overlay("keep").await.unwrap().is_empty());
    same(&before, &swarm.spec().await.unwrap());
    swarm.scale("worker", 2).await.unwrap();
    assert_eq!(hive.overlay("keep").await.unwrap().len(), 1, "new changes record on the new seed");
    let expected = swarm.spec().await.unwrap();
    hive.shutdown().await;
    let hive = durable(dir.path()).await;
    same(&expected, &hive.swarm("keep").await.unwrap().spec().await.unwrap());
    assert!(matches!(
        hive.overlay("ghost").await,
        Err(hive::HiveError::NotFound { resource: hive::Resource::Swarm, .. })
    ));
    hive.shutdown().await;
    let mem = Hive::start(HiveOptions::default()).await.unwrap();
    mem.start_swarm(spec(&mem, SEED)).await.unwrap();
    assert!(matches!(mem.overlay("keep").await, Err(hive::HiveError::Unavailable(_))));
}

#[tokio::test]
async fn queued_tasks_come_back_after_a_restart_and_a_running_one_is_not_run_twice() {
    use hive::events::EventKind;
    let dir = tempfile::tempdir().unwrap();
    let slow = "name = \"t\"\n[[agents]]\nname = \"slow\"\nmock = { delay_ms = 200 }\n";
    let hive = durable(dir.path()).await;
    let swarm = hive.start_swarm(spec(&hive, slow)).await.unwrap();
    let mut rx = hive.events().subscribe();
    let ids: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(swarm.send_task("slow", &format!("job {i}")).await.unwrap().to_string());
        }
        v
    };
    until(&mut rx, |e| matches!(&e.kind, EventKind::TaskStarted { task_id } if **task_id == *ids[0])).await;
    let recorded = hive.task(&ids[1]).await.unwrap();
    assert_eq!(
        (recorded.status.as_str(), recorded.content.as_str(), recorded.target.as_str()),
        ("queued", "job 1", "slow")
    );
    hive.shutdown().await;

    let hive = durable(dir.path()).await;
    let mut rx = hive.events().subscribe_since(0);
    let mut done = std::collections::BTreeSet::new();
    for e in rx.backlog.drain(..) {
        if let EventKind::TaskCompleted { task_id } = &e.kind {
            done.insert(task_id.to_string());
        }
    }
    while done.len() < 3 {
        let e = tokio::time::timeout(DEADLINE, rx.live.recv()).await.unwrap().unwrap();
        if let EventKind::TaskCompleted { task_id } = &e.kind {
            done.insert(task_id.to_string());
        }
    }
    assert_eq!(done, ids[1..].iter().cloned().collect(), "the queued tasks ran after the restart, with their ids");
    let first = hive.task(&ids[0]).await.unwrap();
    assert_eq!(first.status.as_str(), "error", "the task that was running is not run twice: {first:?}");
    assert_eq!(first.attempts, 1);
    for id in &ids[1..] {
        let t = hive.task(id).await.unwrap();
        assert_eq!((t.status.as_str(), t.result.as_deref()), ("ok", Some(t.content.as_str())));
    }
    assert_eq!(
        hive.tasks().list(&[hive::task::TaskStatus::Queued, hive::task::TaskStatus::Running]).await.unwrap().len(),
        0
    );
    hive.shutdown().await;
}

#[tokio::test]
async fn restore_only_brings_back_the_named_swarms_and_leaves_the_others_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let slow = |n: &str| format!("name = \"{n}\"\n[[agents]]\nname = \"s\"\nmock = {{ delay_ms = 60000 }}\n");
    let hive = durable(dir.path()).await;
    hive.start_swarm(spec(&hive, &slow("a"))).await.unwrap();
    let b = hive.start_swarm(spec(&hive, &slow("b"))).await.unwrap();
    b.send_task("s", "first").await.unwrap();
    let queued = b.send_task("s", "second").await.unwrap();
    hive.shutdown().await;

    let only = HiveOptions {
        data_dir: Some(dir.path().into()),
        restore_only: Some(vec!["a".into()]),
        ..HiveOptions::default()
    };
    let hive = Hive::start(only).await.unwrap();
    let names: Vec<String> = hive.list_swarms().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a"]);
    assert_eq!(hive.task(&queued).await.unwrap().status.as_str(), "queued", "b's task waits for b's restore");
    hive.shutdown().await;

    let hive = durable(dir.path()).await;
    assert_eq!(hive.list_swarms().await.unwrap().len(), 2);
    eventually("b's queued task runs again", || async {
        let st = hive.swarm("b").await.ok()?.agent_status("s").await.ok()?;
        (st.current_task.as_deref() == Some(&*queued)).then_some(())
    })
    .await;
    hive.shutdown().await;
}
