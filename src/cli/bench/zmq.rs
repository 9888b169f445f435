//! `hive bench zmq`: the ZeroMQ gateway and dispatcher under load. Starts
//! an in-process `Hive` with the gateway on a free 127.0.0.1 port (in
//! memory, or durable with `--data-dir`), and the reference worker
//! (`examples/zmq_worker`) as one separate process with `--workers N`.
//! Measures:
//! * throughput: `--tasks` tasks with `--in-flight` outstanding, each
//!   followed to its end; every task must end `ok`, once, with its prompt;
//! * dispatch round trip: one task at a time, dispatch → `Done`;
//! * the raw baseline in the same run: a bare ROUTER socket and a second
//!   worker process, one `task` → `result` at a time (the floor set by
//!   ZeroMQ, msgpack and the worker).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures::{SinkExt, StreamExt};
use hive::gateway::protocol::{self, GatewayMsg, WorkerMsg};
use hive::gateway::{DispatchRequest, GatewayOptions, Submit, TaskUpdate};
use hive::{Hive, HiveOptions};
use tmq::AsZmqSocket;

use super::percentile;

#[derive(Args, Debug)]
pub(crate) struct ZmqArgs {
    /// Workers (DEALER sockets) in the worker process.
    #[arg(long, default_value_t = 4)]
    workers: u32,
    /// Tasks of the throughput run.
    #[arg(long, default_value_t = 200_000)]
    tasks: u64,
    /// Tasks outstanding at once in the throughput run.
    #[arg(long, default_value_t = 2048)]
    in_flight: usize,
    /// Sequential round trips measured, through the dispatcher and raw.
    #[arg(long, default_value_t = 5000)]
    rtt_samples: usize,
    /// Tasks each worker runs at once (its `--slots`).
    #[arg(long, default_value_t = 64)]
    slots: u32,
    /// Record tasks in a durable store in DIR (default: in memory).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The worker binary (default: `examples/zmq_worker` beside this executable).
    #[arg(long, value_name = "PATH")]
    worker_bin: Option<PathBuf>,
}

/// How long the workers get to connect, and each round trip to finish.
const DEADLINE: Duration = Duration::from_secs(30);

/// Where `cargo build --release --examples` puts the worker, given the
/// path of this executable (`target/release/hive`).
fn worker_bin_beside(exe: &Path) -> Option<PathBuf> {
    Some(exe.parent()?.join("examples").join("zmq_worker"))
}

/// A `task` message, encoded by the gateway's own protocol code.
fn task_payload(task_id: &str) -> Vec<u8> {
    protocol::encode(&GatewayMsg::Task {
        task_id,
        prompt: "x",
        model: None,
        context: None,
        priority: 5,
        swarm: None,
        agent: None,
    })
}

/// `(type, task_id)` of a worker's payload, decoded as the gateway decodes it.
fn kind_and_task(payload: &[u8]) -> Option<(&'static str, Option<String>)> {
    Some(match protocol::decode(payload).ok()? {
        WorkerMsg::Ready { .. } => ("ready", None),
        WorkerMsg::Heartbeat { .. } => ("heartbeat", None),
        WorkerMsg::Token { task_id, .. } => ("token", Some(task_id)),
        WorkerMsg::Result { task_id, .. } => ("result", Some(task_id)),
        WorkerMsg::Error { task_id, .. } => ("error", Some(task_id)),
        WorkerMsg::Log { .. } => ("log", None),
    })
}

/// How the tasks of the throughput run ended.
#[derive(Default)]
pub(super) struct Tally {
    ok: AtomicU64,
    /// Ended, but not `ok` or not with its prompt.
    wrong: AtomicU64,
    /// More than one `Done`, or none.
    not_once: AtomicU64,
    /// The dispatch call failed.
    refused: AtomicU64,
}

