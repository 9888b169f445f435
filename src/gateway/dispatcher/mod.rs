//! The dispatcher actor: the queue, the workers and their assignments (see
//! the module doc of `gateway` for its guarantees). This file owns the
//! actor (its messages, its state, its start and its end); the workers'
//! side (registration, frames, a worker gone) is in `workers.rs`, HTTP
//! workers' calls in `http.rs`, the tasks' side (submit, the queue,
//! dispatch, ends, timeouts, restore) in `tasks.rs`.
//!
//! The dispatcher owns the ROUTER socket's task ([`Socket`]): it binds it in
//! `pre_start` (a restarted dispatcher binds the address its first
//! incarnation bound, so workers reconnect by themselves) and is told when
//! the task ends, however it ends; it then fails, and its supervisor (the
//! root) starts it again. On start it takes back the dispatched tasks that
//! are open: those the task book still holds (a restarted dispatcher) and
//! those recorded in the store (a restarted daemon); a running one counts
//! as an attempt and is requeued.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use serde_json::Value;
use tokio::sync::mpsc;

use super::protocol::WorkerMsg;
use super::queue::{QueueKey, TaskQueue};
use super::socket::{FrameSink, Inbound, Socket, SocketEnd};
use super::{DISPATCH_SWARM, DispatchRequest, Dispatched, GatewayOptions, GatewayStatus, Submit, ZmqWorker};
use crate::HiveError;
use crate::events::{EventBus, EventKind, Level};
use crate::supervisor::exit_of;
use crate::task::{Follower, TaskBook, TaskEnd};

mod http;
mod tasks;
mod workers;

/// Binding the address again after a restart is tried this many times, this
/// long apart (the old socket may still be closing).
const REBIND_TRIES: u32 = 40;
const REBIND_EVERY: Duration = Duration::from_millis(50);

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
    /// One connected worker, by id.
    Worker(String, RpcReplyPort<Result<ZmqWorker, HiveError>>),
    /// Force-unregister a ZeroMQ worker: its running tasks are requeued and
    /// its socket identity forgotten (a later frame from it is a stranger's).
    /// Answers the ids of the tasks requeued.
    Unregister(String, RpcReplyPort<Result<Vec<Arc<str>>, HiveError>>),
    /// The gateway's state.
    Status(RpcReplyPort<GatewayStatus>),
    /// Waiting tasks per priority, highest first (for health).
    QueueDepths(RpcReplyPort<Vec<(u8, usize)>>),
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
    /// The socket task ended: the dispatcher fails (and is restarted).
    SocketEnded(SocketEnd),
    /// Test hook: the socket task is killed (it panics).
    KillSocket,
    /// An HTTP worker registers, as the token (principal) named.
    RegisterHttp(super::HttpRegistration, Arc<str>, RpcReplyPort<Result<super::HttpTerms, HiveError>>),
    /// An HTTP worker's registration, for a poll by the principal named.
    HttpSession(String, Arc<str>, RpcReplyPort<Result<super::HttpSession, HiveError>>),
    /// A poll of the registration `epoch` of a worker takes its next task,
    /// if one waits for it (its lease is renewed); a take for an earlier
    /// registration is `NotFound`. A take whose answer cannot be sent (the
    /// poll is gone) is handed back at once.
    HttpTake(Arc<str>, u64, RpcReplyPort<Result<Option<super::Assignment>, HiveError>>),
    /// A task a poll took but could not deliver: back to the queue.
    HttpHandBack(Arc<str>, u64, Arc<str>),
    /// An HTTP worker's heartbeat (by the principal named): the leases of
    /// the tasks it took are renewed.
    HttpHeartbeat(String, Arc<str>, RpcReplyPort<Result<(), HiveError>>),
    /// An HTTP worker reports on a task (output, result, error), by the
    /// principal named: refused if it does not hold the task.
    HttpReport(String, Arc<str>, String, super::HttpReport, RpcReplyPort<Result<(), HiveError>>),
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
    /// An HTTP worker: the tasks it was given and has not taken yet wait
    /// in `given` (in order; at most its slots, since each is one of its
    /// running tasks, and a task that ends leaves it) until a poll of this
    /// registration takes them.
    Http(HttpLink),
}

impl Link {
    /// The transport it is, as listed and counted.
    fn transport(&self) -> super::WorkerTransport {
        match self {
            Link::Zmq { .. } => super::WorkerTransport::Zmq,
            Link::Local(_) => super::WorkerTransport::Jsonl,
            Link::Http(_) => super::WorkerTransport::Http,
        }
    }
}

/// An HTTP worker's side of the dispatcher.
struct HttpLink {
    session: super::HttpSession,
    /// The token that registered it: only it may act as this worker.
    owner: Arc<str>,
    given: VecDeque<Arc<str>>,
}

/// Start arguments.
pub(crate) struct DispatcherArgs {
    pub(crate) opts: GatewayOptions,
    pub(crate) bus: EventBus,
    /// Where tasks are opened and ended (and, with a store, recorded).
    pub(crate) tasks: TaskBook,
    /// The store, to reload the tasks that were open.
    pub(crate) reader: Option<crate::store::Store>,
    /// The address the first incarnation bound; the next ones bind it again.
    pub(crate) bound: Arc<OnceLock<String>>,
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
    /// On an HTTP worker: when its lease runs out.
    lease: Option<Instant>,
    /// On an HTTP worker: whether a poll took it (only then do heartbeats
    /// renew its lease).
    taken: bool,
}

