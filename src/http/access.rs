//! The role each route needs: one table, read by the auth middleware
//! (`auth.rs`) to admit a caller and by the OpenAPI document (`x-hive-role`
//! on every operation), so what is documented is what is enforced.
//!
//! Every `GET` (and the WebSocket streams) needs `viewer`, every other
//! method `operator`, except the routes listed here: the admin routes
//! (processes, swarm lifecycle, data deletion, workers, maintenance), the
//! POSTs that only read, and the HTTP worker endpoints (`worker`).

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::access::{Principal, Role};

/// Routes only admins may call.
const ADMIN: &[(Method, &str)] = &[
    (Method::POST, "/api/swarms"),
    (Method::DELETE, "/api/swarms/{name}"),
    (Method::POST, "/api/swarms/clean"),
    (Method::DELETE, "/api/swarms/{name}/overlay"),
    (Method::POST, "/api/v1/agents/spawn"),
    (Method::DELETE, "/api/v1/agents/{id}/kill"),
    (Method::DELETE, "/api/v1/zmq/workers/{id}"),
    (Method::POST, "/api/v1/zmq/workers/{id}/off"),
    (Method::POST, "/api/v1/zmq/workers/{id}/on"),
    (Method::POST, "/api/v1/maintenance/off"),
    (Method::POST, "/api/v1/maintenance/on"),
    (Method::DELETE, "/api/v1/workers/{id}"),
    (Method::GET, "/api/v1/tokens"),
];

/// The HTTP worker endpoints: workers' (and admins').
const WORKER: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/workers/register"),
    (Method::POST, "/api/v1/workers/{id}/heartbeat"),
    (Method::GET, "/api/v1/workers/{id}/next"),
    (Method::POST, "/api/v1/workers/{id}/tasks/{task}/output"),
    (Method::POST, "/api/v1/workers/{id}/tasks/{task}/result"),
    (Method::POST, "/api/v1/workers/{id}/tasks/{task}/error"),
];

/// POSTs that change nothing: viewers may call them.
const VIEWER_POSTS: &[(Method, &str)] =
    &[(Method::POST, "/api/config/validate"), (Method::POST, "/api/swarms/{name}/snapshot")];

/// The role a route (its method and path template) needs. A HEAD is
/// looked up as the GET it runs (axum serves HEAD with the GET handler).
pub(crate) fn needed(method: &Method, route: &str) -> Role {
    let method = if *method == Method::HEAD { &Method::GET } else { method };
    let listed = |table: &[(Method, &str)]| table.iter().any(|(m, r)| m == method && *r == route);
    if listed(ADMIN) {
        Role::Admin
    } else if listed(WORKER) {
        Role::Worker
    } else if *method == Method::GET || listed(VIEWER_POSTS) {
        Role::Viewer
    } else {
        Role::Operator
    }
}

/// Every route the table names, for the test that keeps it true.
#[cfg(test)]
pub(crate) fn listed() -> impl Iterator<Item = &'static (Method, &'static str)> {
    ADMIN.iter().chain(VIEWER_POSTS).chain(WORKER)
}

/// Whether a route is an HTTP worker endpoint (rate-limited per worker,
/// not per address).
pub(crate) fn is_worker_route(method: &Method, route: &str) -> bool {
    WORKER.iter().any(|(m, r)| m == method && *r == route)
}

/// The caller of a protected route, as the auth middleware admitted it.
pub(crate) struct Caller(pub(crate) Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The middleware admits every protected route with a principal; a
        // route without one is a wiring mistake, refused rather than served
        // as anyone.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::new(crate::ErrorCode::Unauthorized, "no caller"))
    }
}
