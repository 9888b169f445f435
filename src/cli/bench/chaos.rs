//! `hive bench chaos`: a durable daemon in a child process under a steady
//! load (agent tasks, scale mutations, `/ws/events` subscribers) while a
//! fault schedule kill -9s its stdio children and the daemon itself
//! (restarted on the same data directory; clients reconnect). A checker then
//! reads what every client was told and the stored state, and counts
//! violations; any makes the command fail, naming the seed.
//!
//! Guarantees:
//! * the fault schedule (when, and what kind) is a pure function of
//!   `--seed`; which child a kill hits is too, by its index among the
//!   children alive at that moment;
//! * every load task is owned by one `JoinSet` and ends when the run does;
//!   every wait has a deadline; what a client records is bounded by the run
//!   (one entry per acknowledged request or seen event);
//! * the checker proves, from the clients' records, the task API, the stored
//!   events (the store opened after the daemon stopped) and `/proc`: each
//!   acknowledged task ended exactly once (one end event, its record ended,
//!   a failure with a code); the last acknowledged scale of the group is its
//!   size (or a later unacknowledged one); no stored sequence number was
//!   shown to a subscriber for another event; each subscriber saw every
//!   stored event between its first and last, unless told of a gap; no
//!   process of the run is left; the swarm is running or failed with a
//!   reason.
//!
//! Not covered yet: ZeroMQ, JSONL and HTTP workers, and dispatches.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::Conn;

/// The reference echo agent, run from the bench's directory (so `/proc`
/// tells its processes apart from any other).
const ECHO: &str = include_str!("../../../actors/echo.py");
/// The swarm under load.
const SWARM: &str = "chaos";
/// The scale group the mutations resize.
const GROUP: &str = "pool";
/// How long the end waits for acknowledged tasks to end.
const SETTLE: Duration = Duration::from_secs(120);
/// How long a daemon may take to listen.
const START: Duration = Duration::from_secs(60);

#[derive(Args, Debug)]
pub(crate) struct ChaosArgs {
    /// How long the load and the faults run.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// The seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stdio agents that take tasks.
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// Agent tasks per second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// `/ws/events` subscribers.
    #[arg(long, default_value_t = 3)]
    subscribers: usize,
    /// Mean time between faults.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    fault_every: Duration,
}

/// SplitMix64: the schedule's randomness, a pure function of the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FaultKind {
    /// kill -9 one stdio child of the daemon (the `pick`-th alive, modulo).
    KillChild { pick: u64 },
    /// kill -9 the daemon, then restart it on the same data directory.
    KillDaemon,
}

impl FaultKind {
    fn label(&self) -> &'static str {
        match self {
            Self::KillChild { .. } => "kill -9 child",
            Self::KillDaemon => "kill -9 daemon",
        }
    }
}

/// One fault: when (from the start) and what.
#[derive(Debug, Clone, Copy)]
struct Fault {
    at: Duration,
    kind: FaultKind,
}

/// The fault schedule of `seed` over `duration`: gaps uniform in
/// [0.5, 1.5] × `every`; one fault in four kills the daemon.
fn schedule(seed: u64, duration: Duration, every: Duration) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut at = Duration::ZERO;
    let mut out = Vec::new();
    let every_ms = every.as_millis().max(2) as u64;
    loop {
        at += Duration::from_millis(every_ms / 2 + rng.below(every_ms));
        if at >= duration {
            return out;
        }
        let kind = if rng.below(4) == 0 { FaultKind::KillDaemon } else { FaultKind::KillChild { pick: rng.next() } };
        out.push(Fault { at, kind });
    }
}

/// The daemon process and where it listens.
struct Daemon {
    child: Child,
    addr: String,
}

fn start_daemon(dir: &Path, swarm: Option<&Path>, port: u16) -> Result<Daemon, String> {
    use std::io::{BufRead, BufReader};
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--zmq", "tcp://127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(dir.join("hive.toml"))
        .env_remove("HIVE_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(s) = swarm {
        cmd.arg("--swarm").arg(s);
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot start the daemon: {e}"))?;
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the daemon's stderr to its end (the daemon's exit ends it).
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("hive: serving ") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    let deadline = Instant::now() + START;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(url) => {
                let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
                return Ok(Daemon { child, addr });
            }
            Err(_) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the daemon did not listen within {START:?}"));
            }
            Err(_) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("the daemon exited at its start: {status}"));
                }
            }
        }
    }
}

