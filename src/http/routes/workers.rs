//! HTTP workers (the job runner's flow) and the list of every worker the
//! dispatcher holds, of every transport. A worker registers, long-polls
//! `next` (a task, or 204 when none came within `wait`), streams output and
//! ends each task with a result or an error; a report on a task it no
//! longer holds is 409. Each handler is one call of the dispatch handle
//! (`runtime/hive/http_workers.rs`) as the calling token, which owns the
//! worker it registers (another token's call for that id is 403); what a
//! worker is owed is in `gateway/http_worker.rs`. A task a poll took is the
//! worker's once the server hands the answer's body to the connection; a
//! poll cut off before (the client went away) hands it back to the queue.

use std::cmp::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::v1_list::{Filters, V1List};
use crate::gateway::{Assignment, HttpRegistration, HttpReport, HttpTerms, WorkerState, WorkerTransport, ZmqWorker};
use crate::http::AppState;
use crate::http::access::Caller;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{Sort, SortField, V1PageQuery, sorted};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all))
        .routes(routes!(register))
        .routes(routes!(unregister))
        .routes(routes!(heartbeat))
        .routes(routes!(next))
        .routes(routes!(output))
        .routes(routes!(result))
        .routes(routes!(error))
}

/// The fields a worker list sorts on.
#[derive(Debug, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WorkerSort {
    WorkerId,
    ConnectedAt,
    LastHeartbeat,
    Running,
}

impl SortField for WorkerSort {
    type Item = ZmqWorker;
    const ALL: &'static [Self] = &[Self::WorkerId, Self::ConnectedAt, Self::LastHeartbeat, Self::Running];
    fn name(self) -> &'static str {
        match self {
            Self::WorkerId => "worker_id",
            Self::ConnectedAt => "connected_at",
            Self::LastHeartbeat => "last_heartbeat",
            Self::Running => "running",
        }
    }
    fn compare(self, a: &ZmqWorker, b: &ZmqWorker) -> Ordering {
        match self {
            Self::WorkerId => a.worker_id.cmp(&b.worker_id),
            Self::ConnectedAt => a.connected_at.cmp(&b.connected_at),
            Self::LastHeartbeat => a.last_heartbeat.cmp(&b.last_heartbeat),
            Self::Running => a.running.len().cmp(&b.running.len()),
        }
    }
}

/// Filters of a worker list (with the page's parameters).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WorkersQuery {
    /// Only workers with this status.
    status: Option<WorkerState>,
    /// Only workers with this capability.
    capability: Option<String>,
    /// Only workers reached this way.
    transport: Option<WorkerTransport>,
}

/// `?sort=` of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct WorkersQuerySort {
    /// Default: by `worker_id`; `running` is how many tasks it runs.
    #[param(schema_with = crate::http::page::sort_schema::<WorkerSort>)]
    sort: Option<Sort<WorkerSort>>,
}

/// A page of the dispatcher's workers, filtered and sorted.
pub(crate) async fn page(
    st: &AppState,
    f: WorkersQuery,
    by: WorkersQuerySort,
    q: &V1PageQuery,
) -> ApiResult<V1List<ZmqWorker>> {
    let all: Vec<ZmqWorker> = st
        .hive
        .gateway()
        .workers()
        .await?
        .into_iter()
        .filter(|w| f.status.is_none_or(|s| w.status == s))
        .filter(|w| f.capability.as_ref().is_none_or(|c| w.capabilities.contains(c)))
        .filter(|w| f.transport.is_none_or(|t| w.transport == t))
        .collect();
    V1List::of(q, sorted(all, by.sort))
}

/// Every worker the dispatcher holds (ZeroMQ, JSONL pool workers, HTTP),
/// each with its `transport`, filtered and sorted.
#[utoipa::path(get, path = "/api/v1/workers", tag = "workers", params(WorkersQuery, WorkersQuerySort, V1PageQuery),
    responses((status = 200, body = V1List<ZmqWorker>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn list_all(
    State(st): State<AppState>,
    Filters(f): Filters<WorkersQuery>,
    ApiQuery(by): ApiQuery<WorkersQuerySort>,
    ApiQuery(q): ApiQuery<V1PageQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(page(&st, f, by, &q).await?))
}

/// Registers an HTTP worker (`x-worker-token` or a worker bearer token):
/// 201, 409 if its id is taken by a connected worker of any transport. The
/// worker is the calling token's: calls for its id with another token are 403.
#[utoipa::path(post, path = "/api/v1/workers/register", tag = "workers", request_body = HttpRegistration,
    responses((status = 201, body = HttpTerms), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn register(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiJson(reg): ApiJson<HttpRegistration>,
) -> ApiResult<Response> {
    let terms = st.hive.gateway().register_http(reg, &who.name).await?;
    Ok((StatusCode::CREATED, axum::Json(terms)).into_response())
}

/// Unregistered.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnregisteredWord {
    Unregistered,
}

/// A worker force-unregistered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Unregistered {
    /// `unregistered`.
    status: UnregisteredWord,
    worker_id: String,
    /// The tasks it ran that went back to the queue (those past
    /// `max_attempts` failed with `worker_lost` instead).
    requeued: Vec<String>,
}

/// Unregisters a worker (HTTP or ZeroMQ), as both routes answer it.
pub(crate) async fn unregistered(st: &AppState, worker_id: String) -> ApiResult<Unregistered> {
    let requeued = st.hive.gateway().unregister(&worker_id).await?.iter().map(|t| t.to_string()).collect();
    Ok(Unregistered { status: UnregisteredWord::Unregistered, worker_id, requeued })
}

