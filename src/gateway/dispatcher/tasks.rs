//! The tasks' side of the dispatcher: a submitted task (bounded queue and
//! prompt, opened in the task book, recorded unless it is a swarm agent's),
//! its place in the queue and its deadline, dispatch to free workers in
//! queue order, its one end (completed, failed, cancelled, timed out), and
//! the open tasks taken back when the dispatcher starts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::RpcReplyPort;

use super::{State, Task};
use crate::HiveError;
use crate::events::EventKind;
use crate::gateway::protocol::GatewayMsg;
use crate::gateway::queue::{Candidate, QueueKey, choose};
use crate::gateway::{DISPATCH_SWARM, DispatchRequest, Dispatched, Submit};
use crate::task::{FailCode, Journal, TaskEnd, TaskRecord, TaskStatus, Transport};

/// Longest prompt accepted.
const MAX_PROMPT_BYTES: usize = 1 << 20;

/// How long a starting dispatcher waits for the store to have what the
/// book handed it before it reads the open tasks back.
const SYNC_WAIT: Duration = Duration::from_secs(5);

impl State {
    pub(super) async fn submit(
        &mut self,
        req: DispatchRequest,
        how: Submit,
        reply: RpcReplyPort<Result<Dispatched, HiveError>>,
    ) {
        if self.tasks.len() >= self.args.opts.max_queue {
            let _ = reply.send(Err(HiveError::Full("the dispatch queue is full".into())));
            return;
        }
        if req.prompt.len() > MAX_PROMPT_BYTES {
            let _ = reply.send(Err(HiveError::BadRequest("the prompt is over 1 MiB".into())));
            return;
        }
        let id: Arc<str> = uuid::Uuid::now_v7().to_string().into();
        let swarm: Arc<str> = req.swarm.as_deref().map(Into::into).unwrap_or_else(|| self.swarm.clone());
        // A swarm agent's dispatch names its agent (a restarted dispatcher
        // takes it back from the book under that agent).
        let target = req.agent.as_deref().unwrap_or("");
        let mut r = TaskRecord::queued(&id, Transport::Dispatch, &swarm, target, &req.prompt, "api");
        r.priority = req.priority;
        r.capabilities = req.capabilities.clone();
        r.model = req.model.clone();
        r.context = req.context.clone();
        r.submitted_by = req.submitted_by.clone();
        r.tick = req.tick.clone();
        // A swarm agent's task is recorded by its swarm, under the agent's own id.
        let journal = if req.agent.is_none() { Journal::Record } else { Journal::Skip };
        let mut opened = self.args.tasks.open(r, journal, how.follows()).await;
        let timeout = req.timeout.unwrap_or(self.args.opts.task_timeout);
        let task = Task {
            id: id.clone(),
            prompt: req.prompt,
            model: req.model,
            context: req.context,
            caps: req.capabilities,
            key: self.place(req.priority),
            attempts: 0,
            deadline: Instant::now() + timeout,
            swarm,
            agent: req.agent,
            worker: None,
            lease: None,
            taken: false,
        };
        // A caller that waits for the result is not made to wait for the
        // disk; one that is only acknowledged waits for the record. The
        // book hands the record to the store before any change of it.
        let durable = match how {
            Submit::Follow => None,
            Submit::Queue | Submit::QueueAndFollow => opened.durable.take(),
        };
        self.tasks.insert(id.clone(), task);
        let _ = reply.send(Ok(Dispatched { id: id.clone(), follower: opened.follower, durable }));
        self.enqueue(&id).await;
    }

    /// A new task's place in the queue: its priority (default 5), then arrival.
    pub(super) fn place(&mut self, priority: Option<u8>) -> QueueKey {
        self.seq += 1;
        (priority.unwrap_or(5).max(1), self.seq)
    }

    /// Puts a task of the table in the queue and under its deadline.
    pub(super) fn wait_in_queue(&mut self, id: &Arc<str>) {
        let t = &self.tasks[id];
        self.queue.push(t.key, id.clone());
        self.deadlines.insert((t.deadline, id.clone()), ());
    }

    /// Queues a new task, tells it, and dispatches.
    pub(super) async fn enqueue(&mut self, id: &Arc<str>) {
        self.wait_in_queue(id);
        self.emit_task(&self.tasks[id], EventKind::TaskQueued { task_id: id.clone(), from: "api".into() });
        self.dispatch().await;
    }

    /// Assigns waiting tasks to free workers, in queue order.
    pub(super) async fn dispatch(&mut self) {
        let mut free: u32 =
            self.workers.values().filter(|w| w.accepting).map(|w| w.slots.saturating_sub(w.running.len() as u32)).sum();
        if free == 0 || self.queue.len() == 0 {
            return;
        }
        // At most the first 4096 waiting tasks are looked at, one at a time.
        let mut cursor = None;
        for _ in 0..4096 {
            if free == 0 {
                break;
            }
            let Some((key, id)) = self.queue.next_after(cursor) else { break };
            cursor = Some(key);
            let task = &self.tasks[&id];
            let candidates = self.workers.values().map(|w| Candidate {
                id: &w.id,
                capabilities: &w.caps,
                free: w.slots.saturating_sub(w.running.len() as u32),
                accepting: w.accepting,
                last_assigned: w.last_assigned,
            });
            let Some(wid) = choose(candidates, &task.caps).cloned() else { continue };
            self.queue.remove(&key);
            self.clock += 1;
            let w = self.workers.get_mut(&wid).expect("chosen from the table");
            w.running.insert(id.clone());
            w.last_assigned = self.clock;
            let link = w.link.transport();
            let http = link == crate::gateway::WorkerTransport::Http;
            let t = self.tasks.get_mut(&id).expect("checked above");
            t.worker = Some(wid.clone());
            t.attempts += 1;
            t.lease = http.then(|| Instant::now() + self.args.opts.lease);
            t.taken = false;
            free -= 1;
            self.args.tasks.started_on(&id, &wid);
            self.args.tasks.in_span(
                &id,
                || tracing::debug!(target: "hive::task", worker = %wid, link = link.as_str(), "task assigned"),
            );
            let (t, w) = (&self.tasks[&id], self.workers.get_mut(&wid).expect("chosen from the table"));
            if let super::Link::Http(h) = &mut w.link {
                // It waits for a poll, which asks for it (`http_take`).
                h.given.push_back(id.clone());
                h.session.ready.notify_one();
            } else {
                let msg = GatewayMsg::Task {
                    task_id: &t.id,
                    prompt: &t.prompt,
                    model: t.model.as_deref(),
                    context: t.context.as_deref(),
                    priority: t.key.0,
                    swarm: (*t.swarm != *DISPATCH_SWARM).then_some(&*t.swarm),
                    agent: t.agent.as_deref(),
                };
                self.send(&self.workers[&wid], &msg).await;
            }
            let t = &self.tasks[&id];
            self.emit_task(t, EventKind::TaskStarted { task_id: id.clone() });
        }
    }

