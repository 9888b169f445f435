//! `hive serve`: the daemon. It opens (or creates) the store, restores every
//! swarm recorded as running, starts the swarm files given with `--swarm`
//! (a swarm already restored is left as its users left it), and serves the
//! HTTP API until SIGINT/SIGTERM, when it closes the streams, finishes the
//! requests in flight and shuts the runtime down (swarms stay recorded as
//! running and come back at the next start). On SIGHUP it reads the config
//! file again and replaces its tokens (nothing else is reloaded); without a
//! config file it says there is nothing to reload and serves on (SIGHUP is
//! handled from the start, so it never ends the daemon). It raises its soft
//! descriptor limit to the hard one first (the connection cap needs them).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use hive::http::{AppState, ServerConfig};
use hive::runtime::WorkerOptions;
use hive::{Hive, HiveOptions, config};
use serde::Deserialize;

use super::run::Shutdown;

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Start this swarm file (repeatable); one already restored from the store is kept as it was left.
    #[arg(long = "swarm", value_name = "FILE")]
    swarms: Vec<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4000, or the config's server.listen].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Store directory (DIR/hive.redb) [default: .hive, or the config's store.data_dir].
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    data_dir: Option<PathBuf>,
    /// Keep nothing on disk.
    #[arg(long)]
    in_memory: bool,
    /// Where the ZeroMQ gateway binds [default: tcp://127.0.0.1:5555, or the config's gateway.endpoint].
    #[arg(long, value_name = "ENDPOINT")]
    zmq: Option<String>,
    /// Daemon config file (TOML: [server], [workers], [store], [gateway], [metrics]).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How log lines are written to stderr (what they are is RUST_LOG's: default warnings).
    #[arg(long, value_enum, default_value_t = super::LogFormat::Text)]
    pub(crate) log_format: super::LogFormat,
}

/// The daemon config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DaemonConfig {
    server: ServerConfig,
    workers: WorkersConfig,
    store: StoreConfig,
    gateway: GatewayConfig,
    metrics: MetricsConfig,
}

/// `[metrics]`: what `GET /metrics` shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct MetricsConfig {
    /// Per-agent series for swarms of at most this many agents (larger
    /// ones: per-swarm sums only).
    max_agents_per_swarm: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { max_agents_per_swarm: hive::metrics::MetricsOptions::default().max_agents_per_swarm }
    }
}

/// `[gateway]`: the ZeroMQ worker gateway (on by default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GatewayConfig {
    enabled: bool,
    endpoint: String,
    token: Option<String>,
    heartbeat_timeout_ms: u64,
    /// HTTP workers: silent (no heartbeat, no poll) this long, they are lost.
    http_heartbeat_timeout_ms: u64,
    /// HTTP workers: a task's lease.
    lease_ms: u64,
    max_attempts: u32,
    task_timeout_ms: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        let d = hive::gateway::GatewayOptions::default();
        Self {
            enabled: true,
            endpoint: d.endpoint,
            token: None,
            heartbeat_timeout_ms: d.heartbeat_timeout.as_millis() as u64,
            http_heartbeat_timeout_ms: d.http_heartbeat_timeout.as_millis() as u64,
            lease_ms: d.lease.as_millis() as u64,
            max_attempts: d.max_attempts,
            task_timeout_ms: d.task_timeout.as_millis() as u64,
        }
    }
}

