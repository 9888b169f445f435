//! The swarm's operations: each checks everything first, then applies the
//! change to the routing table, the supervisors and the effective spec, then
//! emits its events. A refused operation changes nothing.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;

use super::status::{AgentStatus, GroupStatus, ObjectStatus, SwarmState, SwarmStatus};
use super::tasks::agent_call_ms;
use super::tree::{object_child, write};
use super::{EdgeChange, ScaleFailure, ScaleResult, SwarmRun};
use crate::config::{AgentSpec, Edge, MAX_AGENTS, MAX_OBJECTS, MAX_REPLICAS, ObjectSpec, SwarmSpec, member_name};
use crate::error::{EdgeError, HiveError, Resource};
use crate::events::{EventKind, rfc3339_ms};
use crate::runtime::swarm::agent::AgentMsg;
use crate::runtime::swarm::agent::process::allow::program_argv;
use crate::runtime::swarm::agent::{child_spec as agent_child, retire};
use crate::runtime::swarm::object::ObjectMsg;
use crate::runtime::swarm::router::table::{Endpoint, RoutingTable};
use crate::runtime::swarm::slot::{AgentSlot, ObjectImpl, ObjectSlot};
use crate::supervisor::{SupervisorError, SupervisorMsg};
use crate::task::FailCode;

impl SwarmRun {
    fn table(&self) -> RoutingTable {
        (*self.shared.ctx.router.table()).clone()
    }

    fn publish(&self, table: RoutingTable) {
        self.shared.ctx.router.set_table(Arc::new(table));
    }

    pub(super) fn group_spec(&self, name: &str) -> Option<&AgentSpec> {
        self.spec.agents.iter().find(|a| a.name == name && a.replicas.is_some())
    }

    fn is_taken(&self, name: &str) -> bool {
        self.shared.agent(name).is_some() || self.shared.object(name).is_some() || self.group_spec(name).is_some()
    }

    fn agent_count(&self) -> usize {
        self.shared.agent_slots().len()
    }

    fn new_agent_slot(&self, name: &str, group: Option<&str>, spec: &Arc<AgentSpec>) -> Arc<AgentSlot> {
        Arc::new(AgentSlot::new(name.into(), group.map(Arc::from), spec.clone(), self.limits.mailbox_capacity))
    }

    fn register_agent(&self, table: &mut RoutingTable, slot: &Arc<AgentSlot>) {
        table.insert_endpoint(slot.name.clone(), Endpoint { group: slot.group.clone(), mailbox: slot.mailbox.clone() });
        write(&self.shared.agents).insert(slot.name.clone(), slot.clone());
    }

    /// Loads the seed spec before the tree starts (no actors yet).
    pub(crate) fn load(&mut self, seed: &SwarmSpec) -> Result<(), HiveError> {
        let mut table = self.table();
        for a in &seed.agents {
            let spec = Arc::new(a.clone());
            match a.replicas {
                None => {
                    let slot = self.new_agent_slot(&a.name, None, &spec);
                    self.register_agent(&mut table, &slot);
                }
                Some(n) => {
                    table.insert_group(a.name.as_str().into());
                    for i in 1..=n {
                        let slot = self.new_agent_slot(&member_name(&a.name, i), Some(&a.name), &spec);
                        self.register_agent(&mut table, &slot);
                    }
                }
            }
            self.spec.agents.push(a.clone());
        }
        for o in &seed.objects {
            let slot = self.new_object_slot(o.clone())?;
            self.register_object(&mut table, &slot);
            self.spec.objects.push(o.clone());
        }
        for e in &seed.topology {
            if table.add_edge(&e.from, &e.to) {
                self.spec.topology.push(e.clone());
            }
        }
        self.publish(table);
        Ok(())
    }

