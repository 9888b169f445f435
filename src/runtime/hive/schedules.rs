//! The schedules handle ([`Schedules`]): make, edit, delete, list and read
//! schedules and their runs, each a message to the scheduler (a root
//! child, `schedule/scheduler.rs`). Also the runtime's side of firing
//! ([`Reach`], the scheduler's [`Fire`]): a pool target is dispatched, an
//! agent target sent to its swarm, each recorded as submitted by the
//! schedule's creator and carrying its tick, past the maintenance gate.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use ractor::ActorRef;

use super::{Hive, dispatch};
use crate::access::Principal;
use crate::error::HiveError;
use crate::gateway::{DispatchRequest, DispatcherMsg, Submit};
use crate::runtime::maintenance::Maintenance;
use crate::runtime::registry::RegistryMsg;
use crate::runtime::swarm::SwarmState;
use crate::runtime::swarm::handle::SwarmHandle;
use crate::schedule::{Fire, FireRequest, RunView, ScheduleEdit, ScheduleSpec, ScheduleView, SchedulerMsg, Target};
use crate::task::TaskBook;

/// Most runs one read answers.
pub(crate) const MAX_RUNS_READ: usize = 1_000;

/// What the scheduler reaches of the runtime.
pub(super) struct Reach {
    pub(super) registry: String,
    pub(super) dispatcher: Option<String>,
    pub(super) gate: Maintenance,
    pub(super) book: TaskBook,
}

impl Reach {
    async fn swarm(&self, name: &str) -> Result<SwarmHandle, HiveError> {
        let registry = super::registry_ref(&self.registry)?;
        let actor = ractor::call!(registry, RegistryMsg::Get, name.to_string())??;
        Ok(SwarmHandle { name: name.to_string(), actor, gate: self.gate.clone() })
    }
}

impl Fire for Reach {
    fn check(&self, target: &Target) -> BoxFuture<'_, Result<(), HiveError>> {
        let target = target.clone();
        async move {
            match target {
                Target::Pool(_) if self.dispatcher.is_none() => {
                    Err(HiveError::BadRequest("no pool to fire at: the ZeroMQ gateway is disabled".into()))
                }
                Target::Pool(_) => Ok(()),
                Target::Agent(a) => {
                    let swarm = self.swarm(&a.swarm).await.map_err(|_| {
                        HiveError::BadRequest(format!("unknown target: no running swarm '{}'", a.swarm))
                    })?;
                    swarm.agent_status(&a.agent).await.map(|_| ()).map_err(|_| {
                        HiveError::BadRequest(format!("unknown target: swarm '{}' has no agent '{}'", a.swarm, a.agent))
                    })
                }
            }
        }
        .boxed()
    }

    fn fire(&self, req: FireRequest) -> BoxFuture<'_, Result<Arc<str>, HiveError>> {
        async move {
            self.gate.admit("a scheduled task")?;
            match req.target {
                Target::Pool(p) => {
                    let d = DispatchRequest {
                        prompt: req.content,
                        model: p.model,
                        context: p.context,
                        priority: p.priority,
                        capabilities: p.capabilities,
                        timeout: p.timeout_ms.map(std::time::Duration::from_millis),
                        swarm: None,
                        agent: None,
                        submitted_by: req.submitted_by,
                        tick: Some(req.tick),
                    };
                    Ok(dispatch::submit_to(self.dispatcher.as_deref(), d, Submit::Queue).await?.0)
                }
                Target::Agent(a) => {
                    let swarm = self.swarm(&a.swarm).await?;
                    swarm.send_scheduled(&a.agent, &req.content, req.submitted_by.as_deref(), req.tick).await
                }
            }
        }
        .boxed()
    }

    fn is_open(&self, task_id: &str) -> bool {
        self.book.get(task_id).is_some_and(|r| !r.is_final())
    }

    fn cancel(&self, target: &Target, task_id: &str) -> BoxFuture<'_, ()> {
        let (target, id) = (target.clone(), task_id.to_string());
        async move {
            let done = match target {
                Target::Pool(_) => match dispatch::actor_of(self.dispatcher.as_deref()) {
                    Ok(d) => {
                        ractor::call!(d, DispatcherMsg::Cancel, id.clone()).map_err(HiveError::from).and_then(|r| r)
                    }
                    Err(e) => Err(e),
                },
                Target::Agent(a) => match self.swarm(&a.swarm).await {
                    Ok(s) => s.cancel_task(&a.agent, &id).await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = done {
                tracing::debug!(task = %id, "the previous scheduled task was not cancelled: {e}");
            }
        }
        .boxed()
    }

    fn running_swarms(&self) -> BoxFuture<'_, Vec<String>> {
        async move {
            let Ok(registry) = super::registry_ref(&self.registry) else { return Vec::new() };
            let all = ractor::call!(registry, RegistryMsg::List).unwrap_or_default();
            all.into_iter().filter(|s| s.state == SwarmState::Running).map(|s| s.name).collect()
        }
        .boxed()
    }
}

