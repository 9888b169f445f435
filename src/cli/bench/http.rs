//! `hive bench http`: `GET /api/swarms/NAME` from many keep-alive HTTP/1.1
//! connections (hyper's client connection, no pooling layer) for a fixed
//! time; prints requests/s and latency percentiles.

use std::time::{Duration, Instant};

use clap::Args;

use super::{Conn, percentile};

#[derive(Args, Debug)]
pub(crate) struct HttpArgs {
    /// A running daemon's URL (default: start one in a child process);
    /// its token is read from HIVE_TOKEN.
    #[arg(long, value_name = "URL")]
    against: Option<String>,
    /// The swarm whose status is read.
    #[arg(long, default_value = "bench")]
    swarm: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// How long to load the daemon.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
}

struct Tally {
    ok: u64,
    failed: u64,
    latencies_us: Vec<u64>,
}

async fn connection(addr: String, path: String, token: Option<String>, until: Instant) -> Result<Tally, String> {
    let mut conn = Conn::open(&addr, token).await?;
    let mut t = Tally { ok: 0, failed: 0, latencies_us: Vec::with_capacity(100_000) };
    loop {
        let start = Instant::now();
        let (status, _) = conn.request(hyper::Method::GET, &path, None).await?;
        t.latencies_us.push(start.elapsed().as_micros() as u64);
        if status.is_success() {
            t.ok += 1
        } else {
            t.failed += 1
        }
        if Instant::now() >= until {
            return Ok(t);
        }
    }
}

pub(crate) async fn run(a: HttpArgs) -> Result<(), String> {
    let super::Target { daemon, addr, token } = super::Target::new(&a.against)?;
    let path = format!("/api/swarms/{}", a.swarm);
    // Warm up: one request (the loop runs at least once), and fail early with a clear message.
    let probe = connection(addr.clone(), path.clone(), token.clone(), Instant::now()).await?;
    drop(probe);
    let until = Instant::now() + a.duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..a.connections)
        .map(|_| tokio::spawn(connection(addr.clone(), path.clone(), token.clone(), until)))
        .collect();
    let (mut ok, mut failed, mut lat) = (0u64, 0u64, Vec::new());
    for t in tasks {
        let t = t.await.map_err(|e| e.to_string())??;
        ok += t.ok;
        failed += t.failed;
        lat.extend(t.latencies_us);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!("GET {path}: {} connections for {:.1} s", a.connections, secs);
    println!(
        "  {:.0} requests/s ({ok} ok, {failed} not 2xx); latency p50 {} µs, p99 {} µs, max {} µs",
        ok as f64 / secs,
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(0)
    );
    if let Some(kib) = daemon.as_ref().and_then(|d| d.pid()).and_then(super::daemon::peak_rss_kib) {
        println!("  daemon peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    if failed > 0 {
        return Err(format!("{failed} requests were not answered 2xx"));
    }
    Ok(())
}
