//! Benchmarks of the `stdio` backend with real child processes, release mode
//! (run with `cargo bench --bench stdio`).
//!
//! * `jsonl_throughput/hive`: stdout lines per second through one child,
//!   pipelined. One iteration is one `run_task` of `"100000"` to the flood
//!   agent (`examples/flood_agent.rs`), which answers with 100 000 `token`
//!   lines (written in 64 KiB chunks) and a `result`; it ends when `run_task`
//!   has seen the result. Every token goes pipe → line reader → JSON parse →
//!   agent actor → `agent_output` event on the bus → `run_task`'s subscriber.
//!   Throughput is `Elements(100_000)`. Target: ≥ 100 000 lines/s.
//!   `jsonl_throughput/direct_pipe` is the floor on this machine: the same
//!   child read by a plain tokio task that splits lines and parses each one
//!   with `serde_json`, no runtime in between.
//!   Before the measurement, one run with a side subscriber reports how many
//!   token events a subscriber that does no work of its own missed (`Lagged`,
//!   the bus's `max_lag` is 4096) while the result still arrived.
//! * `spawn_ready_kill_100/flood_agent`: 100 children one after the other,
//!   each `add_agent` (spawn) → `ready` (state `idle`) → `remove_agent`
//!   (graceful stop: `shutdown` line, exit, reaped). One iteration is 100
//!   children (`Elements(100)`). Per-child p50/p99 of spawn, spawn→ready,
//!   stop and the total are printed (stderr) from every child timed, warm-up
//!   included. The same loop is then run once, outside criterion, with a
//!   mock agent (no process: the runtime's own share) and with
//!   `actors/echo.py` (Python's start-up dominates it; the interpreter is
//!   resolved first, so a pyenv shim's extra ~100 ms is not counted).
//! * `restart_after_kill9/hive`: SIGKILL to the child (pid from
//!   `agent_status`) until the agent is back: `restarts` incremented, a new
//!   pid, state `idle` (the new child printed `ready`). The swarm's
//!   intensity is 1 000 000 restarts per second, so it never gives up.
//!   Also printed: when the restart's events were seen (`agent_exited`,
//!   `agent_started`, `agent_status` ready), which splits the time into
//!   noticing the death, respawning, and the new child starting.
//!   `restart_after_kill9/direct_startup`: the flood agent's own start-up,
//!   spawned with `std::process::Command` (own process group, piped stdio,
//!   like the runtime does) until its first stdout line. Overhead of the
//!   runtime = hive − direct, printed for p50 and for p99 (a difference of
//!   percentiles, not a percentile of differences). Target: p50 overhead
//!   under 10 ms.
//!
//! Every wait is a check of the real state under a deadline (30 s, then the
//! benchmark panics with the agent's status), re-checked whenever an event
//! arrives on the bus and at least every millisecond; nothing relies on a
//! sleep being long enough.
//!
//! **How the flood agent binary is found.** `cargo bench --bench stdio` does
//! not build examples (only the selected bench target), and `env!("CARGO_BIN_EXE_..")`
//! exists for `[[bin]]` targets only. So the benchmark runs
//! `cargo build --release --example flood_agent --message-format=json` itself
//! at start-up (a no-op when it is up to date; cargo has released its build
//! lock by the time it runs a bench), and takes the executable path from
//! cargo's own artifact message, which stays right whatever
//! `CARGO_TARGET_DIR` says. If that build fails (the crate
//! does not compile at the moment) a previously built
//! `<target>/<profile>/examples/flood_agent` next to this bench is used, with a
//! warning. Setting `HIVE_FLOOD_AGENT=/path/to/binary` skips the build. Run
//! as a test (`cargo test --all-targets` passes no `--bench`), it builds the
//! example in the dev profile instead, which that command has already built:
//! a test run never compiles the whole tree a second time in release mode.
//!
//! Everything runs on one tokio runtime (multi-thread, 2 workers); each
//! benchmark starts one [`Hive`] and reuses it for all its iterations. The
//! reference runs (one lag check, the mock and Python loops) are not criterion
//! benchmarks, so a name filter on the command line does not skip them.

