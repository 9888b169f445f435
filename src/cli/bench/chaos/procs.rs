//! The processes the bench itself starts: the daemon and the ZeroMQ and
//! HTTP worker fleets, and what `/proc` says is left of a run.
//!
//! Guarantees:
//! * every process the bench starts is forked by one spawner thread that
//!   lives as long as the run, with `PR_SET_PDEATHSIG = SIGKILL`: if the
//!   bench dies, so do they (and the daemon's children with the daemon);
//! * a [`Daemon`] or [`Fleet`] dropped kills and reaps what it still runs;
//! * a fleet worker that exits (killed by a fault or on its own) is started
//!   again after [`RESTART_DELAY`] under a new id (`chaos-z0.1`, ...), so
//!   the daemon sees a new worker, as after a real supervisor's restart.

use std::collections::VecDeque;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid};

use super::Transport;

/// How long a daemon may take to listen.
const START: Duration = Duration::from_secs(60);
/// How long a dead fleet worker stays down before it is started again.
pub(super) const RESTART_DELAY: Duration = Duration::from_millis(500);
/// How long a spawn request may wait for the spawner thread.
const SPAWN_WAIT: Duration = Duration::from_secs(10);

type Request = (Command, SyncSender<io::Result<Child>>);

/// The thread that forks every process of the bench.
pub(super) struct Spawner {
    tx: Option<SyncSender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spawner {
    pub(super) fn start() -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Request>(16);
        let thread = std::thread::Builder::new().name("chaos-spawner".into()).spawn(move || serve(rx))?;
        Ok(Self { tx: Some(tx), thread: Some(thread) })
    }

    /// Starts `cmd` from the spawner thread; it dies with that thread.
    pub(super) fn spawn(&self, mut cmd: Command) -> io::Result<Child> {
        let parent = getpid();
        // SAFETY: the runtime's own hook, async-signal-safe (prctl,
        // getppid), run between fork and exec in the child.
        unsafe {
            cmd.pre_exec(move || hive::runtime::die_with_parent(parent));
        }
        let (reply, answer) = sync_channel(1);
        let tx = self.tx.as_ref().ok_or_else(|| io::Error::other("the spawner is stopped"))?;
        tx.send((cmd, reply)).map_err(|_| io::Error::other("the spawner thread is gone"))?;
        answer.recv_timeout(SPAWN_WAIT).map_err(|e| io::Error::other(format!("no spawn within {SPAWN_WAIT:?}: {e}")))?
    }
}

