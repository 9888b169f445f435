//! Workers: `spawn` and `kill` (standalone JSONL workers), `workers` (the
//! ZeroMQ gateway's workers and the JSONL ones), `workers off|on ID`,
//! `workers show ID` (a JSONL or a ZeroMQ worker), `workers task ID` (a
//! JSONL worker), `workers unregister ID` (a ZeroMQ or HTTP worker),
//! `workers --transport zmq|jsonl|http` (the dispatcher's workers of one
//! transport, from `GET /api/v1/workers`).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::gateway::{switch, zmq_table, zmq_workers};
use super::table::Table;
use super::{Client, ClientError, cell, str_of};

/// `hive workers` arguments.
#[derive(Args, Debug)]
pub(crate) struct WorkersArgs {
    #[command(subcommand)]
    cmd: Option<WorkersCmd>,
    /// Only the dispatcher's workers reached this way (`GET /api/v1/workers?transport=`).
    #[arg(long, value_parser = ["zmq", "jsonl", "http"])]
    transport: Option<String>,
}

#[derive(Subcommand, Debug)]
enum WorkersCmd {
    /// Maintenance on: the ZeroMQ worker finishes its running tasks and gets no new one.
    Off {
        /// The worker id.
        id: String,
    },
    /// Maintenance off: the ZeroMQ worker takes tasks again.
    On {
        /// The worker id.
        id: String,
    },
    /// Show a worker: a standalone JSONL one (`GET /api/v1/agents/ID`), else a ZeroMQ one.
    Show {
        /// The worker id.
        id: String,
    },
    /// Force-unregister a ZeroMQ or HTTP worker: its running tasks go back to the queue.
    Unregister {
        /// The worker id.
        id: String,
    },
    /// Queue a task on a standalone JSONL worker; prints the task id.
    Task {
        /// The worker id.
        id: String,
        /// What to do.
        prompt: String,
    },
}

/// `hive workers [off|on ID]`.
pub(crate) async fn run(c: &Client, a: &WorkersArgs) -> Result<(), ClientError> {
    match &a.cmd {
        Some(WorkersCmd::Off { id }) => switch(c, id, false).await,
        Some(WorkersCmd::On { id }) => switch(c, id, true).await,
        Some(WorkersCmd::Show { id }) => show(c, id).await,
        Some(WorkersCmd::Unregister { id }) => unregister(c, id).await,
        Some(WorkersCmd::Task { id, prompt }) => task(c, id, prompt).await,
        None => match &a.transport {
            Some(t) => by_transport(c, t).await,
            None => list(c).await,
        },
    }
}

/// `hive workers --transport T`.
async fn by_transport(c: &Client, transport: &str) -> Result<(), ClientError> {
    let q = [("transport", transport.to_string()), ("per_page", "1000".into())];
    let v = c.get(&["api", "v1", "workers"], &q).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let t = zmq_table(&v);
    if t.is_empty() {
        println!("no {transport} workers")
    } else {
        t.print()
    }
    Ok(())
}

/// `hive spawn` arguments.
#[derive(Args, Debug)]
pub(crate) struct SpawnArgs {
    /// Extra environment variable (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Working directory of the worker.
    #[arg(long, value_name = "DIR")]
    cwd: Option<String>,
    /// Restart type.
    #[arg(long, value_parser = ["permanent", "transient", "temporary"])]
    restart: Option<String>,
    /// The program (the daemon's `spawn_allow` must permit it).
    path: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.into(), v.into())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

/// `hive spawn PATH [ARGS]...`: prints the worker id.
pub(crate) async fn spawn(c: &Client, a: &SpawnArgs) -> Result<(), ClientError> {
    let mut opts = json!({"env": a.env.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()});
    if let Some(cwd) = &a.cwd {
        opts["cwd"] = json!(cwd);
    }
    if let Some(r) = &a.restart {
        opts["restart"] = json!(r);
    }
    let body = json!({"worker_path": a.path.to_string_lossy(), "args": a.args, "opts": opts});
    let v = c.post(&["api", "v1", "agents", "spawn"], &body).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("{}", str_of(&v, "id"));
    }
    Ok(())
}

/// `hive kill ID`.
pub(crate) async fn kill(c: &Client, id: &str) -> Result<(), ClientError> {
    let v = c.delete(&["api", "v1", "agents", id, "kill"], &[]).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("worker {id} killed");
    }
    Ok(())
}

/// `hive workers`: the ZeroMQ workers, then the standalone JSONL workers.
async fn list(c: &Client) -> Result<(), ClientError> {
    let zmq = zmq_workers(c).await?;
    let jsonl = c.get(&["api", "v1", "agents"], &[("per_page", "1000".into())]).await?;
    if c.json {
        let zmq = zmq.unwrap_or(Value::Null);
        c.print_json(&json!({"zmq": zmq, "jsonl": jsonl}));
        return Ok(());
    }
    println!("ZeroMQ workers:");
    match zmq {
        Err(note) => println!("{note}"),
        Ok(v) => {
            let t = zmq_table(&v);
            if t.is_empty() { println!("no ZeroMQ workers") } else { t.print() }
        }
    }
    println!();
    println!("JSONL workers:");
    let t = jsonl_table(&jsonl);
    if t.is_empty() {
        println!("no JSONL workers");
    } else {
        t.print();
    }
    Ok(())
}

