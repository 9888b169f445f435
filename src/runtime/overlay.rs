//! The overlay: the runtime changes made to a swarm since its seed, as an
//! ordered log of [`OverlayOp`]s. Each op is appended (durably) after the
//! swarm has applied it and before the caller is answered. Restoring a swarm
//! is [`replay`]: the seed with every op applied in order, as a pure function
//! over the spec (no actors), so a long overlay restores quickly. A test
//! checks that replay gives the same effective spec as the live changes.

use serde::{Deserialize, Serialize};

use crate::config::{self, AgentSpec, ConfigErrors, Edge, ObjectSpec, SwarmSpec, ValidateOptions, member_name};
use crate::error::Resource;

/// Why an op could not be read or no longer applies to a spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OverlayError {
    /// The stored bytes are not an op.
    #[error("unreadable overlay op: {0}")]
    Unreadable(String),
    /// The swarm file an op carries does not validate (any more).
    #[error("{0}")]
    InvalidConfig(ConfigErrors),
    /// The swarm file an add op carries holds no agent (or object).
    #[error("no {0} in an add_{0} op")]
    Empty(Resource),
    /// The op names an agent, group or object the spec does not have.
    #[error("no {resource} '{name}'")]
    Missing {
        /// What is missing.
        resource: Resource,
        /// Its name.
        name: String,
    },
    /// An object configuration that is not JSON.
    #[error("{0}")]
    BadObjectConfig(String),
}

fn missing(resource: Resource, name: &str) -> OverlayError {
    OverlayError::Missing { resource, name: name.to_string() }
}

/// One recorded change. Agent and object specs travel as swarm-file text
/// (the tested round trip of the config module).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum OverlayOp {
    /// An agent (or group) was added with these edges.
    AddAgent {
        /// A swarm file holding just the agent.
        agent_toml: String,
        /// Outgoing edges.
        connections: Vec<String>,
        /// Incoming edges.
        incoming: Vec<String>,
    },
    /// An agent or group was removed.
    RemoveAgent {
        /// Its name.
        name: String,
    },
    /// An object was added with these edges.
    AddObject {
        /// A swarm file holding just the object.
        object_toml: String,
        /// Outgoing edges.
        connections: Vec<String>,
        /// Incoming edges.
        incoming: Vec<String>,
    },
    /// An object was removed.
    RemoveObject {
        /// Its name.
        name: String,
    },
    /// Edges were added and removed.
    Edges {
        /// Added.
        add: Vec<Edge>,
        /// Removed.
        remove: Vec<Edge>,
    },
    /// A group was scaled.
    Scale {
        /// Group name.
        group: String,
        /// New size.
        count: u32,
    },
    /// An object's configuration was replaced.
    ConfigureObject {
        /// Object name.
        name: String,
        /// The new configuration, as JSON text.
        config: String,
    },
}

impl OverlayOp {
    /// The op's name, as its `op` tag: `add_agent`, `edges`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Self::AddAgent { .. } => "add_agent",
            Self::RemoveAgent { .. } => "remove_agent",
            Self::AddObject { .. } => "add_object",
            Self::RemoveObject { .. } => "remove_object",
            Self::Edges { .. } => "edges",
            Self::Scale { .. } => "scale",
            Self::ConfigureObject { .. } => "configure_object",
        }
    }
}

fn holder(name: &str) -> SwarmSpec {
    SwarmSpec {
        name: name.into(),
        supervision: Default::default(),
        agents: Vec::new(),
        objects: Vec::new(),
        topology: Vec::new(),
        schedules: Vec::new(),
    }
}

impl OverlayOp {
    /// The op for an added agent.
    pub fn add_agent(spec: &AgentSpec, connections: Vec<String>, incoming: Vec<String>) -> Self {
        let agent_toml = config::to_toml(&SwarmSpec { agents: vec![spec.clone()], ..holder("overlay") });
        Self::AddAgent { agent_toml, connections, incoming }
    }

