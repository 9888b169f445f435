//! The HTTP and WebSocket adapter: turns REST and WebSocket calls into calls
//! of the runtime's library API ([`crate::Hive`]).
//!
//! It owns the request pipeline: request log (tower-http's trace layer:
//! method, matched route, status, latency) → request metrics (the same,
//! counted in the runtime's [`crate::metrics::Metrics`]) → CORS (allowlist) → rate limit
//! (per client IP, 429 + `Retry-After`) → auth (bearer token, or loopback
//! only) → requests in flight (per token or address, 429; `budget.rs`) →
//! request timeout (504; `timeout.rs`) → body limit (413) → handler; and,
//! before it, the accept loop (`server.rs`: the connection cap and the
//! header read timeout). Every refusal, including malformed input caught
//! before a handler runs, is answered in one error shape ([`ApiError`]);
//! no client mistake yields a 500. The OpenAPI 3.1 document is generated
//! from the handlers and served at `/openapi.json`, with Swagger UI (bundled,
//! no internet needed) at `/docs`, and the dashboard at `/ui` (`ui.rs`).

// An ApiError is ~140 bytes; it is built once per refused request, never on
// a hot path, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod access;
mod auth;
mod budget;
pub mod config;
mod error;
mod extract;
mod hits;
mod limit;
mod openapi;
mod page;
mod phoenix;
mod routes;
mod schema;
mod server;
mod timeout;
mod ui;
mod ws_events;
mod ws_tasks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::MatchedPath;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderValue, Method};
use axum::response::IntoResponse;
use futures::stream::{SplitSink, SplitStream};
use tokio::sync::{Semaphore, watch};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::{InFlight, RateLimit, ServerConfig};
pub use error::{ApiError, ErrorBody};

use crate::ErrorCode;
use crate::Hive;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The runtime.
    pub hive: Arc<Hive>,
    /// HTTP settings.
    pub cfg: Arc<ServerConfig>,
    /// The tokens in use (replaced whole on a config reload).
    pub tokens: crate::access::Tokens,
    /// The shared gateway token, also accepted from HTTP workers in
    /// `x-worker-token` ([`Self::with_worker_token`]).
    pub(crate) worker_token: Option<Arc<str>>,
    limiter: limit::Limiter,
    budgets: budget::Budgets,
    hits: Arc<hits::Hits>,
    ws_slots: Arc<Semaphore>,
    /// Turns true when the daemon stops; streams close then.
    pub(crate) shutdown: watch::Receiver<bool>,
    stop: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State for `hive` with `cfg`, and the tokens `cfg` lists.
    pub fn new(hive: Arc<Hive>, cfg: ServerConfig) -> Result<Self, crate::access::TokenError> {
        let tokens = crate::access::Tokens::new(cfg.token_table()?);
        Ok(Self::with_tokens(hive, cfg, tokens))
    }

    /// State for `hive` with `cfg`, admitting callers by `tokens` (shared
    /// with whoever reloads them; `cfg`'s own token fields are not read).
    pub fn with_tokens(hive: Arc<Hive>, cfg: ServerConfig, tokens: crate::access::Tokens) -> Self {
        let (stop, shutdown) = watch::channel(false);
        Self {
            tokens,
            worker_token: None,
            limiter: limit::Limiter::new(cfg.rate_limit),
            budgets: budget::Budgets::new(cfg.in_flight),
            hits: Arc::new(hits::Hits::new(hive.metrics().clone())),
            ws_slots: Arc::new(Semaphore::new(cfg.max_websockets)),
            cfg: Arc::new(cfg),
            hive,
            shutdown,
            stop: Arc::new(stop),
        }
    }

    /// Also admits HTTP workers that send the shared gateway token in
    /// `x-worker-token` (as `worker`s named `gateway`).
    pub fn with_worker_token(mut self, token: Option<String>) -> Self {
        self.worker_token = token.filter(|t| !t.is_empty()).map(Into::into);
        self
    }

    /// Tells every open WebSocket to close (the server is stopping).
    pub fn close_streams(&self) {
        let _ = self.stop.send(true);
    }

    /// Accepts a WebSocket: a plain HTTP request is `HIVE_NOT_A_WEBSOCKET`,
    /// one over `max_websockets` is 503; the socket gets small buffers and
    /// frames and messages of at most `max_message` bytes. `run` drives its
    /// halves, and the slot is held until it returns.
    pub(crate) fn websocket<F, Fut>(
        &self,
        ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
        max_message: usize,
        run: F,
    ) -> Result<axum::response::Response, ApiError>
    where
        F: FnOnce(SplitSink<WebSocket, Message>, SplitStream<WebSocket>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let ws = ws.map_err(|r| {
            ApiError::new(
                ErrorCode::NotAWebsocket,
                format!("this route is a WebSocket; connect with a WebSocket client ({})", r.body_text()),
            )
            .with_status(r.status())
        })?;
        let permit = self
            .ws_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::new(ErrorCode::Busy, "too many WebSocket connections").with_retry_after(5))?;
        let counted = self.hive.metrics().websocket_opened();
        Ok(ws
            .max_message_size(max_message)
            .max_frame_size(max_message)
            .read_buffer_size(4 * 1024)
            .write_buffer_size(16 * 1024)
            .on_upgrade(move |socket: WebSocket| async move {
                let (sink, stream) = futures::StreamExt::split(socket);
                let _permit = permit;
                let _counted = counted;
                run(sink, stream).await;
            })
            .into_response())
    }
}

