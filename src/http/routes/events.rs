//! Event and message-log routes: `/api/events` and its swarm- and
//! agent-scoped forms, and a swarm's routed-message log. Filter words are
//! checked; an unknown value is a 400 that lists the valid ones.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ErrorCode;
use crate::events::{EventFilter, FilterError};
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::page::limit;
use crate::http::page::{LimitQuery, LogPage, api_log};
use crate::runtime::RoutedMessage;
use crate::store::{EventQuery, StoredEvent};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(all_events))
        .routes(routes!(swarm_events))
        .routes(routes!(agent_events))
        .routes(routes!(messages))
}

/// Event filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventParams {
    /// `debug`, `info`, `warning` or `error`.
    pub level: Option<String>,
    /// `swarm`, `agent`, `object`, `routing`, `backend`, `worker`, `task` or `system`.
    pub category: Option<String>,
    /// Only this swarm.
    pub swarm: Option<String>,
    /// Only this agent or object (in any swarm unless `swarm` is given).
    pub agent: Option<String>,
    /// Only this event type (see `docs/events.md`).
    pub event_type: Option<String>,
    /// Only events of the last N minutes.
    pub minutes: Option<u64>,
    /// Only events after this sequence number.
    pub since: Option<u64>,
    /// Newest events to return (default 100, at most 1000).
    pub limit: Option<usize>,
    /// WebSocket only: the token (read by the auth layer, not a filter).
    #[allow(dead_code)]
    pub token: Option<String>,
}

pub(crate) fn filter_error(e: FilterError) -> ApiError {
    ApiError::new(ErrorCode::BadFilter, e.to_string())
        .with_details(serde_json::json!({"field": e.field, "value": e.value, "valid": e.valid}))
}

impl EventParams {
    /// The checked filter (for live streams).
    pub(crate) fn filter(&self) -> ApiResult<EventFilter> {
        Ok(EventFilter {
            swarm: self.swarm.clone(),
            agent: self.agent.clone(),
            level: self.level.as_deref().map(EventFilter::parse_level).transpose().map_err(filter_error)?,
            category: self.category.as_deref().map(EventFilter::parse_category).transpose().map_err(filter_error)?,
            event_type: self
                .event_type
                .as_deref()
                .map(EventFilter::parse_event_type)
                .transpose()
                .map_err(filter_error)?,
            since: crate::http::page::at_most("since", self.since, crate::http::page::MAX_COUNTER)?,
        })
    }

    /// The checked store query.
    fn query(&self) -> ApiResult<EventQuery> {
        let f = self.filter()?;
        crate::http::page::at_most("minutes", self.minutes, crate::http::page::MAX_COUNTER)?;
        let after_ms = self.minutes.map(|m| crate::events::now_ms().saturating_sub(m.saturating_mul(60_000)));
        Ok(EventQuery {
            swarm: f.swarm,
            agent: f.agent,
            level: f.level.map(|l| l.as_str().to_string()),
            category: f.category.map(|c| c.as_str().to_string()),
            event_type: f.event_type.map(str::to_string),
            since: f.since,
            after_ms,
            limit: limit(self.limit)?,
        })
    }
}

/// One event as every API returns it (PROTOCOLS.md §4): the same object
/// `/ws/events` sends. `id` is genswarms' name of `seq`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventJson {
    /// The sequence number (genswarms' name).
    id: u64,
    /// The sequence number.
    seq: u64,
    /// RFC 3339 with milliseconds.
    timestamp: String,
    level: String,
    category: String,
    swarm: Option<String>,
    agent: Option<String>,
    event_type: String,
    message: String,
    /// Type-specific fields (see `docs/events.md`): an object.
    #[schema(value_type = Object)]
    metadata: Value,
}

impl From<&StoredEvent> for EventJson {
    fn from(e: &StoredEvent) -> Self {
        Self {
            id: e.seq,
            seq: e.seq,
            timestamp: crate::events::rfc3339_ms(e.timestamp_ms),
            level: e.level.clone(),
            category: e.category.clone(),
            swarm: e.swarm.clone(),
            agent: e.agent.clone(),
            event_type: e.event_type.clone(),
            message: e.message.clone(),
            metadata: serde_json::from_str(&e.metadata).unwrap_or_else(|_| Value::Object(Default::default())),
        }
    }
}

