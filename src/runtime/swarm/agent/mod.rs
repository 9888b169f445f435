//! The agent actor: one incarnation of an agent. It drains the agent's
//! mailbox, hands tasks to its backend (mock or stdio) one at a time, and
//! turns what the backend reports into events and status.
//!
//! Guarantees: tasks start in FIFO order, one at a time, only once the
//! backend is ready; messages queued before the next task are delivered even
//! while a task runs. The actor stays responsive while a task runs (backends
//! answer asynchronously), so cancel, pause and stop are handled at once. A
//! task in flight when the incarnation dies is failed with `agent_crashed`
//! (by the dying incarnation when it sees its process exit, else by the next
//! one); one in flight at a graceful stop is failed with `agent_stopped`.
//! Queued items stay queued for the next incarnation.
//!
//! Every end goes through [`end_task`]: to the task book for the agent's
//! own tasks, to the dispatcher's link for dispatched ones (the task's
//! [`TaskOwner`]); the events and counters follow only the end that took.

pub(crate) mod backend;
pub(crate) mod mock;
pub(crate) mod process;
pub(crate) mod stdio;
pub(crate) mod zmq;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::config::BackendSpec;
use crate::events::{EventKind, Level, OutputKind};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Envelope, LinkReport, Task, TaskOwner, Waker};
use crate::runtime::swarm::slot::{AgentSlot, AgentState};
use crate::supervisor::{ActorExit, ChildSpec, ExitReason, Shutdown, spawn_error};
use crate::task::{FailCode, TaskEnd};
use backend::{EndTx, Outcome};
use mock::MockBackend;
use process::ChildEvent;
use stdio::{StdioBackend, Step};

/// Items handled per wake before yielding to other messages (stop, cancel).
const BATCH: usize = 64;

/// Messages an agent handles.
pub(crate) enum AgentMsg {
    /// Items wait in the mailbox.
    Wake,
    /// The mock backend finished the task with this id (after its delay).
    MockDone(Arc<str>),
    /// Events of the stdio child wait in its bounded queue (one wake-up per burst).
    ChildEvents,
    /// Cancel a queued or running task; answers whether it was found.
    Cancel(Arc<str>, RpcReplyPort<bool>),
    /// Pause (true) or resume (false); answers whether the state changed.
    Pause(bool, RpcReplyPort<Result<bool, String>>),
    /// The zmq backend's dispatch of the task with this id ended.
    ZmqDone(Arc<str>, TaskEnd),
}

struct ActorWaker(ActorRef<AgentMsg>);

impl Waker for ActorWaker {
    fn wake(&self) {
        let _ = self.0.cast(AgentMsg::Wake);
    }
}

/// Start arguments of an agent.
pub(crate) struct AgentArgs {
    /// The agent's slot.
    pub slot: Arc<AgentSlot>,
    /// The swarm it runs in.
    pub ctx: SwarmCtx,
}

/// The agent actor.
pub(crate) struct Agent;

enum Backend {
    Mock(MockBackend),
    Stdio(StdioBackend),
    Zmq(zmq::ZmqBackend),
}

/// An agent incarnation's state.
pub(crate) struct AgentRun {
    slot: Arc<AgentSlot>,
    ctx: SwarmCtx,
    backend: Backend,
    current: Option<Task>,
    ready: bool,
    paused: bool,
    /// A mock agent's delayed answer, aborted with the incarnation.
    timer: Option<ractor::concurrency::JoinHandle<Result<(), ractor::MessagingErr<AgentMsg>>>>,
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
    }
}

/// The channel through which the zmq backend reports an end: a message to
/// this incarnation.
fn zmq_done(myself: &ActorRef<AgentMsg>) -> EndTx {
    let me = myself.clone();
    EndTx::new(move |id, end| {
        let _ = me.cast(AgentMsg::ZmqDone(id, end));
    })
}

impl Actor for Agent {
    type Msg = AgentMsg;
    type State = AgentRun;
    type Arguments = AgentArgs;

