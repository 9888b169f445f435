//! `hive bench chaos`: a durable daemon in a child process under a steady
//! load while a seeded fault schedule kill -9s its processes, and a checker
//! that then proves from what every client was told and from the stored
//! state that the daemon kept its promises; any violation makes the command
//! fail, naming the seed.
//!
//! The load: agent tasks to a swarm of stdio echo agents, resizes of its
//! scale group, `/ws/events` subscribers, and dispatches through the task
//! API (`POST /api/v1/tasks`) to three kinds of workers, each kind by a
//! capability only it has: reference ZeroMQ workers (`actors/zmq_worker.py`)
//! and reference HTTP workers (`actors/http_worker.py`), both the bench's
//! own child processes, and standalone JSONL workers (`actors/echo.py`)
//! that the daemon spawns (`[workers] spawn_allow`) and the bench spawns
//! again after each daemon restart (the daemon does not restore them). The
//! faults ([`schedule`]): kill -9 an agent, a JSONL worker (both daemon
//! children), a ZeroMQ or an HTTP worker (started again under a new id
//! after [`procs::RESTART_DELAY`]), or the daemon (restarted on the same
//! data directory and ports; clients and workers reconnect).
//!
//! Files: [`schedule`] (the faults), [`procs`] (the processes the bench
//! starts and `/proc`), [`load`] (the clients), [`check`] (the checker).
//!
//! Guarantees:
//! * the fault schedule (when, and what kind) is a pure function of
//!   `--seed`; which process a kill hits is too, by its index among those
//!   of its kind alive at that moment;
//! * every load task and every fleet's supervisor is owned by a `JoinSet`
//!   and ends when the run does; every wait has a deadline; what a client
//!   records is bounded by the run (one entry per request or seen event);
//!   every process the bench starts dies with it ([`procs::Spawner`]);
//! * the checker proves, from the clients' records, the task API, the
//!   stored events (the store opened after the daemon stopped) and `/proc`:
//!   each acknowledged agent task and dispatch ended exactly once (its
//!   record ended; one stored end event; `ok` with its own prompt echoed,
//!   on a worker of its transport, or failed with a reason code); the last
//!   acknowledged scale of the group is its size (or a later unacknowledged
//!   one); no stored sequence number was shown to a subscriber for another
//!   event; each subscriber saw every stored event between its first and
//!   last, unless told of a gap; no process of the run is left (any whose
//!   command line names the run's directory: the daemon, its agents and
//!   workers, the bench's workers); the swarm is running or failed with a
//!   reason.

mod check;
mod load;
mod procs;
mod schedule;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::watch;
use tokio::task::JoinSet;

use check::Violation;
use load::{Shared, Told};
use procs::{Daemon, DaemonSpec, Fleet, Spawner, children_of, processes_of};
use schedule::{FaultKind, schedule};

/// The reference echo agent (also the JSONL worker), the reference ZeroMQ
/// and HTTP workers: each run from its own file in the bench's directory
/// (so `/proc` tells their processes apart, and from any other).
const ECHO: &str = include_str!("../../../../actors/echo.py");
const ZMQ_WORKER: &str = include_str!("../../../../actors/zmq_worker.py");
const HTTP_WORKER: &str = include_str!("../../../../actors/http_worker.py");
/// The swarm under load.
const SWARM: &str = "chaos";
/// The scale group the mutations resize.
const GROUP: &str = "pool";

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
    /// Reference ZeroMQ workers (`actors/zmq_worker.py`, needs pyzmq and msgpack for `python3`).
    #[arg(long, default_value_t = 2)]
    zmq_workers: usize,
    /// Standalone JSONL workers the daemon spawns.
    #[arg(long, default_value_t = 2)]
    jsonl_workers: usize,
    /// Reference HTTP workers (`actors/http_worker.py`).
    #[arg(long, default_value_t = 1)]
    http_workers: usize,
    /// Dispatches per second through `POST /api/v1/tasks`, round robin over the kinds of workers.
    #[arg(long, default_value_t = 10)]
    dispatch_rate: u32,
    /// How long a worker pauses after each token it streams back (a
    /// dispatch is 4 tokens), so that kills meet dispatches in flight.
    #[arg(long, default_value = "50ms", value_parser = humantime::parse_duration)]
    token_delay: Duration,
    /// Each dispatch's `timeout_ms`.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    dispatch_timeout: Duration,
    /// Where the daemon's ZeroMQ gateway binds [default: tcp://127.0.0.1:<a free port>].
    #[arg(long, value_name = "ENDPOINT")]
    zmq: Option<String>,
}

