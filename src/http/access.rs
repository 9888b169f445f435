//! The role each route needs: one table, read by the auth middleware
//! (`auth.rs`) to admit a caller and by the OpenAPI document (`x-hive-role`
//! on every operation), so what is documented is what is enforced.
//!
//! Every `GET` (and the WebSocket streams) needs `viewer`, every other
//! method `operator`, except the routes listed here: the admin routes
//! (processes, swarm lifecycle, data deletion, workers, maintenance), the
//! POSTs that only read, and the HTTP worker endpoints (`worker`). A few
//! operator routes delete data when a query flag is set; with the flag they
//! need `admin` ([`ADMIN_WITH_FLAG`]; the OpenAPI document says so in the
//! operation's description and `x-hive-admin-if`).

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

/// Routes that need `admin` when a query flag is set (it deletes data):
/// the flag given with any value but `false` (a value the handler then
/// refuses is refused by a role check first, which costs nothing).
pub(crate) const ADMIN_WITH_FLAG: &[(Method, &str, &str)] = &[(Method::POST, "/api/swarms/{name}/restart", "delete")];

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

/// The role a request (its method, route template and query) needs: the
/// route's, or `admin` when it sets a flag of [`ADMIN_WITH_FLAG`].
pub(crate) fn needed_for(method: &Method, route: &str, query: Option<&str>) -> Role {
    let raised = admin_flag(method, route)
        .is_some_and(|flag| query.is_some_and(|q| url_pairs(q).any(|(k, v)| k == flag && v != "false")));
    if raised { Role::Admin } else { needed(method, route) }
}

/// The query flag that makes a route need `admin`, if it has one.
pub(crate) fn admin_flag(method: &Method, route: &str) -> Option<&'static str> {
    let method = if *method == Method::HEAD { &Method::GET } else { method };
    ADMIN_WITH_FLAG.iter().find(|(m, r, _)| m == method && *r == route).map(|(_, _, f)| *f)
}

/// A query's `key=value` pairs, percent-decoded (a pair that does not
/// decode is skipped).
pub(crate) fn url_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
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

/// Every route the table names, for the test that keeps it true.
#[cfg(test)]
pub(crate) fn listed() -> impl Iterator<Item = (&'static Method, &'static str)> {
    ADMIN
        .iter()
        .chain(VIEWER_POSTS)
        .chain(WORKER)
        .map(|(m, r)| (m, *r))
        .chain(ADMIN_WITH_FLAG.iter().map(|(m, r, _)| (m, *r)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_that_deletes_data_raises_the_route_to_admin() {
        let (post, restart) = (Method::POST, "/api/swarms/{name}/restart");
        assert_eq!(needed_for(&post, restart, None), Role::Operator);
        for q in ["", "delete=false", "other=true", "deleted=true"] {
            assert_eq!(needed_for(&post, restart, Some(q)), Role::Operator, "{q}");
        }
        for q in ["delete=true", "delete=1", "delete", "%64elete=true", "delete=false&delete=true", "x=1&delete=TRUE"] {
            assert_eq!(needed_for(&post, restart, Some(q)), Role::Admin, "{q}");
        }
        assert_eq!(needed_for(&Method::GET, "/api/swarms", Some("delete=true")), Role::Viewer, "only listed routes");
    }
}
