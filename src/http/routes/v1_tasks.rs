//! The `/api/v1/tasks` routes of the Sol gateway: a task submitted to the
//! dispatcher (`POST`), the task records whatever their transport (read,
//! listed with filters and a sort over closed sets, cancelled). A record
//! shows Sol's `{task_id, status, content}` (`content`: the result, the
//! error, or the output so far while it runs) with the worker that runs
//! it, its start and end, and its attempts.

use crate::http::access::Caller;
use std::cmp::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::v1_list::{Filters, V1List};
use crate::gateway::{DispatchRequest, Webhook};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{Sort, SortField, V1PageQuery};
use crate::task::{FailCode, TaskFilter, TaskOrder, TaskRecord, TaskSort, TaskStatus};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tasks, submit_task)).routes(routes!(get_task, cancel_task))
}

/// The task list sorts at its source (the store, or the book): this names
/// the fields and orders records the same way.
impl SortField for TaskSort {
    type Item = TaskRecord;
    const ALL: &'static [Self] = &TaskSort::ALL;
    fn name(self) -> &'static str {
        self.as_str()
    }
    fn compare(self, a: &TaskRecord, b: &TaskRecord) -> Ordering {
        TaskOrder { by: self, descending: false }.compare(a, b)
    }
}

/// A task as the gateway reports it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaskView {
    task_id: String,
    /// `queued`, `in_progress`, `ok`, `error` or `cancelled`.
    status: TaskStatus,
    /// The result (`ok`), the error as `code: message` (`error`), else the
    /// output so far (empty before any).
    content: String,
    /// While it runs: the last 64 KiB of its streamed output.
    output: Option<String>,
    /// The failure code, when `error`.
    error_code: Option<FailCode>,
    /// The failure message, when `error`.
    error_message: Option<String>,
    /// What was asked.
    prompt: String,
    swarm: String,
    agent: String,
    /// The worker (or agent) that runs it, or ran it last; `null` while it waits.
    worker: Option<String>,
    from: String,
    /// The name of the token that submitted it (`null` for the runtime's own).
    submitted_by: Option<String>,
    /// Times it was started (each dispatch after a requeue is one more).
    attempts: u32,
    /// Priority (dispatched tasks; 1 highest).
    priority: Option<u8>,
    /// Capabilities its worker needs (dispatched tasks).
    capabilities: Vec<String>,
    /// ms since the epoch.
    created_at: u64,
    /// ms since the epoch.
    updated_at: u64,
    /// Its last start, ms since the epoch.
    started_at: Option<u64>,
    /// Its end, ms since the epoch.
    ended_at: Option<u64>,
    /// The schedule tick that created it (`null` if no schedule did).
    schedule: Option<crate::task::ScheduleTick>,
}

impl From<TaskRecord> for TaskView {
    fn from(t: TaskRecord) -> Self {
        Self {
            content: t.result.or(t.error).or_else(|| t.output.clone()).unwrap_or_default(),
            output: t.output,
            error_code: t.error_code,
            error_message: t.error_message,
            task_id: t.id,
            status: t.status,
            prompt: t.content,
            swarm: t.swarm,
            agent: t.target,
            worker: t.worker,
            from: t.from,
            submitted_by: t.submitted_by,
            attempts: t.attempts,
            priority: t.priority,
            capabilities: t.capabilities,
            created_at: t.created_ms,
            updated_at: t.updated_ms,
            started_at: t.started_ms,
            ended_at: t.ended_ms,
            schedule: t.tick,
        }
    }
}

/// Filters and order of `GET /api/v1/tasks` (with the page's parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskQuery {
    /// Only tasks with this status.
    status: Option<TaskStatus>,
    /// Only tasks that run (or last ran) on this worker or agent.
    worker: Option<String>,
    /// Only tasks that need this capability.
    capability: Option<String>,
}

/// `?sort=` of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct TaskQuerySort {
    /// Default `-created_at` (newest first).
    #[param(schema_with = crate::http::page::sort_schema::<TaskSort>)]
    sort: Option<Sort<TaskSort>>,
}

