//! `hive bench soak`: a long run of steady load against a durable daemon
//! (a data directory in a temp dir), watching what should stay flat.
//!
//! Load: `--subscribers` `/ws/events` sockets following the swarm's
//! `agent_added` events, `--mutations` per second (agents added and
//! removed), `--tasks` per second to the swarm's mock agents over REST.
//! Every `--every` it prints the daemon's RSS, open file descriptors, the
//! tasks acknowledged and ended and the last event's sequence number.
//!
//! At the end it proves nothing was lost: every acknowledged task has ended
//! (its record says `ok`, or `error` with a reason), the swarm's agents are
//! exactly the acknowledged adds minus the acknowledged removes, and every
//! subscriber got one `agent_added` per acknowledged add, in increasing
//! sequence (a subscriber told it lagged reconnects with `since=` and must
//! still miss nothing). It fails when the descriptors grew after the first
//! sample or, for a run of five minutes or more, when RSS grew by 10 % or
//! more after the first minute.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::Conn;
use super::daemon::{Daemon, Store};

#[derive(Args, Debug)]
pub(crate) struct SoakArgs {
    /// How long to load the daemon.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// `/ws/events` subscribers.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Agents added or removed per second.
    #[arg(long, default_value_t = 50)]
    mutations: u32,
    /// Tasks sent to the swarm's agents per second.
    #[arg(long, default_value_t = 500)]
    tasks: u32,
    /// How often to sample the daemon.
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    every: Duration,
}

/// Mock agents that take the tasks (a scale group `worker`).
const WORKERS: usize = 8;
/// Connections the tasks are sent on.
const TASK_CONNS: usize = 8;
/// Descriptors the daemon may open beyond the first sample (a redb
/// compaction, a timer) before the run counts as leaking.
const FD_SLACK: usize = 16;
/// Added agents kept at least (and at most twice this): the mutations
/// alternate between adding and removing once the pool is this large.
const POOL: usize = 16;

fn swarm() -> String {
    format!(
        "name = \"soak\"\n[[agents]]\nname = \"source\"\nbackend = \"mock\"\n\
         [[agents]]\nname = \"worker\"\nbackend = \"mock\"\nreplicas = {WORKERS}\n\
         [topology]\nsource = [\"worker\"]\n"
    )
}

/// What the load has been told so far.
#[derive(Default)]
struct Told {
    tasks_acked: AtomicU64,
    tasks_refused: AtomicU64,
    mutations_acked: AtomicU64,
    mutations_refused: AtomicU64,
    /// Acknowledged adds: each subscriber must see this many `agent_added`.
    adds_acked: AtomicU64,
}

/// One sample of the daemon.
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
}

