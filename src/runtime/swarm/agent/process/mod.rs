//! One OS child process speaking JSONL (a stdio agent, a standalone worker,
//! or an object whose handler is a program): spawned in its own process group,
//! read and written by tasks that never block the owning actor, stopped
//! gracefully (`shutdown` line → SIGTERM to the group → SIGKILL), and always
//! reaped.
//!
//! Guarantees:
//! * every stdout line is bounded (`max_line_bytes`); stderr lines too; the
//!   owner parses each line with its own protocol (`protocol.rs` for agents);
//! * the child's events reach the owner through one bounded queue
//!   ([`queue`]) that the readers wait on: a child that writes faster than
//!   its owner reads is slowed (its pipe fills), and the memory it can take
//!   is bounded by the queue, whatever it writes;
//! * the owner learns of the exit only after the stdout lines written before
//!   it were delivered, however long the owner takes to handle them (stdout
//!   is read to EOF, or until it is silent for a short grace if a process
//!   that left the group holds it);
//! * when the leader exits, the rest of its process group is killed: no
//!   orphaned grandchildren;
//! * dropping the handle kills the group (an owner that is killed leaks nothing);
//! * the child is forked by the spawner thread (`spawner.rs`) and dies with
//!   the daemon, even one killed with -9; its group is recorded in the data
//!   directory while it runs (`groups.rs`), so that a restarted daemon kills
//!   what it forked.

pub(crate) mod allow;
pub(crate) mod groups;
pub(crate) mod launch;
pub(crate) mod lines;
pub(crate) mod protocol;
pub(crate) mod queue;
pub(crate) mod spawner;

use std::fmt;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use lines::{Line, LineReader};
use protocol::ToChild;
use queue::{EventQueue, Wake};

/// Default bound of a stdout line (PROTOCOLS.md §1).
pub(crate) const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Bound of a stderr line.
const MAX_STDERR_LINE: usize = 64 << 10;
/// Lines waiting to be written to the child's stdin.
const STDIN_QUEUE: usize = 1024;
/// How long stdout may stay silent after the exit before the exit is
/// reported without its EOF. The group is SIGKILLed at the exit, so the pipe
/// closes at once unless a process that left the group holds it; this
/// bounds the wait for that case only.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How long stdout may stay closed while the process runs before it counts as dead.
const CLOSED_STDOUT_GRACE: Duration = Duration::from_millis(500);

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExitInfo {
    /// Exit code, if it exited.
    pub code: Option<i32>,
    /// Signal number, if a signal ended it.
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// Exited on its own with status 0.
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exited with code {c}"),
            (None, Some(s)) => match Signal::try_from(s) {
                Ok(sig) => write!(f, "killed by signal {s} ({})", sig.as_str()),
                Err(_) => write!(f, "killed by signal {s}"),
            },
            (None, None) => f.write_str("exited"),
        }
    }
}

/// What the process reports to its owner.
#[derive(Debug)]
pub(crate) enum ChildEvent {
    /// A stdout line, without its newline; the owner parses it with its
    /// protocol (agents: [`protocol::parse`]).
    Stdout(Vec<u8>),
    /// A stdout line over the bound was discarded.
    StdoutTooLong(usize),
    /// A stderr line (lossy UTF-8; over-long ones cut).
    Stderr(String),
    /// Stdout closed while the process kept running.
    StdoutClosed,
    /// The process exited (after its stdout tail).
    Exited(ExitInfo),
}

/// What to run.
pub(crate) struct SpawnSpec {
    /// Program and arguments.
    pub(crate) argv: Vec<String>,
    /// Environment for the child.
    pub(crate) env: Vec<(String, String)>,
    /// Working directory.
    pub(crate) cwd: Option<String>,
    /// Bound of a stdout line.
    pub(crate) max_line_bytes: usize,
    /// Where the child's process group is recorded while it runs.
    pub(crate) groups: groups::ChildGroups,
}

/// A running (or exited, not yet dropped) child.
pub(crate) struct ChildProcess {
    pgid: Pid,
    stdin: mpsc::Sender<Vec<u8>>,
    exit: watch::Receiver<Option<ExitInfo>>,
    events: EventQueue,
    /// The stdin writer and the stdout and stderr readers: owned here, so
    /// they end with the process handle. The waiter is not among them: it
    /// reaps the child and reports the exit (after the last stdout line),
    /// and ends when the child does.
    _io: tokio::task::JoinSet<()>,
}

