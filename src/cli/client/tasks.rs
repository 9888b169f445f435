//! Recorded tasks: `hive tasks` (a table), `hive tasks ID` (one task),
//! `hive tasks cancel ID` and `hive tasks submit PROMPT` (to the dispatcher).

use clap::{Args, Subcommand};
use serde_json::Value;

use super::gateway::when;
use super::table::Table;
use super::{Client, ClientError, cell, str_of};

/// `hive tasks` arguments.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct TasksArgs {
    #[command(subcommand)]
    cmd: Option<TasksCmd>,
    /// Show this task.
    id: Option<String>,
    /// Only tasks with this status: queued, in_progress, ok, error, cancelled.
    #[arg(long, value_name = "S")]
    status: Option<String>,
    /// Newest tasks to show (1..=1000).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
}

#[derive(Subcommand, Debug)]
enum TasksCmd {
    /// Cancel a queued or running task.
    Cancel {
        /// The task id.
        id: String,
    },
    /// Submit a task to the dispatcher (`POST /api/v1/tasks`); prints its id.
    Submit(SubmitArgs),
}

/// `hive tasks submit` arguments.
#[derive(Args, Debug)]
pub(crate) struct SubmitArgs {
    /// The prompt.
    prompt: String,
    #[command(flatten)]
    task: super::task_body::TaskFields,
}

async fn submit(c: &Client, a: &SubmitArgs) -> Result<(), ClientError> {
    let body = a.task.body(&a.prompt, None);
    let v = c.post(&["api", "v1", "tasks"], &super::control::to_value(&body)).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("{}", str_of(&v, "task_id"));
    }
    Ok(())
}

pub(crate) async fn run(c: &Client, a: &TasksArgs) -> Result<(), ClientError> {
    match (&a.cmd, &a.id) {
        (Some(TasksCmd::Cancel { id }), _) => cancel(c, id).await,
        (Some(TasksCmd::Submit(s)), _) => submit(c, s).await,
        (None, Some(id)) => show(c, id).await,
        (None, None) => list(c, a).await,
    }
}

/// A timestamp field (ms since the epoch) for display.
fn time_of(v: &Value, k: &str) -> String {
    v[k].as_u64().map_or("-".into(), when)
}

/// `swarm/agent`, or the swarm alone when there is no agent (gateway tasks).
fn where_of(task: &Value) -> String {
    match (str_of(task, "swarm"), str_of(task, "agent")) {
        ("", "") => "-".into(),
        (swarm, "") => swarm.into(),
        (swarm, agent) => format!("{swarm}/{agent}"),
    }
}

/// At most `n` characters of `s` on one line (`…` when cut).
fn truncate(s: &str, n: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(n - 1).collect();
    cut.push('…');
    cut
}

async fn list(c: &Client, a: &TasksArgs) -> Result<(), ClientError> {
    let mut q = vec![("page", "1".to_string()), ("per_page", a.limit.to_string())];
    if let Some(s) = &a.status {
        q.push(("status", s.clone()));
    }
    let v = c.get(&["api", "v1", "tasks"], &q).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let mut t = Table::new(&["TASK", "STATUS", "SWARM/AGENT", "ATTEMPTS", "CREATED", "CONTENT"]);
    for task in v["items"].as_array().into_iter().flatten() {
        t.row(vec![
            cell(task, "task_id"),
            cell(task, "status"),
            where_of(task),
            cell(task, "attempts"),
            time_of(task, "created_at"),
            truncate(str_of(task, "content"), 50),
        ]);
    }
    if t.is_empty() {
        println!("no tasks");
    } else {
        t.print();
        let total = v["total"].as_u64().unwrap_or_default();
        let shown = v["items"].as_array().map_or(0, Vec::len) as u64;
        if total > shown {
            println!("({shown} of {total}; --limit N shows more)");
        }
    }
    Ok(())
}

async fn show(c: &Client, id: &str) -> Result<(), ClientError> {
    let v = c.get(&["api", "v1", "tasks", id], &[]).await?;
    if c.json {
        c.print_json(&v);
        return Ok(());
    }
    let rows = [
        ("task", cell(&v, "task_id")),
        ("status", cell(&v, "status")),
        ("swarm", cell(&v, "swarm")),
        ("agent", cell(&v, "agent")),
        ("from", cell(&v, "from")),
        ("attempts", cell(&v, "attempts")),
        ("created", time_of(&v, "created_at")),
        ("updated", time_of(&v, "updated_at")),
        ("prompt", cell(&v, "prompt")),
        ("content", cell(&v, "content")),
    ];
    for (k, val) in rows {
        let val = if val.is_empty() { "-".into() } else { val };
        println!("{k:<10}{val}");
    }
    Ok(())
}

async fn cancel(c: &Client, id: &str) -> Result<(), ClientError> {
    let v = c.delete(&["api", "v1", "tasks", id], &[]).await?;
    if c.json {
        c.print_json(&v);
    } else {
        println!("task {id} cancelled");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_cut_to_one_short_line() {
        assert_eq!(truncate("a\nb", 10), "a b");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
