//! Agent commands: `agents NAME` (a table), `agents add|show|remove|history`,
//! an agent's logs, and `skills` (the daemon's skill files, an agent's, and
//! `skills put`). Entries for `add` are read by [`read_entry`], which the
//! object commands share.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::control::{one_line, to_value};
use super::table::Table;
use super::wire::{AgentSkill, AgentView, ApiList, HistoryView, Named, SkillContent, SkillEntry, SkillUpdated};
use super::wire::{decode, list_of};
use super::{Client, ClientError};
use crate::cli::print::json_event_line;

/// `hive agents` arguments.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct AgentsArgs {
    #[command(subcommand)]
    cmd: Option<AgentsCmd>,
    /// List this swarm's agents.
    #[arg(required = true)]
    name: Option<String>,
}

#[derive(Subcommand, Debug)]
enum AgentsCmd {
    /// Add an agent (or a scale group) to a running swarm.
    Add(AddArgs),
    /// Show one agent's status.
    Show {
        /// The swarm.
        name: String,
        /// The agent.
        agent: String,
    },
    /// Remove an agent, or a whole scale group.
    Remove {
        /// The swarm.
        name: String,
        /// The agent or group.
        agent: String,
    },
    /// An agent's history: tasks, messages, replies, results (oldest first).
    History {
        /// The swarm.
        name: String,
        /// The agent.
        agent: String,
        /// Newest entries to show (1..=1000).
        #[arg(long, short = 'n', value_name = "N", default_value_t = 100,
            value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
}

/// `agents add` / `objects add` arguments.
#[derive(Args, Debug)]
pub(crate) struct AddArgs {
    /// The swarm.
    pub name: String,
    /// The entry: a JSON object (`{"name": "r", "backend": "mock"}`), or @FILE (JSON, or TOML by extension).
    #[arg(value_name = "ENTRY")]
    pub entry: String,
    /// An outgoing edge to this endpoint (repeatable).
    #[arg(long = "connect", value_name = "TO")]
    pub connections: Vec<String>,
    /// An incoming edge from this endpoint (repeatable).
    #[arg(long = "incoming", value_name = "FROM")]
    pub incoming: Vec<String>,
}

impl AddArgs {
    /// The request body: the entry plus its edges.
    pub(crate) fn body(&self) -> Result<Value, ClientError> {
        let mut entry = read_entry(&self.entry)?;
        if !self.connections.is_empty() {
            entry.insert("connections".into(), json!(self.connections));
        }
        if !self.incoming.is_empty() {
            entry.insert("incoming".into(), json!(self.incoming));
        }
        Ok(Value::Object(entry))
    }
}

/// Reads an entry argument: a JSON object, or `@FILE` (JSON for `*.json`,
/// else TOML: the keys of one `[[agents]]` or `[[objects]]` table).
pub(crate) fn read_entry(arg: &str) -> Result<Map<String, Value>, ClientError> {
    let value = match arg.strip_prefix('@') {
        Some(file) => {
            let path = Path::new(file);
            let text =
                std::fs::read_to_string(path).map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
                serde_json::from_str(&text).map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?
            } else {
                let t: toml::Table =
                    toml::from_str(&text).map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
                to_value(&t)
            }
        }
        None => serde_json::from_str(arg)
            .map_err(|e| ClientError::Other(format!("the entry is not JSON ({e}); give a JSON object or @FILE")))?,
    };
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(ClientError::Other("the entry must be a JSON object (or @FILE holding one)".into())),
    }
}

