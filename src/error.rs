//! The error vocabulary of the runtime's library API and of every wire API.
//!
//! This file owns:
//! * [`HiveError`], the one error type of the runtime's library API: each
//!   variant is a class of failure;
//! * [`Resource`], the closed set of things a [`HiveError::NotFound`] can name;
//! * [`ErrorCode`], the closed set of codes the daemon answers, one table
//!   giving each code its REST name (`HIVE_SWARM_NOT_FOUND`), its HTTP status
//!   and its Phoenix Channels reason (`swarm_not_found`);
//! * [`HiveError::code`], the one exhaustive mapping from a runtime error to
//!   its code. The HTTP adapter (`http::error`) and the Phoenix channel
//!   (`http::phoenix`) both derive their answers from it, so the two cannot
//!   drift apart.
//!
//! Guarantees: every [`ErrorCode`] has a REST name and a Phoenix reason that
//! no other code has (tested), and the REST name is its serde name.

use serde::{Deserialize, Serialize};

use crate::config::ConfigErrors;
use crate::objects::ObjectError;

/// What a [`HiveError::NotFound`] names. The serde name is the word used in
/// messages (`agent 'x' not found`) and in REST's `details.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// A swarm (by name).
    Swarm,
    /// An agent of a swarm.
    Agent,
    /// An object of a swarm.
    Object,
    /// A group (pool) of agents of a swarm.
    Group,
    /// A router endpoint (agent or object) of a swarm.
    Endpoint,
    /// A task (by id).
    Task,
    /// A worker process (by id).
    Worker,
    /// A worker's script path that does not exist.
    WorkerPath,
    /// An agent's skill file.
    Skill,
    /// A file or directory a client named (a swarm file, the skills directory).
    File,
    /// A schedule (by name).
    Schedule,
}

impl Resource {
    /// The word for messages and `details.kind`: `agent`, `worker_path`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Swarm => "swarm",
            Self::Agent => "agent",
            Self::Object => "object",
            Self::Group => "group",
            Self::Endpoint => "endpoint",
            Self::Task => "task",
            Self::Worker => "worker",
            Self::WorkerPath => "worker_path",
            Self::Skill => "skill",
            Self::File => "file",
            Self::Schedule => "schedule",
        }
    }

    /// The code answered when one is not found. Endpoints, worker paths and
    /// skills and files have no code of their own (`HIVE_NOT_FOUND`), as before.
    pub fn not_found_code(self) -> ErrorCode {
        match self {
            Self::Swarm => ErrorCode::SwarmNotFound,
            Self::Agent => ErrorCode::AgentNotFound,
            Self::Object => ErrorCode::ObjectNotFound,
            Self::Group => ErrorCode::GroupNotFound,
            Self::Task => ErrorCode::TaskNotFound,
            Self::Worker => ErrorCode::WorkerNotFound,
            Self::Endpoint | Self::WorkerPath | Self::Skill | Self::File | Self::Schedule => ErrorCode::NotFound,
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`ErrorCode`] from one table `Variant = "REST_NAME", "phoenix_reason", status;`
/// so that the enum, its names, its statuses and [`ErrorCode::ALL`] cannot disagree.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $rest:literal, $reason:literal, $status:literal;)*) => {
        /// Every code the daemon answers. Over REST it is `error_code` (its
        /// serde name) with its HTTP status; over Phoenix Channels it is the
        /// error reply's `reason`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $($(#[$doc])* #[serde(rename = $rest)] $variant,)*
        }

        /// Its schema is the set of its REST names, as serde writes them
        /// (a derive would list the Rust variant names).
        impl utoipa::PartialSchema for ErrorCode {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::ALL.iter().map(|c| c.rest_name())))
                    .description(Some("Every code the daemon answers (`HIVE_...`)."))
                    .into()
            }
        }

        impl utoipa::ToSchema for ErrorCode {}

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &[ErrorCode] = &[$(Self::$variant),*];

            /// The REST name: `HIVE_SWARM_NOT_FOUND`, ...
            pub fn rest_name(self) -> &'static str {
                match self { $(Self::$variant => $rest,)* }
            }

            /// The Phoenix Channels reason: `swarm_not_found`, ...
            pub fn phoenix_reason(self) -> &'static str {
                match self { $(Self::$variant => $reason,)* }
            }

            /// The HTTP status (the adapter may answer a more precise one
            /// that a framework rejection carries, e.g. 426 for a missing
            /// WebSocket upgrade).
            pub fn http_status(self) -> u16 {
                match self { $(Self::$variant => $status,)* }
            }
        }
    };
}

