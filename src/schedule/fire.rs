//! What the scheduler needs of the runtime to fire a tick ([`Fire`]): check
//! a target, create a task (its record durable, carrying the tick), tell
//! whether a task is still open, cancel one, and name the running swarms.
//! The runtime implements it (`runtime/hive/schedules.rs`); a test can
//! implement it alone.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::schedule::Target;
use crate::error::HiveError;
use crate::task::ScheduleTick;

/// One tick's task.
#[derive(Debug, Clone)]
pub struct FireRequest {
    /// Where it goes.
    pub target: Target,
    /// Its content.
    pub content: String,
    /// The token name it is submitted by (the schedule's creator).
    pub submitted_by: Option<String>,
    /// The tick it is for (recorded in the task).
    pub tick: ScheduleTick,
}

/// The runtime, as the scheduler uses it.
pub trait Fire: Send + Sync + 'static {
    /// Whether `target` exists now (`BadRequest` naming what is missing).
    fn check(&self, target: &Target) -> BoxFuture<'_, Result<(), HiveError>>;
    /// Creates the tick's task; answers once its record is durable.
    fn fire(&self, req: FireRequest) -> BoxFuture<'_, Result<Arc<str>, HiveError>>;
    /// Whether the task has not ended.
    fn is_open(&self, task_id: &str) -> bool;
    /// Cancels the task (it may have ended meanwhile: no error).
    fn cancel(&self, target: &Target, task_id: &str) -> BoxFuture<'_, ()>;
    /// The swarms that run now (their schedules fire).
    fn running_swarms(&self) -> BoxFuture<'_, Vec<String>>;
}
