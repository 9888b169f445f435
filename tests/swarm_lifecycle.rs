//! Swarm-level supervision: crash loops fail only their swarm, strategies
//! from the swarm file, what survives a restart, shutdown order, scale at
//! size with every event accounted for, and the snapshot round trip.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use hive::config::{self, Edge};
use hive::runtime::{AgentState, SwarmState};
use hive::task::{FailCode, TaskEnd};

fn crashy(name: &str, strategy: &str, max_restarts: u32) -> String {
    format!(
        r#"
name = "{name}"
[supervision]
strategy = "{strategy}"
max_restarts = {max_restarts}
max_seconds = 60
[[agents]]
name = "a"
[[agents]]
name = "b"
mock = {{ panic_on = "boom" }}
[[agents]]
name = "c"
"#
    )
}

#[tokio::test]
async fn crash_loop_fails_only_its_swarm_with_the_reason() {
    let hive = hive().await;
    let bad = hive.start_swarm(spec(&hive, &crashy("bad", "one_for_one", 2))).await.unwrap();
    let good = hive.start_swarm(spec(&hive, &crashy("good", "one_for_one", 2))).await.unwrap();
    let mut rx = hive.events().subscribe();
    for i in 1..=3u32 {
        bad.send_task("b", "boom").await.unwrap();
        if i < 3 {
            until(&mut rx, |e| is(e, "agent_restarted", "b") && e.swarm.as_deref() == Some("bad")).await;
        }
    }
    let events = until(&mut rx, |e| e.event_type() == "swarm_failed").await;
    assert!(events.iter().any(|e| e.event_type() == "supervisor_gave_up"));
    let summary = hive.swarm_summary("bad").await.unwrap();
    assert_eq!(summary.state, SwarmState::Failed);
    let reason = summary.failure_reason.unwrap();
    assert!(reason.contains("max restart intensity") && reason.contains("'b'"), "{reason}");
    assert!(hive.swarm("bad").await.is_err());

    // The other swarm is untouched.
    let out = good.run_task("a", "still here", DEADLINE).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "still here".into() });
    assert_eq!(hive.swarm_summary("good").await.unwrap().state, SwarmState::Running);

    // A failed swarm can be cleaned away and started again.
    assert_eq!(hive.clean(false).await.unwrap().len(), 1);
    hive.start_swarm(spec(&hive, &crashy("bad", "one_for_one", 2))).await.unwrap();
    hive.shutdown().await;
}

#[tokio::test]
async fn task_in_flight_at_a_crash_fails_and_queued_tasks_survive() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, &crashy("s", "one_for_one", 5))).await.unwrap();
    let mut rx = hive.events().subscribe();
    // Queue all three before the agent runs any: one mailbox, FIFO.
    let boom = swarm.send_task("b", "boom").await.unwrap();
    let after1 = swarm.send_task("b", "after 1").await.unwrap();
    let after2 = swarm.send_task("b", "after 2").await.unwrap();
    let events =
        until(&mut rx, |e| matches!(&e.kind, hive::events::EventKind::TaskCompleted { task_id } if *task_id == after2))
            .await;
    assert!(events.iter().any(|e| task_failed(e, &boom, "agent_crashed")));
    let completed: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            hive::events::EventKind::TaskCompleted { task_id } => Some(task_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(completed, [after1, after2]);
    let st = swarm.agent_status("b").await.unwrap();
    assert_eq!((st.restarts, st.tasks_completed, st.tasks_failed), (1, 2, 1));
    hive.shutdown().await;
}

async fn incarnations_after_crash(strategy: &str) -> BTreeSet<String> {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, &crashy("s", strategy, 5))).await.unwrap();
    let mut rx = hive.events().subscribe();
    swarm.send_task("b", "boom").await.unwrap();
    // Wait for b's restart, then for the swarm to settle (every restarted agent idle).
    let events = until(&mut rx, |e| is(e, "agent_restarted", "b")).await;
    let mut restarted: BTreeSet<String> = names_of(&events, "agent_restarted").into_iter().collect();
    let expected = match strategy {
        "one_for_all" => 3,
        "rest_for_one" => 2,
        _ => 1,
    };
    while restarted.len() < expected {
        let more = until(&mut rx, |e| e.event_type() == "agent_restarted").await;
        restarted.extend(names_of(&more, "agent_restarted"));
    }
    let st = swarm.status().await.unwrap();
    let by_status: BTreeSet<String> = st.agents.iter().filter(|a| a.restarts > 0).map(|a| a.name.to_string()).collect();
    assert_eq!(by_status, restarted);
    hive.shutdown().await;
    restarted
}

#[tokio::test]
async fn swarm_strategy_decides_which_agents_restart() {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(incarnations_after_crash("one_for_one").await, set(&["b"]));
    assert_eq!(incarnations_after_crash("rest_for_one").await, set(&["b", "c"]));
    assert_eq!(incarnations_after_crash("one_for_all").await, set(&["a", "b", "c"]));
}