use std::io::{BufRead, BufReader as StdBufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hive::events::{Event, EventKind, OutputKind};
use hive::runtime::AgentState;
use hive::task::TaskEnd;
use hive::{Hive, HiveOptions, SwarmHandle};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// Token lines per `jsonl_throughput` iteration.
const LINES: u64 = 100_000;
/// Children per `spawn_ready_kill_100` iteration.
const CHILDREN: usize = 100;
/// How long any wait may take before the benchmark fails.
const DEADLINE: Duration = Duration::from_secs(30);
/// Longest time between two checks of a waited-for state.
const POLL: Duration = Duration::from_millis(1);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

// ------------------------------------------------------------ the flood agent

/// The flood agent's executable (built once per run; see the file's docs).
fn flood_agent() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| match std::env::var_os("HIVE_FLOOD_AGENT") {
        Some(p) => PathBuf::from(p),
        None => build_flood_agent(),
    })
}

fn build_flood_agent() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // criterion passes `--bench` under `cargo bench`, and nothing under `cargo test`.
    let bench = std::env::args().any(|a| a == "--bench");
    let out = Command::new(cargo)
        .args(["build", "--example", "flood_agent", "--message-format=json-render-diagnostics"])
        .args(bench.then_some("--release"))
        .arg("--manifest-path")
        .arg(&manifest)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output();
    let built = out.as_ref().ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "flood_agent")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
    });
    if let Some(p) = built {
        return p;
    }
    // target/<profile>/deps/stdio-<hash> → target/<profile>/examples/flood_agent
    let exe = std::env::current_exe().expect("bench executable path");
    let old = exe.parent().and_then(Path::parent).map(|d| d.join("examples").join("flood_agent"));
    match old.filter(|p| p.is_file()) {
        Some(p) => {
            eprintln!("warning: building the flood agent failed ({out:?}); using {}", p.display());
            p
        }
        None => panic!("cannot build examples/flood_agent: {out:?}"),
    }
}

fn flood_command() -> Value {
    json!([flood_agent().to_str().expect("UTF-8 path")])
}

/// `python3 actors/echo.py`, with the interpreter resolved once: `python3` on
/// `PATH` may be a wrapper (a pyenv shim costs another ~100 ms per start).
fn echo_command() -> Value {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output();
    let python = out
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("actors/echo.py");
    json!([python, script.to_str().expect("UTF-8 path")])
}

// ------------------------------------------------------------ helpers

/// Starts a runtime and a swarm from a JSON spec.
async fn start_swarm(spec: Value) -> (Hive, SwarmHandle) {
    let hive = Hive::start(HiveOptions::default()).await.expect("hive starts");
    let spec = hive::config::parse_json_value(&spec, &hive.validate_options()).expect("valid spec");
    let swarm = hive.start_swarm(spec).await.expect("swarm starts");
    (hive, swarm)
}

/// Waits until `done` holds: checked now, then again whenever events arrive
/// on `rx` and at least every [`POLL`]; each event seen meanwhile is passed
/// to `seen`. Panics with the agent's status after [`DEADLINE`].
async fn wait_until(
    rx: &mut broadcast::Receiver<Arc<Event>>,
    swarm: &SwarmHandle,
    agent: &str,
    what: &str,
    seen: &mut dyn FnMut(&Event),
    mut done: impl AsyncFnMut() -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    while !done().await {
        if Instant::now() >= deadline {
            let st = swarm.agent_status(agent).await;
            panic!("timed out after {DEADLINE:?} waiting for {what}; {agent}: {st:#?}");
        }
        if let Ok(Ok(e)) = tokio::time::timeout(POLL, rx.recv()).await {
            seen(&e);
        }
        drain(rx, seen);
    }
    drain(rx, seen); // the events of the state just seen, if not yet passed on
}

