//! The gateway routes of the Sol API: ZeroMQ workers, their maintenance
//! switch, dispatch (sync, async, stream over SSE, webhook) and orchestrate.
//! Modes and strategies are closed enums of the request bodies (an unknown
//! one is a 400 naming the valid values); webhook delivery is the runtime's
//! ([`crate::Hive::dispatch_webhook`]). One worker is read or
//! force-unregistered by id; the list filters on status and capability and
//! sorts over a closed set of fields.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::v1_list::{Filters, V1List};
use super::workers::{WorkersQuery, WorkersQuerySort};
use crate::gateway::{DispatchRequest, GatewayStatus, Submit, Webhook, ZmqWorker};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::V1PageQuery;
use crate::runtime::orchestrate::{OrchestrateMode, Plan, Report, Strategy};
use crate::task::{Follower, TaskEnd, TaskUpdate};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workers))
        .routes(routes!(get_worker, unregister_worker))
        .routes(routes!(status))
        .routes(routes!(worker_off))
        .routes(routes!(worker_on))
        .routes(routes!(dispatch))
        .routes(routes!(orchestrate))
}

/// Connected ZeroMQ workers (and pool workers, as `local/<id>`), filtered and sorted.
#[utoipa::path(get, path = "/api/v1/zmq/workers", tag = "gateway", params(WorkersQuery, WorkersQuerySort, V1PageQuery),
    responses((status = 200, body = V1List<ZmqWorker>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn list_workers(
    State(st): State<AppState>,
    Filters(f): Filters<WorkersQuery>,
    ApiQuery(by): ApiQuery<WorkersQuerySort>,
    ApiQuery(q): ApiQuery<V1PageQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(super::workers::page(&st, f, by, &q).await?))
}

/// One connected worker.
#[utoipa::path(get, path = "/api/v1/zmq/workers/{id}", tag = "gateway", params(("id" = String, Path)),
    responses((status = 200, body = ZmqWorker), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_worker(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.gateway().worker(&id).await?))
}

/// Force-unregisters a ZeroMQ worker: its running tasks are requeued and its
/// socket identity forgotten, so a later frame from it is one from an
/// unknown worker (a heartbeat is answered `rejected`, "not registered";
/// a `ready` registers it anew). 404 if unknown; 409 for a standalone
/// worker (`local/<id>`: kill it through `/api/v1/agents`).
#[utoipa::path(delete, path = "/api/v1/zmq/workers/{id}", tag = "gateway", params(("id" = String, Path)),
    responses((status = 200, body = super::workers::Unregistered), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn unregister_worker(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(super::workers::unregistered(&st, id).await?))
}

/// The gateway's state.
#[utoipa::path(get, path = "/api/v1/zmq/status", tag = "gateway", responses((status = 200, body = GatewayStatus)))]
async fn status(State(st): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.zmq_status().await?))
}

/// Maintenance on: the worker finishes its running tasks and gets no new one.
#[utoipa::path(post, path = "/api/v1/zmq/workers/{id}/off", tag = "gateway", params(("id" = String, Path)),
    responses((status = 200, body = WorkerSwitch), (status = 404, body = ErrorBody)))]
async fn worker_off(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.set_worker_accepting(&id, false).await?;
    Ok(axum::Json(WorkerSwitch { worker_id: id, accepting: false }))
}

/// A worker's maintenance switch, as it now is.
#[derive(Debug, Serialize, ToSchema)]
struct WorkerSwitch {
    worker_id: String,
    /// Whether it takes new tasks.
    accepting: bool,
}

/// Maintenance off: the worker takes tasks again.
#[utoipa::path(post, path = "/api/v1/zmq/workers/{id}/on", tag = "gateway", params(("id" = String, Path)),
    responses((status = 200, body = WorkerSwitch), (status = 404, body = ErrorBody)))]
async fn worker_on(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.set_worker_accepting(&id, true).await?;
    Ok(axum::Json(WorkerSwitch { worker_id: id, accepting: true }))
}

