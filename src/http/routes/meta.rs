//! Descriptive routes: the API index, config validation, the skill files
//! under the skills directory, and the tokens in use (names and roles only;
//! health is in `ops.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::swarms::ConfigSource;
use crate::ErrorCode;
use crate::config::ConfigFormat;
use crate::config::{BackendKind, BackendType, Edge, SwarmSpec};
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::runtime::{SkillContent, SkillEntry};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(index))
        .routes(routes!(validate))
        .routes(routes!(list_skills))
        .routes(routes!(get_skill))
        .routes(routes!(tokens))
}

/// A token in use.
#[derive(Debug, Serialize, ToSchema)]
struct TokenView {
    name: String,
    role: crate::access::Role,
}

/// The tokens in use.
#[derive(Debug, Serialize, ToSchema)]
struct TokenList {
    tokens: Vec<TokenView>,
    total: usize,
}

/// The tokens the daemon accepts now (after the last SIGHUP reload): each
/// name and role, never a secret or digest. Admins only. Empty when no
/// token is configured (loopback clients are admins).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "meta", responses((status = 200, body = TokenList)))]
async fn tokens(State(st): State<AppState>) -> impl IntoResponse {
    let tokens: Vec<TokenView> = st
        .tokens
        .current()
        .names()
        .into_iter()
        .map(|(name, role)| TokenView { name: name.to_string(), role })
        .collect();
    axum::Json(TokenList { total: tokens.len(), tokens })
}

/// Name, version, endpoint index and the WebSocket protocols.
#[utoipa::path(get, path = "/", tag = "meta", responses((status = 200, body = Index)))]
async fn index() -> impl IntoResponse {
    axum::Json(Index {
        name: "hive",
        version: env!("CARGO_PKG_VERSION"),
        description: env!("CARGO_PKG_DESCRIPTION"),
        endpoints: Endpoints {
            swarms: "/api/swarms",
            events: "/api/events",
            skills: "/api/skills",
            validate: "/api/config/validate",
            workers: "/api/v1/agents",
            tasks: "/api/v1/tasks",
            health: "/health",
            openapi: "/openapi.json",
            docs: "/docs",
            schedules: "/api/v1/schedules",
            metrics: "/metrics",
            dashboard: "/ui",
        },
        websocket: WebsocketIndex {
            url: "/swarm/websocket",
            vsn: "2.0.0",
            topic: "swarm:{swarm_name}",
            client_events: &[
                "send_task",
                "get_status",
                "subscribe_logs",
                "unsubscribe_logs",
                "subscribe_events",
                "unsubscribe_events",
            ],
            server_events: &[
                "agent_output",
                "message_routed",
                "message_broadcast",
                "agent_status",
                "swarm_started",
                "swarm_stopped",
                "agent_added",
                "agent_removed",
                "topology_changed",
                "log_entry",
                "event",
            ],
        },
        event_stream: EventStreamIndex {
            url: "/ws/events",
            params: &["swarm", "agent", "level", "category", "event_type", "since"],
        },
        docs: DocsIndex {
            openapi: "/openapi.json",
            interactive: "/docs",
            protocols: "docs/api.md, docs/protocol-websocket.md",
        },
        documentation: Documentation {
            swarms: "GET/POST /api/swarms; GET/DELETE /api/swarms/{name}; POST .../pause, .../resume, \
                     .../restart, .../message, .../snapshot; POST /api/swarms/clean",
            agents: "GET/POST /api/swarms/{name}/agents; GET/DELETE .../agents/{agent}; POST .../task, \
                     .../restart, .../scale; GET .../logs, .../history, .../events, .../skills",
            objects: "GET/POST /api/swarms/{name}/objects; GET/DELETE .../objects/{object}; PATCH .../config",
            topology: "GET/PATCH /api/swarms/{name}/topology",
            events: "GET /api/events, /api/swarms/{name}/events; WebSocket /ws/events, /ws/tasks",
            skills: "GET /api/skills, /api/skills/{name}; GET/PUT .../agents/{agent}/skills",
            workers: "/api/v1/agents (JSONL), /api/v1/zmq/workers (ZeroMQ), /api/v1/workers (every transport, HTTP)",
            tasks: "/api/v1/tasks, /api/v1/zmq/dispatch, /api/v1/orchestrate",
        },
    })
}

/// What `GET /` answers: where everything is.
#[derive(Debug, Serialize, ToSchema)]
struct Index {
    name: &'static str,
    version: &'static str,
    description: &'static str,
    endpoints: Endpoints,
    websocket: WebsocketIndex,
    event_stream: EventStreamIndex,
    docs: DocsIndex,
    /// The main route groups (genswarms' `documentation` map).
    documentation: Documentation,
}

/// The main route groups, one line each.
#[derive(Debug, Serialize, ToSchema)]
struct Documentation {
    swarms: &'static str,
    agents: &'static str,
    objects: &'static str,
    topology: &'static str,
    events: &'static str,
    skills: &'static str,
    workers: &'static str,
    tasks: &'static str,
}

/// The main routes.
#[derive(Debug, Serialize, ToSchema)]
struct Endpoints {
    swarms: &'static str,
    events: &'static str,
    skills: &'static str,
    validate: &'static str,
    workers: &'static str,
    tasks: &'static str,
    health: &'static str,
    openapi: &'static str,
    docs: &'static str,
    schedules: &'static str,
    metrics: &'static str,
    dashboard: &'static str,
}