/// Passes every event already waiting on `rx` to `seen`.
fn drain(rx: &mut broadcast::Receiver<Arc<Event>>, seen: &mut dyn FnMut(&Event)) {
    loop {
        match rx.try_recv() {
            Ok(e) => seen(&e),
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// Waits until `agent` is `idle` (its child printed `ready`).
async fn wait_ready(rx: &mut broadcast::Receiver<Arc<Event>>, swarm: &SwarmHandle, agent: &str) {
    let done = async || swarm.agent_status(agent).await.is_ok_and(|st| st.state == AgentState::Idle);
    wait_until(rx, swarm, agent, "ready", &mut |_| {}, done).await;
}

/// The `q` quantile (nearest rank) of some durations.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// p50 and p99 of a set of durations (None when there are none, e.g. when
/// a filter on the command line skipped the benchmark).
fn p50_p99(samples: &[Duration]) -> Option<(Duration, Duration)> {
    let mut v = samples.to_vec();
    v.sort();
    (!v.is_empty()).then(|| (quantile(&v, 0.5), quantile(&v, 0.99)))
}

fn report(label: &str, samples: &[Duration]) -> Option<(Duration, Duration)> {
    let r = p50_p99(samples);
    if let Some((p50, p99)) = r {
        eprintln!("  {label:<28} n = {:>5}   p50 = {:>11}   p99 = {:>11}", samples.len(), ms(p50), ms(p99));
    }
    r
}

// ------------------------------------------------------------ jsonl_throughput

/// One `run_task` of [`LINES`] tokens; checks the result came back.
async fn flood_once(swarm: &SwarmHandle) {
    let out = swarm.run_task("flood", &LINES.to_string(), DEADLINE).await.expect("task ends");
    assert_eq!(out, TaskEnd::Completed { content: LINES.to_string() });
}

/// One run with a side subscriber that only counts: how many token events a
/// subscriber on this bus misses at this rate, and whether the result comes.
async fn lag_check(hive: &Hive, swarm: &SwarmHandle) {
    let mut rx = hive.events().subscribe();
    let counter = tokio::spawn(async move {
        let (mut tokens, mut lagged) = (0u64, 0u64);
        loop {
            match rx.recv().await {
                Ok(e) => match &e.kind {
                    EventKind::AgentOutput { output: OutputKind::Token, .. } => tokens += 1,
                    EventKind::TaskCompleted { .. } => return (tokens, lagged),
                    _ => {}
                },
                Err(RecvError::Lagged(n)) => lagged += n,
                Err(RecvError::Closed) => return (tokens, lagged),
            }
        }
    });
    let t0 = Instant::now();
    flood_once(swarm).await;
    let took = t0.elapsed();
    let (tokens, lagged) = counter.await.expect("counter");
    eprintln!(
        "jsonl_throughput: one run of {LINES} tokens took {} ({:.0} lines/s); the result arrived; a counting side \
         subscriber received {tokens} token events and missed {lagged} events to Lagged",
        ms(took),
        LINES as f64 / took.as_secs_f64()
    );
}

/// The floor: the flood agent read by a plain task, each line parsed.
struct DirectPipe {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl DirectPipe {
    async fn start() -> Self {
        let mut child = tokio::process::Command::new(flood_agent())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn flood agent");
        let stdin = child.stdin.take().expect("piped");
        let stdout = tokio::io::BufReader::with_capacity(64 << 10, child.stdout.take().expect("piped"));
        let mut pipe = Self { child, stdin, lines: stdout.lines() };
        let ready = pipe.lines.next_line().await.expect("read").expect("ready line");
        assert!(ready.contains("ready"), "{ready}");
        pipe
    }

    async fn flood(&mut self) {
        let task = format!("{}\n", json!({"type": "task", "id": "t", "content": LINES.to_string(), "from": "user"}));
        self.stdin.write_all(task.as_bytes()).await.expect("write task");
        let mut tokens = 0;
        loop {
            let line = self.lines.next_line().await.expect("read").expect("a line before EOF");
            let v: Value = serde_json::from_str(&line).expect("JSON line");
            match v["type"].as_str() {
                Some("token") => tokens += 1,
                Some("result") => break,
                other => panic!("unexpected line type {other:?}"),
            }
        }
        assert_eq!(tokens, LINES);
    }

    async fn stop(mut self) {
        drop(self.stdin);
        self.child.wait().await.expect("flood agent exits");
    }
}

fn jsonl_throughput(c: &mut Criterion) {
    let rt = runtime();
    let spec = json!({"name": "flood", "agents": [{"name": "flood", "backend": "stdio", "command": flood_command()}]});
    let (hive, swarm) = rt.block_on(start_swarm(spec));
    let (hive_ref, swarm) = (&hive, &swarm);
    rt.block_on(async {
        let mut rx = hive_ref.events().subscribe();
        wait_ready(&mut rx, swarm, "flood").await;
        lag_check(hive_ref, swarm).await;
    });

    let mut g = c.benchmark_group("jsonl_throughput");
    g.throughput(Throughput::Elements(LINES)).sampling_mode(SamplingMode::Flat).sample_size(10);
    g.bench_function("hive", |b| b.to_async(&rt).iter(|| flood_once(swarm)));

    let mut pipe = rt.block_on(DirectPipe::start());
    let pipe_ref = &mut pipe;
    g.bench_function("direct_pipe", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let t0 = Instant::now();
                for _ in 0..iters {
                    pipe_ref.flood().await;
                }
                t0.elapsed()
            })
        })
    });
    g.finish();
    rt.block_on(pipe.stop());
    let st = rt.block_on(swarm.agent_status("flood")).expect("status");
    eprintln!("jsonl_throughput: flood agent completed {} tasks, {} failed", st.tasks_completed, st.tasks_failed);
    rt.block_on(hive.shutdown());
}

