//! `hive bench idle-conns`: issue 14's scale check of the connection cap. A
//! daemon in a child process, its cap raised to `--cap` (default: `--conns`
//! plus 2 000) and its header read timeout to an hour (so that it holds the
//! idle connections through the run rather than closing them), is given
//! `--conns` idle TCP connections (connected, nothing sent) by a second
//! process — this binary again, `--hold ADDR`. Meanwhile this process
//! measures that other clients are still served: `GET /api/swarms/bench`
//! from a few keep-alive connections, latency p50/p99 before and while the
//! idle connections are held, and the daemon's connections, resident memory
//! and descriptors. Both processes raise their soft descriptor limit to the
//! hard one. It fails if a request is not answered 2xx or the daemon did not
//! hold every idle connection.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;

use super::{Conn, percentile};

/// Idle connections opened at a time (below the daemon's listen queue of 1 024).
const BATCH: usize = 500;

#[derive(Args, Debug)]
pub(crate) struct IdleConnsArgs {
    /// Idle connections the second process opens and holds.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// The daemon's `max_connections` [default: --conns + 2000].
    #[arg(long)]
    cap: Option<usize>,
    /// Requests measured in each phase (before, and while the connections are held).
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Keep-alive connections the measured requests are spread over.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// (The holding process: opens the connections to ADDR that stdin asks for, holds them until it closes.)
    #[arg(long, value_name = "ADDR", hide = true)]
    hold: Option<String>,
}

