//! The agent actor: one incarnation of an agent. It drains the agent's
//! mailbox one task at a time, hands tasks to its backend, and turns what the
//! backend reports into events and status.
//!
//! Guarantees: tasks start in FIFO order, one at a time; the actor stays
//! responsive while a task runs (a backend answers asynchronously), so cancel
//! and stop are handled at once. A task in flight when the incarnation dies is
//! failed with `agent_crashed` by the next incarnation; one in flight at a
//! graceful stop is failed with `agent_stopped`. Queued items stay queued.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use super::mailbox::{Envelope, Task, Waker};
use super::mock::MockBackend;
use super::slot::{AgentSlot, AgentState};
use super::swarm_ctx::SwarmCtx;
use crate::events::{EventKind, OutputKind};

/// Items handled per wake before yielding to other messages (stop, cancel).
const BATCH: usize = 64;

/// Messages an agent handles.
pub enum AgentMsg {
    /// Items wait in the mailbox.
    Wake,
    /// The mock backend finished the task with this id (after its delay).
    MockDone(Arc<str>),
    /// Cancel a queued or running task; answers whether it was found.
    Cancel(Arc<str>, RpcReplyPort<bool>),
}

struct ActorWaker(ActorRef<AgentMsg>);

impl Waker for ActorWaker {
    fn wake(&self) {
        let _ = self.0.cast(AgentMsg::Wake);
    }
}

/// Start arguments of an agent.
pub(super) struct AgentArgs {
    /// The agent's slot.
    pub slot: Arc<AgentSlot>,
    /// The swarm it runs in.
    pub ctx: SwarmCtx,
}

/// The agent actor.
pub(super) struct Agent;

/// An agent incarnation's state.
pub(super) struct AgentRun {
    slot: Arc<AgentSlot>,
    ctx: SwarmCtx,
    backend: MockBackend,
    current: Option<Task>,
}

/// How a backend answered a task.
pub(super) enum TaskOutcome {
    /// Done now, with this result.
    Done(String),
    /// Failed now (code, message).
    Failed(&'static str, String),
    /// Still running; the backend reports later.
    Pending,
}

impl Actor for Agent {
    type Msg = AgentMsg;
    type State = AgentRun;
    type Arguments = AgentArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<AgentMsg>,
        a: AgentArgs,
    ) -> Result<AgentRun, ActorProcessingErr> {
        let incarnation = a.slot.status.new_incarnation();
        a.slot.status.set_state(AgentState::Idle);
        a.ctx
            .emit(&a.slot.name, EventKind::AgentStarted { incarnation });
        let backend = MockBackend::new(&a.slot.spec);
        *a.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = Some(myself.clone());
        let run = AgentRun {
            slot: a.slot,
            ctx: a.ctx,
            backend,
            current: None,
        };
        if let Some(lost) = run.slot.mailbox.attach(Arc::new(ActorWaker(myself))) {
            run.fail(
                &lost,
                "agent_crashed",
                "the agent crashed while running this task",
            );
        }
        Ok(run)
    }

    async fn post_stop(
        &self,
        _: ActorRef<AgentMsg>,
        run: &mut AgentRun,
    ) -> Result<(), ActorProcessingErr> {
        run.slot.mailbox.detach();
        *run.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(task) = run.current.take() {
            run.slot.mailbox.set_in_flight(None);
            run.fail(
                &task,
                "agent_stopped",
                "the agent was stopped while running this task",
            );
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
            AgentMsg::Wake => run.drain(&myself),
            AgentMsg::MockDone(id) => {
                if run.current.as_ref().is_some_and(|t| t.id == id) {
                    let task = run.current.take().expect("checked");
                    let outcome = run.backend.finish(&task);
                    run.complete(&task, outcome);
                    run.drain(&myself);
                }
            }
            AgentMsg::Cancel(id, reply) => {
                let found = if run.current.as_ref().is_some_and(|t| t.id == id) {
                    run.current = None;
                    run.slot.mailbox.set_in_flight(None);
                    run.slot.status.set_state(AgentState::Idle);
                    run.drain(&myself);
                    true
                } else {
                    run.slot.mailbox.remove_task(&id)
                };
                if found {
                    run.slot.status.task_done(false);
                    run.ctx
                        .emit(&run.slot.name, EventKind::TaskCancelled { task_id: id });
                }
                let _ = reply.send(found);
            }
        }
        Ok(())
    }
}

impl AgentRun {
    /// Handles waiting items until a task is pending, the mailbox is empty,
    /// or the batch is used up (then wakes itself again).
    fn drain(&mut self, myself: &ActorRef<AgentMsg>) {
        for _ in 0..BATCH {
            if self.current.is_some() {
                return;
            }
            let Some(item) = self.slot.mailbox.pop() else {
                return;
            };
            self.handle_item(myself, item);
        }
        if self.current.is_none() && !self.slot.mailbox.is_empty() {
            let _ = myself.cast(AgentMsg::Wake);
        }
    }

    fn handle_item(&mut self, myself: &ActorRef<AgentMsg>, item: Envelope) {
        match item {
            Envelope::Task(task) => {
                self.slot.mailbox.set_in_flight(Some(task.clone()));
                self.slot.status.set_state(AgentState::Busy);
                self.slot
                    .remember("task", task.from.clone(), task.content.as_str().into());
                self.ctx.emit(
                    &self.slot.name,
                    EventKind::TaskStarted {
                        task_id: task.id.clone(),
                    },
                );
                match self.backend.start(&task, myself) {
                    TaskOutcome::Pending => self.current = Some(task),
                    outcome => self.complete(&task, outcome),
                }
            }
            Envelope::Message(m) => {
                self.slot.status.touch();
                self.slot.status.message_received();
                self.slot.remember(
                    if m.reply { "reply" } else { "message" },
                    m.from.clone(),
                    m.content.clone(),
                );
                if let Some(content) = self.backend.on_message(&m) {
                    self.ctx.router.broadcast(self.slot.name.clone(), content);
                }
            }
            Envelope::Denied { to, reason } => {
                self.slot.remember("denied", to, reason.into());
            }
        }
    }

    fn complete(&mut self, task: &Task, outcome: TaskOutcome) {
        self.slot.mailbox.set_in_flight(None);
        self.slot.status.set_state(AgentState::Idle);
        match outcome {
            TaskOutcome::Done(result) => {
                self.slot.status.task_done(true);
                self.slot
                    .remember("result", task.id.clone(), result.as_str().into());
                self.ctx.emit(
                    &self.slot.name,
                    EventKind::AgentOutput {
                        task_id: Some(task.id.clone()),
                        output: OutputKind::Result,
                        content: result,
                    },
                );
                self.ctx.emit(
                    &self.slot.name,
                    EventKind::TaskCompleted {
                        task_id: task.id.clone(),
                    },
                );
            }
            TaskOutcome::Failed(code, message) => self.fail(task, code, &message),
            TaskOutcome::Pending => {}
        }
    }

    fn fail(&self, task: &Task, code: &str, message: &str) {
        self.slot.status.task_done(false);
        self.slot.remember("error", task.id.clone(), message.into());
        self.ctx.emit(
            &self.slot.name,
            EventKind::TaskFailed {
                task_id: task.id.clone(),
                code: code.to_string(),
                message: message.to_string(),
            },
        );
    }
}
