//! Who may call the daemon. With tokens configured, every route except the
//! public ones (`GET /`, `GET /health`, the API docs, the dashboard) needs
//! `Authorization: Bearer <token>` (WebSocket routes also accept `?token=`)
//! of a role that includes the route's (`access.rs`); a role short of it is
//! 403 `HIVE_ACCESS_DENIED` and an `access_denied` event. Without any token,
//! only loopback clients are served, as admins. Tokens are looked up by
//! their SHA-256 in constant time (`src/access/`). The admitted caller
//! ([`Principal`]) travels with the request for handlers that need it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::ErrorCode;
use crate::access::{Principal, TokenTable};
use crate::events::EventKind;

/// Routes anyone may read.
pub(crate) fn is_public(path: &str) -> bool {
    path == "/"
        || path == "/health"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/")
        || super::ui::is_ui(path)
}

fn is_websocket(path: &str) -> bool {
    path == "/ws/events" || path == "/ws/tasks" || path.starts_with("/swarm/websocket")
}

/// Whether a peer address is the local machine.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The `token` query parameter, if any.
fn query_token(query: Option<&str>) -> Option<String> {
    let q = query?;
    super::access::url_pairs(q).find(|(k, _)| k == "token").map(|(_, v)| v)
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
}

/// The header HTTP workers may send their token in (the job runner's).
const WORKER_TOKEN_HEADER: &str = "x-worker-token";

/// A worker's `x-worker-token` ([`TokenTable::worker`]).
fn worker_token(state: &AppState, table: &TokenTable, given: &str) -> Result<Principal, ApiError> {
    table
        .worker(given, state.worker_token.as_deref())
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the worker token is not valid"))
}

/// The caller a request comes from, by its token (or, with no token
/// configured, its address); `Err` is the 401 or 403 to answer.
fn identify(table: &TokenTable, ip: IpAddr, given: Option<String>) -> Result<Principal, ApiError> {
    if table.is_empty() {
        return if is_loopback(ip) {
            Ok(Principal::loopback())
        } else {
            Err(ApiError::forbidden(format!(
                "no token is configured, so only loopback clients are served (you are {ip})"
            )))
        };
    }
    match given {
        Some(t) => table.lookup(&t).ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the token is not valid")),
        None => {
            Err(ApiError::new(ErrorCode::Unauthorized, "a bearer token is required (Authorization: Bearer <token>)"))
        }
    }
}

/// The caller this middleware would admit from `ip` with `headers` to a
/// protected route, if any (for public routes that answer more to such a
/// caller, like `/health`).
pub(crate) fn caller(state: &AppState, ip: IpAddr, headers: &HeaderMap) -> Option<Principal> {
    identify(&state.tokens.current(), ip, bearer(headers)).ok()
}

/// Who a request to a protected route comes from: its `x-worker-token`,
/// else its bearer token (or `?token=` on a WebSocket route), else (with no
/// token configured) its address; `Err` is the 401 or 403 to answer.
pub(crate) fn principal_of(state: &AppState, ip: IpAddr, req: &Request) -> Result<Principal, ApiError> {
    let table = state.tokens.current();
    let worker = req.headers().get(WORKER_TOKEN_HEADER).map(|v| v.to_str().unwrap_or_default().trim().to_string());
    let path = req.uri().path();
    let given =
        bearer(req.headers()).or_else(|| if is_websocket(path) { query_token(req.uri().query()) } else { None });
    match worker {
        Some(w) => worker_token(state, &table, &w),
        None => identify(&table, ip, given),
    }
}

/// The auth middleware.
pub(crate) async fn require(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if is_public(path) {
        return next.run(req).await;
    }
    let principal = match principal_of(&state, peer.ip(), &req) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let route = req.extensions().get::<MatchedPath>().map_or(path, MatchedPath::as_str);
    let needed = super::access::needed_for(req.method(), route, req.uri().query());
    if !principal.role.allows(needed) {
        let route = format!("{} {route}", req.method());
        state.hive.events().emit(
            None,
            None,
            EventKind::AccessDenied {
                token: principal.name.clone(),
                role: principal.role,
                needed,
                route: route.clone(),
                address: peer.ip().to_string(),
            },
        );
        return ApiError::new(
            ErrorCode::AccessDenied,
            format!("{route} needs the {needed} role; token '{}' is {}", principal.name, principal.role),
        )
        .with_details(serde_json::json!({"needed": needed, "role": principal.role}))
        .into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_token_is_percent_decoded() {
        assert_eq!(query_token(Some("vsn=2.0.0&token=a%2Bb%3D")), Some("a+b=".into()));
        assert_eq!(query_token(Some("vsn=2.0.0")), None);
        assert_eq!(query_token(Some("token=%zz")), None);
    }

    #[test]
    fn loopback_includes_ipv4_mapped_addresses() {
        assert!(is_loopback("127.0.0.1".parse().unwrap()));
        assert!(is_loopback("::1".parse().unwrap()));
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1".parse().unwrap()));
    }
}