    /// Ends a task once: the book (and so its followers), its events, the
    /// worker's slot.
    pub(super) async fn finish(&mut self, id: &str, end: TaskEnd) {
        let Some(t) = self.tasks.remove(id) else { return };
        self.queue.remove(&t.key);
        self.deadlines.remove(&(t.deadline, t.id.clone()));
        if let Some(w) = t.worker.as_ref().and_then(|w| self.workers.get_mut(w)) {
            w.running.remove(&t.id);
            if let super::Link::Http(h) = &mut w.link
                && !t.taken
            {
                h.given.retain(|g| *g != t.id);
            }
        }
        // Announced under the book's lock, so the end and its events commit
        // together (a standalone worker's agent only reports the end to us;
        // `emit_task` leaves a zmq agent's dispatch to the agent, whose own
        // task it is part of).
        self.args.tasks.end_then(&t.id, end, |end| {
            for kind in end.events(&t.id) {
                self.emit_task(&t, kind);
            }
        });
    }

    pub(super) async fn cancel(&mut self, id: &str) -> Result<(), HiveError> {
        if !self.tasks.contains_key(id) {
            return Err(HiveError::task(id));
        }
        self.abort(id, TaskEnd::Cancelled).await;
        self.dispatch().await;
        Ok(())
    }

    /// Ends a task that may be running: its worker is told to cancel it.
    pub(super) async fn abort(&mut self, id: &str, end: TaskEnd) {
        if let Some(w) = self.tasks.get(id).and_then(|t| t.worker.as_ref()).and_then(|w| self.workers.get(w)) {
            self.send(w, &GatewayMsg::Cancel { task_id: id }).await;
        }
        self.finish(id, end).await;
    }

    pub(super) async fn expire(&mut self) {
        let now = Instant::now();
        let due: Vec<Arc<str>> = self.deadlines.range(..(now, Arc::from(""))).map(|((_, id), _)| id.clone()).collect();
        if due.is_empty() {
            return; // nothing freed: no reason to scan the queue
        }
        for id in due {
            let end = TaskEnd::failed(FailCode::Timeout, "the task did not finish within its timeout");
            self.abort(&id, end).await;
        }
        self.dispatch().await;
    }

    /// Takes back the open dispatched tasks, oldest first: those recorded in
    /// the store that the book does not know (a restarted daemon: the book
    /// adopts them), then every one the book holds open (a restarted
    /// dispatcher: the book kept them, with their followers). A running one
    /// counts as an attempt and is requeued; each gets the gateway's
    /// default timeout from now.
    pub(super) async fn restore(&mut self) {
        if let Some(store) = self.args.reader.clone() {
            // What the book handed the store is written before it is read back.
            let _ = tokio::time::timeout(SYNC_WAIT, self.args.tasks.synced()).await;
            let open = tokio::task::spawn_blocking(move || store.tasks(&[TaskStatus::Queued, TaskStatus::Running]));
            if let Ok(Ok(open)) = open.await {
                for r in open.into_iter().filter(|r| r.transport() == Transport::Dispatch) {
                    if self.args.tasks.get(&r.id).is_none() {
                        self.args.tasks.adopt(r);
                    }
                }
            }
        }
        let book = &self.args.tasks;
        let mut open: Vec<TaskRecord> = book
            .open_ids(|r| r.transport() == Transport::Dispatch)
            .iter()
            .filter_map(|id| book.get(id))
            .filter(|r| !r.status.is_final())
            .collect();
        open.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        for r in open {
            self.take_back(r);
        }
    }

    /// Queues an open task of the book again.
    fn take_back(&mut self, r: TaskRecord) {
        let id: Arc<str> = r.id.as_str().into();
        let t = Task {
            id: id.clone(),
            key: self.place(r.priority),
            attempts: r.attempts,
            deadline: Instant::now() + self.args.opts.task_timeout,
            swarm: r.swarm.as_str().into(),
            agent: (!r.target.is_empty()).then_some(r.target),
            worker: None,
            lease: None,
            taken: false,
            prompt: r.content,
            model: r.model,
            context: r.context,
            caps: r.capabilities,
        };
        if r.status == TaskStatus::Running {
            self.args.tasks.requeued(&id);
            self.emit_task(&t, EventKind::TaskRequeued { task_id: id.clone(), attempt: t.attempts + 1 });
        }
        self.tasks.insert(id.clone(), t);
        self.wait_in_queue(&id);
    }
}
