//! `hive bench`: end-to-end load scenarios against a real daemon in a
//! second process. Each one starts `hive serve` (in memory, with a bench
//! swarm) unless `--url` names a running daemon, drives it over real
//! sockets, and prints medians and percentiles. `zmq` runs the runtime in
//! process instead, against worker processes; `http-workers` too, with a
//! real HTTP server, HTTP workers on it and ZeroMQ workers, compared;
//! `schedules` in process alone; `metrics` scrapes a daemon of many agents
//! under load; `soak` loads a durable daemon for long and checks nothing
//! was lost and nothing grew; `idle-conns` holds many idle connections to a daemon from a
//! third process and measures that others are still served.

mod chaos;
mod daemon;
mod http;
mod http_workers;
mod idle_conns;
mod metrics;
mod schedules;
mod soak;
mod ws;
mod zmq;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCmd {
    /// GET one swarm's status from many keep-alive connections; requests/s and latency.
    Http(http::HttpArgs),
    /// Many /ws/events subscribers to one swarm while it routes messages at a fixed rate; delivery and latency.
    Ws(ws::WsArgs),
    /// The ZeroMQ gateway in process against a worker process: tasks/s, and dispatch vs raw ROUTER round trips.
    Zmq(zmq::ZmqArgs),
    /// HTTP workers (long-poll, real HTTP on 127.0.0.1) against ZeroMQ workers in one run: tasks/s and the ratio.
    HttpWorkers(http_workers::HttpWorkersArgs),
    /// GET /metrics of a daemon with many agents (10 swarms × 1 000 mock agents) under load: scrape time and size.
    Metrics(metrics::MetricsArgs),
    /// Many idle TCP connections from another process (the connection cap raised): are others still served?
    IdleConns(idle_conns::IdleConnsArgs),
    /// A long steady load on a durable daemon (subscribers, mutations, tasks): RSS and descriptors each minute, nothing lost.
    Soak(soak::SoakArgs),
    /// A durable daemon under load while its children and itself are kill -9ed; checks what clients were told.
    Chaos(chaos::ChaosArgs),
    /// The scheduler with many enabled schedules, in process: idle CPU, and tick-to-task latency while they fire.
    Schedules(schedules::SchedulesArgs),
}

pub(crate) async fn run(cmd: BenchCmd) -> ExitCode {
    let r = match cmd {
        BenchCmd::Http(a) => http::run(a).await,
        BenchCmd::Ws(a) => ws::run(a).await,
        BenchCmd::Zmq(a) => zmq::run(a).await,
        BenchCmd::HttpWorkers(a) => http_workers::run(a).await,
        BenchCmd::Schedules(a) => schedules::run(a).await,
        BenchCmd::Metrics(a) => metrics::run(a).await,
        BenchCmd::IdleConns(a) => idle_conns::run(a).await,
        BenchCmd::Soak(a) => soak::run(a).await,
        BenchCmd::Chaos(a) => chaos::run(a).await,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hive bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One keep-alive HTTP/1.1 connection (hyper's client connection, no
/// pooling layer): the cheapest load generator hyper offers.
pub(crate) struct Conn {
    tx: hyper::client::conn::http1::SendRequest<http_body_util::Full<hyper::body::Bytes>>,
    addr: String,
    token: Option<String>,
}

impl Conn {
    /// Connects to `addr` (host:port).
    pub(crate) async fn open(addr: &str, token: Option<String>) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(Self { tx, addr: addr.to_string(), token })
    }

    /// Sends one request and reads the whole answer.
    pub(crate) async fn request(
        &mut self,
        method: hyper::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(hyper::StatusCode, hyper::body::Bytes), String> {
        use http_body_util::BodyExt;
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", &self.addr);
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = http_body_util::Full::new(hyper::body::Bytes::from(body.unwrap_or_default()));
        let req = req.body(body).map_err(|e| e.to_string())?;
        self.tx.ready().await.map_err(|e| e.to_string())?;
        let res = self.tx.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, bytes))
    }
}

/// Percentile of sorted samples (`p` in 0..=100).
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The daemon a load bench drives: the one named with `--against`, or one
/// it starts itself in a child process (kept alive by `daemon`).
pub(crate) struct Target {
    /// The daemon started here, if any.
    pub daemon: Option<daemon::Daemon>,
    /// `host:port`.
    pub addr: String,
    /// HIVE_TOKEN, for a daemon named with `--against` only.
    pub token: Option<String>,
}

impl Target {
    /// Raises the open-file limit (many sockets), then finds or starts the daemon.
    pub(crate) fn new(against: &Option<String>) -> Result<Self, String> {
        raise_fd_limit();
        let token = against.as_ref().and_then(|_| std::env::var("HIVE_TOKEN").ok()).filter(|t| !t.is_empty());
        let daemon = match against {
            Some(_) => None,
            None => Some(daemon::Daemon::spawn()?),
        };
        let url = against.clone().or_else(|| daemon.as_ref().map(|d| d.url.clone())).unwrap_or_default();
        let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        Ok(Self { daemon, addr, token })
    }
}

/// Raises the open-file limit to its hard maximum (many sockets).
pub(crate) fn raise_fd_limit() {
    let _ = super::raise_fd_limit();
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_pick_from_sorted_samples() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(super::percentile(&v, 50.0), 51);
        assert_eq!(super::percentile(&v, 99.0), 99);
        assert_eq!(super::percentile(&[], 99.0), 0);
    }
}
