//! The `zmq` backend of a swarm agent: its tasks run on ZeroMQ workers
//! through the dispatcher, on a worker with every capability the agent's
//! `capabilities` names. The agent keeps its own task lifecycle (FIFO, one
//! at a time, events, history); the dispatcher adds the worker side
//! (priority, slots, requeue on a lost worker, timeouts). Tokens stream as
//! the agent's `agent_output` token events.
//!
//! The dispatched task is followed through the task book; the follower runs
//! in a task this backend owns (aborted with it), which reports the end
//! through the agent's [`EndTx`] — a cancelled dispatch ends the agent's
//! task `cancelled`, like any other transport.

use std::sync::Arc;

use ractor::ActorRef;

use super::backend::{EndTx, Outcome};
use crate::events::{EventKind, OutputKind};
use crate::gateway::{DispatchRequest, DispatcherMsg, Submit};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::Task;
use crate::task::{FailCode, TaskEnd, TaskUpdate};

/// One agent incarnation's link to the dispatcher.
pub(crate) struct ZmqBackend {
    dispatcher: Arc<str>,
    capabilities: Vec<String>,
    /// The dispatcher's id of the running task, and its follower.
    current: Option<(Arc<str>, tokio::task::JoinHandle<()>)>,
}

impl Drop for ZmqBackend {
    fn drop(&mut self) {
        if let Some((_, follower)) = self.current.take() {
            follower.abort();
        }
    }
}

impl ZmqBackend {
    /// A backend, or why not (no gateway).
    pub(crate) fn new(ctx: &SwarmCtx, capabilities: &[String]) -> Result<Self, String> {
        let dispatcher = ctx
            .dispatcher
            .clone()
            .ok_or("the zmq backend needs the ZeroMQ gateway (hive serve runs it unless [gateway] enabled = false)")?;
        Ok(Self { dispatcher, capabilities: capabilities.to_vec(), current: None })
    }

    fn actor(&self) -> Option<ActorRef<DispatcherMsg>> {
        crate::gateway::dispatcher_ref(&self.dispatcher)
    }

    /// Hands the task to the dispatcher; its end comes back through `done`.
    pub(crate) async fn start(
        &mut self,
        task: &Task,
        model: Option<&str>,
        ctx: &SwarmCtx,
        agent: &Arc<str>,
        done: &EndTx,
    ) -> Outcome {
        let Some(d) = self.actor() else {
            return Outcome::Ended(TaskEnd::failed(FailCode::GatewayUnavailable, "the dispatcher is restarting"));
        };
        let req = DispatchRequest {
            prompt: task.content.clone(),
            model: model.map(String::from),
            capabilities: self.capabilities.clone(),
            swarm: Some(ctx.swarm.to_string()),
            agent: Some(agent.to_string()),
            ..Default::default()
        };
        let (id, mut follower) = match ractor::call!(d, DispatcherMsg::Submit, req, Submit::Follow) {
            Ok(Ok(crate::gateway::Dispatched { id, follower: Some(f), .. })) => (id, f),
            Ok(Err(e)) => return Outcome::Ended(TaskEnd::failed(FailCode::DispatchRefused, e.to_string())),
            _ => {
                return Outcome::Ended(TaskEnd::failed(FailCode::GatewayUnavailable, "the dispatcher did not answer"));
            }
        };
        let (ctx, agent, done, task_id) = (ctx.clone(), agent.clone(), done.clone(), task.id.clone());
        let handle = tokio::spawn(async move {
            loop {
                match follower.next().await {
                    Some(TaskUpdate::Token(content)) => {
                        ctx.tasks.token(&task_id, &content);
                        let kind = EventKind::AgentOutput {
                            task_id: Some(task_id.clone()),
                            output: OutputKind::Token,
                            content,
                        };
                        ctx.emit(&agent, kind);
                    }
                    Some(TaskUpdate::Missed(_)) => {}
                    Some(TaskUpdate::Done(end)) => return done.send(task_id, end),
                    None => {
                        let end = TaskEnd::failed(FailCode::GatewayUnavailable, "the dispatcher stopped");
                        return done.send(task_id, end);
                    }
                }
            }
        });
        self.current = Some((id, handle));
        Outcome::Pending
    }

    /// The dispatch has ended (its follower reported it).
    pub(crate) fn finished(&mut self) {
        self.current = None;
    }

    /// Cancels the running dispatch (its worker gets `cancel`).
    pub(crate) async fn cancel(&mut self) {
        if let Some((id, follower)) = self.current.take() {
            follower.abort();
            if let Some(d) = self.actor() {
                let _ = ractor::call!(d, DispatcherMsg::Cancel, id.to_string());
            }
        }
    }
}
