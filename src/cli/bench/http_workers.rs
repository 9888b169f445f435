//! `hive bench http-workers`: HTTP workers (long-poll) against ZeroMQ
//! workers through the same dispatcher, in one run. Starts an in-process
//! `Hive` (in memory) with the gateway and a real HTTP server on a free
//! 127.0.0.1 port; `--workers` HTTP workers (tokio tasks, each with its own
//! keep-alive hyper connection: register, `GET next`, `POST result`) and
//! the reference ZeroMQ worker process with as many workers. Both sets stay
//! registered; each round drains one set and measures the other:
//! `--tasks` tasks with `--in-flight` outstanding, each followed to its end
//! (every one must end `ok`, once, with its prompt). Prints the median and
//! spread (min–max) of tasks/s per transport over `--rounds` and the ratio.
//! The HTTP workers are owned by the run: told to stop and awaited.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use hive::gateway::{GatewayOptions, WorkerTransport};
use hive::{Hive, HiveOptions};

use super::Conn;
use super::zmq::{WorkerProcess, throughput, worker_bin};

#[derive(Args, Debug)]
pub(crate) struct HttpWorkersArgs {
    /// Workers of each transport.
    #[arg(long, default_value_t = 4)]
    workers: u32,
    /// Tasks per measured round.
    #[arg(long, default_value_t = 5000)]
    tasks: u64,
    /// Tasks outstanding at once.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Rounds per transport (alternating).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// The ZeroMQ worker binary (default: `examples/zmq_worker` beside this executable).
    #[arg(long, value_name = "PATH")]
    worker_bin: Option<PathBuf>,
}

const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) async fn run(a: HttpWorkersArgs) -> Result<(), String> {
    super::raise_fd_limit();
    let bin = worker_bin(a.worker_bin.clone())?;
    let hive = Hive::start(HiveOptions {
        gateway: Some(GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() }),
        ..Default::default()
    })
    .await
    .map(Arc::new)
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let cfg = hive::http::ServerConfig {
        listen: "127.0.0.1:0".parse().expect("an address"),
        rate_limit: hive::http::RateLimit { per_second: 0, burst: 0 },
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen).await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?.to_string();
    let state = hive::http::AppState::new(hive.clone(), cfg).map_err(|e| e.to_string())?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hive::http::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let r = measure(&hive, &a, &bin, &addr).await;
    let _ = stop_server.send(());
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("bench: the HTTP server ended with {e}"),
        Err(e) => eprintln!("bench: the HTTP server task failed: {e}"),
    }
    hive.shutdown().await;
    r
}

/// One HTTP worker: registers, then polls and answers each task with its
/// prompt until `stop`.
async fn http_worker(addr: String, id: String, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let mut c = Conn::open(&addr, None).await?;
    let reg = serde_json::json!({"id": id, "slots": 1}).to_string();
    let (code, b) = c.request(hyper::Method::POST, "/api/v1/workers/register", Some(reg)).await?;
    if code != hyper::StatusCode::CREATED {
        return Err(format!("{id}: register answered {code}: {}", String::from_utf8_lossy(&b)));
    }
    let (next, mut done) = (format!("/api/v1/workers/{id}/next?wait=200ms"), 0u64);
    while !stop.load(Ordering::Relaxed) {
        let (code, b) = c.request(hyper::Method::GET, &next, None).await?;
        if code == hyper::StatusCode::NO_CONTENT {
            continue;
        }
        let a: serde_json::Value = serde_json::from_slice(&b).map_err(|e| format!("{id}: next: {e}"))?;
        let (Some(task), Some(prompt)) = (a["task_id"].as_str(), a["prompt"].as_str()) else {
            return Err(format!("{id}: next answered {code}: {a}"));
        };
        let body = serde_json::json!({"content": prompt}).to_string();
        let (code, b) =
            c.request(hyper::Method::POST, &format!("/api/v1/workers/{id}/tasks/{task}/result"), Some(body)).await?;
        if code != hyper::StatusCode::OK {
            return Err(format!("{id}: result answered {code}: {}", String::from_utf8_lossy(&b)));
        }
        done += 1;
    }
    Ok(done)
}

async fn ids_of(hive: &Hive, t: WorkerTransport) -> Result<Vec<String>, String> {
    let all = hive.gateway().workers().await.map_err(|e| e.to_string())?;
    Ok(all.into_iter().filter(|w| w.transport == t).map(|w| w.worker_id).collect())
}

/// Only the workers of `on` take tasks.
async fn only(hive: &Hive, on: WorkerTransport) -> Result<(), String> {
    for t in [WorkerTransport::Http, WorkerTransport::Zmq] {
        for id in ids_of(hive, t).await? {
            hive.gateway().set_accepting(&id, t == on).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

async fn measure(hive: &Arc<Hive>, a: &HttpWorkersArgs, bin: &std::path::Path, addr: &str) -> Result<(), String> {
    let endpoint = hive.zmq_status().await.map_err(|e| e.to_string())?.endpoint;
    let _zmq = WorkerProcess::spawn(bin, &endpoint, "bench", a.workers, 1)?;
    let stop = Arc::new(AtomicBool::new(false));
    let polls: Vec<_> = (0..a.workers)
        .map(|i| tokio::spawn(http_worker(addr.to_string(), format!("http-{i}"), stop.clone())))
        .collect();
    let t0 = Instant::now();
    while ids_of(hive, WorkerTransport::Http).await?.len() < a.workers as usize
        || ids_of(hive, WorkerTransport::Zmq).await?.len() < a.workers as usize
    {
        if t0.elapsed() > DEADLINE || polls.iter().any(|p| p.is_finished()) {
            stop.store(true, Ordering::Relaxed);
            return Err("the workers did not all register".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("bench: {} HTTP and {} ZeroMQ workers registered (HTTP at {addr})", a.workers, a.workers);
    let (mut http, mut zmq) = (Vec::new(), Vec::new());
    let mut result = Ok(());
    'rounds: for _ in 0..a.rounds {
        for (t, rates) in [(WorkerTransport::Http, &mut http), (WorkerTransport::Zmq, &mut zmq)] {
            if let Err(e) = only(hive, t).await {
                result = Err(e);
                break 'rounds;
            }
            let (elapsed, tally) = throughput(hive, a.tasks, a.in_flight.max(1)).await;
            if let Err(e) = tally.check(a.tasks) {
                result = Err(format!("{t:?}: {e}"));
                break 'rounds;
            }
            rates.push(a.tasks as f64 / elapsed.as_secs_f64());
        }
    }
    stop.store(true, Ordering::Relaxed);
    for p in polls {
        match p.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => result = result.and(Err(e)),
            Err(e) => result = result.and(Err(format!("an HTTP worker task failed: {e}"))),
        }
    }
    result?;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let ((hm, hlo, hhi), (zm, zlo, zhi)) = (median(&mut http), median(&mut zmq));
    println!(
        "http workers vs zmq workers: {} each × 1 slot, {} tasks per round, {} in flight, {} rounds each:",
        a.workers, a.tasks, a.in_flight, a.rounds
    );
    println!("  http (long-poll over 127.0.0.1): median {hm:.0} tasks/s (min {hlo:.0}, max {hhi:.0})");
    println!("  zmq (worker process):           median {zm:.0} tasks/s (min {zlo:.0}, max {zhi:.0})");
    println!("  http / zmq (medians): {:.2}×", hm / zm.max(1.0));
    Ok(())
}