/// The filters a query ran with (genswarms' `query`).
#[derive(Debug, Serialize, ToSchema)]
struct EventFilters {
    level: Option<String>,
    category: Option<String>,
    swarm: Option<String>,
    agent: Option<String>,
    event_type: Option<String>,
    minutes: Option<u64>,
    since: Option<u64>,
    limit: usize,
}

/// Events, newest `limit` matching, oldest first, with the filters echoed
/// (`query`, and `swarm`/`agent` on the scoped routes).
#[derive(Debug, Serialize, ToSchema)]
struct EventList {
    events: Vec<EventJson>,
    count: usize,
    /// Older matching events were left out by `limit`.
    has_more: bool,
    query: EventFilters,
    #[serde(skip_serializing_if = "Option::is_none")]
    swarm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
}

/// Runs the query; `scoped` echoes `swarm` (and `agent`) as genswarms' scoped routes do.
async fn run(st: &AppState, p: EventParams, scoped: bool) -> ApiResult<EventList> {
    let mut q = p.query()?;
    let n = q.limit;
    let query = EventFilters {
        level: q.level.clone(),
        category: q.category.clone(),
        swarm: q.swarm.clone(),
        agent: q.agent.clone(),
        event_type: q.event_type.clone(),
        minutes: p.minutes,
        since: q.since,
        limit: n,
    };
    q.limit = n + 1;
    let items: Vec<EventJson> = st.hive.query_events(q).await?.iter().map(EventJson::from).collect();
    let page = LogPage::of_newest(items, n);
    let (swarm, agent) = if scoped { (query.swarm.clone(), query.agent.clone()) } else { (None, None) };
    Ok(EventList { count: page.count, events: page.items, has_more: page.has_more, query, swarm, agent })
}

/// Queries events (from the store: everything retention keeps).
#[utoipa::path(get, path = "/api/events", tag = "events", params(EventParams),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody)))]
async fn all_events(State(st): State<AppState>, ApiQuery(p): ApiQuery<EventParams>) -> ApiResult<impl IntoResponse> {
    Ok(axum::Json(run(&st, p, false).await?))
}

/// Queries one swarm's events.
#[utoipa::path(get, path = "/api/swarms/{name}/events", tag = "events", params(("name" = String, Path), EventParams),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn swarm_events(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(mut p): ApiQuery<EventParams>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm_summary(&name).await?;
    p.swarm = Some(name);
    Ok(axum::Json(run(&st, p, true).await?))
}

/// Queries one agent's events.
#[utoipa::path(get, path = "/api/swarms/{name}/agents/{agent}/events", tag = "events",
    params(("name" = String, Path), ("agent" = String, Path), EventParams),
    responses((status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn agent_events(
    State(st): State<AppState>,
    ApiPath((name, agent)): ApiPath<(String, String)>,
    ApiQuery(mut p): ApiQuery<EventParams>,
) -> ApiResult<impl IntoResponse> {
    // No agent ever had a name outside the pattern, in a stopped swarm either.
    if !crate::config::is_valid_name(&agent) {
        return Err(crate::HiveError::agent(&agent).into());
    }
    // One registry call: an unknown swarm is an error, a stopped one (Conflict) is fine.
    let running = match st.hive.swarm(&name).await {
        Ok(swarm) => Some(swarm),
        Err(crate::HiveError::Conflict(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(swarm) = running {
        // A running swarm knows its endpoints; a removed agent may still have events.
        if swarm.agent_status(&agent).await.is_err() && swarm.object_state(&agent).await.is_err() {
            let known = st.hive.query_events(EventQuery {
                swarm: Some(name.clone()),
                agent: Some(agent.clone()),
                limit: 1,
                ..Default::default()
            });
            if known.await?.is_empty() {
                return Err(crate::HiveError::agent(&agent).into());
            }
        }
    }
    p.swarm = Some(name);
    p.agent = Some(agent);
    Ok(axum::Json(run(&st, p, true).await?))
}

api_log!(
    /// A swarm's routed messages: `{messages, count, has_more}`.
    MessageLog, messages, RoutedMessage
);

/// The swarm's routed-message log (who sent what to whom), newest `limit`.
#[utoipa::path(get, path = "/api/swarms/{name}/messages", tag = "events", params(("name" = String, Path), LimitQuery),
    responses((status = 200, body = MessageLog), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn messages(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<impl IntoResponse> {
    let n = limit(q.limit)?;
    let items = st.hive.swarm(&name).await?.messages(n + 1).await?;
    Ok(axum::Json(MessageLog::from(LogPage::of_newest(items, n))))
}