#[tokio::test]
async fn stopping_a_swarm_stops_objects_then_agents_in_reverse_start_order() {
    let hive = hive().await;
    let toml = r#"
name = "order"
[[agents]]
name = "first"
[[agents]]
name = "grp"
replicas = 3
[[agents]]
name = "last"
[[objects]]
name = "o1"
kind = "counter"
"#;
    hive.start_swarm(spec(&hive, toml)).await.unwrap();
    let mut rx = hive.events().subscribe();
    hive.stop_swarm("order").await.unwrap();
    let events = until(&mut rx, |e| e.event_type() == "swarm_stopped").await;
    let stops: Vec<String> = events
        .iter()
        .filter(|e| e.event_type() == "agent_stopped" || e.event_type() == "object_stopped")
        .map(|e| e.agent.as_deref().unwrap().to_string())
        .collect();
    assert_eq!(stops, ["o1", "last", "grp_3", "grp_2", "grp_1", "first"]);
    assert_eq!(hive.swarm_summary("order").await.unwrap().state, SwarmState::Stopped);
    hive.shutdown().await;
}

#[tokio::test]
async fn thousand_agents_scaled_to_two_thousand_and_back_with_every_event_accounted() {
    let hive = hive().await;
    let toml = "name = \"big\"\n[[agents]]\nname = \"w\"\nreplicas = 1000\n[[agents]]\nname = \"lead\"\n[topology]\nlead = [\"w\"]\nw = [\"lead\"]\n";
    let mut rx = hive.events().subscribe();
    let first = hive.events().next_seq();
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    let up = swarm.scale("w", 2000).await.unwrap();
    assert_eq!(
        (up.added.len(), up.added.first().map(String::as_str), up.added.last().map(String::as_str)),
        (1000, Some("w_1001"), Some("w_2000"))
    );
    assert!(swarm.send_message("lead", "w_2000", "hello").await.is_ok());
    let down = swarm.scale("w", 1000).await.unwrap();
    assert_eq!(down.removed.len(), 1000);
    assert_eq!(down.removed.first().map(String::as_str), Some("w_2000"));
    hive.stop_swarm("big").await.unwrap();
    let events = until(&mut rx, |e| e.event_type() == "swarm_stopped").await;

    // No gap, no duplicate, in order.
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (first..first + seqs.len() as u64).collect::<Vec<_>>());
    let count = |t: &str| events.iter().filter(|e| e.event_type() == t).count();
    assert_eq!(count("agent_started"), 2001);
    assert_eq!(count("agent_added"), 1000);
    assert_eq!(count("agent_removed"), 1000);
    assert_eq!(count("agent_stopped"), 2001, "1000 by scale-down, 1001 at swarm stop");
    assert_eq!(count("group_scaled"), 2);
    assert_eq!(count("message_routed"), 1);
    assert_eq!(count("swarm_started"), 1);
    let started: BTreeSet<String> = names_of(&events, "agent_started").into_iter().collect();
    let stopped: BTreeSet<String> = names_of(&events, "agent_stopped").into_iter().collect();
    assert_eq!(started, stopped, "every agent that started also stopped");
    hive.shutdown().await;
}

