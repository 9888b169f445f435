//! Objects whose handler is a program (`handler = "stdio"`), end to end with
//! the reference handler `actors/stdio_counter.py`: added over REST, a
//! message changes its state, the state is read over HTTP, bad lines are
//! recorded and the object lives on, a killed program is restarted by its
//! supervisor, and a program `spawn_allow` does not permit is refused.

mod http_common;

use std::sync::Arc;

use hive::HiveOptions;
use hive::events::{Event, EventKind};
use hive::runtime::WorkerOptions;
use http_common::*;
use serde_json::{Value, json};

const SWARM: &str = r#"
name = "s"
[[agents]]
name = "a"
backend = "mock"
"#;

fn counter() -> String {
    format!("{}/actors/stdio_counter.py", env!("CARGO_MANIFEST_DIR"))
}

async fn daemon(allow: Vec<String>) -> Daemon {
    let opts = HiveOptions {
        workers: WorkerOptions { spawn_allow: allow, ..WorkerOptions::default() },
        ..HiveOptions::default()
    };
    Daemon::start_with(cfg(), opts).await
}

async fn add_counter(d: &Daemon) -> (u16, Value) {
    add_counter_to(d, &[]).await
}

async fn add_counter_to(d: &Daemon, connections: &[&str]) -> (u16, Value) {
    let body = json!({"name": "tally", "handler": "stdio", "command": [counter()], "config": {"start": 2},
                      "restart": "permanent", "incoming": ["a"], "connections": connections});
    d.post("/api/swarms/s/objects", body).await
}

async fn message(d: &Daemon, content: Value) {
    let (c, b) =
        d.post("/api/swarms/s/message", json!({"from": "a", "to": "tally", "content": content.to_string()})).await;
    assert!(c < 300, "{c} {b}");
}

fn object_logs(d: &Daemon, needle: &str) -> Vec<Arc<Event>> {
    d.hive.events().recent(10_000, |e| {
        e.agent.as_deref() == Some("tally")
            && matches!(e.kind, EventKind::Log { .. })
            && format!("{:?}", e.kind).contains(needle)
    })
}

/// Waits until exactly one log event of the object contains `needle`.
async fn logged(d: &Daemon, needle: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while object_logs(d, needle).is_empty() {
        if tokio::time::Instant::now() > deadline {
            let (_, ev) = d.get("/api/swarms/s/events?limit=100").await;
            panic!("no log event of tally with {needle:?}: {ev:#}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(object_logs(d, needle).len(), 1, "{needle}");
}

#[tokio::test]
async fn a_program_object_is_added_changes_state_survives_bad_lines_and_is_restarted_when_killed() {
    let d = daemon(vec![format!("{}/actors/*.py", env!("CARGO_MANIFEST_DIR"))]).await;
    d.create(SWARM).await;
    let (c, b) = add_counter(&d).await;
    assert_eq!(c, 201, "{b}");

    // Its first state comes from `ready` (config start = 2), then a message changes it.
    d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 2).await;
    message(&d, json!({"op": "add", "by": 5})).await;
    let b = d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 7).await;
    assert_eq!(b["object"], "tally");

    // Bad lines are recorded as the object's log events; the object answers on.
    message(&d, json!({"op": "noise"})).await;
    message(&d, json!({"op": "add"})).await;
    d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 8).await;
    // (Events reach the ring once committed: wait for them.)
    logged(&d, "not JSON: this is not json").await;
    logged(&d, "not an object protocol line").await;

    // Killed: its supervisor restarts it (permanent); the state starts again from the config.
    let status = d.hive.swarm("s").await.unwrap().status().await.unwrap();
    let pid = status.objects[0].pid.expect("the program's pid in the object's status") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let swarm = d.hive.swarm("s").await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let o = swarm.status().await.unwrap().objects.remove(0);
        if o.restarts == 1 && o.pid.is_some_and(|p| p as i32 != pid) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not restarted: {o:?}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    message(&d, json!({"op": "add", "by": 10})).await;
    d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 12).await;
    assert_eq!(d.hive.events().recent(10_000, |e| e.event_type() == "object_restarted").len(), 1);
}

