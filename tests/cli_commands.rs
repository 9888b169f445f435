//! The `hive` commands of issue 11 (every API operation has one) against a
//! real daemon (`hive serve` on port 0), each as its own process: a success
//! and a refusal per command, every wait bounded by a deadline.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

mod cli_common;
use cli_common::*;

/// The entries of a list answer, under its resource key or `items` (the
/// `/api` keys are being renamed to genswarms' names).
fn entries<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).or_else(|| v.get("items")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Runs `probe` until it answers `Some`, or panics past the deadline.
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

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn pause_resume_restart_message_and_clean() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    d.run(&["up", "swarms/demo.toml"]).ok();

    let paused = d.run(&["pause", "demo"]).ok().stdout;
    assert!(paused.starts_with("swarm 'demo' paused"), "{paused}");
    let states = d.run(&["--json", "agents", "demo"]).ok().json();
    assert!(entries(&states, "agents").iter().all(|a| a["state"] == "paused"), "{states}");
    assert!(d.run(&["resume", "demo"]).ok().stdout.starts_with("swarm 'demo' resumed"));
    d.run(&["pause", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");
    d.run(&["resume", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");

    // A message along an edge; one against the topology is refused.
    let routed = d.run(&["message", "demo", "planner", "worker_1", "hello there"]).ok().stdout;
    assert!(routed.contains("planner → worker_1: routed"), "{routed}");
    d.run(&["message", "demo", "board", "planner", "no edge"]).fails(1, "HIVE_ROUTE_DENIED");
    let log = d.run(&["messages", "demo"]).ok().stdout;
    assert!(log.lines().next().unwrap().starts_with("TIME"), "{log}");
    assert!(log.lines().any(|l| l.contains("planner") && l.contains("worker_1") && l.contains("hello there")), "{log}");
    d.run(&["messages", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");
    run(d.hive().args(["messages", "demo", "-n", "0"])).fails(2, "0");

    // Restart one agent, then the swarm (as left, then from its seed).
    let r = d.run(&["restart", "demo", "planner"]).ok().stdout;
    assert_eq!(r.trim(), "agent 'planner' of 'demo' restarted");
    d.run(&["restart", "demo", "ghost"]).fails(1, "HIVE_AGENT_NOT_FOUND");
    d.run(&["scale", "demo", "worker", "1"]).ok();
    assert_eq!(d.run(&["restart", "demo"]).ok().stdout.trim(), "swarm 'demo' restarted");
    let agents = d.run(&["--json", "agents", "demo"]).ok().json();
    assert_eq!(entries(&agents, "agents").len(), 2, "restarted as left (scaled to 1): {agents}");
    assert!(d.run(&["restart", "demo", "--delete"]).ok().stdout.contains("from its seed"));
    let agents = d.run(&["--json", "agents", "demo"]).ok().json();
    assert_eq!(entries(&agents, "agents").len(), 4, "from the seed (3 workers): {agents}");
    d.run(&["restart", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");
    run(d.hive().args(["restart", "demo", "planner", "--delete"])).fails(2, "--delete");

    // Clean forgets the stopped swarm, and then has nothing to do.
    assert_eq!(d.run(&["clean"]).ok().stdout.trim(), "no stopped or failed swarms");
    d.run(&["down", "demo"]).ok();
    let cleaned = d.run(&["clean"]).ok().stdout;
    assert_eq!(cleaned.trim(), "1 swarm(s) forgotten: demo");
    assert_eq!(d.run(&["ps"]).ok().stdout.trim(), "no swarms");
    run(d.hive().args(["clean", "--everything"])).fails(2, "--everything");
    d.stop();
}

#[test]
fn agents_are_listed_added_shown_and_removed_with_history_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--in-memory"], &[], false);
    d.run(&["up", "swarms/demo.toml"]).ok();

    let list = d.run(&["agents", "demo"]).ok().stdout;
    assert!(list.lines().next().unwrap().starts_with("AGENT"), "{list}");
    for want in ["planner", "worker_3"] {
        assert!(list.lines().any(|l| l.starts_with(want) && l.contains("mock")), "no {want} in\n{list}");
    }
    d.run(&["agents", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");

    // Added inline with edges, and from a TOML file.
    let added =
        d.run(&["agents", "add", "demo", r#"{"name": "reviewer", "backend": "mock"}"#, "--incoming", "planner"]);
    assert_eq!(added.ok().stdout.trim(), "added to 'demo': reviewer");
    let file = write(dir.path(), "helper.toml", "name = \"helper\"\nbackend = \"mock\"\nreplicas = 2\n");
    let added = d.run(&["agents", "add", "demo", &format!("@{file}")]).ok().stdout;
    assert_eq!(added.trim(), "added to 'demo': helper_1, helper_2");
    let edges = d.run(&["topology", "demo"]).ok().stdout;
    assert!(edges.lines().any(|l| l.split_whitespace().eq(["planner", "→", "reviewer"])), "{edges}");
    d.run(&["agents", "add", "demo", r#"{"name": "reviewer", "backend": "mock"}"#]).fails(1, "HIVE_CONFLICT");
    d.run(&["agents", "add", "demo", r#"{"name": "x", "backend": "warp"}"#]).fails(1, "HIVE_INVALID_CONFIG");
    d.run(&["agents", "add", "demo", "name=x"]).fails(1, "not JSON");

    let show = d.run(&["agents", "show", "demo", "reviewer"]).ok().stdout;
    assert!(show.lines().any(|l| l.split_whitespace().eq(["agent", "reviewer"])), "{show}");
    assert!(show.lines().any(|l| l.split_whitespace().eq(["backend", "mock"])), "{show}");
    d.run(&["agents", "show", "demo", "ghost"]).fails(1, "HIVE_AGENT_NOT_FOUND");

    // History: a task and its result.
    d.run(&["task", "demo", "worker_1", "count the stars", "--wait"]).ok();
    let history = d.run(&["agents", "history", "demo", "worker_1"]).ok().stdout;
    assert!(history.lines().next().unwrap().starts_with("TIME"), "{history}");
    assert!(history.lines().any(|l| l.contains("task") && l.contains("count the stars")), "{history}");
    d.run(&["agents", "history", "demo", "ghost"]).fails(1, "HIVE_AGENT_NOT_FOUND");

    // Logs: the mock's output after its task; none of an idle agent; an unknown one refused.
    let logs = d.run(&["logs", "demo", "worker_1"]).ok().stdout;
    assert!(logs.lines().any(|l| l.contains("demo/worker_1") && l.contains("agent_output")), "{logs}");
    assert_eq!(d.run(&["logs", "demo", "reviewer"]).ok().stdout.trim(), "no logs");
    d.run(&["logs", "demo", "ghost"]).fails(1, "HIVE_AGENT_NOT_FOUND");
    run(d.hive().args(["logs", "demo"])).fails(2, "<AGENT>");

    let removed = d.run(&["agents", "remove", "demo", "helper"]).ok().stdout;
    assert_eq!(removed.trim(), "removed from 'demo': helper_2, helper_1");
    d.run(&["agents", "remove", "demo", "reviewer"]).ok();
    d.run(&["agents", "remove", "demo", "reviewer"]).fails(1, "HIVE_AGENT_NOT_FOUND");
    run(d.hive().args(["agents"])).fails(2, "<NAME>");
    run(d.hive().args(["objects"])).fails(2, "<NAME>");
    d.stop();
}

#[test]
fn a_stdio_agents_log_lines_are_shown() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    d.run(&["up", "swarms/echo.toml"]).ok();
    // echo.py logs its settings (a debug line) when it starts.
    let logs = until("a log line of echo", || {
        let out = d.run(&["logs", "echo", "echo"]).ok().stdout;
        out.contains("HIVE_AGENT").then_some(out)
    });
    assert!(logs.lines().all(|l| l.contains("echo/echo")), "{logs}");
    let json = d.run(&["--json", "logs", "echo", "echo", "-n", "1"]).ok().json();
    assert_eq!(entries(&json, "logs").len(), 1, "{json}");
    d.stop();
}

#[test]
fn objects_are_listed_added_read_configured_and_removed() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    d.run(&["up", "swarms/demo.toml"]).ok();

    let list = d.run(&["objects", "demo"]).ok().stdout;
    assert!(list.lines().next().unwrap().starts_with("OBJECT"), "{list}");
    assert!(list.lines().any(|l| l.starts_with("board") && l.contains("kv")), "{list}");
    d.run(&["objects", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");

    let added = d.run(&["objects", "add", "demo", r#"{"name": "hits", "kind": "counter"}"#, "--incoming", "planner"]);
    assert_eq!(added.ok().stdout.trim(), "added to 'demo': hits");
    d.run(&["objects", "add", "demo", r#"{"name": "odd", "kind": "teleporter"}"#]).fails(1, "HIVE_INVALID_CONFIG");
    assert!(d.run(&["objects", "demo"]).ok().stdout.lines().any(|l| l.starts_with("hits") && l.contains("counter")));

    let state: Value = serde_json::from_str(&d.run(&["objects", "get", "demo", "board"]).ok().stdout).unwrap();
    assert!(state.is_object(), "{state}");
    let raw = d.run(&["--json", "objects", "get", "demo", "board"]).ok().json();
    assert_eq!(raw["object"], "board");
    d.run(&["objects", "get", "demo", "ghost"]).fails(1, "HIVE_OBJECT_NOT_FOUND");

    let configured = d.run(&["objects", "config", "demo", "board", r#"{"max_keys": 10}"#]).ok().stdout;
    assert_eq!(configured.trim(), "object 'board' of 'demo' configured");
    d.run(&["objects", "config", "demo", "ghost", r#"{"max_keys": 10}"#]).fails(1, "HIVE_OBJECT_NOT_FOUND");
    d.run(&["objects", "config", "demo", "board", "[1]"]).fails(1, "must be a JSON object");

    assert_eq!(d.run(&["objects", "remove", "demo", "hits"]).ok().stdout.trim(), "removed from 'demo': hits");
    d.run(&["objects", "remove", "demo", "hits"]).fails(1, "HIVE_OBJECT_NOT_FOUND");
    d.stop();
}

#[test]
fn the_overlay_is_shown_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--data-dir", dir.path().to_str().unwrap()], &[], false);
    d.run(&["up", "swarms/demo.toml"]).ok();
    assert_eq!(d.run(&["overlay", "show", "demo"]).ok().stdout.trim(), "no changes since the seed");
    d.run(&["scale", "demo", "worker", "4"]).ok();
    d.run(&["topology", "demo", "--add", "board:planner"]).ok();
    let shown = d.run(&["overlay", "show", "demo"]).ok().stdout;
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(lines[0].contains("scale") && lines[0].contains("\"count\":4"), "{shown}");
    assert!(lines[1].contains("edges") && lines[1].contains("board"), "{shown}");
    d.run(&["overlay", "show", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");

    assert_eq!(d.run(&["overlay", "clear", "demo"]).ok().stdout.trim(), "overlay of 'demo' folded into its seed");
    assert_eq!(d.run(&["overlay", "show", "demo"]).ok().stdout.trim(), "no changes since the seed");
    d.run(&["overlay", "clear", "nope"]).fails(1, "HIVE_SWARM_NOT_FOUND");
    run(d.hive().args(["overlay", "demo"])).fails(2, "demo");
    d.stop();

    // Without a store there is no overlay to show.
    let d = Daemon::start(&["--in-memory"], &[], false);
    d.run(&["up", "swarms/demo.toml"]).ok();
    d.run(&["overlay", "show", "demo"]).fails(1, "HIVE_UNAVAILABLE");
    d.stop();
}

#[test]
fn skill_files_are_listed_printed_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let skills = dir.path().join("skills");
    std::fs::create_dir_all(skills.join("research")).unwrap();
    std::fs::write(skills.join("research/search.md"), "# search\n").unwrap();
    let cfg = write(dir.path(), "hive.toml", &format!("[server]\nskills_dir = {:?}\n", skills.to_str().unwrap()));
    let swarm = write(
        dir.path(),
        "s.toml",
        "name = \"s\"\n[[agents]]\nname = \"a\"\nbackend = \"mock\"\nskills = [\"research/search.md\"]\n",
    );
    let d = Daemon::start(&["--in-memory", "--config", &cfg], &[], false);
    d.run(&["up", &swarm]).ok();

    let list = d.run(&["skills"]).ok().stdout;
    assert!(list.lines().any(|l| l.split_whitespace().eq(["search", "research", "9", "research/search.md"])), "{list}");
    assert_eq!(d.run(&["skills", "research/search"]).ok().stdout, "# search\n");
    d.run(&["skills", "nope"]).fails(1, "HIVE_NOT_FOUND");

    let mine = d.run(&["skills", "agent", "s", "a"]).ok().stdout;
    assert!(mine.starts_with("== research/search.md (") && mine.contains("# search"), "{mine}");
    d.run(&["skills", "agent", "s", "ghost"]).fails(1, "HIVE_AGENT_NOT_FOUND");

    let new = write(dir.path(), "new.md", "# better search\n");
    let put = d.run(&["skills", "put", "s", "a", "search", &new]).ok().stdout;
    assert!(put.contains("skill 'search' of 'a' written") && put.contains("(16 bytes)"), "{put}");
    assert_eq!(std::fs::read_to_string(skills.join("research/search.md")).unwrap(), "# better search\n");
    d.run(&["skills", "put", "s", "a", "unlisted", &new]).fails(1, "HIVE_NOT_FOUND");
    d.run(&["skills", "put", "s", "a", "search", "/nonexistent/file.md"]).fails(1, "/nonexistent/file.md");
    d.stop();
}

#[test]
fn orchestrate_gateway_status_and_jsonl_workers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "hive.toml", "[workers]\nspawn_allow = [\"actors/*.py\"]\n");
    let d = Daemon::start(&["--in-memory", "--config", &cfg], &[], true);

    let status = d.run(&["gateway", "status"]).ok().stdout;
    assert!(status.contains(&format!("endpoint   {}", d.endpoint.as_deref().unwrap())), "{status}");
    assert!(status.lines().any(|l| l.split_whitespace().eq(["workers", "0"])), "{status}");

    // No worker: the orchestration times out, and says so.
    let timed_out = d.run(&["orchestrate", "alone", "--timeout", "300ms"]).fails(1, "ended timeout");
    assert!(timed_out.stdout.trim_end().ends_with("timeout"), "{}", timed_out.stdout);
    run(d.hive().args(["orchestrate", "x", "--strategy", "sideways"])).fails(2, "parallel");
    run(d.hive().args(["orchestrate"])).fails(2, "PROMPT");
    d.run(&["orchestrate", "x", "--mode", "workflow", "--strategy", "parallel"]).fails(1, "HIVE_BAD_REQUEST");

    // A standalone echo worker joins the pool: shown, given a task, then orchestrated.
    let id = d.run(&["spawn", "actors/echo.py"]).ok().stdout.trim().to_string();
    let show = until("the worker idle", || {
        let out = d.run(&["workers", "show", &id]).ok().stdout;
        out.lines().any(|l| l.split_whitespace().eq(["state", "idle"])).then_some(out)
    });
    assert!(show.lines().any(|l| l.starts_with("program") && l.contains("actors/echo.py")), "{show}");
    d.run(&["workers", "show", "nope"]).fails(1, "HIVE_WORKER_NOT_FOUND");
    let task = d.run(&["workers", "task", &id, "ping"]).ok().stdout.trim().to_string();
    assert_eq!(task.len(), 36, "a task id: {task}");
    d.run(&["workers", "task", "nope", "ping"]).fails(1, "HIVE_WORKER_NOT_FOUND");
    until("the worker in the gateway's pool", || {
        let v = d.run(&["--json", "gateway", "status"]).ok().json();
        (v["connected"].as_u64() >= Some(1)).then_some(())
    });

    let out = d.run(&["orchestrate", "one two", "three", "--mode", "workflow"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TASK") && lines.last() == Some(&"ok"), "{out}");
    assert_eq!(lines.iter().filter(|l| l.contains(" ok ")).count(), 2, "{out}");
    let json = d.run(&["--json", "orchestrate", "solo"]).ok().json();
    assert_eq!((json["status"].as_str(), json["results"][0]["content"].as_str()), (Some("ok"), Some("solo")));
    d.stop();
}

#[test]
fn health_and_daemon_side_validation() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(&["--in-memory"], &[], false);
    let health = d.run(&["health"]).ok().stdout;
    assert!(health.lines().any(|l| l.split_whitespace().eq(["status", "ok"])), "{health}");
    assert_eq!(d.run(&["--json", "health"]).ok().json()["status"], "ok");

    let ok = d.run(&["validate", "--daemon", "swarms/demo.toml"]).ok().stdout;
    assert_eq!(ok.trim(), "swarms/demo.toml: ok (swarm 'demo': 2 agents, 1 objects, 3 edges)");
    let bad = write(dir.path(), "bad.toml", "name = \"b\"\n[[agents]]\nname = \"a\"\nbackend = \"warp\"\n");
    let out = d.run(&["validate", "--daemon", "swarms/demo.toml", &bad]).fails(1, "HIVE_INVALID_CONFIG");
    assert!(out.stderr.contains("bad.toml: ") && out.stderr.contains("4:"), "{}", out.stderr);
    assert!(out.stderr.contains("1 file(s) invalid"), "{}", out.stderr);
    d.stop();

    // No daemon: exit 3, for these as for every client command.
    let gone = "http://127.0.0.1:9";
    for args in [&["health"][..], &["gateway", "status"], &["maintenance", "off"], &["logs"], &["clean"]] {
        run(hive().env("HIVE_URL", gone).args(args)).fails(3, "no Hive daemon");
    }
}

#[test]
fn completion_scripts_name_the_commands() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef hive"), ("fish", "complete -c hive")] {
        let out = run(hive().args(["completions", shell])).ok().stdout;
        assert!(out.contains(marker), "{shell}: no '{marker}'");
        for cmd in ["orchestrate", "maintenance", "objects", "completions"] {
            assert!(out.contains(cmd), "{shell}: no '{cmd}'");
        }
    }
    run(hive().args(["completions", "tcsh"])).fails(2, "bash");
}

/// `hive logs` and `hive maintenance` against the routes of the ops slice
/// (`GET /api/v1/logs`, `POST /api/v1/maintenance/off|on`); run once they
/// are merged.
#[test]
fn daemon_logs_and_maintenance() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    d.run(&["up", "swarms/demo.toml"]).ok();
    let logs = d.run(&["logs", "-n", "50"]).ok().stdout;
    assert!(!logs.trim().is_empty() && logs.trim() != "no log lines", "{logs}");
    run(d.hive().args(["logs", "-n", "5000"])).fails(2, "5000");
    run(d.hive().args(["logs", "--level", "loud"])).fails(2, "warn");
    let warnings = d.run(&["--json", "logs", "--level", "error"]).ok().json();
    assert!(entries(&warnings, "items").iter().all(|l| l["level"] == "error"), "{warnings}");

    assert!(d.run(&["maintenance", "off"]).ok().stdout.contains("takes no new work"));
    d.run(&["up", "swarms/echo.toml"]).fails(1, "HIVE_MAINTENANCE");
    assert!(d.run(&["maintenance", "on"]).ok().stdout.contains("takes new work again"));
    d.run(&["task", "demo", "planner", "again"]).ok();
    run(d.hive().args(["maintenance", "sideways"])).fails(2, "sideways");
    d.stop();
}

/// `hive tasks submit` and `hive workers show|unregister` of a ZeroMQ worker
/// against the routes of the sol slice (`POST /api/v1/tasks`, `GET` and
/// `DELETE /api/v1/zmq/workers/{id}`); run once they are merged.
#[test]
fn submitted_tasks_and_zmq_workers_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "hive.toml", "[workers]\nspawn_allow = [\"actors/*.py\"]\n");
    let d = Daemon::start(&["--in-memory", "--config", &cfg], &[], true);
    let id = d.run(&["spawn", "actors/echo.py"]).ok().stdout.trim().to_string();
    let local = format!("local/{id}");
    let show = until("the pool worker in the gateway", || {
        let out = d.run(&["workers", "show", &local]);
        (out.code == Some(0)).then_some(out.stdout)
    });
    assert!(show.lines().any(|l| l.split_whitespace().eq(["worker", local.as_str()])), "{show}");
    d.run(&["workers", "show", "nope"]).fails(1, "HIVE_WORKER_NOT_FOUND");

    let task = d.run(&["tasks", "submit", "hello"]).ok().stdout.trim().to_string();
    assert_eq!(task.len(), 36, "a task id: {task}");
    until("the submitted task ok", || (d.run(&["--json", "tasks", &task]).ok().json()["status"] == "ok").then_some(()));
    run(d.hive().args(["tasks", "submit", "x", "--priority", "0"])).fails(2, "0");

    d.run(&["workers", "unregister", "nope"]).fails(1, "HIVE_WORKER_NOT_FOUND");
    // A pool worker is killed through the pool, not unregistered.
    d.run(&["workers", "unregister", &local]).fails(1, "HIVE_CONFLICT");
    d.stop();
}

/// Every operation of the daemon's OpenAPI document, and the command that
/// covers it (words, then the options it needs).
const COVERAGE: &[(&str, &str, &str)] = &[
    ("get", "/health", "health"),
    ("post", "/api/config/validate", "validate --daemon"),
    ("get", "/api/events", "events"),
    ("get", "/api/skills", "skills"),
    ("get", "/api/skills/{name}", "skills"),
    ("get", "/api/swarms", "ps"),
    ("post", "/api/swarms", "up"),
    ("post", "/api/swarms/clean", "clean --all"),
    ("get", "/api/swarms/{name}", "status"),
    ("delete", "/api/swarms/{name}", "down --purge"),
    ("get", "/api/swarms/{name}/agents", "agents"),
    ("post", "/api/swarms/{name}/agents", "agents add --connect --incoming"),
    ("get", "/api/swarms/{name}/agents/{agent}", "agents show"),
    ("delete", "/api/swarms/{name}/agents/{agent}", "agents remove"),
    ("get", "/api/swarms/{name}/agents/{agent}/events", "events --agent"),
    ("get", "/api/swarms/{name}/agents/{agent}/history", "agents history"),
    ("get", "/api/swarms/{name}/agents/{agent}/logs", "logs"),
    ("post", "/api/swarms/{name}/agents/{agent}/restart", "restart"),
    ("get", "/api/swarms/{name}/agents/{agent}/skills", "skills agent"),
    ("put", "/api/swarms/{name}/agents/{agent}/skills/{skill}", "skills put"),
    ("post", "/api/swarms/{name}/agents/{agent}/task", "task --wait"),
    ("post", "/api/swarms/{name}/agents/{base}/scale", "scale"),
    ("get", "/api/swarms/{name}/events", "events"),
    ("post", "/api/swarms/{name}/message", "message"),
    ("get", "/api/swarms/{name}/messages", "messages"),
    ("get", "/api/swarms/{name}/objects", "objects"),
    ("post", "/api/swarms/{name}/objects", "objects add"),
    ("get", "/api/swarms/{name}/objects/{object}", "objects get"),
    ("delete", "/api/swarms/{name}/objects/{object}", "objects remove"),
    ("patch", "/api/swarms/{name}/objects/{object}/config", "objects config"),
    ("get", "/api/swarms/{name}/overlay", "overlay show"),
    ("delete", "/api/swarms/{name}/overlay", "overlay clear"),
    ("post", "/api/swarms/{name}/pause", "pause"),
    ("post", "/api/swarms/{name}/resume", "resume"),
    ("post", "/api/swarms/{name}/restart", "restart --delete"),
    ("post", "/api/swarms/{name}/snapshot", "snapshot"),
    ("get", "/api/swarms/{name}/topology", "topology"),
    ("patch", "/api/swarms/{name}/topology", "topology --add --remove"),
    ("get", "/api/v1/agents", "workers"),
    ("post", "/api/v1/agents/spawn", "spawn"),
    ("get", "/api/v1/agents/{id}", "workers show"),
    ("delete", "/api/v1/agents/{id}/kill", "kill"),
    ("post", "/api/v1/agents/{id}/task", "workers task"),
    ("post", "/api/v1/orchestrate", "orchestrate --strategy --mode"),
    ("get", "/api/v1/tasks", "tasks --status"),
    ("post", "/api/v1/tasks", "tasks submit"),
    ("get", "/api/v1/tasks/{id}", "tasks"),
    ("delete", "/api/v1/tasks/{id}", "tasks cancel"),
    ("post", "/api/v1/zmq/dispatch", "dispatch --stream --async"),
    ("get", "/api/v1/zmq/status", "gateway status"),
    ("get", "/api/v1/zmq/workers", "workers"),
    ("get", "/api/v1/zmq/workers/{id}", "workers show"),
    ("get", "/api/v1/workers", "workers --transport"),
    ("delete", "/api/v1/workers/{id}", "workers unregister"),
    ("post", "/api/v1/zmq/workers/{id}/off", "workers off"),
    ("post", "/api/v1/zmq/workers/{id}/on", "workers on"),
    ("get", "/api/v1/logs", "logs --level"),
    ("post", "/api/v1/maintenance/off", "maintenance off"),
    ("post", "/api/v1/maintenance/on", "maintenance on"),
    ("get", "/ws/events", "events --follow"),
    ("get", "/api/v1/tokens", "tokens"),
    ("post", "/api/v1/schedules", "schedule add"),
    ("get", "/api/v1/schedules", "schedule ls"),
    ("get", "/api/v1/schedules/{name}", "schedule show"),
    ("patch", "/api/v1/schedules/{name}", "schedule enable"),
    ("delete", "/api/v1/schedules/{name}", "schedule rm"),
    ("get", "/api/v1/schedules/{name}/runs", "schedule runs"),
];

/// Operations with no command of their own, and why.
const EXEMPT: &[(&str, &str, &str)] = &[
    ("get", "/", "the index of routes, for discovery"),
    ("get", "/swarm/websocket", "the Phoenix Channels socket, for channel clients"),
    ("get", "/metrics", "the Prometheus exposition, for scrapers (tests/metrics.rs checks it with promtool)"),
    (
        "delete",
        "/api/v1/zmq/workers/{id}",
        "Sol's form of `workers unregister` (DELETE /api/v1/workers/{id}), same answer",
    ),
    ("get", "/ws/tasks", "the task stream, for programs; `task --wait` and `events --follow` show a task's progress"),
    ("post", "/api/v1/workers/register", "the HTTP worker protocol, spoken by workers (actors/http_worker.py)"),
    ("post", "/api/v1/workers/{id}/heartbeat", "the HTTP worker protocol"),
    ("get", "/api/v1/workers/{id}/next", "the HTTP worker protocol"),
    ("post", "/api/v1/workers/{id}/tasks/{task}/output", "the HTTP worker protocol"),
    ("post", "/api/v1/workers/{id}/tasks/{task}/result", "the HTTP worker protocol"),
    ("post", "/api/v1/workers/{id}/tasks/{task}/error", "the HTTP worker protocol"),
];

/// `GET path`'s body, which must be a 200.
fn http_get(url: &str, path: &str) -> String {
    let (head, body) = cli_common::http_get(url, path);
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    body
}

#[test]
fn every_operation_of_the_api_has_a_command() {
    let d = Daemon::start(&["--in-memory"], &[], false);
    let doc: Value = serde_json::from_str(&http_get(&d.url, "/openapi.json")).unwrap();
    d.stop();
    let mut missing = Vec::new();
    let mut seen = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys().filter(|m| *m != "parameters") {
            seen += 1;
            let known = |l: &[(&str, &str, &str)]| l.iter().any(|(m, p, _)| m == method && p == path);
            if !known(COVERAGE) && !known(EXEMPT) {
                missing.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    assert!(seen >= 50, "only {seen} operations in the document");
    assert!(missing.is_empty(), "operations without a command (add one, and a row to COVERAGE): {missing:#?}");

    // Each covering command exists, with the options named.
    for (_, path, cmd) in COVERAGE {
        let (words, opts): (Vec<&str>, Vec<&str>) = cmd.split_whitespace().partition(|w| !w.starts_with("--"));
        let help = run(hive().args(&words).arg("--help")).ok().stdout;
        for o in opts {
            assert!(help.contains(o), "`hive {}` ({path}) has no {o}:\n{help}", words.join(" "));
        }
    }
}
