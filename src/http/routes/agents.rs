//! Agent routes: list, add, status, remove, task, restart, history, logs,
//! skills, scale.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{LimitQuery, LogPage, Page, PageQuery, limit};
use crate::http::skills::{self as skill_files, SkillFile};
use crate::runtime::{AgentStatus, HistoryEntry, ScaleResult};
use crate::store::EventQuery;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents, add_agent))
        .routes(routes!(agent_status, remove_agent))
        .routes(routes!(send_task))
        .routes(routes!(restart_agent))
        .routes(routes!(history))
        .routes(routes!(logs))
        .routes(routes!(skills))
        .routes(routes!(put_skill))
        .routes(routes!(scale))
}

/// Splits `connections` and `incoming` off an entry body.
pub(crate) fn take_edges(body: &mut Map<String, Value>) -> ApiResult<(Vec<String>, Vec<String>)> {
    let mut list = |key: &str| -> ApiResult<Vec<String>> {
        match body.remove(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v)
                .map_err(|_| ApiError::bad_request(format!("'{key}' must be a list of endpoint names"))),
        }
    };
    Ok((list("connections")?, list("incoming")?))
}

/// Lists a swarm's agents with their status.
#[utoipa::path(get, path = "/api/swarms/{name}/agents", tag = "agents", params(("name" = String, Path), PageQuery),
    responses((status = 200, body = Page<AgentStatus>), (status = 404, body = ErrorBody)))]
async fn list_agents(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<impl IntoResponse> {
    let status = st.hive.swarm(&name).await?.status().await?;
    Ok(axum::Json(q.apply(status.agents)?))
}

/// Adds an agent (or a scale group): the body is an `[[agents]]` entry as
/// JSON plus optional `connections` (out-edges) and `incoming` (in-edges).
#[utoipa::path(post, path = "/api/swarms/{name}/agents", tag = "agents", params(("name" = String, Path)),
    request_body(content = crate::http::schema::NewAgent, description = "an agent entry, plus `connections` and `incoming`",
        example = json!({"name": "reviewer", "backend": "mock", "replicas": 2})),
    responses((status = 201, description = "added", body = Value), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_agent(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Response> {
    let mut body = body;
    let (connections, incoming) = take_edges(&mut body)?;
    let spec = crate::config::parse_agent_json(&Value::Object(body)).map_err(crate::HiveError::InvalidConfig)?;
    let names = st.hive.swarm(&name).await?.add_agent(spec, connections, incoming).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"status": "added", "swarm": name, "names": names}))).into_response())
}

/// One agent's status.
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)),
    responses((status = 200, body = AgentStatus), (status = 404, body = ErrorBody)))]
async fn agent_status(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.swarm(&name).await?.agent_status(&agent).await?))
}

/// Removes an agent, or a whole scale group.
#[utoipa::path(delete, path = "/api/swarms/{name}/agents/{agent}", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)),
    responses((status = 200, description = "removed", body = Value), (status = 404, body = ErrorBody)))]
async fn remove_agent(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let names = st.hive.swarm(&name).await?.remove_agent(&agent).await?;
    Ok(axum::Json(json!({"status": "removed", "swarm": name, "names": names})))
}

/// A task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaskBody {
    /// What to do.
    task: String,
}

/// The answer to a queued task.
#[derive(Debug, Serialize, ToSchema)]
struct TaskQueued {
    /// `queued`.
    status: &'static str,
    /// Follow it with `GET /api/v1/tasks/{id}` or the event streams.
    task_id: String,
    /// The agent.
    agent: String,
}

/// Queues a task for an agent.
#[utoipa::path(post, path = "/api/swarms/{name}/agents/{agent}/task", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)), request_body = TaskBody,
    responses((status = 202, body = TaskQueued), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn send_task(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
    ApiJson(t): ApiJson<TaskBody>,
) -> ApiResult<Response> {
    let id = st.hive.swarm(&name).await?.send_task(&agent, &t.task).await?;
    let body = TaskQueued { status: "queued", task_id: id.to_string(), agent };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Restarts an agent with its spec.
#[utoipa::path(post, path = "/api/swarms/{name}/agents/{agent}/restart", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)),
    responses((status = 200, description = "restarted", body = Value), (status = 404, body = ErrorBody)))]
