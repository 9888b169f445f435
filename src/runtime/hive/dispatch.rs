//! The dispatch handle: tasks for the ZeroMQ and pool workers (submit,
//! follow, cancel), the connected workers and their maintenance switch, and
//! the gateway's state. Each call is a message to the dispatcher; the
//! calls that bring new tasks first pass the maintenance gate.

use std::sync::Arc;

use ractor::ActorRef;

use super::Hive;
use crate::error::HiveError;
use crate::gateway::{DispatchRequest, DispatcherMsg, GatewayStatus, Submit, ZmqWorker};
use crate::task::Follower;

/// The dispatcher of a runtime ([`Hive::gateway`]).
pub struct Dispatch<'a>(pub(super) &'a Hive);

/// The dispatcher registered as `name` (`None`: the gateway is off).
pub(super) fn actor_of(name: Option<&str>) -> Result<ActorRef<DispatcherMsg>, HiveError> {
    let name = name.ok_or_else(|| HiveError::Unavailable("the ZeroMQ gateway is disabled".into()))?;
    crate::gateway::dispatcher_ref(name).ok_or_else(|| HiveError::Unavailable("the dispatcher is restarting".into()))
}

/// Submits to the dispatcher `name`, past any gate: a task whose record
/// could not be made durable is cancelled and refused.
pub(super) async fn submit_to(
    name: Option<&str>,
    req: DispatchRequest,
    how: Submit,
) -> Result<(Arc<str>, Option<Follower>), HiveError> {
    let actor = actor_of(name)?;
    let d = ractor::call!(actor, DispatcherMsg::Submit, req, how)??;
    if let Some(durable) = d.durable {
        let recorded =
            durable.await.unwrap_or_else(|_| Err(crate::task::NotDurable::Failed("the store stopped".into())));
        if let Err(e) = recorded {
            let _ = ractor::call!(actor, DispatcherMsg::Cancel, d.id.to_string());
            return Err(crate::runtime::swarm::not_recorded(&e));
        }
    }
    Ok((d.id, d.follower))
}