pub(crate) async fn run(a: SoakArgs) -> Result<(), String> {
    super::raise_fd_limit();
    let daemon = Daemon::spawn_in(&[swarm()], "", Store::Durable)?;
    let pid = daemon.pid().ok_or("the daemon has no pid")?;
    let addr = daemon.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let told = Arc::new(Told::default());
    let stop = Arc::new(AtomicBool::new(false));

    // Subscribers first: every add acknowledged later is one they must see.
    let t0 = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(a.subscribers.max(1));
    let mut subs = tokio::task::JoinSet::new();
    for _ in 0..a.subscribers {
        subs.spawn(subscriber(addr.clone(), told.clone(), stop.clone(), ready_tx.clone()));
    }
    drop(ready_tx);
    for _ in 0..a.subscribers {
        if tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await.ok().flatten().is_none() {
            return Err("the subscribers did not all connect within 60 s".into());
        }
    }
    eprintln!("soak: {} subscribers connected in {:.2} s", a.subscribers, t0.elapsed().as_secs_f64());

    let until = Instant::now() + a.duration;
    let acked_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut load = tokio::task::JoinSet::new();
    let per_conn = f64::from(a.tasks) / TASK_CONNS as f64;
    if a.tasks > 0 {
        for c in 0..TASK_CONNS {
            load.spawn(send_tasks(addr.clone(), c, per_conn, until, told.clone(), acked_ids.clone()));
        }
    }
    let pool = Arc::new(Mutex::new(VecDeque::<String>::new()));
    if a.mutations > 0 {
        load.spawn(mutate(addr.clone(), f64::from(a.mutations), until, told.clone(), pool.clone()));
    }

    // Sample until the end of the load.
    let start = Instant::now();
    let mut samples = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(a.every)).await;
        let s = sample(pid, start.elapsed())?;
        // A fresh connection each time: the daemon closes one idle for
        // longer than its header read timeout.
        let mut stats = Conn::open(&addr, None).await?;
        let ok = tasks_with(&mut stats, "ok").await?;
        let seq = last_seq(&mut stats).await?;
        println!(
            "soak: at {:>4.0} s: RSS {:.1} MiB, {} fds, tasks {} acknowledged / {} ok, {} mutations, event seq {}",
            s.at.as_secs_f64(),
            s.rss_kib as f64 / 1024.0,
            s.fds,
            told.tasks_acked.load(Ordering::Relaxed),
            ok,
            told.mutations_acked.load(Ordering::Relaxed),
            seq
        );
        samples.push(s);
        if Instant::now() >= until {
            break;
        }
    }
    while let Some(r) = load.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    stop.store(true, Ordering::Release);
    let mut failures = Vec::new();

    // Every acknowledged task ended, and says how.
    let ids = std::mem::take(&mut *acked_ids.lock().expect("not poisoned"));
    let (ended, failed_with_reason, lost) = check_tasks(&addr, ids).await?;
    println!(
        "soak: tasks: {} acknowledged, {} refused (told so); {ended} ended ok, {failed_with_reason} failed with a reason, {} not ended",
        told.tasks_acked.load(Ordering::Relaxed),
        told.tasks_refused.load(Ordering::Relaxed),
        lost.len()
    );
    if !lost.is_empty() {
        failures.push(format!("{} acknowledged tasks did not end (first: {})", lost.len(), lost[0]));
    }

    // The agents are what the acknowledged mutations made.
    let mut want: Vec<String> = (1..=WORKERS).map(|i| format!("worker_{i}")).collect();
    want.push("source".into());
    want.extend(pool.lock().expect("not poisoned").iter().cloned());
    want.sort();
    let have = agents(&mut Conn::open(&addr, None).await?).await?;
    println!(
        "soak: mutations: {} acknowledged, {} refused (told so); {} agents, {} expected",
        told.mutations_acked.load(Ordering::Relaxed),
        told.mutations_refused.load(Ordering::Relaxed),
        have.len(),
        want.len()
    );
    if have != want {
        failures.push(format!("the swarm's agents are {have:?}, the acknowledged mutations made {want:?}"));
    }

    // Every subscriber got every acknowledged add.
    let adds = told.adds_acked.load(Ordering::Acquire);
    let (mut complete, mut lagged, mut short) = (0usize, 0u64, Vec::new());
    while let Some(r) = subs.join_next().await {
        let seen = r.map_err(|e| e.to_string())??;
        lagged += seen.lagged;
        if seen.adds == adds {
            complete += 1;
        } else {
            short.push(seen.adds);
        }
    }
    println!("soak: subscribers: {complete}/{} saw all {adds} adds; {lagged} lag notices", a.subscribers);
    if complete != a.subscribers {
        failures.push(format!(
            "{} subscribers missed adds (saw {:?} of {adds})",
            short.len(),
            &short[..short.len().min(5)]
        ));
    }

    // What should stay flat.
    let first = &samples[0];
    let fd_max = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    println!("soak: descriptors: {} at the first sample, at most {fd_max} after", first.fds);
    if fd_max > first.fds + FD_SLACK {
        failures.push(format!("descriptors grew from {} to {fd_max}", first.fds));
    }
    let base = samples.iter().find(|s| s.at >= Duration::from_secs(60)).unwrap_or(first);
    let last = samples.last().expect("one sample at least");
    let growth = last.rss_kib as f64 / base.rss_kib.max(1) as f64 - 1.0;
    println!(
        "soak: RSS {:.1} MiB at {:.0} s, {:.1} MiB at the end ({:+.1} %)",
        base.rss_kib as f64 / 1024.0,
        base.at.as_secs_f64(),
        last.rss_kib as f64 / 1024.0,
        growth * 100.0
    );
    if a.duration >= Duration::from_secs(300) && growth >= 0.10 {
        failures.push(format!("RSS grew {:.1} % after the first minute", growth * 100.0));
    }
    drop(daemon);
    if failures.is_empty() {
        println!("soak: nothing lost");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn sample(pid: u32, at: Duration) -> Result<Sample, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("the daemon is gone: {e}"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(|e| e.to_string())?.count();
    Ok(Sample { at, rss_kib, fds })
}

fn json(body: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}: {}", String::from_utf8_lossy(body)))
}