/// Unregisters a worker of any transport but the pool's (its tasks are
/// requeued): 404 if unknown.
#[utoipa::path(delete, path = "/api/v1/workers/{id}", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, body = Unregistered), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn unregister(State(st): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(unregistered(&st, id).await?))
}

/// Done.
#[derive(Debug, Serialize, ToSchema)]
struct Ok200 {
    /// `ok`.
    status: &'static str,
}

const OK: Ok200 = Ok200 { status: "ok" };

/// A heartbeat: the worker is alive and the leases of the tasks it took
/// are renewed. 404 for an unknown worker (register again), 403 for
/// another token's worker.
#[utoipa::path(post, path = "/api/v1/workers/{id}/heartbeat", tag = "workers", params(("id" = String, Path)),
    responses((status = 200, body = Ok200), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn heartbeat(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    st.hive.gateway().heartbeat_http(&id, &who.name).await?;
    Ok(axum::Json(OK))
}

/// `?wait=` of `next`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct NextQuery {
    /// How long to wait for a task: whole seconds (`30s`) or milliseconds
    /// (`500ms`), at most `60s` (default `30s`).
    #[param(value_type = Option<String>, example = "30s",
        pattern = "^(([0-9]|[1-5][0-9]|60)s|([0-9]{1,4}|[1-5][0-9]{4}|60000)ms)$")]
    wait: Option<String>,
}

/// The worker's next task (a lease comes with it), waiting up to `wait`;
/// 204 when none came. One poll per worker at a time (409 otherwise); 404
/// if the worker is gone, also when it registered again while this poll
/// waited (the poll belongs to the registration it started under).
#[utoipa::path(get, path = "/api/v1/workers/{id}/next", tag = "workers", params(("id" = String, Path), NextQuery),
    responses((status = 200, body = Assignment), (status = 204, description = "no task came within `wait`"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn next(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> ApiResult<Response> {
    let wait = match q.wait.as_deref() {
        None => Duration::from_secs(30),
        Some(w) => parse_wait(w).ok_or_else(|| {
            ApiError::bad_request(format!("wait '{w}' is not whole seconds or milliseconds like 30s or 500ms"))
        })?,
    };
    Ok(match st.hive.gateway().next_http(&id, &who.name, wait).await? {
        Some(taken) => delivered_on_send(taken),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// The answer carrying a task a poll took: the task is the worker's once
/// the server takes the body to send it; a response dropped before (the
/// client went away) drops `taken`, which hands the task back.
fn delivered_on_send(taken: crate::runtime::HttpTaken) -> Response {
    let json = serde_json::to_vec(taken.assignment()).unwrap_or_default();
    let body = futures::stream::once(async move {
        taken.delivered();
        Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(json))
    });
    ([(axum::http::header::CONTENT_TYPE, "application/json")], axum::body::Body::from_stream(body)).into_response()
}

/// `30s` or `500ms` (digits only, then the unit).
fn parse_wait(w: &str) -> Option<Duration> {
    let (digits, unit): (&str, fn(u64) -> Duration) = match w.strip_suffix("ms") {
        Some(d) => (d, Duration::from_millis),
        None => (w.strip_suffix('s')?, Duration::from_secs),
    };
    let valid = !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.parse().ok().map(unit)).flatten()
}

/// A chunk of a task's output, or its result.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ContentBody {
    content: String,
}

/// A task's failure.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ErrorReportBody {
    /// The worker's own code (at most 64 bytes are kept).
    code: String,
    message: String,
}

/// Streams a chunk of output of a task the worker holds (it reaches SSE,
/// WebSockets and the task's output as a token); 409 if it no longer holds it.
#[utoipa::path(post, path = "/api/v1/workers/{id}/tasks/{task}/output", tag = "workers",
    params(("id" = String, Path), ("task" = String, Path)), request_body = ContentBody,
    responses((status = 200, body = Ok200), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn output(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath((id, task)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ContentBody>,
) -> ApiResult<impl IntoResponse> {
    st.hive.gateway().report_http(&id, &who.name, &task, HttpReport::Output(b.content)).await?;
    Ok(axum::Json(OK))
}

/// Ends a task the worker holds with its result; 409 if it no longer holds
/// it (it ended, was cancelled, or went to another worker).
#[utoipa::path(post, path = "/api/v1/workers/{id}/tasks/{task}/result", tag = "workers",
    params(("id" = String, Path), ("task" = String, Path)), request_body = ContentBody,
    responses((status = 200, body = Ok200), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn result(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath((id, task)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ContentBody>,
) -> ApiResult<impl IntoResponse> {
    st.hive.gateway().report_http(&id, &who.name, &task, HttpReport::Result(b.content)).await?;
    Ok(axum::Json(OK))
}

/// Ends a task the worker holds as failed; 409 if it no longer holds it.
#[utoipa::path(post, path = "/api/v1/workers/{id}/tasks/{task}/error", tag = "workers",
    params(("id" = String, Path), ("task" = String, Path)), request_body = ErrorReportBody,
    responses((status = 200, body = Ok200), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn error(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiPath((id, task)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ErrorReportBody>,
) -> ApiResult<impl IntoResponse> {
    let report = HttpReport::Error { code: b.code, message: b.message };
    st.hive.gateway().report_http(&id, &who.name, &task, report).await?;
    Ok(axum::Json(OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_whole_seconds_or_milliseconds() {
        assert_eq!(parse_wait("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_wait("0s"), Some(Duration::ZERO));
        for bad in ["", "s", "ms", "1m", "5 s", "-1s", "1.5s", "99999999999s", "30", "²s"] {
            assert_eq!(parse_wait(bad), None, "{bad:?}");
        }
    }
}
