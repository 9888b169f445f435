//! [`SwarmHandle`]: the API of one running swarm, one method per operation,
//! each a message to the swarm actor (none touches actor state directly).
//! The calls that bring new work (a task, a user's message, an agent added,
//! a group scaled up) first pass the runtime's maintenance gate.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort, rpc::CallResult};
use serde_json::Value;

use crate::config::{self, AgentSpec, Edge, ObjectSpec, SwarmSpec};
use crate::error::HiveError;
use crate::runtime::maintenance::Maintenance;
use crate::runtime::swarm::router::{EndpointSender, RoutedMessage};
use crate::runtime::swarm::slot::HistoryEntry;
use crate::runtime::swarm::{AgentProbe, AgentStatus, EdgeChange, ScaleResult, SwarmMsg, SwarmStatus};
use crate::task::{Follower, TaskEnd};

/// A handle to a running swarm: the runtime API, one method per operation.
#[derive(Clone)]
pub struct SwarmHandle {
    pub(crate) name: String,
    pub(crate) actor: ActorRef<SwarmMsg>,
    /// The runtime's maintenance switch (checked by the calls that bring new work).
    pub(crate) gate: Maintenance,
}

impl std::fmt::Debug for SwarmHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmHandle").field("name", &self.name).finish_non_exhaustive()
    }
}

type Port<T> = RpcReplyPort<Result<T, HiveError>>;