impl Tally {
    /// `Err` says what went wrong when not every one of `tasks` ended `ok` once.
    pub(super) fn check(&self, tasks: u64) -> Result<(), String> {
        let (ok, wrong, not_once, refused) = (
            self.ok.load(Ordering::Relaxed),
            self.wrong.load(Ordering::Relaxed),
            self.not_once.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        );
        if ok == tasks && wrong + not_once + refused == 0 {
            return Ok(());
        }
        Err(format!(
            "{ok}/{tasks} tasks ended ok exactly once ({wrong} wrong, {not_once} not exactly once, {refused} refused)"
        ))
    }
}

/// A worker process, killed when dropped.
pub(super) struct WorkerProcess(Child);

impl WorkerProcess {
    pub(super) fn spawn(bin: &Path, endpoint: &str, id: &str, workers: u32, slots: u32) -> Result<Self, String> {
        let child = Command::new(bin)
            .args(["--connect", endpoint, "--id", id, "--workers", &workers.to_string()])
            .args(["--slots", &slots.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        eprintln!("bench: worker process {} ({id}, {workers} workers) pid {}", bin.display(), child.id());
        Ok(Self(child))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The worker binary: `given`, or the one beside this executable.
pub(super) fn worker_bin(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let bin = match given {
        Some(b) => b,
        None => std::env::current_exe().ok().as_deref().and_then(worker_bin_beside).unwrap_or_default(),
    };
    if !bin.is_file() {
        return Err(format!(
            "no worker binary at {}: run `cargo build --release --examples` (or pass --worker-bin)",
            bin.display()
        ));
    }
    Ok(bin)
}

pub(crate) async fn run(a: ZmqArgs) -> Result<(), String> {
    super::raise_fd_limit();
    let bin = worker_bin(a.worker_bin.clone())?;
    let hive = Hive::start(HiveOptions {
        gateway: Some(GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() }),
        data_dir: a.data_dir.clone(),
        ..Default::default()
    })
    .await
    .map(Arc::new)
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let r = measure(&hive, &a, &bin).await;
    hive.shutdown().await;
    r
}

async fn measure(hive: &Arc<Hive>, a: &ZmqArgs, bin: &Path) -> Result<(), String> {
    let endpoint = hive.zmq_status().await.map_err(|e| e.to_string())?.endpoint;
    let store = match &a.data_dir {
        Some(d) => format!("durable store in {}", d.display()),
        None => "in memory".into(),
    };
    eprintln!("bench: gateway at {endpoint} ({store})");
    let mut worker = WorkerProcess::spawn(bin, &endpoint, "bench", a.workers, a.slots)?;
    let t0 = Instant::now();
    loop {
        let n = hive.zmq_workers().await.map_err(|e| e.to_string())?.len();
        if n >= a.workers as usize {
            break;
        }
        if let Some(status) = worker.exited() {
            return Err(format!("the worker process exited: {status}"));
        }
        if t0.elapsed() > DEADLINE {
            return Err(format!("{n}/{} workers connected within {DEADLINE:?}", a.workers));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("bench: {} workers connected in {:.2} s", a.workers, t0.elapsed().as_secs_f64());

    let t0 = Instant::now();
    let (elapsed, tally) = throughput(hive, a.tasks, a.in_flight.max(1)).await;
    // Results reach their callers before the events that record them are
    // committed: the run ends when the store has caught up too.
    let durable = settled(hive).await;
    let rate = a.tasks as f64 / elapsed.as_secs_f64();
    println!("zmq gateway ({store}), {} workers × {} slots in one process:", a.workers, a.slots);
    println!(
        "  throughput: {} tasks, {} in flight, in {:.2} s: {:.0} tasks/s",
        a.tasks,
        a.in_flight,
        elapsed.as_secs_f64(),
        rate
    );
    if a.data_dir.is_some() {
        let total = durable.saturating_duration_since(t0).as_secs_f64();
        println!(
            "  every record and event committed {:.2} s after the start: {:.0} tasks/s to disk",
            total,
            a.tasks as f64 / total
        );
    }
    tally.check(a.tasks)?;

    let mut rtt = dispatch_rtt(hive, a.rtt_samples).await?;
    rtt.sort_unstable();
    drop(worker);
    let mut raw = raw_rtt(bin, a.rtt_samples).await?;
    raw.sort_unstable();
    let (d50, r50) = (percentile(&rtt, 50.0), percentile(&raw, 50.0));
    println!(
        "  dispatch round trip ({} sequential): p50 {:.1} µs, p99 {:.1} µs",
        rtt.len(),
        d50 as f64 / 1000.0,
        percentile(&rtt, 99.0) as f64 / 1000.0
    );
    println!(
        "  raw ROUTER round trip ({} sequential): p50 {:.1} µs, p99 {:.1} µs",
        raw.len(),
        r50 as f64 / 1000.0,
        percentile(&raw, 99.0) as f64 / 1000.0
    );
    println!("  dispatch p50 / raw p50: {:.2}×", d50 as f64 / r50.max(1) as f64);
    if let Some(kib) = super::daemon::peak_rss_kib(std::process::id()) {
        println!("  bench process (runtime + gateway) peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}

/// Follows one task to its end: how many `Done` it got, and whether each
/// was `ok` with `want` as content.
async fn follow(mut f: hive::task::Follower, want: &str) -> (u32, bool) {
    let (mut done, mut ok) = (0u32, true);
    while let Some(u) = f.next().await {
        if let TaskUpdate::Done(end) = u {
            done += 1;
            ok &= matches!(end, hive::task::TaskEnd::Completed { content } if content == want);
        }
    }
    (done, ok)
}

/// Submits `tasks` tasks keeping `in_flight` outstanding; returns the time
/// until the last one ended.
pub(super) async fn throughput(hive: &Arc<Hive>, tasks: u64, in_flight: usize) -> (Duration, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight));
    // A few submitters, so one submit's round trip to the dispatcher does
    // not bound the rate.
    let submitters = 8u64;
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..submitters {
        let (hive, tally, permits, next) = (hive.clone(), tally.clone(), permits.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= tasks {
                    break;
                }
                let permit = permits.clone().acquire_owned().await.expect("never closed");
                let prompt = format!("t{i}");
                match hive
                    .dispatch(DispatchRequest { prompt: prompt.clone(), ..Default::default() }, Submit::Follow)
                    .await
                {
                    Ok((_, Some(rx))) => {
                        let tally = tally.clone();
                        tokio::spawn(async move {
                            let (done, ok) = follow(rx, &prompt).await;
                            match (done, ok) {
                                (1, true) => tally.ok.fetch_add(1, Ordering::Relaxed),
                                (1, false) => tally.wrong.fetch_add(1, Ordering::Relaxed),
                                _ => tally.not_once.fetch_add(1, Ordering::Relaxed),
                            };
                            drop(permit);
                        });
                    }
                    _ => {
                        tally.refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    // Every permit back = every task ended.
    let _all = permits.acquire_many(in_flight as u32).await.expect("never closed");
    (t0.elapsed(), tally)
}

/// When every event emitted so far has been published, which a durable
/// store does only once it is committed.
async fn settled(hive: &Hive) -> Instant {
    let bus = hive.events();
    bus.published_through(bus.next_seq().saturating_sub(1)).await;
    Instant::now()
}

/// `samples` sequential dispatch → `Done` round trips, in ns.
async fn dispatch_rtt(hive: &Hive, samples: usize) -> Result<Vec<u64>, String> {
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let prompt = format!("r{i}");
        let t = Instant::now();
        let (_, rx) = hive
            .dispatch(DispatchRequest { prompt: prompt.clone(), ..Default::default() }, Submit::Follow)
            .await
            .map_err(|e| format!("dispatch: {e}"))?;
        let rx = rx.ok_or("no updates")?;
        let (done, ok) =
            tokio::time::timeout(DEADLINE, follow(rx, &prompt)).await.map_err(|_| "a round trip timed out")?;
        out.push(t.elapsed().as_nanos() as u64);
        if done != 1 || !ok {
            return Err(format!("round trip {i} did not end ok exactly once"));
        }
    }
    Ok(out)
}

/// The next message on the raw ROUTER, as frames.
async fn next_frames(router: &mut tmq::router::Router) -> Result<Vec<Vec<u8>>, String> {
    match tokio::time::timeout(DEADLINE, router.next()).await {
        Ok(Some(Ok(parts))) => Ok(parts.iter().map(|m| m.to_vec()).collect()),
        Ok(other) => Err(format!("the raw ROUTER stream ended: {:?}", other.map(|r| r.err()))),
        Err(_) => Err("the raw worker did not answer in time".into()),
    }
}

/// `samples` sequential `task` → `result` round trips over a bare ROUTER
/// and a worker process of its own, in ns.
async fn raw_rtt(bin: &Path, samples: usize) -> Result<Vec<u64>, String> {
    let ctx = tmq::Context::new();
    let mut router =
        tmq::router(&ctx).set_linger(0).bind("tcp://127.0.0.1:*").map_err(|e| format!("bind the raw ROUTER: {e}"))?;
    let endpoint =
        router.get_socket().get_last_endpoint().ok().and_then(|r| r.ok()).ok_or("the raw ROUTER has no endpoint")?;
    let mut worker = WorkerProcess::spawn(bin, &endpoint, "raw", 1, 64)?;
    // Its `ready` gives its identity.
    let identity = loop {
        if let Some(status) = worker.exited() {
            return Err(format!("the raw worker exited: {status}"));
        }
        let frames = next_frames(&mut router).await?;
        if frames.len() == 2 && kind_and_task(&frames[1]).is_some_and(|(k, _)| k == "ready") {
            break frames[0].clone();
        }
    };
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let id = format!("raw-{i}");
        let payload = task_payload(&id);
        let t = Instant::now();
        let msg: tmq::Multipart = vec![identity.clone(), payload].into();
        router.send(msg).await.map_err(|e| format!("raw send: {e}"))?;
        loop {
            let frames = next_frames(&mut router).await?;
            let Some((kind, task)) = frames.last().and_then(|p| kind_and_task(p)) else { continue };
            if kind == "result" && task.as_deref() == Some(id.as_str()) {
                break;
            }
        }
        out.push(t.elapsed().as_nanos() as u64);
    }
    drop(worker);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_is_found_beside_the_executable() {
        let p = worker_bin_beside(Path::new("/x/target/release/hive")).unwrap();
        assert_eq!(p, Path::new("/x/target/release/examples/zmq_worker"));
    }

    #[test]
    fn raw_tasks_decode_as_the_gateway_sends_them() {
        let v: serde_json::Value = rmp_serde::from_slice(&task_payload("t1")).unwrap();
        assert_eq!(v, serde_json::json!({"type": "task", "task_id": "t1", "prompt": "x", "priority": 5}));
        let r = rmp_serde::to_vec_named(&serde_json::json!({"type": "result", "task_id": "t1", "content": "x"}));
        assert_eq!(kind_and_task(&r.unwrap()), Some(("result", Some("t1".into()))));
        assert_eq!(kind_and_task(b"\x01"), None);
    }

    #[test]
    fn the_tally_wants_every_task_ok_once() {
        let t = Tally::default();
        t.ok.store(3, Ordering::Relaxed);
        assert!(t.check(3).is_ok());
        assert!(t.check(4).unwrap_err().contains("3/4"));
        t.not_once.store(1, Ordering::Relaxed);
        assert!(t.check(3).unwrap_err().contains("1 not exactly once"));
    }
}