fn serve(rx: Receiver<Request>) {
    for (mut cmd, reply) in rx {
        let _ = reply.send(cmd.spawn());
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The daemon process and where it listens.
pub(super) struct Daemon {
    child: Child,
    reaped: bool,
    pub(super) addr: String,
    /// The last lines of its stderr (shown when it fails).
    tail: Arc<Mutex<VecDeque<String>>>,
}

/// How the daemon is started.
pub(super) struct DaemonSpec<'a> {
    pub(super) dir: &'a Path,
    pub(super) port: u16,
    pub(super) zmq: &'a str,
}

impl Daemon {
    /// Starts `hive serve` on the run's data directory and waits until it
    /// listens (at most [`START`]).
    pub(super) fn start(spawner: &Spawner, spec: &DaemonSpec<'_>, swarm: Option<&Path>) -> Result<Daemon, String> {
        use std::io::{BufRead, BufReader};
        // This very executable, even if a build replaced its file since.
        let mut cmd = Command::new("/proc/self/exe");
        if let Ok(exe) = std::env::current_exe() {
            cmd.arg0(exe);
        }
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", spec.port), "--zmq", spec.zmq])
            .arg("--data-dir")
            .arg(spec.dir.join("data"))
            .arg("--config")
            .arg(spec.dir.join("hive.toml"))
            .env_remove("HIVE_TOKEN")
            .env_remove("HIVE_WORKER_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(s) = swarm {
            cmd.arg("--swarm").arg(s);
        }
        let mut child = spawner.spawn(cmd).map_err(|e| format!("cannot start the daemon: {e}"))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let lines = tail.clone();
        // Reads the daemon's stderr to its end (the daemon's exit ends it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("hive: serving ") {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
                }
                let mut l = lines.lock().expect("tail");
                if l.len() == 20 {
                    l.pop_front();
                }
                l.push_back(line);
            }
        });
        let mut d = Daemon { child, reaped: false, addr: String::new(), tail };
        let deadline = Instant::now() + START;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(url) => {
                    d.addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
                    return Ok(d);
                }
                Err(_) if Instant::now() > deadline => {
                    return Err(format!("the daemon did not listen within {START:?}; its stderr: {}", d.tail()));
                }
                Err(_) => {
                    if let Ok(Some(status)) = d.child.try_wait() {
                        d.reaped = true;
                        return Err(format!("the daemon exited at its start: {status}; its stderr: {}", d.tail()));
                    }
                }
            }
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its last stderr lines, joined.
    pub(super) fn tail(&self) -> String {
        self.tail.lock().expect("tail").iter().cloned().collect::<Vec<_>>().join(" | ")
    }

    /// kill -9, and reap it.
    pub(super) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// SIGTERM, then waits at most `limit` for its exit (else kill -9):
    /// whether it stopped by itself.
    pub(super) fn stop(&mut self, limit: Duration) -> bool {
        let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGTERM);
        let stopped = wait_exit(&mut self.child, limit).is_some();
        if !stopped {
            self.kill9();
        }
        self.reaped = true;
        stopped
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill9();
        }
    }
}

/// Waits at most `limit` for `child` to exit.
pub(super) fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One place of a fleet: its current worker process, if any.
struct Slot {
    child: Option<Child>,
    /// Incarnations started so far (the id's suffix).
    started: u32,
    /// When the next incarnation is due (while `child` is None).
    due: Instant,
    /// The current worker was hit by a fault (its exit is expected).
    killed: bool,
    /// Exits in a row that no fault caused (the restart delay doubles with each).
    streak: u32,
}

/// The bench's own workers of one transport (ZeroMQ or HTTP), each a
/// reference worker script run with `python3` from the bench's PATH.
pub(super) struct Fleet {
    transport: Transport,
    script: PathBuf,
    /// The ZeroMQ endpoint or the daemon's address (host:port).
    target: String,
    /// Where each worker's stderr goes (`<id>.log`).
    logs: PathBuf,
    /// The pause after each token a worker streams back.
    token_delay: Duration,
    slots: Vec<Slot>,
    /// Incarnations started after the first ones.
    pub(super) restarts: u64,
    /// Exits no fault caused: how many, and the first few (worker id,
    /// status, the end of its stderr).
    pub(super) own_exits: u64,
    pub(super) first_own_exits: Vec<(String, String, String)>,
    stopped: bool,
}

impl Fleet {
    pub(super) fn new(
        transport: Transport,
        script: PathBuf,
        target: String,
        logs: PathBuf,
        token_delay: Duration,
        n: usize,
    ) -> Self {
        let now = Instant::now();
        let slots = (0..n).map(|_| Slot { child: None, started: 0, due: now, killed: false, streak: 0 }).collect();
        Self {
            transport,
            script,
            target,
            logs,
            token_delay,
            slots,
            restarts: 0,
            own_exits: 0,
            first_own_exits: Vec::new(),
            stopped: false,
        }
    }

    pub(super) fn transport(&self) -> Transport {
        self.transport
    }

    fn id(&self, slot: usize, incarnation: u32) -> String {
        format!("{}{slot}.{incarnation}", self.transport.worker_prefix())
    }

