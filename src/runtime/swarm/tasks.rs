//! A swarm's tasks and messages: a task is checked, opened in the task book
//! and queued in its agent's mailbox (`task_queued` before it can start);
//! cancelled through the agent that holds it; a message goes through the
//! router, answered without the swarm waiting on it. The helpers here are
//! shared with the standalone worker pool, which queues its workers' tasks
//! the same way.

use std::sync::Arc;

use super::{Reply, SwarmRun};
use crate::error::{HiveError, Resource};
use crate::events::EventKind;
use crate::runtime::swarm::agent::{AgentMsg, end_task};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Envelope, Task, TaskOwner};
use crate::runtime::swarm::router::RouterMsg;
use crate::runtime::swarm::router::table::RouteError;
use crate::runtime::swarm::slot::AgentSlot;
use crate::task::{FailCode, Follower, Journal, NotDurable, TaskBook, TaskEnd, TaskRecord};

/// Largest task or message content accepted.
pub(crate) const MAX_CONTENT_BYTES: usize = 1 << 20;

/// How long the swarm waits on one agent's answer: an agent whose child
/// stopped reading stdin may be stuck in a write; the swarm never is.
pub(super) fn agent_call_ms(slot: &AgentSlot) -> u64 {
    slot.spec.kill_timeout_ms.clamp(1_000, 10_000)
}

/// Queues `task` in the agent's mailbox, telling `task_queued` before it can
/// start (for a task of the book: the dispatcher tells its linked tasks');
/// `Err` when the mailbox is full.
pub(crate) fn enqueue_on(ctx: &SwarmCtx, slot: &AgentSlot, task: Task) -> Result<Arc<str>, ()> {
    let (id, from) = (task.id.clone(), task.from.clone());
    let told = matches!(task.owner, TaskOwner::Book);
    slot.mailbox
        .push_with(Envelope::Task(task), || {
            if told {
                ctx.emit(&slot.name, EventKind::TaskQueued { task_id: id.clone(), from });
            }
        })
        .map_err(|_| ())?;
    Ok(id)
}

/// The error a caller gets for a task whose record was not made durable:
/// 503 `HIVE_STORAGE_UNAVAILABLE` while the disk fails, else `HIVE_UNAVAILABLE`.
pub(crate) fn not_recorded(e: &NotDurable) -> HiveError {
    match e {
        NotDurable::StoreUnavailable(why) => {
            HiveError::StorageUnavailable(format!("the task could not be recorded durably: {why}"))
        }
        NotDurable::Failed(why) => HiveError::Unavailable(format!("the task could not be recorded durably: {why}")),
    }
}

/// Opens a new task in the book (its record durable first, with a store)
/// and then queues it with `enqueue`; if that fails, the task ends
/// `rejected`, so that a restart does not bring it back. With `follow`,
/// the task's updates come with its id.
pub(crate) async fn open_then_queue(
    book: &TaskBook,
    record: TaskRecord,
    follow: bool,
    enqueue: impl FnOnce() -> Result<Arc<str>, HiveError>,
) -> Result<(Arc<str>, Option<Follower>), HiveError> {
    let id = record.id.clone();
    let mut opened = book.open(record, Journal::Record, follow).await;
    if let Err(e) = opened.durable().await {
        book.end(&id, TaskEnd::failed(FailCode::Rejected, format!("not recorded: {e}")));
        return Err(not_recorded(&e));
    }
    match enqueue() {
        Ok(id) => Ok((id, opened.follower)),
        Err(e) => {
            book.end(&id, TaskEnd::failed(FailCode::Rejected, e.to_string()));
            Err(e)
        }
    }
}

