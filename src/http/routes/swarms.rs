//! Swarm routes: list, create, status, stop/purge, pause/resume/restart,
//! message, clean, overlay and snapshot.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{self, SwarmSpec};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{Page, PageQuery};
use crate::http::paths::confined;
use crate::runtime::overlay::OverlayOp;
use crate::runtime::{SwarmStatus, SwarmSummary};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_swarms, create_swarm))
        .routes(routes!(clean_swarms))
        .routes(routes!(swarm_status, stop_swarm))
        .routes(routes!(pause_swarm))
        .routes(routes!(resume_swarm))
        .routes(routes!(restart_swarm))
        .routes(routes!(send_message))
        .routes(routes!(get_overlay, clear_overlay))
        .routes(routes!(snapshot))
}

/// A swarm config given inline (`config`), as text (`content` + `format`),
/// or as a file under the swarm directory (`config_path`). Exactly one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigSource {
    /// The swarm file as a JSON object (same structure as the TOML).
    #[schema(value_type = Option<crate::http::schema::SwarmFile>)]
    pub config: Option<Value>,
    /// The swarm file as text.
    pub content: Option<String>,
    /// `toml` (default) or `json`.
    pub format: Option<String>,
    /// A file in the configured swarm directory.
    pub config_path: Option<String>,
}

impl ConfigSource {
    /// Reads and validates the config (a file in `spawn_blocking`, off the
    /// async workers).
    pub(crate) async fn load(&self, st: &AppState) -> ApiResult<SwarmSpec> {
        let opts = st.hive.validate_options();
        let invalid = |e: config::ConfigErrors| ApiError::from(crate::HiveError::InvalidConfig(e));
        match (&self.config, &self.content, &self.config_path) {
            (Some(v), None, None) => {
                if !v.is_object() {
                    return Err(ApiError::bad_request("'config' must be a JSON object"));
                }
                config::parse_json_value(v, &opts).map_err(invalid)
            }
            (None, Some(text), None) => match self.format.as_deref().unwrap_or("toml") {
                "toml" => config::parse_toml(text, &opts).map_err(invalid),
                "json" => config::parse_json(text, &opts).map_err(invalid),
                other => Err(ApiError::bad_request(format!("unknown format '{other}'; valid values: toml, json"))),
            },
            (None, None, Some(p)) => {
                let (dir, p) = (st.cfg.swarm_dir.clone(), p.clone());
                let read = move || {
                    let path = confined(&dir, &p)?;
                    if !path.is_file() {
                        return Err(ApiError::not_found(format!("swarm file '{p}' not found")));
                    }
                    config::parse_file(&path, &opts).map_err(invalid)
                };
                tokio::task::spawn_blocking(read).await.map_err(|e| {
                    ApiError::from(crate::HiveError::Unavailable(format!("reading the file failed: {e}")))
                })?
            }
            _ => Err(ApiError::bad_request("give exactly one of 'config', 'content' (with 'format') or 'config_path'")
                .with_details(json!({"usage": {
                    "config": {"name": "x", "agents": [{"name": "a"}]},
                    "content": "name = \"x\"\n...", "format": "toml | json",
                    "config_path": "x.toml (relative to the swarm directory)"
                }}))),
        }
    }
}

/// `{status, swarm, ...}` answers of swarm operations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SwarmAck {
    /// What happened (`created`, `stopped`, `purged`, `paused`, ...).
    pub status: &'static str,
    /// The swarm.
    pub swarm: String,
    /// Agents started (create), paused or resumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<Value>,
    /// Stored events deleted (purge, clean restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_deleted: Option<usize>,
}

fn ack(status: &'static str, swarm: &str) -> SwarmAck {
    SwarmAck { status, swarm: swarm.to_string(), agents: None, events_deleted: None }
}

/// Lists swarms (running, stopped, failed).
#[utoipa::path(get, path = "/api/swarms", tag = "swarms", params(PageQuery),
    responses((status = 200, body = Page<SwarmSummary>), (status = 400, body = crate::http::ErrorBody)))]
async fn list_swarms(State(st): State<AppState>, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(q.apply(st.hive.list_swarms().await?)?))
}

/// Creates and starts a swarm.
#[utoipa::path(post, path = "/api/swarms", tag = "swarms", request_body = ConfigSource,
    responses((status = 201, body = SwarmAck), (status = 400, body = crate::http::ErrorBody),
        (status = 403, body = crate::http::ErrorBody), (status = 409, body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)))]
