//! The `hive` client commands against a real daemon (`hive serve`), each as
//! its own process, with every wait bounded by a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::Value;

mod cli_common;
use cli_common::*;

/// A follower process (`events -f`) whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follower {
    fn start(cmd: &mut Command) -> Self {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Follower { child, lines, seen: Vec::new() }
    }

    /// Reads lines until one satisfies `pred`; returns it.
    fn until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what} within {DEADLINE:?}; saw {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn demo() -> &'static str {
    "swarms/demo.toml"
}

#[test]
fn a_swarm_is_driven_end_to_end_through_the_client() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    assert_eq!(d.run(&["ps"]).ok().stdout.trim(), "no swarms");

    let up = d.run(&["up", demo()]).ok();
    assert!(up.stdout.contains("swarm 'demo' created") && up.stdout.contains("worker_3"), "{}", up.stdout);
    d.run(&["up", demo()]).fails(1, "HIVE_CONFLICT");

    let ps = d.run(&["ps"]).ok().stdout;
    let row = ps.lines().find(|l| l.starts_with("demo ")).unwrap_or_else(|| panic!("{ps}"));
    assert!(row.contains("running"), "{ps}");
    assert!(ps.lines().next().unwrap().starts_with("NAME"), "{ps}");

    let status = d.run(&["status", "demo"]).ok().stdout;
    for want in ["state     running", "worker_1", "board", "kv", "REPLICAS", "planner  →  worker", "one_for_one"] {
        assert!(status.contains(want), "no '{want}' in\n{status}");
    }
    // The columns line up: every agent row has its state under STATE.
    let header = status.lines().find(|l| l.starts_with("AGENT")).unwrap();
    let col = header.find("STATE").unwrap();
    for row in status.lines().filter(|l| l.starts_with("worker_")) {
        assert!(row[col..].starts_with("idle") || row[col..].starts_with("busy"), "{status}");
    }

    // A task, followed to its end (no store: through the swarm's events).
    let task = d.run(&["task", "demo", "worker_1", "hello", "--wait"]).ok().stdout;
    let mut lines = task.lines();
    let id = lines.next().unwrap();
    assert_eq!(id.len(), 36, "a task id: {task}");
    assert_eq!(lines.next(), Some("ok"), "{task}");
    let queued = d.run(&["--json", "task", "demo", "worker_2", "again"]).ok().json();
    assert_eq!(queued["status"], "sent");

    // Scale up, then down.
    let up5 = d.run(&["scale", "demo", "worker", "5"]).ok().stdout;
    assert!(up5.contains("worker_4, worker_5"), "{up5}");
    assert!(d.run(&["status", "demo"]).ok().stdout.contains("worker_5"));
    d.run(&["scale", "demo", "worker", "1"]).ok();
    let status = d.run(&["--json", "status", "demo"]).ok().json();
    let names: Vec<&str> = status["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["planner", "worker_1"]);
    d.run(&["scale", "demo", "nogroup", "2"]).fails(1, "HIVE_GROUP_NOT_FOUND");
    run(d.hive().args(["scale", "demo", "worker", "-1"])).fails(2, "-1");

    // Topology: list, add, remove, a bad edge, a malformed one.
    let edges = d.run(&["topology", "demo"]).ok().stdout;
    assert!(edges.lines().any(|l| l.split_whitespace().eq(["worker", "→", "planner"])), "{edges}");
    d.run(&["topology", "demo", "--add", "board:planner"]).ok();
    let edges = d.run(&["topology", "demo"]).ok().stdout;
    assert!(edges.lines().any(|l| l.split_whitespace().eq(["board", "→", "planner"])), "{edges}");
    let removed = d.run(&["topology", "demo", "--remove", "board:planner"]).ok().stdout;
    assert!(removed.contains("0 edge(s) added, 1 removed"), "{removed}");
    let bad = d.run(&["topology", "demo", "--add", "planner:ghost"]).fails(1, "HIVE_INVALID_EDGES");
    assert!(bad.stderr.contains("planner→ghost"), "{}", bad.stderr);
    d.run(&["topology", "demo", "--add", "planner"]).fails(2, "FROM:TO");
    let json = d.run(&["--json", "topology", "demo"]).ok().json();
    assert!(json["edges"].as_array().unwrap().iter().any(|e| e["from"] == "planner" && e["to"] == "board"));

    // Stored events, readable and as JSON.
    let events = d.run(&["events", "demo", "--limit", "1000"]).ok().stdout;
    assert!(events.lines().any(|l| l.contains("demo") && l.contains("swarm_started")), "{events}");
    assert!(events.contains(&format!("task {id} completed")), "{events}");
    let done = d.run(&["events", "demo", "--type", "task_completed", "--json"]).ok().json();
    assert!(done["events"].as_array().unwrap().iter().all(|e| e["event_type"] == "task_completed"));
    d.run(&["events", "--level", "loud"]).fails(1, "HIVE_BAD_FILTER");

    // Snapshot: the effective config, a valid swarm file.
    let snap = d.run(&["snapshot", "demo"]).ok().stdout;
    let spec = hive::config::parse_toml(&snap, &Default::default()).unwrap();
    assert_eq!(spec.name, "demo");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.snapshot.toml");
    d.run(&["snapshot", "demo", "-o", file.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), snap);

    // Down, and down of what is not there.
    assert!(d.run(&["down", "demo"]).ok().stdout.contains("swarm 'demo' stopped"));
    let ps = d.run(&["--json", "ps"]).ok().json();
    assert_eq!(ps["swarms"][0]["state"], "stopped");
    assert_eq!(ps["total"], 1);
    d.run(&["down", "nope"]).fails(1, "swarm 'nope' not found (HIVE_SWARM_NOT_FOUND)");
    let err = d.run(&["--json", "down", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND").json();
    assert_eq!(err["error_code"], "HIVE_SWARM_NOT_FOUND");
    d.stop();
}

#[test]
fn events_follow_replays_then_streams_live() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pair.json");
    std::fs::write(
        &file,
        r#"{"name": "pair", "agents": [{"name": "a", "backend": "mock"}, {"name": "b", "backend": "mock"}],
            "topology": {"a": ["b"]}}"#,
    )
    .unwrap();
    assert!(d.run(&["up", file.to_str().unwrap()]).ok().stdout.contains("swarm 'pair' created: a, b"));
    let first = d.run(&["task", "pair", "a", "one"]).ok().stdout.trim().to_string();

    // From the start: the first task is replayed.
    let mut f = Follower::start(d.hive().args(["events", "pair", "-f", "--since", "0"]));
    f.until("swarm_started", |l| l.contains("pair") && l.contains("swarm_started"));
    f.until("the first task's end", |l| l.contains(&format!("task {first} completed")));
    // Then live.
    let second = d.run(&["task", "pair", "b", "two"]).ok().stdout.trim().to_string();
    let line = f.until("the second task's end", |l| l.contains(&format!("task {second} completed")));
    assert!(line.contains("pair/b") && line.contains("task_completed"), "{line}");

    // JSON lines, filtered by type.
    let mut j =
        Follower::start(d.hive().args(["--json", "events", "pair", "-f", "--since", "0", "--type", "task_queued"]));
    let line = j.until("a queued task", |l| l.contains(&second));
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event_type"], "task_queued");
    assert!(j.seen.iter().all(|l| serde_json::from_str::<Value>(l).unwrap()["event_type"] == "task_queued"));
    drop((f, j));
    d.stop();
}

