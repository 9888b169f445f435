//! Schedules (Zenii's scheduler, in Hive's API): make, list, read, edit
//! (`PATCH`: toggle or change), delete, and each schedule's runs. Each
//! handler is one call of the schedules handle (`runtime/hive/schedules.rs`);
//! what a schedule is, is in `schedule/`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::access::Caller;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::schedule::{RunView, ScheduleEdit, ScheduleSpec, ScheduleView};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get_one, edit, delete)).routes(routes!(runs))
}

/// Every schedule, by name.
#[derive(Debug, Serialize, ToSchema)]
struct ScheduleList {
    schedules: Vec<ScheduleView>,
    total: usize,
}

/// Every schedule of the daemon (made through the API or declared in a
/// running swarm's file), by name, with its next fire times.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules",
    responses((status = 200, body = ScheduleList), (status = 503, body = ErrorBody)))]
async fn list(State(st): State<AppState>) -> ApiResult<impl IntoResponse> {
    let schedules = st.hive.schedules().list().await?;
    Ok(axum::Json(ScheduleList { total: schedules.len(), schedules }))
}

/// Makes a schedule: exactly one of `cron` (with `timezone`), `every` and
/// `at`; a `target` (`{"pool": {...}}` or `{"agent": {"swarm", "agent"}}`).
/// Its tasks are submitted by the caller's token. 400 for a bad timing or
/// an unknown target, 409 if the name is taken.
#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = ScheduleSpec,
    responses((status = 201, body = ScheduleView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn create(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiJson(spec): ApiJson<ScheduleSpec>,
) -> ApiResult<Response> {
    let view = st.hive.schedules().create(spec, &who).await?;
    let location = format!("/api/v1/schedules/{}", view.spec.name);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(view)).into_response())
}

/// One schedule.
#[utoipa::path(get, path = "/api/v1/schedules/{name}", tag = "schedules", params(("name" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody)))]
async fn get_one(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.schedules().get(&name).await?))
}

/// Edits a schedule: `{"enabled": false}` pauses it; a new `cron`, `every`
/// or `at` replaces its timing (ticks start from now). A swarm's schedule
/// takes only `enabled` (409 for more: its file says the rest).
#[utoipa::path(patch, path = "/api/v1/schedules/{name}", tag = "schedules", params(("name" = String, Path)),
    request_body = ScheduleEdit,
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn edit(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(e): ApiJson<ScheduleEdit>,
) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(st.hive.schedules().edit(&name, e).await?))
}

/// Deleted.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum DeletedWord {
    Deleted,
}

/// A schedule deleted.
#[derive(Debug, Serialize, ToSchema)]
struct ScheduleDeleted {
    /// `deleted`.
    status: DeletedWord,
    name: String,
}

/// Deletes a schedule with its runs (its tasks stay). A swarm's schedule
/// goes with the swarm (409).
#[utoipa::path(delete, path = "/api/v1/schedules/{name}", tag = "schedules", params(("name" = String, Path)),
    responses((status = 200, body = ScheduleDeleted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    st.hive.schedules().delete(&name).await?;
    Ok(axum::Json(ScheduleDeleted { status: DeletedWord::Deleted, name }))
}

/// How many runs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RunsQuery {
    /// Newest first, at most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A schedule's runs.
#[derive(Debug, Serialize, ToSchema)]
struct RunList {
    name: String,
    runs: Vec<RunView>,
}

/// A schedule's latest runs, newest first: each tick's fire time, outcome
/// (`fired`, `skipped`, `failed`), task id and that task's status now.
#[utoipa::path(get, path = "/api/v1/schedules/{name}/runs", tag = "schedules", params(("name" = String, Path), RunsQuery),
    responses((status = 200, body = RunList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn runs(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=crate::runtime::MAX_RUNS_READ).contains(&limit) {
        return Err(crate::http::error::ApiError::bad_request("'limit' runs from 1 to 1000"));
    }
    let runs = st.hive.schedules().runs(&name, limit).await?;
    Ok(axum::Json(RunList { name, runs }))
}