/// How `POST /api/v1/zmq/dispatch` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum DispatchMode {
    /// Wait and answer the result (or 202 past the task's timeout).
    Sync,
    /// Answer the task id at once.
    Async,
    /// Server-sent events: tokens, then the result.
    Stream,
    /// Answer the task id; POST the result to `webhook.url`.
    Webhook,
}

/// A task for the workers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DispatchBody {
    #[schema(min_length = 1)]
    prompt: String,
    model: Option<String>,
    context: Option<String>,
    /// 1 (highest) to 255; default 5.
    #[schema(minimum = 1, maximum = 255)]
    priority: Option<u8>,
    /// Capabilities the worker must have.
    #[serde(default)]
    capabilities: Vec<String>,
    /// Same as `mode: "stream"`.
    #[serde(default)]
    stream: bool,
    /// Default `sync` (`stream` with `"stream": true`).
    mode: Option<DispatchMode>,
    webhook: Option<Webhook>,
    /// Per-task timeout in ms (default: the gateway's).
    timeout_ms: Option<u64>,
}

impl DispatchBody {
    fn request(&self, who: &crate::access::Principal) -> ApiResult<DispatchRequest> {
        if self.prompt.is_empty() {
            return Err(ApiError::bad_request("'prompt' must not be empty"));
        }
        if self.priority == Some(0) {
            return Err(ApiError::bad_request("'priority' runs from 1 (highest) to 255"));
        }
        Ok(DispatchRequest {
            prompt: self.prompt.clone(),
            model: self.model.clone(),
            context: self.context.clone(),
            priority: self.priority,
            capabilities: self.capabilities.clone(),
            timeout: self.timeout_ms.map(Duration::from_millis),
            swarm: None,
            agent: None,
            submitted_by: Some(who.name.to_string()),
            tick: None,
        })
    }
}

/// Waits for a task's end (tokens are skipped); `None` if `wait` passes first.
async fn wait_done(f: crate::task::Follower, wait: Duration) -> Option<TaskEnd> {
    tokio::time::timeout(wait, f.end()).await.ok().flatten()
}

/// What a dispatch answers (Sol's `{task_id, status, content}`): its end,
/// or `queued` / `in_progress` with the id (and `webhook` where it goes).
#[derive(Debug, Serialize, ToSchema)]
struct Dispatched {
    task_id: String,
    /// `queued`, `in_progress`, or how it ended.
    status: crate::task::TaskStatus,
    /// The result, or the error's message (once it ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// Where the result will be POSTed (mode `webhook`).
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<String>,
}

impl Dispatched {
    fn open(id: impl Into<String>, status: crate::task::TaskStatus) -> Self {
        Self { task_id: id.into(), status, content: None, webhook: None }
    }
}

/// The Sol-style answer for a task's end: `{task_id, status, content}`.
fn end_json(id: &str, end: &TaskEnd) -> Dispatched {
    Dispatched {
        task_id: id.to_string(),
        status: end.status(),
        content: Some(end.content().to_string()),
        webhook: None,
    }
}

