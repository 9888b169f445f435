//! The workers' side of the dispatcher: a ZeroMQ worker's registration
//! (token, identity, no duplicate, the bound on workers) and the
//! connection actor that watches its liveness, a local pool worker's
//! attachment, the frames a registered worker sends (tokens and ends of the
//! tasks it holds; anything about a task it no longer holds is ignored and
//! told), what the dispatcher sends a worker in the link it came by, and a
//! worker gone (its tasks requeued, up to `max_attempts`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorRef};
use serde_json::Value;

use super::{DispatcherMsg, Link, LocalCmd, LocalWorker, State, Task, Worker};
use crate::HiveError;
use crate::events::{EventKind, Level, OutputKind, now_ms};
use crate::gateway::conn::{Conn, ConnArgs};
use crate::gateway::protocol::{self, GatewayMsg, ResultStatus, WorkerMsg};
use crate::gateway::socket::{Inbound, Outbound};
use crate::gateway::{WorkerState, ZmqWorker};
use crate::task::{FailCode, TaskEnd};

impl Worker {
    /// The worker as listed.
    pub(super) fn view(&self) -> ZmqWorker {
        let w = self;
        let status = if !w.accepting {
            WorkerState::Draining
        } else if w.running.len() as u32 >= w.slots {
            WorkerState::Busy
        } else {
            WorkerState::Ready
        };
        let mut running: Vec<String> = w.running.iter().map(|t| t.to_string()).collect();
        running.sort();
        let transport = w.link.transport();
        ZmqWorker {
            worker_id: w.id.to_string(),
            transport,
            status,
            capabilities: w.caps_list.clone(),
            slots: w.slots,
            current_task: running.first().cloned(),
            running,
            connected_at: w.connected_at,
            last_heartbeat: w.last_seen.load(Ordering::Relaxed),
            tags: w.tags.clone(),
        }
    }
}

impl State {
    pub(super) async fn send(&self, w: &Worker, msg: &GatewayMsg<'_>) {
        match &w.link {
            Link::Zmq { identity, empty_delimiter } => {
                let o = Outbound {
                    identity: identity.clone(),
                    empty_delimiter: *empty_delimiter,
                    payload: protocol::encode(msg),
                };
                self.socket.send(o).await;
            }
            Link::Local(tx) => {
                let cmd = match msg {
                    GatewayMsg::Task { task_id, prompt, .. } => {
                        LocalCmd::Task { task_id: (*task_id).into(), prompt: prompt.to_string() }
                    }
                    GatewayMsg::Cancel { task_id } => LocalCmd::Cancel((*task_id).into()),
                    GatewayMsg::Rejected { .. } => return,
                };
                let _ = tx.send(cmd).await;
            }
            // An HTTP worker's poll takes its tasks (`http_take`); a cancel
            // reaches it as the 409 of its next report.
            Link::Http(_) => {}
        }
    }

    pub(super) fn attach_local(&mut self, w: LocalWorker) -> Result<(), HiveError> {
        if self.workers.contains_key(&w.id) {
            return Err(HiveError::Conflict(format!("worker id '{}' is taken", w.id)));
        }
        let last_seen = Arc::new(AtomicU64::new(now_ms()));
        let tags = serde_json::json!({"kind": "jsonl"});
        self.admit(w.id, Link::Local(w.tx), w.capabilities, w.slots.max(1), last_seen, tags, None);
        Ok(())
    }

