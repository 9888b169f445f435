//! One pool: a standalone JSONL worker also takes tasks from the dispatcher,
//! next to the ZeroMQ workers. This link is a small task per worker: it
//! queues the dispatcher's tasks in the worker's mailbox (under the
//! dispatcher's task id, owned by the dispatcher: [`TaskOwner::Link`]), and
//! hands what the worker's agent reports about them (tokens, its end)
//! back to the dispatcher, which decides each task's end in the task book.
//! The agent reports through a bounded channel: it never reads the event
//! bus, so a link cannot fall behind it.
//!
//! The dispatcher knows the worker as `local/<id>`, with one slot (a stdio
//! agent runs one task at a time); when the worker is killed or fails, the
//! pool detaches it and its task is requeued. The pool owns the link: it
//! keeps its handle, aborts it when the worker goes, and is told when it
//! ends on its own (the dispatcher went away).

use std::collections::HashSet;
use std::sync::Arc;

use crate::HiveError;
use crate::gateway::{DispatcherMsg, LocalCmd, LocalWorker};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::enqueue_on;
use crate::runtime::swarm::mailbox::{LinkReport, Task, TaskOwner};
use crate::runtime::swarm::slot::AgentSlot;
use crate::task::{FailCode, TaskEnd};

/// Reports an agent may queue for its link before it waits.
const REPORTS: usize = 1024;

/// The dispatcher's name for a pool worker.
pub(crate) fn local_id(worker: &str) -> Arc<str> {
    format!("local/{worker}").into()
}

/// Offers the worker in `slot` to the dispatcher and starts its link;
/// `ended` is called when the link ends on its own.
pub(crate) async fn attach(
    name: &str,
    ctx: &SwarmCtx,
    slot: Arc<AgentSlot>,
    capabilities: Vec<String>,
    ended: impl FnOnce() + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>, HiveError> {
    let d = crate::gateway::dispatcher_ref(name)
        .ok_or_else(|| HiveError::Unavailable("the dispatcher is restarting".into()))?;
    let id = local_id(&slot.name);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<LocalCmd>(1024);
    let (reports, mut reported) = tokio::sync::mpsc::channel::<LinkReport>(REPORTS);
    let w = LocalWorker { id: id.clone(), capabilities, slots: 1, tx };
    ractor::call!(d, DispatcherMsg::AttachLocal, w)??;
    let ctx = ctx.clone();
    Ok(tokio::spawn(async move {
        // The dispatcher's tasks given to the worker and not cancelled.
        let mut mine: HashSet<Arc<str>> = HashSet::new();
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    None => break,
                    Some(LocalCmd::Task { task_id, prompt }) => {
                        mine.insert(task_id.clone());
                        let owner = TaskOwner::Link(reports.clone());
                        let task = Task { id: task_id.clone(), content: prompt, from: "dispatcher".into(), owner };
                        if enqueue_on(&ctx, &slot, task).is_err() {
                            mine.remove(&task_id);
                            let end = TaskEnd::failed(FailCode::Rejected, "the worker's inbox is full");
                            let _ = d.cast(DispatcherMsg::LocalEnd(id.clone(), task_id, end));
                        }
                    }
                    Some(LocalCmd::Cancel(task_id)) => {
                        mine.remove(&task_id);
                        let _ = crate::runtime::swarm::cancel_on(&ctx, &slot, &task_id).await;
                    }
                },
                r = reported.recv() => match r {
                    None => break,
                    Some(LinkReport::Token(task_id, content)) if mine.contains(&task_id) => {
                        let _ = d.cast(DispatcherMsg::LocalToken(id.clone(), task_id, content));
                    }
                    Some(LinkReport::End(task_id, end)) if mine.remove(&task_id) => {
                        let _ = d.cast(DispatcherMsg::LocalEnd(id.clone(), task_id, end));
                    }
                    Some(_) => {}
                },
            }
        }
        ended();
    }))
}

/// Tells the dispatcher the worker is gone (its task is requeued).
pub(crate) fn detach(name: &str, worker: &str, why: &str) {
    if let Some(d) = crate::gateway::dispatcher_ref(name) {
        let _ = d.cast(DispatcherMsg::DetachLocal(local_id(worker), why.into()));
    }
}
