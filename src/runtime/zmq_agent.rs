//! The `zmq` backend of a swarm agent: its tasks run on ZeroMQ workers
//! through the dispatcher, on a worker with every capability the agent's
//! `capabilities` names. The agent keeps its own task lifecycle (FIFO, one
//! at a time, events, history); the dispatcher adds the worker side
//! (priority, slots, requeue on a lost worker, timeouts). Tokens stream as
//! the agent's `agent_output` token events.

use std::sync::Arc;

use ractor::ActorRef;

use super::agent::{AgentMsg, TaskOutcome};
use super::mailbox::Task;
use super::swarm_ctx::SwarmCtx;
use crate::events::{EventKind, OutputKind};
use crate::gateway::{DispatchRequest, DispatcherMsg, Submit, TaskUpdate};

/// One agent incarnation's link to the dispatcher.
pub(super) struct ZmqBackend {
    dispatcher: Arc<str>,
    capabilities: Vec<String>,
    /// The dispatcher's id of the running task.
    current: Option<String>,
}

impl ZmqBackend {
    /// A backend, or why not (no gateway).
    pub(super) fn new(ctx: &SwarmCtx, capabilities: &[String]) -> Result<Self, String> {
        let dispatcher = ctx
            .dispatcher
            .clone()
            .ok_or("the zmq backend needs the ZeroMQ gateway (hive serve runs it unless [gateway] enabled = false)")?;
        Ok(Self { dispatcher, capabilities: capabilities.to_vec(), current: None })
    }

    fn actor(&self) -> Option<ActorRef<DispatcherMsg>> {
        crate::gateway::dispatcher_ref(&self.dispatcher)
    }

    /// Hands the task to the dispatcher; its end comes back as
    /// [`AgentMsg::ZmqDone`].
    pub(super) async fn start(
        &mut self,
        task: &Task,
        model: Option<&str>,
        ctx: &SwarmCtx,
        agent: &Arc<str>,
        myself: &ActorRef<AgentMsg>,
    ) -> TaskOutcome {
        let Some(d) = self.actor() else {
            return TaskOutcome::Failed("gateway_unavailable".into(), "the dispatcher is restarting".into());
        };
        let req = DispatchRequest {
            prompt: task.content.clone(),
            model: model.map(String::from),
            capabilities: self.capabilities.clone(),
            swarm: Some(ctx.swarm.to_string()),
            agent: Some(agent.to_string()),
            ..Default::default()
        };
        let (id, rx) = match ractor::call!(d, DispatcherMsg::Submit, req, Submit::Follow) {
            Ok(Ok((id, Some(rx)))) => (id, rx),
            Ok(Err(e)) => return TaskOutcome::Failed("dispatch_refused".into(), e.to_string()),
            _ => return TaskOutcome::Failed("gateway_unavailable".into(), "the dispatcher did not answer".into()),
        };
        self.current = Some(id.to_string());
        let (ctx, agent, me, task_id) = (ctx.clone(), agent.clone(), myself.clone(), task.id.clone());
        tokio::spawn(async move {
            let mut rx = rx;
            while let Some(u) = rx.recv().await {
                match u {
                    TaskUpdate::Token(content) => {
                        let kind = EventKind::AgentOutput {
                            task_id: Some(task_id.clone()),
                            output: OutputKind::Token,
                            content,
                        };
                        ctx.emit(&agent, kind);
                    }
                    TaskUpdate::Done { status, content } => {
                        let _ = me.cast(AgentMsg::ZmqDone(task_id, status, content));
                        return;
                    }
                }
            }
        });
        TaskOutcome::Pending
    }

    /// The outcome of a finished dispatch.
    pub(super) fn finish(&mut self, status: &str, content: String) -> TaskOutcome {
        self.current = None;
        match status {
            "ok" => TaskOutcome::Done(content),
            "cancelled" => TaskOutcome::Failed("cancelled".into(), content),
            _ => {
                let (code, message) = match content.split_once(": ") {
                    Some((c, m)) if !c.contains(' ') => (c.to_string(), m.to_string()),
                    _ => ("worker_error".into(), content),
                };
                TaskOutcome::Failed(code, message)
            }
        }
    }

    /// Cancels the running dispatch (its worker gets `cancel`).
    pub(super) async fn cancel(&mut self) {
        if let (Some(id), Some(d)) = (self.current.take(), self.actor()) {
            let _ = ractor::call!(d, DispatcherMsg::Cancel, id);
        }
    }
}
