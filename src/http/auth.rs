//! Who may call the daemon. With a token configured, every route except the
//! public ones (`GET /`, `GET /health`, the API docs) needs
//! `Authorization: Bearer <token>`; WebSocket routes also accept `?token=`.
//! Without a token, only loopback clients are served. Tokens are compared
//! in constant time (`src/token.rs`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::config::ServerConfig;
use super::error::ApiError;
use crate::ErrorCode;

/// Routes anyone may read.
pub(crate) fn is_public(path: &str) -> bool {
    path == "/" || path == "/health" || path == "/openapi.json" || path == "/docs" || path.starts_with("/docs/")
}

fn is_websocket(path: &str) -> bool {
    path == "/ws/events" || path.starts_with("/swarm/websocket")
}

/// Whether a peer address is the local machine.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The `token` query parameter, if any.
fn query_token(query: Option<&str>) -> Option<String> {
    let q = query?;
    url_pairs(q).find(|(k, _)| k == "token").map(|(_, v)| v)
}

fn url_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        Some((percent_decode(k)?, percent_decode(v)?))
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The bearer token of `Authorization`, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string())
}

/// Whether this middleware would serve a caller from `ip` with `headers` on
/// a protected route (for public routes that answer more to such a caller,
/// like `/health`): a valid bearer token, or, with no token configured, a
/// loopback client.
pub(crate) fn accepts(cfg: &ServerConfig, ip: IpAddr, headers: &HeaderMap) -> bool {
    match &cfg.token {
        None => is_loopback(ip),
        Some(expected) => bearer(headers).is_some_and(|t| crate::token::matches(&t, expected)),
    }
}

/// The auth middleware.
pub(crate) async fn require(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if is_public(path) {
        return next.run(req).await;
    }
    match &state.cfg.token {
        None if is_loopback(peer.ip()) => next.run(req).await,
        None => ApiError::forbidden(format!(
            "no token is configured, so only loopback clients are served (you are {})",
            peer.ip()
        ))
        .into_response(),
        Some(expected) => {
            let given = bearer(req.headers())
                .or_else(|| if is_websocket(path) { query_token(req.uri().query()) } else { None });
            match given {
                Some(t) if crate::token::matches(&t, expected) => next.run(req).await,
                Some(_) => ApiError::new(ErrorCode::Unauthorized, "the token is not valid").into_response(),
                None => {
                    ApiError::new(ErrorCode::Unauthorized, "a bearer token is required (Authorization: Bearer <token>)")
                        .into_response()
                }
            }
        }
    }
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