    async fn pre_start(&self, myself: ActorRef<AgentMsg>, a: AgentArgs) -> Result<AgentRun, ActorProcessingErr> {
        let incarnation = a.slot.status.new_incarnation();
        let (backend, ready) = match &a.slot.spec.backend {
            BackendSpec::Mock(_) => (Backend::Mock(MockBackend::new(&a.slot.spec)), true),
            BackendSpec::Stdio(_) => {
                let b = StdioBackend::spawn(&a.ctx, &a.slot, incarnation, &myself).await?;
                (Backend::Stdio(b), false)
            }
            BackendSpec::Zmq(z) => (Backend::Zmq(zmq::ZmqBackend::new(&a.ctx, &z.capabilities)?), true),
        };
        a.slot.status.set_state(if ready { AgentState::Idle } else { AgentState::Starting });
        *a.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = Some(myself.get_cell());
        a.ctx.emit(&a.slot.name, EventKind::AgentStarted { incarnation });
        let mut run = AgentRun { slot: a.slot, ctx: a.ctx, backend, current: None, ready, paused: false, timer: None };
        if run.slot.paused.load(std::sync::atomic::Ordering::Relaxed) {
            // Paused before this incarnation started: it starts paused.
            let _ = run.pause(true);
        }
        if let Some(lost) = run.slot.mailbox.attach(Arc::new(ActorWaker(myself))) {
            let end = TaskEnd::failed(FailCode::AgentCrashed, "the agent crashed while running this task");
            end_task(&run.ctx, &run.slot, &lost, end);
        }
        Ok(run)
    }

    async fn post_stop(&self, _: ActorRef<AgentMsg>, run: &mut AgentRun) -> Result<(), ActorProcessingErr> {
        run.slot.mailbox.detach();
        *run.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Backend::Stdio(b) = &mut run.backend {
            let timeout = Duration::from_millis(run.slot.spec.kill_timeout_ms);
            let exit = b.stop(timeout).await;
            run.slot.status.set_pid(0);
            let message = match exit {
                Some(info) => format!("process {info}"),
                None => "process did not exit after SIGKILL".into(),
            };
            run.ctx.emit(&run.slot.name, EventKind::Log { level: Level::Info, message });
        }
        if let Some(task) = run.current.take() {
            run.slot.mailbox.set_in_flight(None);
            let end = TaskEnd::failed(FailCode::AgentStopped, "the agent was stopped while running this task");
            end_task(&run.ctx, &run.slot, &task, end);
        }
        run.slot.status.set_state(AgentState::Stopped);
        run.ctx.emit(&run.slot.name, EventKind::AgentStopped);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<AgentMsg>,
        msg: AgentMsg,
        run: &mut AgentRun,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            AgentMsg::Wake => run.drain(&myself).await,
            AgentMsg::MockDone(id) => {
                if let (Some(task), Backend::Mock(mock)) = (&run.current, &mut run.backend)
                    && task.id == id
                {
                    let end = mock.finish(task);
                    run.complete(end);
                    run.drain(&myself).await;
                }
            }
            AgentMsg::ChildEvents => run.on_child_events(&myself).await?,
            AgentMsg::ZmqDone(id, end) => {
                if let (Some(task), Backend::Zmq(z)) = (&run.current, &mut run.backend)
                    && task.id == id
                {
                    z.finished();
                    run.complete(end);
                    run.drain(&myself).await;
                }
            }
            AgentMsg::Cancel(id, reply) => {
                let found = run.cancel(&id).await;
                let _ = reply.send(found);
                if found {
                    run.drain(&myself).await;
                }
            }
            AgentMsg::Pause(pause, reply) => {
                let r = run.pause(pause);
                let _ = reply.send(r);
                if !pause {
                    run.drain(&myself).await;
                }
            }
        }
        Ok(())
    }
}

/// The running incarnation of the agent in `slot`, if any.
pub(crate) fn actor_of(slot: &AgentSlot) -> Option<ActorRef<AgentMsg>> {
    slot.cell().map(ActorRef::from)
}

