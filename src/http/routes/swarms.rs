//! Swarm routes: list, create, status, stop/purge, pause/resume/restart,
//! message, clean, overlay and snapshot.

use std::cmp::Ordering;

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
use crate::http::page::{PageQuery, Sort, SortField, api_list, sort_schema, sorted};
use crate::runtime::overlay::OverlayOp;
use crate::runtime::{SwarmState, SwarmStatus, SwarmSummary};

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
/// or as a file under the swarm directory (`config_path`). Exactly one; the
/// document describes it as a `oneOf` ([`crate::http::schema::SwarmSource`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigSource {
    /// The swarm file as a JSON object (same structure as the TOML).
    pub config: Option<Value>,
    /// The swarm file as text.
    pub content: Option<String>,
    /// How `content` is written (default TOML).
    pub format: Option<config::ConfigFormat>,
    /// A file in the configured swarm directory.
    pub config_path: Option<String>,
}

impl ConfigSource {
    /// Reads and validates the config (a file through the runtime, which
    /// confines it to the swarm directory).
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
            (None, Some(text), None) => config::parse(text, self.format.unwrap_or_default(), &opts).map_err(invalid),
            (None, None, Some(p)) => Ok(st.hive.read_swarm_file(&st.cfg.swarm_dir, p).await?),
            _ => Err(ApiError::bad_request("give exactly one of 'config', 'content' (with 'format') or 'config_path'")
                .with_details(json!({"usage": {
                    "config": {"name": "x", "agents": [{"name": "a"}]},
                    "content": "name = \"x\"\n...", "format": "toml | json",
                    "config_path": "x.toml (relative to the swarm directory)"
                }}))),
        }
    }
}

/// What a swarm operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SwarmOutcome {
    /// Created and started.
    Created,
    /// Stopped (still listed).
    Stopped,
    /// Stopped and forgotten, its data deleted.
    Purged,
    /// Every agent paused.
    Paused,
    /// Every paused agent resumed.
    Resumed,
    /// Restarted.
    Restarted,
    /// Overlay folded into the seed.
    Cleared,
}

/// `{status, swarm_name, ...}` answers of swarm operations (genswarms'
/// fields, and `swarm`, Hive's older name of the same).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SwarmAck {
    /// What happened.
    pub status: SwarmOutcome,
    /// The swarm (genswarms' name).
    pub swarm_name: String,
    /// The swarm.
    pub swarm: String,
    /// Agents started (create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
    /// Agents paused (pause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers_paused: Option<usize>,
    /// Agents resumed (resume).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers_resumed: Option<usize>,
    /// Restarted from the seed, its data deleted (restart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_data: Option<bool>,
    /// The file the swarm was created from (stop, purge): always null, Hive
    /// keeps the swarm file itself, not its path.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub config_path: Option<Option<String>>,
    /// Stored events deleted (purge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_deleted: Option<usize>,
}

fn ack(status: SwarmOutcome, swarm: &str) -> SwarmAck {
    SwarmAck {
        status,
        swarm_name: swarm.to_string(),
        swarm: swarm.to_string(),
        agents: None,
        containers_paused: None,
        containers_resumed: None,
        delete_data: None,
        config_path: None,
        events_deleted: None,
    }
}

/// A field the swarm list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwarmSort {
    Name,
    State,
    StartedAt,
}

impl SortField for SwarmSort {
    type Item = SwarmSummary;
    const ALL: &'static [Self] = &[Self::Name, Self::State, Self::StartedAt];
    fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::State => "state",
            Self::StartedAt => "started_at",
        }
    }
    fn compare(self, a: &SwarmSummary, b: &SwarmSummary) -> Ordering {
        match self {
            Self::Name => a.name.cmp(&b.name),
            Self::State => (a.state as u8).cmp(&(b.state as u8)),
            Self::StartedAt => a.started_at.cmp(&b.started_at),
        }
    }
}

