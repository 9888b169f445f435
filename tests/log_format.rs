//! `hive serve --log-format json|text` with a real daemon and a real task:
//! in JSON every stderr log line is one JSON object, and the lines of the
//! task (queued, started, ended) carry its id in their `task` span; the
//! request lines carry method and matched route. In text, the same lines
//! are readable, with the span's fields. A task dispatched to an HTTP
//! worker (the reference `actors/http_worker.py`) has its lines in its span
//! too, the assignment naming the worker and its link.

use serde_json::Value;

mod cli_common;
mod tools;
use cli_common::*;
use tools::Tool;

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

/// The reference HTTP worker, killed when dropped.
struct PyWorker(std::process::Child);

impl Drop for PyWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_task_dispatched_to_an_http_worker_logs_in_its_span() {
    if !tools::require(&[Tool::Python3]) {
        return;
    }
    let args = ["--in-memory", "--log-format", "json"];
    let mut d = Daemon::start(&args, &[("RUST_LOG", FILTER)], true);
    let script = format!("{}/actors/http_worker.py", env!("CARGO_MANIFEST_DIR"));
    let url = d.url.trim_end_matches('/').to_string();
    let worker = ["--url", &url, "--id", "logged", "--wait", "2", "--capabilities", "echo"];
    let _py = PyWorker(
        std::process::Command::new("python3")
            .arg(&script)
            .args(worker)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs the worker"),
    );
    // The dispatch waits in the queue until the worker has registered.
    let out = d.run(&["dispatch", "hello", "--capability", "echo", "--json"]).ok().stdout;
    let answer: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let id = answer["task_id"].as_str().expect("a task id").to_string();
    d.wait_for_line("task ended");
    let logs: Vec<Value> = d.lines().iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let of_task: Vec<&Value> = logs.iter().filter(|v| v["span"]["task_id"] == id.as_str()).collect();
    let assigned = of_task
        .iter()
        .find(|v| v["fields"]["message"] == "task assigned")
        .unwrap_or_else(|| panic!("no assignment line for task {id}: {of_task:#?}"));
    assert_eq!(
        (assigned["fields"]["worker"].as_str(), assigned["fields"]["link"].as_str()),
        (Some("logged"), Some("http"))
    );
    assert_eq!(assigned["span"]["transport"], "dispatch", "{assigned}");
    let said: Vec<&str> = of_task.iter().filter_map(|v| v["fields"]["message"].as_str()).collect();
    for step in ["task queued", "task started", "task ended"] {
        assert!(said.contains(&step), "no '{step}' line for task {id}: {said:?}");
    }
    d.stop();
}