/// A kind of worker that takes dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Transport {
    Zmq,
    Jsonl,
    Http,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Zmq => "ZeroMQ",
            Self::Jsonl => "JSONL",
            Self::Http => "HTTP",
        }
    }

    /// The capability only this kind's workers have.
    fn capability(self) -> &'static str {
        match self {
            Self::Zmq => "chaos-zmq",
            Self::Jsonl => "chaos-jsonl",
            Self::Http => "chaos-http",
        }
    }

    /// How its workers' ids start (a JSONL worker is `local/<id>` in the pool).
    fn worker_prefix(self) -> &'static str {
        match self {
            Self::Zmq => "chaos-z",
            Self::Jsonl => "local/",
            Self::Http => "chaos-h",
        }
    }

    fn runs_on(self, worker: &str) -> bool {
        worker.starts_with(self.worker_prefix())
    }
}

/// The run's files, in its temporary directory.
struct Files {
    dir: PathBuf,
    agent: PathBuf,
    jsonl: PathBuf,
    zmq: PathBuf,
    http: PathBuf,
}

impl Files {
    fn write(dir: PathBuf, a: &ChaosArgs) -> Result<Self, String> {
        let f = Files {
            agent: dir.join("agent_echo.py"),
            jsonl: dir.join("jsonl_echo.py"),
            zmq: dir.join("zmq_worker.py"),
            http: dir.join("http_worker.py"),
            dir,
        };
        let w = |p: &Path, text: &str| std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()));
        w(&f.agent, ECHO)?;
        // The ZeroMQ worker imports its tokenizer from its sibling echo.py.
        w(&f.dir.join("echo.py"), ECHO)?;
        w(&f.jsonl, ECHO)?;
        w(&f.zmq, ZMQ_WORKER)?;
        w(&f.http, HTTP_WORKER)?;
        w(&f.dir.join("swarm.toml"), &swarm_toml(&f.agent, a.agents))?;
        w(&f.dir.join("hive.toml"), &daemon_toml(&f.jsonl))?;
        std::fs::create_dir(f.logs()).map_err(|e| e.to_string())?;
        Ok(f)
    }

    /// The bench's workers' stderr, one file each.
    fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// Counts of what the fault schedule did.
#[derive(Default)]
struct Injected {
    hit: BTreeMap<&'static str, u64>,
    /// Faults that found nothing of their kind alive.
    skipped: BTreeMap<&'static str, u64>,
}

