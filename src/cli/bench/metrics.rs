//! `hive bench metrics`: the cost of a `GET /metrics` scrape on a big
//! daemon under load. It starts `hive serve` with `--swarms` swarms of
//! `--agents` mock agents each (a scale group, so per-agent series exist
//! while a swarm stays within the daemon's per-agent limit, 1 000 by
//! default), keeps `--load` connections routing messages between agents,
//! and scrapes `--scrapes` times one after the other; prints the scrape
//! time's median, p99 and max, the exposition's size and its series.

use std::time::{Duration, Instant};

use clap::Args;

use super::{Conn, percentile};

#[derive(Args, Debug)]
pub(crate) struct MetricsArgs {
    /// Swarms to start.
    #[arg(long, default_value_t = 10)]
    swarms: usize,
    /// Mock agents in each swarm.
    #[arg(long, default_value_t = 1_000)]
    agents: u32,
    /// Scrapes, one after the other.
    #[arg(long, default_value_t = 50)]
    scrapes: usize,
    /// Connections routing messages meanwhile (0: no load).
    #[arg(long, default_value_t = 4)]
    load: usize,
}

/// One swarm of `agents` mock agents: a source with an edge to the group.
fn swarm(i: usize, agents: u32) -> String {
    format!(
        "name = \"m{i}\"\n[[agents]]\nname = \"source\"\nbackend = \"mock\"\n[[agents]]\nname = \"worker\"\n\
         backend = \"mock\"\nreplicas = {}\n[topology]\nsource = [\"worker\"]\n",
        agents.saturating_sub(1).max(1)
    )
}

/// Routes messages from `source` to one worker after another until `until`.
async fn load(addr: String, swarms: usize, agents: u32, until: Instant) -> Result<u64, String> {
    let mut conn = Conn::open(&addr, None).await?;
    let mut sent = 0u64;
    while Instant::now() < until {
        let s = sent as usize % swarms;
        let to = sent % u64::from(agents.saturating_sub(1).max(1)) + 1;
        let body = format!(r#"{{"from":"source","to":"worker_{to}","content":"load"}}"#);
        conn.request(hyper::Method::POST, &format!("/api/swarms/m{s}/message"), Some(body)).await?;
        sent += 1;
    }
    Ok(sent)
}

pub(crate) async fn run(a: MetricsArgs) -> Result<(), String> {
    super::raise_fd_limit();
    let files: Vec<String> = (0..a.swarms).map(|i| swarm(i, a.agents)).collect();
    let started = Instant::now();
    let daemon = super::daemon::Daemon::spawn_with(&files)?;
    let addr = daemon.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    eprintln!("bench: {} swarms × {} agents started in {:.1} s", a.swarms, a.agents, started.elapsed().as_secs_f64());
    let mut scraper = Conn::open(&addr, None).await?;
    let (status, first) = scraper.request(hyper::Method::GET, "/metrics", None).await?;
    if !status.is_success() {
        return Err(format!("GET /metrics answered {status}"));
    }
    // The load runs for as long as the scrapes take (bounded by `until`).
    let until = Instant::now() + Duration::from_secs(600);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loaders: Vec<_> = (0..a.load)
        .map(|_| {
            let (addr, mut stopped) = (addr.clone(), stopped.clone());
            let (swarms, agents) = (a.swarms, a.agents);
            tokio::spawn(async move {
                tokio::select! {
                    r = load(addr, swarms, agents, until) => r,
                    _ = stopped.changed() => Ok(0),
                }
            })
        })
        .collect();
    drop(stopped);
    let mut times_us = Vec::with_capacity(a.scrapes);
    let mut size = first.len();
    for _ in 0..a.scrapes {
        let t = Instant::now();
        let (status, body) = scraper.request(hyper::Method::GET, "/metrics", None).await?;
        times_us.push(t.elapsed().as_micros() as u64);
        if !status.is_success() {
            return Err(format!("GET /metrics answered {status}"));
        }
        size = body.len();
    }
    let _ = stop.send(true);
    for l in loaders {
        l.await.map_err(|e| e.to_string())??;
    }
    let (_, last) = scraper.request(hyper::Method::GET, "/metrics", None).await?;
    let text = String::from_utf8_lossy(&last);
    let series = text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    let routed: f64 = text
        .lines()
        .filter(|l| l.starts_with("hive_messages_routed_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let server = server_side(&text);
    times_us.sort_unstable();
    println!(
        "GET /metrics: {} swarms × {} agents, {} loading connections, {} scrapes",
        a.swarms, a.agents, a.load, a.scrapes
    );
    println!(
        "  scrape p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; exposition {:.1} KiB, {series} series; {routed} messages routed",
        percentile(&times_us, 50.0) as f64 / 1000.0,
        percentile(&times_us, 99.0) as f64 / 1000.0,
        times_us.last().copied().unwrap_or(0) as f64 / 1000.0,
        size as f64 / 1024.0,
    );
    if let Some((mean, p50, p99)) = server {
        println!(
            "  in the daemon (its own hive_http_request_duration_seconds for /metrics, to the response's start): \
             mean {:.1} ms, p50 ≤ {:.1} ms, p99 ≤ {:.1} ms (bucket bounds)",
            mean * 1e3,
            p50 * 1e3,
            p99 * 1e3
        );
    }
    if let Some(kib) = daemon.pid().and_then(super::daemon::peak_rss_kib) {
        println!("  daemon peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}

/// The daemon's own view of its `/metrics` requests, from its latency
/// histogram: the mean, and the bucket bounds under which half and 99 % of
/// them fell (seconds).
fn server_side(text: &str) -> Option<(f64, f64, f64)> {
    let of = |suffix: &str| -> Vec<(&str, f64)> {
        let prefix = format!("hive_http_request_duration_seconds_{suffix}{{route=\"/metrics\",method=\"GET\"");
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&prefix)?;
                let (labels, v) = rest.rsplit_once(' ')?;
                Some((labels, v.parse().ok()?))
            })
            .collect()
    };
    let sum = of("sum").first()?.1;
    let count = of("count").first()?.1;
    let buckets: Vec<(f64, f64)> = of("bucket")
        .into_iter()
        .filter_map(|(labels, n)| {
            let le = labels.split("le=\"").nth(1)?.trim_end_matches(['"', '}']);
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? }, n))
        })
        .collect();
    let bound = |q: f64| buckets.iter().find(|(_, n)| *n >= q * count).map_or(f64::INFINITY, |(le, _)| *le);
    (count > 0.0).then(|| (sum / count, bound(0.5), bound(0.99)))
}