#[test]
fn with_a_data_dir_tasks_are_followed_by_record_and_swarms_purged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let d = Daemon::start(&["--data-dir", data], &[], false);
    d.run(&["up", demo()]).ok();
    let out = d.run(&["task", "demo", "worker_1", "hello", "--wait"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1..], ["ok", "done"], "{out}");
    let rec = d.run(&["--json", "task", "demo", "worker_2", "hi", "--wait"]).ok().json();
    assert_eq!(
        (rec["status"].as_str(), rec["content"].as_str(), rec["agent"].as_str()),
        (Some("ok"), Some("done"), Some("worker_2"))
    );
    let purged = d.run(&["down", "demo", "--purge"]).ok().stdout;
    assert!(purged.contains("swarm 'demo' purged"), "{purged}");
    d.run(&["status", "demo"]).fails(1, "HIVE_SWARM_NOT_FOUND");
    d.stop();
}

#[test]
fn events_follow_reconnects_when_the_daemon_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // A fixed port, so that the second daemon answers at the same URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let args = ["--data-dir", data, "--listen", &addr];
    let d = Daemon::start(&args, &[], false);
    d.run(&["up", demo()]).ok();
    let first = d.run(&["task", "demo", "worker_1", "one"]).ok().stdout.trim().to_string();
    let mut f = Follower::start(d.hive().args(["events", "demo", "-f", "--since", "0"]));
    f.until("the first task's end", |l| l.contains(&format!("task {first} completed")));
    d.stop();

    let d = Daemon::start(&args, &[], false);
    let second = d.run(&["task", "demo", "worker_1", "two"]).ok().stdout.trim().to_string();
    f.until("the second task's end, after reconnecting", |l| l.contains(&format!("task {second} completed")));
    let firsts = f.seen.iter().filter(|l| l.contains(&format!("task {first} completed"))).count();
    assert_eq!(firsts, 1, "nothing is repeated: {:#?}", f.seen);
    drop(f);
    d.stop();
}