/// `?state=&sort=&limit=&offset=` of the swarm list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SwarmListQuery {
    /// Only swarms in this state.
    state: Option<SwarmState>,
    /// `name`, `state`, `started_at`; `-field` descending.
    #[param(schema_with = sort_schema::<SwarmSort>)]
    sort: Option<Sort<SwarmSort>>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Items to skip.
    offset: Option<usize>,
}

api_list!(
    /// A page of swarms: `{swarms, total, limit, offset, has_more}`.
    SwarmList, swarms, SwarmSummary
);

/// Lists swarms (running, stopped, failed).
#[utoipa::path(get, path = "/api/swarms", tag = "swarms", params(SwarmListQuery),
    responses((status = 200, body = SwarmList), (status = 400, body = crate::http::ErrorBody)))]
async fn list_swarms(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<SwarmListQuery>,
) -> ApiResult<impl IntoResponse> {
    let mut all = st.hive.list_swarms().await?;
    all.retain(|s| q.state.is_none_or(|w| s.state == w));
    let page = PageQuery { limit: q.limit, offset: q.offset }.apply(sorted(all, q.sort))?;
    Ok(axum::Json(SwarmList::from(page)))
}

/// Creates and starts a swarm.
#[utoipa::path(post, path = "/api/swarms", tag = "swarms", request_body = crate::http::schema::SwarmSource,
    responses((status = 201, body = SwarmAck), (status = 400, body = crate::http::ErrorBody),
        (status = 403, body = crate::http::ErrorBody),
        (status = 404, description = "`config_path` names no file", body = crate::http::ErrorBody),
        (status = 409, body = crate::http::ErrorBody),
        (status = 422, body = crate::http::ErrorBody)))]
async fn create_swarm(State(st): State<AppState>, ApiJson(src): ApiJson<ConfigSource>) -> ApiResult<Response> {
    let spec = src.load(&st).await?;
    let handle = st.hive.start_swarm(spec).await?;
    let status = handle.status().await?;
    let agents = status.agents.iter().map(|a| a.name.to_string()).collect();
    let body = SwarmAck { agents: Some(agents), ..ack(SwarmOutcome::Created, handle.name()) };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// A swarm's status: agents, objects, groups, topology, supervision, restarts,
/// failure reason.
#[utoipa::path(get, path = "/api/swarms/{name}", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmStatus), (status = 404, body = crate::http::ErrorBody)))]
async fn swarm_status(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Response> {
    Ok(axum::Json(st.hive.swarms().status(&name).await?).into_response())
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
        let body =
            SwarmAck { events_deleted: Some(deleted), config_path: Some(None), ..ack(SwarmOutcome::Purged, &name) };
        return Ok(axum::Json(body));
    }
    st.hive.stop_swarm(&name).await?;
    Ok(axum::Json(SwarmAck { config_path: Some(None), ..ack(SwarmOutcome::Stopped, &name) }))
}

/// Pauses every agent (SIGSTOP to each stdio agent's process group).
#[utoipa::path(post, path = "/api/swarms/{name}/pause", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn pause_swarm(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let n = st.hive.swarm(&name).await?.pause().await?;
    Ok(axum::Json(SwarmAck { containers_paused: Some(n), ..ack(SwarmOutcome::Paused, &name) }))
}

/// Resumes every paused agent (SIGCONT).
#[utoipa::path(post, path = "/api/swarms/{name}/resume", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn resume_swarm(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let n = st.hive.swarm(&name).await?.resume().await?;
    Ok(axum::Json(SwarmAck { containers_resumed: Some(n), ..ack(SwarmOutcome::Resumed, &name) }))
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
    Ok(axum::Json(SwarmAck { delete_data: Some(q.delete), ..ack(SwarmOutcome::Restarted, &name) }))
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

/// A routed message.
#[derive(Debug, Serialize, ToSchema)]
struct MessageAck {
    /// `routed`.
    #[schema(value_type = String, example = "routed")]
    status: &'static str,
    /// The swarm.
    swarm: String,
    /// Sender.
    from: String,
    /// Receiver (or group).
    to: String,
    /// Endpoints that received it.
    recipients: usize,
}

