//! The `/api/v1` routes of the Sol gateway that do not need ZeroMQ:
//! standalone JSONL workers (spawn only what `spawn_allow` permits) and the
//! task records.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{V1Page, V1PageQuery};
use crate::runtime::{SpawnRequest, WorkerStatus};
use crate::supervisor::Restart;
use crate::task::{FailCode, TaskRecord, TaskStatus};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workers))
        .routes(routes!(spawn_worker))
        .routes(routes!(get_worker))
        .routes(routes!(kill_worker))
        .routes(routes!(worker_task))
        .routes(routes!(list_tasks))
        .routes(routes!(get_task, cancel_task))
}

/// Standalone JSONL workers.
#[utoipa::path(get, path = "/api/v1/agents", tag = "workers", params(V1PageQuery),
    responses((status = 200, body = V1Page<WorkerStatus>)))]
async fn list_workers(State(st): State<AppState>, ApiQuery(q): ApiQuery<V1PageQuery>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(q.apply(st.hive.list_workers().await?)?))
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

/// Spawns a standalone JSONL worker (403 unless `spawn_allow` permits the path).
#[utoipa::path(post, path = "/api/v1/agents/spawn", tag = "workers", request_body = SpawnBody,
    responses((status = 201, description = "{status, id}", body = serde_json::Value),
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
    Ok((StatusCode::CREATED, axum::Json(json!({"status": "spawned", "id": id}))).into_response())
}

/// One worker.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, body = WorkerStatus), (status = 404, body = ErrorBody)))]
async fn get_worker(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.worker(&id).await?))
}

/// Stops a worker: `shutdown` line, SIGTERM, then SIGKILL after its kill timeout.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/kill", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, description = "{status, id}", body = serde_json::Value),
        (status = 404, body = ErrorBody)))]
async fn kill_worker(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.kill_worker(&id).await?;
    Ok(axum::Json(json!({"status": "killed", "id": id})))
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
    responses((status = 202, description = "{status, task_id}", body = serde_json::Value),
        (status = 404, body = ErrorBody)))]
async fn worker_task(
    State(st): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<WorkerTaskBody>,
) -> ApiResult<Response> {
    let task_id = st.hive.worker_task(&id, &b.prompt).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"status": "queued", "task_id": task_id, "worker": id})))
        .into_response())
}

/// A task as the gateway reports it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskView {
    task_id: String,
    /// `queued`, `in_progress`, `ok`, `error` or `cancelled`.
    status: TaskStatus,
    /// The result (when `ok`) or the error as `code: message` (when `error`).
    content: Option<String>,
    /// The failure code, when `error`.
    error_code: Option<FailCode>,
    /// The failure message, when `error`.
    error_message: Option<String>,
    /// What was asked.
    prompt: String,
    swarm: String,
    agent: String,
    from: String,
    attempts: u32,
    /// ms since the epoch.
    created_at: u64,
    /// ms since the epoch.
    updated_at: u64,
}

impl From<TaskRecord> for TaskView {
    fn from(t: TaskRecord) -> Self {
        Self {
            content: t.result.or(t.error),
            error_code: t.error_code,
            error_message: t.error_message,
            task_id: t.id,
            status: t.status,
            prompt: t.content,
            swarm: t.swarm,
            agent: t.target,
            from: t.from,
            attempts: t.attempts,
            created_at: t.created_ms,
            updated_at: t.updated_ms,
        }
    }
}

/// `?status=` (with the page's `?page=&per_page=`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskQuery {
    /// Only tasks with this status.
    status: Option<String>,
}

/// Recorded tasks, newest first.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery, V1PageQuery),
    responses((status = 200, body = V1Page<TaskView>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn list_tasks(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
    ApiQuery(page): ApiQuery<V1PageQuery>,
) -> ApiResult<impl IntoResponse> {
    let statuses: Vec<TaskStatus> = match q.status.as_deref() {
        None => Vec::new(),
        Some(s) => match TaskStatus::parse(s) {
            Some(st) => vec![st],
            None => {
                let valid: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
                return Err(ApiError::new(
                    crate::ErrorCode::BadFilter,
                    format!("unknown status '{s}'; valid values: {}", valid.join(", ")),
                ));
            }
        },
    };
    let (offset, per_page) = page.window()?;
    let (records, total) = st.hive.tasks_page(&statuses, offset, per_page).await?;
    let items = records.into_iter().map(TaskView::from).collect();
    Ok(axum::Json(V1Page::cut(items, total, offset, per_page)))
}

/// One task.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
async fn get_task(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(TaskView::from(st.hive.task(&id).await?)))
}

/// Cancels a queued or running task: 200, 404 if unknown, 409 if it has ended.
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, description = "{status: cancelled}", body = serde_json::Value),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_task(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.tasks().cancel(&id).await?;
    Ok(axum::Json(json!({"status": "cancelled", "task_id": id})))
}
