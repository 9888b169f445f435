//! Agent routes: list, add, status, remove, task, restart, history, logs,
//! skills, scale.

use std::cmp::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::events::EventJson;
use crate::config::{BackendKind, BackendType};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{
    LimitQuery, LogPage, PageQuery, Sort, SortField, api_list, api_log, limit, sort_schema, sorted,
};
use crate::runtime::{AgentState, AgentStatus, HistoryEntry, ScaleResult, SkillFile, SkillWritten};
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

/// A field the agent list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentSort {
    Name,
    State,
    Backend,
    Restarts,
    TasksCompleted,
    LastActivity,
}

impl SortField for AgentSort {
    type Item = AgentStatus;
    const ALL: &'static [Self] =
        &[Self::Name, Self::State, Self::Backend, Self::Restarts, Self::TasksCompleted, Self::LastActivity];
    fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::State => "state",
            Self::Backend => "backend",
            Self::Restarts => "restarts",
            Self::TasksCompleted => "tasks_completed",
            Self::LastActivity => "last_activity",
        }
    }
    fn compare(self, a: &AgentStatus, b: &AgentStatus) -> Ordering {
        match self {
            Self::Name => a.name.cmp(&b.name),
            Self::State => (a.state as u8).cmp(&(b.state as u8)),
            Self::Backend => (a.backend as u8).cmp(&(b.backend as u8)),
            Self::Restarts => a.restarts.cmp(&b.restarts),
            Self::TasksCompleted => a.tasks_completed.cmp(&b.tasks_completed),
            Self::LastActivity => a.last_activity.cmp(&b.last_activity),
        }
    }
}

/// `?state=&backend=&backend_type=&group=&sort=&limit=&offset=` of the agent list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AgentListQuery {
    /// Only agents in this state.
    state: Option<AgentState>,
    /// Only agents of this backend.
    backend: Option<BackendKind>,
    /// Only agents of this genswarms backend type.
    backend_type: Option<BackendType>,
    /// Only members of this scale group.
    group: Option<String>,
    /// `name`, `state`, `backend`, `restarts`, `tasks_completed`,
    /// `last_activity`; `-field` descending.
    #[param(schema_with = sort_schema::<AgentSort>)]
    sort: Option<Sort<AgentSort>>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Items to skip.
    offset: Option<usize>,
}

api_list!(
    /// A page of agents: `{agents, total, limit, offset, has_more}`.
    AgentList, agents, AgentStatus
);

/// Lists a swarm's agents with their status.
#[utoipa::path(get, path = "/api/swarms/{name}/agents", tag = "agents",
    params(("name" = String, Path), AgentListQuery),
    responses((status = 200, body = AgentList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_agents(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<AgentListQuery>,
) -> ApiResult<impl IntoResponse> {
    let mut agents = st.hive.swarm(&name).await?.status().await?.agents;
    agents.retain(|a| {
        q.state.is_none_or(|s| a.state == s)
            && q.backend.is_none_or(|b| a.backend == b)
            && q.backend_type.is_none_or(|b| a.backend_type == b)
            && q.group.as_deref().is_none_or(|g| a.group.as_deref() == Some(g))
    });
    let page = PageQuery { limit: q.limit, offset: q.offset }.apply(sorted(agents, q.sort))?;
    Ok(axum::Json(AgentList::from(page)))
}

/// What an added or removed agent entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum EntryOutcome {
    /// Added and started.
    Added,
    /// Stopped and removed.
    Removed,
}

/// `{status, name, names, swarm}`: an agent (or group) added or removed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryAck {
    /// `added` or `removed`.
    status: EntryOutcome,
    /// The entry's name (a group's base name).
    name: String,
    /// Every agent started or stopped (a group's members).
    names: Vec<String>,
    /// The swarm.
    swarm: String,
}

/// Adds an agent (or a scale group): the body is an `[[agents]]` entry as
/// JSON plus optional `connections` (out-edges) and `incoming` (in-edges).
#[utoipa::path(post, path = "/api/swarms/{name}/agents", tag = "agents", params(("name" = String, Path)),
    request_body(content = crate::http::schema::NewAgent, description = "an agent entry, plus `connections` and `incoming`; `backend` is \
        a word (`mock`, `stdio`, `zmq`, `local`) or genswarms' object (`{\"type\": \"docker\", \"image\": ...}`, \
        `ssh` + `host`, `bwrap`, `mock`)",
        example = json!({"name": "reviewer", "backend": "mock", "replicas": 2})),
    responses((status = 201, description = "added", body = EntryAck), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_agent(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Response> {
    let mut body = body;
    let (connections, incoming) = take_edges(&mut body)?;
    let spec = crate::config::parse_agent_json(&Value::Object(body)).map_err(crate::HiveError::InvalidConfig)?;
    let entry = spec.name.clone();
    let names = st.hive.swarm(&name).await?.add_agent(spec, connections, incoming).await?;
    let body = EntryAck { status: EntryOutcome::Added, name: entry, names, swarm: name };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
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
    responses((status = 200, body = EntryAck), (status = 404, body = ErrorBody)))]
async fn remove_agent(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let names = st.hive.swarm(&name).await?.remove_agent(&agent).await?;
    Ok(axum::Json(EntryAck { status: EntryOutcome::Removed, name: agent, names, swarm: name }))
}

/// A task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TaskBody {
    /// What to do.
    task: String,
}

/// The answer to a queued task (genswarms' `{status: "sent", agent, task}`).
#[derive(Debug, Serialize, ToSchema)]
struct TaskQueued {
    /// `sent`: queued for the agent.
    #[schema(value_type = String, example = "sent")]
    status: &'static str,
    /// Follow it with `GET /api/v1/tasks/{id}` or the event streams.
    task_id: String,
    /// The agent.
    agent: String,
    /// The task, as sent.
    task: String,
}