async fn restart_agent(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.restart_agent(&agent).await?;
    Ok(axum::Json(json!({"status": "restarted", "swarm": name, "agent": agent})))
}

/// An agent's history: tasks, messages, replies, results.
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/history", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path), LimitQuery),
    responses((status = 200, body = LogPage<HistoryEntry>), (status = 404, body = ErrorBody)))]
async fn history(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<impl IntoResponse> {
    let items = st.hive.swarm(&name).await?.history(&agent, limit(q.limit)?).await?;
    Ok(axum::Json(LogPage::of(items)))
}

/// An agent's output and log lines (`agent_output` and `log_entry` events).
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/logs", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path), LimitQuery),
    responses((status = 200, body = LogPage<super::events::EventJson>), (status = 404, body = ErrorBody)))]
async fn logs(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.agent_status(&agent).await?;
    let n = limit(q.limit)?;
    let mut items = Vec::new();
    for t in ["agent_output", "log_entry"] {
        let query = EventQuery {
            swarm: Some(name.clone()),
            agent: Some(agent.clone()),
            event_type: Some(t.into()),
            limit: n,
            ..Default::default()
        };
        items.extend(st.hive.query_events(query).await?);
    }
    items.sort_by_key(|e| e.seq);
    let skip = items.len().saturating_sub(n);
    let items: Vec<Value> = items.split_off(skip).iter().map(crate::store::StoredEvent::to_json).collect();
    Ok(axum::Json(LogPage::of(items)))
}

/// The contents of an agent's skill files (confined to the skills directory).
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/skills", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)),
    responses((status = 200, body = LogPage<SkillFile>), (status = 404, body = ErrorBody)))]
async fn skills(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let status = st.hive.swarm(&name).await?.agent_status(&agent).await?;
    Ok(axum::Json(LogPage::of(skill_files::read_listed(&st.cfg.skills_dir, status.skills).await?)))
}

/// New content of a skill file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SkillBody {
    /// The whole file.
    content: String,
}

/// Replaces one of the agent's skill files (it must be in the agent's
/// `skills` and inside the skills directory).
#[utoipa::path(put, path = "/api/swarms/{name}/agents/{agent}/skills/{skill}", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path), ("skill" = String, Path)), request_body = SkillBody,
    responses((status = 200, description = "updated", body = Value), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn put_skill(
    State(st): State<AppState>,
    ApiPath((name, agent, skill)): ApiPath<(String, String, String)>,
    ApiJson(b): ApiJson<SkillBody>,
) -> ApiResult<impl IntoResponse> {
    let status = st.hive.swarm(&name).await?.agent_status(&agent).await?;
    let matches = |s: &String| {
        let p = std::path::Path::new(s);
        s == &skill
            || p.file_name().is_some_and(|f| f == skill.as_str())
            || p.file_stem().is_some_and(|f| f == skill.as_str())
    };
    let listed = status.skills.iter().find(|s| matches(s)).ok_or_else(|| {
        ApiError::from(crate::HiveError::not_found(crate::Resource::Skill, format!("{agent}/{skill}")))
    })?;
    let size = b.content.len();
    let path = skill_files::write(&st.cfg.skills_dir, listed, b.content).await?;
    Ok(axum::Json(json!({"status": "updated", "skill": listed, "path": path.display().to_string(), "size": size})))
}

/// A target size.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    /// Members wanted (0 or more).
    count: i64,
}

/// Scales a group to `count` members (`base_1..base_N`; the highest index
/// goes first when scaling down).
#[utoipa::path(post, path = "/api/swarms/{name}/agents/{base}/scale", tag = "agents",
    params(("name" = String, Path), ("base" = String, Path)), request_body = ScaleBody,
    responses((status = 200, body = ScaleResult), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn scale(
    State(st): State<AppState>,
    ApiPath((name, base)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ScaleBody>,
) -> ApiResult<impl IntoResponse> {
    let count = u64::try_from(b.count).map_err(|_| ApiError::bad_request("'count' must be 0 or more"))?;
    Ok(axum::Json(st.hive.swarm(&name).await?.scale(&base, count).await?))
}
