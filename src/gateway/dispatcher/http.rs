//! HTTP workers' calls on the dispatcher (see `gateway/http_worker.rs` for
//! what they are owed): registration (a connection actor watches its
//! liveness, as for a ZeroMQ worker), its queue for a poll, taking a task
//! (the lease renewed, or "no longer yours"), heartbeats, reports on the
//! tasks it holds, and leases that run out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ractor::ActorRef;
use tokio::sync::{Mutex, mpsc};

use super::{DispatcherMsg, Link, State, Worker};
use crate::HiveError;
use crate::events::now_ms;
use crate::gateway::protocol::WorkerMsg;
use crate::gateway::{HttpInbox, HttpRegistration, HttpReport, HttpTerms, MAX_POLL_WAIT};
use crate::task::{FailCode, TaskEnd};

/// Longest worker id.
const MAX_ID_LEN: usize = 128;

impl State {
    pub(super) async fn register_http(
        &mut self,
        myself: &ActorRef<DispatcherMsg>,
        reg: HttpRegistration,
    ) -> Result<HttpTerms, HiveError> {
        let b = reg.id.as_bytes();
        let valid_id = b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.len() <= MAX_ID_LEN
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'));
        if !valid_id {
            return Err(HiveError::BadRequest(format!(
                "a worker id is 1 to {MAX_ID_LEN} letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
            )));
        }
        if reg.slots == Some(0) || reg.slots.is_some_and(|s| s > 10_000) {
            return Err(HiveError::BadRequest("'slots' runs from 1 to 10000".into()));
        }
        if self.workers.contains_key(reg.id.as_str()) {
            return Err(HiveError::Conflict(format!("worker id '{}' is taken", reg.id)));
        }
        if self.workers.len() >= self.args.opts.max_workers {
            return Err(HiveError::Full("the gateway has its most workers".into()));
        }
        let slots = reg.slots.unwrap_or(1);
        let last_seen = Arc::new(AtomicU64::new(now_ms()));
        let conn = self
            .watch(myself, &last_seen, self.args.opts.http_heartbeat_timeout)
            .await
            .map_err(|e| HiveError::Unavailable(format!("the worker's connection could not start: {e}")))?;
        let terms = HttpTerms {
            id: reg.id.clone(),
            heartbeat_timeout_ms: self.args.opts.http_heartbeat_timeout.as_millis() as u64,
            lease_ms: self.args.opts.lease.as_millis() as u64,
            max_wait_s: MAX_POLL_WAIT.as_secs(),
        };
        // At most `slots` tasks are given at once: the queue never fills.
        let (tx, rx) = mpsc::channel(slots as usize);
        let inbox = HttpInbox { tasks: Arc::new(Mutex::new(rx)), last_seen: last_seen.clone() };
        let tags = serde_json::to_value(reg.tags).unwrap_or_default();
        self.admit(
            reg.id.as_str().into(),
            Link::Http { tx, inbox },
            reg.capabilities,
            slots,
            last_seen,
            tags,
            Some(conn),
        );
        Ok(terms)
    }

    /// An HTTP worker, or why not.
    fn http_worker(&self, id: &str) -> Result<(&Worker, &HttpInbox), HiveError> {
        let w = self.workers.get(id).ok_or_else(|| HiveError::worker(id))?;
        match &w.link {
            Link::Http { inbox, .. } => Ok((w, inbox)),
            _ => Err(HiveError::Conflict(format!("worker '{id}' is not an HTTP worker"))),
        }
    }

    pub(super) fn http_inbox(&self, id: &str) -> Result<HttpInbox, HiveError> {
        let (w, inbox) = self.http_worker(id)?;
        w.last_seen.store(now_ms(), Ordering::Relaxed);
        Ok(inbox.clone())
    }

    pub(super) fn http_take(&mut self, id: &Arc<str>, task: &str) -> bool {
        let lease = Instant::now() + self.args.opts.lease;
        match self.tasks.get_mut(task).filter(|t| t.worker.as_ref() == Some(id)) {
            Some(t) => {
                t.lease = Some(lease);
                true
            }
            None => false,
        }
    }

    pub(super) fn http_heartbeat(&mut self, id: &str) -> Result<(), HiveError> {
        let (w, _) = self.http_worker(id)?;
        w.last_seen.store(now_ms(), Ordering::Relaxed);
        let held: Vec<Arc<str>> = w.running.iter().cloned().collect();
        let lease = Instant::now() + self.args.opts.lease;
        for t in &held {
            if let Some(t) = self.tasks.get_mut(t) {
                t.lease = Some(lease);
            }
        }
        Ok(())
    }

    pub(super) async fn http_report(&mut self, id: &str, task: &str, report: HttpReport) -> Result<(), HiveError> {
        let (w, _) = self.http_worker(id)?;
        let wid = w.id.clone();
        if self.owned(task, &wid).is_none() {
            self.ignored(task, &wid);
            return Err(HiveError::Conflict(format!(
                "worker '{id}' does not hold task {task} (it ended, was cancelled or was given to another worker)"
            )));
        }
        match report {
            HttpReport::Output(content) => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.lease = Some(Instant::now() + self.args.opts.lease);
                }
                self.worker_said(wid, WorkerMsg::Token { task_id: task.to_string(), content }).await;
            }
            HttpReport::Result(content) => self.worker_ended(&wid, task, TaskEnd::Completed { content }).await,
            HttpReport::Error { code, message } => {
                let end = TaskEnd::Failed { code: FailCode::reported(&code), message };
                self.worker_ended(&wid, task, end).await;
            }
        }
        Ok(())
    }

    /// HTTP workers holding a task whose lease ran out are lost.
    pub(super) async fn expire_leases(&mut self) {
        let now = Instant::now();
        // Only the tasks HTTP workers hold have leases.
        let lost: Vec<Arc<str>> = self
            .workers
            .values()
            .filter(|w| matches!(w.link, Link::Http { .. }))
            .filter(|w| w.running.iter().any(|t| self.tasks.get(t).and_then(|t| t.lease).is_some_and(|l| l <= now)))
            .map(|w| w.id.clone())
            .collect();
        for id in lost {
            if let Some(conn) = self.workers.get(&id).and_then(|w| w.conn.clone()) {
                self.by_conn.remove(&conn.get_id());
                conn.stop(Some("lease expired".into()));
            }
            self.worker_gone(&id, "a task's lease ran out").await;
        }
    }
}
