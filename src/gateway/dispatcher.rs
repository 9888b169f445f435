//! The dispatcher actor: the queue, the workers and their assignments (see
//! the module doc of `gateway` for its guarantees). It binds the ROUTER
//! socket in `pre_start`, and reloads the recorded tasks that were waiting
//! or running (a restarted daemon, or a restarted dispatcher, goes on with
//! them; a running one counts as an attempt).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::conn::{Conn, ConnArgs};
use super::protocol::{self, GatewayMsg, ResultStatus, WorkerMsg};
use super::queue::{Candidate, QueueKey, TaskQueue, choose};
use super::socket::{self, Inbound, Outbound};
use super::{
    DISPATCH_SWARM, DispatchRequest, Dispatched, GatewayOptions, GatewayStatus, Submit, WorkerState, ZmqWorker,
};
use crate::HiveError;
use crate::events::{EventBus, EventKind, Level, OutputKind, now_ms};
use crate::supervisor::exit_of;
use crate::task::{FailCode, Follower, Journal, TaskBook, TaskEnd, TaskRecord, TaskStatus, Transport};

/// Longest prompt accepted.
const MAX_PROMPT_BYTES: usize = 1 << 20;

/// Messages of the dispatcher.
pub(crate) enum DispatcherMsg {
    /// A decoded frame from the socket.
    Frame(Inbound),
    /// A new task, answered at once with its id, and its updates and its
    /// record's durability as `Submit` says.
    Submit(DispatchRequest, Submit, RpcReplyPort<Result<Dispatched, HiveError>>),
    /// Updates of a live task.
    Subscribe(String, RpcReplyPort<Result<Follower, HiveError>>),
    /// Cancel a waiting or running task.
    Cancel(String, RpcReplyPort<Result<(), HiveError>>),
    /// Maintenance: `false` = drain, `true` = accept again.
    Accepting(String, bool, RpcReplyPort<Result<(), HiveError>>),
    /// Connected workers.
    Workers(RpcReplyPort<Vec<ZmqWorker>>),
    /// The gateway's state.
    Status(RpcReplyPort<GatewayStatus>),
    /// Time to expire deadlines.
    Tick,
    /// A standalone JSONL worker joins the pool: tasks reach it through `tx`.
    AttachLocal(LocalWorker, RpcReplyPort<Result<(), HiveError>>),
    /// A token a local worker reports for one of its tasks.
    LocalToken(Arc<str>, Arc<str>, String),
    /// How a local worker's agent ended one of its tasks.
    LocalEnd(Arc<str>, Arc<str>, TaskEnd),
    /// A local worker is gone (killed, or failed); its tasks are requeued.
    DetachLocal(Arc<str>, String),
}

/// A standalone JSONL worker offered to the dispatcher.
pub(crate) struct LocalWorker {
    pub(crate) id: Arc<str>,
    pub(crate) capabilities: Vec<String>,
    pub(crate) slots: u32,
    pub(crate) tx: mpsc::Sender<LocalCmd>,
}

/// What the dispatcher asks of a local worker.
#[derive(Debug)]
pub(crate) enum LocalCmd {
    /// Run this task (the dispatcher's id).
    Task { task_id: Arc<str>, prompt: String },
    /// Abort it.
    Cancel(Arc<str>),
}

/// How the dispatcher reaches a worker.
enum Link {
    /// A ZeroMQ DEALER, answered in the framing it used.
    Zmq { identity: Arc<[u8]>, empty_delimiter: bool },
    /// A standalone JSONL worker of the pool.
    Local(mpsc::Sender<LocalCmd>),
}

/// Start arguments.
pub(crate) struct DispatcherArgs {
    pub(crate) opts: GatewayOptions,
    pub(crate) bus: EventBus,
    /// Where tasks are opened and ended (and, with a store, recorded).
    pub(crate) tasks: TaskBook,
    /// The store, to reload the tasks that were open.
    pub(crate) reader: Option<crate::store::Store>,
}

struct Task {
    id: Arc<str>,
    prompt: String,
    model: Option<String>,
    context: Option<String>,
    caps: Vec<String>,
    /// Its place in the queue: (priority, arrival).
    key: QueueKey,
    attempts: u32,
    deadline: Instant,
    swarm: Arc<str>,
    agent: Option<String>,
    worker: Option<Arc<str>>,
}