impl SwarmHandle {
    /// The swarm's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) async fn ask<T: Send + 'static>(&self, f: impl FnOnce(Port<T>) -> SwarmMsg) -> Result<T, HiveError> {
        match self.actor.call(f, None).await? {
            CallResult::Success(r) => r,
            _ => Err(HiveError::Unavailable(format!("swarm '{}' stopped", self.name))),
        }
    }

    /// Status: state, agents, objects, groups, topology, restarts.
    pub async fn status(&self) -> Result<SwarmStatus, HiveError> {
        Ok(ractor::call!(self.actor, SwarmMsg::Status)?)
    }

    /// What the metrics show of the swarm, with per-agent rows when it has
    /// at most `per_agent` agents.
    pub(crate) async fn sample(
        &self,
        per_agent: usize,
    ) -> Result<crate::runtime::swarm::sample::SwarmSample, HiveError> {
        Ok(ractor::call!(self.actor, SwarmMsg::Sample, per_agent)?)
    }

    /// The effective spec (seed plus every change).
    pub async fn spec(&self) -> Result<SwarmSpec, HiveError> {
        Ok(ractor::call!(self.actor, SwarmMsg::Spec)?)
    }

    /// The effective spec as a swarm file.
    pub async fn snapshot_toml(&self) -> Result<String, HiveError> {
        Ok(config::to_toml(&self.spec().await?))
    }

    /// Adds an agent (or a group) with outgoing `connections` and `incoming`
    /// edges; returns the names started.
    pub async fn add_agent(
        &self,
        spec: AgentSpec,
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<Vec<String>, HiveError> {
        self.gate.admit("adding an agent")?;
        self.ask(|reply| SwarmMsg::AddAgent { spec, connections, incoming, reply }).await
    }

    /// Removes an agent, or a whole group; returns the names stopped.
    pub async fn remove_agent(&self, name: &str) -> Result<Vec<String>, HiveError> {
        self.ask(|r| SwarmMsg::RemoveAgent(name.into(), r)).await
    }

    /// Restarts an agent with its spec (not counted against the intensity).
    pub async fn restart_agent(&self, name: &str) -> Result<(), HiveError> {
        self.ask(|r| SwarmMsg::RestartAgent(name.into(), r)).await
    }

    /// One agent's status.
    pub async fn agent_status(&self, name: &str) -> Result<AgentStatus, HiveError> {
        self.ask(|r| SwarmMsg::AgentStatus(name.into(), r)).await
    }

    /// An agent's last `limit` history entries.
    pub async fn history(&self, name: &str, limit: usize) -> Result<Vec<HistoryEntry>, HiveError> {
        self.ask(|r| SwarmMsg::History(name.into(), limit, r)).await
    }

    /// Adds an object with edges.
    pub async fn add_object(
        &self,
        spec: ObjectSpec,
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<(), HiveError> {
        self.ask(|reply| SwarmMsg::AddObject { spec, connections, incoming, reply }).await
    }

    /// Removes an object.
    pub async fn remove_object(&self, name: &str) -> Result<(), HiveError> {
        self.ask(|r| SwarmMsg::RemoveObject(name.into(), r)).await
    }

    /// An object's live state.
    pub async fn object_state(&self, name: &str) -> Result<Value, HiveError> {
        self.ask(|r| SwarmMsg::ObjectState(name.into(), r)).await
    }

    /// Replaces an object's configuration.
    pub async fn configure_object(&self, name: &str, config: Value) -> Result<(), HiveError> {
        self.ask(|r| SwarmMsg::ConfigureObject(name.into(), config, r)).await
    }

    /// Adds and removes edges, all or nothing.
    pub async fn update_edges(&self, add: Vec<Edge>, remove: Vec<Edge>) -> Result<EdgeChange, HiveError> {
        self.ask(|reply| SwarmMsg::UpdateEdges { add, remove, reply }).await
    }

    /// Scales a group to `count` members. In maintenance, scaling down (or
    /// to the same size) is served and scaling up is refused.
    pub async fn scale(&self, group: &str, count: u64) -> Result<ScaleResult, HiveError> {
        if !self.gate.accepting() {
            let now = self.status().await?.groups.iter().find(|g| g.name == group).map(|g| u64::from(g.replicas));
            if now.is_some_and(|n| count > n) {
                self.gate.admit("scaling a group up")?;
            }
        }
        self.ask(|reply| SwarmMsg::Scale { group: group.into(), count, reply }).await
    }

    /// Queues a task for an agent; returns its id.
    pub async fn send_task(&self, agent: &str, content: &str) -> Result<Arc<str>, HiveError> {
        self.send_task_by(agent, content, None).await
    }

    /// [`send_task`](Self::send_task), recorded as submitted by the token
    /// `submitted_by`.
    pub async fn send_task_by(
        &self,
        agent: &str,
        content: &str,
        submitted_by: Option<&str>,
    ) -> Result<Arc<str>, HiveError> {
        Ok(self.submit(agent, content, submitted_by, None, false).await?.0)
    }

    /// Queues the task of a schedule's tick (recorded as submitted by the
    /// schedule's creator, carrying the tick); answered once it is durable.
    pub async fn send_scheduled(
        &self,
        agent: &str,
        content: &str,
        submitted_by: Option<&str>,
        tick: crate::task::ScheduleTick,
    ) -> Result<Arc<str>, HiveError> {
        Ok(self.submit(agent, content, submitted_by, Some(tick), false).await?.0)
    }

    /// Queues a task for an agent and follows it (its updates through the
    /// task book: tokens, then the end).
    pub async fn follow_task(&self, agent: &str, content: &str) -> Result<(Arc<str>, Follower), HiveError> {
        self.follow_task_by(agent, content, None).await
    }

    /// [`follow_task`](Self::follow_task), recorded as submitted by the
    /// token `submitted_by`.
    pub async fn follow_task_by(
        &self,
        agent: &str,
        content: &str,
        submitted_by: Option<&str>,
    ) -> Result<(Arc<str>, Follower), HiveError> {
        let (id, follower) = self.submit(agent, content, submitted_by, None, true).await?;
        Ok((id, follower.ok_or_else(|| HiveError::Unavailable("the task has no follower".into()))?))
    }

    async fn submit(
        &self,
        agent: &str,
        content: &str,
        submitted_by: Option<&str>,
        tick: Option<crate::task::ScheduleTick>,
        follow: bool,
    ) -> Result<(Arc<str>, Option<Follower>), HiveError> {
        self.gate.admit("a new task")?;
        self.ask(|reply| SwarmMsg::SendTask {
            agent: agent.into(),
            content: content.into(),
            from: "user".into(),
            submitted_by: submitted_by.map(String::from),
            tick,
            follow,
            reply,
        })
        .await
    }

    /// Sends a task and waits (up to `timeout`) for how it ends.
    pub async fn run_task(&self, agent: &str, content: &str, timeout: Duration) -> Result<TaskEnd, HiveError> {
        let (id, follower) = self.follow_task(agent, content).await?;
        tokio::time::timeout(timeout, follower.end())
            .await
            .map_err(|_| HiveError::Unavailable(format!("task {id} did not finish within {timeout:?}")))?
            .ok_or_else(|| HiveError::Unavailable(format!("the runtime stopped before task {id} ended")))
    }

    /// Cancels a queued or running task of an agent.
    pub async fn cancel_task(&self, agent: &str, task_id: &str) -> Result<(), HiveError> {
        self.ask(|reply| SwarmMsg::CancelTask { agent: agent.into(), task_id: task_id.into(), reply }).await
    }

    /// Routes a message `from → to`; returns the number of recipients.
    pub async fn send_message(&self, from: &str, to: &str, content: &str) -> Result<usize, HiveError> {
        self.gate.admit("a new message")?;
        self.ask(|reply| SwarmMsg::SendMessage { from: from.into(), to: to.into(), content: content.into(), reply })
            .await
    }

    /// A sender that speaks for endpoint `from` (see [`EndpointSender`]).
    pub async fn sender(&self, from: &str) -> Result<EndpointSender, HiveError> {
        self.ask(|r| SwarmMsg::Sender(from.into(), r)).await
    }

    /// An actor-free reader of one agent's status (see [`AgentProbe`]).
    pub async fn probe(&self, agent: &str) -> Result<AgentProbe, HiveError> {
        self.ask(|r| SwarmMsg::Probe(agent.into(), r)).await
    }

    /// Pauses every agent (SIGSTOP to each stdio agent's process group; mock
    /// agents stop taking items); returns how many were paused.
    pub async fn pause(&self) -> Result<usize, HiveError> {
        self.ask(|r| SwarmMsg::Pause(true, r)).await
    }

    /// Resumes every paused agent (SIGCONT); returns how many were resumed.
    pub async fn resume(&self) -> Result<usize, HiveError> {
        self.ask(|r| SwarmMsg::Pause(false, r)).await
    }

    /// The last `limit` routed messages.
    pub async fn messages(&self, limit: usize) -> Result<Vec<RoutedMessage>, HiveError> {
        self.ask(|r| SwarmMsg::Messages(limit, r)).await
    }
}
