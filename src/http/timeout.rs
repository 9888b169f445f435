//! The per-request timeout: a request not answered within
//! `request_timeout_s` (its body's upload included) is answered 504
//! `HIVE_TIMEOUT` in the API's error shape, and its handler is dropped
//! (what it had asked of the runtime may still take effect; the message
//! says so). The routes that wait by design are not timed ([`UNTIMED`]):
//! the WebSockets (their upgrade answers at once; the socket lives on its
//! own), dispatch (`sync` waits for the task, `stream` is SSE), orchestrate
//! (its own overall timeout) and a worker's long-poll `next` (at most 60 s).
//! Each timeout is counted (`hive_http_limited_total{limit="request_timeout"}`)
//! and logged at `warn` by the request log (a 5xx).

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::ErrorCode;
use crate::metrics::HttpLimit;

/// Routes that are not timed: streams and waits the API documents.
pub(crate) const UNTIMED: &[(Method, &str)] = &[
    (Method::GET, "/ws/events"),
    (Method::GET, "/ws/tasks"),
    (Method::GET, "/swarm/websocket"),
    (Method::POST, "/api/v1/zmq/dispatch"),
    (Method::POST, "/api/v1/orchestrate"),
    (Method::GET, "/api/v1/workers/{id}/next"),
];

/// Whether a route (its method and template) is timed.
pub(crate) fn is_timed(method: &Method, route: &str) -> bool {
    !UNTIMED.iter().any(|(m, r)| m == method && *r == route)
}

/// The timeout middleware.
pub(crate) async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limit) = state.cfg.request_timeout() else { return next.run(req).await };
    let timed = req.extensions().get::<MatchedPath>().is_none_or(|m| is_timed(req.method(), m.as_str()));
    if !timed {
        return next.run(req).await;
    }
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            state.hive.metrics().http_limited(HttpLimit::RequestTimeout);
            ApiError::new(
                ErrorCode::Timeout,
                format!("the request was not answered within {} s; it may still take effect", limit.as_secs()),
            )
            .with_details(serde_json::json!({"timeout_s": limit.as_secs()}))
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_documented_waits_are_not_timed() {
        for (m, r) in UNTIMED {
            assert!(!is_timed(m, r), "{m} {r}");
        }
        assert!(is_timed(&Method::GET, "/api/swarms"));
        assert!(is_timed(&Method::POST, "/api/v1/tasks"), "a submit answers 202 at once");
        assert!(is_timed(&Method::POST, "/api/v1/workers/{id}/heartbeat"), "only a worker's poll waits");
    }

    #[test]
    fn every_untimed_route_exists() {
        let d = serde_json::to_value(super::super::openapi_raw()).unwrap();
        for (m, r) in UNTIMED {
            let m = m.as_str().to_ascii_lowercase();
            assert!(d["paths"][r][&m].is_object(), "the untimed table names {m} {r}, which is no route");
        }
    }
}