    pub(crate) fn status(&self) -> SwarmStatus {
        let agents: Vec<AgentStatus> = self.shared.agent_slots().iter().map(|s| AgentStatus::of(s)).collect();
        let objects: Vec<ObjectStatus> = self.shared.object_slots().iter().map(|s| ObjectStatus::of(s)).collect();
        let restarts = agents.iter().map(|a| u64::from(a.restarts)).sum::<u64>()
            + objects.iter().map(|o| u64::from(o.restarts)).sum::<u64>();
        SwarmStatus {
            name: self.spec.name.clone(),
            state: SwarmState::Running,
            started_at: rfc3339_ms(self.started_at_ms),
            failure_reason: None,
            supervision: Some((&self.spec.supervision).into()),
            groups: self
                .spec
                .agents
                .iter()
                .filter_map(|a| a.replicas.map(|n| GroupStatus { name: a.name.clone(), replicas: n }))
                .collect(),
            agents,
            objects,
            topology: self.spec.topology.clone(),
            restarts,
        }
    }

    /// The effective spec: seed plus every change since.
    pub(crate) fn effective_spec(&self) -> SwarmSpec {
        let mut spec = self.spec.clone();
        spec.objects = self.shared.object_slots().iter().map(|o| o.spec()).collect();
        spec
    }

    /// Checks edges between known names (`extra` names count as known).
    fn check_edges(&self, table: &RoutingTable, edges: &[Edge], extra: &[&str]) -> Vec<EdgeError> {
        let known = |n: &str| table.knows(n) || extra.contains(&n);
        edges
            .iter()
            .filter_map(|e| {
                let bad = [&e.from, &e.to].into_iter().find(|n| !known(n))?;
                Some(EdgeError { from: e.from.clone(), to: e.to.clone(), reason: format!("unknown endpoint '{bad}'") })
            })
            .collect()
    }

    fn add_edges(&mut self, table: &mut RoutingTable, edges: Vec<Edge>) -> Vec<(String, String)> {
        let mut added = Vec::new();
        for e in edges {
            if table.add_edge(&e.from, &e.to) {
                added.push((e.from.clone(), e.to.clone()));
                self.spec.topology.push(e);
            }
        }
        added
    }