/// The supervisor child spec of an agent.
pub(crate) fn child_spec(slot: Arc<AgentSlot>, ctx: SwarmCtx) -> ChildSpec {
    ChildSpec {
        id: slot.name.clone(),
        restart: slot.spec.restart,
        // The agent bounds its own graceful stop by kill_timeout_ms (then SIGKILL);
        // the margin lets that finish before the supervisor kills the actor.
        shutdown: Shutdown::Timeout(Duration::from_millis(slot.spec.kill_timeout_ms) + Duration::from_secs(2)),
        start: Arc::new(move |sup| {
            let args = AgentArgs { slot: slot.clone(), ctx: ctx.clone() };
            Box::pin(async move {
                let (r, _) = Actor::spawn_linked(None, Agent, args, sup).await.map_err(|e| spawn_error(&e))?;
                Ok(r.get_cell())
            })
        }),
    }
}

/// Reports an exit the supervisor did not ask for: status, event, and — when
/// no restart follows — the end of every queued task.
pub(crate) fn report_exit(ctx: &SwarmCtx, slot: &AgentSlot, reason: String, restarting: bool) {
    slot.status.set_state(if restarting { AgentState::Restarting } else { AgentState::Stopped });
    ctx.emit(&slot.name, EventKind::AgentExited { reason, restarting });
    if !restarting {
        retire(ctx, slot, FailCode::AgentStopped, "the agent exited and is not restarted (restart type)");
    }
}

/// The agent will not run again: it refuses new tasks, and every task it
/// still holds ends now — the one a dead incarnation was processing with
/// `agent_crashed`, each queued one with `code`. Queued messages are counted
/// in a warning event.
pub(crate) fn retire(ctx: &SwarmCtx, slot: &AgentSlot, code: FailCode, message: &str) {
    slot.retired.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = slot.mailbox.take_in_flight() {
        let end =
            TaskEnd::failed(FailCode::AgentCrashed, "the agent died while running this task and is not restarted");
        end_task(ctx, slot, &t, end);
    }
    let mut dropped = 0;
    for item in slot.mailbox.drain() {
        match item {
            Envelope::Task(t) => {
                end_task(ctx, slot, &t, TaskEnd::failed(code.clone(), message));
            }
            _ => dropped += 1,
        }
    }
    if dropped > 0 {
        let message = format!("{dropped} queued messages discarded with the agent");
        ctx.emit(&slot.name, EventKind::Log { level: Level::Warning, message });
    }
}

/// Ends `task` with `end`: reports it to the task's owner and, if that end
/// took (a task ends once), counts it and remembers it; a task of the book
/// is announced here too, under the book's lock (`TaskBook::end_then`), so
/// its end and its events are committed together. Returns whether it took.
pub(crate) fn end_task(ctx: &SwarmCtx, slot: &AgentSlot, task: &Task, end: TaskEnd) -> bool {
    match &task.owner {
        TaskOwner::Book => ctx.tasks.end_then(&task.id, end, |end| {
            took_end(slot, &task.id, end);
            for kind in end.events(&task.id) {
                ctx.emit(&slot.name, kind);
            }
        }),
        // The dispatcher decides and announces; if its link is full or
        // gone, the dispatcher ends the task itself (the worker's loss, a
        // timeout).
        TaskOwner::Link(link) => {
            let took = link.try_send(LinkReport::End(task.id.clone(), end.clone())).is_ok();
            if took {
                took_end(slot, &task.id, &end);
            }
            took
        }
    }
}

/// The agent's own account of an end that took: its counters and memory.
fn took_end(slot: &AgentSlot, id: &Arc<str>, end: &TaskEnd) {
    match end {
        TaskEnd::Completed { content } => {
            slot.status.task_done(true);
            slot.remember("result", id.clone(), content.as_str().into());
        }
        TaskEnd::Failed { message, .. } => {
            slot.status.task_done(false);
            slot.remember("error", id.clone(), message.as_str().into());
        }
        TaskEnd::Cancelled => slot.status.task_done(false),
    }
}

