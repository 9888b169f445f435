//! The gateway commands of the `hive` client (`workers`, `workers off|on`,
//! `dispatch`, `tasks`) against a real daemon and a real ZeroMQ worker
//! (`actors/zmq_worker.py`), each as its own process, with every wait
//! bounded by a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

mod cli_common;
mod tools;
use cli_common::*;
use tools::Tool;

/// A running `actors/zmq_worker.py`; its stderr is kept for failure messages.
struct Worker {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Worker {
    fn start(endpoint: &str, args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .args(["actors/zmq_worker.py", "--connect", endpoint])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (pipe, keep) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = keep.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Worker { child, stderr }
    }

    fn stop(mut self) {
        let status = terminate(&mut self.child, "the worker");
        assert!(status.success(), "worker exited with {status:?}: {}", self.stderr.lock().unwrap());
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `probe` until it answers `Some`, or panics past the deadline.
fn until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(t) = probe() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A task's status, per `hive tasks ID --json`.
fn task_status(d: &Daemon, id: &str) -> String {
    d.run(&["--json", "tasks", id]).ok().json()["status"].as_str().unwrap().to_string()
}

/// The ZeroMQ worker `id` as `hive workers --json` lists it.
fn zmq_worker(d: &Daemon, id: &str) -> Option<Value> {
    let v = d.run(&["workers", "--json"]).ok().json();
    v["zmq"]["items"].as_array()?.iter().find(|w| w["worker_id"] == id).cloned()
}

#[test]
fn dispatch_stream_tasks_and_maintenance_through_a_real_worker() {
    // Without pyzmq the worker exits at once and the test would only time out waiting for it.
    if !tools::require(&[Tool::PyZmq]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--data-dir", dir.path().to_str().unwrap()], &[], true);
    let endpoint = d.endpoint.clone().expect("the gateway runs");

    let none = d.run(&["workers"]).ok().stdout;
    assert!(none.contains("ZeroMQ workers:") && none.contains("no ZeroMQ workers"), "{none}");
    assert!(none.contains("JSONL workers:") && none.contains("no JSONL workers"), "{none}");
    assert_eq!(d.run(&["tasks"]).ok().stdout, "no tasks\n");

    let w = Worker::start(&endpoint, &["--id", "w1", "--capabilities", "echo", "--fail-prompt", "boom"]);
    until("w1 in 'hive workers --json'", || zmq_worker(&d, "w1"));
    let table = d.run(&["workers"]).ok().stdout;
    let row = table.lines().find(|l| l.starts_with("w1 ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("ready") && row.contains("echo") && row.ends_with("ago"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("ID") && l.contains("LAST HEARTBEAT")), "{table}");

    // Sync, streamed (text and JSON lines), and a failing task.
    assert_eq!(d.run(&["dispatch", "hello world"]).ok().stdout, "hello world\n");
    assert_eq!(d.run(&["dispatch", "--stream", "hello world"]).ok().stdout, "hello world\n");
    let lines = d.run(&["dispatch", "--stream", "--json", "hello world"]).ok().stdout;
    let events: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let tokens: String = events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["data"]["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(tokens, "hello world", "{lines}");
    let last = events.last().unwrap();
    assert_eq!((&last["event"], &last["data"]["status"]), (&"result".into(), &"ok".into()), "{lines}");
    let sync = d.run(&["dispatch", "--json", "hello"]).ok().json();
    assert_eq!((&sync["status"], &sync["content"]), (&"ok".into(), &"hello".into()));
    d.run(&["dispatch", "boom"]).fails(1, "failed on request");
    d.run(&["dispatch", "--stream", "boom"]).fails(1, "failed on request");

    // Async: the id, then the recorded task.
    let id = d.run(&["dispatch", "--async", "hello world"]).ok().stdout.trim().to_string();
    assert!(!id.is_empty());
    until("the async task's end", || (task_status(&d, &id) == "ok").then_some(()));
    let shown = d.run(&["tasks", &id]).ok().stdout;
    assert!(shown.lines().any(|l| l.starts_with("status") && l.ends_with(" ok")), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("content") && l.ends_with(" hello world")), "{shown}");
    let list = d.run(&["tasks"]).ok().stdout;
    assert!(list.lines().next().unwrap().starts_with("TASK"), "{list}");
    let row = list.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains(" ok ") && row.contains(" _dispatch ") && row.ends_with("hello world"), "{list}");
    let errors = d.run(&["--json", "tasks", "--status", "error"]).ok().json();
    assert!(errors["items"].as_array().unwrap().iter().all(|t| t["status"] == "error"), "{errors}");
    assert_eq!(d.run(&["--json", "tasks", "--limit", "1"]).ok().json()["items"].as_array().unwrap().len(), 1);

    // Maintenance: off keeps new tasks queued, on lets them run.
    assert!(d.run(&["workers", "off", "w1"]).ok().stdout.contains("draining"));
    assert_eq!(zmq_worker(&d, "w1").unwrap()["status"], "draining");
    let held = d.run(&["dispatch", "--async", "held"]).ok().stdout.trim().to_string();
    let watch = Instant::now() + Duration::from_millis(500);
    while Instant::now() < watch {
        assert_eq!(task_status(&d, &held), "queued");
    }
    d.run(&["workers", "on", "w1"]).ok();
    until("the held task's end", || (task_status(&d, &held) == "ok").then_some(()));
    d.run(&["workers", "off", "nobody"]).fails(1, "nobody");

    // A capability nobody has: queued until cancelled.
    let gpu = d.run(&["dispatch", "--capability", "gpu", "--async", "render"]).ok().stdout.trim().to_string();
    assert_eq!(task_status(&d, &gpu), "queued");
    assert_eq!(d.run(&["tasks", "cancel", &gpu]).ok().stdout, format!("task {gpu} cancelled\n"));
    assert_eq!(task_status(&d, &gpu), "cancelled");
    d.run(&["tasks", "cancel", &gpu]).fails(1, "already ended");
    d.run(&["tasks", "nosuchtask"]).fails(1, "HIVE_");

    w.stop();
    d.stop();
}

#[test]
fn workers_without_a_gateway_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hive.toml");
    std::fs::write(&cfg, "[gateway]\nenabled = false\n").unwrap();
    let d = Daemon::start(&["--in-memory", "--config", cfg.to_str().unwrap()], &[], false);
    let text = d.run(&["workers"]).ok().stdout;
    assert!(text.contains("the ZeroMQ gateway is disabled") && text.contains("no JSONL workers"), "{text}");
    let v = d.run(&["workers", "--json"]).ok().json();
    assert!(v["zmq"].is_null() && v["jsonl"]["items"].is_array(), "{v}");
    d.run(&["dispatch", "hi"]).fails(1, "HIVE_");
    d.stop();
}