pub(crate) async fn run(a: ChaosArgs) -> Result<(), String> {
    super::raise_fd_limit();
    let faults = schedule(a.seed, a.duration, a.fault_every);
    println!(
        "chaos: seed {} for {:?}: {} agents at {} tasks/s, {} subscribers; dispatches at {}/s to {} ZeroMQ, {} JSONL, {} HTTP workers; {} faults scheduled",
        a.seed,
        a.duration,
        a.agents,
        a.rate,
        a.subscribers,
        a.dispatch_rate,
        a.zmq_workers,
        a.jsonl_workers,
        a.http_workers,
        faults.len()
    );
    if a.zmq_workers > 0 {
        python_has_zmq()?;
    }
    let tmp = tempfile::Builder::new().prefix("hive-chaos-").tempdir().map_err(|e| e.to_string())?;
    // Canonical: spawn_allow matches resolved paths, and `/proc` shows them.
    let files = Files::write(tmp.path().canonicalize().map_err(|e| e.to_string())?, &a)?;
    let marker = files.dir.to_string_lossy().into_owned();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())
    };
    let port = free_port()?;
    let zmq = match &a.zmq {
        Some(z) => z.clone(),
        None => format!("tcp://127.0.0.1:{}", free_port()?),
    };
    let spec = DaemonSpec { dir: &files.dir, port, zmq: &zmq };
    let spawner = Arc::new(Spawner::start().map_err(|e| format!("cannot start the spawner thread: {e}"))?);

    let mut daemon =
        tokio::task::block_in_place(|| Daemon::start(&spawner, &spec, Some(&files.dir.join("swarm.toml"))))?;
    load::spawn_jsonl_workers(&daemon.addr, &files.jsonl, a.token_delay, a.jsonl_workers).await?;
    println!("chaos: daemon pid {} at {}, gateway {zmq}", daemon.pid(), daemon.addr);
    let (addr_tx, addr_rx) = watch::channel(daemon.addr.clone());

    // The bench's own workers, each fleet tended by its supervisor.
    let zmq_fleet = Arc::new(Mutex::new(Fleet::new(
        Transport::Zmq,
        files.zmq.clone(),
        zmq.clone(),
        files.logs(),
        a.token_delay,
        a.zmq_workers,
    )));
    let http_fleet = Arc::new(Mutex::new(Fleet::new(
        Transport::Http,
        files.http.clone(),
        daemon.addr.clone(),
        files.logs(),
        a.token_delay,
        a.http_workers,
    )));
    let (fleet_stop_tx, fleet_stop) = watch::channel(false);
    let mut supervisors = JoinSet::new();
    for fleet in [&zmq_fleet, &http_fleet] {
        supervisors.spawn(supervise(fleet.clone(), spawner.clone(), fleet_stop.clone()));
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let told: Shared = Arc::new(Mutex::new(Told {
        seen: vec![BTreeMap::new(); a.subscribers],
        gaps: vec![Vec::new(); a.subscribers],
        ..Told::default()
    }));
    let transports: Vec<Transport> =
        [(Transport::Zmq, a.zmq_workers), (Transport::Jsonl, a.jsonl_workers), (Transport::Http, a.http_workers)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, _)| t)
            .collect();
    let mut clients = JoinSet::new();
    clients.spawn(load::task_client(a.agents, a.rate, addr_rx.clone(), told.clone(), stop_rx.clone()));
    clients.spawn(load::dispatch_client(
        transports,
        a.dispatch_rate,
        a.dispatch_timeout,
        addr_rx.clone(),
        told.clone(),
        stop_rx.clone(),
    ));
    clients.spawn(load::scale_client(a.seed, addr_rx.clone(), told.clone(), stop_rx.clone()));
    for i in 0..a.subscribers {
        clients.spawn(load::subscriber(i, addr_rx.clone(), told.clone(), stop_rx.clone()));
    }

    let started = Instant::now();
    let mut injected = Injected::default();
    for f in &faults {
        tokio::time::sleep_until((started + f.at).into()).await;
        let t = started.elapsed().as_secs_f64();
        let label = f.kind.label();
        let hit = match f.kind {
            FaultKind::Agent { pick } => kill_child(&daemon, &files.agent, pick),
            FaultKind::Worker { transport: Transport::Jsonl, pick } => kill_child(&daemon, &files.jsonl, pick),
            FaultKind::Worker { transport, pick } => {
                let fleet = if transport == Transport::Zmq { &zmq_fleet } else { &http_fleet };
                fleet.lock().expect("fleet").kill9(pick)
            }
            FaultKind::Daemon => {
                let pid = daemon.pid();
                daemon.kill9();
                println!("chaos: t={t:.1}s {label} {pid}");
                // Every direct child dies with it (parent-death signal);
                // what remains is the restart's sweep.
                let restarted = match tokio::task::block_in_place(|| Daemon::start(&spawner, &spec, None)) {
                    Ok(d) => load::spawn_jsonl_workers(&d.addr, &files.jsonl, a.token_delay, a.jsonl_workers)
                        .await
                        .map(|_| d),
                    Err(e) => Err(e),
                };
                daemon = match restarted {
                    Ok(d) => d,
                    Err(e) => {
                        // Not restarting on its own data is a broken promise too: keep the evidence.
                        let kept = tmp.keep();
                        return Err(format!(
                            "after a kill -9 at t={t:.1}s: {e} (seed {}; the run's directory is kept: {})",
                            a.seed,
                            kept.display()
                        ));
                    }
                };
                let _ = addr_tx.send(daemon.addr.clone());
                println!("chaos: daemon restarted: pid {} at {}", daemon.pid(), daemon.addr);
                *injected.hit.entry(label).or_default() += 1;
                continue;
            }
        };
        match hit {
            Some((pid, of)) => {
                println!("chaos: t={t:.1}s {label} {pid} (of {of})");
                *injected.hit.entry(label).or_default() += 1;
            }
            None => {
                println!("chaos: t={t:.1}s {label}: none alive, skipped");
                *injected.skipped.entry(label).or_default() += 1;
            }
        }
    }
    tokio::time::sleep_until((started + a.duration).into()).await;
    let _ = stop_tx.send(true);
    while clients.join_next().await.is_some() {}

    // The checks against the running daemon (the workers still take the
    // dispatches left in the queue).
    let mut violations: Vec<Violation> = Vec::new();
    let acked = told.lock().expect("told").tasks.clone();
    let outcomes = check::tasks(&acked, &addr_rx, &mut violations).await;
    let (scale_acked, scale_unknown) = {
        let t = told.lock().expect("told");
        (t.scale_acked, t.scale_unknown.clone())
    };
    let members = check::swarm(&addr_rx, scale_acked, &scale_unknown, &mut violations).await?;

    // Stop the workers, then the daemon; then: no process left, and the stored events.
    let _ = fleet_stop_tx.send(true);
    while supervisors.join_next().await.is_some() {}
    let mut stubborn = Vec::new();
    for fleet in [&zmq_fleet, &http_fleet] {
        stubborn.extend(tokio::task::block_in_place(|| fleet.lock().expect("fleet").stop(Duration::from_secs(10))));
    }
    let pid = daemon.pid();
    if !tokio::task::block_in_place(|| daemon.stop(Duration::from_secs(60))) {
        violations.push(Violation::DaemonHung { pid });
    }
    let orphan_deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = processes_of(&marker);
        if left.is_empty() || Instant::now() > orphan_deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    if !left.is_empty() {
        violations.push(Violation::Left { procs: left });
    }
    let records =
        std::fs::read_dir(files.dir.join("data").join(hive::runtime::CHILD_RECORDS)).map(|d| d.count()).unwrap_or(0);
    if records != 0 {
        violations.push(Violation::ChildRecords { n: records });
    }
    let data = files.dir.join("data");
    let stored = tokio::task::spawn_blocking(move || {
        let store = hive::store::Store::open(&data)?;
        store.query_events(&hive::store::EventQuery { limit: usize::MAX, ..Default::default() })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot read the stored events: {e}"))?;
    let t = told.lock().expect("told");
    let seen_events = check::stored(&stored, &t, &mut violations);

    let list =
        |m: &BTreeMap<&'static str, u64>| m.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ");
    println!("chaos: faults injected: {}", list(&injected.hit));
    if !injected.skipped.is_empty() {
        println!("chaos: faults skipped (nothing of their kind alive): {}", list(&injected.skipped));
    }
    for (target, o) in &outcomes {
        let name = target.map_or("agent tasks".to_string(), |t| format!("{} dispatches", t.label()));
        let failed = o.failed.iter().map(|(c, n)| format!("{c} ×{n}")).collect::<Vec<_>>().join(", ");
        println!(
            "chaos: {name}: acknowledged {} (not acknowledged {}), ended ok {}, cancelled {}, failed with a reason {} [{failed}]; {} took more than one attempt",
            o.acked,
            t.unacked.get(target).copied().unwrap_or(0),
            o.ok,
            o.cancelled,
            o.failed.values().sum::<u64>(),
            o.retried
        );
    }
    for fleet in [&zmq_fleet, &http_fleet] {
        let f = fleet.lock().expect("fleet");
        println!(
            "chaos: {} workers: {} restarts; {} exits no fault caused {:?}; killed at the stop (ignored SIGTERM): {:?}",
            f.transport().label(),
            f.restarts,
            f.own_exits,
            f.first_own_exits,
            stubborn.iter().filter(|id| f.transport().runs_on(id)).collect::<Vec<_>>()
        );
    }
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
        println!("chaos: verdict: {} violations (seed {})", violations.len(), a.seed);
        // The evidence stays: the store, the config, the workers' logs.
        let kept = tmp.keep();
        println!("chaos: the run's directory is kept: {}", kept.display());
        Err(format!("{} violations; reproduce with --seed {} --duration {:?}", violations.len(), a.seed, a.duration))
    }
}