impl AgentRun {
    /// Handles waiting items until nothing can be taken, or the batch is
    /// used up (then wakes itself again).
    async fn drain(&mut self, myself: &ActorRef<AgentMsg>) {
        if !self.ready || self.paused {
            return;
        }
        self.ctx.bus.ready().await;
        for _ in 0..BATCH {
            let Some(item) = self.slot.mailbox.pop_next(self.current.is_none()) else { return };
            self.handle_item(myself, item).await;
        }
        let _ = myself.cast(AgentMsg::Wake);
    }

    async fn handle_item(&mut self, myself: &ActorRef<AgentMsg>, item: Envelope) {
        match item {
            Envelope::Task(task) => {
                self.slot.mailbox.set_in_flight(Some(task.clone()));
                self.slot.status.set_state(AgentState::Busy);
                self.slot.remember("task", task.from.clone(), task.content.as_str().into());
                // The dispatcher tells a linked task's start (it owns it).
                if let TaskOwner::Book = task.owner {
                    self.ctx.tasks.started(&task.id);
                    self.ctx.emit(&self.slot.name, EventKind::TaskStarted { task_id: task.id.clone() });
                }
                let outcome = match &mut self.backend {
                    Backend::Mock(m) => m.start(&task),
                    Backend::Zmq(z) => {
                        let done = zmq_done(myself);
                        z.start(&task, self.slot.spec.model.as_deref(), &self.ctx, &self.slot.name, &done).await
                    }
                    Backend::Stdio(s) => {
                        if s.start(&task, self.slot.spec.model.as_deref()).await {
                            Outcome::Pending
                        } else {
                            Outcome::Ended(TaskEnd::failed(
                                FailCode::AgentUnreachable,
                                "the agent's process no longer reads its stdin",
                            ))
                        }
                    }
                };
                let id = task.id.clone();
                self.current = Some(task);
                match outcome {
                    Outcome::Ended(end) => self.complete(end),
                    Outcome::After(delay) => {
                        self.timer = Some(myself.send_after(delay, move || AgentMsg::MockDone(id)));
                    }
                    Outcome::Pending => {}
                }
            }
            Envelope::Message(m) => {
                self.slot.status.message_received();
                self.slot.remember(if m.reply { "reply" } else { "message" }, m.from.clone(), m.content.clone());
                match &mut self.backend {
                    Backend::Mock(mock) => {
                        if let Some(content) = mock.on_message(&m) {
                            self.ctx.router.broadcast(self.slot.name.clone(), content);
                        }
                    }
                    Backend::Stdio(s) => {
                        s.message(&m).await;
                    }
                    // ZeroMQ workers take tasks only; the message stays in the history.
                    Backend::Zmq(_) => {}
                }
            }
            Envelope::Denied { to, reason } => {
                if let Backend::Stdio(s) = &self.backend {
                    s.denied(&to, &reason).await;
                }
                self.slot.remember("denied", to, reason.into());
            }
        }
    }

    /// Ends the current task.
    fn complete(&mut self, end: TaskEnd) {
        let Some(task) = self.current.take() else { return };
        self.slot.mailbox.set_in_flight(None);
        self.slot.status.set_state(AgentState::Idle);
        end_task(&self.ctx, &self.slot, &task, end);
    }

    /// Reports a token of the current task to its owner (a link waits for
    /// room; the dispatcher tells it).
    async fn token(&self, task: &Task, content: String) {
        match &task.owner {
            TaskOwner::Book => {
                self.ctx.tasks.token(&task.id, &content);
                let kind =
                    EventKind::AgentOutput { task_id: Some(task.id.clone()), output: OutputKind::Token, content };
                self.ctx.emit(&self.slot.name, kind);
            }
            TaskOwner::Link(link) => {
                let _ = link.send(LinkReport::Token(task.id.clone(), content)).await;
            }
        }
    }

