//! Orchestrate: several dispatched tasks run together (`parallel`) or one
//! after another (`sequential`; as a `workflow`, each result is the next
//! task's context), under one overall timeout. It is a runtime call, not an
//! HTTP handler's loop: at the overall timeout every task it started that
//! has not ended is cancelled (its worker told, its record `cancelled`), and
//! so is every task already started when a later dispatch is refused.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Dispatch;
use crate::error::HiveError;
use crate::gateway::{DispatchRequest, Submit};
use crate::task::{Follower, TaskEnd};

/// How the tasks of an orchestration run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// All at once.
    #[default]
    Parallel,
    /// One after another, stopping at the first that does not complete.
    Sequential,
}

/// What a task of an orchestration is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrchestrateMode {
    /// Its own prompt only.
    #[default]
    Direct,
    /// Sequential; each result is the next task's context.
    Workflow,
}

/// How one task, or the whole orchestration, came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Completed.
    Ok,
    /// Failed (or, for the whole, one task did not complete).
    Error,
    /// Cancelled by someone else.
    Cancelled,
    /// The overall timeout came first (the task was cancelled).
    Timeout,
}

/// An orchestration to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The tasks, in order.
    pub tasks: Vec<DispatchRequest>,
    /// Parallel or sequential.
    pub strategy: Strategy,
    /// Direct or workflow (a workflow is sequential).
    pub mode: OrchestrateMode,
    /// The overall timeout.
    pub timeout: Duration,
}

/// One task's result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepResult {
    /// The task.
    #[schema(value_type = String)]
    pub task_id: Arc<str>,
    /// How it came out.
    pub status: Outcome,
    /// Its result, or its error message (empty on a timeout).
    pub content: String,
}

/// An orchestration's result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `ok` when every task completed, `timeout` when the overall timeout
    /// came first, else `error`.
    pub status: Outcome,
    /// How it ran.
    pub strategy: Strategy,
    /// Direct or workflow.
    pub mode: OrchestrateMode,
    /// The tasks that ran, in order (a sequence stops at the first that
    /// did not complete).
    pub results: Vec<StepResult>,
}

/// Most tasks in one orchestration.
pub const MAX_TASKS: usize = 100;

impl Dispatch<'_> {
    /// Runs an orchestration (see the module doc).
    /// Refused in maintenance; a plan that started runs to its end.
    pub async fn orchestrate(&self, plan: Plan) -> Result<Report, HiveError> {
        self.0.maintenance.admit("an orchestration")?;
        if plan.tasks.is_empty() || plan.tasks.len() > MAX_TASKS {
            return Err(HiveError::BadRequest(format!("'tasks' must hold 1 to {MAX_TASKS} tasks")));
        }
        if plan.mode == OrchestrateMode::Workflow && plan.strategy == Strategy::Parallel {
            return Err(HiveError::BadRequest("a workflow runs sequentially".into()));
        }
        let until = tokio::time::Instant::now() + plan.timeout;
        let mut results = Vec::with_capacity(plan.tasks.len());
        match plan.strategy {
            Strategy::Parallel => {
                let mut started: Vec<(Arc<str>, Follower)> = Vec::with_capacity(plan.tasks.len());
                for req in plan.tasks {
                    match self.submit_admitted(req, Submit::Follow).await {
                        Ok((id, Some(f))) => started.push((id, f)),
                        Ok((id, None)) => {
                            started.push((id, self.follow_nothing()));
                        }
                        Err(e) => {
                            // Refused mid-way: what already runs is cancelled.
                            for (id, _) in &started {
                                let _ = self.cancel(id).await;
                            }
                            return Err(e);
                        }
                    }
                }
                for (id, f) in started {
                    results.push(self.step(id, f, until).await);
                }
            }
            Strategy::Sequential => {
                let mut context = None;
                for mut req in plan.tasks {
                    if plan.mode == OrchestrateMode::Workflow {
                        req.context = context.take().or(req.context);
                    }
                    let (id, f) = self.submit_admitted(req, Submit::Follow).await?;
                    let f = f.unwrap_or_else(|| self.follow_nothing());
                    let r = self.step(id, f, until).await;
                    let ok = r.status == Outcome::Ok;
                    if ok && plan.mode == OrchestrateMode::Workflow {
                        context = Some(r.content.clone());
                    }
                    results.push(r);
                    if !ok {
                        break;
                    }
                }
            }
        }
        let status = if results.iter().all(|r| r.status == Outcome::Ok) {
            Outcome::Ok
        } else if results.iter().any(|r| r.status == Outcome::Timeout) {
            Outcome::Timeout
        } else {
            Outcome::Error
        };
        Ok(Report { status, strategy: plan.strategy, mode: plan.mode, results })
    }

    /// Waits for one task until `until`; past it, the task is cancelled.
    async fn step(&self, id: Arc<str>, f: Follower, until: tokio::time::Instant) -> StepResult {
        match tokio::time::timeout_at(until, f.end()).await {
            Ok(Some(end)) => {
                let status = match &end {
                    TaskEnd::Completed { .. } => Outcome::Ok,
                    TaskEnd::Failed { .. } => Outcome::Error,
                    TaskEnd::Cancelled => Outcome::Cancelled,
                };
                StepResult { task_id: id, status, content: end.content().to_string() }
            }
            Ok(None) => StepResult { task_id: id, status: Outcome::Error, content: "the runtime stopped".into() },
            Err(_) => {
                // Ended meanwhile (or already gone): nothing to cancel.
                let _ = self.cancel(&id).await;
                StepResult { task_id: id, status: Outcome::Timeout, content: String::new() }
            }
        }
    }

    /// A follower that never hears an end (a submit always gives one when
    /// asked to follow; this only keeps the types honest).
    fn follow_nothing(&self) -> Follower {
        Follower::never()
    }
}