/// Cancels task `task_id` of the agent in `slot`: the running incarnation
/// cancels it (it may hold the task); without one (restarting), only a
/// queued task can be, here. `NotFound` if the agent has no such task.
pub(crate) async fn cancel_on(ctx: &SwarmCtx, slot: &AgentSlot, task_id: &str) -> Result<(), HiveError> {
    let by_actor = match crate::runtime::swarm::agent::actor_of(slot) {
        Some(actor) => ractor::call_t!(actor, AgentMsg::Cancel, agent_call_ms(slot), task_id.into()).ok(),
        None => None,
    };
    let found = match by_actor {
        Some(found) => found,
        None => match slot.mailbox.remove_task(task_id) {
            Some(task) => end_task(ctx, slot, &task, TaskEnd::Cancelled),
            None => false,
        },
    };
    found.then_some(()).ok_or_else(|| HiveError::task(task_id))
}

impl SwarmRun {
    pub(crate) fn task_target(&self, agent: &str) -> Result<Arc<AgentSlot>, HiveError> {
        self.shared.agent(agent).ok_or_else(|| {
            if self.group_spec(agent).is_some() {
                HiveError::BadRequest(format!("'{agent}' is a group; send the task to one of its members"))
            } else if self.shared.object(agent).is_some() {
                HiveError::Conflict(format!("'{agent}' is an object; objects take messages, not tasks"))
            } else {
                HiveError::agent(agent)
            }
        })
    }

    /// Checks a task and gives it an id (nothing is queued yet).
    pub(crate) fn prepare_task(
        &self,
        agent: &str,
        content: String,
        from: &str,
    ) -> Result<(Arc<AgentSlot>, Task), HiveError> {
        if content.len() > MAX_CONTENT_BYTES {
            return Err(HiveError::BadRequest(format!("task content is over {MAX_CONTENT_BYTES} bytes")));
        }
        let slot = self.task_target(agent)?;
        if slot.is_retired() {
            return Err(HiveError::Conflict(format!("agent '{agent}' has stopped and will not be restarted")));
        }
        let id: Arc<str> = uuid::Uuid::now_v7().to_string().into();
        Ok((slot, Task { id, content, from: from.into(), owner: TaskOwner::Book }))
    }

    /// Queues a prepared (or restored) task; `task_queued` precedes its start.
    pub(crate) fn enqueue(&self, slot: &AgentSlot, task: Task) -> Result<Arc<str>, HiveError> {
        enqueue_on(&self.shared.ctx, slot, task)
            .map_err(|()| HiveError::Full(format!("the mailbox of agent '{}' is full", slot.name)))
    }

    pub(crate) async fn cancel_task(&self, agent: &str, task_id: &str) -> Result<(), HiveError> {
        let slot = self.task_target(agent)?;
        cancel_on(&self.shared.ctx, &slot, task_id).await
    }

    pub(crate) fn send_message(&self, from: String, to: String, content: String, reply: Reply<usize>) {
        if content.len() > MAX_CONTENT_BYTES {
            let _ =
                reply.send(Err(HiveError::BadRequest(format!("message content is over {MAX_CONTENT_BYTES} bytes"))));
            return;
        }
        let Some(router) = self.shared.ctx.router.router() else {
            let _ = reply.send(Err(HiveError::Unavailable("the router is restarting".into())));
            return;
        };
        // Answered by a task so that the swarm does not wait on the router.
        tokio::spawn(async move {
            let r = ractor::call!(router, |port| RouterMsg::Send {
                from: from.into(),
                to: to.into(),
                content: content.into(),
                reply: Some(port),
            });
            let r = match r {
                Ok(Ok(n)) => Ok(n),
                Ok(Err(RouteError::UnknownEndpoint(n))) => Err(HiveError::not_found(Resource::Endpoint, n)),
                Ok(Err(e @ RouteError::Denied { .. })) => Err(HiveError::RouteDenied(e.to_string())),
                Ok(Err(e @ RouteError::MailboxFull(_))) => Err(HiveError::Full(e.to_string())),
                Err(e) => Err(HiveError::from(e)),
            };
            let _ = reply.send(r);
        });
    }
}