    fn command(&self, id: &str) -> Command {
        let mut cmd = Command::new("python3");
        cmd.arg(&self.script);
        match self.transport {
            Transport::Zmq => cmd.args(["--connect", &self.target, "--heartbeat-ms", "500"]),
            Transport::Http => {
                cmd.args(["--url", &format!("http://{}", self.target), "--wait", "5"]).args(["--heartbeat-ms", "500"])
            }
            Transport::Jsonl => unreachable!("JSONL workers are the daemon's children"),
        };
        let log = std::fs::File::create(self.logs.join(format!("{id}.log")));
        cmd.args(["--id", id, "--capabilities", self.transport.capability()])
            .args(["--token-delay-ms", &self.token_delay.as_millis().to_string()])
            .env_remove("HIVE_WORKER_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.map_or_else(|_| Stdio::null(), Stdio::from));
        cmd
    }

    /// Reaps the workers that exited and starts the ones due.
    pub(super) fn tend(&mut self, spawner: &Spawner) -> Result<(), String> {
        let now = Instant::now();
        for i in 0..self.slots.len() {
            if let Some(c) = self.slots[i].child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                let id = self.id(i, self.slots[i].started - 1);
                let own = !self.slots[i].killed;
                if own {
                    self.own_exits += 1;
                    if self.first_own_exits.len() < 3 {
                        let log = std::fs::read_to_string(self.logs.join(format!("{id}.log"))).unwrap_or_default();
                        let tail = log.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
                        self.first_own_exits.push((id, status.to_string(), tail));
                    }
                }
                let s = &mut self.slots[i];
                s.streak = if own { s.streak + 1 } else { 0 };
                s.child = None;
                s.due = now + RESTART_DELAY * 2u32.pow(s.streak.min(4));
            }
            if self.stopped || self.slots[i].child.is_some() || self.slots[i].due > now {
                continue;
            }
            let id = self.id(i, self.slots[i].started);
            let child = spawner
                .spawn(self.command(&id))
                .map_err(|e| format!("cannot start {} worker {id}: {e}", self.transport.label()))?;
            let s = &mut self.slots[i];
            if s.started > 0 {
                self.restarts += 1;
            }
            s.started += 1;
            s.child = Some(child);
            s.killed = false;
        }
        Ok(())
    }

    /// kill -9 the `pick`-th running worker (modulo): (its pid, how many ran).
    pub(super) fn kill9(&mut self, pick: u64) -> Option<(u32, usize)> {
        let alive: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None))))
            .collect();
        let &i = alive.get((pick % alive.len().max(1) as u64) as usize)?;
        let s = &mut self.slots[i];
        let c = s.child.as_mut()?;
        s.killed = true;
        let _ = c.kill();
        Some((c.id(), alive.len()))
    }

    /// Stops every worker (SIGTERM; SIGKILL past `limit`) and starts no
    /// more: the ids of those that had to be killed.
    pub(super) fn stop(&mut self, limit: Duration) -> Vec<String> {
        self.stopped = true;
        for s in &mut self.slots {
            if let Some(c) = &s.child {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + limit;
        let mut stubborn = Vec::new();
        for i in 0..self.slots.len() {
            let id = self.id(i, self.slots[i].started.saturating_sub(1));
            let Some(mut c) = self.slots[i].child.take() else { continue };
            if wait_exit(&mut c, deadline.saturating_duration_since(Instant::now())).is_none() {
                let _ = c.kill();
                let _ = c.wait();
                stubborn.push(id);
            }
        }
        stubborn
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for s in &mut self.slots {
            if let Some(mut c) = s.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Live processes (not zombies) whose command line mentions `marker`:
/// (pid, parent pid, command line).
pub(super) fn processes_of(marker: &str) -> Vec<(u32, u32, String)> {
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
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(marker).then(|| (pid, ppid, cmd.trim_end().to_string()))
        })
        .collect()
}

/// The running children of `parent` whose command line mentions `marker`.
pub(super) fn children_of(parent: u32, marker: &str) -> Vec<u32> {
    processes_of(marker).into_iter().filter(|(_, ppid, _)| *ppid == parent).map(|(p, _, _)| p).collect()
}
