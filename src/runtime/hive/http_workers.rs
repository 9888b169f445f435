//! HTTP workers through the dispatch handle: register, poll for the next
//! task (a long-poll bounded by [`MAX_POLL_WAIT`]), heartbeat, and report
//! on a task, each as the token (principal) that calls. Each call is a
//! message to the dispatcher; a poll waits outside the actor (one poll per
//! worker at a time) for a wake-up of its registration, keeps the worker
//! alive while it waits, and asks the dispatcher for the task itself, so
//! only a poll of the current registration takes anything.
//!
//! What a poll takes is an [`HttpTaken`]: until [`HttpTaken::delivered`]
//! is called, dropping it (the poll's client went away before the answer
//! was sent) hands the task back to the queue at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::ActorRef;

use super::dispatch::Dispatch;
use crate::error::HiveError;
use crate::events::now_ms;
use crate::gateway::{Assignment, DispatcherMsg, HttpRegistration, HttpReport, HttpTerms, MAX_POLL_WAIT};

/// How often a waiting poll stamps its worker alive.
const ALIVE_EVERY: Duration = Duration::from_secs(1);

/// A task a poll took: handed back to the queue when dropped before it is
/// [`delivered`](Self::delivered).
pub struct HttpTaken {
    assignment: Option<Assignment>,
    back: Option<HandBack>,
}

struct HandBack {
    actor: ActorRef<DispatcherMsg>,
    worker: Arc<str>,
    epoch: u64,
}

impl HttpTaken {
    /// The task.
    pub fn assignment(&self) -> &Assignment {
        self.assignment.as_ref().expect("present until delivered")
    }

    /// The task reached its worker: it is the worker's from now on.
    pub fn delivered(mut self) -> Assignment {
        self.back = None;
        self.assignment.take().expect("present until delivered")
    }
}

impl Drop for HttpTaken {
    fn drop(&mut self) {
        if let (Some(b), Some(a)) = (self.back.take(), self.assignment.take()) {
            // A dispatcher that is gone took its tasks back with it.
            let _ = b.actor.cast(DispatcherMsg::HttpHandBack(b.worker, b.epoch, a.task_id.as_str().into()));
        }
    }
}

impl Dispatch<'_> {
    /// Registers an HTTP worker as `who`'s (`Conflict` if its id is taken).
    pub async fn register_http(&self, reg: HttpRegistration, who: &Arc<str>) -> Result<HttpTerms, HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::RegisterHttp, reg, who.clone())?
    }

    /// The worker's next task, waiting up to `wait` (at most
    /// [`MAX_POLL_WAIT`]) for one; `None` if none came. `Conflict` while
    /// another poll of the same worker waits, `Forbidden` if `who` did not
    /// register it, `NotFound` if it is gone (also when it registered again
    /// while this poll waited: the poll belongs to the registration it
    /// started under).
    pub async fn next_http(
        &self,
        worker_id: &str,
        who: &Arc<str>,
        wait: Duration,
    ) -> Result<Option<HttpTaken>, HiveError> {
        if wait > MAX_POLL_WAIT {
            return Err(HiveError::BadRequest(format!("wait is at most {} s", MAX_POLL_WAIT.as_secs())));
        }
        let actor = self.actor()?;
        let session = ractor::call!(actor, DispatcherMsg::HttpSession, worker_id.to_string(), who.clone())??;
        let Ok(_one) = session.poll.try_lock() else {
            return Err(HiveError::Conflict(format!("another poll of worker '{worker_id}' is waiting")));
        };
        let until = tokio::time::Instant::now() + wait;
        let id: Arc<str> = worker_id.into();
        loop {
            // Registered for a wake-up before asking: a task given after the
            // answer wakes it.
            let woken = session.ready.notified();
            if let Some(a) = ractor::call!(actor, DispatcherMsg::HttpTake, id.clone(), session.epoch)?? {
                let back = HandBack { actor, worker: id, epoch: session.epoch };
                return Ok(Some(HttpTaken { assignment: Some(a), back: Some(back) }));
            }
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if tokio::time::timeout(left.min(ALIVE_EVERY), woken).await.is_err() {
                session.last_seen.store(now_ms(), Ordering::Relaxed);
            }
        }
    }

    /// A heartbeat by `who`: the worker is alive and the leases of the
    /// tasks it took are renewed.
    pub async fn heartbeat_http(&self, worker_id: &str, who: &Arc<str>) -> Result<(), HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::HttpHeartbeat, worker_id.to_string(), who.clone())?
    }

    /// A report by `who` on a task the worker holds: output, its result or
    /// its error. `Conflict` (and a `result_ignored` event) if it no longer
    /// holds the task.
    pub async fn report_http(
        &self,
        worker_id: &str,
        who: &Arc<str>,
        task_id: &str,
        report: HttpReport,
    ) -> Result<(), HiveError> {
        let (id, task) = (worker_id.to_string(), task_id.to_string());
        ractor::call!(self.actor()?, DispatcherMsg::HttpReport, id, who.clone(), task, report)?
    }
}