/// Recorded tasks, newest first unless sorted: an admin's list has every
/// task, anyone else's only the tasks its token submitted.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks", params(TaskQuery, TaskQuerySort, V1PageQuery),
    responses((status = 200, body = V1List<TaskView>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn list_tasks(
    State(st): State<AppState>,
    Caller(who): Caller,
    Filters(q): Filters<TaskQuery>,
    ApiQuery(by): ApiQuery<TaskQuerySort>,
    ApiQuery(page): ApiQuery<V1PageQuery>,
) -> ApiResult<impl IntoResponse> {
    let order = by.sort.map_or_else(TaskOrder::default, |s| TaskOrder { by: s.field, descending: s.descending });
    let f = TaskFilter {
        statuses: q.status.into_iter().collect(),
        worker: q.worker,
        capability: q.capability,
        submitted_by: None,
    };
    let (offset, per_page) = page.window()?;
    let (records, total) = st.hive.tasks().page_for(&who, f, order, offset, per_page).await?;
    let items = records.into_iter().map(TaskView::from).collect();
    Ok(axum::Json(V1List::cut(items, total, offset, per_page)))
}

/// A task for the dispatcher.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// What to do (not empty, at most 1 MiB).
    #[schema(min_length = 1)]
    prompt: String,
    model: Option<String>,
    context: Option<String>,
    /// 1 (highest) to 255; default 5.
    #[schema(minimum = 1, maximum = 255)]
    priority: Option<u8>,
    /// Capabilities the worker must have (a standalone worker has
    /// `local/<id>`, so this also targets one).
    #[serde(default)]
    capabilities: Vec<String>,
    /// Per-task timeout in ms (default: the gateway's).
    timeout_ms: Option<u64>,
    /// Also POST the result here once it ends.
    webhook: Option<Webhook>,
}

/// Submits a task to the dispatcher: 202 with its record once it is
/// recorded. It waits in the queue until a worker with its capabilities
/// and a free slot takes it, or its timeout passes (then it fails with
/// `timeout`); no worker being connected is not an error. 503 when the
/// gateway is disabled or the queue is full.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = SubmitBody,
    responses((status = 202, body = TaskView, headers(("Location" = String, description = "/api/v1/tasks/{task_id}"))),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn submit_task(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiJson(b): ApiJson<SubmitBody>,
) -> ApiResult<Response> {
    if b.prompt.is_empty() {
        return Err(ApiError::bad_request("'prompt' must not be empty"));
    }
    if b.priority == Some(0) {
        return Err(ApiError::bad_request("'priority' runs from 1 (highest) to 255"));
    }
    let req = DispatchRequest {
        prompt: b.prompt,
        model: b.model,
        context: b.context,
        priority: b.priority,
        capabilities: b.capabilities,
        timeout: b.timeout_ms.map(Duration::from_millis),
        swarm: None,
        agent: None,
        submitted_by: Some(who.name.to_string()),
        tick: None,
    };
    let record = st.hive.gateway().queue(req, b.webhook).await?;
    let location = format!("/api/v1/tasks/{}", record.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], axum::Json(TaskView::from(record))).into_response())
}

/// One task (another token's is 404 to all but admins).
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
async fn get_task(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(TaskView::from(st.hive.tasks().get_for(&id, &who).await?)))
}

/// Cancelled.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum CancelledWord {
    Cancelled,
}

/// A task cancelled.
#[derive(Debug, Serialize, ToSchema)]
struct Cancelled {
    /// `cancelled`.
    status: CancelledWord,
    task_id: String,
}

/// Cancels a queued or running task: 200, 404 if unknown (or another
/// token's, to all but admins), 409 if it has ended.
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = String, Path)),
    responses((status = 200, body = Cancelled), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_task(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    st.hive.tasks().cancel_for(&id, &who).await?;
    Ok(axum::Json(Cancelled { status: CancelledWord::Cancelled, task_id: id }))
}