error_codes! {
    /// The request is malformed or out of bounds.
    BadRequest = "HIVE_BAD_REQUEST", "bad_request", 400;
    /// The body is not JSON.
    MalformedJson = "HIVE_MALFORMED_JSON", "malformed_json", 400;
    /// The body is JSON of the wrong shape (`details.path` names the field).
    InvalidBody = "HIVE_INVALID_BODY", "invalid_body", 400;
    /// The query string does not parse.
    BadQuery = "HIVE_BAD_QUERY", "bad_query", 400;
    /// A path parameter does not parse.
    BadPath = "HIVE_BAD_PATH", "bad_path", 400;
    /// An event filter is invalid (`details.valid` lists the valid values).
    BadFilter = "HIVE_BAD_FILTER", "bad_filter", 400;
    /// Some edges are invalid; nothing was applied.
    InvalidEdges = "HIVE_INVALID_EDGES", "invalid_edges", 400;
    /// A WebSocket route was called without a WebSocket upgrade.
    NotAWebsocket = "HIVE_NOT_A_WEBSOCKET", "not_a_websocket", 400;
    /// No or wrong token.
    Unauthorized = "HIVE_UNAUTHORIZED", "unauthorized", 401;
    /// Not allowed by the daemon's configuration.
    Forbidden = "HIVE_FORBIDDEN", "forbidden", 403;
    /// The caller's role does not include the one the route needs
    /// (`details.needed`, `details.role`).
    AccessDenied = "HIVE_ACCESS_DENIED", "access_denied", 403;
    /// The topology forbids this message.
    RouteDenied = "HIVE_ROUTE_DENIED", "route_denied", 403;
    /// A path outside its allowed directory.
    PathForbidden = "HIVE_PATH_FORBIDDEN", "path_forbidden", 403;
    /// No swarm of that name.
    SwarmNotFound = "HIVE_SWARM_NOT_FOUND", "swarm_not_found", 404;
    /// No agent of that name.
    AgentNotFound = "HIVE_AGENT_NOT_FOUND", "agent_not_found", 404;
    /// No object of that name.
    ObjectNotFound = "HIVE_OBJECT_NOT_FOUND", "object_not_found", 404;
    /// No task of that id.
    TaskNotFound = "HIVE_TASK_NOT_FOUND", "task_not_found", 404;
    /// No worker of that id.
    WorkerNotFound = "HIVE_WORKER_NOT_FOUND", "worker_not_found", 404;
    /// No group of that name.
    GroupNotFound = "HIVE_GROUP_NOT_FOUND", "group_not_found", 404;
    /// Anything else not found: a route, a file, an endpoint, a skill.
    NotFound = "HIVE_NOT_FOUND", "not_found", 404;
    /// The method is not served on this route.
    MethodNotAllowed = "HIVE_METHOD_NOT_ALLOWED", "method_not_allowed", 405;
    /// The name is taken, or the thing is in the wrong state.
    Conflict = "HIVE_CONFLICT", "conflict", 409;
    /// The body is larger than the limit.
    TooLarge = "HIVE_TOO_LARGE", "too_large", 413;
    /// The swarm file or spec is invalid (every error listed).
    InvalidConfig = "HIVE_INVALID_CONFIG", "invalid_config", 422;
    /// The client is over its rate limit.
    RateLimited = "HIVE_RATE_LIMITED", "rate_limited", 429;
    /// The swarm (or runtime) is not running, or is shutting down.
    Unavailable = "HIVE_UNAVAILABLE", "unavailable", 503;
    /// A bounded queue is full; try again later.
    Busy = "HIVE_BUSY", "queue_full", 503;
    /// The daemon is out of service (maintenance off): it finishes what runs
    /// and takes no new work until it is put back (`+ Retry-After`).
    Maintenance = "HIVE_MAINTENANCE", "maintenance", 503;
    /// The data directory's disk failed: nothing that must be recorded is
    /// taken (and nothing was applied) until the store has reopened its
    /// file; reads from memory go on (`+ Retry-After`).
    StorageUnavailable = "HIVE_STORAGE_UNAVAILABLE", "storage_unavailable", 503;
    /// The request was not answered within the server's request timeout
    /// (it may still take effect).
    Timeout = "HIVE_TIMEOUT", "timeout", 504;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.rest_name())
    }
}

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
    /// No swarm, agent, object, group, task, ... of that name.
    #[error("{resource} '{name}' not found")]
    NotFound {
        /// What was asked for.
        resource: Resource,
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
    /// A client-named path is outside the directory it must stay in.
    #[error("'{path}' is outside the allowed directory {allowed_dir}")]
    PathForbidden {
        /// The path as given.
        path: String,
        /// The directory it must stay in.
        allowed_dir: String,
    },
    /// A bounded queue is full; try again later.
    #[error("{0}")]
    Full(String),
    /// The swarm (or runtime) is not running, or is shutting down.
    #[error("{0}")]
    Unavailable(String),
    /// The runtime is out of service (maintenance): what runs finishes,
    /// new work is refused until it accepts again.
    #[error("{0}")]
    Maintenance(String),
    /// The store's disk failed and the store is reopening its file: what
    /// must be recorded is refused (nothing of it applied) until it is back.
    #[error("{0}")]
    StorageUnavailable(String),
}

