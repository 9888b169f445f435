//! Swarm commands: `ps`, `status`, `up`, `down`, `scale`, `task`,
//! `topology`, `snapshot`, `validate --daemon`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::table::Table;
use super::{Client, ClientError, cell, str_of};

/// `hive ps`: the swarms.
pub(crate) async fn ps(c: &Client) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms"], &[("limit", "1000".into())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let mut t = Table::new(&["NAME", "STATE", "STARTED", "FAILURE"]);
    for s in v["swarms"].as_array().into_iter().flatten() {
        t.row(vec![cell(s, "name"), cell(s, "state"), cell(s, "started_at"), cell(s, "failure_reason")]);
    }
    if t.is_empty() {
        println!("no swarms");
    } else {
        t.print();
    }
    Ok(())
}

/// `hive status NAME`: agents, objects, groups, topology, restarts.
pub(crate) async fn status(c: &Client, name: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    println!("swarm     {}", str_of(&v, "name"));
    println!("state     {}", str_of(&v, "state"));
    println!("started   {}", str_of(&v, "started_at"));
    println!("restarts  {}", cell(&v, "restarts"));
    if let Some(s) = v.get("supervision").filter(|s| s.is_object()) {
        println!(
            "strategy  {} (at most {} restarts in {} s, backoff {} ms)",
            cell(s, "strategy"),
            cell(s, "max_restarts"),
            cell(s, "max_seconds"),
            cell(s, "backoff_ms")
        );
    }
    if let Some(why) = v.get("failure_reason").and_then(Value::as_str) {
        println!("failure   {why}");
    }
    let list = |k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
    let agents = list("agents");
    if !agents.is_empty() {
        println!();
        let mut t =
            Table::new(&["AGENT", "GROUP", "BACKEND", "STATE", "RESTARTS", "INBOX", "DONE", "FAILED", "PID", "TASK"]);
        for a in &agents {
            t.row(vec![
                cell(a, "name"),
                cell(a, "group"),
                cell(a, "backend"),
                cell(a, "state"),
                cell(a, "restarts"),
                cell(a, "inbox"),
                cell(a, "tasks_completed"),
                cell(a, "tasks_failed"),
                cell(a, "pid"),
                cell(a, "current_task"),
            ]);
        }
        t.print();
    }
    let objects = list("objects");
    if !objects.is_empty() {
        println!();
        let mut t = Table::new(&["OBJECT", "KIND", "STATE", "RESTARTS", "INBOX"]);
        for o in &objects {
            t.row(vec![cell(o, "name"), cell(o, "kind"), cell(o, "state"), cell(o, "restarts"), cell(o, "inbox")]);
        }
        t.print();
    }
    let groups = list("groups");
    if !groups.is_empty() {
        println!();
        let mut t = Table::new(&["GROUP", "REPLICAS"]);
        for g in &groups {
            t.row(vec![cell(g, "name"), cell(g, "replicas")]);
        }
        t.print();
    }
    let edges = list("topology");
    if !edges.is_empty() {
        println!();
        println!("topology");
        print_edges(&edges, "  ");
    }
    Ok(())
}

fn print_edges(edges: &[Value], indent: &str) {
    let mut t = Table::new(&["FROM", "", "TO"]);
    for e in edges {
        t.row(vec![cell(e, "from"), "→".into(), cell(e, "to")]);
    }
    // No header: the arrow says it.
    for line in t.render().lines().skip(1) {
        println!("{indent}{line}");
    }
}

/// `hive up FILE`.
pub(crate) async fn up(c: &Client, file: &PathBuf) -> Result<(), ClientError> {
    let content = std::fs::read_to_string(file).map_err(|e| ClientError::Other(format!("{}: {e}", file.display())))?;
    let format = if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) { "json" } else { "toml" };
    let v = c.post(&["api", "swarms"], &json!({"content": content, "format": format})).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let agents: Vec<&str> = v["agents"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    println!("swarm '{}' created: {}", str_of(&v, "swarm_name"), agents.join(", "));
    Ok(())
}

