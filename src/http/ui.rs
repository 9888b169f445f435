//! The dashboard at `/ui`: a page and its ES modules, compiled into the
//! binary (`include_str!`), so it works with no internet and a fresh clone
//! builds without node. The page and its assets are public (`auth.rs`); the
//! data they show comes from the API, with the user's token. Like `/docs`,
//! these routes are not API operations and are not in `/openapi.json`.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;

/// Every asset: its name under `/ui/`, its content type and its text.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("ui/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("ui/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("ui/dom.js")),
    ("graph.js", "text/javascript; charset=utf-8", include_str!("ui/graph.js")),
    ("events.js", "text/javascript; charset=utf-8", include_str!("ui/events.js")),
    ("views.js", "text/javascript; charset=utf-8", include_str!("ui/views.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("ui/style.css")),
];

const INDEX: &str = include_str!("ui/index.html");

/// The dashboard's routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/ui", get(index)).route("/ui/", get(index)).route("/ui/{file}", get(asset))
}

/// Whether a request path is the dashboard's (public).
pub(crate) fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

async fn index() -> Response {
    serve("text/html; charset=utf-8", INDEX)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, text)) => serve(kind, text),
        None => ApiError::not_found(format!("no dashboard asset '{file}'")).into_response(),
    }
}

/// A page or asset, with a policy that lets only the page's own scripts run
/// (no inline script, no other origin): an injected `<script>` is inert even
/// if a value were ever written as HTML.
fn serve(kind: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}