/// `hive agents ...`.
pub(crate) async fn run(c: &Client, a: &AgentsArgs) -> Result<(), ClientError> {
    match (&a.cmd, &a.name) {
        (Some(AgentsCmd::Add(add)), _) => {
            let v = c.post(&["api", "swarms", &add.name, "agents"], &add.body()?).await?;
            if c.json {
                c.print_json(&v);
            } else {
                let fallback = add_name(&add.entry);
                println!("added to '{}': {}", add.name, decode::<Named>(&v)?.all(&fallback).join(", "));
            }
            Ok(())
        }
        (Some(AgentsCmd::Show { name, agent }), _) => show(c, name, agent).await,
        (Some(AgentsCmd::Remove { name, agent }), _) => {
            let v = c.delete(&["api", "swarms", name, "agents", agent], &[]).await?;
            if c.json {
                c.print_json(&v);
            } else {
                println!("removed from '{name}': {}", decode::<Named>(&v)?.all(agent).join(", "));
            }
            Ok(())
        }
        (Some(AgentsCmd::History { name, agent, limit }), _) => history(c, name, agent, *limit).await,
        (None, Some(name)) => list(c, name).await,
        (None, None) => Err(ClientError::Other("name a swarm: hive agents NAME".into())),
    }
}

/// The name an entry argument gives (for messages), or "the entry".
fn add_name(entry: &str) -> String {
    read_entry(entry).ok().and_then(|m| m.get("name").and_then(Value::as_str).map(String::from)).unwrap_or_default()
}

/// A backend for a table cell: `mock`, or the `type` of an object form.
fn backend_cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m.get("type").and_then(Value::as_str).unwrap_or("-").to_string(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".into(), T::to_string)
}

async fn list(c: &Client, name: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "agents"], &[("limit", "1000".into())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let agents: Vec<AgentView> = list_of(&v, ApiList::Agents)?;
    let mut t = Table::new(&["AGENT", "GROUP", "BACKEND", "STATE", "RESTARTS", "INBOX", "DONE", "FAILED", "TASK"]);
    for a in agents {
        t.row(vec![
            a.name,
            opt(&a.group),
            backend_cell(&a.backend),
            a.state,
            a.restarts.to_string(),
            a.inbox.to_string(),
            a.tasks_completed.to_string(),
            a.tasks_failed.to_string(),
            opt(&a.current_task),
        ]);
    }
    if t.is_empty() {
        println!("no agents")
    } else {
        t.print()
    }
    Ok(())
}

async fn show(c: &Client, name: &str, agent: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "agents", agent], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let a: AgentView = decode(&v)?;
    let skills = if a.skills.is_empty() { "-".into() } else { a.skills.join(", ") };
    let rows = [
        ("agent", a.name),
        ("group", opt(&a.group)),
        ("backend", backend_cell(&a.backend)),
        ("state", a.state),
        ("restarts", a.restarts.to_string()),
        ("inbox", a.inbox.to_string()),
        ("task", opt(&a.current_task)),
        ("done", a.tasks_completed.to_string()),
        ("failed", a.tasks_failed.to_string()),
        ("messages", a.messages_received.to_string()),
        ("active", opt(&a.last_activity)),
        ("pid", opt(&a.pid)),
        ("model", opt(&a.model)),
        ("skills", skills),
        ("detail", opt(&a.detail)),
    ];
    for (k, val) in rows {
        println!("{k:<10}{val}");
    }
    Ok(())
}

async fn history(c: &Client, name: &str, agent: &str, limit: u32) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "agents", agent, "history"], &[("limit", limit.to_string())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let entries: Vec<HistoryView> = list_of(&v, ApiList::History)?;
    let mut t = Table::new(&["TIME", "KIND", "PEER", "CONTENT"]);
    for e in entries {
        t.row(vec![hive::events::rfc3339_ms(e.timestamp_ms), e.kind, e.peer, one_line(&e.content, 80)]);
    }
    if t.is_empty() {
        println!("no history")
    } else {
        t.print()
    }
    Ok(())
}

/// `hive logs NAME AGENT`: the agent's output and log lines, as event lines.
pub(crate) async fn logs(c: &Client, name: &str, agent: &str, limit: u32) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "agents", agent, "logs"], &[("limit", limit.to_string())]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let lines: Vec<Value> = list_of(&v, ApiList::Logs)?;
    if lines.is_empty() {
        println!("no logs");
    }
    for e in &lines {
        println!("{}", json_event_line(e));
    }
    Ok(())
}