#[tokio::test]
async fn a_program_spawn_allow_does_not_permit_is_refused_with_a_clear_error() {
    let d = daemon(vec!["/nowhere/*.py".into()]).await;
    d.create(SWARM).await;
    let (c, b) = add_counter(&d).await;
    assert_eq!(c, 403, "{b}");
    let text = b.to_string();
    assert!(text.contains("not allowed by spawn_allow") && text.contains("/nowhere/*.py"), "{text}");
    let (c, _) = d.get("/api/swarms/s/objects/tally").await;
    assert_eq!(c, 404, "nothing was added");

    // A swarm file holding such an object does not start either (a failed start is a 400).
    let file =
        format!("name = \"t\"\n[[objects]]\nname = \"tally\"\nhandler = \"stdio\"\ncommand = [\"{}\"]\n", counter());
    let (c, b) = d.post("/api/swarms", json!({"content": file, "format": "toml"})).await;
    assert_eq!(c, 400, "{b}");
    assert!(b.to_string().contains("object 'tally' cannot run its program: '"), "{b}");
    assert!(b.to_string().contains("is not allowed by spawn_allow (/nowhere/*.py)"), "{b}");

    let none = daemon(vec![]).await;
    none.create(SWARM).await;
    let (c, b) = add_counter(&none).await;
    assert_eq!(c, 403, "{b}");
    assert!(b.to_string().contains("disabled"), "{b}");
}

#[tokio::test]
async fn a_program_objects_sends_follow_the_topology_and_a_silent_program_still_answers_reads() {
    let d = daemon(vec![format!("{}/actors/*.py", env!("CARGO_MANIFEST_DIR"))]).await;
    d.create(&format!("{SWARM}[[objects]]\nname = \"board\"\nkind = \"kv\"\n")).await;
    let (c, b) = add_counter_to(&d, &["board"]).await;
    assert_eq!(c, 201, "{b}");
    d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 2).await;

    // An edge tally → board: routed (the kv answers; the answer is not answered again).
    message(&d, json!({"op": "forward", "to": "board"})).await;
    let routed = |e: &Event| e.event_type() == "message_routed" && format!("{:?}", e.kind).contains("\"board\"");
    wait_for(&d, "tally → board routed", routed).await;
    // No edge tally → a: denied, and the program is told (it logs it).
    message(&d, json!({"op": "forward", "to": "a"})).await;
    wait_for(&d, "tally → a denied", |e| e.event_type() == "route_denied").await;
    logged(&d, "send to a denied").await;

    // A program that stops answering state requests: the read gets its last state after the deadline.
    message(&d, json!({"op": "mute"})).await;
    message(&d, json!({"op": "add", "by": 3})).await;
    let b = d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 5).await;
    assert_eq!(b["object"], "tally");
    logged(&d, "did not answer a state request").await;
}

/// Waits for an event of the swarm that matches `pred`.
async fn wait_for(d: &Daemon, what: &str, pred: impl Fn(&Event) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while d.hive.events().recent(10_000, |e| pred(e)).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no event: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_program_objects_reply_reaches_its_sender_and_its_config_is_not_patched() {
    let d = daemon(vec![format!("{}/actors/*.py", env!("CARGO_MANIFEST_DIR"))]).await;
    d.create(SWARM).await;
    let (c, b) = add_counter(&d).await;
    assert_eq!(c, 201, "{b}");
    d.get_until("/api/swarms/s/objects/tally", |b| b["state"]["value"] == 2).await;
    // `get` is answered with a `reply`: routed back to the sender, a.
    message(&d, json!({"op": "get"})).await;
    let replied = |e: &Event| {
        e.agent.as_deref() == Some("tally")
            && matches!(&e.kind, EventKind::ObjectReplied { to, ok: true } if &**to == "a")
    };
    wait_for(&d, "tally replied to a", replied).await;
    // Its state is the program's: the config route refuses it.
    let (code, b) = d.patch("/api/swarms/s/objects/tally/config", json!({"start": 9})).await;
    assert_eq!(code, 400, "{b}");
    assert_eq!(d.get("/api/swarms/s/objects/tally").await.1["state"]["value"], 2);
}
