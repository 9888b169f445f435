//! `hive schedule add | ls | show | enable | disable | rm | runs`: the
//! daemon's schedules (`/api/v1/schedules`).

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::table::Table;
use super::{Client, ClientError, cell, str_of};

/// `hive schedule` arguments.
#[derive(Args, Debug)]
pub(crate) struct ScheduleArgs {
    #[command(subcommand)]
    cmd: ScheduleCmd,
}

#[derive(Subcommand, Debug)]
enum ScheduleCmd {
    /// Make a schedule: one of --cron, --every, --at; --agent SWARM/AGENT or the dispatcher's pool.
    Add(Box<AddArgs>),
    /// List the schedules with their next fire time.
    Ls,
    /// Show one schedule (its next fire times and last run).
    Show {
        /// The schedule.
        name: String,
    },
    /// Let a schedule fire again (from now: the ticks it slept through are not caught up).
    Enable {
        /// The schedule.
        name: String,
    },
    /// Stop a schedule firing.
    Disable {
        /// The schedule.
        name: String,
    },
    /// Delete a schedule and its runs.
    Rm {
        /// The schedule.
        name: String,
    },
    /// A schedule's latest runs, newest first.
    Runs {
        /// The schedule.
        name: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Args, Debug)]
struct AddArgs {
    /// Its name (unique in the daemon).
    name: String,
    /// Each task's content.
    content: String,
    /// A cron expression (5 or 6 fields).
    #[arg(long, group = "when")]
    cron: Option<String>,
    /// The cron expression's IANA time zone (default UTC).
    #[arg(long, requires = "cron")]
    timezone: Option<String>,
    /// A period: 30s, 5m, 1h (at least 1s).
    #[arg(long, group = "when")]
    every: Option<String>,
    /// Once, at this RFC 3339 time.
    #[arg(long, group = "when")]
    at: Option<String>,
    /// A swarm agent as SWARM/AGENT (default: the dispatcher's pool).
    #[arg(long, value_name = "SWARM/AGENT")]
    agent: Option<String>,
    /// Pool tasks: the capabilities a worker needs (repeatable).
    #[arg(long = "capability", value_name = "CAP")]
    capabilities: Vec<String>,
    /// Pool tasks: priority, 1 (highest) to 255.
    #[arg(long)]
    priority: Option<u8>,
    /// When the previous task has not ended.
    #[arg(long, value_parser = ["skip", "queue", "cancel_previous"], default_value = "skip")]
    overlap: String,
    /// Ticks missed while the daemon was down.
    #[arg(long, value_parser = ["skip", "once"], default_value = "skip")]
    catch_up: String,
    /// Make it disabled.
    #[arg(long)]
    disabled: bool,
}

/// `hive schedule ...`.
pub(crate) async fn run(c: &Client, a: &ScheduleArgs) -> Result<(), ClientError> {
    match &a.cmd {
        ScheduleCmd::Add(a) => add(c, a).await,
        ScheduleCmd::Ls => ls(c).await,
        ScheduleCmd::Show { name } => show(c, name).await,
        ScheduleCmd::Enable { name } => toggle(c, name, true).await,
        ScheduleCmd::Disable { name } => toggle(c, name, false).await,
        ScheduleCmd::Rm { name } => rm(c, name).await,
        ScheduleCmd::Runs { name, limit } => runs(c, name, *limit).await,
    }
}

