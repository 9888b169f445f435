//! `hive serve --log-format json|text` with a real daemon and a real task:
//! in JSON every stderr log line is one JSON object, and the lines of the
//! task (queued, started, ended) carry its id in their `task` span; the
//! request lines carry method and matched route. In text, the same lines
//! are readable, with the span's fields.

use serde_json::Value;

mod cli_common;
use cli_common::*;

const FILTER: &str = "hive::task=debug,hive::http=info";

/// Queues a task on `demo/worker_1` and waits for its end: its id.
fn drive_a_task(d: &Daemon) -> String {
    let out = d.run(&["task", "demo", "worker_1", "hello", "--wait"]).ok().stdout;
    let mut lines = out.lines();
    let id = lines.next().unwrap().trim().to_string();
    assert_eq!(lines.next().map(str::trim), Some("ok"), "{out}");
    id
}

#[test]
fn json_lines_parse_and_a_tasks_lines_carry_its_id() {
    let args = ["--in-memory", "--log-format", "json", "--swarm", "swarms/demo.toml"];
    let mut d = Daemon::start(&args, &[("RUST_LOG", FILTER)], false);
    let id = drive_a_task(&d);
    d.wait_for_line(&format!(r#""task_id":"{id}""#));
    d.wait_for_line("task ended");
    let lines = d.lines();
    // The daemon's own announcements ("hive: ...") are not log lines.
    let logs: Vec<Value> = lines
        .iter()
        .filter(|l| !l.starts_with("hive: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_task: Vec<&Value> = logs.iter().filter(|v| v["span"]["task_id"] == id.as_str()).collect();
    let said: Vec<&str> = of_task.iter().filter_map(|v| v["fields"]["message"].as_str()).collect();
    for step in ["task queued", "task started", "task ended"] {
        assert!(said.contains(&step), "no '{step}' line for task {id}: {said:?}\n{lines:#?}");
    }
    let ended = of_task.iter().find(|v| v["fields"]["message"] == "task ended").unwrap();
    assert_eq!(ended["fields"]["status"], "ok", "{ended}");
    assert_eq!(ended["span"]["transport"], "agent", "{ended}");
    let request = logs
        .iter()
        .find(|v| v["target"] == "hive::http" && v["span"]["route"] == "/api/swarms/{name}/agents/{agent}/task")
        .unwrap_or_else(|| panic!("no request line for the task's POST: {lines:#?}"));
    assert_eq!(request["span"]["method"], "POST", "{request}");
    assert!(request["fields"]["status"].is_number(), "{request}");
    d.stop();
}

#[test]
fn text_lines_are_readable_with_the_tasks_id() {
    let args = ["--in-memory", "--log-format", "text", "--swarm", "swarms/demo.toml"];
    let mut d = Daemon::start(&args, &[("RUST_LOG", FILTER)], false);
    let id = drive_a_task(&d);
    let ended = d.wait_for_line("task ended");
    assert!(ended.contains(&format!("task_id={id}")), "{ended}");
    assert!(ended.contains("DEBUG") && ended.contains("status=\"ok\""), "{ended}");
    assert!(!ended.contains('\u{1b}'), "colour codes in a piped log: {ended:?}");
    assert!(!ended.trim_start().starts_with('{'), "{ended}");
    let request = d.wait_for_line("route=/api/swarms/{name}/agents/{agent}/task");
    assert!(request.contains("method=POST") && request.contains("status=202"), "{request}");
    d.stop();
}