/// The schedules of a runtime ([`Hive::schedules`]).
pub struct Schedules<'a>(pub(super) &'a Hive);

impl Schedules<'_> {
    fn actor(&self) -> Result<ActorRef<SchedulerMsg>, HiveError> {
        ractor::registry::where_is(self.0.scheduler_name.clone())
            .map(ActorRef::from)
            .ok_or_else(|| HiveError::Unavailable("the scheduler is restarting".into()))
    }

    /// Makes a schedule, created by `who` (its tasks are submitted by that
    /// token's name). `Conflict` if the name is taken; `BadRequest` for a
    /// bad timing or an unknown target.
    pub async fn create(&self, spec: ScheduleSpec, who: &Principal) -> Result<ScheduleView, HiveError> {
        ractor::call!(self.actor()?, SchedulerMsg::Create, Box::new(spec), Some(who.name.to_string()))?
    }

    /// Edits a schedule (a swarm's: only `enabled`).
    pub async fn edit(&self, name: &str, edit: ScheduleEdit) -> Result<ScheduleView, HiveError> {
        ractor::call!(self.actor()?, SchedulerMsg::Edit, name.to_string(), Box::new(edit))?
    }

    /// Deletes a schedule made through the API, with its runs.
    pub async fn delete(&self, name: &str) -> Result<(), HiveError> {
        ractor::call!(self.actor()?, SchedulerMsg::Delete, name.to_string())?
    }

    /// One schedule.
    pub async fn get(&self, name: &str) -> Result<ScheduleView, HiveError> {
        ractor::call!(self.actor()?, SchedulerMsg::Get, name.to_string())?
    }

    /// Every schedule, by name.
    pub async fn list(&self) -> Result<Vec<ScheduleView>, HiveError> {
        Ok(ractor::call!(self.actor()?, SchedulerMsg::List)?)
    }

    /// A schedule's latest runs (at most `limit`, up to
    /// [`MAX_RUNS_READ`]), newest first, each with its task's status now.
    pub async fn runs(&self, name: &str, limit: usize) -> Result<Vec<RunView>, HiveError> {
        let limit = limit.min(MAX_RUNS_READ);
        let (_, runs) = ractor::call!(self.actor()?, SchedulerMsg::Runs, name.to_string(), limit)??;
        let mut out = Vec::with_capacity(runs.len());
        for run in &runs {
            let status = match &run.task_id {
                Some(id) => self.0.tasks().get(id).await.ok().map(|r| r.status),
                None => None,
            };
            out.push(RunView::of(run, status));
        }
        Ok(out)
    }

    /// A swarm runs: its file's schedules fire.
    pub(super) async fn attach(&self, swarm: &str, specs: Vec<ScheduleSpec>) {
        let r = match self.actor() {
            Ok(a) => ractor::call!(a, SchedulerMsg::Attach, swarm.to_string(), specs)
                .map_err(HiveError::from)
                .and_then(|r| r),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            let message = format!("swarm '{swarm}': its schedules do not fire: {e}");
            self.0.bus.emit(None, None, crate::events::EventKind::Log { level: crate::events::Level::Error, message });
        }
    }

    /// A swarm stopped (`purge`: and is forgotten): its schedules stop firing
    /// (are deleted).
    pub(super) async fn detach(&self, swarm: &str, purge: bool) {
        if let Ok(a) = self.actor() {
            let _ = ractor::call!(a, SchedulerMsg::Detach, swarm.to_string(), purge);
        }
    }
}