    /// Checks that a new endpoint's names are free and its edges name known
    /// endpoints; returns a copy of the table to change and the edges.
    fn check_new_endpoint(
        &self,
        name: &str,
        members: &[String],
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<(RoutingTable, Vec<Edge>), HiveError> {
        if let Some(taken) = std::iter::once(name).chain(members.iter().map(String::as_str)).find(|n| self.is_taken(n))
        {
            return Err(HiveError::Conflict(format!("the name '{taken}' is already used in this swarm")));
        }
        let table = self.table();
        let edges: Vec<Edge> = connections
            .into_iter()
            .map(|c| Edge::new(name, c))
            .chain(incoming.into_iter().map(|i| Edge::new(i, name)))
            .collect();
        let bad = self.check_edges(&table, &edges, &[name]);
        if !bad.is_empty() {
            return Err(HiveError::InvalidEdges(bad));
        }
        Ok((table, edges))
    }

    pub(crate) async fn add_agent(
        &mut self,
        spec: AgentSpec,
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<Vec<String>, HiveError> {
        let names: Vec<String> = match spec.replicas {
            None => vec![spec.name.clone()],
            Some(n) => (1..=n).map(|i| member_name(&spec.name, i)).collect(),
        };
        if self.agent_count() + names.len() > MAX_AGENTS {
            return Err(HiveError::BadRequest(format!("a swarm runs at most {MAX_AGENTS} agents")));
        }
        let (mut table, edges) = self.check_new_endpoint(&spec.name, &names, connections, incoming)?;
        let group = spec.replicas.map(|_| spec.name.clone());
        let shared_spec = Arc::new(spec.clone());
        if let Some(g) = &group {
            table.insert_group(g.as_str().into());
        }
        let slots: Vec<_> = names.iter().map(|n| self.new_agent_slot(n, group.as_deref(), &shared_spec)).collect();
        for s in &slots {
            self.register_agent(&mut table, s);
        }
        let (started, failed) = self.start_agents(&slots).await?;
        if let Some((name, reason)) = failed.into_iter().next() {
            self.stop_agents(&started, FailCode::AgentRemoved).await;
            return Err(HiveError::BadRequest(format!("agent '{name}' failed to start: {reason}")));
        }
        self.spec.agents.push(spec);
        let added = self.add_edges(&mut table, edges);
        self.publish(table);
        for s in &slots {
            self.shared
                .ctx
                .emit(&s.name, EventKind::AgentAdded { backend: s.spec.backend.kind(), group: s.group.clone() });
        }
        if !added.is_empty() {
            self.shared.ctx.emit_swarm(EventKind::TopologyChanged { added, removed: vec![] });
        }
        Ok(names)
    }

    /// Starts agents whose slots are registered; returns (started, failed).
    /// Failed ones (and every one after the first failure) are unregistered.
    async fn start_agents(
        &mut self,
        slots: &[Arc<AgentSlot>],
    ) -> Result<(Vec<Arc<AgentSlot>>, Vec<(String, String)>), HiveError> {
        let sup = self
            .shared
            .agents_sup()
            .ok_or_else(|| HiveError::Unavailable("the agents supervisor is restarting".into()))?;
        let ctx = self.shared.ctx.clone();
        let specs = slots.iter().map(|s| agent_child(s.clone(), ctx.clone())).collect();
        let results = ractor::call!(sup, SupervisorMsg::StartChildren, specs)?;
        let mut started = Vec::new();
        let mut failed = Vec::new();
        for (slot, r) in slots.iter().zip(results) {
            match r {
                Ok(()) if failed.is_empty() => started.push(slot.clone()),
                Ok(()) => {
                    let _ = ractor::call!(sup, SupervisorMsg::TerminateChild, slot.name.clone());
                    failed.push((slot.name.to_string(), "an earlier member failed to start".into()));
                }
                Err(SupervisorError::StartFailed(_, why)) => failed.push((slot.name.to_string(), why.0)),
                Err(e) => failed.push((slot.name.to_string(), e.to_string())),
            }
        }
        if !failed.is_empty() {
            let names: Vec<Arc<str>> = failed.iter().map(|(n, _)| Arc::from(n.as_str())).collect();
            self.unregister_agents(&names);
        }
        Ok((started, failed))
    }

    fn unregister_agents(&self, names: &[Arc<str>]) -> Vec<Arc<AgentSlot>> {
        let mut table = self.table();
        for n in names {
            table.remove_endpoint(n);
        }
        self.publish(table);
        write(&self.shared.agents).remove(names)
    }

    /// Unroutes, stops (in the given order) and forgets agents; their queued
    /// tasks fail with `code`.
    async fn stop_agents(&mut self, slots: &[Arc<AgentSlot>], code: FailCode) {
        let names: Vec<Arc<str>> = slots.iter().map(|s| s.name.clone()).collect();
        let gone = self.unregister_agents(&names);
        if let Some(sup) = self.shared.agents_sup() {
            let _ = ractor::call!(sup, SupervisorMsg::TerminateChildren, names);
        }
        for slot in gone {
            retire(&self.shared.ctx, &slot, code.clone(), "the agent was removed before running this task");
        }
    }

    /// Ends every queued task of every agent with a failure (the swarm is
    /// going away), so that each task has exactly one final event.
    pub(crate) fn fail_queued_tasks(&self, code: FailCode, message: &str) {
        for slot in self.shared.agent_slots() {
            retire(&self.shared.ctx, &slot, code.clone(), message);
        }
    }

    pub(crate) async fn remove_agent(&mut self, name: &str) -> Result<Vec<String>, HiveError> {
        if let Some(slot) = self.shared.agent(name) {
            if let Some(g) = &slot.group {
                return Err(HiveError::Conflict(format!(
                    "'{name}' is a member of group '{g}'; scale the group instead"
                )));
            }
            self.stop_agents(&[slot], FailCode::AgentRemoved).await;
        } else if self.group_spec(name).is_some() {
            let mut members: Vec<_> =
                self.shared.agent_slots().into_iter().filter(|s| s.group.as_deref() == Some(name)).collect();
            members.reverse();
            self.stop_agents(&members, FailCode::AgentRemoved).await;
            let mut table = self.table();
            table.remove_group(name);
            self.publish(table);
        } else {
            return Err(HiveError::agent(name));
        }
        let removed: Vec<String> = self.forget_names(name);
        for n in &removed {
            self.shared.ctx.emit(&Arc::from(n.as_str()), EventKind::AgentRemoved);
        }
        Ok(removed)
    }

    /// Drops an agent or group from the spec and its edges; returns the
    /// concrete names removed.
    fn forget_names(&mut self, name: &str) -> Vec<String> {
        let Some(i) = self.spec.agents.iter().position(|a| a.name == name) else {
            return vec![];
        };
        let a = self.spec.agents.remove(i);
        let names: Vec<String> = match a.replicas {
            None => vec![a.name.clone()],
            Some(n) => (1..=n).rev().map(|i| member_name(&a.name, i)).collect(),
        };
        let doomed: HashSet<&str> = names.iter().map(String::as_str).chain([name]).collect();
        self.spec.topology.retain(|e| !doomed.contains(e.from.as_str()) && !doomed.contains(e.to.as_str()));
        names
    }

    pub(crate) async fn restart_agent(&mut self, name: &str) -> Result<(), HiveError> {
        if self.shared.agent(name).is_none() {
            return Err(HiveError::agent(name));
        }
        let sup = self
            .shared
            .agents_sup()
            .ok_or_else(|| HiveError::Unavailable("the agents supervisor is restarting".into()))?;
        ractor::call!(sup, SupervisorMsg::RestartChild, name.into())?.map_err(|e| HiveError::Unavailable(e.to_string()))
    }

    /// A slot for a new object; a program handler is checked against the
    /// allowed programs here (a refusal names the globs).
    fn new_object_slot(&self, spec: ObjectSpec) -> Result<Arc<ObjectSlot>, HiveError> {
        let handler = match &spec.program {
            Some(p) => {
                let argv = program_argv(&p.command, p.env.keys(), self.kinds.program_globs()).map_err(|e| {
                    let why = format!("object '{}' cannot run its program: {e}", spec.name);
                    match e {
                        HiveError::Forbidden(_) => HiveError::Forbidden(why),
                        HiveError::Unavailable(_) => HiveError::Unavailable(why),
                        _ => HiveError::BadRequest(why),
                    }
                })?;
                ObjectImpl::Program(argv.into())
            }
            None => ObjectImpl::Kind(self.kinds.get(&spec.kind).ok_or_else(|| {
                HiveError::BadRequest(format!(
                    "unknown object kind '{}'; known: {}, or handler = \"{}\" with a command",
                    spec.kind,
                    self.kinds.names().join(", "),
                    crate::config::PROGRAM_HANDLER
                ))
            })?),
        };
        Ok(Arc::new(ObjectSlot::new(spec, handler, self.limits.mailbox_capacity)))
    }

    fn register_object(&self, table: &mut RoutingTable, slot: &Arc<ObjectSlot>) {
        table.insert_endpoint(slot.name.clone(), Endpoint { group: None, mailbox: slot.mailbox.clone() });
        write(&self.shared.objects).insert(slot.name.clone(), slot.clone());
    }

    pub(crate) async fn add_object(
        &mut self,
        spec: ObjectSpec,
        connections: Vec<String>,
        incoming: Vec<String>,
    ) -> Result<(), HiveError> {
        if self.shared.object_slots().len() >= MAX_OBJECTS {
            return Err(HiveError::BadRequest(format!("a swarm holds at most {MAX_OBJECTS} objects")));
        }
        let (mut table, edges) = self.check_new_endpoint(&spec.name, &[], connections, incoming)?;
        let slot = self.new_object_slot(spec.clone())?;
        let sup = self
            .shared
            .objects_sup()
            .ok_or_else(|| HiveError::Unavailable("the objects supervisor is restarting".into()))?;
        self.register_object(&mut table, &slot);
        let started =
            ractor::call!(sup, SupervisorMsg::StartChild, object_child(slot.clone(), self.shared.ctx.clone()))?;
        if let Err(e) = started {
            write(&self.shared.objects).remove(std::slice::from_ref(&slot.name));
            let why = match e {
                SupervisorError::StartFailed(_, why) => why.0,
                other => other.to_string(),
            };
            return Err(HiveError::BadRequest(format!("object '{}' failed to start: {why}", spec.name)));
        }
        let added = self.add_edges(&mut table, edges);
        self.publish(table);
        self.spec.objects.push(spec.clone());
        self.shared.ctx.emit(&slot.name, EventKind::ObjectAdded { kind: spec.kind.as_str().into() });
        if !added.is_empty() {
            self.shared.ctx.emit_swarm(EventKind::TopologyChanged { added, removed: vec![] });
        }
        Ok(())
    }

    pub(crate) async fn remove_object(&mut self, name: &str) -> Result<(), HiveError> {
        let slot = self.shared.object(name).ok_or_else(|| HiveError::object(name))?;
        let mut table = self.table();
        table.remove_endpoint(name);
        self.publish(table);
        if let Some(sup) = self.shared.objects_sup() {
            let _ = ractor::call!(sup, SupervisorMsg::TerminateChild, slot.name.clone());
        }
        write(&self.shared.objects).remove(std::slice::from_ref(&slot.name));
        let dropped = slot.mailbox.drain().len();
        if dropped > 0 {
            let message = format!("{dropped} queued requests discarded with the object");
            self.shared.ctx.emit(&slot.name, EventKind::Log { level: crate::events::Level::Warning, message });
        }
        self.spec.objects.retain(|o| o.name != name);
        self.spec.topology.retain(|e| e.from != name && e.to != name);
        self.shared.ctx.emit(&slot.name, EventKind::ObjectRemoved);
        Ok(())
    }

    /// Hands a state read to the object, which answers `reply` itself (a
    /// program within its deadline): the swarm actor does not wait.
    pub(crate) fn object_state(&self, name: &str, reply: super::Reply<Value>) {
        let actor = match self.shared.object(name) {
            None => Err(HiveError::object(name)),
            Some(slot) => crate::runtime::swarm::object::actor_of(&slot)
                .ok_or_else(|| HiveError::Unavailable(format!("object '{name}' is restarting"))),
        };
        match actor {
            Ok(actor) => {
                // A failed cast drops the port: the caller is told the actor is gone.
                let _ = actor.cast(ObjectMsg::State(reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    pub(crate) async fn configure_object(&self, name: &str, config: Value) -> Result<(), HiveError> {
        let slot = self.shared.object(name).ok_or_else(|| HiveError::object(name))?;
        if !config.is_object() {
            return Err(HiveError::BadRequest("config must be a JSON object".into()));
        }
        // What the swarm file (snapshot, seed) cannot hold is refused here:
        // a kind may take a null or a huge integer that TOML cannot write.
        crate::config::check_object_config(&config).map_err(|e| HiveError::BadRequest(e.to_string()))?;
        let actor = crate::runtime::swarm::object::actor_of(&slot)
            .ok_or_else(|| HiveError::Unavailable(format!("object '{name}' is restarting")))?;
        ractor::call!(actor, ObjectMsg::Configure, config)?.map_err(HiveError::from)
    }

    pub(crate) fn update_edges(&mut self, add: Vec<Edge>, remove: Vec<Edge>) -> Result<EdgeChange, HiveError> {
        let mut table = self.table();
        let mut bad = self.check_edges(&table, &add, &[]);
        bad.extend(remove.iter().filter(|e| !table.has_edge(&e.from, &e.to)).map(|e| EdgeError {
            from: e.from.clone(),
            to: e.to.clone(),
            reason: "no such edge".into(),
        }));
        if !bad.is_empty() {
            return Err(HiveError::InvalidEdges(bad));
        }
        let mut removed = Vec::new();
        for e in remove {
            if table.remove_edge(&e.from, &e.to) {
                self.spec.topology.retain(|x| x != &e);
                removed.push((e.from, e.to));
            }
        }
        let added = self.add_edges(&mut table, add);
        self.publish(table);
        let change = EdgeChange { added: added.len(), removed: removed.len() };
        if !added.is_empty() || !removed.is_empty() {
            self.shared.ctx.emit_swarm(EventKind::TopologyChanged { added, removed });
        }
        Ok(change)
    }

    pub(crate) async fn scale(&mut self, group: &str, count: u64) -> Result<ScaleResult, HiveError> {
        if count > u64::from(MAX_REPLICAS) {
            return Err(HiveError::BadRequest(format!("count {count} is over the limit of {MAX_REPLICAS} replicas")));
        }
        let count = count as u32;
        let Some(gspec) = self.group_spec(group).cloned() else {
            return Err(if self.shared.agent(group).is_some() {
                HiveError::Conflict(format!("'{group}' is not a scale group (it has no replicas)"))
            } else {
                HiveError::not_found(Resource::Group, group)
            });
        };
        let current = gspec.replicas.unwrap_or(0);
        let mut result = ScaleResult::default();
        if count > current {
            if self.agent_count() + (count - current) as usize > MAX_AGENTS {
                return Err(HiveError::BadRequest(format!("a swarm runs at most {MAX_AGENTS} agents")));
            }
            let spec = Arc::new(AgentSpec { replicas: None, ..gspec.clone() });
            let mut table = self.table();
            let mut slots = Vec::new();
            for i in current + 1..=count {
                let name = member_name(group, i);
                if self.is_taken(&name) {
                    result.failed.push(ScaleFailure { name, reason: "the name is already used".into() });
                    break;
                }
                let slot = self.new_agent_slot(&name, Some(group), &spec);
                self.register_agent(&mut table, &slot);
                slots.push(slot);
            }
            self.publish(table);
            let (started, failed) = self.start_agents(&slots).await?;
            result.failed.extend(failed.into_iter().map(|(name, reason)| ScaleFailure { name, reason }));
            result.added = started.iter().map(|s| s.name.to_string()).collect();
            self.set_replicas(group, current + started.len() as u32);
            for s in &started {
                self.shared
                    .ctx
                    .emit(&s.name, EventKind::AgentAdded { backend: s.spec.backend.kind(), group: s.group.clone() });
            }
        } else if count < current {
            let doomed: Vec<Arc<AgentSlot>> =
                (count + 1..=current).rev().filter_map(|i| self.shared.agent(&member_name(group, i))).collect();
            self.stop_agents(&doomed, FailCode::AgentRemoved).await;
            result.removed = doomed.iter().map(|s| s.name.to_string()).collect();
            let gone: HashSet<&str> = result.removed.iter().map(String::as_str).collect();
            self.spec.topology.retain(|e| !gone.contains(e.from.as_str()) && !gone.contains(e.to.as_str()));
            self.set_replicas(group, count);
            for n in &result.removed {
                self.shared.ctx.emit(&Arc::from(n.as_str()), EventKind::AgentRemoved);
            }
        }
        let to = self.group_spec(group).and_then(|g| g.replicas).unwrap_or(0);
        if to != current {
            self.shared.ctx.emit_swarm(EventKind::GroupScaled { group: group.into(), from: current, to });
        }
        Ok(result)
    }

    fn set_replicas(&mut self, group: &str, n: u32) {
        if let Some(a) = self.spec.agents.iter_mut().find(|a| a.name == group) {
            a.replicas = Some(n);
        }
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) every agent; returns how many changed.
    pub(crate) async fn pause(&self, pause: bool) -> Result<usize, HiveError> {
        let mut changed = 0;
        for slot in self.shared.agent_slots() {
            let Some(actor) = crate::runtime::swarm::agent::actor_of(&slot) else { continue };
            match ractor::call_t!(actor, AgentMsg::Pause, agent_call_ms(&slot), pause) {
                Ok(Ok(true)) => changed += 1,
                Ok(Ok(false)) | Err(_) => {}
                Ok(Err(e)) => return Err(HiveError::Unavailable(format!("agent '{}': {e}", slot.name))),
            }
        }
        Ok(changed)
    }
}