async fn add(c: &Client, a: &AddArgs) -> Result<(), ClientError> {
    let target = match &a.agent {
        Some(sa) => {
            let (swarm, agent) =
                sa.split_once('/').ok_or_else(|| ClientError::Other(format!("--agent is SWARM/AGENT, not '{sa}'")))?;
            json!({"agent": {"swarm": swarm, "agent": agent}})
        }
        None => {
            let mut pool = json!({});
            if !a.capabilities.is_empty() {
                pool["capabilities"] = json!(a.capabilities);
            }
            if let Some(p) = a.priority {
                pool["priority"] = json!(p);
            }
            json!({ "pool": pool })
        }
    };
    let mut body = json!({
        "name": a.name, "content": a.content, "target": target, "enabled": !a.disabled,
        "overlap": a.overlap, "catch_up": a.catch_up,
    });
    for (k, v) in [("cron", &a.cron), ("timezone", &a.timezone), ("every", &a.every), ("at", &a.at)] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    let v = c.post(&["api", "v1", "schedules"], &body).await?;
    if c.json {
        c.print_json(&v);
    } else {
        let next = v["next_fires"].get(0).and_then(Value::as_str).unwrap_or("-");
        println!("{} (next: {next})", str_of(&v, "name"));
    }
    Ok(())
}

fn when(v: &Value) -> String {
    match (v["cron"].as_str(), v["every"].as_str(), v["at"].as_str()) {
        (Some(c), ..) => format!("cron {c} {}", v["timezone"].as_str().unwrap_or("UTC")),
        (_, Some(e), _) => format!("every {e}"),
        (.., Some(a)) => format!("at {a}"),
        _ => "-".into(),
    }
}

fn target(v: &Value) -> String {
    match v["target"].get("agent") {
        Some(a) => format!("{}/{}", str_of(a, "swarm"), str_of(a, "agent")),
        None => "pool".into(),
    }
}

async fn ls(c: &Client) -> Result<(), ClientError> {
    let v = c.get(&["api", "v1", "schedules"], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let mut t = Table::new(&["NAME", "WHEN", "TARGET", "ENABLED", "NEXT", "LAST"]);
    for s in v["schedules"].as_array().into_iter().flatten() {
        let next = s["next_fires"].get(0).and_then(Value::as_str).unwrap_or("-").to_string();
        let last = s["last_run"].get("outcome").and_then(Value::as_str).unwrap_or("-").to_string();
        t.row(vec![cell(s, "name"), when(s), target(s), cell(s, "enabled"), next, last]);
    }
    if t.is_empty() {
        println!("no schedules");
    } else {
        t.print();
    }
    Ok(())
}

async fn show(c: &Client, name: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "v1", "schedules", name], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    println!("name:     {}", str_of(&v, "name"));
    println!("when:     {}", when(&v));
    println!("target:   {}", target(&v));
    println!("enabled:  {}", cell(&v, "enabled"));
    println!("overlap:  {}   catch-up: {}", str_of(&v, "overlap"), str_of(&v, "catch_up"));
    println!("content:  {}", str_of(&v, "content"));
    for n in v["next_fires"].as_array().into_iter().flatten() {
        println!("next:     {}", n.as_str().unwrap_or(""));
    }
    Ok(())
}

async fn toggle(c: &Client, name: &str, enabled: bool) -> Result<(), ClientError> {
    let v = c.patch(&["api", "v1", "schedules", name], &json!({ "enabled": enabled })).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("{name} {}", if enabled { "enabled" } else { "disabled" });
    }
    Ok(())
}

async fn rm(c: &Client, name: &str) -> Result<(), ClientError> {
    let v = c.delete(&["api", "v1", "schedules", name], &[]).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("{name} deleted");
    }
    Ok(())
}

async fn runs(c: &Client, name: &str, limit: usize) -> Result<(), ClientError> {
    let v = c.get(&["api", "v1", "schedules", name, "runs"], &[("limit", limit.to_string())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let mut t = Table::new(&["TICK", "OUTCOME", "TASK", "STATUS", "REASON"]);
    for r in v["runs"].as_array().into_iter().flatten() {
        t.row(vec![cell(r, "tick"), cell(r, "outcome"), cell(r, "task_id"), cell(r, "task_status"), cell(r, "reason")]);
    }
    if t.is_empty() {
        println!("no runs yet");
    } else {
        t.print();
    }
    Ok(())
}