/// `hive skills` arguments.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct SkillsArgs {
    #[command(subcommand)]
    cmd: Option<SkillsCmd>,
    /// Print this skill file (by name; `.md` optional).
    skill: Option<String>,
}

#[derive(Subcommand, Debug)]
enum SkillsCmd {
    /// An agent's skill files, with their content.
    Agent {
        /// The swarm.
        name: String,
        /// The agent.
        agent: String,
    },
    /// Replace one of an agent's skill files (it must be listed in its `skills`).
    Put {
        /// The swarm.
        name: String,
        /// The agent.
        agent: String,
        /// The skill (path, file name or stem as listed).
        skill: String,
        /// The new content (`-`: stdin).
        file: PathBuf,
    },
}

/// `hive skills [SKILL]`, `hive skills agent NAME AGENT`, `hive skills put ...`.
pub(crate) async fn skills(c: &Client, a: &SkillsArgs) -> Result<(), ClientError> {
    match (&a.cmd, &a.skill) {
        (Some(SkillsCmd::Agent { name, agent }), _) => agent_skills(c, name, agent).await,
        (Some(SkillsCmd::Put { name, agent, skill, file }), _) => put_skill(c, name, agent, skill, file).await,
        (None, Some(skill)) => {
            let v = c.get(&["api", "skills", skill], &[]).await?;
            if c.json {
                c.print_json(&v);
            } else {
                print!("{}", decode::<SkillContent>(&v)?.content);
            }
            Ok(())
        }
        (None, None) => {
            let v = c.get(&["api", "skills"], &[]).await?;
            if c.json {
                c.print_json(&v);
                return Ok(());
            }
            let list: Vec<SkillEntry> = list_of(&v, ApiList::Skills)?;
            let mut t = Table::new(&["SKILL", "CATEGORY", "SIZE", "PATH"]);
            for s in list {
                t.row(vec![s.name, s.category, s.size.to_string(), s.relative_path]);
            }
            if t.is_empty() {
                println!("no skills")
            } else {
                t.print()
            }
            Ok(())
        }
    }
}

async fn agent_skills(c: &Client, name: &str, agent: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "swarms", name, "agents", agent, "skills"], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let files: Vec<AgentSkill> = list_of(&v, ApiList::Skills)?;
    if files.is_empty() {
        println!("agent '{agent}' has no skills");
    }
    for (i, f) in files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("== {} ({})", f.name, f.path);
        match (&f.content, &f.error) {
            (Some(text), _) => print!("{text}{}", if text.ends_with('\n') { "" } else { "\n" }),
            (None, Some(why)) => println!("(unreadable: {why})"),
            (None, None) => println!("(unreadable)"),
        }
    }
    Ok(())
}

async fn put_skill(c: &Client, name: &str, agent: &str, skill: &str, file: &Path) -> Result<(), ClientError> {
    let content = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| ClientError::Other(format!("stdin: {e}")))?
    } else {
        std::fs::read_to_string(file).map_err(|e| ClientError::Other(format!("{}: {e}", file.display())))?
    };
    let v = c.put(&["api", "swarms", name, "agents", agent, "skills", skill], &json!({"content": content})).await?;
    if c.json {
        c.print_json(&v);
    } else {
        let u: SkillUpdated = decode(&v)?;
        println!("skill '{skill}' of '{agent}' written: {} ({} bytes)", u.path, u.size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_json_objects_or_files() {
        assert_eq!(read_entry(r#"{"name": "r"}"#).unwrap()["name"], "r");
        assert!(read_entry("[1]").is_err());
        assert!(read_entry("name = r").is_err());
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("r.toml");
        std::fs::write(&toml, "name = \"r\"\nbackend = \"mock\"\n").unwrap();
        assert_eq!(read_entry(&format!("@{}", toml.display())).unwrap()["backend"], "mock");
        let json = dir.path().join("r.json");
        std::fs::write(&json, r#"{"name": "j"}"#).unwrap();
        assert_eq!(read_entry(&format!("@{}", json.display())).unwrap()["name"], "j");
        assert!(read_entry("@/nonexistent/entry.toml").is_err());
    }
}