impl Dispatch<'_> {
    pub(super) fn actor(&self) -> Result<ActorRef<DispatcherMsg>, HiveError> {
        actor_of(self.0.dispatcher_name.as_deref())
    }

    /// Whether the ZeroMQ gateway runs.
    pub fn enabled(&self) -> bool {
        self.0.dispatcher_name.is_some()
    }

    /// Queues a task for the workers. `how` says when the answer comes (once
    /// the task is recorded, or at once for a caller that waits for the
    /// result) and whether it carries the task's updates; see [`Submit`].
    /// A task whose record could not be made durable is cancelled and
    /// refused: nothing is acknowledged that was not committed. Refused in
    /// maintenance.
    pub async fn submit(&self, req: DispatchRequest, how: Submit) -> Result<(Arc<str>, Option<Follower>), HiveError> {
        self.0.maintenance.admit("a new task")?;
        self.submit_admitted(req, how).await
    }

    /// [`Self::submit`] past the maintenance gate (for orchestrate, which
    /// passed it once for all its tasks: a plan that started finishes).
    pub(super) async fn submit_admitted(
        &self,
        req: DispatchRequest,
        how: Submit,
    ) -> Result<(Arc<str>, Option<Follower>), HiveError> {
        submit_to(self.0.dispatcher_name.as_deref(), req, how).await
    }

    /// Dispatches a task whose result is POSTed to `hook` once it ends (or
    /// once its timeout passes), by the runtime's webhook deliverer: only to
    /// URLs under an allowed prefix (`Forbidden` else), at most so many at
    /// once (`Full` beyond), retried (see [`crate::gateway::WebhookOptions`]).
    /// Answered once the task is recorded, as [`Submit::QueueAndFollow`].
    pub async fn submit_webhook(
        &self,
        req: DispatchRequest,
        hook: crate::gateway::Webhook,
    ) -> Result<Arc<str>, HiveError> {
        self.0.maintenance.admit("a new task")?;
        let name = self.0.dispatcher_name.as_deref().unwrap_or_default();
        let to = crate::gateway::webhooks_ref(name).ok_or_else(|| match self.0.dispatcher_name {
            None => HiveError::Unavailable("the ZeroMQ gateway is disabled".into()),
            Some(_) => HiveError::Unavailable("the webhook deliverer is restarting".into()),
        })?;
        let wait = req.timeout.unwrap_or(std::time::Duration::from_secs(300));
        crate::gateway::dispatch_to(to, hook, wait, self.submit_admitted(req, Submit::QueueAndFollow)).await
    }

    /// Queues a task for the workers and answers its record once it is
    /// recorded ([`Submit::Queue`]); with `webhook`, its result is also
    /// POSTed there ([`Dispatch::submit_webhook`]). The task waits for a
    /// worker that can take it until its timeout: no worker being connected
    /// is not a refusal.
    pub async fn queue(
        &self,
        req: DispatchRequest,
        webhook: Option<crate::gateway::Webhook>,
    ) -> Result<crate::task::TaskRecord, HiveError> {
        let id = match webhook {
            Some(hook) => self.submit_webhook(req, hook).await?,
            None => self.submit(req, Submit::Queue).await?.0,
        };
        self.0.tasks().get(&id).await
    }

    /// Updates of a dispatched task that has not ended.
    pub async fn follow(&self, task_id: &str) -> Result<Follower, HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::Subscribe, task_id.to_string())?
    }

    /// Cancels a dispatched task (its worker gets `cancel`).
    pub async fn cancel(&self, task_id: &str) -> Result<(), HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::Cancel, task_id.to_string())?
    }

    /// The connected workers (ZeroMQ, and pool workers as `local/<id>`).
    pub async fn workers(&self) -> Result<Vec<ZmqWorker>, HiveError> {
        Ok(ractor::call!(self.actor()?, DispatcherMsg::Workers)?)
    }

    /// Waiting tasks per priority, highest (1) first; none when the gateway is off.
    pub(super) async fn queue_depths(&self) -> Result<Vec<(u8, usize)>, HiveError> {
        if !self.enabled() {
            return Ok(Vec::new());
        }
        Ok(ractor::call!(self.actor()?, DispatcherMsg::QueueDepths)?)
    }

    /// One connected worker (`NotFound` if none has that id).
    pub async fn worker(&self, worker_id: &str) -> Result<ZmqWorker, HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::Worker, worker_id.to_string())?
    }

    /// Force-unregisters a ZeroMQ worker: its running tasks are requeued
    /// through the task book (up to `max_attempts`, as when a worker dies),
    /// its socket identity is forgotten, so a later frame from it is
    /// treated like one from an unknown worker (a heartbeat is answered
    /// `rejected`, "not registered: send ready", and a `ready` registers it
    /// anew). `NotFound` if unknown; `Conflict` for a pool worker (killed
    /// through the pool instead).
    /// Answers the ids of the tasks it requeued.
    pub async fn unregister(&self, worker_id: &str) -> Result<Vec<Arc<str>>, HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::Unregister, worker_id.to_string())?
    }

    /// The gateway's state (`enabled: false` when it is off).
    pub async fn status(&self) -> Result<GatewayStatus, HiveError> {
        if !self.enabled() {
            return Ok(GatewayStatus {
                enabled: false,
                endpoint: String::new(),
                port: 0,
                connected: 0,
                queue_depth: 0,
                running: 0,
            });
        }
        Ok(ractor::call!(self.actor()?, DispatcherMsg::Status)?)
    }

    /// Test hook: kills the gateway's socket task (it panics). The
    /// dispatcher learns of it and fails; its supervisor starts it again,
    /// bound to the same address, with the open tasks queued again.
    #[doc(hidden)]
    pub fn kill_socket(&self) -> Result<(), HiveError> {
        self.actor()?
            .cast(DispatcherMsg::KillSocket)
            .map_err(|_| HiveError::Unavailable("the dispatcher is restarting".into()))
    }

    /// Maintenance: `false` drains a worker (running tasks finish, no new
    /// ones), `true` makes it accept tasks again.
    pub async fn set_accepting(&self, worker_id: &str, accepting: bool) -> Result<(), HiveError> {
        ractor::call!(self.actor()?, DispatcherMsg::Accepting, worker_id.to_string(), accepting)?
    }
}
