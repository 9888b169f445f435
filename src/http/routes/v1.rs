//! The `/api/v1/agents` routes of the Sol gateway: standalone JSONL
//! workers (spawn only what `spawn_allow` permits), listed with Sol's
//! `status` and Hive's `state`, filtered and sorted over closed sets. The
//! task routes are in `v1_tasks.rs`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::v1_list::{Filters, V1List};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{Sort, SortField, V1PageQuery, sorted};
use crate::runtime::{PoolWorkerState, PoolWorkerStatus, SpawnRequest, WorkerStatus};
use crate::supervisor::Restart;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workers))
        .routes(routes!(spawn_worker))
        .routes(routes!(get_worker))
        .routes(routes!(kill_worker))
        .routes(routes!(worker_task))
        .merge(super::v1_tasks::router())
}

/// The fields `GET /api/v1/agents` sorts on.
#[derive(Debug, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
enum AgentSort {
    Id,
    SpawnedAt,
    Restarts,
    TasksCompleted,
}

impl SortField for AgentSort {
    type Item = WorkerStatus;
    const ALL: &'static [Self] = &[Self::Id, Self::SpawnedAt, Self::Restarts, Self::TasksCompleted];
    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::SpawnedAt => "spawned_at",
            Self::Restarts => "restarts",
            Self::TasksCompleted => "tasks_completed",
        }
    }
    fn compare(self, a: &WorkerStatus, b: &WorkerStatus) -> Ordering {
        match self {
            Self::Id => a.id.cmp(&b.id),
            Self::SpawnedAt => a.spawned_at.cmp(&b.spawned_at),
            Self::Restarts => a.restarts.cmp(&b.restarts),
            Self::TasksCompleted => a.tasks_completed.cmp(&b.tasks_completed),
        }
    }
}

/// Filters and order of `GET /api/v1/agents` (with the page's parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AgentsQuery {
    /// Only workers with this (Sol) status.
    status: Option<PoolWorkerStatus>,
    /// Only workers in this (Hive) state.
    state: Option<PoolWorkerState>,
    /// Only workers with this capability.
    capability: Option<String>,
}

/// `?sort=` of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AgentsQuerySort {
    /// Default: by id.
    #[param(schema_with = crate::http::page::sort_schema::<AgentSort>)]
    sort: Option<Sort<AgentSort>>,
}

/// Standalone JSONL workers, filtered and sorted.
#[utoipa::path(get, path = "/api/v1/agents", tag = "workers", params(AgentsQuery, AgentsQuerySort, V1PageQuery),
    responses((status = 200, body = V1List<WorkerStatus>), (status = 400, body = ErrorBody)))]
async fn list_workers(
    State(st): State<AppState>,
    Filters(f): Filters<AgentsQuery>,
    ApiQuery(by): ApiQuery<AgentsQuerySort>,
    ApiQuery(q): ApiQuery<V1PageQuery>,
) -> ApiResult<impl IntoResponse> {
    let all: Vec<WorkerStatus> = st
        .hive
        .list_workers()
        .await?
        .into_iter()
        .filter(|w| f.status.is_none_or(|s| w.status == s) && f.state.is_none_or(|s| w.state == s))
        .filter(|w| f.capability.as_ref().is_none_or(|c| w.capabilities.contains(c)))
        .collect();
    Ok(axum::Json(V1List::of(&q, sorted(all, by.sort))?))
}

/// Spawn options.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SpawnOpts {
    /// Extra environment (names that change what code runs, like PATH or
    /// LD_PRELOAD, are refused).
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Working directory.
    cwd: Option<String>,
    /// `permanent` (default), `transient` or `temporary`.
    #[schema(value_type = Option<crate::http::schema::RestartWord>)]
    restart: Option<String>,
    /// Graceful-stop timeout before SIGKILL, in ms (default 5000).
    kill_timeout_ms: Option<u64>,
    /// Capabilities, for tasks dispatched through the gateway (the worker
    /// also takes them, as `local/<id>`).
    #[serde(default)]
    capabilities: Vec<String>,
}

/// What to spawn.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SpawnBody {
    /// The program; must match a `spawn_allow` glob of the daemon's config.
    worker_path: String,
    /// Its arguments.
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    opts: SpawnOpts,
}

/// What was done to a worker.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Done {
    Spawned,
    Killed,
}

/// A worker spawned or killed: `{status, id}`.
#[derive(Debug, Serialize, ToSchema)]
struct Spawned {
    /// `spawned` or `killed`.
    status: Done,
    /// The worker's id.
    id: String,
}

/// Queued.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Queued {
    Queued,
}

/// A task queued for a worker.
#[derive(Debug, Serialize, ToSchema)]
struct WorkerTaskQueued {
    /// `queued`.
    status: Queued,
    task_id: String,
    /// The worker's id.
    worker: String,
}

/// Spawns a standalone JSONL worker (403 unless `spawn_allow` permits the path).
#[utoipa::path(post, path = "/api/v1/agents/spawn", tag = "workers", request_body = SpawnBody,
    responses((status = 201, body = Spawned),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn spawn_worker(State(st): State<AppState>, ApiJson(b): ApiJson<SpawnBody>) -> ApiResult<Response> {
    let restart = match b.opts.restart.as_deref() {
        None | Some("permanent") => Restart::Permanent,
        Some("transient") => Restart::Transient,
        Some("temporary") => Restart::Temporary,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown restart '{other}'; valid values: permanent, transient, temporary"
            )));
        }
    };
    let req = SpawnRequest {
        worker_path: b.worker_path,
        args: b.args,
        env: b.opts.env,
        cwd: b.opts.cwd,
        restart,
        kill_timeout_ms: b.opts.kill_timeout_ms,
        capabilities: b.opts.capabilities,
    };
    let id = st.hive.spawn_worker(req).await?;
    Ok((StatusCode::CREATED, axum::Json(Spawned { status: Done::Spawned, id })).into_response())
}

/// One worker.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, body = WorkerStatus), (status = 404, body = ErrorBody)))]
async fn get_worker(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.worker(&id).await?))
}

/// Stops a worker: `shutdown` line, SIGTERM, then SIGKILL after its kill timeout.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/kill", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, body = Spawned), (status = 404, body = ErrorBody)))]
async fn kill_worker(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.kill_worker(&id).await?;
    Ok(axum::Json(Spawned { status: Done::Killed, id }))
}

/// A task for a worker.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WorkerTaskBody {
    /// What to do.
    prompt: String,
}

/// Queues a task for a worker.
#[utoipa::path(post, path = "/api/v1/agents/{id}/task", tag = "workers", params(("id" = String, Path)),
    request_body = WorkerTaskBody,
    responses((status = 202, body = WorkerTaskQueued), (status = 404, body = ErrorBody)))]
async fn worker_task(
    State(st): State<AppState>,
    crate::http::access::Caller(who): crate::http::access::Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<WorkerTaskBody>,
) -> ApiResult<Response> {
    let task_id = st.hive.workers().task_by(&id, &b.prompt, Some(&who.name)).await?;
    let body = WorkerTaskQueued { status: Queued::Queued, task_id: task_id.to_string(), worker: id };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}