struct Worker {
    id: Arc<str>,
    link: Link,
    caps: HashSet<String>,
    caps_list: Vec<String>,
    slots: u32,
    running: HashSet<Arc<str>>,
    accepting: bool,
    connected_at: u64,
    last_seen: Arc<AtomicU64>,
    last_assigned: u64,
    tags: Value,
}

/// The dispatcher's state.
pub(crate) struct State {
    args: DispatcherArgs,
    out: mpsc::Sender<Outbound>,
    endpoint: String,
    stop: watch::Sender<bool>,
    tasks: HashMap<Arc<str>, Task>,
    queue: TaskQueue,
    deadlines: BTreeMap<(Instant, Arc<str>), ()>,
    workers: HashMap<Arc<str>, Worker>,
    by_identity: HashMap<Arc<[u8]>, Arc<str>>,
    by_conn: HashMap<ractor::ActorId, Arc<str>>,
    seq: u64,
    clock: u64,
    swarm: Arc<str>,
    /// Frames the socket handed over and this actor has not handled yet.
    frames: Arc<std::sync::atomic::AtomicUsize>,
}

/// The dispatcher actor.
#[derive(Clone, Copy)]
pub(crate) struct Dispatcher;

impl Actor for Dispatcher {
    type Msg = DispatcherMsg;
    type State = State;
    type Arguments = DispatcherArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<DispatcherMsg>,
        args: DispatcherArgs,
    ) -> Result<State, ActorProcessingErr> {
        let (stop, stopped) = watch::channel(false);
        let frames = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (out, endpoint) =
            socket::start(&args.opts.endpoint, myself.clone(), args.bus.clone(), stopped, frames.clone())?;
        myself.send_interval(Duration::from_millis(100), || DispatcherMsg::Tick);
        let mut s = State {
            args,
            out,
            endpoint,
            stop,
            tasks: HashMap::new(),
            queue: TaskQueue::default(),
            deadlines: BTreeMap::new(),
            workers: HashMap::new(),
            by_identity: HashMap::new(),
            by_conn: HashMap::new(),
            seq: 0,
            clock: 0,
            swarm: DISPATCH_SWARM.into(),
            frames,
        };
        s.reload().await;
        Ok(s)
    }

    async fn post_stop(&self, _: ActorRef<DispatcherMsg>, s: &mut State) -> Result<(), ActorProcessingErr> {
        let _ = s.stop.send(true);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<DispatcherMsg>,
        msg: DispatcherMsg,
        s: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DispatcherMsg::Frame(f) => {
                s.frames.fetch_sub(1, Ordering::Relaxed);
                s.args.bus.ready().await; // a worker's frames become events: wait while the disk is behind
                s.frame(&myself, f).await
            }
            DispatcherMsg::Submit(req, how, reply) => s.submit(req, how, reply).await,
            DispatcherMsg::Subscribe(id, reply) => {
                let r = match s.tasks.contains_key(&*id) {
                    true => s.args.tasks.follow(&id).ok_or(HiveError::task(id)),
                    false => Err(HiveError::task(id)),
                };
                let _ = reply.send(r);
            }
            DispatcherMsg::Cancel(id, reply) => {
                let r = s.cancel(&id).await;
                let _ = reply.send(r);
            }
            DispatcherMsg::Accepting(id, on, reply) => {
                let r = match s.workers.get_mut(&*id) {
                    Some(w) => {
                        w.accepting = on;
                        let id = w.id.clone();
                        s.emit(Some(&id), EventKind::WorkerMaintenance { accepting: on });
                        Ok(())
                    }
                    None => Err(HiveError::worker(id)),
                };
                if on {
                    s.dispatch().await;
                }
                let _ = reply.send(r);
            }
            DispatcherMsg::Workers(reply) => {
                let mut list: Vec<ZmqWorker> = s.workers.values().map(view).collect();
                list.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
                let _ = reply.send(list);
            }
            DispatcherMsg::Status(reply) => {
                let _ = reply.send(GatewayStatus {
                    enabled: true,
                    port: s.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0),
                    endpoint: s.endpoint.clone(),
                    connected: s.workers.len(),
                    queue_depth: s.queue.len(),
                    running: s.workers.values().map(|w| w.running.len()).sum(),
                });
            }
            DispatcherMsg::Tick => s.expire().await,
            DispatcherMsg::AttachLocal(w, reply) => {
                let r = s.attach_local(w);
                let _ = reply.send(r);
                s.dispatch().await;
            }
            DispatcherMsg::LocalToken(id, task_id, content) => {
                s.args.bus.ready().await;
                if s.workers.contains_key(&id) {
                    s.worker_said(id, WorkerMsg::Token { task_id: task_id.to_string(), content }).await;
                }
            }
            DispatcherMsg::LocalEnd(id, task_id, end) => {
                if s.workers.contains_key(&id) {
                    s.worker_ended(&id, &task_id, end).await;
                }
            }
            DispatcherMsg::DetachLocal(id, why) => s.worker_gone(&id, &why).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<DispatcherMsg>,
        e: SupervisionEvent,
        s: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some((cell, reason)) = exit_of(e)
            && let Some(id) = s.by_conn.remove(&cell.get_id())
        {
            let why = match reason {
                crate::supervisor::ExitReason::Failed(r) => r,
                other => other.to_string(),
            };
            s.worker_gone(&id, &why).await;
        }
        Ok(())
    }
}

