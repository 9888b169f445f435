//! The daemon's HTTP settings: where it listens, who may call it, and the
//! bounds on what they send. Read from the `[server]` table of the config
//! file (`hive serve --config FILE`); every field has a safe default.
//! The bounds on connections and requests (`max_connections`,
//! `header_read_timeout_s`, `request_timeout_s`, `in_flight`) are enforced
//! by the accept loop (`server.rs`), the in-flight budget (`budget.rs`)
//! and the request timeout (`timeout.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// HTTP settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:4000`).
    pub listen: SocketAddr,
    /// The single bearer token (an admin named `server`; `HIVE_TOKEN` sets
    /// it too). Without it and without `tokens`, only loopback clients are
    /// served.
    pub token: Option<String>,
    /// Tokens with roles (`[[server.tokens]]`: `name`, `role`, `sha256`).
    pub tokens: Vec<crate::access::TokenSpec>,
    /// Largest request body in bytes (default 1 MiB); larger → 413.
    pub body_limit: usize,
    /// Per-client rate limit.
    pub rate_limit: RateLimit,
    /// Origins allowed by CORS (`["*"]` = any); empty = no CORS headers.
    pub cors_origins: Vec<String>,
    /// The only directory `config_path` may name files in (default `swarms`).
    pub swarm_dir: PathBuf,
    /// The only directory skill files are read from and written to (default `skills`).
    pub skills_dir: PathBuf,
    /// Seconds a Phoenix socket may stay silent before it is closed (default 60).
    pub ws_heartbeat_timeout_s: u64,
    /// Most WebSocket connections at once (default 10 000); more → 503.
    pub max_websockets: usize,
    /// Most HTTP connections served at once (default 4 096). At the cap the
    /// daemon accepts no more until one closes: a new client waits in the
    /// kernel's listen queue. A WebSocket leaves this count once upgraded
    /// (`max_websockets` bounds those).
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, counted from the
    /// connection's start or the end of its previous request (default 30);
    /// then the connection is closed (a slowloris client, or an idle
    /// keep-alive connection). At least 1.
    pub header_read_timeout_s: u64,
    /// Seconds a request may take to be answered (default 30), body upload
    /// included; then 504 `HIVE_TIMEOUT`. The streams and the routes that
    /// wait by design (WebSockets, dispatch, orchestrate, a worker's `next`)
    /// are not timed. 0 turns it off.
    pub request_timeout_s: u64,
    /// Requests in flight at once per client.
    pub in_flight: InFlight,
    /// URL prefixes dispatch webhooks may be POSTed to (e.g.
    /// `https://hooks.example.com/`); empty = webhook mode is refused (403),
    /// so the daemon cannot be made to call arbitrary addresses. The runtime
    /// enforces it ([`Self::webhook_options`] hands it over).
    pub webhook_allow: Vec<String>,
    /// A PEM file of CA certificates trusted for `https://` webhooks besides
    /// the system's (private deployments, tests).
    pub webhook_ca: Option<PathBuf>,
}

impl ServerConfig {
    /// The tokens this config lists, the single `token` among them.
    pub fn token_table(&self) -> Result<crate::access::TokenTable, crate::access::TokenError> {
        crate::access::TokenTable::new(&self.tokens, self.token.as_deref())
    }

    /// How long a client has to send a request's headers (at least 1 s).
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_s.max(1))
    }

    /// How long a timed request may take, if it is timed.
    pub fn request_timeout(&self) -> Option<Duration> {
        (self.request_timeout_s > 0).then(|| Duration::from_secs(self.request_timeout_s))
    }

    /// The runtime's webhook settings from `webhook_allow` and
    /// `webhook_ca` (read and checked here); the rest at their defaults.
    pub fn webhook_options(&self) -> Result<crate::gateway::WebhookOptions, String> {
        let opts = crate::gateway::WebhookOptions { allow: self.webhook_allow.clone(), ..Default::default() };
        match &self.webhook_ca {
            None => Ok(opts),
            Some(path) => opts.trust_ca_file(path).map_err(|e| format!("webhook_ca: {e}")),
        }
    }
}

/// How many requests one client may have in flight at once; beyond it, 429
/// `HIVE_RATE_LIMITED` with `Retry-After`. A client is its token (by name),
/// or its address without one; an HTTP worker on its own endpoints is its
/// worker id, with a budget of its own.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InFlight {
    /// Per token, or per address without one (default 256); 0 = no limit.
    pub per_client: u32,
    /// Per HTTP worker on the worker endpoints (default 16); 0 = no limit.
    pub per_worker: u32,
}

impl Default for InFlight {
    fn default() -> Self {
        Self { per_client: 256, per_worker: 16 }
    }
}

/// A token bucket per client IP address.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Sustained requests per second per client; 0 turns the limit off.
    pub per_second: u32,
    /// Requests a client may make in a burst above the sustained rate.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { per_second: 200, burst: 400 }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            token: None,
            tokens: Vec::new(),
            body_limit: 1 << 20,
            rate_limit: RateLimit::default(),
            cors_origins: Vec::new(),
            swarm_dir: PathBuf::from("swarms"),
            skills_dir: PathBuf::from("skills"),
            ws_heartbeat_timeout_s: 60,
            max_websockets: 10_000,
            max_connections: 4_096,
            header_read_timeout_s: 30,
            request_timeout_s: 30,
            in_flight: InFlight::default(),
            webhook_allow: Vec::new(),
            webhook_ca: None,
        }
    }
}
