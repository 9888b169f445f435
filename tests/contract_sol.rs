//! The Sol contract (`../shared/reference/sol-workers-api.txt`): each
//! endpoint Sol documents on `/api/v1` (zmq, agents, tasks, orchestrate),
//! driven against a real daemon with a real ZeroMQ worker process (the
//! reference worker, `examples/zmq_worker.rs`) and a real JSONL worker
//! (`actors/echo.py`), its answer checked key by key against a table of
//! the keys and JSON types Sol documents, its documented errors too.

mod http_common;
mod zmq_common;

use std::process::{Child, Command, Stdio};

use hive::gateway::GatewayOptions;
use http_common::{Daemon, cfg};
use serde_json::{Value, json};
use zmq_common::{Worker, example_binary};

/// A JSON type, or an exact value, that Sol documents for a key.
#[derive(Debug, Clone, Copy)]
enum J {
    Str,
    Num,
    Bool,
    Arr,
    /// A string or `null` (Sol shows `null` where nothing is set).
    StrOrNull,
    /// This exact string.
    Is(&'static str),
}

impl J {
    fn accepts(self, v: &Value) -> bool {
        match self {
            J::Str => v.is_string(),
            J::Num => v.is_number(),
            J::Bool => v.is_boolean(),
            J::Arr => v.is_array(),
            J::StrOrNull => v.is_string() || v.is_null(),
            J::Is(s) => v == s,
        }
    }
}

/// The value at a dotted path (`items.0.worker_id`), if every step exists.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, step| match step.parse::<usize>() {
        Ok(i) => v.as_array()?.get(i),
        Err(_) => v.as_object()?.get(step),
    })
}

/// Every mismatch of `body` against `table`, named by the endpoint.
#[derive(Default)]
struct Contract(Vec<String>);

impl Contract {
    fn check(&mut self, endpoint: &str, (code, body): (u16, &Value), want_code: u16, table: &[(&str, J)]) {
        if code != want_code {
            self.0.push(format!("{endpoint}: status {code}, Sol documents {want_code}: {body}"));
        }
        for (path, ty) in table {
            match at(body, path) {
                None => self.0.push(format!("{endpoint}: no '{path}' (Sol: {ty:?}): {body}")),
                Some(v) if !ty.accepts(v) => self.0.push(format!("{endpoint}: '{path}' is {v}, Sol: {ty:?}")),
                Some(_) => {}
            }
        }
    }

    fn assert_kept(self) {
        assert!(self.0.is_empty(), "the Sol contract is broken:\n{}", self.0.join("\n"));
    }
}

/// Hive's error shape on every documented error.
const ERROR: &[(&str, J)] = &[("error", J::Str), ("error_code", J::Str)];
const V1_PAGE: &[(&str, J)] = &[("items", J::Arr), ("total", J::Num), ("page", J::Num), ("per_page", J::Num)];
const ZMQ_WORKER: &[(&str, J)] = &[
    ("items.0.worker_id", J::Str),
    ("items.0.status", J::Str),
    ("items.0.capabilities", J::Arr),
    ("items.0.connected_at", J::Num),
    ("items.0.last_heartbeat", J::Num),
    ("items.0.current_task", J::StrOrNull),
];
const ZMQ_STATUS: &[(&str, J)] =
    &[("enabled", J::Bool), ("port", J::Num), ("connected", J::Num), ("queue_depth", J::Num)];
const DISPATCHED: &[(&str, J)] = &[("status", J::Is("ok")), ("task_id", J::Str), ("content", J::Str)];
const TOKEN: &[(&str, J)] = &[("content", J::Str)];
const TASK_DONE: &[(&str, J)] = &[("task_id", J::Str), ("status", J::Is("ok")), ("content", J::Str)];
const TASK_RUNNING: &[(&str, J)] = &[("task_id", J::Str), ("status", J::Is("in_progress")), ("content", J::Str)];
const CANCELLED: &[(&str, J)] = &[("status", J::Is("cancelled"))];
const TASK_ITEM: &[(&str, J)] =
    &[("items.0.task_id", J::Str), ("items.0.status", J::Str), ("items.0.created_at", J::Num)];
const AGENT_ITEM: &[(&str, J)] =
    &[("items.0.id", J::Str), ("items.0.status", J::Is("running")), ("items.0.current_task", J::StrOrNull)];