    /// Handles up to a batch of the child's waiting events (more wake the
    /// actor again, after the messages that came meanwhile: stop, cancel,
    /// pause). Waits first while the disk is behind with events.
    async fn on_child_events(&mut self, myself: &ActorRef<AgentMsg>) -> Result<(), ActorProcessingErr> {
        let Backend::Stdio(b) = &mut self.backend else { return Ok(()) };
        let events = b.take_events(BATCH);
        self.ctx.bus.ready().await;
        for e in events {
            self.on_child(myself, e).await?;
        }
        Ok(())
    }

    async fn on_child(&mut self, myself: &ActorRef<AgentMsg>, e: ChildEvent) -> Result<(), ActorProcessingErr> {
        let Backend::Stdio(b) = &mut self.backend else { return Ok(()) };
        match b.on_event(&self.ctx, &self.slot, self.current.as_ref(), e) {
            Step::Nothing => {}
            Step::Ready => {
                if !self.ready {
                    self.ready = true;
                    if self.slot.status.state() == AgentState::Starting {
                        self.slot.status.set_state(AgentState::Idle);
                    }
                    self.ctx.emit(&self.slot.name, EventKind::AgentStatus { state: "ready" });
                    self.drain(myself).await;
                }
            }
            Step::Token(task_id, content) => match self.current.as_ref().filter(|t| t.id == task_id) {
                Some(task) => self.token(task, content).await,
                // A token of a task that is not running: told, as before, but owned by nobody.
                None => {
                    let kind = EventKind::AgentOutput { task_id: Some(task_id), output: OutputKind::Token, content };
                    self.ctx.emit(&self.slot.name, kind);
                }
            },
            Step::Finished(end) => {
                self.complete(end);
                self.drain(myself).await;
            }
            Step::Died(why) => {
                // Fail the task in hand now: if no restart follows, nobody else would.
                if let Some(task) = self.current.take() {
                    self.slot.mailbox.set_in_flight(None);
                    let end = TaskEnd::failed(FailCode::AgentCrashed, format!("the agent's {}", why.text));
                    end_task(&self.ctx, &self.slot, &task, end);
                }
                // Exiting by error skips post_stop: let go of the slot here.
                self.slot.mailbox.detach();
                *self.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let reason = if why.normal { ExitReason::Normal } else { ExitReason::Failed(why.text) };
                return Err(Box::new(ActorExit(reason)));
            }
        }
        Ok(())
    }

    async fn cancel(&mut self, id: &str) -> bool {
        let running = self.current.as_ref().is_some_and(|t| &*t.id == id);
        let task = if running {
            match &mut self.backend {
                Backend::Stdio(b) => {
                    b.cancel(id).await;
                }
                Backend::Zmq(z) => z.cancel().await,
                Backend::Mock(_) => {
                    if let Some(t) = self.timer.take() {
                        t.abort();
                    }
                }
            }
            self.slot.mailbox.set_in_flight(None);
            self.slot.status.set_state(if self.paused { AgentState::Paused } else { AgentState::Idle });
            self.current.take()
        } else {
            self.slot.mailbox.remove_task(id)
        };
        match task {
            Some(task) => {
                end_task(&self.ctx, &self.slot, &task, TaskEnd::Cancelled);
                true
            }
            None => false,
        }
    }

    fn pause(&mut self, pause: bool) -> Result<bool, String> {
        if self.paused == pause {
            self.slot.paused.store(pause, std::sync::atomic::Ordering::Relaxed);
            return Ok(false);
        }
        if let Backend::Stdio(b) = &self.backend {
            b.pause(pause)?;
        }
        self.paused = pause;
        self.slot.paused.store(pause, std::sync::atomic::Ordering::Relaxed);
        let state = match (pause, self.current.is_some(), self.ready) {
            (true, _, _) => AgentState::Paused,
            (false, true, _) => AgentState::Busy,
            (false, false, true) => AgentState::Idle,
            (false, false, false) => AgentState::Starting,
        };
        self.slot.status.set_state(state);
        self.ctx.emit(&self.slot.name, EventKind::AgentStatus { state: state.as_str() });
        Ok(true)
    }
}
