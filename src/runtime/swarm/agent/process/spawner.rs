//! The one thread that forks every child the runtime starts, so that a
//! child dies with the daemon even if it ignores its stdin closing.
//!
//! `PR_SET_PDEATHSIG` sends its signal when the *thread* that forked the
//! child ends, not the process: a child forked from one of tokio's blocking
//! threads (which come and go) would be SIGKILLed when that thread retires.
//! So every spawn is handed over a bounded channel to one long-lived std
//! thread, which lives as long as the process and forks there.
//!
//! Guarantees:
//! * every child is forked by the spawner thread, with `PR_SET_PDEATHSIG =
//!   SIGKILL` set before it execs: a kill -9 of the daemon kills each direct
//!   child (its grandchildren are the restart's sweep, `groups.rs`);
//! * a child whose parent died before the signal was set (the race between
//!   fork and prctl) exits at once instead of running orphaned;
//! * the child is registered with the caller's tokio runtime (its pipes and
//!   its reaping), whichever runtime that is;
//! * at most [`QUEUE`] spawn requests wait; a caller beyond that blocks (it
//!   is on the blocking pool, never an async worker).

use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use nix::sys::signal::Signal;
use nix::unistd::{Pid, getpid, getppid};

/// Spawn requests that may wait for the spawner thread.
const QUEUE: usize = 64;

/// One spawn: the command, the runtime its child belongs to, and where to
/// answer.
struct Request {
    cmd: tokio::process::Command,
    runtime: tokio::runtime::Handle,
    reply: SyncSender<std::io::Result<tokio::process::Child>>,
}

static SPAWNER: OnceLock<Result<SyncSender<Request>, String>> = OnceLock::new();

/// Spawns `cmd` from the spawner thread with the parent-death signal set.
/// Blocking: call it from a blocking thread inside a tokio runtime.
pub(crate) fn spawn(mut cmd: tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
    let parent = getpid();
    // SAFETY: the closure runs between fork and exec in the child; it makes
    // only async-signal-safe system calls (prctl, getppid) and allocates
    // nothing on its success path.
    unsafe {
        cmd.pre_exec(move || die_with_parent(parent));
    }
    let spawner = SPAWNER.get_or_init(start).as_ref().map_err(|e| std::io::Error::other(e.clone()))?;
    let (reply, answer) = sync_channel(1);
    spawner.send(Request { cmd, runtime, reply }).map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer.recv().map_err(|_| std::io::Error::other("the spawner thread dropped a spawn request"))?
}

/// In the forked child (a `pre_exec` hook): SIGKILL when the thread that
/// forked it (so its process) ends; and if `parent` is already gone, do not
/// run at all. Async-signal-safe: prctl and getppid, no allocation on the
/// success path. The bench's own spawner (`hive bench chaos`) uses it too.
pub fn die_with_parent(parent: Pid) -> std::io::Result<()> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
    if getppid() != parent {
        return Err(std::io::Error::other("the parent died before its child could start"));
    }
    Ok(())
}

fn start() -> Result<SyncSender<Request>, String> {
    let (tx, rx) = sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("hive-spawner".into())
        .spawn(move || serve(rx))
        .map_err(|e| format!("cannot start the spawner thread: {e}"))?;
    Ok(tx)
}

/// The spawner thread: forks each request in its caller's runtime. It never
/// ends while the process runs (the sender is static), so the children's
/// parent-death signal fires only when the daemon does.
fn serve(rx: Receiver<Request>) {
    for Request { mut cmd, runtime, reply } in rx {
        let child = {
            let _enter = runtime.enter();
            cmd.spawn()
        };
        // A caller that is gone (its thread panicked) leaves no process behind.
        if let Err(std::sync::mpsc::SendError(Ok(child))) = reply.send(child)
            && let Some(pid) = child.id()
        {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}
