//! The runtime's metrics registry: what the runtime counts on paths that
//! run often (HTTP requests, WebSocket connections) and the settings of
//! what `GET /metrics` shows. Everything else the exposition shows is
//! computed at scrape time from state the runtime already keeps
//! (`runtime/hive/metrics.rs`), or counted where it happens by its owner
//! with pre-resolved handles (the task book's `TaskStats`, the store
//! writer's `CommitStats`, the router's routed and denied counts).
//!
//! It also counts the HTTP connections open and each time an HTTP bound
//! was hit ([`HttpLimit`]).
//!
//! Guarantees: every label set is bounded — HTTP routes are the matched
//! route templates (at most [`MAX_ROUTES`], then `other`; no route matched
//! is `unmatched`), methods a closed enum, statuses the HTTP status codes;
//! no task id is ever a label. A request is counted without building a
//! string: the route template is interned once and its `Arc<str>` shared.
//! This module knows no HTTP framework (the `server` feature's adapter
//! feeds it) and no other part of the runtime.

pub mod process;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Most distinct route templates counted; more are counted as `other`.
pub const MAX_ROUTES: usize = 512;

/// What `GET /metrics` shows.
#[derive(Debug, Clone, Copy)]
pub struct MetricsOptions {
    /// Per-agent series (state, restarts, mailbox) are shown for a swarm of
    /// at most this many agents; a larger swarm shows only its sums.
    pub max_agents_per_swarm: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        Self { max_agents_per_swarm: 1_000 }
    }
}

/// An HTTP method, as a label (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
    /// Any other method.
    Other,
}

impl HttpMethod {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }

    /// The method named `m` (upper case, as HTTP spells it).
    pub fn parse(m: &str) -> Self {
        match m {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => Self::Other,
        }
    }
}

impl EncodeLabelValue for HttpMethod {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// An HTTP bound the server enforced, as a label (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpLimit {
    /// The connection cap was reached: the accept loop waited for a slot.
    Connections,
    /// A connection did not send a request's headers in time and was closed.
    HeaderTimeout,
    /// A client was over its budget of requests in flight (429).
    InFlight,
    /// A request was not answered in time (504).
    RequestTimeout,
}

impl HttpLimit {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::HeaderTimeout => "header_timeout",
            Self::InFlight => "in_flight",
            Self::RequestTimeout => "request_timeout",
        }
    }
}

impl EncodeLabelValue for HttpLimit {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabels {
    limit: HttpLimit,
}

/// A route template, interned (see [`Metrics::http_request`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Route(Arc<str>);

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    method: HttpMethod,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LatencyLabels {
    route: Route,
    method: HttpMethod,
}

/// The runtime's hot-path metrics; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: MetricsOptions,
    routes: RwLock<HashSet<Arc<str>>>,
    unmatched: Arc<str>,
    other: Arc<str>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    websockets: Gauge,
    connections: Gauge,
    limited: Family<LimitLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(MetricsOptions::default())
    }
}

impl Metrics {
    /// Empty metrics with these settings.
    pub fn new(opts: MetricsOptions) -> Self {
        fn latency_histogram() -> Histogram {
            // 100 µs to about 26 s.
            Histogram::new(exponential_buckets(0.0001, 2.0, 19))
        }
        Self {
            inner: Arc::new(Inner {
                opts,
                routes: RwLock::new(HashSet::new()),
                unmatched: "unmatched".into(),
                other: "other".into(),
                requests: Family::default(),
                latency: Family::new_with_constructor(latency_histogram),
                websockets: Gauge::default(),
                connections: Gauge::default(),
                limited: Family::default(),
            }),
        }
    }

    /// The settings.
    pub fn options(&self) -> MetricsOptions {
        self.inner.opts
    }