    /// A new worker of any transport joins: told, and in the table.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn admit(
        &mut self,
        id: Arc<str>,
        link: Link,
        capabilities: Vec<String>,
        slots: u32,
        last_seen: Arc<AtomicU64>,
        tags: Value,
        conn: Option<ractor::ActorCell>,
    ) {
        if let Some(c) = &conn {
            self.by_conn.insert(c.get_id(), id.clone());
        }
        self.clock += 1;
        self.emit(Some(&id), EventKind::WorkerConnected { capabilities: capabilities.clone(), slots });
        let worker = Worker {
            id: id.clone(),
            link,
            caps: capabilities.iter().cloned().collect(),
            caps_list: capabilities,
            slots,
            running: Default::default(),
            accepting: true,
            connected_at: now_ms(),
            last_seen,
            last_assigned: self.clock,
            tags,
            conn,
        };
        self.workers.insert(id, worker);
    }

    /// The connection actor that watches a worker's liveness (linked: its
    /// exit is how the dispatcher learns the worker is gone).
    pub(super) async fn watch(
        &self,
        myself: &ActorRef<DispatcherMsg>,
        last_seen: &Arc<AtomicU64>,
        timeout: std::time::Duration,
    ) -> Result<ractor::ActorCell, String> {
        let args = ConnArgs { last_seen: last_seen.clone(), timeout };
        Actor::spawn_linked(None, Conn, args, myself.get_cell())
            .await
            .map(|(c, _)| c.get_cell())
            .map_err(|e| e.to_string())
    }

    pub(super) async fn reject(&self, identity: Arc<[u8]>, empty_delimiter: bool, reason: &str) {
        let o = Outbound { identity, empty_delimiter, payload: protocol::encode(&GatewayMsg::Rejected { reason }) };
        self.socket.send(o).await;
        self.emit(None, EventKind::WorkerRejected { reason: reason.into() });
    }

    pub(super) async fn frame(&mut self, myself: &ActorRef<DispatcherMsg>, f: Inbound) {
        let known = self.by_identity.get(&f.identity).cloned();
        match (f.msg, known) {
            (WorkerMsg::Ready { worker_id, capabilities, slots, token, tags }, None) => {
                self.register(myself, f.identity, f.empty_delimiter, worker_id, capabilities, slots, token, tags).await
            }
            (WorkerMsg::Heartbeat { worker_id }, None) => {
                self.reject(
                    f.identity,
                    f.empty_delimiter,
                    &format!("worker '{worker_id}' is not registered: send ready"),
                )
                .await
            }
            (_, None) => self.emit(
                None,
                EventKind::FrameRejected {
                    reason: format!("worker {} is not registered", String::from_utf8_lossy(&f.identity)),
                },
            ),
            (msg, Some(id)) => self.worker_said(id, msg).await,
        }
    }

    /// A message from a registered worker (ZeroMQ or local).
    pub(super) async fn worker_said(&mut self, id: Arc<str>, msg: WorkerMsg) {
        if let Some(w) = self.workers.get(&id) {
            w.last_seen.store(now_ms(), Ordering::Relaxed);
        }
        match (msg, id) {
            // A heartbeat frees no slot and adds no capability: nothing new
            // can be placed, so it costs no scan of the queue.
            (WorkerMsg::Heartbeat { .. }, _) => {}
            (WorkerMsg::Ready { .. }, _) => self.dispatch().await,
            (WorkerMsg::Log { level, message }, id) => {
                let level = crate::events::EventFilter::parse_level(&level).unwrap_or(Level::Info);
                self.emit(Some(&id), EventKind::Log { level, message });
            }
            (WorkerMsg::Token { task_id, content }, id) => match self.owned(&task_id, &id) {
                Some(t) => {
                    self.args.tasks.token(&t.id, &content);
                    let kind =
                        EventKind::AgentOutput { task_id: Some(t.id.clone()), output: OutputKind::Token, content };
                    self.emit_task(t, kind);
                }
                None => self.ignored(&task_id, &id),
            },
            (WorkerMsg::Result { task_id, content, status }, id) => {
                let end = match status.unwrap_or(ResultStatus::Ok) {
                    ResultStatus::Ok => TaskEnd::Completed { content },
                    ResultStatus::Failed => TaskEnd::failed(FailCode::WorkerError, content),
                };
                self.worker_ended(&id, &task_id, end).await;
            }
            (WorkerMsg::Error { task_id, message, code }, id) => {
                let code = code.as_deref().map_or(FailCode::WorkerError, FailCode::reported);
                self.worker_ended(&id, &task_id, TaskEnd::Failed { code, message }).await;
            }
        }
    }

    /// A worker's end of a task it runs (ignored, and told, if it no longer does).
    pub(super) async fn worker_ended(&mut self, worker: &Arc<str>, task_id: &str, end: TaskEnd) {
        if self.owned(task_id, worker).is_none() {
            return self.ignored(task_id, worker);
        }
        self.finish(task_id, end).await;
        self.dispatch().await;
    }

    /// The task, if worker `id` is the one running it.
    pub(super) fn owned(&self, task_id: &str, id: &Arc<str>) -> Option<&Task> {
        self.tasks.get(task_id).filter(|t| t.worker.as_ref() == Some(id))
    }

    pub(super) fn ignored(&self, task_id: &str, worker: &Arc<str>) {
        let reason = match self.tasks.get(task_id) {
            Some(_) => "the task was reassigned to another worker",
            None => "the task has already ended (completed, cancelled, timed out or unknown)",
        };
        self.emit(Some(worker), EventKind::ResultIgnored { task_id: task_id.into(), reason: reason.into() });
    }

    /// Whether a `ready` token is accepted. `ready` is checked once the
    /// shared gateway token is set or a `worker` token is listed; then the
    /// shared token or a token whose role allows the worker's (worker,
    /// admin) is accepted.
    fn admits(&self, given: Option<&str>) -> bool {
        use crate::access::Role;
        let table = self.args.opts.tokens.current();
        if self.args.opts.token.is_none() && !table.has_role(Role::Worker) {
            return true;
        }
        given.is_some_and(|given| table.worker(given, self.args.opts.token.as_deref()).is_some())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn register(
        &mut self,
        myself: &ActorRef<DispatcherMsg>,
        identity: Arc<[u8]>,
        empty_delimiter: bool,
        worker_id: String,
        capabilities: Vec<String>,
        slots: Option<u32>,
        token: Option<String>,
        tags: BTreeMap<String, Value>,
    ) {
        if !self.admits(token.as_deref()) {
            return self.reject(identity, empty_delimiter, "bad token").await;
        }
        if *identity != *worker_id.as_bytes() {
            return self.reject(identity, empty_delimiter, "worker_id must equal the socket identity").await;
        }
        if self.workers.contains_key(worker_id.as_str()) {
            return self.reject(identity, empty_delimiter, "duplicate worker id").await;
        }
        if self.workers.len() >= self.args.opts.max_workers {
            return self.reject(identity, empty_delimiter, "the gateway is full").await;
        }
        let slots = slots.unwrap_or(1).clamp(1, 10_000);
        let last_seen = Arc::new(AtomicU64::new(now_ms()));
        let conn = match self.watch(myself, &last_seen, self.args.opts.heartbeat_timeout).await {
            Ok(c) => c,
            Err(e) => return self.reject(identity, empty_delimiter, &format!("internal: {e}")).await,
        };
        let id: Arc<str> = worker_id.into();
        self.by_identity.insert(identity.clone(), id.clone());
        let tags = serde_json::to_value(tags).unwrap_or_default();
        let link = Link::Zmq { identity, empty_delimiter };
        self.admit(id, link, capabilities, slots, last_seen, tags, Some(conn));
        self.dispatch().await;
    }

    /// Forgets a ZeroMQ worker at once, as if it had died: its connection
    /// actor is stopped (its end is then nobody's), its running tasks are
    /// requeued (up to `max_attempts`). A pool worker is refused: it is
    /// killed through the pool.
    pub(super) async fn unregister(&mut self, id: &str) -> Result<Vec<Arc<str>>, HiveError> {
        let Some(w) = self.workers.get(id) else { return Err(HiveError::worker(id)) };
        let Some(conn) = w.conn.clone() else {
            return Err(HiveError::Conflict(format!(
                "'{id}' is a standalone JSONL worker: stop it with DELETE /api/v1/agents/{{id}}/kill"
            )));
        };
        let id = w.id.clone();
        self.by_conn.remove(&conn.get_id());
        conn.stop(Some("unregistered".into()));
        Ok(self.worker_gone(&id, "unregistered through the API").await)
    }

    /// A worker is gone: its running tasks are requeued (those are
    /// answered) or, past `max_attempts`, fail with `worker_lost`.
    pub(super) async fn worker_gone(&mut self, id: &Arc<str>, why: &str) -> Vec<Arc<str>> {
        let Some(w) = self.workers.remove(id) else { return Vec::new() };
        match &w.link {
            Link::Zmq { identity, .. } => {
                self.by_identity.remove(identity);
            }
            // A poll waiting on it learns at once that it is gone.
            Link::Http(h) => h.session.ready.notify_one(),
            Link::Local(_) => {}
        }
        let mut running: Vec<Arc<str>> = w.running.into_iter().collect();
        running.sort();
        let mut requeued = Vec::new();
        for tid in running {
            let Some(t) = self.tasks.get_mut(&tid) else { continue };
            t.worker = None;
            t.taken = false;
            t.lease = None;
            if t.attempts >= self.args.opts.max_attempts {
                let msg = format!("its worker was lost {} time(s) (last: {why})", t.attempts);
                self.finish(&tid, TaskEnd::failed(FailCode::WorkerLost, msg)).await;
            } else {
                let (key, attempt) = (t.key, t.attempts + 1);
                self.queue.push(key, tid.clone());
                requeued.push(tid.clone());
                self.args.tasks.requeued(&tid);
                let t = &self.tasks[&tid];
                self.emit_task(t, EventKind::TaskRequeued { task_id: tid.clone(), attempt });
            }
        }
        self.emit(Some(id), EventKind::WorkerDisconnected { reason: why.into(), requeued: requeued.len() });
        self.dispatch().await;
        requeued
    }
}
