//! Router enforcement, runtime edge changes, and scale naming with edge copying.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use hive::config::Edge;
use hive::{HiveError, Resource};

const SWARM: &str = r#"
name = "topo"
[[agents]]
name = "planner"
[[agents]]
name = "worker"
replicas = 2
[[objects]]
name = "board"
kind = "kv"
[topology]
planner = ["worker", "worker_2"]
worker = ["board"]
"#;

fn edge_set(edges: &[Edge]) -> BTreeSet<(String, String)> {
    edges.iter().map(|e| (e.from.clone(), e.to.clone())).collect()
}

#[tokio::test]
async fn denied_message_is_reported_to_the_sender_and_recorded() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    let mut rx = hive.events().subscribe();

    // From the API: a 403-class error naming the edge.
    let err = swarm.send_message("board", "planner", "hi").await.unwrap_err();
    assert!(matches!(&err, HiveError::RouteDenied(m) if m.contains("board → planner")), "{err:?}");
    until(&mut rx, |e| is(e, "route_denied", "board")).await;

    // From inside the swarm: the refusal lands in the sender's mailbox.
    let sender = swarm.sender("worker_1").await.unwrap();
    sender.send("planner", Arc::from("report"));
    until(&mut rx, |e| is(e, "route_denied", "worker_1")).await;
    let history = eventually("denied in history", || async {
        let h = swarm.history("worker_1", 10).await.unwrap();
        h.iter().any(|e| e.kind == "denied").then_some(h)
    })
    .await;
    assert_eq!(&*history.last().unwrap().peer, "planner");
    // Nothing reached the planner.
    assert_eq!(swarm.agent_status("planner").await.unwrap().messages_received, 0);
    hive.shutdown().await;
}

#[tokio::test]
async fn allowed_messages_reach_every_group_member_in_order() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    let sender = swarm.sender("planner").await.unwrap();
    for i in 0..50 {
        sender.send("worker", Arc::from(format!("m{i}")));
    }
    for w in ["worker_1", "worker_2"] {
        let h = eventually("50 messages", || async {
            let h = swarm.history(w, 100).await.unwrap();
            (h.len() == 50).then_some(h)
        })
        .await;
        let got: Vec<&str> = h.iter().map(|e| &*e.content).collect();
        let want: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want, "{w} got messages out of order");
    }
    let log = swarm.messages(1000).await.unwrap();
    assert_eq!(log.len(), 100);
    hive.shutdown().await;
}