/// The Phoenix-channel WebSocket (genswarms' protocol).
#[derive(Debug, Serialize, ToSchema)]
struct WebsocketIndex {
    url: &'static str,
    vsn: &'static str,
    topic: &'static str,
    client_events: &'static [&'static str],
    server_events: &'static [&'static str],
}

/// The event stream WebSocket.
#[derive(Debug, Serialize, ToSchema)]
struct EventStreamIndex {
    url: &'static str,
    params: &'static [&'static str],
}

/// Where the API is described.
#[derive(Debug, Serialize, ToSchema)]
struct DocsIndex {
    openapi: &'static str,
    interactive: &'static str,
    protocols: &'static str,
}

/// One agent entry of a valid config.
#[derive(Debug, Serialize, ToSchema)]
struct AgentSummary {
    name: String,
    /// `mock`, `stdio`, `zmq`.
    backend: BackendKind,
    /// genswarms' name: `local`, `ssh`, `bwrap`, `docker`, `mock`, `zmq`.
    backend_type: BackendType,
    /// A scale group's size.
    replicas: Option<u32>,
    skills: Vec<String>,
    model: Option<String>,
}

/// One object entry of a valid config.
#[derive(Debug, Serialize, ToSchema)]
struct ObjectSummary {
    name: String,
    kind: String,
    /// genswarms' name of the same.
    handler: String,
}

/// What a valid config holds (genswarms' summary).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfigSummary {
    name: String,
    agent_count: usize,
    object_count: usize,
    topology_edges: usize,
    agents: Vec<AgentSummary>,
    objects: Vec<ObjectSummary>,
    topology: Vec<Edge>,
}

/// What a valid config holds.
pub(crate) fn summary(spec: &SwarmSpec) -> ConfigSummary {
    ConfigSummary {
        name: spec.name.clone(),
        agent_count: spec.agents.len(),
        object_count: spec.objects.len(),
        topology_edges: spec.topology.len(),
        agents: spec
            .agents
            .iter()
            .map(|a| AgentSummary {
                name: a.name.clone(),
                backend: a.backend.backend_kind(),
                backend_type: a.backend.backend_type(),
                replicas: a.replicas,
                skills: a.skills.clone(),
                model: a.model.clone(),
            })
            .collect(),
        objects: spec
            .objects
            .iter()
            .map(|o| ObjectSummary { name: o.name.clone(), kind: o.kind.clone(), handler: o.kind.clone() })
            .collect(),
        topology: spec.topology.clone(),
    }
}

/// `{valid: true, config}`, echoing `config_path` or `format` when given.
#[derive(Debug, Serialize, ToSchema)]
struct Validated {
    /// `true`.
    valid: bool,
    /// What the config holds.
    config: ConfigSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<ConfigFormat>,
}

/// Validates a swarm config without starting it: `{valid: true, config}`,
/// or 400 with `{valid: false, errors: [{path, line, column, message}]}`.
#[utoipa::path(post, path = "/api/config/validate", tag = "meta", request_body = crate::http::schema::SwarmSource,
    responses((status = 200, body = Validated), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn validate(State(st): State<AppState>, ApiJson(src): ApiJson<ConfigSource>) -> ApiResult<Response> {
    match src.load(&st).await {
        Ok(spec) => {
            let format = src.content.as_ref().map(|_| src.format.unwrap_or_default());
            let body = Validated { valid: true, config: summary(&spec), config_path: src.config_path.clone(), format };
            Ok(axum::Json(body).into_response())
        }
        Err(e) if e.code == ErrorCode::InvalidConfig => {
            let mut body = e.body();
            body["valid"] = json!(false);
            body["errors"] = e.details["errors"].clone();
            Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
        }
        Err(e) if e.code == ErrorCode::NotFound && src.config_path.is_some() => {
            // genswarms: a missing file is 404 `{valid: false, errors: [...]}`.
            let mut body = e.body();
            body["valid"] = json!(false);
            body["errors"] = json!([{"path": "config_path", "message": e.message}]);
            Ok((StatusCode::NOT_FOUND, axum::Json(body)).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `{skills, base_path, count}`: the files under the skills directory.
#[derive(Debug, Serialize, ToSchema)]
struct SkillList {
    /// Every file, by relative path.
    skills: Vec<SkillEntry>,
    /// The skills directory.
    base_path: String,
    /// How many.
    count: usize,
}

/// No query parameters: genswarms' `?path=` (another search root) is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoQuery {}

/// Skill files under the skills directory.
#[utoipa::path(get, path = "/api/skills", tag = "meta",
    responses((status = 200, body = SkillList), (status = 400, body = ErrorBody)))]
async fn list_skills(State(st): State<AppState>, _q: ApiQuery<NoQuery>) -> ApiResult<impl IntoResponse> {
    let skills = st.hive.list_skills(&st.cfg.skills_dir).await?;
    let base_path = st.cfg.skills_dir.display().to_string();
    Ok(axum::Json(SkillList { count: skills.len(), skills, base_path }))
}

/// A skill's content, by relative path (`.md` optional).
#[utoipa::path(get, path = "/api/skills/{name}", tag = "meta", params(("name" = String, Path)),
    responses((status = 200, body = SkillContent), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_skill(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.read_skill(&st.cfg.skills_dir, &name).await?))
}