/// How many tasks the task API lists with this status.
async fn tasks_with(conn: &mut Conn, status: &str) -> Result<u64, String> {
    let (code, body) =
        conn.request(hyper::Method::GET, &format!("/api/v1/tasks?status={status}&per_page=1"), None).await?;
    if !code.is_success() {
        return Err(format!("GET /api/v1/tasks: {code}"));
    }
    Ok(json(&body)?["total"].as_u64().unwrap_or(0))
}

async fn last_seq(conn: &mut Conn) -> Result<u64, String> {
    let (_, body) = conn.request(hyper::Method::GET, "/health", None).await?;
    Ok(json(&body)?["last_event_seq"].as_u64().unwrap_or(0))
}

/// The swarm's agents, by name, sorted.
async fn agents(conn: &mut Conn) -> Result<Vec<String>, String> {
    let (code, body) = conn.request(hyper::Method::GET, "/api/swarms/soak/agents?limit=1000", None).await?;
    if !code.is_success() {
        return Err(format!("GET /api/swarms/soak/agents: {code}"));
    }
    let v = json(&body)?;
    let mut names: Vec<String> = v["agents"]
        .as_array()
        .ok_or("no agents list")?
        .iter()
        .filter_map(|a| a["name"].as_str().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

/// Sends tasks to the group's agents in turn at `rate` per second.
async fn send_tasks(
    addr: String,
    conn_no: usize,
    rate: f64,
    until: Instant,
    told: Arc<Told>,
    acked: Arc<Mutex<Vec<String>>>,
) -> Result<(), String> {
    let mut conn = Conn::open(&addr, None).await?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut n = conn_no;
    while Instant::now() < until {
        tick.tick().await;
        n += 1;
        let path = format!("/api/swarms/soak/agents/worker_{}/task", n % WORKERS + 1);
        let (code, body) = conn.request(hyper::Method::POST, &path, Some(format!(r#"{{"task":"soak {n}"}}"#))).await?;
        if code.is_success() {
            let id = json(&body)?["task_id"].as_str().ok_or("a 2xx task answer without task_id")?.to_string();
            acked.lock().expect("not poisoned").push(id);
            told.tasks_acked.fetch_add(1, Ordering::Relaxed);
        } else if code.is_client_error() && code != hyper::StatusCode::TOO_MANY_REQUESTS {
            return Err(format!("POST {path}: {code} {}", String::from_utf8_lossy(&body)));
        } else {
            told.tasks_refused.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Adds and removes agents at `rate` per second, keeping between
/// [`POOL`] and twice as many added ones.
async fn mutate(
    addr: String,
    rate: f64,
    until: Instant,
    told: Arc<Told>,
    pool: Arc<Mutex<VecDeque<String>>>,
) -> Result<(), String> {
    let mut conn = Conn::open(&addr, None).await?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut op, mut next) = (0u64, 0u64);
    while Instant::now() < until {
        tick.tick().await;
        op += 1;
        let len = pool.lock().expect("not poisoned").len();
        let add = len < POOL || (op % 2 == 0 && len < 2 * POOL);
        let (code, body) = if add {
            next += 1;
            let name = format!("dyn_{next}");
            let body = format!(r#"{{"name":"{name}","backend":"mock","incoming":["source"]}}"#);
            let r = conn.request(hyper::Method::POST, "/api/swarms/soak/agents", Some(body)).await?;
            if r.0.is_success() {
                pool.lock().expect("not poisoned").push_back(name);
                told.adds_acked.fetch_add(1, Ordering::Release);
            }
            r
        } else {
            let name = pool.lock().expect("not poisoned").front().cloned().expect("the pool is not empty");
            let r = conn.request(hyper::Method::DELETE, &format!("/api/swarms/soak/agents/{name}"), None).await?;
            if r.0.is_success() {
                pool.lock().expect("not poisoned").pop_front();
            }
            r
        };
        if code.is_success() {
            told.mutations_acked.fetch_add(1, Ordering::Relaxed);
        } else if code.is_client_error() && code != hyper::StatusCode::TOO_MANY_REQUESTS {
            return Err(format!("a mutation was refused: {code} {}", String::from_utf8_lossy(&body)));
        } else {
            told.mutations_refused.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Reads each acknowledged task back (16 connections), waiting up to 30 s
/// for the last ones to end: (ended ok, failed with a reason, not ended).
async fn check_tasks(addr: &str, ids: Vec<String>) -> Result<(u64, u64, Vec<String>), String> {
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (ids, next, addr) = (ids.clone(), next.clone(), addr.to_string());
        set.spawn(async move {
            let mut conn = Conn::open(&addr, None).await?;
            let (mut ok, mut failed, mut lost) = (0u64, 0u64, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(id) = ids.get(i) else { break };
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let (code, body) = conn.request(hyper::Method::GET, &format!("/api/v1/tasks/{id}"), None).await?;
                    let v = if code.is_success() { json(&body)? } else { serde_json::Value::Null };
                    match v["status"].as_str() {
                        Some("ok") => ok += 1,
                        Some("error") if v["content"].as_str().is_some_and(|c| !c.is_empty()) => failed += 1,
                        _ if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                        _ => lost.push(format!("{id}: {code} {}", String::from_utf8_lossy(&body))),
                    }
                    break;
                }
            }
            Ok::<_, String>((ok, failed, lost))
        });
    }
    let (mut ok, mut failed, mut lost) = (0, 0, Vec::new());
    while let Some(r) = set.join_next().await {
        let (o, f, l) = r.map_err(|e| e.to_string())??;
        ok += o;
        failed += f;
        lost.extend(l);
    }
    Ok((ok, failed, lost))
}

/// What one subscriber saw.
struct Seen {
    adds: u64,
    lagged: u64,
}

/// Follows the swarm's `agent_added` events until the load has stopped and
/// it has seen every acknowledged add (or 30 s more have passed); on a lag
/// notice it reconnects from where it was.
async fn subscriber(
    addr: String,
    told: Arc<Told>,
    stop: Arc<AtomicBool>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<Seen, String> {
    let mut seen = Seen { adds: 0, lagged: 0 };
    let mut last: Option<u64> = None;
    let mut ready = Some(ready);
    loop {
        let since = last.map(|s| format!("&since={s}")).unwrap_or_default();
        let url = format!("ws://{addr}/ws/events?swarm=soak&event_type=agent_added{since}");
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.map_err(|e| format!("subscribe: {e}"))?;
        if let Some(r) = ready.take() {
            let _ = r.send(()).await;
        }
        let mut idle_since: Option<Instant> = None;
        loop {
            let m = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
            match m {
                Err(_) => {
                    // Quiet: done once the load has stopped and nothing is
                    // owed, or 30 s of quiet after that.
                    if stop.load(Ordering::Acquire) {
                        if told.adds_acked.load(Ordering::Acquire) == seen.adds {
                            return Ok(seen);
                        }
                        if idle_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(30) {
                            return Ok(seen);
                        }
                    }
                }
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                    if v["type"] == "lagged" {
                        seen.lagged += 1;
                        break;
                    }
                    let seq = v["seq"].as_u64().ok_or_else(|| format!("an event without seq: {t}"))?;
                    if last.is_some_and(|l| seq <= l) {
                        return Err(format!("event {seq} after {}: out of order or repeated", last.unwrap_or(0)));
                    }
                    last = Some(seq);
                    seen.adds += 1;
                    idle_since = None;
                }
                Ok(Some(Ok(_))) => {}
                Ok(_) => break,
            }
        }
    }
}