/// Dispatches a task to a ZeroMQ worker.
#[utoipa::path(post, path = "/api/v1/zmq/dispatch", tag = "gateway", request_body = DispatchBody,
    responses((status = 200, description = "sync: {task_id, status, content}", body = Dispatched),
        (status = 202, description = "async/webhook, or sync past its wait: {task_id, status}", body = Dispatched),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn dispatch(
    State(st): State<AppState>,
    crate::http::access::Caller(who): crate::http::access::Caller,
    ApiJson(b): ApiJson<DispatchBody>,
) -> ApiResult<Response> {
    let req = b.request(&who)?;
    let mode = b.mode.unwrap_or(if b.stream { DispatchMode::Stream } else { DispatchMode::Sync });
    let wait = req.timeout.unwrap_or(Duration::from_secs(300));
    match mode {
        DispatchMode::Webhook => {
            let hook =
                b.webhook.ok_or_else(|| ApiError::bad_request("mode 'webhook' needs 'webhook': {url, headers}"))?;
            let url = hook.url.clone();
            let id = st.hive.dispatch_webhook(req, hook).await?;
            let body =
                Dispatched { webhook: Some(url), ..Dispatched::open(id.as_ref(), crate::task::TaskStatus::Queued) };
            Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
        }
        DispatchMode::Async => {
            let (id, _) = st.hive.dispatch(req, Submit::Queue).await?;
            let body = Dispatched::open(id.as_ref(), crate::task::TaskStatus::Queued);
            Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
        }
        DispatchMode::Sync => {
            let (id, follower) = st.hive.dispatch(req, Submit::Follow).await?;
            match wait_done(follower.unwrap_or_else(Follower::never), wait).await {
                Some(end) => Ok(axum::Json(end_json(&id, &end)).into_response()),
                None => {
                    let body = Dispatched::open(id.as_ref(), crate::task::TaskStatus::Running);
                    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
                }
            }
        }
        DispatchMode::Stream => {
            let (id, follower) = st.hive.dispatch(req, Submit::Follow).await?;
            let follower = follower.unwrap_or_else(Follower::never);
            let tid = id.clone();
            let events = futures::stream::unfold((follower, false), move |(mut f, ended)| {
                let tid = tid.clone();
                async move {
                    if ended {
                        return None;
                    }
                    let e = match f.next().await? {
                        TaskUpdate::Token(c) => Event::default().event("token").data(json!({"content": c}).to_string()),
                        TaskUpdate::Missed(n) => {
                            Event::default().event("lagged").data(json!({"missed": n}).to_string())
                        }
                        TaskUpdate::Done(end) => {
                            let name =
                                if end.status() == crate::task::TaskStatus::Completed { "result" } else { "error" };
                            let data = serde_json::to_string(&end_json(&tid, &end)).unwrap_or_default();
                            return Some((Ok::<_, Infallible>(Event::default().event(name).data(data)), (f, true)));
                        }
                    };
                    Some((Ok(e), (f, false)))
                }
            });
            Ok(Sse::new(events).keep_alive(KeepAlive::default()).into_response())
        }
    }
}

/// One task of an orchestration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrchestrateTask {
    #[schema(min_length = 1)]
    prompt: String,
    model: Option<String>,
    #[serde(default)]
    capabilities: Vec<String>,
    #[schema(minimum = 1, maximum = 255)]
    priority: Option<u8>,
}

/// Several tasks, run together or one after another.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OrchestrateBody {
    #[schema(min_items = 1, max_items = 100)]
    tasks: Vec<OrchestrateTask>,
    /// Default `parallel` (`sequential` for a workflow).
    strategy: Option<Strategy>,
    /// Default `direct`.
    mode: Option<OrchestrateMode>,
    /// Overall timeout in ms (default 120 000).
    timeout: Option<u64>,
    /// Model for every task without its own.
    model: Option<String>,
}

/// Runs several tasks: in parallel, in sequence, or as a workflow. At the
/// overall timeout, the tasks still running are cancelled.
#[utoipa::path(post, path = "/api/v1/orchestrate", tag = "gateway", request_body = OrchestrateBody,
    responses((status = 200, description = "{status, strategy, mode, results: [{task_id, status, content}]}", body = Report),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn orchestrate(
    State(st): State<AppState>,
    crate::http::access::Caller(who): crate::http::access::Caller,
    ApiJson(b): ApiJson<OrchestrateBody>,
) -> ApiResult<impl IntoResponse> {
    let mode = b.mode.unwrap_or_default();
    let strategy =
        b.strategy.unwrap_or(if mode == OrchestrateMode::Workflow { Strategy::Sequential } else { Strategy::Parallel });
    let tasks = b
        .tasks
        .iter()
        .map(|t| DispatchRequest {
            prompt: t.prompt.clone(),
            model: t.model.clone().or_else(|| b.model.clone()),
            priority: t.priority,
            capabilities: t.capabilities.clone(),
            submitted_by: Some(who.name.to_string()),
            ..Default::default()
        })
        .collect();
    let timeout = Duration::from_millis(b.timeout.unwrap_or(120_000));
    Ok(axum::Json(st.hive.gateway().orchestrate(Plan { tasks, strategy, mode, timeout }).await?))
}