/// Tends a fleet every 50 ms (reaps, restarts) until `stop`.
async fn supervise(fleet: Arc<Mutex<Fleet>>, spawner: Arc<Spawner>, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        let r = tokio::task::block_in_place(|| fleet.lock().expect("fleet").tend(&spawner));
        match r {
            Err(e) if !failing => {
                eprintln!("chaos: {e}");
                failing = true;
            }
            Err(_) => {}
            Ok(()) => failing = false,
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// kill -9 the `pick`-th child of the daemon running `script` (modulo):
/// (its pid, how many ran).
fn kill_child(daemon: &Daemon, script: &Path, pick: u64) -> Option<(u32, usize)> {
    let children = children_of(daemon.pid(), &script.to_string_lossy());
    let &pid = children.get((pick % children.len().max(1) as u64) as usize)?;
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    Some((pid, children.len()))
}

/// Fails unless `python3` imports zmq and msgpack (the ZeroMQ worker's).
fn python_has_zmq() -> Result<(), String> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import zmq, msgpack"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err("the ZeroMQ workers need pyzmq and msgpack for the python3 on PATH (`pip install -r \
             actors/requirements.txt`, or ./scripts/test's .venv first on PATH), or run with --zmq-workers 0"
            .into())
    }
}

/// The daemon's config: no limits in the way of the load, the JSONL worker
/// allowed, and short liveness bounds so a killed worker's tasks are
/// requeued quickly.
fn daemon_toml(jsonl: &Path) -> String {
    format!(
        "[server]\nrate_limit = {{ per_second = 100000000, burst = 100000000 }}\nmax_websockets = 100000\n\
         in_flight = {{ per_client = 0, per_worker = 0 }}\n\
         [workers]\nspawn_allow = [{:?}]\n\
         [gateway]\nheartbeat_timeout_ms = 2000\nhttp_heartbeat_timeout_ms = 3000\nlease_ms = 10000\ntask_timeout_ms = 30000\n",
        jsonl.display().to_string()
    )
}

fn swarm_toml(script: &Path, agents: usize) -> String {
    let command = format!("command = [\"python3\", {:?}]\nkill_timeout_ms = 1000\n", script.display().to_string());
    let mut s = format!(
        "name = \"{SWARM}\"\n[supervision]\nstrategy = \"one_for_one\"\nmax_restarts = 100000\nmax_seconds = 1\nbackoff_ms = 20\n"
    );
    for i in 0..agents {
        s.push_str(&format!("[[agents]]\nname = \"a{i}\"\nbackend = \"stdio\"\n{command}"));
    }
    s.push_str(&format!("[[agents]]\nname = \"{GROUP}\"\nbackend = \"stdio\"\nreplicas = 1\n{command}"));
    s
}