#[tokio::test]
async fn snapshot_after_changes_starts_the_same_swarm_again() {
    let hive = hive().await;
    let toml = r#"
name = "snap"
[supervision]
strategy = "rest_for_one"
max_restarts = 7
max_seconds = 9
backoff_ms = 10
[[agents]]
name = "planner"
model = "gpt-4o"
skills = ["skills/plan.md"]
[[agents]]
name = "worker"
replicas = 2
mock = { delay_ms = 5, reply = "ok" }
[[objects]]
name = "board"
kind = "kv"
config = { max_keys = 10 }
[topology]
planner = ["worker"]
"#;
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    swarm.scale("worker", 5).await.unwrap();
    swarm.update_edges(vec![Edge::new("worker_3", "board"), Edge::new("worker", "planner")], vec![]).await.unwrap();
    let extra = config::parse_agent_json(&serde_json::json!({"name": "critic", "restart": "transient"})).unwrap();
    swarm.add_agent(extra, vec!["planner".into()], vec![]).await.unwrap();
    swarm.configure_object("board", serde_json::json!({"max_keys": 99})).await.unwrap();
    let effective = swarm.spec().await.unwrap();
    let text = swarm.snapshot_toml().await.unwrap();

    // Read it back and start it in a fresh runtime.
    let other = common::hive().await;
    let again = config::parse_toml(&text, &other.validate_options()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let swarm2 = other.start_swarm(again.clone()).await.unwrap();
    let effective2 = swarm2.spec().await.unwrap();
    let edges = |s: &config::SwarmSpec| s.topology.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(edges(&effective2), edges(&effective));
    assert_eq!(effective2.agents, effective.agents);
    assert_eq!(effective2.objects, effective.objects);
    assert_eq!(effective2.supervision, effective.supervision);
    assert_eq!(swarm2.status().await.unwrap().agents.len(), 7);
    assert!(swarm2.send_message("worker_3", "board", r#"{"op":"keys"}"#).await.is_ok());
    hive.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn mock_options_fail_every_nth_task_and_delay() {
    let hive = hive().await;
    let toml = "name = \"m\"\n[[agents]]\nname = \"a\"\nmock = { fail_every = 2, delay_ms = 20, reply = \"R\" }\n";
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    let t = Duration::from_secs(5);
    assert_eq!(swarm.run_task("a", "1", t).await.unwrap(), TaskEnd::Completed { content: "R".into() });
    assert!(matches!(swarm.run_task("a", "2", t).await.unwrap(), TaskEnd::Failed { code: FailCode::MockFailure, .. }));
    // Cancel a task that is waiting behind a running one, then the running one.
    let running = swarm.send_task("a", "3").await.unwrap();
    let queued = swarm.send_task("a", "4").await.unwrap();
    swarm.cancel_task("a", &queued).await.unwrap();
    swarm.cancel_task("a", &running).await.unwrap();
    assert!(swarm.cancel_task("a", &running).await.is_err(), "cancelled twice");
    let st = eventually("idle", || async {
        let s = swarm.agent_status("a").await.unwrap();
        (s.state == AgentState::Idle).then_some(s)
    })
    .await;
    assert_eq!((st.tasks_completed, st.tasks_failed, st.inbox), (1, 3, 0));
    hive.shutdown().await;
}

#[tokio::test]
async fn tasks_still_queued_when_a_swarm_stops_end_with_a_failure_event() {
    let hive = hive().await;
    let toml = "name = \"q\"\n[[agents]]\nname = \"slow\"\nmock = { delay_ms = 10000 }\n";
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    let running = swarm.send_task("slow", "1").await.unwrap();
    let queued = swarm.send_task("slow", "2").await.unwrap();
    eventually("running", || async {
        swarm.agent_status("slow").await.unwrap().current_task.filter(|t| *t == running)
    })
    .await;
    let mut rx = hive.events().subscribe();
    hive.stop_swarm("q").await.unwrap();
    let events = until(&mut rx, |e| e.event_type() == "swarm_stopped").await;
    assert!(events.iter().any(|e| task_failed(e, &running, "agent_stopped")));
    assert!(events.iter().any(|e| task_failed(e, &queued, "swarm_stopped")));
    hive.shutdown().await;
}

#[tokio::test]
async fn object_keeps_answering_after_a_burst_of_exactly_one_batch() {
    let hive = hive().await;
    let toml = "name = \"burst\"\n[[agents]]\nname = \"a\"\n[[objects]]\nname = \"c\"\nkind = \"counter\"\n[topology]\na = [\"c\"]\n";
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    let sender = swarm.sender("a").await.unwrap();
    let c: std::sync::Arc<str> = "c".into();
    // 64 is the object's batch: a burst that ends exactly on it must not
    // leave the object asleep.
    for burst in 1..=3u64 {
        for _ in 0..64 {
            sender.send(c.clone(), "incr".into());
        }
        eventually("burst handled", || async {
            (swarm.object_state("c").await.unwrap()["value"] == 64 * burst).then_some(())
        })
        .await;
    }
    hive.shutdown().await;
}

#[tokio::test]
async fn a_busy_agent_gets_messages_queued_behind_its_next_task() {
    let hive = hive().await;
    let toml = "name = \"busy\"\n[[agents]]\nname = \"b\"\nmock = { delay_ms = 2000 }\n[[agents]]\nname = \"a\"\n[topology]\na = [\"b\"]\n";
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    swarm.send_task("b", "long").await.unwrap();
    swarm.send_task("b", "next").await.unwrap();
    swarm.send_message("a", "b", "while you work").await.unwrap();
    let h = eventually("message taken while busy", || async {
        let h = swarm.history("b", 10).await.unwrap();
        h.iter().any(|e| e.kind == "message").then_some(h)
    })
    .await;
    assert!(!h.iter().any(|e| e.kind == "result"), "taken before the running task finished");
    hive.shutdown().await;
}

#[tokio::test]
async fn temporary_agent_that_crashes_ends_its_task_and_refuses_more() {
    let hive = hive().await;
    let toml = "name = \"tmp\"\n[[agents]]\nname = \"t\"\nrestart = \"temporary\"\nmock = { panic_on = \"boom\" }\n";
    let swarm = hive.start_swarm(spec(&hive, toml)).await.unwrap();
    let mut rx = hive.events().subscribe();
    let boom = swarm.send_task("t", "boom").await.unwrap();
    let events = until(&mut rx, |e| task_failed(e, &boom, "agent_crashed")).await;
    assert!(events.iter().any(|e| is(e, "agent_exited", "t") && e.kind.metadata()["restarting"] == false));
    assert!(matches!(swarm.send_task("t", "more").await, Err(hive::HiveError::Conflict(_))));
    hive.shutdown().await;
}
