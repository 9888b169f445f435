//! Daemon-wide commands: `health`, `logs` (the daemon's own log, or one
//! agent's), `maintenance on|off` and `gateway status`.

use clap::{Args, Subcommand};
use serde_json::Value;

use super::wire::{DaemonLogLine, decode, v1_items, value_cell};
use super::{Client, ClientError};

/// `hive health`: `GET /health` (the detailed form when a valid token is given).
pub(crate) async fn health(c: &Client) -> Result<(), ClientError> {
    let v = c.get(&["health"], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    print_fields(&v, "");
    Ok(())
}

/// Prints an object's fields as aligned `key value` lines, nested objects
/// indented under their key.
fn print_fields(v: &Value, indent: &str) {
    let Some(map) = v.as_object() else {
        println!("{indent}{}", value_cell(v));
        return;
    };
    let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0) + 2;
    for (k, val) in map {
        match val {
            Value::Object(inner) if !inner.is_empty() => {
                println!("{indent}{k}");
                print_fields(val, &format!("{indent}  "));
            }
            _ => println!("{indent}{k:<width$}{}", value_cell(val)),
        }
    }
}

/// `hive logs` arguments.
#[derive(Args, Debug)]
pub(crate) struct LogsArgs {
    /// The swarm (with AGENT: that agent's output and log lines; without both: the daemon's own log).
    #[arg(requires = "agent")]
    name: Option<String>,
    /// The agent.
    agent: Option<String>,
    /// Newest lines to show (1..=1000).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// The daemon's lines at this level or more severe.
    #[arg(long, value_enum, conflicts_with = "name")]
    level: Option<Level>,
}

/// A level of the daemon's log.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// `hive logs [NAME AGENT] [-n N]`.
pub(crate) async fn logs(c: &Client, a: &LogsArgs) -> Result<(), ClientError> {
    if let (Some(name), Some(agent)) = (&a.name, &a.agent) {
        return super::agents::logs(c, name, agent, a.limit).await;
    }
    let mut q = vec![("limit", a.limit.to_string())];
    if let Some(l) = a.level {
        q.push(("level", l.as_str().to_string()));
    }
    let v = c.get(&["api", "v1", "logs"], &q).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let lines: Vec<DaemonLogLine> = v1_items(&v)?;
    if lines.is_empty() {
        println!("no log lines");
    }
    for line in lines {
        match line {
            DaemonLogLine::Text(t) => println!("{t}"),
            DaemonLogLine::Record(r) => println!("{}", r.line()),
        }
    }
    Ok(())
}

/// `hive maintenance` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum MaintenanceCmd {
    /// Take no new work: what runs finishes; new work gets 503 with Retry-After.
    Off,
    /// Take new work again.
    On,
}

/// `hive maintenance off|on`: `POST /api/v1/maintenance/off|on`.
pub(crate) async fn maintenance(c: &Client, cmd: &MaintenanceCmd) -> Result<(), ClientError> {
    let switch = match cmd {
        MaintenanceCmd::Off => "off",
        MaintenanceCmd::On => "on",
    };
    let v = c.post_empty(&["api", "v1", "maintenance", switch], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    match cmd {
        MaintenanceCmd::Off => println!("the daemon takes no new work: running work finishes, new work gets 503"),
        MaintenanceCmd::On => println!("the daemon takes new work again"),
    }
    Ok(())
}

/// `hive gateway` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum GatewayCmd {
    /// The ZeroMQ gateway's state: endpoint, connected workers, queue depth, running tasks.
    Status,
}

/// The answer of `GET /api/v1/zmq/status`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct GatewayView {
    enabled: bool,
    endpoint: String,
    connected: u64,
    queue_depth: u64,
    running: u64,
}

/// `hive gateway status`.
pub(crate) async fn gateway(c: &Client, cmd: &GatewayCmd) -> Result<(), ClientError> {
    let GatewayCmd::Status = cmd;
    let v = c.get(&["api", "v1", "zmq", "status"], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let g: GatewayView = decode(&v)?;
    if !g.enabled {
        println!("the ZeroMQ gateway is disabled");
        return Ok(());
    }
    println!("endpoint   {}", g.endpoint);
    println!("workers    {}", g.connected);
    println!("queued     {}", g.queue_depth);
    println!("running    {}", g.running);
    Ok(())
}

/// `hive tokens`: the daemon's tokens, names and roles.
pub(crate) async fn tokens(c: &Client) -> Result<(), ClientError> {
    let v = c.get(&["api", "v1", "tokens"], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let mut t = super::table::Table::new(&["NAME", "ROLE"]);
    for tok in v["tokens"].as_array().into_iter().flatten() {
        t.row(vec![super::cell(tok, "name"), super::cell(tok, "role")]);
    }
    if t.is_empty() {
        println!("no tokens: loopback clients are admins, others are refused");
    } else {
        t.print();
    }
    Ok(())
}
