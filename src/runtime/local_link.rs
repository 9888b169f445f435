//! One pool: a standalone JSONL worker also takes tasks from the dispatcher,
//! next to the ZeroMQ workers. This link is a small task per worker: it
//! queues the dispatcher's tasks in the worker's mailbox (under the
//! dispatcher's task id), and reports what the worker says about them
//! (tokens, result, error) back to the dispatcher as if a ZeroMQ worker had
//! sent it. The dispatcher knows the worker as `local/<id>`, with one slot
//! (a stdio agent runs one task at a time); when the worker is killed or
//! fails, the pool detaches it and its task is requeued. If the link falls
//! behind the event bus, it looks for its tasks' ends in the bus's ring.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use super::hive::{TaskOutcome, task_end_of};
use super::mailbox::Task;
use super::slot::AgentSlot;
use super::swarm::enqueue_on;
use super::swarm_ctx::SwarmCtx;
use crate::HiveError;
use crate::events::{Event, EventKind, OutputKind};
use crate::gateway::protocol::WorkerMsg;
use crate::gateway::{DispatcherMsg, LocalCmd, LocalWorker};

/// The dispatcher's name for a pool worker.
pub(super) fn local_id(worker: &str) -> Arc<str> {
    format!("local/{worker}").into()
}

/// Offers the worker in `slot` to the dispatcher and starts its link.
pub(super) async fn attach(
    name: &str,
    ctx: &SwarmCtx,
    slot: Arc<AgentSlot>,
    capabilities: Vec<String>,
) -> Result<(), HiveError> {
    let d = crate::gateway::dispatcher_ref(name)
        .ok_or_else(|| HiveError::Unavailable("the dispatcher is restarting".into()))?;
    let id = local_id(&slot.name);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<LocalCmd>(1024);
    let mut bus = ctx.bus.subscribe();
    let w = LocalWorker { id: id.clone(), capabilities, slots: 1, tx };
    ractor::call!(d, DispatcherMsg::AttachLocal, w)??;
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let mut mine: HashSet<Arc<str>> = HashSet::new();
        let say = |msg: WorkerMsg| {
            let _ = d.cast(DispatcherMsg::LocalFrame(id.clone(), msg));
        };
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => return,
                    Some(LocalCmd::Task { task_id, prompt }) => {
                        mine.insert(task_id.clone());
                        let task = Task { id: task_id.clone(), content: prompt, from: "dispatcher".into() };
                        if enqueue_on(&ctx, &slot, task).is_err() {
                            mine.remove(&task_id);
                            say(WorkerMsg::Error { task_id: task_id.to_string(), message: "the worker's inbox is full".into() });
                        }
                    }
                    Some(LocalCmd::Cancel(task_id)) => {
                        mine.remove(&task_id);
                        let _ = super::swarm::cancel_on(&ctx, &slot, &task_id).await;
                    }
                },
                e = bus.recv() => match e {
                    Ok(e) => report(&e, &ctx, &slot, &mut mine, &say),
                    Err(RecvError::Lagged(_)) => {
                        // The ends of our tasks may be among the skipped events: the ring has them.
                        let ours = |e: &Event| task_end_of(e).is_some() && e.agent.as_deref() == Some(&*slot.name);
                        for e in ctx.bus.recent(usize::MAX, ours) {
                            report(&e, &ctx, &slot, &mut mine, &say);
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(())
}

/// Reports what the worker said about one of the dispatcher's tasks.
fn report(e: &Event, ctx: &SwarmCtx, slot: &AgentSlot, mine: &mut HashSet<Arc<str>>, say: &impl Fn(WorkerMsg)) {
    if e.swarm.as_deref() != Some(&*ctx.swarm) || e.agent.as_deref() != Some(&*slot.name) {
        return;
    }
    if let EventKind::AgentOutput { task_id: Some(t), output: OutputKind::Token, content } = &e.kind
        && mine.contains(t)
    {
        return say(WorkerMsg::Token { task_id: t.to_string(), content: content.clone() });
    }
    let Some((t, end)) = task_end_of(e) else { return };
    if !mine.remove(t) {
        return;
    }
    let task_id = t.to_string();
    say(match end {
        TaskOutcome::Completed(content) => WorkerMsg::Result { task_id, content, status: None },
        TaskOutcome::Failed { code, message } => WorkerMsg::Error { task_id, message: format!("{code}: {message}") },
        TaskOutcome::Cancelled => WorkerMsg::Error { task_id, message: "cancelled".into() },
    });
}

/// Tells the dispatcher the worker is gone (its task is requeued).
pub(super) fn detach(name: &str, worker: &str, why: &str) {
    if let Some(d) = crate::gateway::dispatcher_ref(name) {
        let _ = d.cast(DispatcherMsg::DetachLocal(local_id(worker), why.into()));
    }
}
