//! The one error type of the runtime's library API. Each variant is a class
//! of failure that the HTTP adapter maps to one status code.

use serde::Serialize;

use crate::config::ConfigErrors;

/// An edge that could not be added or removed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EdgeError {
    /// Sender.
    pub from: String,
    /// Receiver.
    pub to: String,
    /// Why it was refused.
    pub reason: String,
}

/// Everything the runtime API can refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HiveError {
    /// The swarm file or spec is invalid (every error listed).
    #[error("invalid swarm config:\n{0}")]
    InvalidConfig(ConfigErrors),
    /// The request is malformed or out of bounds.
    #[error("{0}")]
    BadRequest(String),
    /// No swarm of that name.
    #[error("swarm '{0}' not found")]
    SwarmNotFound(String),
    /// No agent, object, group or task of that name in the swarm.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// `agent`, `object`, `group`, `endpoint` or `task`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// The name is taken, or the thing is in the wrong state.
    #[error("{0}")]
    Conflict(String),
    /// Some edges are invalid; nothing was applied.
    #[error("invalid edges: {}", .0.iter().map(|e| format!("{}→{}: {}", e.from, e.to, e.reason)).collect::<Vec<_>>().join("; "))]
    InvalidEdges(Vec<EdgeError>),
    /// Not allowed by the runtime's configuration (e.g. `spawn_allow`).
    #[error("{0}")]
    Forbidden(String),
    /// The topology forbids this message.
    #[error("{0}")]
    RouteDenied(String),
    /// A bounded queue is full; try again later.
    #[error("{0}")]
    Full(String),
    /// The swarm (or runtime) is not running, or is shutting down.
    #[error("{0}")]
    Unavailable(String),
}

impl HiveError {
    /// `NotFound` for an agent.
    pub fn agent(name: &str) -> Self {
        Self::NotFound { kind: "agent", name: name.into() }
    }
    /// `NotFound` for an object.
    pub fn object(name: &str) -> Self {
        Self::NotFound { kind: "object", name: name.into() }
    }
}

impl<T> From<ractor::MessagingErr<T>> for HiveError {
    fn from(e: ractor::MessagingErr<T>) -> Self {
        Self::Unavailable(format!("the actor is not running: {e}"))
    }
}

impl<T> From<ractor::RactorErr<T>> for HiveError {
    fn from(e: ractor::RactorErr<T>) -> Self {
        Self::Unavailable(format!("the actor is not running: {e}"))
    }
}