/// `hive down NAME [--purge]`.
pub(crate) async fn down(c: &Client, name: &str, purge: bool) -> Result<(), ClientError> {
    let q = if purge { vec![("purge", "true".to_string())] } else { Vec::new() };
    let v = c.delete(&["api", "swarms", name], &q).await?;
    if c.json {
        c.print_json(&v);
    } else if purge {
        println!("swarm '{name}' purged ({} events deleted)", cell(&v, "events_deleted"));
    } else {
        println!("swarm '{name}' stopped");
    }
    Ok(())
}

/// `hive scale NAME GROUP N`.
pub(crate) async fn scale(c: &Client, name: &str, group: &str, n: u32) -> Result<(), ClientError> {
    let v = c.post(&["api", "swarms", name, "agents", group, "scale"], &json!({"count": n})).await?;
    let failed = v["result"]["failed"].as_array().cloned().unwrap_or_default();
    if c.json {
        c.print_json(&v);
    } else {
        let names = |k: &str| -> String {
            let l: Vec<&str> = v["result"][k].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            if l.is_empty() { "-".into() } else { l.join(", ") }
        };
        println!("{group}: {n} wanted; added {}; removed {}", names("added"), names("removed"));
    }
    if failed.is_empty() {
        return Ok(());
    }
    for f in &failed {
        eprintln!("  {}: {}", str_of(f, "name"), str_of(f, "reason"));
    }
    Err(ClientError::Other(format!("{} member(s) of '{group}' could not be started", failed.len())))
}