/// What the clients were told.
#[derive(Default)]
struct Told {
    /// Acknowledged tasks (202 with an id).
    tasks: Vec<String>,
    /// Task requests refused or unanswered (not acknowledged).
    tasks_unacked: u64,
    /// The last acknowledged scale count of the group, and the counts asked
    /// for since without an answer (one of them may have been applied).
    scale_acked: Option<i64>,
    scale_unknown: Vec<i64>,
    scales_acked: u64,
    /// Per subscriber: (seq → (event_type, timestamp)) seen, and gaps told.
    seen: Vec<BTreeMap<u64, (String, String)>>,
    gaps: Vec<Vec<(u64, u64)>>,
    duplicates: u64,
    out_of_order: u64,
    reconnects: u64,
}

type Shared = Arc<Mutex<Told>>;

/// Sends one request on a connection to the current daemon, reconnecting
/// once if the connection is gone; `Err` = no answer.
async fn request(
    conn: &mut Option<Conn>,
    addr: &watch::Receiver<String>,
    method: hyper::Method,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Value), String> {
    if conn.is_none() {
        let a = addr.borrow().clone();
        *conn = Some(Conn::open(&a, None).await?);
    }
    let c = conn.as_mut().expect("opened");
    match tokio::time::timeout(Duration::from_secs(30), c.request(method, path, body)).await {
        Ok(Ok((status, bytes))) => Ok((status.as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))),
        Ok(Err(e)) => {
            *conn = None;
            Err(e)
        }
        Err(_) => {
            *conn = None;
            Err("no answer within 30 s".into())
        }
    }
}

async fn task_client(
    agents: usize,
    rate: u32,
    addr: watch::Receiver<String>,
    told: Shared,
    stop: watch::Receiver<bool>,
) {
    let mut conn = None;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut n: u64 = 0;
    while !*stop.borrow() {
        tick.tick().await;
        n += 1;
        let agent = format!("a{}", n % agents.max(1) as u64);
        let body = serde_json::json!({ "task": format!("chaos{n}") }).to_string();
        let path = format!("/api/swarms/{SWARM}/agents/{agent}/task");
        match request(&mut conn, &addr, hyper::Method::POST, &path, Some(body)).await {
            Ok((202, v)) if v["task_id"].is_string() => {
                told.lock().expect("told").tasks.push(v["task_id"].as_str().unwrap_or_default().to_string())
            }
            _ => told.lock().expect("told").tasks_unacked += 1,
        }
    }
}

async fn scale_client(seed: u64, addr: watch::Receiver<String>, told: Shared, stop: watch::Receiver<bool>) {
    let mut conn = None;
    let mut rng = Rng(seed ^ 0x5CA1E);
    while !*stop.borrow() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let count = 1 + rng.below(4) as i64;
        let path = format!("/api/swarms/{SWARM}/agents/{GROUP}/scale");
        let body = serde_json::json!({ "count": count }).to_string();
        match request(&mut conn, &addr, hyper::Method::POST, &path, Some(body)).await {
            Ok((s, _)) if (200..300).contains(&s) => {
                let mut t = told.lock().expect("told");
                t.scale_acked = Some(count);
                t.scale_unknown.clear();
                t.scales_acked += 1;
            }
            Ok(_) => {} // refused: applied nothing
            Err(_) => told.lock().expect("told").scale_unknown.push(count),
        }
    }
}

async fn subscriber(i: usize, addr: watch::Receiver<String>, told: Shared, stop: watch::Receiver<bool>) {
    let mut last: Option<u64> = None;
    while !*stop.borrow() {
        let a = addr.borrow().clone();
        let since = last.map(|s| format!("?since={s}")).unwrap_or_default();
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(format!("ws://{a}/ws/events{since}")),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        told.lock().expect("told").reconnects += 1;
        let mut stopping = stop.clone();
        loop {
            let msg = tokio::select! {
                m = ws.next() => m,
                _ = stopping.wait_for(|s| *s) => None,
            };
            let Some(Ok(Message::Text(t))) = msg else { break };
            let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
            let mut told = told.lock().expect("told");
            match v["type"].as_str() {
                Some("lagged") => {
                    // The socket closes; the resume after `missed_from - 1` replays the rest.
                    if let Some(from) = v["missed_from"].as_u64() {
                        last = Some(from.saturating_sub(1));
                    }
                }
                Some("gap") => {
                    if let (Some(f), Some(t)) = (v["from"].as_u64(), v["to"].as_u64()) {
                        told.gaps[i].push((f, t));
                    }
                }
                _ => {
                    let Some(seq) = v["seq"].as_u64() else { continue };
                    if last.is_some_and(|l| seq <= l) {
                        if told.seen[i].contains_key(&seq) {
                            told.duplicates += 1;
                        } else {
                            told.out_of_order += 1;
                        }
                    }
                    let kind = v["event_type"].as_str().unwrap_or_default().to_string();
                    let ts = v["timestamp"].as_str().unwrap_or_default().to_string();
                    told.seen[i].insert(seq, (kind, ts));
                    last = Some(last.map_or(seq, |l| l.max(seq)));
                }
            }
        }
    }
}