pub(crate) async fn run(a: IdleConnsArgs) -> Result<(), String> {
    super::raise_fd_limit();
    if let Some(addr) = &a.hold {
        return hold(addr).await;
    }
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|e| format!("getrlimit: {e}"))?;
    let cap = a.cap.unwrap_or(a.conns + 2_000);
    if (cap as u64) + 256 > soft {
        return Err(format!("a cap of {cap} needs more descriptors than this machine's limit of {soft}"));
    }
    let config = format!("max_connections = {cap}\nheader_read_timeout_s = 3600\n");
    let daemon = super::daemon::Daemon::spawn_with_config(&[super::daemon::SWARM.to_string()], &config)?;
    let addr = daemon.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let pid = daemon.pid().unwrap_or_default();
    let path = "/api/swarms/bench";
    // Warm up (first requests build caches and connections), unmeasured.
    measure(&addr, path, a.clients * 50, a.clients).await?;
    let before = measure(&addr, path, a.requests, a.clients).await?;
    let (rss_before, fds_before) = (rss_kib(pid), fd_count(pid));
    let opened = Instant::now();
    let mut holder = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["bench", "idle-conns", "--hold", &addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the holding process: {e}"))?;
    let mut told = holder.stdin.take().expect("piped");
    let (lines, said) = std::sync::mpsc::channel();
    let out = holder.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    // In batches smaller than the listen queue, each accepted before the
    // next: a burst past the queue would be dropped by the kernel, unseen
    // by a client that sends nothing.
    let mut probe = Conn::open(&addr, None).await?;
    let mut held = 0;
    while held < a.conns {
        let batch = BATCH.min(a.conns - held);
        let asked = writeln!(told, "{batch}").and_then(|()| told.flush());
        let reply = asked.ok().and_then(|()| said.recv_timeout(Duration::from_secs(60)).ok());
        let Some(n) = reply.as_deref().and_then(|l| l.strip_prefix("held ")?.parse::<usize>().ok()) else {
            let _ = holder.kill();
            let _ = holder.wait();
            return Err(format!("the holding process did not open its connections: {reply:?}"));
        };
        held = n;
        // Connected is not accepted: wait until the daemon serves them (and the probe).
        let deadline = Instant::now() + Duration::from_secs(60);
        while connections(&mut probe).await? < held + 1 {
            if Instant::now() > deadline {
                let _ = holder.kill();
                let _ = holder.wait();
                return Err(format!("the daemon did not accept {held} connections within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let accepted_in = opened.elapsed();
    let during = measure(&addr, path, a.requests, a.clients).await?;
    // Less the probe.
    let held_after = connections(&mut probe).await?.saturating_sub(1);
    let (rss_during, fds_during) = (rss_kib(pid), fd_count(pid));
    drop(told);
    let _ = holder.wait();
    let mib = |k: Option<u64>| k.map_or("?".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));
    println!("idle-conns: {} idle TCP connections from pid {} (daemon pid {pid}, cap {cap})", a.conns, holder.id());
    println!("  opened and accepted in {:.1} s", accepted_in.as_secs_f64());
    for (phase, m) in [("before", &before), (&*format!("with {} idle", a.conns), &during)] {
        println!(
            "  {phase}: {} × GET {path} over {} connections: p50 {} µs, p99 {} µs, max {} µs; {} not 2xx",
            m.latencies_us.len(),
            a.clients,
            percentile(&m.latencies_us, 50.0),
            percentile(&m.latencies_us, 99.0),
            m.latencies_us.last().copied().unwrap_or(0),
            m.failed
        );
    }
    println!(
        "  daemon: {held_after} idle connections still served after the run; RSS {} → {} MiB; descriptors {} → {}",
        mib(rss_before),
        mib(rss_during),
        fds_before.map_or("?".into(), |n| n.to_string()),
        fds_during.map_or("?".into(), |n| n.to_string()),
    );
    if before.failed + during.failed > 0 {
        return Err(format!("{} requests were not answered 2xx", before.failed + during.failed));
    }
    if held_after < a.conns {
        return Err(format!("the daemon held only {held_after} of {} idle connections", a.conns));
    }
    Ok(())
}

/// The holding process: for each line `N` on stdin, `N` more idle
/// connections to `addr`, then `held TOTAL` on stdout; it lets them go when
/// stdin closes.
async fn hold(addr: &str) -> Result<(), String> {
    use futures::StreamExt;
    use tokio::io::AsyncBufReadExt;
    let mut conns = Vec::new();
    let mut asks = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = asks.next_line().await {
        let n: usize = line.trim().parse().map_err(|_| format!("not a count: {line}"))?;
        let opened: Vec<_> = futures::stream::iter(0..n)
            .map(|_| tokio::net::TcpStream::connect(addr.to_string()))
            .buffer_unordered(64)
            .collect()
            .await;
        for c in opened {
            conns.push(c.map_err(|e| format!("connect {addr}: {e}"))?);
        }
        println!("held {}", conns.len());
    }
    Ok(())
}

struct Measured {
    /// Sorted.
    latencies_us: Vec<u64>,
    failed: u64,
}

/// `requests` GETs of `path` over `clients` keep-alive connections at once.
async fn measure(addr: &str, path: &str, requests: usize, clients: usize) -> Result<Measured, String> {
    let clients = clients.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let n = requests / clients + usize::from(i < requests % clients);
        let (addr, path) = (addr.to_string(), path.to_string());
        tasks.spawn(async move {
            let mut conn = Conn::open(&addr, None).await?;
            let mut out = (Vec::with_capacity(n), 0u64);
            for _ in 0..n {
                let began = Instant::now();
                let (status, _) = conn.request(hyper::Method::GET, &path, None).await?;
                out.0.push(began.elapsed().as_micros() as u64);
                out.1 += u64::from(!status.is_success());
            }
            Ok::<_, String>(out)
        });
    }
    let mut m = Measured { latencies_us: Vec::with_capacity(requests), failed: 0 };
    while let Some(done) = tasks.join_next().await {
        let (lat, failed) = done.map_err(|e| e.to_string())??;
        m.latencies_us.extend(lat);
        m.failed += failed;
    }
    m.latencies_us.sort_unstable();
    Ok(m)
}

/// `hive_http_connections` of the daemon's `/metrics`.
async fn connections(probe: &mut Conn) -> Result<usize, String> {
    let (status, body) = probe.request(hyper::Method::GET, "/metrics", None).await?;
    if !status.is_success() {
        return Err(format!("GET /metrics: {status}"));
    }
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|l| l.strip_prefix("hive_http_connections ")?.trim().parse().ok())
        .ok_or_else(|| "no hive_http_connections in /metrics".to_string())
}

/// Resident memory of a process now, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Open descriptors of a process.
fn fd_count(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}
