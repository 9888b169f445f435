//! The daemon under test: `hive serve` in a child process (in memory, or
//! with a data directory in its temp dir; rate limit high enough never to
//! refuse, no budget of requests in flight, the bench swarm or the swarms a
//! scenario gives), stopped on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bench swarm: a sender and a receiver of routed messages, plus the
/// demo-sized status the HTTP bench reads.
pub(crate) const SWARM: &str = r#"
name = "bench"
[[agents]]
name = "source"
backend = "mock"
[[agents]]
name = "sink"
backend = "mock"
[[agents]]
name = "worker"
backend = "mock"
replicas = 3
[[objects]]
name = "board"
kind = "kv"
[topology]
source = ["sink", "worker", "board"]
"#;

/// Where the daemon under test keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// `--in-memory`.
    InMemory,
    /// A data directory (redb) in the daemon's temp dir.
    Durable,
}

/// A running daemon.
pub(crate) struct Daemon {
    child: Option<Child>,
    pub(crate) url: String,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `hive serve` with the bench swarm; waits until it listens.
    pub(crate) fn spawn() -> Result<Self, String> {
        Self::spawn_with(&[SWARM.to_string()])
    }

    /// Starts `hive serve` with these swarm files (TOML texts); waits until
    /// it listens (every swarm started).
    pub(crate) fn spawn_with(swarms: &[String]) -> Result<Self, String> {
        Self::spawn_with_config(swarms, "")
    }

    /// [`Self::spawn_with`], with more `[server]` keys (TOML lines).
    pub(crate) fn spawn_with_config(swarms: &[String], server: &str) -> Result<Self, String> {
        Self::spawn_in(swarms, server, Store::InMemory)
    }

    /// [`Self::spawn_with_config`], storing as `store` says.
    pub(crate) fn spawn_in(swarms: &[String], server: &str, store: Store) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = dir.path().join("hive.toml");
        let mut files = Vec::new();
        for (i, text) in swarms.iter().enumerate() {
            let file = dir.path().join(format!("swarm-{i}.toml"));
            std::fs::write(&file, text).map_err(|e| e.to_string())?;
            files.push("--swarm".into());
            files.push(file.into_os_string());
        }
        // The limiter stays in the path, with a quota no bench reaches; the
        // budget of requests in flight is off (a bench is one client).
        let cfg = format!(
            "[server]\nrate_limit = {{ per_second = 100000000, burst = 100000000 }}\nmax_websockets = 100000\n\
             in_flight = {{ per_client = 0, per_worker = 0 }}\n{server}"
        );
        std::fs::write(&config, cfg).map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(exe);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--zmq", "tcp://127.0.0.1:0"]);
        match store {
            Store::InMemory => cmd.arg("--in-memory"),
            Store::Durable => cmd.arg("--data-dir").arg(dir.path().join("data")),
        };
        let mut child = cmd
            .args(&files)
            .arg("--config")
            .arg(&config)
            .env_remove("HIVE_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the daemon: {e}"))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("hive: serving ") {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
                }
            }
        });
        // Thousands of agents take a while to start in a debug build.
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(u) => break u,
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    return Err("the daemon did not start listening within 120 s".into());
                }
                Err(_) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!("the daemon exited: {status}"));
                    }
                }
            }
        };
        eprintln!("bench: daemon pid {} at {url}", child.id());
        Ok(Self { child: Some(child), url, _dir: dir })
    }

    /// The daemon's process id.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let _ = c.wait();
        }
    }
}

/// Peak resident memory of a process in KiB (Linux `/proc`), if readable.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}
