//! `hive orchestrate`: several prompts through the gateway's dispatcher, in
//! parallel, in sequence, or as a workflow (`POST /api/v1/orchestrate`).

use std::time::Duration;

use clap::{Args, ValueEnum};
use hive::runtime::orchestrate::{OrchestrateMode, Strategy};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::control::to_value;
use super::table::Table;
use super::wire::decode;
use super::{Client, ClientError};

/// How the tasks run.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum StrategyArg {
    Parallel,
    Sequential,
}

/// Direct tasks, or a workflow (each result the next task's context).
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Direct,
    Workflow,
}

/// `hive orchestrate` arguments.
#[derive(Args, Debug)]
pub(crate) struct OrchestrateArgs {
    /// The prompts, one task each (1 to 100).
    #[arg(required = true, value_name = "PROMPT")]
    prompts: Vec<String>,
    /// parallel (default) or sequential (the default of a workflow).
    #[arg(long, value_enum)]
    strategy: Option<StrategyArg>,
    /// direct (default) or workflow: sequential, each result the next task's context, stopping at the first failure.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// The overall timeout [default: the daemon's, 120s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// The model for every task.
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// A capability every task's worker must have (repeatable).
    #[arg(long = "capability", value_name = "C")]
    capabilities: Vec<String>,
    /// 1 (highest) to 255 [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    priority: Option<u8>,
}

/// One task of the request.
#[derive(Serialize)]
struct TaskBody<'a> {
    prompt: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    capabilities: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
}

/// The request.
#[derive(Serialize)]
struct Body<'a> {
    tasks: Vec<TaskBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<Strategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<OrchestrateMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
}

/// How an orchestration or one of its tasks came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Ok,
    Error,
    Timeout,
    #[serde(other)]
    Unknown,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::Unknown => "unknown",
        }
    }
}

/// One task's result.
#[derive(Debug, Deserialize)]
struct Step {
    task_id: String,
    status: Outcome,
    #[serde(default)]
    content: String,
}

/// The answer.
#[derive(Debug, Deserialize)]
struct Report {
    status: Outcome,
    #[serde(default)]
    results: Vec<Step>,
}

/// The daemon's overall timeout when none is given.
const SERVER_TIMEOUT: Duration = Duration::from_secs(120);

/// `hive orchestrate PROMPT... [--strategy S] [--mode M] [--timeout T]`:
/// prints each task's result; exit 1 unless every task ended `ok`.
pub(crate) async fn run(c: &Client, a: &OrchestrateArgs) -> Result<(), ClientError> {
    let tasks =
        a.prompts.iter().map(|p| TaskBody { prompt: p, capabilities: &a.capabilities, priority: a.priority }).collect();
    let body = Body {
        tasks,
        strategy: a.strategy.map(|s| match s {
            StrategyArg::Parallel => Strategy::Parallel,
            StrategyArg::Sequential => Strategy::Sequential,
        }),
        mode: a.mode.map(|m| match m {
            ModeArg::Direct => OrchestrateMode::Direct,
            ModeArg::Workflow => OrchestrateMode::Workflow,
        }),
        timeout: a.timeout.map(|t| t.as_millis() as u64),
        model: a.model.as_deref(),
    };
    let limit = a.timeout.unwrap_or(SERVER_TIMEOUT) + Duration::from_secs(10);
    let resp =
        c.send_within(Method::POST, &["api", "v1", "orchestrate"], &[], Some(&to_value(&body)), Some(limit)).await?;
    let v = c.json_of(resp).await?;
    let report: Report = decode(&v)?;
    if c.json {
        c.print_json(&v);
    } else {
        let mut t = Table::new(&["TASK", "STATUS", "RESULT"]);
        for s in &report.results {
            t.row(vec![s.task_id.clone(), s.status.as_str().into(), s.content.replace('\n', "⏎")]);
        }
        t.print();
        println!("{}", report.status.as_str());
    }
    match report.status {
        Outcome::Ok => Ok(()),
        other => Err(ClientError::Other(format!("the orchestration ended {}", other.as_str()))),
    }
}
