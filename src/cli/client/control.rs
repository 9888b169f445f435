//! Swarm control commands: `pause`, `resume`, `restart` (a swarm or one
//! agent), `message`, `messages`, `clean` and `overlay show|clear`.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::table::Table;
use super::wire::{ApiList, Cleaned, MessageView, OverlayEntry, PauseAck, Routed, decode, list_of};
use super::{Client, ClientError};

/// `hive pause NAME` / `hive resume NAME`.
pub(crate) async fn pause(c: &Client, name: &str, resume: bool) -> Result<(), ClientError> {
    let op = if resume { "resume" } else { "pause" };
    let v = c.post_empty(&["api", "swarms", name, op], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let done = if resume { "resumed" } else { "paused" };
    match decode::<PauseAck>(&v)?.count() {
        Some(n) => println!("swarm '{name}' {done} ({n} agent(s))"),
        None => println!("swarm '{name}' {done}"),
    }
    Ok(())
}

/// `hive restart` arguments.
#[derive(Args, Debug)]
pub(crate) struct RestartArgs {
    /// The swarm.
    name: String,
    /// Restart only this agent (with its spec).
    agent: Option<String>,
    /// Clean slate: restart the swarm from its seed, deleting its overlay, events and tasks.
    #[arg(long, conflicts_with = "agent")]
    delete: bool,
}

/// `hive restart NAME [AGENT] [--delete]`.
pub(crate) async fn restart(c: &Client, a: &RestartArgs) -> Result<(), ClientError> {
    let v = match &a.agent {
        Some(agent) => c.post_empty(&["api", "swarms", &a.name, "agents", agent, "restart"], &[]).await?,
        None => {
            let q = if a.delete { vec![("delete", "true".to_string())] } else { Vec::new() };
            c.post_empty(&["api", "swarms", &a.name, "restart"], &q).await?
        }
    };
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    match (&a.agent, a.delete) {
        (Some(agent), _) => println!("agent '{agent}' of '{}' restarted", a.name),
        (None, true) => println!("swarm '{}' restarted from its seed (overlay, events and tasks deleted)", a.name),
        (None, false) => println!("swarm '{}' restarted", a.name),
    }
    Ok(())
}

/// `hive message` arguments.
#[derive(Args, Debug)]
pub(crate) struct MessageArgs {
    /// The swarm.
    name: String,
    /// The sending agent or object.
    from: String,
    /// The receiving agent or object, or a group (every member).
    to: String,
    /// The content.
    content: String,
}

/// The body of `POST .../message`.
#[derive(Serialize)]
struct MessageBody<'a> {
    from: &'a str,
    to: &'a str,
    content: &'a str,
}

/// `hive message NAME FROM TO CONTENT`: routed through the topology.
pub(crate) async fn message(c: &Client, a: &MessageArgs) -> Result<(), ClientError> {
    let body = MessageBody { from: &a.from, to: &a.to, content: &a.content };
    let v = c.post(&["api", "swarms", &a.name, "message"], &to_value(&body)).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    match decode::<Routed>(&v)?.recipients {
        Some(n) => println!("{} → {}: routed to {n} recipient(s)", a.from, a.to),
        None => println!("{} → {}: routed", a.from, a.to),
    }
    Ok(())
}

/// A request body as JSON.
pub(crate) fn to_value<T: Serialize>(body: &T) -> serde_json::Value {
    serde_json::to_value(body).unwrap_or_default()
}

/// `hive messages NAME [-n N]`: the routed-message log.
pub(crate) async fn messages(c: &Client, name: &str, limit: u32) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "messages"], &[("limit", limit.to_string())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let list: Vec<MessageView> = list_of(&v, ApiList::Messages)?;
    let mut t = Table::new(&["TIME", "FROM", "TO", "KIND", "CONTENT"]);
    for m in list {
        t.row(vec![hive::events::rfc3339_ms(m.timestamp_ms), m.from, m.to, m.kind, one_line(&m.content, 80)]);
    }
    if t.is_empty() {
        println!("no messages")
    } else {
        t.print()
    }
    Ok(())
}

/// At most `n` characters of `s` on one line (`…` when cut).
pub(crate) fn one_line(s: &str, n: usize) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= n {
        return line;
    }
    let mut cut: String = line.chars().take(n.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `hive clean [--all]`: forgets stopped and failed swarms.
pub(crate) async fn clean(c: &Client, all: bool) -> Result<(), ClientError> {
    let q = if all { vec![("all", "true".to_string())] } else { Vec::new() };
    let v = c.post_empty(&["api", "swarms", "clean"], &q).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let cleaned: Cleaned = decode(&v)?;
    let n = cleaned.swarms_removed.max(cleaned.names.len() as u64);
    let data = if all { " and their stored data" } else { "" };
    if n == 0 {
        println!("no stopped or failed swarms");
    } else if cleaned.names.is_empty() {
        println!("{n} swarm(s) forgotten{data}");
    } else {
        println!("{n} swarm(s) forgotten{data}: {}", cleaned.names.join(", "));
    }
    Ok(())
}

/// `hive overlay` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum OverlayCmd {
    /// The runtime changes recorded since the seed, in order.
    Show {
        /// The swarm.
        name: String,
    },
    /// Fold the changes into the seed (the running swarm does not change).
    Clear {
        /// The swarm.
        name: String,
    },
}

/// `hive overlay show|clear NAME`.
pub(crate) async fn overlay(c: &Client, cmd: &OverlayCmd) -> Result<(), ClientError> {
    match cmd {
        OverlayCmd::Show { name } => {
            let v = c.get(&["api", "swarms", name, "overlay"], &[]).await?;
            if c.json {
                c.print_json(&v);
                return Ok(());
            }
            let ops: Vec<OverlayEntry> = list_of(&v, ApiList::Overlay)?;
            if ops.is_empty() {
                println!("no changes since the seed");
            }
            for (i, o) in ops.iter().enumerate() {
                let fields = serde_json::Value::Object(o.fields.clone());
                println!("{:>3}  {:<16}  {}", i + 1, o.op, one_line(&fields.to_string(), 120));
            }
        }
        OverlayCmd::Clear { name } => {
            let v = c.delete(&["api", "swarms", name, "overlay"], &[]).await?;
            if c.json {
                c.print_json(&v);
            } else {
                println!("overlay of '{name}' folded into its seed");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_content_is_cut_to_one_line() {
        assert_eq!(one_line("a\n  b", 10), "a b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