// ------------------------------------------------------------ spawn_ready_kill_100

/// How long each phase of one child's life took.
#[derive(Clone, Copy)]
struct Life {
    /// `add_agent` (the process is spawned; the agent is `starting`).
    spawn: Duration,
    /// From `add_agent` returning until the agent is `idle`.
    to_ready: Duration,
    /// `remove_agent` (graceful stop, process reaped).
    stop: Duration,
}

impl Life {
    fn total(&self) -> Duration {
        self.spawn + self.to_ready + self.stop
    }
}

/// Spawns one child as agent `name`, waits for `ready`, stops it.
async fn one_life(hive: &Hive, swarm: &SwarmHandle, name: &str, agent: &Value) -> Life {
    let mut spec = agent.clone();
    spec["name"] = name.into();
    let spec = hive::config::parse_agent_json(&spec).expect("valid agent");
    let mut rx = hive.events().subscribe();
    let t0 = Instant::now();
    swarm.add_agent(spec, vec![], vec![]).await.expect("agent added");
    let t1 = Instant::now();
    wait_ready(&mut rx, swarm, name).await;
    let t2 = Instant::now();
    swarm.remove_agent(name).await.expect("agent removed");
    let t3 = Instant::now();
    Life { spawn: t1 - t0, to_ready: t2 - t1, stop: t3 - t2 }
}

/// [`CHILDREN`] lives one after the other; records each; returns the total.
async fn lives(hive: &Hive, swarm: &SwarmHandle, agent: &Value, next: &mut u64, out: &mut Vec<Life>) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..CHILDREN {
        *next += 1;
        let life = one_life(hive, swarm, &format!("c{next}"), agent).await;
        total += life.total();
        out.push(life);
    }
    total
}

