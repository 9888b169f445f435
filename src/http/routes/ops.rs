//! Operating the daemon: `GET /health` (public and small; detailed for a
//! caller that auth accepts), the metrics (`GET /metrics`, Prometheus
//! text), the daemon's last log lines (`GET /api/v1/logs`) and the
//! daemon-wide maintenance switch (`POST /api/v1/maintenance/off`, `/on`).
//! Each handler makes one runtime call ([`crate::Hive::health`],
//! [`crate::Hive::metrics_text`], [`crate::Hive::logs`],
//! [`crate::Hive::set_accepting`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::events::FilterError;
use crate::http::AppState;
use crate::http::auth;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::ApiQuery;
use crate::http::routes::events::filter_error;
use crate::logs::{LogLevel, LogLine, LogQuery};
use crate::runtime::{Health, MaintenanceState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(logs))
        .routes(routes!(maintenance_off))
        .routes(routes!(maintenance_on))
}

/// Always `ok` while the daemon answers.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Liveness {
    /// It answers.
    Ok,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
struct HealthBody {
    /// `ok`.
    status: Liveness,
    /// The daemon's version.
    version: &'static str,
    /// The runtime's health (`detail` only for a caller that auth accepts).
    #[serde(flatten)]
    health: Health,
}

/// Liveness, with no auth: `{status, version, uptime_s, swarms_running,
/// last_event_seq, accepting}`. A viewer or more (a valid bearer token of
/// such a role; without a configured token, a loopback client) also gets
/// `detail`: maintenance, workers by state, slots, the dispatch queue by
/// priority, swarms, the store.
#[utoipa::path(get, path = "/health", tag = "meta", security((), ("bearer" = [])),
    responses((status = 200, body = HealthBody), (status = 503, body = ErrorBody)))]
async fn health(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let detail = auth::caller(&st, peer.ip(), &headers).is_some_and(|p| p.role.allows(crate::access::Role::Viewer));
    let health = st.hive.health(detail).await?;
    Ok(axum::Json(HealthBody { status: Liveness::Ok, version: env!("CARGO_PKG_VERSION"), health }))
}

/// The runtime's metrics in the Prometheus text format (0.0.4): swarms,
/// agents (per agent up to a limit per swarm, then per-swarm sums),
/// supervisors, routing, tasks, the dispatch queue, workers, events, the
/// store, HTTP requests, WebSockets and the process (`docs/metrics.md`
/// lists them). Label values are bounded; no task id is a label.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "the exposition", content_type = "text/plain", body = String),
        (status = 503, body = ErrorBody)))]
async fn metrics(State(st): State<AppState>) -> ApiResult<impl IntoResponse> {
    let text = st.hive.metrics_text().await?;
    Ok(([(axum::http::header::CONTENT_TYPE, crate::runtime::METRICS_CONTENT_TYPE)], text))
}

/// `?limit=&level=` of `GET /api/v1/logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct LogsParams {
    /// Newest lines to return (default 100, at most the ring's capacity, 1000).
    limit: Option<usize>,
    /// Only lines at this level or more severe: `error`, `warn`, `info`, `debug` or `trace`.
    level: Option<String>,
}

/// Default lines of `GET /api/v1/logs`.
const DEFAULT_LOG_LINES: usize = 100;

/// The daemon's newest log lines.
#[derive(Debug, Serialize, ToSchema)]
struct LogLines {
    /// The lines, oldest first.
    items: Vec<LogLine>,
    /// How many.
    count: usize,
    /// Lines the ring holds at the asked level (the newest `count` of them are here).
    total: usize,
    /// Older lines at the asked level than these are held (a larger `limit` shows them).
    has_more: bool,
    /// Most lines the ring keeps (the largest `limit`).
    capacity: usize,
}

impl LogsParams {
    fn query(&self, capacity: usize) -> ApiResult<LogQuery> {
        let limit = match self.limit.unwrap_or(DEFAULT_LOG_LINES.min(capacity)) {
            0 => return Err(ApiError::bad_request("limit must be at least 1")),
            l if l > capacity => return Err(ApiError::bad_request(format!("limit must be at most {capacity}"))),
            l => l,
        };
        let level = match &self.level {
            None => None,
            Some(word) => Some(
                LogLevel::parse(word)
                    .map_err(|valid| filter_error(FilterError { field: "level", value: word.clone(), valid }))?,
            ),
        };
        Ok(LogQuery { limit, level })
    }
}

/// The daemon's own last log lines (`{ts, level, target, message, fields}`,
/// oldest first), from a bounded ring fed by its logging: Hive's lines at
/// `info` and above, others' warnings (`HIVE_LOG_RING` changes it).
#[utoipa::path(get, path = "/api/v1/logs", tag = "ops", params(LogsParams),
    responses((status = 200, body = LogLines), (status = 400, body = ErrorBody)))]
async fn logs(State(st): State<AppState>, ApiQuery(p): ApiQuery<LogsParams>) -> ApiResult<impl IntoResponse> {
    let capacity = st.hive.logs_capacity();
    let q = p.query(capacity)?;
    let level = q.level;
    let items = st.hive.logs(q);
    let total = st.hive.logs_matching(level).max(items.len());
    Ok(axum::Json(LogLines { count: items.len(), has_more: total > items.len(), total, items, capacity }))
}

/// Takes the daemon out of service: what runs finishes, new work (swarm
/// start and restart, tasks, messages, agents added, scale up, dispatch,
/// orchestrate, worker spawn) gets 503 `HIVE_MAINTENANCE` with
/// `Retry-After`; reads keep working. Answers `{accepting: false, since}`.
/// Not persisted: a restarted daemon is in service.
#[utoipa::path(post, path = "/api/v1/maintenance/off", tag = "ops",
    responses((status = 200, body = MaintenanceState)))]
async fn maintenance_off(State(st): State<AppState>) -> impl IntoResponse {
    axum::Json(st.hive.set_accepting(false))
}

/// Puts the daemon back in service: new work is taken again. Answers
/// `{accepting: true, since}`.
#[utoipa::path(post, path = "/api/v1/maintenance/on", tag = "ops",
    responses((status = 200, body = MaintenanceState)))]
async fn maintenance_on(State(st): State<AppState>) -> impl IntoResponse {
    axum::Json(st.hive.set_accepting(true))
}