impl HiveError {
    /// `NotFound` for any resource.
    pub fn not_found(resource: Resource, name: impl Into<String>) -> Self {
        Self::NotFound { resource, name: name.into() }
    }
    /// `NotFound` for a swarm.
    pub fn swarm(name: impl Into<String>) -> Self {
        Self::not_found(Resource::Swarm, name)
    }
    /// `NotFound` for an agent.
    pub fn agent(name: impl Into<String>) -> Self {
        Self::not_found(Resource::Agent, name)
    }
    /// `NotFound` for an object.
    pub fn object(name: impl Into<String>) -> Self {
        Self::not_found(Resource::Object, name)
    }
    /// `NotFound` for a task.
    pub fn task(id: impl Into<String>) -> Self {
        Self::not_found(Resource::Task, id)
    }
    /// `NotFound` for a worker.
    pub fn worker(id: impl Into<String>) -> Self {
        Self::not_found(Resource::Worker, id)
    }

    /// The code this error is answered with, over REST and Phoenix alike.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidConfig(_) => ErrorCode::InvalidConfig,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::NotFound { resource, .. } => resource.not_found_code(),
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::InvalidEdges(_) => ErrorCode::InvalidEdges,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::RouteDenied(_) => ErrorCode::RouteDenied,
            Self::PathForbidden { .. } => ErrorCode::PathForbidden,
            Self::Full(_) => ErrorCode::Busy,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Maintenance(_) => ErrorCode::Maintenance,
            Self::StorageUnavailable(_) => ErrorCode::StorageUnavailable,
        }
    }
}

/// A configuration an object refused is a bad request, in the object's words.
impl From<ObjectError> for HiveError {
    fn from(e: ObjectError) -> Self {
        Self::BadRequest(e.to_string())
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_code_has_its_own_rest_name_and_phoenix_reason() {
        let rest: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.rest_name()).collect();
        let phoenix: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.phoenix_reason()).collect();
        assert_eq!(rest.len(), ErrorCode::ALL.len(), "two codes share a REST name");
        assert_eq!(phoenix.len(), ErrorCode::ALL.len(), "two codes share a Phoenix reason");
        for c in ErrorCode::ALL {
            assert!(c.rest_name().starts_with("HIVE_"), "{c:?}");
            assert_eq!(serde_json::to_value(c).unwrap(), c.rest_name(), "the serde name is the REST name");
            assert_eq!(serde_json::from_value::<ErrorCode>(c.rest_name().into()).unwrap(), *c);
            assert!((400..600).contains(&c.http_status()), "{c:?}");
        }
    }

    #[test]
    fn not_found_says_what_and_keeps_its_codes() {
        let e = HiveError::not_found(Resource::WorkerPath, "w.py");
        assert_eq!(e.to_string(), "worker_path 'w.py' not found");
        assert_eq!(HiveError::agent("x").to_string(), "agent 'x' not found");
        assert_eq!(HiveError::swarm("ghost").to_string(), "swarm 'ghost' not found");
        assert_eq!(HiveError::swarm("s").code().rest_name(), "HIVE_SWARM_NOT_FOUND");
        assert_eq!(HiveError::swarm("s").code().phoenix_reason(), "swarm_not_found");
        assert_eq!(HiveError::not_found(Resource::Endpoint, "e").code(), ErrorCode::NotFound);
        assert_eq!(HiveError::Full("x".into()).code().phoenix_reason(), "queue_full");
        assert_eq!(serde_json::to_value(Resource::WorkerPath).unwrap(), "worker_path");
        let p = HiveError::PathForbidden { path: "../x".into(), allowed_dir: "/s".into() };
        assert_eq!((p.code().rest_name(), p.code().http_status()), ("HIVE_PATH_FORBIDDEN", 403));
    }
}
