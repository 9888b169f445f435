//! The Rust reference worker (`examples/zmq_worker.rs`) against a bare ROUTER socket that plays
//! the gateway. The example binary is built by `cargo test --all-targets`; the test runs
//! `cargo build --example zmq_worker` once more (a no-op then) so it also works on its own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};

const DEADLINE: Duration = Duration::from_secs(10);

mod zmq_common;
use zmq_common::example_binary;

/// Kills the worker process when the test ends, however it ends.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::thread::panicking()
            && let Some(mut err) = self.0.stderr.take()
        {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            eprintln!("zmq_worker stderr:\n{text}");
        }
    }
}

impl Worker {
    async fn wait_exit(&mut self) -> i32 {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < end, "worker did not exit within {DEADLINE:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A ROUTER socket on a free 127.0.0.1 port, and the worker example connected to it.
struct Gateway {
    router: tmq::router::Router,
    /// Every message received so far: (identity, decoded payload).
    seen: Vec<(String, Value)>,
    /// Whether the last message came as `[identity, "", payload]`; answers use the same framing.
    empty_framing: bool,
    /// How many messages came as `[identity, payload]`.
    plain_seen: usize,
    worker: Worker,
}

impl Gateway {
    fn start(worker_args: &[&str]) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
            l.local_addr().expect("local addr").port()
        };
        let endpoint = format!("tcp://127.0.0.1:{port}");
        let router = tmq::router(&tmq::Context::new()).set_linger(0).bind(&endpoint).expect("bind ROUTER");
        let child = Command::new(example_binary())
            .args(["--connect", &endpoint])
            .args(worker_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the zmq_worker example");
        Gateway { router, seen: Vec::new(), empty_framing: false, plain_seen: 0, worker: Worker(child) }
    }

    /// The next message from any worker: (identity, payload map). Both framings are accepted.
    async fn recv(&mut self, end: Instant) -> (String, Value) {
        let left = end.saturating_duration_since(Instant::now());
        let frames = match timeout(left, self.router.next()).await {
            Ok(Some(Ok(frames))) => frames,
            Ok(other) => panic!("ROUTER stream ended: {:?}", other.map(|r| r.err())),
            Err(_) => panic!("timed out; last messages: {:?}", &self.seen[self.seen.len().saturating_sub(10)..]),
        };
        let frames: Vec<Vec<u8>> = frames.iter().map(|m| m.to_vec()).collect();
        let (payload, empty) = match frames.as_slice() {
            [_, p] => (p, false),
            [_, e, p] if e.is_empty() => (p, true),
            _ => panic!("unexpected frames {frames:?}"),
        };
        self.empty_framing = empty;
        self.plain_seen += usize::from(!empty);
        let identity = String::from_utf8(frames[0].clone()).expect("utf-8 identity");
        let value: Value = rmp_serde::from_slice(payload).expect("msgpack payload");
        assert!(value["type"].is_string(), "payload without a string type: {value}");
        self.seen.push((identity.clone(), value.clone()));
        (identity, value)
    }

    /// Receives until `pred` matches; returns the match and what came before it.
    async fn expect(
        &mut self,
        what: &str,
        pred: impl Fn(&str, &Value) -> bool,
    ) -> ((String, Value), Vec<(String, Value)>) {
        let end = Instant::now() + DEADLINE;
        let mut before = Vec::new();
        loop {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            let (id, v) = self.recv(end).await;
            if pred(&id, &v) {
                return ((id, v), before);
            }
            before.push((id, v));
        }
    }

    async fn send(&mut self, identity: &str, msg: Value) {
        let payload = rmp_serde::to_vec_named(&msg).expect("encode");
        let mut frames = vec![identity.as_bytes().to_vec(), payload];
        if self.empty_framing {
            frames.insert(1, Vec::new());
        }
        timeout(DEADLINE, self.router.send(frames)).await.expect("send timed out").expect("send");
    }
}

fn is(v: &Value, kind: &str, task_id: &Value) -> bool {
    v["type"] == kind && v["task_id"] == *task_id
}

#[tokio::test]
async fn two_workers_register_stream_tokens_and_survive_unknown_cancels() {
    let mut gw = Gateway::start(&["--id", "ex", "--workers", "2", "--tokens", "2", "--capabilities", "echo,gpu"]);
    let mut ready = Vec::new();
    while ready.len() < 2 {
        let ((id, v), _) = gw.expect("two readys", |_, v| v["type"] == "ready").await;
        assert_eq!(v["worker_id"], json!(id));
        assert_eq!(v["capabilities"], json!(["echo", "gpu"]));
        assert_eq!(v["slots"], json!(64));
        assert!(v.get("token").is_none(), "no token given: {v}");
        ready.push(id);
    }
    ready.sort();
    assert_eq!(ready, ["ex-1", "ex-2"]);

    let prompt = "hello there, wörld";
    for id in &ready {
        gw.send(id, json!({"type": "task", "task_id": format!("t-{id}"), "prompt": prompt, "model": "m"})).await;
    }
    // The two results may come in either order.
    let end = Instant::now() + DEADLINE;
    while gw.seen.iter().filter(|(_, v)| v["type"] == "result").count() < 2 {
        gw.recv(end).await;
    }
    for id in &ready {
        let task_id = json!(format!("t-{id}"));
        let (from, result) = gw.seen.iter().find(|(_, v)| is(v, "result", &task_id)).expect("its result").clone();
        assert_eq!(from, *id, "answered by the worker it was sent to");
        assert_eq!(result, json!({"type": "result", "task_id": task_id, "content": prompt, "status": "ok"}));
        let tokens: Vec<&Value> =
            gw.seen.iter().filter(|(_, v)| v["task_id"] == task_id).map(|(_, v)| v).collect::<Vec<_>>();
        let kinds: Vec<&str> = tokens.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["token", "token", "result"]);
        let text: String = tokens[..2].iter().map(|v| v["content"].as_str().unwrap()).collect();
        assert_eq!(text, prompt, "tokens concatenate to the prompt");
    }

