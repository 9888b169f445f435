//! The daemon's HTTP settings: where it listens, who may call it, and the
//! bounds on what they send. Read from the `[server]` table of the config
//! file (`hive serve --config FILE`); every field has a safe default.

use std::net::SocketAddr;
use std::path::PathBuf;

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
            webhook_allow: Vec::new(),
            webhook_ca: None,
        }
    }
}