/// Queues a task for an agent.
#[utoipa::path(post, path = "/api/swarms/{name}/agents/{agent}/task", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)), request_body = TaskBody,
    responses((status = 202, body = TaskQueued), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn send_task(
    State(st): State<AppState>,
    crate::http::access::Caller(who): crate::http::access::Caller,
    ApiPath((name, agent)): ApiPath<(String, String)>,
    ApiJson(t): ApiJson<TaskBody>,
) -> ApiResult<Response> {
    let id = st.hive.swarm(&name).await?.send_task_by(&agent, &t.task, Some(&who.name)).await?;
    let body = TaskQueued { status: "sent", task_id: id.to_string(), agent, task: t.task };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// A restarted agent.
#[derive(Debug, Serialize, ToSchema)]
struct AgentRestarted {
    /// `restarted`.
    #[schema(value_type = String, example = "restarted")]
    status: &'static str,
    /// The swarm.
    swarm: String,
    /// The agent.
    agent: String,
}

api_log!(
    /// An agent's history: `{history, count, has_more}`.
    HistoryLog, history, HistoryEntry
);
api_log!(
    /// An agent's output and log lines: `{logs, count, has_more}`.
    AgentLogs, logs, EventJson
);
api_log!(
    /// An agent's skill files: `{skills, count, has_more}`.
    SkillsLog, skills, SkillFile
);

/// Restarts an agent with its spec.
#[utoipa::path(post, path = "/api/swarms/{name}/agents/{agent}/restart", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)),
    responses((status = 200, body = AgentRestarted), (status = 404, body = ErrorBody)))]
async fn restart_agent(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.restart_agent(&agent).await?;
    Ok(axum::Json(AgentRestarted { status: "restarted", swarm: name, agent }))
}

/// An agent's history: tasks, messages, replies, results.
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/history", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path), LimitQuery),
    responses((status = 200, body = HistoryLog), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn history(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<impl IntoResponse> {
    let n = limit(q.limit)?;
    let items = st.hive.swarm(&name).await?.history(&agent, n + 1).await?;
    Ok(axum::Json(HistoryLog::from(LogPage::of_newest(items, n))))
}

/// An agent's output and log lines (`agent_output` and `log_entry` events).
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/logs", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path), LimitQuery),
    responses((status = 200, body = AgentLogs), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
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
            limit: n + 1,
            ..Default::default()
        };
        items.extend(st.hive.query_events(query).await?);
    }
    items.sort_by_key(|e| e.seq);
    let items: Vec<EventJson> = items.iter().map(EventJson::from).collect();
    Ok(axum::Json(AgentLogs::from(LogPage::of_newest(items, n))))
}

/// The contents of an agent's skill files (confined to the skills directory).
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/skills", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path)),
    responses((status = 200, body = SkillsLog), (status = 404, body = ErrorBody)))]
async fn skills(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let files = st.hive.agent_skills(&name, &agent, &st.cfg.skills_dir).await?;
    Ok(axum::Json(SkillsLog::from(LogPage::of(files))))
}

/// New content of a skill file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SkillBody {
    /// The whole file.
    content: String,
}

/// A skill file written: genswarms' `{status: "updated", skill}`, and where.
#[derive(Debug, Serialize, ToSchema)]
struct SkillUpdated {
    /// `updated`.
    #[schema(value_type = String, example = "updated")]
    status: &'static str,
    /// `skill`, `path`, `size`.
    #[serde(flatten)]
    written: SkillWritten,
}

/// Replaces one of the agent's skill files (it must be in the agent's
/// `skills` and inside the skills directory).
#[utoipa::path(put, path = "/api/swarms/{name}/agents/{agent}/skills/{skill}", tag = "agents",
    params(("name" = String, Path), ("agent" = String, Path), ("skill" = String, Path)), request_body = SkillBody,
    responses((status = 200, body = SkillUpdated), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn put_skill(
    State(st): State<AppState>,
    ApiPath((name, agent, skill)): ApiPath<(String, String, String)>,
    ApiJson(b): ApiJson<SkillBody>,
) -> ApiResult<impl IntoResponse> {
    let w = st.hive.write_agent_skill(&name, &agent, &skill, &st.cfg.skills_dir, b.content).await?;
    Ok(axum::Json(SkillUpdated { status: "updated", written: w }))
}

/// A target size.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ScaleBody {
    /// Members wanted (0 or more, at most a group's limit).
    #[schema(minimum = 0, maximum = 10_000)]
    count: i64,
}

/// genswarms' `{status: "ok", result: {added, removed, failed}}`.
#[derive(Debug, Serialize, ToSchema)]
struct Scaled {
    /// `ok`.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// The swarm.
    swarm: String,
    /// The group.
    group: String,
    /// Members added, removed, and those that failed to start.
    result: ScaleResult,
}

/// Scales a group to `count` members (`base_1..base_N`; the highest index
/// goes first when scaling down).
#[utoipa::path(post, path = "/api/swarms/{name}/agents/{base}/scale", tag = "agents",
    params(("name" = String, Path), ("base" = String, Path)), request_body = ScaleBody,
    responses((status = 200, body = Scaled), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn scale(
    State(st): State<AppState>,
    ApiPath((name, base)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ScaleBody>,
) -> ApiResult<impl IntoResponse> {
    let count = u64::try_from(b.count)
        .map_err(|_| ApiError::bad_request("Missing or invalid 'count': it must be 0 or more"))?;
    let result = st.hive.swarm(&name).await?.scale(&base, count).await?;
    Ok(axum::Json(Scaled { status: "ok", swarm: name, group: base, result }))
}