fn report_lives(title: &str, lives: &[Life]) {
    if lives.is_empty() {
        return;
    }
    eprintln!("{title}: per child, over {} children", lives.len());
    let col = |f: fn(&Life) -> Duration| lives.iter().map(f).collect::<Vec<_>>();
    report("spawn (add_agent)", &col(|l| l.spawn));
    report("spawn returned -> ready", &col(|l| l.to_ready));
    report("stop (remove_agent)", &col(|l| l.stop));
    report("total spawn -> ready -> stop", &col(Life::total));
}

fn spawn_ready_kill_100(c: &mut Criterion) {
    let rt = runtime();
    let (hive, swarm) = rt.block_on(start_swarm(json!({"name": "spawner", "agents": []})));
    let (hive_ref, swarm) = (&hive, &swarm);
    let flood = json!({"backend": "stdio", "command": flood_command()});
    let flood = &flood;
    let state = Mutex::new((0u64, Vec::new()));
    let state = &state;

    let mut g = c.benchmark_group("spawn_ready_kill_100");
    g.throughput(Throughput::Elements(CHILDREN as u64)).sampling_mode(SamplingMode::Flat).sample_size(10);
    g.bench_function("flood_agent", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let (mut next, mut recorded) = std::mem::take(&mut *state.lock().unwrap());
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += lives(hive_ref, swarm, flood, &mut next, &mut recorded).await;
            }
            *state.lock().unwrap() = (next, recorded);
            total
        })
    });
    g.finish();
    let (mut next, recorded) = std::mem::take(&mut *state.lock().unwrap());
    report_lives("spawn_ready_kill_100/flood_agent", &recorded);

    // References, run once: the same life of a mock agent (no process: the
    // runtime's own share), and of the Python echo agent.
    let mut mock = Vec::new();
    let took = rt.block_on(lives(hive_ref, swarm, &json!({"backend": "mock"}), &mut next, &mut mock));
    report_lives(&format!("spawn_ready_kill_100/mock_agent (once, 100 lives in {})", ms(took)), &mock);
    let echo = json!({"backend": "stdio", "command": echo_command()});
    let mut lives_echo = Vec::new();
    let took = rt.block_on(lives(hive_ref, swarm, &echo, &mut next, &mut lives_echo));
    report_lives(&format!("spawn_ready_kill_100/python_echo (once, 100 children in {})", ms(took)), &lives_echo);
    rt.block_on(hive.shutdown());
}

// ------------------------------------------------------------ restart_after_kill9

/// When the events of one restart were seen, from the SIGKILL on.
#[derive(Default, Clone, Copy)]
struct RestartPhases {
    /// `agent_exited` (the runtime noticed the death and reaped the child).
    exited: Option<Duration>,
    /// `agent_started` (the new incarnation spawned its child).
    started: Option<Duration>,
    /// `agent_status` `ready` (the new child printed `ready`).
    ready: Option<Duration>,
    /// The waited-for state: `restarts` + 1, a new pid, `idle`.
    back: Duration,
}

/// SIGKILLs `agent`'s child; returns how long until the agent is back, and
/// when its restart events were seen on the bus.
async fn kill_and_recover(hive: &Hive, swarm: &SwarmHandle, agent: &str) -> RestartPhases {
    let before = swarm.agent_status(agent).await.expect("status");
    let pid = before.pid.expect("a running child has a pid");
    let mut rx = hive.events().subscribe();
    let mut phases = RestartPhases::default();
    let t0 = Instant::now();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9 the child");
    let mut seen = |e: &Event| {
        if e.agent.as_deref() != Some(agent) {
            return;
        }
        let at = Some(t0.elapsed());
        match &e.kind {
            EventKind::AgentExited { .. } => phases.exited = phases.exited.or(at),
            EventKind::AgentStarted { .. } => phases.started = phases.started.or(at),
            EventKind::AgentStatus { state: "ready" } => phases.ready = phases.ready.or(at),
            _ => {}
        }
    };
    let done = async || {
        let st = swarm.agent_status(agent).await;
        st.is_ok_and(|st| {
            st.restarts > before.restarts && st.state == AgentState::Idle && st.pid.is_some_and(|p| p != pid)
        })
    };
    wait_until(&mut rx, swarm, agent, "the restart", &mut seen, done).await;
    phases.back = t0.elapsed();
    phases
}