impl ChildProcess {
    /// Spawns the child in a new process group (from the spawner thread:
    /// it dies with the daemon), records the group, and starts its I/O
    /// tasks; `wake` is called when its events wait (see
    /// [`take_events`](Self::take_events)). Blocking: call it on the
    /// blocking pool of a tokio runtime.
    pub(crate) fn spawn(spec: SpawnSpec, wake: Wake) -> Result<Self, String> {
        let program = spec.argv.first().ok_or("empty command")?;
        let mut cmd = Command::new(program);
        cmd.args(&spec.argv[1..])
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(false);
        if let Some(cwd) = &spec.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = spawner::spawn(cmd).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound if spec.cwd.as_ref().is_some_and(|d| !std::path::Path::new(d).is_dir()) => {
                format!("working directory '{}' does not exist", spec.cwd.as_deref().unwrap_or_default())
            }
            std::io::ErrorKind::NotFound => format!("command '{program}' not found"),
            std::io::ErrorKind::PermissionDenied => format!("command '{program}' is not executable"),
            _ => format!("cannot run '{program}': {e}"),
        })?;
        let pid = child.id().ok_or("the child exited before it could be tracked")?;
        let pgid = Pid::from_raw(pid as i32);
        let record = spec.groups.record(pid);
        let (stdin_tx, mut stdin_rx) = mpsc::channel::<Vec<u8>>(STDIN_QUEUE);
        let (exit_tx, exit_rx) = watch::channel(None);
        let (sink, events) = queue::channel(wake);

        let mut io = tokio::task::JoinSet::new();
        let mut stdin = child.stdin.take().expect("piped");
        io.spawn(async move {
            while let Some(line) = stdin_rx.recv().await {
                if stdin.write_all(&line).await.is_err() || stdin.flush().await.is_err() {
                    break; // the child closed stdin or exited; its exit is reported by the waiter
                }
            }
        });

        let stdout = child.stdout.take().expect("piped");
        io.spawn(read_stdout(stdout, spec.max_line_bytes, sink.clone(), exit_rx.clone()));

        let stderr = child.stderr.take().expect("piped");
        let err_sink = sink.clone();
        io.spawn(async move {
            let mut reader = LineReader::new(BufReader::new(stderr), MAX_STDERR_LINE);
            while let Ok(Some(line)) = reader.next().await {
                let e = ChildEvent::Stderr(match line {
                    Line::Complete(b) => String::from_utf8_lossy(&b).into_owned(),
                    Line::TooLong(n) => format!("(a stderr line of {n} bytes was discarded)"),
                });
                if !err_sink.send(e).await {
                    return;
                }
            }
        });

        tokio::spawn(async move {
            let status = child.wait().await;
            let info = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    ExitInfo { code: s.code(), signal: s.signal() }
                }
                Err(_) => ExitInfo { code: None, signal: None },
            };
            // The leader is gone: kill what it left in its group. The stdout
            // reader reports the exit, after the last line.
            let _ = killpg(pgid, Signal::SIGKILL);
            groups::ChildGroups::forget(record).await;
            let _ = exit_tx.send(Some(info));
        });

        Ok(Self { pgid, stdin: stdin_tx, exit: exit_rx, events, _io: io })
    }

    /// Takes up to `max` of the child's waiting events, in order (stdout,
    /// stderr, and the exit last). Call it on each wake-up; see [`queue`].
    pub(crate) fn take_events(&mut self, max: usize) -> Vec<ChildEvent> {
        self.events.take(max)
    }

    /// The process (group) id.
    pub(crate) fn pid(&self) -> u32 {
        self.pgid.as_raw() as u32
    }

    /// Writes a line; waits while the stdin queue is full (backpressure).
    /// Returns false if the child no longer reads.
    pub(crate) async fn send(&self, line: &ToChild<'_>) -> bool {
        self.send_line(line.encode()).await
    }

    /// Writes an encoded, `\n`-terminated line of any protocol; waits while
    /// the stdin queue is full. Returns false if the child no longer reads.
    pub(crate) async fn send_line(&self, line: Vec<u8>) -> bool {
        self.stdin.send(line).await.is_ok()
    }

    /// Whether the process has exited.
    pub(crate) fn exited(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Sends a signal to the whole process group.
    pub(crate) fn signal(&self, sig: Signal) -> Result<(), String> {
        if self.exited().is_some() {
            return Err("the process has exited".into());
        }
        killpg(self.pgid, sig).map_err(|e| format!("cannot signal process group {}: {e}", self.pgid))
    }

    /// Waits for the exit, discarding the child's events meanwhile (the
    /// owner is stopping; a child writing while it shuts down is not blocked).
    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitInfo> {
        let (exit, events) = (&mut self.exit, &mut self.events);
        let exited = async {
            let r = exit.wait_for(Option::is_some).await.map(|v| *v);
            r.ok().flatten()
        };
        let discard = async {
            while events.recv().await.is_some() {}
            std::future::pending::<()>().await
        };
        tokio::time::timeout(timeout, async {
            tokio::select! {
                info = exited => info,
                () = discard => None,
            }
        })
        .await
        .ok()
        .flatten()
    }

    /// Stops the child: `shutdown` line, then SIGTERM to the group at half
    /// of `timeout`, then SIGKILL at `timeout`; returns once it is reaped.
    pub(crate) async fn stop(&mut self, timeout: Duration) -> Option<ExitInfo> {
        if let Some(info) = self.exited() {
            return Some(info);
        }
        let _ = killpg(self.pgid, Signal::SIGCONT); // a paused child cannot shut down
        let _ = self.stdin.try_send(ToChild::Shutdown.encode());
        if let Some(info) = self.wait_exit(timeout / 2).await {
            return Some(info);
        }
        let _ = killpg(self.pgid, Signal::SIGTERM);
        if let Some(info) = self.wait_exit(timeout - timeout / 2).await {
            return Some(info);
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
        self.wait_exit(Duration::from_secs(5)).await
    }
}

/// Reads stdout into the queue (waiting while the owner is behind: the
/// child's pipe fills), then reports the exit after the last line. Once the
/// exit is known, stdout is read until EOF or until it stays silent for
/// [`EXIT_GRACE`] (a process that left the group may hold it); time spent
/// waiting for the owner does not count as silence. EOF while the process
/// keeps running is reported as [`ChildEvent::StdoutClosed`].
async fn read_stdout(
    stdout: tokio::process::ChildStdout,
    max_line: usize,
    sink: queue::EventSender,
    mut exit: watch::Receiver<Option<ExitInfo>>,
) {
    let mut reader = LineReader::new(BufReader::with_capacity(64 << 10, stdout), max_line);
    let mut exited = false;
    loop {
        let next = if exited {
            match tokio::time::timeout(EXIT_GRACE, reader.next()).await {
                Ok(next) => next,
                Err(_) => break, // silent since the exit
            }
        } else {
            // `next` keeps its partial line in the reader: cancelling it loses nothing.
            tokio::select! {
                next = reader.next() => next,
                _ = exit.wait_for(Option::is_some) => {
                    exited = true;
                    continue;
                }
            }
        };
        let e = match next {
            Ok(Some(Line::Complete(bytes))) => ChildEvent::Stdout(bytes),
            Ok(Some(Line::TooLong(n))) => ChildEvent::StdoutTooLong(n),
            Ok(None) | Err(_) => break,
        };
        if !sink.send(e).await {
            return; // the owner is gone (it kills the child)
        }
    }
    // EOF: fine if the process is exiting; a fault if it keeps running.
    let known = tokio::time::timeout(CLOSED_STDOUT_GRACE, exit.wait_for(Option::is_some)).await.is_ok();
    if !known && !sink.send(ChildEvent::StdoutClosed).await {
        return;
    }
    // The owner kills a child that closed stdout: its exit follows.
    let info = match exit.wait_for(Option::is_some).await {
        Ok(v) => *v,
        Err(_) => None,
    };
    if let Some(info) = info {
        sink.send(ChildEvent::Exited(info)).await;
    }
}

impl Drop for ChildProcess {
    /// A handle dropped without [`stop`](Self::stop) (its agent died
    /// abruptly) leaves no process behind: the group is killed; the I/O
    /// tasks end with the handle.
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    // Real time (the crate's tokio has no test-util): the owner is away a
    // second longer than the grace; the assertion is on order, not speed.
    #[tokio::test]
    async fn the_exit_follows_every_stdout_line_however_long_the_owner_takes() {
        let script = "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done; exit 3";
        let spec = SpawnSpec {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            cwd: None,
            max_line_bytes: 1024,
            groups: groups::ChildGroups::none(),
        };
        let mut child = ChildProcess::spawn(spec, Arc::new(|| {})).unwrap();
        let _ = child.exit.wait_for(Option::is_some).await;
        // The owner is away longer than the grace while its queue is full.
        tokio::time::sleep(EXIT_GRACE + Duration::from_secs(1)).await;
        let mut lines = Vec::new();
        loop {
            let e = tokio::time::timeout(Duration::from_secs(10), child.events.recv()).await.unwrap().unwrap();
            match e {
                ChildEvent::Stdout(l) => lines.push(String::from_utf8(l).unwrap()),
                ChildEvent::Exited(info) => {
                    assert_eq!(info.code, Some(3));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(lines.len(), 300, "every line before the exit");
        assert_eq!(lines.last().map(String::as_str), Some("line299"));
    }
}