#[tokio::test]
async fn bad_edges_are_each_named_and_nothing_is_applied() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    let before = swarm.spec().await.unwrap();
    let err = swarm
        .update_edges(
            vec![Edge::new("planner", "board"), Edge::new("ghost", "board"), Edge::new("planner", "nobody")],
            vec![Edge::new("board", "planner")],
        )
        .await
        .unwrap_err();
    let HiveError::InvalidEdges(bad) = err else { panic!("{err:?}") };
    let named: Vec<(&str, &str)> = bad.iter().map(|e| (e.from.as_str(), e.to.as_str())).collect();
    assert_eq!(named, [("ghost", "board"), ("planner", "nobody"), ("board", "planner")]);
    assert!(bad[0].reason.contains("ghost") && bad[2].reason.contains("no such edge"));
    assert_eq!(swarm.spec().await.unwrap(), before, "a refused change applies nothing");
    assert!(swarm.send_message("planner", "board", "x").await.is_err());

    // The valid part alone is applied.
    let change =
        swarm.update_edges(vec![Edge::new("planner", "board")], vec![Edge::new("worker", "board")]).await.unwrap();
    assert_eq!((change.added, change.removed), (1, 1));
    assert!(swarm.send_message("planner", "board", r#"{"op":"keys"}"#).await.is_ok());
    assert!(matches!(swarm.send_message("worker_1", "board", "x").await, Err(HiveError::RouteDenied(_))));
    hive.shutdown().await;
}

#[tokio::test]
async fn scale_up_names_members_in_order_and_copies_group_edges() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    let r = swarm.scale("worker", 4).await.unwrap();
    assert_eq!(r.added, ["worker_3", "worker_4"]);
    assert!(r.removed.is_empty() && r.failed.is_empty());
    // In-edge from the group edge planner → worker, out-edge worker → board.
    assert!(swarm.send_message("planner", "worker_4", "hi").await.is_ok());
    assert!(swarm.send_message("worker_3", "board", r#"{"op":"keys"}"#).await.is_ok());
    // The member-only edge planner → worker_2 is not copied (and never was a group edge).
    let st = swarm.status().await.unwrap();
    assert_eq!(st.groups[0].replicas, 4);
    assert!(edge_set(&st.topology).contains(&("planner".into(), "worker_2".into())));
    assert_eq!(
        st.agents.iter().map(|a| a.name.to_string()).collect::<Vec<_>>(),
        ["planner", "worker_1", "worker_2", "worker_3", "worker_4"]
    );
    hive.shutdown().await;
}

#[tokio::test]
async fn scale_down_removes_highest_index_first_and_member_edges_with_it() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    swarm.scale("worker", 4).await.unwrap();
    let mut rx = hive.events().subscribe();
    let r = swarm.scale("worker", 1).await.unwrap();
    assert_eq!(r.removed, ["worker_4", "worker_3", "worker_2"]);
    let events = until(&mut rx, |e| e.event_type() == "group_scaled").await;
    assert_eq!(names_of(&events, "agent_removed"), ["worker_4", "worker_3", "worker_2"]);
    assert_eq!(names_of(&events, "agent_stopped").len(), 3);
    let st = swarm.status().await.unwrap();
    assert!(
        !edge_set(&st.topology).contains(&("planner".into(), "worker_2".into())),
        "member edge removed with its member"
    );
    assert!(edge_set(&st.topology).contains(&("planner".into(), "worker".into())), "group edge kept");
    // Scaling back up creates a fresh worker_2 without the old member edge.
    swarm.scale("worker", 2).await.unwrap();
    assert!(swarm.send_message("planner", "worker_2", "hi").await.is_ok(), "the group edge still applies");
    assert!(!edge_set(&swarm.status().await.unwrap().topology).contains(&("planner".into(), "worker_2".into())));
    // Down to zero and back: the group keeps its edges.
    swarm.scale("worker", 0).await.unwrap();
    swarm.scale("worker", 1).await.unwrap();
    assert!(swarm.send_message("worker_1", "board", r#"{"op":"keys"}"#).await.is_ok());
    hive.shutdown().await;
}

#[tokio::test]
async fn bad_runtime_changes_are_clear_errors_that_change_nothing() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    let before = swarm.spec().await.unwrap();
    let agent = |name: &str| hive::config::parse_agent_json(&serde_json::json!({"name": name})).unwrap();

    assert!(matches!(swarm.add_agent(agent("planner"), vec![], vec![]).await, Err(HiveError::Conflict(_))));
    assert!(matches!(swarm.add_agent(agent("board"), vec![], vec![]).await, Err(HiveError::Conflict(_))));
    assert!(matches!(swarm.add_agent(agent("worker_1"), vec![], vec![]).await, Err(HiveError::Conflict(_))));
    let err = swarm.add_agent(agent("fresh"), vec!["ghost".into()], vec!["planner".into()]).await.unwrap_err();
    assert!(matches!(&err, HiveError::InvalidEdges(v) if v.len() == 1 && v[0].to == "ghost"), "{err:?}");
    assert!(matches!(swarm.scale("worker", 1_000_000).await, Err(HiveError::BadRequest(_))));
    assert!(matches!(swarm.scale("nobody", 2).await, Err(HiveError::NotFound { resource: Resource::Group, .. })));
    assert!(matches!(swarm.scale("planner", 2).await, Err(HiveError::Conflict(_))));
    assert!(matches!(swarm.send_task("ghost", "x").await, Err(HiveError::NotFound { resource: Resource::Agent, .. })));
    assert!(matches!(swarm.send_task("worker", "x").await, Err(HiveError::BadRequest(_))));
    assert!(matches!(swarm.send_task("board", "x").await, Err(HiveError::Conflict(_))));
    assert!(matches!(swarm.send_task("planner", &"x".repeat(2 << 20)).await, Err(HiveError::BadRequest(_))));
    assert!(matches!(swarm.remove_agent("worker_1").await, Err(HiveError::Conflict(_))));
    assert!(matches!(swarm.remove_agent("ghost").await, Err(HiveError::NotFound { .. })));
    assert!(matches!(swarm.remove_object("ghost").await, Err(HiveError::NotFound { .. })));
    assert!(matches!(
        swarm.configure_object("board", serde_json::json!({"max_keys": "x"})).await,
        Err(HiveError::BadRequest(_))
    ));
    assert_eq!(swarm.spec().await.unwrap(), before);
    assert_eq!(swarm.status().await.unwrap().agents.len(), 3);

    // A second swarm of the same name is refused while the first runs.
    assert!(matches!(hive.start_swarm(spec(&hive, SWARM)).await, Err(HiveError::Conflict(_))));
    hive.shutdown().await;
}

#[tokio::test]
async fn add_and_remove_agents_and_objects_at_runtime() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, SWARM)).await.unwrap();
    let reviewer = hive::config::parse_agent_json(&serde_json::json!({"name": "reviewer", "replicas": 2})).unwrap();
    let added = swarm.add_agent(reviewer, vec!["board".into()], vec!["planner".into()]).await.unwrap();
    assert_eq!(added, ["reviewer_1", "reviewer_2"]);
    assert!(swarm.send_message("planner", "reviewer_2", "look").await.is_ok());
    assert!(swarm.send_message("reviewer_1", "board", r#"{"op":"keys"}"#).await.is_ok());

    let counter = hive::config::parse_object_json(
        &serde_json::json!({"name": "hits", "kind": "counter"}),
        &hive.validate_options(),
    )
    .unwrap();
    swarm.add_object(counter, vec![], vec!["reviewer".into()]).await.unwrap();
    swarm.send_message("reviewer_1", "hits", "incr").await.unwrap();
    eventually("counter incremented", || async {
        (swarm.object_state("hits").await.unwrap()["value"] == 1).then_some(())
    })
    .await;

    assert_eq!(swarm.remove_agent("reviewer").await.unwrap(), ["reviewer_2", "reviewer_1"]);
    swarm.remove_object("hits").await.unwrap();
    let st = swarm.status().await.unwrap();
    assert_eq!(st.agents.len(), 3);
    assert!(
        !st.topology.iter().any(|e| e.from.starts_with("reviewer") || e.to.starts_with("reviewer") || e.to == "hits")
    );
    hive.shutdown().await;
}
