//! HTTP workers through the dispatch handle: register, poll for the next
//! task (a long-poll bounded by [`MAX_POLL_WAIT`]), heartbeat, and report
//! on a task. Each call is a message to the dispatcher, except the poll's
//! wait, which waits on the worker's own queue outside the actor (one poll
//! per worker at a time) and keeps the worker alive while it waits.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::dispatch::Dispatch;
use crate::error::HiveError;
use crate::events::now_ms;
use crate::gateway::{Assignment, DispatcherMsg, HttpRegistration, HttpReport, HttpTerms, MAX_POLL_WAIT};

/// How often a waiting poll stamps its worker alive.
const ALIVE_EVERY: Duration = Duration::from_secs(1);

impl Dispatch<'_> {
    /// Registers an HTTP worker (`Conflict` if its id is taken).
    pub async fn register_http(&self, reg: HttpRegistration) -> Result<HttpTerms, HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::RegisterHttp, reg)?
    }

    /// The worker's next task, waiting up to `wait` (at most
    /// [`MAX_POLL_WAIT`]) for one; `None` if none came. `Conflict` while
    /// another poll of the same worker waits.
    pub async fn next_http(&self, worker_id: &str, wait: Duration) -> Result<Option<Assignment>, HiveError> {
        if wait > MAX_POLL_WAIT {
            return Err(HiveError::BadRequest(format!("wait is at most {} s", MAX_POLL_WAIT.as_secs())));
        }
        let actor = self.actor()?;
        let inbox = ractor::call!(actor, DispatcherMsg::HttpInbox, worker_id.to_string())??;
        let Ok(mut tasks) = inbox.tasks.try_lock() else {
            return Err(HiveError::Conflict(format!("another poll of worker '{worker_id}' is waiting")));
        };
        let until = tokio::time::Instant::now() + wait;
        let id: std::sync::Arc<str> = worker_id.into();
        loop {
            let step = until.saturating_duration_since(tokio::time::Instant::now()).min(ALIVE_EVERY);
            // `recv` is cancel safe: a task is either taken or stays queued.
            match tokio::time::timeout(step, tasks.recv()).await {
                Ok(Some(a)) => {
                    let task: std::sync::Arc<str> = a.task_id.as_str().into();
                    // Given before it was lost, cancelled or timed out: skipped.
                    if ractor::call!(actor, DispatcherMsg::HttpTake, id.clone(), task)? {
                        return Ok(Some(a));
                    }
                }
                // The worker was dropped (unregistered, lost).
                Ok(None) => return Err(HiveError::worker(worker_id)),
                Err(_) if tokio::time::Instant::now() >= until => return Ok(None),
                Err(_) => inbox.last_seen.store(now_ms(), Ordering::Relaxed),
            }
        }
    }

    /// A heartbeat: the worker is alive and its tasks' leases are renewed.
    pub async fn heartbeat_http(&self, worker_id: &str) -> Result<(), HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::HttpHeartbeat, worker_id.to_string())?
    }

    /// A report on a task the worker holds: output, its result or its
    /// error. `Conflict` (and a `result_ignored` event) if it no longer
    /// holds the task.
    pub async fn report_http(&self, worker_id: &str, task_id: &str, report: HttpReport) -> Result<(), HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::HttpReport, worker_id.to_string(), task_id.to_string(), report)?
    }
}
