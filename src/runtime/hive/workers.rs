//! The standalone workers handle: spawn (only what `spawn_allow` permits),
//! list, kill, and give tasks to JSONL workers outside any swarm. Each call
//! is a message to the worker pool; spawn and task first pass the
//! maintenance gate.

use std::sync::Arc;

use super::Hive;
use crate::error::HiveError;
use crate::runtime::workers::{PoolMsg, SpawnRequest, WorkerStatus};

/// The standalone workers of a runtime ([`Hive::workers`]).
pub struct Workers<'a>(pub(super) &'a Hive);

impl Workers<'_> {
    /// Spawns a standalone JSONL worker (only paths `spawn_allow` permits);
    /// returns its id. Refused in maintenance.
    pub async fn spawn(&self, req: SpawnRequest) -> Result<String, HiveError> {
        self.0.maintenance.admit("spawning a worker")?;
        ractor::call!(self.0.pool()?, PoolMsg::Spawn, req)?
    }

    /// Every standalone worker with its status and current task.
    pub async fn list(&self) -> Result<Vec<WorkerStatus>, HiveError> {
        Ok(ractor::call!(self.0.pool()?, PoolMsg::List)?)
    }

    /// One standalone worker.
    pub async fn get(&self, id: &str) -> Result<WorkerStatus, HiveError> {
        ractor::call!(self.0.pool()?, PoolMsg::Get, id.to_string())?
    }

    /// Stops a worker gracefully (shutdown line, SIGTERM, SIGKILL after its
    /// kill timeout) and forgets it.
    pub async fn kill(&self, id: &str) -> Result<(), HiveError> {
        ractor::call!(self.0.pool()?, PoolMsg::Kill, id.to_string())?
    }

    /// Cancels a queued or running task of a worker.
    pub async fn cancel(&self, id: &str, task_id: &str) -> Result<(), HiveError> {
        let (slot, ctx) = ractor::call!(self.0.pool()?, PoolMsg::Cancel, id.to_string())??;
        crate::runtime::swarm::cancel_on(&ctx, &slot, task_id).await
    }

    /// Queues a task for a worker; returns the task id. Refused in maintenance.
    pub async fn task(&self, id: &str, content: &str) -> Result<Arc<str>, HiveError> {
        self.task_by(id, content, None).await
    }

    /// [`task`](Self::task), recorded as submitted by the token `submitted_by`.
    pub async fn task_by(&self, id: &str, content: &str, submitted_by: Option<&str>) -> Result<Arc<str>, HiveError> {
        self.0.maintenance.admit("a new task")?;
        let by = submitted_by.map(String::from);
        ractor::call!(self.0.pool()?, PoolMsg::Task, id.to_string(), content.to_string(), by)?
    }
}