/// The flood agent's own start-up, spawned directly: how long `spawn()`
/// itself took, and how long until the child's first stdout line.
fn direct_startup() -> (Duration, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(flood_agent())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn flood agent");
    let spawned = t0.elapsed();
    let mut first = String::new();
    StdBufReader::new(child.stdout.take().expect("piped")).read_line(&mut first).expect("read ready");
    let took = t0.elapsed();
    assert!(first.contains("ready"), "{first}");
    drop(child.stdin.take()); // end of stdin: the agent exits
    assert!(child.wait().expect("reaped").success());
    (spawned, took)
}

fn restart_after_kill9(c: &mut Criterion) {
    let rt = runtime();
    let spec = json!({
        "name": "killed",
        "supervision": {"max_restarts": 1_000_000, "max_seconds": 1},
        "agents": [{"name": "k", "backend": "stdio", "command": flood_command()}],
    });
    let (hive, swarm) = rt.block_on(start_swarm(spec));
    let (hive_ref, swarm) = (&hive, &swarm);
    rt.block_on(async {
        let mut rx = hive_ref.events().subscribe();
        wait_ready(&mut rx, swarm, "k").await;
    });
    let restarts = Mutex::new(Vec::new());
    let startups = Mutex::new(Vec::new());
    let (restarts_ref, startups_ref) = (&restarts, &startups);

    let mut g = c.benchmark_group("restart_after_kill9");
    g.sample_size(50); // ~1.5 ms an iteration: 100 linear samples need more than 5 s
    g.bench_function("hive", |b| {
        b.to_async(&rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let phases = kill_and_recover(hive_ref, swarm, "k").await;
                restarts_ref.lock().unwrap().push(phases);
                total += phases.back;
            }
            total
        })
    });
    g.bench_function("direct_startup", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (spawned, took) = direct_startup();
                startups_ref.lock().unwrap().push((spawned, took));
                total += took;
            }
            total
        })
    });
    g.finish();

    let st = rt.block_on(swarm.agent_status("k")).expect("status");
    let swarm_state = rt.block_on(swarm.status()).expect("swarm status").state;
    eprintln!("restart_after_kill9: {} restarts, agent {}, swarm {swarm_state:?}", st.restarts, st.state.as_str());
    let restarts = restarts.into_inner().unwrap();
    let col = |f: &dyn Fn(&RestartPhases) -> Option<Duration>| restarts.iter().filter_map(f).collect::<Vec<_>>();
    report("kill -9 -> agent_exited", &col(&|p| p.exited));
    report("agent_exited -> agent_started", &col(&|p| p.started?.checked_sub(p.exited?)));
    report("agent_started -> ready event", &col(&|p| p.ready?.checked_sub(p.started?)));
    let hive_times = report("kill -9 -> idle again (hive)", &col(&|p| Some(p.back)));
    let startups = startups.into_inner().unwrap();
    report("direct: spawn() call", &startups.iter().map(|s| s.0).collect::<Vec<_>>());
    let own_times = report("own start-up (direct)", &startups.iter().map(|s| s.1).collect::<Vec<_>>());
    if let (Some((r50, r99)), Some((s50, s99))) = (hive_times, own_times) {
        let (o50, o99) = (r50.saturating_sub(s50), r99.saturating_sub(s99));
        eprintln!("  runtime overhead = hive - direct: p50 = {}, p99 = {}", ms(o50), ms(o99));
    }
    rt.block_on(hive.shutdown());
}

criterion_group!(benches, jsonl_throughput, spawn_ready_kill_100, restart_after_kill9);
criterion_main!(benches);