/// `hive task` arguments.
#[derive(Args, Debug)]
pub(crate) struct TaskArgs {
    /// The swarm.
    name: String,
    /// The agent (or scale group).
    agent: String,
    /// What to do.
    text: String,
    /// Wait until the task has ended; exit 1 unless it succeeded.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// `hive task NAME AGENT TEXT [--wait]`.
pub(crate) async fn task(c: &Client, a: &TaskArgs) -> Result<(), ClientError> {
    // Where the event log stands before the task: its end comes after.
    let before = if a.wait { c.get(&["health"], &[]).await?["last_event_seq"].as_u64() } else { None };
    let v = c.post(&["api", "swarms", &a.name, "agents", &a.agent, "task"], &json!({"task": a.text})).await?;
    let id = str_of(&v, "task_id").to_string();
    if !a.wait {
        if c.json {
            c.print_json(&v);
        } else {
            println!("{id}");
        }
        return Ok(());
    }
    if !c.json {
        println!("{id}");
    }
    let deadline = Instant::now() + a.timeout;
    let mut delay = Duration::from_millis(50);
    // Learned from the first answer: without a store the daemon records no tasks.
    let mut no_store = false;
    loop {
        let recorded = if no_store { None } else { Some(c.get(&["api", "v1", "tasks", &id], &[]).await) };
        let (status, detail, body) = match recorded {
            Some(Ok(t)) => {
                (str_of(&t, "status").to_string(), t.get("content").and_then(Value::as_str).map(String::from), t)
            }
            // No store: the swarm's events tell how it ended.
            Some(Err(e)) if e.code() == Some(hive::ErrorCode::Unavailable) => {
                no_store = true;
                task_from_events(c, &a.name, &id, before).await?
            }
            None => task_from_events(c, &a.name, &id, before).await?,
            Some(Err(e)) => return Err(e),
        };
        if matches!(status.as_str(), "ok" | "error" | "cancelled") {
            if c.json {
                c.print_json(&body);
            } else {
                println!("{status}");
                if let Some(d) = detail {
                    println!("{d}");
                }
            }
            return if status == "ok" { Ok(()) } else { Err(ClientError::Other(format!("task {id} ended: {status}"))) };
        }
        if Instant::now() + delay > deadline {
            return Err(ClientError::Other(format!(
                "task {id} is still {status} after {}",
                humantime::format_duration(a.timeout)
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// How a task ended according to the swarm's events (`pending` while it has
/// not): (status, detail, the event).
async fn task_from_events(
    c: &Client,
    swarm: &str,
    id: &str,
    since: Option<u64>,
) -> Result<(String, Option<String>, Value), ClientError> {
    let mut q = vec![("category", "task".to_string()), ("limit", "1000".to_string())];
    if let Some(s) = since {
        q.push(("since", s.to_string()));
    }
    let v = c.get(&["api", "swarms", swarm, "events"], &q).await?;
    for e in v["events"].as_array().into_iter().flatten() {
        let meta: Value = match e.get("metadata") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(m) => m.clone(),
            None => Value::Null,
        };
        if meta.get("task_id").and_then(Value::as_str) != Some(id) {
            continue;
        }
        let status = match str_of(e, "event_type") {
            "task_completed" => "ok",
            "task_failed" => "error",
            "task_cancelled" => "cancelled",
            _ => continue,
        };
        let detail = (status == "error").then(|| str_of(e, "message").to_string());
        return Ok((status.into(), detail, e.clone()));
    }
    Ok(("pending".into(), None, Value::Null))
}

/// An edge given as `FROM:TO`.
#[derive(Debug, Clone)]
pub(crate) struct EdgeArg(pub String, pub String);

/// Parses `FROM:TO` (both names non-empty).
pub(crate) fn parse_edge(s: &str) -> Result<EdgeArg, String> {
    match s.split_once(':') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(':') => Ok(EdgeArg(a.into(), b.into())),
        _ => Err(format!("'{s}' is not an edge; write FROM:TO, e.g. planner:worker")),
    }
}

/// `hive topology NAME [--add a:b]... [--remove a:b]...`.
pub(crate) async fn topology(c: &Client, name: &str, add: &[EdgeArg], remove: &[EdgeArg]) -> Result<(), ClientError> {
    let path = ["api", "swarms", name, "topology"];
    if add.is_empty() && remove.is_empty() {
        let v = c.get(&path, &[]).await?;
        if c.json {
            c.print_json(&v);
        } else {
            let edges = v["edges"].as_array().cloned().unwrap_or_default();
            if edges.is_empty() {
                println!("no edges");
            }
            print_edges(&edges, "");
        }
        return Ok(());
    }
    let pairs = |l: &[EdgeArg]| l.iter().map(|e| json!([e.0, e.1])).collect::<Vec<_>>();
    let v = c.patch(&path, &json!({"add": pairs(add), "remove": pairs(remove)})).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("{name}: {} edge(s) added, {} removed", cell(&v, "added"), cell(&v, "removed"));
    }
    Ok(())
}

/// `hive snapshot NAME [-o FILE]`: the effective swarm file (TOML).
pub(crate) async fn snapshot(c: &Client, name: &str, out: Option<&PathBuf>) -> Result<(), ClientError> {
    let toml = c.post_text(&["api", "swarms", name, "snapshot"]).await?;
    match out {
        Some(path) => {
            std::fs::write(path, &toml).map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
            eprintln!("hive: snapshot of '{name}' written to {}", path.display());
        }
        None => print!("{toml}"),
    }
    Ok(())
}

/// `hive validate --daemon FILE...`: each file checked by the daemon
/// (`POST /api/config/validate`, with its object kinds and settings).
pub(crate) async fn validate(c: &Client, files: &[PathBuf]) -> Result<(), ClientError> {
    let mut failed = 0;
    for file in files {
        let content =
            std::fs::read_to_string(file).map_err(|e| ClientError::Other(format!("{}: {e}", file.display())))?;
        let format = if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) { "json" } else { "toml" };
        match c.post(&["api", "config", "validate"], &json!({"content": content, "format": format})).await {
            Ok(v) if c.json => c.print_json(&v),
            Ok(v) => {
                let s = &v["config"];
                println!(
                    "{}: ok (swarm '{}': {} agents, {} objects, {} edges)",
                    file.display(),
                    str_of(s, "name"),
                    cell(s, "agent_count"),
                    cell(s, "object_count"),
                    cell(s, "topology_edges")
                );
            }
            Err(e) if e.code() == Some(hive::ErrorCode::InvalidConfig) => {
                failed += 1;
                eprint!("{}: ", file.display());
                e.report(c.json);
            }
            Err(e) => return Err(e),
        }
    }
    if failed == 0 { Ok(()) } else { Err(ClientError::Other(format!("{failed} file(s) invalid"))) }
}