    // A cancel for a task it does not have: a debug log, and it keeps serving.
    gw.send("ex-1", json!({"type": "cancel", "task_id": "nobody"})).await;
    gw.expect("debug log", |id, v| id == "ex-1" && v["type"] == "log" && v["level"] == "debug").await;
    gw.send("ex-1", json!({"type": "task", "task_id": 42, "prompt": "again"})).await;
    let ((_, result), _) = gw.expect("result 42", |_, v| is(v, "result", &json!(42))).await;
    assert_eq!(result["content"], "again");
    // A task it cannot decode is answered with an error rather than left hanging.
    gw.send("ex-2", json!({"type": "task", "task_id": "bad", "prompt": ["not", "text"]})).await;
    let ((_, err), _) = gw.expect("error for bad", |_, v| is(v, "error", &json!("bad"))).await;
    assert!(err["message"].as_str().unwrap().starts_with("unusable task"), "{err}");
    assert!(gw.worker.0.try_wait().expect("try_wait").is_none(), "worker still running");
}

#[tokio::test]
async fn empty_framing_is_used_for_every_message() {
    let mut gw = Gateway::start(&["--id", "fr", "--framing", "empty", "--tokens", "1", "--heartbeat-ms", "50"]);
    gw.expect("ready", |_, v| v["type"] == "ready").await;
    gw.send("fr-1", json!({"type": "task", "task_id": "f", "prompt": "p q"})).await;
    gw.expect("result", |_, v| is(v, "result", &json!("f"))).await;
    gw.expect("heartbeat", |_, v| v["type"] == "heartbeat").await;
    assert_eq!(gw.plain_seen, 0, "every message came as [identity, \"\", payload]: {:?}", gw.seen);
    assert!(gw.seen.iter().any(|(_, v)| is(v, "token", &json!("f"))));
}

#[tokio::test]
async fn in_flight_tasks_are_cancelled_heartbeats_flow_and_rejected_exits_3() {
    let args = ["--id", "slow", "--workers", "1", "--slots", "1", "--delay-ms", "60000", "--heartbeat-ms", "50"];
    let mut gw = Gateway::start(&args);
    gw.expect("ready", |_, v| v["type"] == "ready").await;
    gw.expect("heartbeat", |id, v| id == "slow-1" && v == &json!({"type": "heartbeat", "worker_id": "slow-1"})).await;

    // A is in flight (its only slot), B waits behind it; both cancels answer at once.
    gw.send("slow-1", json!({"type": "task", "task_id": "A", "prompt": "a"})).await;
    gw.send("slow-1", json!({"type": "task", "task_id": "B", "prompt": "b"})).await;
    for task_id in ["B", "A"] {
        gw.send("slow-1", json!({"type": "cancel", "task_id": task_id})).await;
        let ((_, err), _) = gw.expect("cancelled", |_, v| v["type"] == "error").await;
        assert_eq!(err, json!({"type": "error", "task_id": task_id, "message": "cancelled"}));
    }
    assert!(!gw.seen.iter().any(|(_, v)| v["type"] == "result"), "no result for cancelled tasks");

    gw.send("slow-1", json!({"type": "rejected", "reason": "bad token"})).await;
    assert_eq!(gw.worker.wait_exit().await, 3);
    let mut stderr = String::new();
    std::io::Read::read_to_string(gw.worker.0.stderr.as_mut().expect("stderr"), &mut stderr).expect("read stderr");
    assert!(stderr.contains("bad token"), "stderr: {stderr}");
}