/// Longest a single WebSocket send may wait for the client.
pub(crate) const WS_SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route with its OpenAPI description.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi_base())
        .merge(routes::meta::router())
        .merge(routes::ops::router())
        .merge(routes::swarms::router())
        .merge(routes::agents::router())
        .merge(routes::topology::router())
        .merge(routes::objects::router())
        .merge(routes::events::router())
        .merge(routes::v1::router())
        .merge(routes::zmq::router())
        .merge(routes::workers::router())
        .merge(routes::schedules::router())
        .routes(routes!(ws_events::ws_events))
        .routes(routes!(ws_tasks::ws_tasks))
        .routes(routes!(phoenix::socket))
}

fn openapi_base() -> OpenApi {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    let mut api = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Hive")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "An Erlang/OTP-style supervision runtime for swarms of agents. Every error is \
                     `{error, error_code, details}`. With a token configured, send `Authorization: Bearer <token>`; \
                     without one only loopback clients are served.",
                ))
                .build(),
        )
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    api.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    api
}

/// The OpenAPI document as generated from the handlers, before
/// [`openapi::finish`].
fn openapi_raw() -> OpenApi {
    api_router().split_for_parts().1
}

/// The OpenAPI document that a daemon with `cfg` serves at `/openapi.json`
/// (bearer auth when it lists any token).
pub fn openapi(cfg: &ServerConfig) -> OpenApi {
    let tokens = cfg.token.as_deref().is_some_and(|t| !t.is_empty()) || !cfg.tokens.is_empty();
    openapi::finish(openapi_raw(), auth_of(tokens))
}

fn auth_of(tokens: bool) -> openapi::Auth {
    if tokens { openapi::Auth::Token } else { openapi::Auth::LoopbackOnly }
}

/// The whole application: routes, docs and the request pipeline.
pub fn app(state: AppState) -> Router {
    let (router, api) = api_router().split_for_parts();
    let api = openapi::finish(api, auth_of(!state.tokens.current().is_empty()));
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", api);
    let cors = cors(&state.cfg.cors_origins);
    let metrics = state.hive.metrics().clone();
    let mut app = router
        .merge(docs)
        .merge(ui::router())
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed for this route").into_response()
        })
        .layer(DefaultBodyLimit::max(state.cfg.body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), timeout::enforce))
        .layer(axum::middleware::from_fn_with_state(state.clone(), budget::enforce))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit::enforce))
        .with_state(state);
    if let Some(c) = cors {
        app = app.layer(c);
    }
    app.layer(axum::middleware::from_fn_with_state(metrics, count_request)).layer(trace_layer())
}

/// Counts every request in the runtime's metrics once its response starts:
/// the matched route template (unmatched: one value), method, status and
/// latency.
async fn count_request(
    axum::extract::State(metrics): axum::extract::State<crate::metrics::Metrics>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let began = std::time::Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = crate::metrics::HttpMethod::parse(req.method().as_str());
    let res = next.run(req).await;
    metrics.http_request(route.as_ref().map(MatchedPath::as_str), method, res.status().as_u16(), began.elapsed());
    res
}

/// Logs every request once, when its response starts: method, the matched
/// route (`/api/swarms/{name}`, so names and ids do not make routes of their
/// own; `-` when no route matched), status and latency. A 5xx is a warning,
/// anything else `info`. The span is at `warn` so that a warning carries the
/// method and route under the default `warn` filter.
fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    impl MakeSpan<axum::body::Body> + Clone,
    (),
    impl OnResponse<axum::body::Body> + Clone,
    (),
    (),
    (),
> {
    TraceLayer::new_for_http()
        .make_span_with(|req: &axum::extract::Request| {
            let route = req.extensions().get::<MatchedPath>().map_or("-", MatchedPath::as_str);
            tracing::warn_span!("request", method = %req.method(), route = %route)
        })
        .on_request(())
        .on_response(|res: &axum::response::Response, latency: Duration, _: &tracing::Span| {
            let status = res.status().as_u16();
            if res.status().is_server_error() {
                tracing::warn!(status, ?latency, "request failed");
            } else {
                tracing::info!(status, ?latency, "request");
            }
        })
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([axum::http::header::AUTHORIZATION, axum::http::header::CONTENT_TYPE])
            .max_age(Duration::from_secs(3600)),
    )
}

/// Serves `state` on `listener` until `shutdown` resolves; then closes the
/// streams and waits (at most 10 s) for the requests in flight. The
/// connection cap and the header read timeout are `state`'s config's
/// (`server.rs`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limiter = state.limiter.clone();
    let forget = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.forget_idle();
        }
    });
    let bounds = server::Bounds {
        max_connections: state.cfg.max_connections,
        header_read_timeout: state.cfg.header_read_timeout(),
    };
    let (hits, metrics, closer) = (state.hits.clone(), state.hive.metrics().clone(), state.clone());
    let r = server::run(listener, app(state), bounds, hits, metrics, shutdown, move || closer.close_streams()).await;
    forget.abort();
    let _ = forget.await;
    r
}