    /// The op for an added object.
    pub fn add_object(spec: &ObjectSpec, connections: Vec<String>, incoming: Vec<String>) -> Self {
        let object_toml = config::to_toml(&SwarmSpec { objects: vec![spec.clone()], ..holder("overlay") });
        Self::AddObject { object_toml, connections, incoming }
    }

    /// Encodes for the store.
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// Decodes from the store.
    pub fn decode(bytes: &[u8]) -> Result<Self, OverlayError> {
        rmp_serde::from_slice(bytes).map_err(|e| OverlayError::Unreadable(e.to_string()))
    }
}

fn edges_for(name: &str, connections: &[String], incoming: &[String]) -> Vec<Edge> {
    connections
        .iter()
        .map(|c| Edge::new(name, c.clone()))
        .chain(incoming.iter().map(|i| Edge::new(i.clone(), name)))
        .collect()
}

fn push_edges(spec: &mut SwarmSpec, edges: Vec<Edge>) {
    for e in edges {
        if !spec.topology.contains(&e) {
            spec.topology.push(e);
        }
    }
}

fn drop_edges_naming(spec: &mut SwarmSpec, names: &[String]) {
    spec.topology.retain(|e| !names.contains(&e.from) && !names.contains(&e.to));
}

/// Applies one op to a spec, as the live swarm did.
pub fn apply(spec: &mut SwarmSpec, op: &OverlayOp, opts: &ValidateOptions) -> Result<(), OverlayError> {
    match op {
        OverlayOp::AddAgent { agent_toml, connections, incoming } => {
            let mut held = config::parse_toml(agent_toml, opts).map_err(OverlayError::InvalidConfig)?;
            let agent = held.agents.pop().ok_or(OverlayError::Empty(Resource::Agent))?;
            push_edges(spec, edges_for(&agent.name, connections, incoming));
            spec.agents.push(agent);
        }
        OverlayOp::RemoveAgent { name } => {
            let i = spec.agents.iter().position(|a| &a.name == name).ok_or_else(|| missing(Resource::Agent, name))?;
            let a = spec.agents.remove(i);
            let mut names = vec![a.name.clone()];
            names.extend((1..=a.replicas.unwrap_or(0)).map(|i| member_name(&a.name, i)));
            drop_edges_naming(spec, &names);
        }
        OverlayOp::AddObject { object_toml, connections, incoming } => {
            let mut held = config::parse_toml(object_toml, opts).map_err(OverlayError::InvalidConfig)?;
            let object = held.objects.pop().ok_or(OverlayError::Empty(Resource::Object))?;
            push_edges(spec, edges_for(&object.name, connections, incoming));
            spec.objects.push(object);
        }
        OverlayOp::RemoveObject { name } => {
            spec.objects.retain(|o| &o.name != name);
            drop_edges_naming(spec, std::slice::from_ref(name));
        }
        OverlayOp::Edges { add, remove } => {
            spec.topology.retain(|e| !remove.contains(e));
            push_edges(spec, add.clone());
        }
        OverlayOp::Scale { group, count } => {
            let g = spec.agents.iter_mut().find(|a| &a.name == group).ok_or_else(|| missing(Resource::Group, group))?;
            let old = g.replicas.unwrap_or(0);
            g.replicas = Some(*count);
            let gone: Vec<String> = (*count + 1..=old).map(|i| member_name(group, i)).collect();
            drop_edges_naming(spec, &gone);
        }
        OverlayOp::ConfigureObject { name, config } => {
            let o = spec.objects.iter_mut().find(|o| &o.name == name).ok_or_else(|| missing(Resource::Object, name))?;
            o.config = serde_json::from_str(config).map_err(|e| OverlayError::BadObjectConfig(e.to_string()))?;
        }
    }
    Ok(())
}

/// The effective spec: the seed with every op applied in order. An op that
/// no longer applies is skipped and reported in the returned list.
pub fn replay(seed: &SwarmSpec, ops: &[OverlayOp], opts: &ValidateOptions) -> (SwarmSpec, Vec<String>) {
    let mut spec = seed.clone();
    let mut skipped = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = apply(&mut spec, op, opts) {
            skipped.push(format!("overlay op {}: {e}", i + 1));
        }
    }
    (spec, skipped)
}
