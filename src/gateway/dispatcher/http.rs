//! HTTP workers' calls on the dispatcher (see `gateway/http_worker.rs` for
//! what they are owed): registration (a connection actor watches its
//! liveness, as for a ZeroMQ worker; the registering token owns the id),
//! its session for a poll, taking the next task given to it (only by a poll
//! of the current registration, handed back when the answer cannot be
//! sent), a task handed back, heartbeats, reports on the tasks it holds,
//! and leases that run out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ractor::{ActorRef, RpcReplyPort};
use tokio::sync::{Mutex, Notify};

use super::{DispatcherMsg, HttpLink, Link, State, Worker};
use crate::HiveError;
use crate::events::{EventKind, now_ms};
use crate::gateway::protocol::WorkerMsg;
use crate::gateway::{Assignment, DISPATCH_SWARM, HttpRegistration, HttpReport, HttpSession, HttpTerms, MAX_POLL_WAIT};
use crate::task::{FailCode, TaskEnd};

/// Longest worker id.
const MAX_ID_LEN: usize = 128;

impl State {
    pub(super) async fn register_http(
        &mut self,
        myself: &ActorRef<DispatcherMsg>,
        reg: HttpRegistration,
        owner: Arc<str>,
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
        self.epochs += 1;
        let session = HttpSession {
            epoch: self.epochs,
            ready: Arc::new(Notify::new()),
            poll: Arc::new(Mutex::new(())),
            last_seen: last_seen.clone(),
        };
        let link = Link::Http(HttpLink { session, owner, given: VecDeque::with_capacity(slots.min(64) as usize) });
        let tags = serde_json::to_value(reg.tags).unwrap_or_default();
        self.admit(reg.id.as_str().into(), link, reg.capabilities, slots, last_seen, tags, Some(conn));
        Ok(terms)
    }

    /// An HTTP worker acted on by `who`, or why not (404 unknown, 409 not
    /// an HTTP worker, 403 registered by another token).
    fn http_worker(&self, id: &str, who: &str) -> Result<(&Worker, &HttpLink), HiveError> {
        let w = self.workers.get(id).ok_or_else(|| HiveError::worker(id))?;
        match &w.link {
            Link::Http(h) if *h.owner == *who => Ok((w, h)),
            Link::Http(_) => {
                Err(HiveError::Forbidden(format!("worker '{id}' was registered by another token than '{who}'")))
            }
            _ => Err(HiveError::Conflict(format!("worker '{id}' is not an HTTP worker"))),
        }
    }

    pub(super) fn http_session(&self, id: &str, who: &str) -> Result<HttpSession, HiveError> {
        let (w, h) = self.http_worker(id, who)?;
        w.last_seen.store(now_ms(), Ordering::Relaxed);
        Ok(h.session.clone())
    }

    /// The next task given to registration `epoch` of worker `id` that is
    /// still its own and not taken: taken now, its lease renewed. The
    /// answer goes to `reply`; if the poll is gone by then, the task is
    /// handed back at once.
    pub(super) async fn http_take(
        &mut self,
        id: &Arc<str>,
        epoch: u64,
        reply: RpcReplyPort<Result<Option<Assignment>, HiveError>>,
    ) {
        let taken = self.take_next(id, epoch);
        let task = taken.as_ref().ok().and_then(|a| a.as_ref()).map(|a| Arc::<str>::from(a.task_id.as_str()));
        if reply.send(taken).is_err()
            && let Some(task) = task
            && self.untake(id, &task)
        {
            self.dispatch().await;
        }
    }

    fn take_next(&mut self, id: &Arc<str>, epoch: u64) -> Result<Option<Assignment>, HiveError> {
        let lease = self.args.opts.lease;
        let Some(w) = self.workers.get_mut(id) else { return Err(HiveError::worker(id.as_ref())) };
        let Link::Http(h) = &mut w.link else { return Err(HiveError::worker(id.as_ref())) };
        if h.session.epoch != epoch {
            return Err(HiveError::worker(id.as_ref()));
        }
        w.last_seen.store(now_ms(), Ordering::Relaxed);
        // Every entry is one of its running tasks (a task that ends leaves
        // `given`); the checks only keep that true if it ever were not.
        while let Some(tid) = h.given.pop_front() {
            let Some(t) = self.tasks.get_mut(&tid).filter(|t| t.worker.as_ref() == Some(id) && !t.taken) else {
                continue;
            };
            t.taken = true;
            t.lease = Some(Instant::now() + lease);
            return Ok(Some(Assignment {
                task_id: t.id.to_string(),
                prompt: t.prompt.clone(),
                model: t.model.clone(),
                context: t.context.clone(),
                priority: t.key.0,
                capabilities: t.caps.clone(),
                swarm: (*t.swarm != *DISPATCH_SWARM).then(|| t.swarm.to_string()),
                agent: t.agent.clone(),
                lease_ms: lease.as_millis() as u64,
            }));
        }
        Ok(None)
    }

    /// A task a poll of registration `epoch` took but could not deliver.
    pub(super) async fn http_hand_back(&mut self, id: &Arc<str>, epoch: u64, task: &Arc<str>) {
        let current =
            self.workers.get(id).is_some_and(|w| matches!(&w.link, Link::Http(h) if h.session.epoch == epoch));
        if current && self.untake(id, task) {
            self.dispatch().await;
        }
    }

    /// Puts a task worker `id` took but never received back in the queue:
    /// the worker's slot is freed and the task goes to the next free
    /// worker (the attempt stays counted, the handoff does not fail it).
    /// Whether it did.
    fn untake(&mut self, id: &Arc<str>, task: &Arc<str>) -> bool {
        let Some(t) = self.tasks.get_mut(task).filter(|t| t.worker.as_ref() == Some(id) && t.taken) else {
            return false;
        };
        (t.worker, t.lease, t.taken) = (None, None, false);
        let key = t.key;
        if let Some(w) = self.workers.get_mut(id) {
            w.running.remove(task);
        }
        self.queue.push(key, task.clone());
        self.args.tasks.requeued(task);
        let t = &self.tasks[task];
        self.emit_task(t, EventKind::TaskRequeued { task_id: task.clone(), attempt: t.attempts + 1 });
        true
    }

    pub(super) fn http_heartbeat(&mut self, id: &str, who: &str) -> Result<(), HiveError> {
        let (w, _) = self.http_worker(id, who)?;
        w.last_seen.store(now_ms(), Ordering::Relaxed);
        let held: Vec<Arc<str>> = w.running.iter().cloned().collect();
        let lease = Instant::now() + self.args.opts.lease;
        for t in &held {
            // A task given but never taken keeps the lease of its assignment.
            if let Some(t) = self.tasks.get_mut(t).filter(|t| t.taken) {
                t.lease = Some(lease);
            }
        }
        Ok(())
    }

    pub(super) async fn http_report(
        &mut self,
        id: &str,
        who: &str,
        task: &str,
        report: HttpReport,
    ) -> Result<(), HiveError> {
        let (w, _) = self.http_worker(id, who)?;
        let wid = w.id.clone();
        if self.owned(task, &wid).is_none_or(|t| !t.taken) {
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
            .filter(|w| matches!(w.link, Link::Http(_)))
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