impl GatewayConfig {
    fn options(&self) -> Option<hive::gateway::GatewayOptions> {
        self.enabled.then(|| hive::gateway::GatewayOptions {
            endpoint: self.endpoint.clone(),
            token: self.token.clone().or_else(|| std::env::var("HIVE_WORKER_TOKEN").ok().filter(|t| !t.is_empty())),
            heartbeat_timeout: std::time::Duration::from_millis(self.heartbeat_timeout_ms.max(100)),
            http_heartbeat_timeout: std::time::Duration::from_millis(self.http_heartbeat_timeout_ms.max(100)),
            lease: std::time::Duration::from_millis(self.lease_ms.max(100)),
            max_attempts: self.max_attempts.max(1),
            task_timeout: std::time::Duration::from_millis(self.task_timeout_ms.max(1)),
            ..Default::default()
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct WorkersConfig {
    /// Globs of programs `POST /api/v1/agents/spawn` may start.
    spawn_allow: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StoreConfig {
    data_dir: Option<PathBuf>,
}

fn load_config(path: Option<&Path>) -> Result<DaemonConfig, String> {
    let Some(path) = path else { return Ok(DaemonConfig::default()) };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `token` is `--token` or `HIVE_TOKEN` (the same option the client commands
/// read); `logs` is the ring the daemon's tracing feeds (`GET /api/v1/logs`).
pub(crate) async fn run(args: ServeArgs, token: Option<String>, logs: hive::logs::LogRing) -> ExitCode {
    let mut signals = match Shutdown::listen() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hive: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Installed first, config file or not: SIGHUP's
    // default disposition would end the process.
    let hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hive: cannot listen for SIGHUP: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cfg = match load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hive: config: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        cfg.server.token = Some(t);
    }
    let server_token = cfg.server.token.clone();
    let tokens = match cfg.server.token_table() {
        Ok(t) => hive::access::Tokens::new(t),
        Err(e) => {
            eprintln!("hive: config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let webhooks = match cfg.server.webhook_options() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("hive: config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = (!args.in_memory)
        .then(|| args.data_dir.clone().or(cfg.store.data_dir.clone()).unwrap_or_else(|| PathBuf::from(".hive")));
    let opts = HiveOptions {
        data_dir: data_dir.clone(),
        workers: WorkerOptions { spawn_allow: cfg.workers.spawn_allow.clone(), ..WorkerOptions::default() },
        gateway: {
            if let Some(z) = &args.zmq {
                cfg.gateway.endpoint = z.clone();
            }
            cfg.gateway.options().map(|g| hive::gateway::GatewayOptions { webhooks, tokens: tokens.clone(), ..g })
        },
        logs,
        metrics: hive::metrics::MetricsOptions { max_agents_per_swarm: cfg.metrics.max_agents_per_swarm },
        ..HiveOptions::default()
    };
    // Descriptors for the connection cap, and some for the store, children and streams.
    let fds = super::raise_fd_limit();
    if let Some(soft) = fds.filter(|&soft| cfg.server.max_connections as u64 + 256 > soft) {
        eprintln!(
            "hive: warning: max_connections = {} does not fit in this process's descriptor limit of {soft}; \
             past it, new connections wait for descriptors, not for the cap",
            cfg.server.max_connections
        );
    }
    let listener = match tokio::net::TcpListener::bind(cfg.server.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hive: cannot listen on {}: {e}", cfg.server.listen);
            return ExitCode::FAILURE;
        }
    };
    let hive = match Hive::start(opts).await {
        Ok(h) => Arc::new(h),
        Err(e) => {
            eprintln!("hive: {e}");
            return ExitCode::FAILURE;
        }
    };
    for file in &args.swarms {
        if let Err(why) = start_file(&hive, file).await {
            eprintln!("hive: {why}");
            hive.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let table = tokens.current();
    let auth = match table.len() {
        0 => "loopback clients only".to_string(),
        1 => "bearer token".to_string(),
        n => format!("{n} bearer tokens"),
    };
    let store = data_dir.as_ref().map_or("in memory".to_string(), |d| d.join("hive.redb").display().to_string());
    eprintln!("hive: serving http://{addr} ({auth}); store: {store}; docs: http://{addr}/docs");
    if let Ok(z) = hive.zmq_status().await
        && z.enabled
    {
        eprintln!("hive: ZeroMQ workers connect to {}", z.endpoint);
    }
    tracing::info!(%addr, "listening");
    let reload = tokio::spawn(reload_tokens(hup, args.config.clone(), server_token, tokens.clone()));
    let worker_token = cfg.gateway.options().and_then(|g| g.token);
    let state = AppState::with_tokens(hive.clone(), cfg.server, tokens).with_worker_token(worker_token);
    let served = hive::http::serve(listener, state, async move { signals.recv().await }).await;
    eprintln!("hive: shutting down");
    reload.abort();
    let _ = reload.await;
    hive.shutdown().await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hive: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// On each SIGHUP: reads `path` again and replaces the tokens with the ones
/// it lists (and `server_token`, which came from `--token`/`HIVE_TOKEN` or
/// the file at the start). A file that does not parse, or that would switch
/// the daemon between serving loopback clients only and requiring tokens
/// (the served OpenAPI document says which), keeps the tokens as they were.
/// Without a config file there is nothing to reload: it says so.
async fn reload_tokens(
    mut hup: tokio::signal::unix::Signal,
    path: Option<PathBuf>,
    server_token: Option<String>,
    tokens: hive::access::Tokens,
) {
    while hup.recv().await.is_some() {
        let Some(path) = path.clone() else {
            eprintln!("hive: SIGHUP: no --config file, so there is nothing to reload");
            continue;
        };
        let file = path.clone();
        let read = tokio::task::spawn_blocking(move || load_config(Some(&file))).await;
        let table = match read {
            Ok(Ok(cfg)) => hive::access::TokenTable::new(&cfg.server.tokens, server_token.as_deref())
                .map_err(|e| format!("{}: {e}", path.display())),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        };
        match table {
            Ok(t) if t.is_empty() != tokens.current().is_empty() => eprintln!(
                "hive: SIGHUP: tokens kept as they were: switching between no tokens and tokens needs a restart"
            ),
            Ok(t) => {
                eprintln!("hive: SIGHUP: {} tokens loaded from {}", t.len(), path.display());
                tokens.replace(t);
            }
            Err(e) => eprintln!("hive: SIGHUP: tokens kept as they were: {e}"),
        }
    }
}

/// Starts a swarm file unless the store already brought that swarm back.
async fn start_file(hive: &Hive, file: &Path) -> Result<(), String> {
    let spec = config::parse_file(file, &hive.validate_options())
        .map_err(|errors| errors.0.iter().map(|e| format!("{}:{e}", file.display())).collect::<Vec<_>>().join("\n"))?;
    if hive.swarm(&spec.name).await.is_ok() {
        eprintln!(
            "hive: swarm '{}' was restored with its runtime changes; {} was not applied again",
            spec.name,
            file.display()
        );
        return Ok(());
    }
    let name = spec.name.clone();
    hive.start_swarm(spec).await.map_err(|e| format!("swarm '{name}': {e}"))?;
    eprintln!("hive: swarm '{name}' started from {}", file.display());
    Ok(())
}