struct Worker {
    id: Arc<str>,
    link: Link,
    caps: std::collections::HashSet<String>,
    caps_list: Vec<String>,
    slots: u32,
    running: HashSet<Arc<str>>,
    accepting: bool,
    connected_at: u64,
    last_seen: Arc<AtomicU64>,
    last_assigned: u64,
    tags: Value,
    /// The connection actor watching a ZeroMQ worker's liveness.
    conn: Option<ractor::ActorCell>,
}

/// The dispatcher's state.
pub(crate) struct State {
    args: DispatcherArgs,
    socket: Socket,
    tasks: HashMap<Arc<str>, Task>,
    queue: TaskQueue,
    deadlines: BTreeMap<(Instant, Arc<str>), ()>,
    workers: HashMap<Arc<str>, Worker>,
    by_identity: HashMap<Arc<[u8]>, Arc<str>>,
    by_conn: HashMap<ractor::ActorId, Arc<str>>,
    seq: u64,
    clock: u64,
    /// The last HTTP registration's epoch.
    epochs: u64,
    swarm: Arc<str>,
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
        let socket = bind(&args, &myself).await?;
        myself.send_interval(Duration::from_millis(100), || DispatcherMsg::Tick);
        let mut s = State {
            args,
            socket,
            tasks: HashMap::default(),
            queue: TaskQueue::default(),
            deadlines: BTreeMap::new(),
            workers: HashMap::default(),
            by_identity: HashMap::default(),
            by_conn: HashMap::default(),
            seq: 0,
            clock: 0,
            epochs: 0,
            swarm: DISPATCH_SWARM.into(),
        };
        s.restore().await;
        Ok(s)
    }

    /// A stop (not a failure: then the state is dropped, which aborts the
    /// socket task) waits until the socket is closed, so that a runtime
    /// started next can bind the same address.
    async fn post_stop(&self, _: ActorRef<DispatcherMsg>, s: &mut State) -> Result<(), ActorProcessingErr> {
        s.socket.close().await;
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
                s.socket.handled();
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
                let mut list: Vec<ZmqWorker> = s.workers.values().map(Worker::view).collect();
                list.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
                let _ = reply.send(list);
            }
            DispatcherMsg::Worker(id, reply) => {
                let r = s.workers.get(id.as_str()).map(Worker::view).ok_or_else(|| HiveError::worker(id));
                let _ = reply.send(r);
            }
            DispatcherMsg::Unregister(id, reply) => {
                let r = s.unregister(&id).await;
                let _ = reply.send(r);
            }
            DispatcherMsg::Status(reply) => {
                let _ = reply.send(GatewayStatus {
                    enabled: true,
                    port: s.socket.endpoint().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0),
                    endpoint: s.socket.endpoint().to_string(),
                    connected: s.workers.len(),
                    queue_depth: s.queue.len(),
                    running: s.workers.values().map(|w| w.running.len()).sum(),
                });
            }
            DispatcherMsg::QueueDepths(reply) => {
                let _ = reply.send(s.queue.depth_by_priority());
            }
            DispatcherMsg::Tick => {
                s.expire().await;
                s.expire_leases().await;
            }
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
            DispatcherMsg::DetachLocal(id, why) => {
                s.worker_gone(&id, &why).await;
            }
            DispatcherMsg::SocketEnded(why) => {
                let message = format!("the gateway's socket task ended ({why}): the dispatcher restarts");
                s.emit(None, EventKind::Log { level: Level::Error, message });
                return Err(format!("the gateway's socket task ended: {why}").into());
            }
            DispatcherMsg::KillSocket => s.socket.kill(),
            DispatcherMsg::RegisterHttp(reg, who, reply) => {
                let r = s.register_http(&myself, reg, who).await;
                let _ = reply.send(r);
                s.dispatch().await;
            }
            DispatcherMsg::HttpSession(id, who, reply) => {
                let _ = reply.send(s.http_session(&id, &who));
            }
            DispatcherMsg::HttpTake(id, epoch, reply) => s.http_take(&id, epoch, reply).await,
            DispatcherMsg::HttpHandBack(id, epoch, task) => s.http_hand_back(&id, epoch, &task).await,
            DispatcherMsg::HttpHeartbeat(id, who, reply) => {
                let _ = reply.send(s.http_heartbeat(&id, &who));
            }
            DispatcherMsg::HttpReport(id, who, task, report, reply) => {
                s.args.bus.ready().await; // output becomes events: wait while the disk is behind
                let r = s.http_report(&id, &who, &task, report).await;
                let _ = reply.send(r);
            }
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

/// How the socket task reaches the dispatcher: frames and its end become
/// messages.
struct ToDispatcher(ActorRef<DispatcherMsg>);

impl FrameSink for ToDispatcher {
    fn frame(&self, f: Inbound) -> bool {
        self.0.cast(DispatcherMsg::Frame(f)).is_ok()
    }

    fn ended(&self, why: SocketEnd) {
        let _ = self.0.cast(DispatcherMsg::SocketEnded(why));
    }
}

/// Binds the gateway's address: the configured one at the first start, the
/// one bound then at a restart (tried again for a while: the previous
/// incarnation's socket may still be closing).
async fn bind(args: &DispatcherArgs, myself: &ActorRef<DispatcherMsg>) -> Result<Socket, String> {
    let again = args.bound.get();
    let endpoint = again.map_or(args.opts.endpoint.as_str(), String::as_str);
    let sink = || ToDispatcher(myself.clone());
    let mut tries = 1;
    let socket = loop {
        match Socket::bind(endpoint, sink(), args.bus.clone()) {
            Ok(s) => break s,
            Err(e) if again.is_none() || tries >= REBIND_TRIES => return Err(e),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(REBIND_EVERY).await;
            }
        }
    };
    let _ = args.bound.set(socket.endpoint().to_string());
    Ok(socket)
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
}