/// Live processes (not zombies) whose command line mentions `marker`.
fn processes_of(marker: &str) -> Vec<(u32, u32)> {
    let Ok(proc) = std::fs::read_dir("/proc") else { return Vec::new() };
    proc.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            if matches!(f.first(), Some(&"Z") | Some(&"X")) {
                return None;
            }
            let ppid = f.get(1)?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmd).contains(marker).then_some((pid, ppid))
        })
        .collect()
}

pub(crate) async fn run(a: ChaosArgs) -> Result<(), String> {
    super::raise_fd_limit();
    let faults = schedule(a.seed, a.duration, a.fault_every);
    println!(
        "chaos: seed {} for {:?}: {} agents, {} tasks/s, {} subscribers, {} faults scheduled",
        a.seed,
        a.duration,
        a.agents,
        a.rate,
        a.subscribers,
        faults.len()
    );
    let tmp = tempfile::Builder::new().prefix("hive-chaos-").tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().to_path_buf();
    let script = dir.join("echo.py");
    std::fs::write(&script, ECHO).map_err(|e| e.to_string())?;
    let marker = script.to_string_lossy().into_owned();
    let swarm_file = dir.join("swarm.toml");
    std::fs::write(&swarm_file, swarm_toml(&script, a.agents)).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("hive.toml"),
        "[server]\nrate_limit = { per_second = 100000000, burst = 100000000 }\nmax_websockets = 100000\n\
         in_flight = { per_client = 0, per_worker = 0 }\n",
    )
    .map_err(|e| e.to_string())?;
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();

    let mut daemon = start_daemon(&dir, Some(&swarm_file), port)?;
    println!("chaos: daemon pid {} at {}", daemon.child.id(), daemon.addr);
    let (addr_tx, addr_rx) = watch::channel(daemon.addr.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let told: Shared = Arc::new(Mutex::new(Told {
        seen: vec![BTreeMap::new(); a.subscribers],
        gaps: vec![Vec::new(); a.subscribers],
        ..Told::default()
    }));
    let mut load = tokio::task::JoinSet::new();
    load.spawn(task_client(a.agents, a.rate, addr_rx.clone(), told.clone(), stop_rx.clone()));
    load.spawn(scale_client(a.seed, addr_rx.clone(), told.clone(), stop_rx.clone()));
    for i in 0..a.subscribers {
        load.spawn(subscriber(i, addr_rx.clone(), told.clone(), stop_rx.clone()));
    }

    let started = Instant::now();
    let mut injected: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut violations: Vec<String> = Vec::new();
    for f in &faults {
        tokio::time::sleep_until((started + f.at).into()).await;
        let t = started.elapsed().as_secs_f64();
        match f.kind {
            FaultKind::KillChild { pick } => {
                let daemon_pid = daemon.child.id();
                let children: Vec<u32> =
                    processes_of(&marker).into_iter().filter(|(_, ppid)| *ppid == daemon_pid).map(|(p, _)| p).collect();
                if children.is_empty() {
                    println!("chaos: t={t:.1}s kill -9 child: none alive, skipped");
                    continue;
                }
                let pid = children[(pick % children.len() as u64) as usize];
                println!("chaos: t={t:.1}s kill -9 child {pid} (of {})", children.len());
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
            FaultKind::KillDaemon => {
                let pid = daemon.child.id();
                let _ = daemon.child.kill();
                let _ = tokio::task::block_in_place(|| daemon.child.wait());
                println!("chaos: t={t:.1}s kill -9 daemon {pid}");
                // Every direct child dies with it (parent-death signal);
                // what remains is the restart's sweep.
                daemon = tokio::task::block_in_place(|| start_daemon(&dir, None, port))?;
                let _ = addr_tx.send(daemon.addr.clone());
                println!("chaos: daemon restarted: pid {} at {}", daemon.child.id(), daemon.addr);
            }
        }
        *injected.entry(f.kind.label()).or_default() += 1;
    }
    tokio::time::sleep_until((started + a.duration).into()).await;
    let _ = stop_tx.send(true);
    while load.join_next().await.is_some() {}

    // The checks against the running daemon.
    let mut conn = None;
    let tasks = told.lock().expect("told").tasks.clone();
    let mut statuses: HashMap<String, Value> = HashMap::new();
    let deadline = Instant::now() + SETTLE;
    for id in &tasks {
        loop {
            let r = request(&mut conn, &addr_rx, hyper::Method::GET, &format!("/api/v1/tasks/{id}"), None).await;
            let ended =
                matches!(&r, Ok((200, v)) if matches!(v["status"].as_str(), Some("ok" | "error" | "cancelled")));
            if ended || Instant::now() > deadline {
                if let Ok((_, v)) = r {
                    statuses.insert(id.clone(), v);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut ended_ok = 0u64;
    let mut ended_failed = 0u64;
    for id in &tasks {
        match statuses.get(id) {
            Some(v) if v["status"] == "ok" || v["status"] == "cancelled" => ended_ok += 1,
            Some(v) if v["status"] == "error" => {
                ended_failed += 1;
                if v["error_code"].as_str().is_none_or(str::is_empty) {
                    violations.push(format!("task {id} failed without a reason: {v}"));
                }
            }
            other => violations.push(format!("task {id} did not end within {SETTLE:?}: {other:?}")),
        }
    }
    let (_, swarm) = request(&mut conn, &addr_rx, hyper::Method::GET, &format!("/api/swarms/{SWARM}"), None)
        .await
        .map_err(|e| format!("the final daemon does not answer: {e}"))?;
    let state = swarm["status"].as_str().or(swarm["state"].as_str()).unwrap_or_default().to_string();
    if state != "running" && !(state == "failed" && swarm["failure"].as_str().is_some_and(|r| !r.is_empty())) {
        violations.push(format!("swarm {SWARM} is neither running nor failed with a reason: {swarm}"));
    }
    let (_, agents) = request(&mut conn, &addr_rx, hyper::Method::GET, &format!("/api/swarms/{SWARM}/agents"), None)
        .await
        .map_err(|e| format!("the final daemon does not answer: {e}"))?;
    let members = agents
        .as_array()
        .or(agents["agents"].as_array())
        .map(|l| l.iter().filter(|x| x["group"] == GROUP).count() as i64)
        .unwrap_or(-1);
    {
        let t = told.lock().expect("told");
        let mut allowed: BTreeSet<i64> = t.scale_unknown.iter().copied().collect();
        allowed.insert(t.scale_acked.unwrap_or(1));
        if !allowed.contains(&members) {
            violations.push(format!(
                "group {GROUP} has {members} members; the last acknowledged scale was {:?} (unanswered since: {:?})",
                t.scale_acked, t.scale_unknown
            ));
        }
    }
    drop(conn);

    // Stop the daemon, then: no process left, and the stored events.
    let pid = daemon.child.id();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
    let exit = tokio::task::block_in_place(|| wait_exit(&mut daemon.child, Duration::from_secs(60)));
    if !exit {
        violations.push(format!("the daemon {pid} did not stop within 60 s of SIGTERM"));
        let _ = daemon.child.kill();
        let _ = daemon.child.wait();
    }
    let orphan_deadline = Instant::now() + Duration::from_secs(10);
    let orphans = loop {
        let left = processes_of(&marker);
        if left.is_empty() || Instant::now() > orphan_deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if !orphans.is_empty() {
        violations.push(format!("processes of the run outlived the daemon: {orphans:?}"));
    }
    let records =
        std::fs::read_dir(dir.join("data").join(hive::runtime::CHILD_RECORDS)).map(|d| d.count()).unwrap_or(0);
    if records != 0 {
        violations.push(format!("{records} child process groups are still recorded after a clean stop"));
    }

    let data = dir.join("data");
    let stored = tokio::task::spawn_blocking(move || {
        let store = hive::store::Store::open(&data)?;
        store.query_events(&hive::store::EventQuery { limit: usize::MAX, ..Default::default() })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot read the stored events: {e}"))?;
    let mut by_seq: BTreeMap<u64, &hive::store::StoredEvent> = BTreeMap::new();
    for e in &stored {
        if by_seq.insert(e.seq, e).is_some() {
            violations.push(format!("sequence number {} is stored twice", e.seq));
        }
    }
    let mut ends: HashMap<&str, u64> = HashMap::new();
    let metas: Vec<Value> = stored.iter().map(|e| serde_json::from_str(&e.metadata).unwrap_or(Value::Null)).collect();
    for (e, m) in stored.iter().zip(&metas) {
        if matches!(e.event_type.as_str(), "task_completed" | "task_failed" | "task_cancelled")
            && let Some(id) = m["task_id"].as_str()
        {
            *ends.entry(id).or_default() += 1;
        }
    }
    for id in &tasks {
        let n = ends.get(id.as_str()).copied().unwrap_or(0);
        if n != 1 {
            violations.push(format!("task {id} has {n} stored end events (want exactly 1)"));
        }
    }
    let t = told.lock().expect("told");
    let mut seen_events = 0u64;
    for (i, seen) in t.seen.iter().enumerate() {
        seen_events += seen.len() as u64;
        for (seq, (kind, _)) in seen {
            if let Some(e) = by_seq.get(seq)
                && e.event_type != *kind
            {
                violations.push(format!(
                    "subscriber {i} was shown seq {seq} as {kind}, the store has it as {}: a sequence number used twice",
                    e.event_type
                ));
            }
        }
        let (Some(first), Some(last)) = (seen.keys().next(), seen.keys().next_back()) else { continue };
        let told_gap = |s: u64| t.gaps[i].iter().any(|(f, to)| (*f..=*to).contains(&s));
        let missed: Vec<u64> =
            by_seq.range(first..=last).map(|(s, _)| *s).filter(|s| !seen.contains_key(s) && !told_gap(*s)).collect();
        if !missed.is_empty() {
            violations.push(format!(
                "subscriber {i} missed {} stored events it was not told about (first: {:?})",
                missed.len(),
                &missed[..missed.len().min(5)]
            ));
        }
    }
    if t.duplicates > 0 {
        violations.push(format!("subscribers got {} duplicate events", t.duplicates));
    }
    if t.out_of_order > 0 {
        violations.push(format!("subscribers got {} events out of order", t.out_of_order));
    }

    println!(
        "chaos: faults injected: {}",
        injected.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ")
    );
    println!(
        "chaos: tasks acknowledged {} (not acknowledged {}), ended ok/cancelled {ended_ok}, failed with a reason {ended_failed}",
        tasks.len(),
        t.tasks_unacked
    );
    println!(
        "chaos: scales acknowledged {}, group size {members}; events stored {}, seen by subscribers {seen_events} over {} connections",
        t.scales_acked,
        stored.len(),
        t.reconnects
    );
    for v in violations.iter().take(50) {
        println!("chaos: VIOLATION {v}");
    }
    if violations.is_empty() {
        println!("chaos: verdict: clean (seed {})", a.seed);
        Ok(())
    } else {
        Err(format!("{} violations; reproduce with --seed {} --duration {:?}", violations.len(), a.seed, a.duration))
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn swarm_toml(script: &Path, agents: usize) -> String {
    let command = format!("command = [\"python3\", \"{}\"]\nkill_timeout_ms = 1000\n", script.display());
    let mut s = format!(
        "name = \"{SWARM}\"\n[supervision]\nstrategy = \"one_for_one\"\nmax_restarts = 100000\nmax_seconds = 1\nbackoff_ms = 20\n"
    );
    for i in 0..agents {
        s.push_str(&format!("[[agents]]\nname = \"a{i}\"\nbackend = \"stdio\"\n{command}"));
    }
    s.push_str(&format!("[[agents]]\nname = \"{GROUP}\"\nbackend = \"stdio\"\nreplicas = 1\n{command}"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_schedule_is_a_pure_function_of_the_seed() {
        let a = schedule(7, Duration::from_secs(60), Duration::from_secs(2));
        let b = schedule(7, Duration::from_secs(60), Duration::from_secs(2));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(a.len() > 20 && a.iter().any(|f| f.kind == FaultKind::KillDaemon));
        assert_ne!(format!("{a:?}"), format!("{:?}", schedule(8, Duration::from_secs(60), Duration::from_secs(2))));
    }
}
