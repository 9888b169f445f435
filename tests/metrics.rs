//! `GET /metrics` of a real daemon (`hive serve` on port 0): after a task
//! and routed and denied messages, the scrape counts them, carries no task
//! id, and passes `promtool check metrics` (Prometheus's own checker; the
//! test fails under CI when promtool is missing and skips elsewhere). A
//! swarm over `[metrics] max_agents_per_swarm` shows only its sums. Every
//! metric scraped is listed in docs/metrics.md.

use std::io::Write;
use std::process::{Command, Stdio};

mod cli_common;
mod tools;
use cli_common::*;
use tools::Tool;

/// The value of the sample named exactly `series` (name and labels as written).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_scrape_counts_what_happened_and_passes_promtool() {
    let d = Daemon::start(&["--in-memory", "--swarm", "swarms/demo.toml"], &[], false);
    // Prints the task's id, then `ok` and the result.
    let done = d.run(&["task", "demo", "worker_1", "hello", "--wait"]).ok().stdout;
    let mut lines = done.lines();
    let task_id = lines.next().unwrap().trim().to_string();
    assert_eq!(lines.next().map(str::trim), Some("ok"), "{done}");
    d.run(&["message", "demo", "planner", "worker_1", "hi"]).ok();
    d.run(&["message", "demo", "board", "planner", "no edge"]).fails(1, "HIVE_ROUTE_DENIED");

    let (head, text) = http_get(&d.url, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");

    assert_eq!(value(&text, r#"hive_swarms{state="running"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"hive_swarm_agents{swarm="demo",state="idle"}"#), Some(4.0), "{text}");
    assert_eq!(value(&text, r#"hive_agent_state{swarm="demo",agent="worker_1",state="idle"}"#), Some(1.0));
    assert_eq!(value(&text, r#"hive_agent_restarts_total{swarm="demo",agent="planner"}"#), Some(0.0));
    assert_eq!(value(&text, r#"hive_supervisor_max_restarts{swarm="demo"}"#), Some(5.0), "{text}");
    assert_eq!(value(&text, r#"hive_tasks_ended_total{transport="agent",status="ok"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"hive_task_duration_seconds_count{transport="agent"}"#), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"hive_task_dispatch_wait_seconds_count{transport="agent"}"#), Some(1.0));
    assert!(value(&text, r#"hive_messages_routed_total{swarm="demo"}"#).unwrap() >= 1.0, "{text}");
    assert!(value(&text, r#"hive_messages_denied_total{swarm="demo"}"#).unwrap() >= 1.0, "{text}");
    assert!(value(&text, "hive_events_total").unwrap() > 0.0, "{text}");
    // Requests by their route template, not the raw path.
    let routed = r#"hive_http_requests_total{route="/api/swarms/{name}/message",method="POST",status="200"}"#;
    assert_eq!(value(&text, routed), Some(1.0), "{text}");
    assert!(!text.contains("/api/swarms/demo/"), "a raw path became a label: {text}");
    assert!(!text.contains(&task_id), "a task id became a label");
    assert!(value(&text, "process_resident_memory_bytes").unwrap() > 0.0, "{text}");
    assert!(value(&text, "process_open_fds").unwrap() > 0.0, "{text}");

    // A route no one matched is one label value.
    let _ = http_get(&d.url, "/no/such/route/1");
    let _ = http_get(&d.url, "/no/such/route/2");
    let (_, text) = http_get(&d.url, "/metrics");
    assert_eq!(value(&text, r#"hive_http_requests_total{route="unmatched",method="GET",status="404"}"#), Some(2.0));
    assert!(!text.contains("/no/such"), "{text}");

    // Every metric family scraped is listed in docs/metrics.md, with its type.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    for l in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = l.split_once(' ').unwrap();
        let row = format!("| `{name}` | {kind} |");
        assert!(doc.contains(&row), "docs/metrics.md has no row starting {row}");
    }

    if tools::require(&[Tool::Promtool]) {
        let mut check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        check.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = check.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool check metrics failed:\n{said}");
        assert!(said.trim().is_empty(), "promtool's lint found problems:\n{said}");
    }
    d.stop();
}

#[test]
fn a_swarm_over_the_per_agent_limit_shows_only_its_sums() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hive.toml");
    std::fs::write(&cfg, "[metrics]\nmax_agents_per_swarm = 3\n").unwrap();
    let d =
        Daemon::start(&["--in-memory", "--config", cfg.to_str().unwrap(), "--swarm", "swarms/demo.toml"], &[], false);
    let (_, text) = http_get(&d.url, "/metrics");
    assert_eq!(value(&text, r#"hive_swarm_agents{swarm="demo",state="idle"}"#), Some(4.0), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("hive_agent_")), "per-agent series over the limit: {text}");
    d.stop();
}