    /// The shared name of a route template (`None`: no route matched).
    fn route(&self, template: Option<&str>) -> Route {
        let Some(t) = template else { return Route(self.inner.unmatched.clone()) };
        if let Some(r) = self.inner.routes.read().unwrap_or_else(|p| p.into_inner()).get(t) {
            return Route(r.clone());
        }
        let mut routes = self.inner.routes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = routes.get(t) {
            return Route(r.clone());
        }
        if routes.len() >= MAX_ROUTES {
            return Route(self.inner.other.clone());
        }
        let r: Arc<str> = t.into();
        routes.insert(r.clone());
        Route(r)
    }

    /// Counts one HTTP request: its matched route template (`None` when no
    /// route matched), method, status and latency.
    pub fn http_request(&self, route: Option<&str>, method: HttpMethod, status: u16, latency: Duration) {
        let route = self.route(route);
        self.inner
            .latency
            .get_or_create(&LatencyLabels { route: route.clone(), method })
            .observe(latency.as_secs_f64());
        self.inner.requests.get_or_create(&RequestLabels { route, method, status }).inc();
    }

    /// Counts an open WebSocket until the guard is dropped.
    pub fn websocket_opened(&self) -> WebSocketGuard {
        self.inner.websockets.inc();
        WebSocketGuard(self.inner.websockets.clone())
    }

    /// Counts an open HTTP connection until the guard is dropped.
    pub fn http_connection_opened(&self) -> ConnectionGuard {
        self.inner.connections.inc();
        ConnectionGuard(self.inner.connections.clone())
    }

    /// Counts one time `limit` was hit.
    pub fn http_limited(&self, limit: HttpLimit) {
        self.inner.limited.get_or_create(&LimitLabels { limit }).inc();
    }

    /// Registers the hot-path families in `registry` (at a scrape).
    pub fn register(&self, registry: &mut Registry) {
        let i = &self.inner;
        registry.register(
            "hive_http_requests",
            "HTTP requests answered, by matched route template, method and status",
            i.requests.clone(),
        );
        registry.register(
            "hive_http_request_duration_seconds",
            "Time from a request's arrival to its response's start, by matched route template and method",
            i.latency.clone(),
        );
        registry.register("hive_websocket_connections", "WebSocket connections open now", i.websockets.clone());
        registry.register(
            "hive_http_connections",
            "HTTP connections served now (a WebSocket leaves them once upgraded)",
            i.connections.clone(),
        );
        registry.register("hive_http_limited", "Times an HTTP bound was hit, by bound", i.limited.clone());
    }
}

/// An open WebSocket, counted while it lives.
#[derive(Debug)]
pub struct WebSocketGuard(Gauge);

impl Drop for WebSocketGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// An open HTTP connection, counted while it lives.
#[derive(Debug)]
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(m: &Metrics) -> String {
        let mut r = Registry::default();
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn routes_past_the_bound_are_counted_as_other_and_unmatched_is_one_value() {
        let m = Metrics::default();
        for i in 0..MAX_ROUTES + 10 {
            m.http_request(Some(&format!("/r{i}")), HttpMethod::Get, 200, Duration::from_millis(1));
        }
        m.http_request(None, HttpMethod::Post, 404, Duration::ZERO);
        m.http_request(None, HttpMethod::Post, 404, Duration::ZERO);
        let text = exposition(&m);
        let counted: Vec<&str> = text.lines().filter(|l| l.starts_with("hive_http_requests_total{")).collect();
        assert_eq!(counted.len(), MAX_ROUTES + 2, "{MAX_ROUTES} routes, other, unmatched");
        assert!(text.contains(r#"hive_http_requests_total{route="other",method="GET",status="200"} 10"#), "{text}");
        assert!(text.contains(r#"hive_http_requests_total{route="unmatched",method="POST",status="404"} 2"#));
    }

    #[test]
    fn an_open_websocket_is_counted_until_its_guard_drops() {
        let m = Metrics::default();
        let g = m.websocket_opened();
        assert!(exposition(&m).contains("hive_websocket_connections 1\n"));
        drop(g);
        assert!(exposition(&m).contains("hive_websocket_connections 0\n"));
    }
}