async fn create_swarm(State(st): State<AppState>, ApiJson(src): ApiJson<ConfigSource>) -> ApiResult<Response> {
    let spec = src.load(&st).await?;
    let handle = st.hive.start_swarm(spec).await?;
    let status = handle.status().await?;
    let agents: Vec<&str> = status.agents.iter().map(|a| &*a.name).collect();
    let body = SwarmAck { agents: Some(json!(agents)), ..ack("created", handle.name()) };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// A swarm's status: agents, objects, groups, topology, supervision, restarts,
/// failure reason.
#[utoipa::path(get, path = "/api/swarms/{name}", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmStatus), (status = 404, body = crate::http::ErrorBody)))]
async fn swarm_status(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Response> {
    match st.hive.swarm(&name).await {
        Ok(h) => Ok(axum::Json(h.status().await?).into_response()),
        Err(crate::HiveError::Conflict(_)) => {
            // Stopped or failed: the registry entry says why.
            let s = st.hive.swarm_summary(&name).await?;
            Ok(axum::Json(json!({
                "name": s.name, "state": s.state, "started_at": s.started_at,
                "failure_reason": s.failure_reason, "agents": [], "objects": [], "groups": [],
                "topology": [], "restarts": 0,
            }))
            .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `?purge=true`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PurgeQuery {
    /// Also delete the swarm's overlay, events and tasks.
    #[serde(default)]
    purge: bool,
}

/// Stops a swarm; `?purge=true` also deletes everything stored about it.
#[utoipa::path(delete, path = "/api/swarms/{name}", tag = "swarms", params(("name" = String, Path), PurgeQuery),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody),
        (status = 409, body = crate::http::ErrorBody)))]
async fn stop_swarm(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<PurgeQuery>,
) -> ApiResult<impl IntoResponse> {
    if q.purge {
        let deleted = st.hive.purge_swarm(&name).await?;
        return Ok(axum::Json(SwarmAck { events_deleted: Some(deleted), ..ack("purged", &name) }));
    }
    st.hive.stop_swarm(&name).await?;
    Ok(axum::Json(ack("stopped", &name)))
}

/// Pauses every agent (SIGSTOP to each stdio agent's process group).
#[utoipa::path(post, path = "/api/swarms/{name}/pause", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn pause_swarm(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let n = st.hive.swarm(&name).await?.pause().await?;
    Ok(axum::Json(SwarmAck { agents: Some(json!(n)), ..ack("paused", &name) }))
}

/// Resumes every paused agent (SIGCONT).
#[utoipa::path(post, path = "/api/swarms/{name}/resume", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn resume_swarm(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let n = st.hive.swarm(&name).await?.resume().await?;
    Ok(axum::Json(SwarmAck { agents: Some(json!(n)), ..ack("resumed", &name) }))
}

/// `?delete=true`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RestartQuery {
    /// Clean slate: start from the seed, deleting overlay, events and tasks.
    #[serde(default)]
    delete: bool,
}

/// Restarts a swarm as its users left it (seed plus changes), or from its
/// seed alone with `?delete=true`.
#[utoipa::path(post, path = "/api/swarms/{name}/restart", tag = "swarms",
    params(("name" = String, Path), RestartQuery),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn restart_swarm(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RestartQuery>,
) -> ApiResult<impl IntoResponse> {
    st.hive.restart_swarm(&name, q.delete).await?;
    Ok(axum::Json(json!({"status": "restarted", "swarm": name, "delete_data": q.delete})))
}

/// A message to route.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    /// Sending endpoint (agent or object).
    from: String,
    /// Receiving endpoint, or a group name (every member).
    to: String,
    /// The content.
    content: String,
}

/// Routes a message `from → to` through the topology: 403 `HIVE_ROUTE_DENIED`
/// if no edge allows it, 404 for an unknown endpoint.
#[utoipa::path(post, path = "/api/swarms/{name}/message", tag = "swarms", params(("name" = String, Path)),
    request_body = MessageBody,
    responses((status = 200, description = "routed", body = Value), (status = 403, body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn send_message(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(m): ApiJson<MessageBody>,
) -> ApiResult<impl IntoResponse> {
    let n = st.hive.swarm(&name).await?.send_message(&m.from, &m.to, &m.content).await?;
    Ok(axum::Json(json!({"status": "routed", "swarm": name, "from": m.from, "to": m.to, "recipients": n})))
}

/// `?all=true`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CleanQuery {
    /// Also delete the removed swarms' stored overlay, events and tasks.
    #[serde(default)]
    all: bool,
}

/// Forgets stopped and failed swarms.
#[utoipa::path(post, path = "/api/swarms/clean", tag = "swarms", params(CleanQuery),
    responses((status = 200, description = "cleaned", body = Value)))]
async fn clean_swarms(State(st): State<AppState>, ApiQuery(q): ApiQuery<CleanQuery>) -> ApiResult<impl IntoResponse> {
    let gone = st.hive.clean(q.all).await?;
    Ok(axum::Json(json!({"status": "cleaned", "swarms_removed": gone.len(), "names": gone, "events_cleared": q.all})))
}

/// The overlay: runtime changes recorded since the seed, in order.
#[derive(Debug, Serialize, ToSchema)]
struct OverlayBody {
    /// The swarm.
    swarm: String,
    /// The changes.
    items: Vec<OverlayOp>,
}

/// A swarm's recorded runtime changes.
#[utoipa::path(get, path = "/api/swarms/{name}/overlay", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = OverlayBody), (status = 404, body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
async fn get_overlay(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let items = st.hive.overlay(&name).await?;
    Ok(axum::Json(OverlayBody { swarm: name, items }))
}

/// Folds the changes into the seed and empties the overlay (the swarm stays
/// as it is).
#[utoipa::path(delete, path = "/api/swarms/{name}/overlay", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn clear_overlay(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.clear_overlay(&name).await?;
    Ok(axum::Json(ack("cleared", &name)))
}

/// The effective config (seed ⊕ overlay) as a swarm file (TOML).
#[utoipa::path(post, path = "/api/swarms/{name}/snapshot", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, description = "the swarm file", content_type = "application/toml", body = String),
        (status = 404, body = crate::http::ErrorBody)))]
async fn snapshot(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Response> {
    let toml = st.hive.swarm(&name).await?.snapshot_toml().await?;
    Ok(([(header::CONTENT_TYPE, "application/toml; charset=utf-8")], toml).into_response())
}