/// Routes a message `from → to` through the topology: 403 `HIVE_ROUTE_DENIED`
/// if no edge allows it, 404 for an unknown endpoint.
#[utoipa::path(post, path = "/api/swarms/{name}/message", tag = "swarms", params(("name" = String, Path)),
    request_body = MessageBody,
    responses((status = 200, body = MessageAck), (status = 400, body = crate::http::ErrorBody), (status = 403, body = crate::http::ErrorBody),
        (status = 404, body = crate::http::ErrorBody)))]
async fn send_message(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(m): ApiJson<MessageBody>,
) -> ApiResult<impl IntoResponse> {
    let n = st.hive.swarm(&name).await?.send_message(&m.from, &m.to, &m.content).await?;
    Ok(axum::Json(MessageAck { status: "routed", swarm: name, from: m.from, to: m.to, recipients: n }))
}

/// `?all=true`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CleanQuery {
    /// Also delete the removed swarms' stored overlay, events and tasks.
    #[serde(default)]
    all: bool,
}

/// What clean removed.
#[derive(Debug, Serialize, ToSchema)]
struct CleanAck {
    /// `cleaned`.
    #[schema(value_type = String, example = "cleaned")]
    status: &'static str,
    /// How many swarms were forgotten.
    swarms_removed: usize,
    /// Their names.
    names: Vec<String>,
    /// Their stored data was deleted too (`?all=true`).
    events_cleared: bool,
}

/// Forgets stopped and failed swarms.
#[utoipa::path(post, path = "/api/swarms/clean", tag = "swarms", params(CleanQuery),
    responses((status = 200, body = CleanAck), (status = 400, body = crate::http::ErrorBody)))]
async fn clean_swarms(State(st): State<AppState>, ApiQuery(q): ApiQuery<CleanQuery>) -> ApiResult<impl IntoResponse> {
    let names = st.hive.clean(q.all).await?;
    Ok(axum::Json(CleanAck { status: "cleaned", swarms_removed: names.len(), names, events_cleared: q.all }))
}

/// One recorded change: genswarms' `{op, payload}`, the payload being the
/// whole op (its `op` tag included).
#[derive(Debug, Serialize, ToSchema)]
struct OverlayEvent {
    /// `add_agent`, `remove_agent`, `add_object`, `remove_object`, `edges`,
    /// `scale`, `configure_object`.
    op: &'static str,
    /// The change.
    payload: OverlayOp,
}

/// The overlay: runtime changes recorded since the seed, in order.
#[derive(Debug, Serialize, ToSchema)]
struct OverlayBody {
    /// The swarm.
    swarm: String,
    /// The changes, oldest first.
    events: Vec<OverlayEvent>,
}

/// A swarm's recorded runtime changes.
#[utoipa::path(get, path = "/api/swarms/{name}/overlay", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = OverlayBody), (status = 404, body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
async fn get_overlay(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let events =
        st.hive.overlay(&name).await?.into_iter().map(|payload| OverlayEvent { op: payload.name(), payload }).collect();
    Ok(axum::Json(OverlayBody { swarm: name, events }))
}

/// Folds the changes into the seed and empties the overlay (the swarm stays
/// as it is).
#[utoipa::path(delete, path = "/api/swarms/{name}/overlay", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, body = SwarmAck), (status = 404, body = crate::http::ErrorBody)))]
async fn clear_overlay(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.clear_overlay(&name).await?;
    Ok(axum::Json(ack(SwarmOutcome::Cleared, &name)))
}

/// The effective config (seed ⊕ overlay) as a swarm file (TOML).
#[utoipa::path(post, path = "/api/swarms/{name}/snapshot", tag = "swarms", params(("name" = String, Path)),
    responses((status = 200, description = "the swarm file", content_type = "application/toml", body = String),
        (status = 404, body = crate::http::ErrorBody)))]
async fn snapshot(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<Response> {
    let toml = st.hive.swarm(&name).await?.snapshot_toml().await?;
    Ok(([(header::CONTENT_TYPE, "application/toml; charset=utf-8")], toml).into_response())
}