fn view(w: &Worker) -> ZmqWorker {
    let status = if !w.accepting {
        WorkerState::Draining
    } else if w.running.len() as u32 >= w.slots {
        WorkerState::Busy
    } else {
        WorkerState::Ready
    };
    let mut running: Vec<String> = w.running.iter().map(|t| t.to_string()).collect();
    running.sort();
    ZmqWorker {
        worker_id: w.id.to_string(),
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

impl State {
    fn emit(&self, agent: Option<&Arc<str>>, kind: EventKind) {
        self.args.bus.emit(Some(&self.swarm), agent, kind);
    }

    /// A task's lifecycle event. A swarm agent's task is quiet here: the
    /// agent reports its own lifecycle (only requeues are told).
    fn emit_task(&self, t: &Task, kind: EventKind) {
        if t.agent.is_some() && !matches!(kind, EventKind::TaskRequeued { .. }) {
            return;
        }
        let agent: Option<Arc<str>> = t.agent.as_deref().map(Into::into).or_else(|| t.worker.clone());
        self.args.bus.emit(Some(&t.swarm), agent.as_ref(), kind);
    }

    async fn send(&self, w: &Worker, msg: &GatewayMsg<'_>) {
        match &w.link {
            Link::Zmq { identity, empty_delimiter } => {
                let o = Outbound {
                    identity: identity.clone(),
                    empty_delimiter: *empty_delimiter,
                    payload: protocol::encode(msg),
                };
                let _ = self.out.send(o).await;
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
        }
    }

    fn attach_local(&mut self, w: LocalWorker) -> Result<(), HiveError> {
        if self.workers.contains_key(&w.id) {
            return Err(HiveError::Conflict(format!("worker id '{}' is taken", w.id)));
        }
        self.clock += 1;
        let slots = w.slots.max(1);
        self.emit(Some(&w.id), EventKind::WorkerConnected { capabilities: w.capabilities.clone(), slots });
        self.workers.insert(
            w.id.clone(),
            Worker {
                id: w.id,
                link: Link::Local(w.tx),
                caps: w.capabilities.iter().cloned().collect(),
                caps_list: w.capabilities,
                slots,
                running: HashSet::new(),
                accepting: true,
                connected_at: now_ms(),
                last_seen: Arc::new(AtomicU64::new(now_ms())),
                last_assigned: self.clock,
                tags: serde_json::json!({"kind": "jsonl"}),
            },
        );
        Ok(())
    }

    async fn reject(&self, identity: Arc<[u8]>, empty_delimiter: bool, reason: &str) {
        let o = Outbound { identity, empty_delimiter, payload: protocol::encode(&GatewayMsg::Rejected { reason }) };
        let _ = self.out.send(o).await;
        self.emit(None, EventKind::WorkerRejected { reason: reason.into() });
    }

    async fn frame(&mut self, myself: &ActorRef<DispatcherMsg>, f: Inbound) {
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
    async fn worker_said(&mut self, id: Arc<str>, msg: WorkerMsg) {
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
    async fn worker_ended(&mut self, worker: &Arc<str>, task_id: &str, end: TaskEnd) {
        if self.owned(task_id, worker).is_none() {
            return self.ignored(task_id, worker);
        }
        self.finish(task_id, end).await;
        self.dispatch().await;
    }

    /// The task, if worker `id` is the one running it.
    fn owned(&self, task_id: &str, id: &Arc<str>) -> Option<&Task> {
        self.tasks.get(task_id).filter(|t| t.worker.as_ref() == Some(id))
    }

    fn ignored(&self, task_id: &str, worker: &Arc<str>) {
        let reason = match self.tasks.get(task_id) {
            Some(_) => "the task was reassigned to another worker",
            None => "the task has already ended (completed, cancelled, timed out or unknown)",
        };
        self.emit(Some(worker), EventKind::ResultIgnored { task_id: task_id.into(), reason: reason.into() });
    }

    #[allow(clippy::too_many_arguments)]
    async fn register(
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
        if let Some(expected) = &self.args.opts.token
            && !token.as_deref().is_some_and(|t| crate::token::matches(t, expected))
        {
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
        let args = ConnArgs { last_seen: last_seen.clone(), timeout: self.args.opts.heartbeat_timeout };
        let conn = match Actor::spawn_linked(None, Conn, args, myself.get_cell()).await {
            Ok((c, _)) => c,
            Err(e) => return self.reject(identity, empty_delimiter, &format!("internal: {e}")).await,
        };
        let id: Arc<str> = worker_id.into();
        self.by_conn.insert(conn.get_id(), id.clone());
        self.by_identity.insert(identity.clone(), id.clone());
        self.clock += 1;
        let caps: HashSet<String> = capabilities.iter().cloned().collect();
        self.emit(Some(&id), EventKind::WorkerConnected { capabilities: capabilities.clone(), slots });
        self.workers.insert(
            id.clone(),
            Worker {
                id,
                link: Link::Zmq { identity, empty_delimiter },
                caps,
                caps_list: capabilities,
                slots,
                running: HashSet::new(),
                accepting: true,
                connected_at: now_ms(),
                last_seen,
                last_assigned: self.clock,
                tags: serde_json::to_value(tags).unwrap_or_default(),
            },
        );
        self.dispatch().await;
    }

    async fn submit(&mut self, req: DispatchRequest, how: Submit, reply: RpcReplyPort<Result<Dispatched, HiveError>>) {
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
        let mut r = TaskRecord::queued(&id, Transport::Dispatch, &swarm, "", &req.prompt, "api");
        r.priority = req.priority;
        r.capabilities = req.capabilities.clone();
        r.model = req.model.clone();
        r.context = req.context.clone();
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
    fn place(&mut self, priority: Option<u8>) -> QueueKey {
        self.seq += 1;
        (priority.unwrap_or(5).max(1), self.seq)
    }

    /// Puts a task of the table in the queue and under its deadline.
    fn wait_in_queue(&mut self, id: &Arc<str>) {
        let t = &self.tasks[id];
        self.queue.push(t.key, id.clone());
        self.deadlines.insert((t.deadline, id.clone()), ());
    }

    /// Queues a new task, tells it, and dispatches.
    async fn enqueue(&mut self, id: &Arc<str>) {
        self.wait_in_queue(id);
        self.emit_task(&self.tasks[id], EventKind::TaskQueued { task_id: id.clone(), from: "api".into() });
        self.dispatch().await;
    }

    /// Assigns waiting tasks to free workers, in queue order.
    async fn dispatch(&mut self) {
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
            let t = self.tasks.get_mut(&id).expect("checked above");
            t.worker = Some(wid.clone());
            t.attempts += 1;
            free -= 1;
            self.args.tasks.started(&id);
            let (t, w) = (&self.tasks[&id], &self.workers[&wid]);
            let msg = GatewayMsg::Task {
                task_id: &t.id,
                prompt: &t.prompt,
                model: t.model.as_deref(),
                context: t.context.as_deref(),
                priority: t.key.0,
                swarm: (*t.swarm != *DISPATCH_SWARM).then_some(&*t.swarm),
                agent: t.agent.as_deref(),
            };
            self.send(w, &msg).await;
            self.emit_task(t, EventKind::TaskStarted { task_id: id.clone() });
        }
    }

    /// Ends a task once: the book (and so its followers), its events, the
    /// worker's slot.
    async fn finish(&mut self, id: &str, end: TaskEnd) {
        let Some(t) = self.tasks.remove(id) else { return };
        self.queue.remove(&t.key);
        self.deadlines.remove(&(t.deadline, t.id.clone()));
        if let Some(w) = t.worker.as_ref().and_then(|w| self.workers.get_mut(w)) {
            w.running.remove(&t.id);
        }
        if !self.args.tasks.end(&t.id, end.clone()) {
            return;
        }
        match end {
            TaskEnd::Completed { content } => {
                let out = EventKind::AgentOutput { task_id: Some(t.id.clone()), output: OutputKind::Result, content };
                self.emit_task(&t, out);
                self.emit_task(&t, EventKind::TaskCompleted { task_id: t.id.clone() });
            }
            TaskEnd::Cancelled => self.emit_task(&t, EventKind::TaskCancelled { task_id: t.id.clone() }),
            TaskEnd::Failed { code, message } => {
                self.emit_task(&t, EventKind::TaskFailed { task_id: t.id.clone(), code: code.as_str().into(), message })
            }
        }
    }

    async fn cancel(&mut self, id: &str) -> Result<(), HiveError> {
        if !self.tasks.contains_key(id) {
            return Err(HiveError::task(id));
        }
        self.abort(id, TaskEnd::Cancelled).await;
        self.dispatch().await;
        Ok(())
    }

    /// Ends a task that may be running: its worker is told to cancel it.
    async fn abort(&mut self, id: &str, end: TaskEnd) {
        if let Some(w) = self.tasks.get(id).and_then(|t| t.worker.as_ref()).and_then(|w| self.workers.get(w)) {
            self.send(w, &GatewayMsg::Cancel { task_id: id }).await;
        }
        self.finish(id, end).await;
    }

    async fn expire(&mut self) {
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

    async fn worker_gone(&mut self, id: &Arc<str>, why: &str) {
        let Some(w) = self.workers.remove(id) else { return };
        if let Link::Zmq { identity, .. } = &w.link {
            self.by_identity.remove(identity);
        }
        let mut running: Vec<Arc<str>> = w.running.into_iter().collect();
        running.sort();
        let mut requeued = 0;
        for tid in running {
            let Some(t) = self.tasks.get_mut(&tid) else { continue };
            t.worker = None;
            if t.attempts >= self.args.opts.max_attempts {
                let msg = format!("its worker was lost {} time(s) (last: {why})", t.attempts);
                self.finish(&tid, TaskEnd::failed(FailCode::WorkerLost, msg)).await;
            } else {
                let (key, attempt) = (t.key, t.attempts + 1);
                self.queue.push(key, tid.clone());
                requeued += 1;
                self.args.tasks.requeued(&tid);
                let t = &self.tasks[&tid];
                self.emit_task(t, EventKind::TaskRequeued { task_id: tid.clone(), attempt });
            }
        }
        self.emit(Some(id), EventKind::WorkerDisconnected { reason: why.into(), requeued });
        self.dispatch().await;
    }

    /// Brings back the recorded tasks that were waiting or running.
    async fn reload(&mut self) {
        let Some(store) = self.args.reader.clone() else { return };
        let open = tokio::task::spawn_blocking(move || store.tasks(&[TaskStatus::Queued, TaskStatus::Running])).await;
        let Ok(Ok(open)) = open else { return };
        for r in open.into_iter().filter(|r| r.transport() == Transport::Dispatch) {
            let id: Arc<str> = r.id.as_str().into();
            let running = r.status == TaskStatus::Running;
            let attempts = r.attempts;
            let t = Task {
                id: id.clone(),
                prompt: r.content.clone(),
                model: r.model.clone(),
                context: r.context.clone(),
                caps: r.capabilities.clone(),
                key: self.place(r.priority),
                attempts,
                deadline: Instant::now() + self.args.opts.task_timeout,
                swarm: self.swarm.clone(),
                agent: None,
                worker: None,
            };
            self.args.tasks.adopt(r);
            if running {
                self.args.tasks.requeued(&id);
                self.emit_task(&t, EventKind::TaskRequeued { task_id: id.clone(), attempt: attempts + 1 });
            }
            self.tasks.insert(id.clone(), t);
            self.wait_in_queue(&id);
        }
    }
}