const ORCHESTRATED: &[(&str, J)] = &[
    ("status", J::Is("ok")),
    ("results", J::Arr),
    ("results.0.task_id", J::Str),
    ("results.0.status", J::Is("ok")),
    ("results.0.content", J::Str),
    ("results.1.content", J::Str),
];

/// The reference worker process, killed when the test ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo_py() -> String {
    format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"))
}

async fn daemon() -> (Daemon, String) {
    let opts = hive::HiveOptions {
        gateway: Some(GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() }),
        workers: hive::runtime::WorkerOptions { spawn_allow: vec![echo_py()], ..Default::default() },
        ..Default::default()
    };
    let d = Daemon::start_with(cfg(), opts).await;
    let endpoint = d.hive.zmq_status().await.unwrap().endpoint;
    (d, endpoint)
}

/// The events of an SSE body: (name, data).
fn sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let field = |k: &str| block.lines().find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()));
            Some((field("event:")?, serde_json::from_str(&field("data:")?).ok()?))
        })
        .collect()
}

#[tokio::test]
async fn every_endpoint_sol_documents_answers_its_keys_and_types() {
    let (d, ep) = daemon().await;
    let mut c = Contract::default();
    let bin = example_binary();
    let args = ["--connect", &ep, "--id", "luna", "--workers", "1", "--tokens", "2", "--capabilities", "lua,streaming"];
    let _worker = Process(Command::new(bin).args(args).stdout(Stdio::null()).spawn().expect("the reference worker"));
    d.get_until("/api/v1/zmq/status", |b| b["connected"] == 1).await;

    // Workers and the gateway.
    let (code, b) = d.get("/api/v1/zmq/workers").await;
    c.check("GET /api/v1/zmq/workers", (code, &b), 200, &[V1_PAGE, ZMQ_WORKER].concat());
    let (code, b) = d.get("/api/v1/zmq/workers?page=1&per_page=1").await;
    c.check("GET /api/v1/zmq/workers?page&per_page", (code, &b), 200, &[("page", J::Num), ("per_page", J::Num)]);
    assert_eq!((&b["page"], &b["per_page"]), (&json!(1), &json!(1)), "{b}");
    let (code, b) = d.get("/api/v1/zmq/status").await;
    c.check("GET /api/v1/zmq/status", (code, &b), 200, ZMQ_STATUS);

    // Dispatch: non-streaming, streaming, and its documented errors.
    let body = json!({"prompt": "Analyze the codebase", "model": "glm-5.1", "context": "ctx"});
    let (code, done) = d.post("/api/v1/zmq/dispatch", body).await;
    c.check("POST /api/v1/zmq/dispatch", (code, &done), 200, DISPATCHED);
    let r = d.http.post(d.url("/api/v1/zmq/dispatch")).json(&json!({"prompt": "Analyzing", "stream": true}));
    let r = r.send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream", "Sol streams SSE");
    let events = sse(&r.text().await.unwrap());
    let tokens: Vec<&Value> = events.iter().filter(|(e, _)| e == "token").map(|(_, d)| d).collect();
    assert!(!tokens.is_empty(), "token events: {events:?}");
    for t in tokens {
        c.check("dispatch stream: event token", (200, t), 200, TOKEN);
    }
    let result = events.iter().find(|(e, _)| e == "result").map(|(_, d)| d.clone()).unwrap_or_default();
    c.check("dispatch stream: event result", (200, &result), 200, TASK_DONE);
    let (code, b) = d.post("/api/v1/zmq/dispatch", json!({"model": "m"})).await;
    c.check("POST /api/v1/zmq/dispatch without prompt", (code, &b), 400, ERROR);
    let code = d.http.get(d.url("/api/v1/zmq/dispatch")).send().await.unwrap().status().as_u16();
    c.check("GET /api/v1/zmq/dispatch", (code, &Value::Null), 405, &[]);

    // Tasks.
    let id = done["task_id"].as_str().unwrap_or_default();
    let (code, b) = d.get(&format!("/api/v1/tasks/{id}")).await;
    c.check("GET /api/v1/tasks/:id (completed)", (code, &b), 200, TASK_DONE);
    let (code, b) = d.get("/api/v1/tasks").await;
    c.check("GET /api/v1/tasks", (code, &b), 200, &[V1_PAGE, TASK_ITEM].concat());
    let (code, b) = d.delete("/api/v1/tasks/task_nope").await;
    c.check("DELETE /api/v1/tasks/:id (unknown)", (code, &b), 404, ERROR);
    let (code, b) = d.get("/api/v1/tasks/task_nope").await;
    c.check("GET /api/v1/tasks/:id (unknown)", (code, &b), 404, ERROR);

    // Orchestrate.
    let plan = json!({"tasks": [{"prompt": "Analyze module A"}, {"prompt": "Analyze module B"}],
        "mode": "direct", "strategy": "parallel", "timeout": 120000, "model": "glm-5.1"});
    let (code, b) = d.post("/api/v1/orchestrate", plan).await;
    c.check("POST /api/v1/orchestrate", (code, &b), 200, ORCHESTRATED);
    let (code, b) = d.post("/api/v1/orchestrate", json!({"tasks": [{"prompt": "a"}], "mode": "freestyle"})).await;
    c.check("POST /api/v1/orchestrate (unknown mode)", (code, &b), 400, ERROR);

    // A task in progress, with its output so far, then cancelled: a
    // worker that holds it (the reference worker answers at once).
    let mut held = Worker::connect(&ep, "held", &["hold"], 1).await;
    d.get_until("/api/v1/zmq/status", |b| b["connected"] == 2).await;
    let (_, queued) = d.post("/api/v1/tasks", json!({"prompt": "long", "capabilities": ["hold"]})).await;
    let task = held.next().await;
    held.send(json!({"type": "token", "task_id": task["task_id"], "content": "partial output so far..."})).await;
    let path = format!("/api/v1/tasks/{}", queued["task_id"].as_str().unwrap_or_default());
    let running = d.get_until(&path, |b| b["content"] == "partial output so far...").await;
    c.check("GET /api/v1/tasks/:id (in progress)", (200, &running), 200, TASK_RUNNING);
    let (code, b) = d.delete(&path).await;
    c.check("DELETE /api/v1/tasks/:id", (code, &b), 200, CANCELLED);

    // JSONL agents: spawn, list (one key per name), kill.
    let (code, b) = d.post("/api/v1/agents/spawn", json!({"worker_path": echo_py(), "opts": {}})).await;
    c.check("POST /api/v1/agents/spawn", (code, &b), 201, &[("id", J::Str)]);
    let agent = b["id"].as_str().unwrap_or_default().to_string();
    let list = d.get_until("/api/v1/agents", |b| b["items"][0]["status"] == "running").await;
    c.check("GET /api/v1/agents", (200, &list), 200, &[&[("items", J::Arr)], AGENT_ITEM].concat());
    let raw = d.http.get(d.url("/api/v1/agents")).send().await.unwrap().text().await.unwrap();
    for key in ["\"id\":", "\"status\":", "\"state\":", "\"current_task\":"] {
        assert_eq!(raw.matches(key).count(), 1, "one {key} per agent: {raw}");
    }
    let (code, b) = d.post("/api/v1/agents/spawn", json!({"worker_path": "/bin/sh", "opts": {}})).await;
    c.check("POST /api/v1/agents/spawn (not allowed)", (code, &b), 403, ERROR);
    let (code, b) = d.delete(&format!("/api/v1/agents/{agent}/kill")).await;
    c.check("DELETE /api/v1/agents/:id/kill", (code, &b), 200, &[("status", J::Str)]);
    let (code, b) = d.delete(&format!("/api/v1/agents/{agent}/kill")).await;
    c.check("DELETE /api/v1/agents/:id/kill (unknown)", (code, &b), 404, ERROR);
    d.shutdown().await;

    // The gateway disabled: dispatch is 503.
    let off = Daemon::local().await;
    let (code, b) = off.post("/api/v1/zmq/dispatch", json!({"prompt": "x"})).await;
    c.check("POST /api/v1/zmq/dispatch (gateway disabled)", (code, &b), 503, ERROR);
    off.shutdown().await;
    c.assert_kept();
}

#[test]
fn the_checker_finds_a_missing_key_a_wrong_type_and_a_wrong_status() {
    let mut c = Contract::default();
    c.check("x", (200, &json!({"items": [{"id": 1}]})), 200, &[("items.0.id", J::Str), ("total", J::Num)]);
    c.check("y", (500, &json!({})), 200, &[]);
    assert_eq!(c.0.len(), 3, "{:?}", c.0);
    let mut ok = Contract::default();
    ok.check("z", (200, &json!({"a": null, "b": [true]})), 200, &[("a", J::StrOrNull), ("b.0", J::Bool)]);
    ok.assert_kept();
}
