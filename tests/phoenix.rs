//! The Phoenix Channels v2 socket (`/swarm/websocket`) against a real server
//! on a real port: the official `phoenix` JS client end to end, then the
//! edge cases with a raw WebSocket (tokio-tungstenite).

mod common;
mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::{DEADLINE, Ws, next};
use futures::{SinkExt, StreamExt};
use hive::events::{BusOptions, EventKind, OutputKind};
use hive::http::{AppState, ServerConfig};
use hive::{Hive, HiveOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tools::Tool;

const DEMO: &str = r#"
name = "demo"
[[agents]]
name = "planner"
[[agents]]
name = "worker"
"#;

struct Server {
    hive: Arc<Hive>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(cfg: ServerConfig, swarm_toml: &str) -> Server {
        Self::start_with(HiveOptions::default(), cfg, swarm_toml).await
    }

    async fn start_with(opts: HiveOptions, cfg: ServerConfig, swarm_toml: &str) -> Server {
        let hive = Arc::new(Hive::start(opts).await.expect("runtime starts"));
        let spec = hive::config::parse_toml(swarm_toml, &hive.validate_options()).expect("valid swarm");
        hive.start_swarm(spec).await.expect("swarm starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let state = AppState::new(hive.clone(), cfg).unwrap();
        let task = tokio::spawn(hive::http::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Server { hive, addr, stop: Some(stop), task }
    }

    fn url(&self, query: &str) -> String {
        format!("ws://{}/swarm/websocket?vsn=2.0.0{query}", self.addr)
    }

    async fn connect(&self) -> Ws {
        connect(&self.url("")).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(DEADLINE, self.task).await.expect("server stops").unwrap().unwrap();
        self.hive.shutdown().await;
    }
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.expect("socket opens").0
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// Frames until one matches; returns the ones before it and the match.
async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> (Vec<Value>, Value) {
    let mut seen = Vec::new();
    loop {
        let f = next(ws).await.unwrap_or_else(|| panic!("socket closed; saw {seen:?}"));
        if pred(&f) {
            return (seen, f);
        }
        seen.push(f);
    }
}

/// Sends a frame and returns the payload of its reply.
async fn call(ws: &mut Ws, join_ref: Value, r: &str, topic: &str, event: &str, payload: Value) -> Value {
    send(ws, json!([join_ref, r, topic, event, payload])).await;
    reply(ws, r).await
}

async fn reply(ws: &mut Ws, r: &str) -> Value {
    let (_, f) = until(ws, |f| f[1] == r && f[3] == "phx_reply").await;
    f[4].clone()
}

async fn join(ws: &mut Ws, swarm: &str, r: &str) {
    let p = call(ws, json!(r), r, &format!("swarm:{swarm}"), "phx_join", json!({})).await;
    assert_eq!(p, json!({"status": "ok", "response": {"swarm": swarm}}));
}

async fn heartbeat(ws: &mut Ws, r: &str) {
    let p = call(ws, Value::Null, r, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(p["status"], "ok");
}

#[tokio::test]
async fn the_official_phoenix_js_client_joins_sends_a_task_and_gets_its_pushes() {
    if !tools::require(&[Tool::PhoenixJs]) {
        return;
    }
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let server = Server::start(ServerConfig { token: Some("js-token".into()), ..Default::default() }, DEMO).await;
    let endpoint = format!("ws://{}/swarm", server.addr);
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("node")
            .arg(js.join("phoenix_client.mjs"))
            .args([&endpoint, "demo", "worker"])
            .env("HIVE_TOKEN", "js-token")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the JS client finishes")
    .expect("node runs (install nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "JS client failed ({}):\n{stdout}\n{stderr}", out.status);
    let summary: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(summary["ok"], true, "{summary}");
    assert_eq!(summary["unknown_swarm"]["reason"], "swarm_not_found");
    assert_eq!(summary["agent_output"], json!(["hello from phoenix.js"]), "{summary}");
    let types: Vec<&str> = summary["task_events"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(types.contains(&"task_queued") && types.contains(&"task_completed"), "{summary}");
    assert_eq!(summary["unknown_agent"]["reason"], "agent_not_found");
    assert!(summary["status_agents"].as_array().unwrap().contains(&json!("worker")));
    assert!(summary["task_id"].as_str().is_some_and(|t| !t.is_empty()), "{summary}");
    server.stop().await;
}

#[tokio::test]
async fn malformed_frames_are_answered_and_neither_socket_nor_server_dies() {
    let server = Server::start(ServerConfig::default(), DEMO).await;
    let mut ws = server.connect().await;
    // Unanswerable: no readable ref. Ignored; the socket lives on.
    for junk in ["not json", "{\"a\":1}", "[]", "[null,null,\"t\",1]", "\"x\""] {
        ws.send(Message::text(junk)).await.unwrap();
    }
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    heartbeat(&mut ws, "h1").await;
    // Answerable: an error reply to the ref.
    send(&mut ws, json!(["1", "2", "swarm:demo"])).await;
    let p = reply(&mut ws, "2").await;
    assert_eq!((&p["status"], &p["response"]["reason"]), (&json!("error"), &json!("malformed_frame")), "{p}");
    send(&mut ws, json!([null, "3", 5, "phx_join", {}])).await;
    assert_eq!(reply(&mut ws, "3").await["response"]["reason"], "malformed_frame");
    send(&mut ws, json!([null, "4", "swarm:demo", ["x"], {}])).await;
    assert!(reply(&mut ws, "4").await["response"]["message"].as_str().unwrap().contains("event"));
    // Well-formed, but not joined / not a topic / unknown event / bad payload.
    let p = call(&mut ws, Value::Null, "5", "swarm:demo", "get_status", json!({})).await;
    assert_eq!(p, json!({"status": "error", "response": {"reason": "unmatched topic"}}));
    let p = call(&mut ws, json!("6"), "6", "room:lobby", "phx_join", json!({})).await;
    assert_eq!(p["response"]["reason"], "unmatched topic");
    let p = call(&mut ws, json!("7"), "7", "swarm:ghost", "phx_join", json!({})).await;
    assert_eq!(
        p,
        json!({"status": "error", "response": {"reason": "swarm_not_found", "message": "swarm 'ghost' not found"}})
    );
    join(&mut ws, "demo", "8").await;
    let p = call(&mut ws, json!("8"), "9", "swarm:demo", "dance", json!({})).await;
    assert_eq!(p["response"]["reason"], "unknown_event");
    assert!(p["response"]["message"].as_str().unwrap().contains("send_task"), "{p}");
    let p = call(&mut ws, json!("8"), "10", "swarm:demo", "send_task", json!({"agent": 7})).await;
    assert_eq!(p["response"]["reason"], "invalid_payload");
    let p = call(&mut ws, json!("8"), "11", "swarm:demo", "send_task", json!("text")).await;
    assert_eq!(p["response"]["reason"], "invalid_payload");
    let p =
        call(&mut ws, json!("8"), "12", "swarm:demo", "subscribe_events", json!({"filters": {"category": "x"}})).await;
    assert_eq!(p["response"]["reason"], "invalid_filter");
    assert!(p["response"]["message"].as_str().unwrap().contains("valid values: swarm, agent"), "{p}");
    let p = call(&mut ws, Value::Null, "13", "phoenix", "phx_leave", json!({})).await;
    assert_eq!(p["response"]["reason"], "unmatched topic");
    let p = call(&mut ws, json!("8"), "14", "swarm:demo", "get_status", json!({})).await;
    assert_eq!(p["status"], "ok");
    assert_eq!(p["response"]["name"], "demo");

    // A frame over 64 KiB closes that socket only.
    let mut big = server.connect().await;
    let huge = json!([null, "1", "phoenix", "heartbeat", {"pad": "x".repeat(70 * 1024)}]).to_string();
    let _ = big.send(Message::text(huge)).await;
    assert_eq!(next(&mut big).await, None, "an oversized frame closes its socket");
    heartbeat(&mut ws, "h2").await;
    let mut fresh = server.connect().await;
    heartbeat(&mut fresh, "h3").await;
    server.stop().await;
}

#[tokio::test]
async fn subscribing_twice_yields_one_push_per_event() {
    let server = Server::start(ServerConfig::default(), DEMO).await;
    let mut ws = server.connect().await;
    join(&mut ws, "demo", "1").await;
    for r in ["2", "3"] {
        let p =
            call(&mut ws, json!("1"), r, "swarm:demo", "subscribe_events", json!({"filters": {"category": "task"}}))
                .await;
        assert_eq!(p["status"], "ok", "{p}");
    }
    for r in ["4", "5"] {
        let p = call(&mut ws, json!("1"), r, "swarm:demo", "subscribe_logs", json!({"agent": "worker"})).await;
        assert_eq!(p["status"], "ok", "{p}");
    }
    let p = call(&mut ws, json!("1"), "6", "swarm:demo", "send_task", json!({"agent": "worker", "task": "hi"})).await;
    let task_id = p["response"]["task_id"].as_str().expect("a task id").to_string();
    let done =
        |f: &Value| f[3] == "event" && f[4]["event_type"] == "task_completed" && f[4]["metadata"]["task_id"] == task_id;
    let (mut seen, last) = until(&mut ws, done).await;
    seen.push(last);
    // A duplicate would be written in the same batch; the heartbeat reply comes after it.
    send(&mut ws, json!([null, "7", "phoenix", "heartbeat", {}])).await;
    let (after, _) = until(&mut ws, |f| f[1] == "7").await;
    seen.extend(after);
    for f in &seen {
        assert_eq!((&f[0], &f[1], &f[2]), (&json!("1"), &Value::Null, &json!("swarm:demo")), "a push: {f}");
    }
    let of_task = |f: &&Value| f[4]["metadata"]["task_id"] == task_id || f[4]["task_id"] == task_id;
    let outputs: Vec<&Value> = seen.iter().filter(|f| f[3] == "agent_output").filter(of_task).collect();
    assert_eq!(outputs.len(), 1, "{seen:?}");
    assert_eq!(outputs[0][4]["agent"], "worker");
    assert_eq!(outputs[0][4]["content"], "hi");
    let mut events: Vec<&str> =
        seen.iter().filter(|f| f[3] == "event").filter(of_task).filter_map(|f| f[4]["event_type"].as_str()).collect();
    let n = events.len();
    events.sort();
    events.dedup();
    assert_eq!(events.len(), n, "every task event once: {seen:?}");
    assert!(events.contains(&"task_queued") && events.contains(&"task_completed"), "{events:?}");
    assert!(seen.iter().filter(|f| f[3] == "event").all(|f| f[4]["category"] == "task"), "filtered: {seen:?}");

    // unsubscribe_events stops `event` pushes; lifecycle pushes continue.
    let p = call(&mut ws, json!("1"), "8", "swarm:demo", "unsubscribe_events", json!({})).await;
    assert_eq!(p["status"], "ok");
    let p =
        call(&mut ws, json!("1"), "9", "swarm:demo", "send_task", json!({"agent": "worker", "task": "again"})).await;
    let second = p["response"]["task_id"].as_str().unwrap().to_string();
    let (before, _) = until(&mut ws, |f| f[3] == "agent_output" && f[4]["task_id"] == second).await;
    assert!(before.iter().all(|f| f[3] != "event"), "{before:?}");
    server.stop().await;
}

#[tokio::test]
async fn log_entries_are_pushed_once_per_log_event() {
    if !tools::require(&[Tool::Python3]) {
        return;
    }
    let toml = r#"
name = "logs"
[supervision]
max_restarts = 5
max_seconds = 30
[[agents]]
name = "echo"
backend = "stdio"
command = ["python3", "actors/echo.py"]
"#;
    let server = Server::start(ServerConfig::default(), toml).await;
    let mut ws = server.connect().await;
    join(&mut ws, "logs", "1").await;
    let sub = [json!({"agent": "echo"}), json!({"agent": "echo"}), json!({}), json!({})];
    for (i, p) in sub.into_iter().enumerate() {
        let r = call(&mut ws, json!("1"), &format!("s{i}"), "swarm:logs", "subscribe_logs", p).await;
        assert_eq!(r["status"], "ok", "{r}");
    }
    // A restart makes the agent log (its exit, then `started: ...` from the new process).
    server.hive.swarm("logs").await.unwrap().restart_agent("echo").await.unwrap();
    let started = |f: &Value| f[3] == "log_entry" && f[4]["message"].as_str().is_some_and(|m| m.starts_with("started"));
    let (mut seen, last) = until(&mut ws, started).await;
    seen.push(last);
    send(&mut ws, json!([null, "h", "phoenix", "heartbeat", {}])).await;
    seen.extend(until(&mut ws, |f| f[1] == "h").await.0);
    let logs: Vec<&Value> = seen.iter().filter(|f| f[3] == "log_entry").collect();
    let mut seqs: Vec<u64> = logs.iter().map(|f| f[4]["seq"].as_u64().unwrap()).collect();
    let n = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), n, "each log once: {logs:?}");
    assert!(logs.iter().all(|f| f[4]["agent"] == "echo" && f[4]["level"].is_string()), "{logs:?}");
    let p = call(&mut ws, json!("1"), "u", "swarm:logs", "unsubscribe_logs", json!({})).await;
    assert_eq!(p["response"], json!({"logs": []}));
    server.stop().await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_after_the_heartbeat_timeout() {
    let server = Server::start(ServerConfig { ws_heartbeat_timeout_s: 1, ..Default::default() }, DEMO).await;
    let mut ws = server.connect().await;
    join(&mut ws, "demo", "1").await;
    let t0 = tokio::time::Instant::now();
    let close = loop {
        match tokio::time::timeout(DEADLINE, ws.next()).await.expect("closed within the deadline") {
            Some(Ok(Message::Close(c))) => break c,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert!(t0.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", t0.elapsed());
    assert_eq!(close.expect("a close frame with a reason").reason.as_str(), "heartbeat timeout");
    // The server still serves.
    let mut again = server.connect().await;
    heartbeat(&mut again, "1").await;
    server.stop().await;
}

#[tokio::test]
async fn leave_replies_then_closes_the_channel() {
    let server = Server::start(ServerConfig::default(), DEMO).await;
    let mut ws = server.connect().await;
    join(&mut ws, "demo", "1").await;
    send(&mut ws, json!(["1", "2", "swarm:demo", "phx_leave", {}])).await;
    let r = next(&mut ws).await.unwrap();
    assert_eq!(r, json!(["1", "2", "swarm:demo", "phx_reply", {"status": "ok", "response": {}}]));
    let c = next(&mut ws).await.unwrap();
    assert_eq!(c, json!(["1", null, "swarm:demo", "phx_close", {}]));
    let p = call(&mut ws, json!("1"), "3", "swarm:demo", "get_status", json!({})).await;
    assert_eq!(p["response"]["reason"], "unmatched topic");
    join(&mut ws, "demo", "4").await;
    server.stop().await;
}

#[tokio::test]
async fn a_token_protected_server_wants_the_token_in_the_query() {
    let cfg = ServerConfig { token: Some("s3cret".into()), ..Default::default() };
    let server = Server::start(cfg, DEMO).await;
    for query in ["", "&token=wrong"] {
        match tokio_tungstenite::connect_async(server.url(query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("expected 401 for {query:?}, got {:?}", other.map(|_| ())),
        }
    }
    let mut ws = connect(&server.url("&token=s3cret")).await;
    join(&mut ws, "demo", "1").await;
    server.stop().await;
}

#[tokio::test]
async fn stopping_the_server_closes_every_socket() {
    let server = Server::start(ServerConfig::default(), DEMO).await;
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    join(&mut a, "demo", "1").await;
    heartbeat(&mut b, "1").await;
    let hive = server.hive.clone();
    server.stop().await;
    assert_eq!(next(&mut a).await, None);
    assert_eq!(next(&mut b).await, None);
    drop(hive);
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_a_lagged_push_and_continues() {
    let opts = HiveOptions { bus: BusOptions { ring_capacity: 1024, max_lag: 4 }, ..HiveOptions::default() };
    let server = Server::start_with(opts, ServerConfig::default(), DEMO).await;
    let mut ws = server.connect().await;
    join(&mut ws, "demo", "1").await;
    // The client reads nothing while far more than the socket buffers hold is
    // published: the server's writes stall, its bus receiver falls behind.
    let bus = server.hive.events();
    let (swarm, agent): (Arc<str>, Arc<str>) = ("demo".into(), "worker".into());
    let big = "x".repeat(128 * 1024);
    let n = 256;
    for i in 0..n {
        let content = if i == n - 1 { "last".to_string() } else { big.clone() };
        bus.emit(
            Some(&swarm),
            Some(&agent),
            EventKind::AgentOutput { task_id: None, output: OutputKind::Raw, content },
        );
    }
    let (_, lagged) = until(&mut ws, |f| f[3] == "lagged").await;
    assert_eq!((&lagged[0], &lagged[1], &lagged[2]), (&json!("1"), &Value::Null, &json!("swarm:demo")), "{lagged}");
    assert!(lagged[4]["missed"].as_u64().unwrap() > 0, "{lagged}");
    assert!(lagged[4]["missed_from"].as_u64().unwrap() > 0, "{lagged}");
    // The socket carries on with newer events.
    until(&mut ws, |f| f[3] == "agent_output" && f[4]["content"] == "last").await;
    heartbeat(&mut ws, "h").await;
    server.stop().await;
}

/// Random frames through a real socket (generated by proptest, 200 by
/// default, `PROPTEST_CASES` for more): each one with a readable ref gets
/// exactly one reply to it, one without gets none, and the socket and the
/// server live on (a heartbeat after each is answered).
#[tokio::test]
async fn random_frames_each_get_one_reply_to_a_readable_ref_and_the_socket_lives_on() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let server = Server::start(ServerConfig::default(), DEMO).await;
    let mut ws = server.connect().await;
    join(&mut ws, "demo", "j").await;
    let word = || {
        prop_oneof![
            prop::sample::select(vec!["phoenix", "swarm:demo", "swarm:ghost", "heartbeat", "phx_join", "phx_leave"])
                .prop_map(Value::from),
            prop::sample::select(vec!["send_task", "get_status", "subscribe_events", "subscribe_logs"])
                .prop_map(Value::from),
            ".{0,6}".prop_map(Value::from),
        ]
    };
    let leaf =
        prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from), any::<i32>().prop_map(Value::from), word()];
    let value = leaf.prop_recursive(2, 12, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec!["agent", "task", "filters", "level", "category", "agents", "x"])
                    .prop_map(String::from),
                inner,
                0..3
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let frame =
        (prop::collection::vec(value.clone(), 0..7), value, any::<bool>()).prop_map(|(mut a, payload, shaped)| {
            if shaped {
                a.resize(4, Value::Null);
                a.push(payload);
            }
            a
        });
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(200);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for i in 0..cases {
        let mut a = frame.new_tree(&mut runner).expect("a frame").current();
        // A ref of its own (when it has one) so its reply can be told apart.
        let mine = json!(format!("r{i}"));
        if a.get(1).is_some_and(|r| r.is_string()) {
            a[1] = mine.clone();
        }
        let readable = a.get(1).filter(|r| matches!(r, Value::String(_) | Value::Number(_))).cloned();
        let hb = format!("hb{i}");
        // One write for both (two small writes wait on the peer's delayed ACK).
        ws.feed(Message::text(Value::Array(a.clone()).to_string())).await.unwrap();
        ws.feed(Message::text(json!([null, hb, "phoenix", "heartbeat", {}]).to_string())).await.unwrap();
        ws.flush().await.unwrap();
        let (seen, _) = until(&mut ws, |f| f[1] == hb.as_str() && f[3] == "phx_reply").await;
        let replies = seen.iter().filter(|f| f[3] == "phx_reply" && Some(&f[1]) == readable.as_ref()).count();
        let want = usize::from(readable.is_some());
        assert_eq!(replies, want, "frame {i} {a:?}: {seen:?}");
    }
    server.stop().await;
}