#[test]
fn workers_are_spawned_listed_and_killed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hive.toml");
    std::fs::write(&cfg, "[workers]\nspawn_allow = [\"actors/*.py\"]\n").unwrap();
    let d = Daemon::start(&["--in-memory", "--config", cfg.to_str().unwrap()], &[], false);
    let id = d.run(&["spawn", "actors/echo.py"]).ok().stdout.trim().to_string();
    assert!(!id.is_empty());
    let list = d.run(&["workers"]).ok().stdout;
    assert!(list.lines().any(|l| l.starts_with(&id) && l.contains("actors/echo.py")), "{list}");
    assert!(d.run(&["kill", &id]).ok().stdout.contains(&format!("worker {id} killed")));
    d.run(&["kill", &id]).fails(1, "HIVE_WORKER_NOT_FOUND");
    d.run(&["spawn", "/bin/sh", "-c", "true"]).fails(1, "HIVE_FORBIDDEN");
    d.stop();
}

#[test]
fn no_daemon_is_exit_3_with_a_hint_and_a_usage_error_is_exit_2() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [&["ps"][..], &["status", "demo"], &["events", "-f"], &["up", "swarms/demo.toml"]] {
        let out = run(hive().env("HIVE_URL", &url).args(args));
        out.fails(3, &format!("no Hive daemon at {url} (start one with 'hive serve', or set HIVE_URL)"));
    }
    let out = run(hive().args(["--url", &url, "ps"]));
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    // A usage error is caught before any request: 2, whether or not a daemon runs.
    let out = run(hive().env("HIVE_URL", &url).args(["topology", "demo", "--add", "a"]));
    assert_eq!(out.code, Some(2), "{}", out.stderr);
}

#[test]
fn a_daemon_with_a_token_refuses_clients_without_it() {
    let d = Daemon::start(&["--in-memory"], &[("HIVE_TOKEN", "s3cret")], false);
    d.run(&["ps"]).fails(1, "HIVE_UNAUTHORIZED");
    d.run(&["--token", "wrong", "ps"]).fails(1, "HIVE_UNAUTHORIZED");
    d.run(&["events", "-f"]).fails(1, "HIVE_UNAUTHORIZED");
    run(d.hive().env("HIVE_TOKEN", "s3cret").arg("ps")).ok();
    d.run(&["--token", "s3cret", "up", demo()]).ok();
    // The stream takes the token too.
    let mut f = Follower::start(d.hive().env("HIVE_TOKEN", "s3cret").args(["events", "demo", "-f", "--since", "0"]));
    f.until("swarm_started", |l| l.contains("swarm_started"));
    drop(f);
    d.stop();
}