/// The standalone workers' table.
fn jsonl_table(v: &Value) -> Table {
    let mut t = Table::new(&["ID", "STATE", "PID", "RESTARTS", "DONE", "FAILED", "SPAWNED", "PROGRAM"]);
    for w in v["items"].as_array().into_iter().flatten() {
        let args: Vec<&str> = w["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
        let program = std::iter::once(str_of(w, "worker_path")).chain(args).collect::<Vec<_>>().join(" ");
        t.row(vec![
            cell(w, "id"),
            cell(w, "state"),
            cell(w, "pid"),
            cell(w, "restarts"),
            cell(w, "tasks_completed"),
            cell(w, "tasks_failed"),
            cell(w, "spawned_at"),
            program,
        ]);
    }
    t
}

/// What the client reads of one JSONL worker.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct WorkerView {
    id: String,
    worker_path: String,
    args: Vec<String>,
    state: String,
    spawned_at: String,
    failure_reason: Option<String>,
    pid: Option<u32>,
    restarts: u64,
    current_task: Option<String>,
    tasks_completed: u64,
    tasks_failed: u64,
}

/// `hive workers show ID`: the JSONL worker ID, or else the ZeroMQ one.
async fn show(c: &Client, id: &str) -> Result<(), ClientError> {
    let v = match c.get(&["api", "v1", "agents", id], &[]).await {
        Ok(v) => v,
        Err(e) if e.code() == Some(hive::ErrorCode::WorkerNotFound) => {
            return match c.get(&["api", "v1", "zmq", "workers", id], &[]).await {
                Ok(v) => show_zmq(c, &v),
                // No such ZeroMQ worker either (or a daemon without that route): the first answer says it.
                Err(_) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let w: WorkerView = super::wire::decode(&v)?;
    let program = std::iter::once(w.worker_path.as_str()).chain(w.args.iter().map(String::as_str));
    let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let rows = [
        ("worker", w.id),
        ("program", program.collect::<Vec<_>>().join(" ")),
        ("state", w.state),
        ("pid", opt(w.pid.map(|p| p.to_string()))),
        ("restarts", w.restarts.to_string()),
        ("task", opt(w.current_task)),
        ("done", w.tasks_completed.to_string()),
        ("failed", w.tasks_failed.to_string()),
        ("spawned", w.spawned_at),
        ("failure", opt(w.failure_reason)),
    ];
    for (k, val) in rows {
        println!("{k:<10}{val}");
    }
    Ok(())
}

/// `hive workers task ID PROMPT`: prints the task id.
async fn task(c: &Client, id: &str, prompt: &str) -> Result<(), ClientError> {
    let v = c.post(&["api", "v1", "agents", id, "task"], &json!({"prompt": prompt})).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("{}", str_of(&v, "task_id"));
    }
    Ok(())
}

/// One ZeroMQ worker as `GET /api/v1/zmq/workers/ID` answers it.
fn show_zmq(c: &Client, v: &Value) -> Result<(), ClientError> {
    if c.json {
        c.print_json(v);
        return Ok(());
    }
    let w: ZmqWorkerView = super::wire::decode(v)?;
    let caps = if w.capabilities.is_empty() { "-".into() } else { w.capabilities.join(",") };
    let rows = [
        ("worker", w.worker_id),
        ("status", super::wire::value_cell(&w.status)),
        ("slots", w.slots.to_string()),
        ("running", if w.running.is_empty() { "-".into() } else { w.running.join(", ") }),
        ("caps", caps),
        ("connected", super::gateway::when(w.connected_at)),
        ("heartbeat", super::gateway::when(w.last_heartbeat)),
    ];
    for (k, val) in rows {
        println!("{k:<10}{val}");
    }
    Ok(())
}

/// What the client reads of one ZeroMQ worker.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct ZmqWorkerView {
    worker_id: String,
    status: Value,
    capabilities: Vec<String>,
    slots: u64,
    running: Vec<String>,
    connected_at: u64,
    last_heartbeat: u64,
}

/// The answer of `DELETE /api/v1/zmq/workers/ID`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Unregistered {
    requeued: Vec<String>,
}

/// `hive workers unregister ID`.
async fn unregister(c: &Client, id: &str) -> Result<(), ClientError> {
    let v = c.delete(&["api", "v1", "workers", id], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let u: Unregistered = super::wire::decode(&v)?;
    if u.requeued.is_empty() {
        println!("worker {id} unregistered");
    } else {
        println!("worker {id} unregistered; requeued: {}", u.requeued.join(", "));
    }
    Ok(())
}
