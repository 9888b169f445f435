//! The process groups a daemon's children lead, recorded in its data
//! directory, and the sweep a restarted daemon makes of the ones a killed
//! run left behind.
//!
//! The spawner's parent-death signal (`spawner.rs`) kills each direct child
//! of a daemon killed with -9, but not what that child forked: a grandchild
//! in its group lives on. So each live child's group is recorded as one
//! empty file `<data_dir>/children/<pgid>.<start>` (`start`: the leader's
//! start time, field 22 of `/proc/PID/stat`), created once the child runs
//! and removed once it is reaped and its group killed. Creating or removing
//! a name is atomic: a crash at any moment leaves each record whole or
//! absent.
//!
//! Guarantees of [`sweep`], run at start before any child is spawned, after
//! the store is open (its lock proves no other daemon uses the directory):
//! * a group whose leader still runs with the recorded start time is
//!   SIGKILLed (a pid reused by another process has another start time and
//!   is spared);
//! * a group whose leader is gone is SIGKILLed if processes remain in it (a
//!   pid in use as a group id is never given to a new process, so they are
//!   the leader's);
//! * the sweep returns once no live (non-zombie) member of a killed group
//!   remains, or after [`SWEEP_WAIT`], and removes every record.
//!
//! Without a data directory nothing is recorded. The records survive a kill
//! of the daemon, not a power loss (they are not fsynced), after which no
//! child survives either.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The records' directory, inside the data directory.
pub(crate) const DIR: &str = "children";
/// How long a sweep waits for killed groups to be gone.
pub(crate) const SWEEP_WAIT: Duration = Duration::from_secs(5);

/// Where a runtime records its children's groups (nowhere without a data
/// directory). Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct ChildGroups {
    dir: Option<Arc<PathBuf>>,
}

/// One recorded group; [`ChildGroups::forget`] removes it.
pub(crate) struct GroupRecord {
    path: Option<PathBuf>,
}

impl ChildGroups {
    /// Records nothing.
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// Records in `data_dir` (its directory is created). Blocking.
    pub(crate) fn in_dir(data_dir: &Path) -> std::io::Result<Self> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir: Some(Arc::new(dir)) })
    }

    /// Records the group `pgid` leads. Blocking. A record that cannot be
    /// written is logged: the child runs, unswept if the daemon is killed.
    pub(crate) fn record(&self, pgid: u32) -> GroupRecord {
        let Some(dir) = &self.dir else { return GroupRecord { path: None } };
        let Some(start) = start_time(pgid) else {
            return GroupRecord { path: None }; // already gone: nothing to sweep
        };
        let path = dir.join(format!("{pgid}.{start}"));
        match std::fs::File::create(&path) {
            Ok(_) => GroupRecord { path: Some(path) },
            Err(e) => {
                tracing::warn!(pgid, error = %e, "cannot record a child's process group; it is not swept after a crash");
                GroupRecord { path: None }
            }
        }
    }

    /// Removes a record, once its group is reaped and killed.
    pub(crate) async fn forget(record: GroupRecord) {
        if let Some(path) = record.path {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

/// What a sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Records read.
    pub(crate) records: usize,
    /// Groups SIGKILLed.
    pub(crate) killed: usize,
    /// Members of killed groups still alive when the wait ran out.
    pub(crate) survivors: usize,
}

/// Kills the groups a previous run in `data_dir` recorded and left behind,
/// and removes their records. Blocking; see the module documentation.
pub(crate) fn sweep(data_dir: &Path) -> Swept {
    let dir = data_dir.join(DIR);
    let mut out = Swept::default();
    let Ok(entries) = std::fs::read_dir(&dir) else { return out };
    let mut killed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let parsed = entry.file_name().to_str().and_then(|n| {
            let (pgid, start) = n.split_once('.')?;
            Some((pgid.parse::<u32>().ok()?, start.parse::<u64>().ok()?))
        });
        out.records += 1;
        if let Some((pgid, start)) = parsed
            && pgid > 1
        {
            let kill = match start_time(pgid) {
                Some(now) => now == start,
                None => !members(pgid).is_empty(),
            };
            if kill && killpg(Pid::from_raw(pgid as i32), Signal::SIGKILL).is_ok() {
                killed.push(pgid);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    out.killed = killed.len();
    let deadline = Instant::now() + SWEEP_WAIT;
    loop {
        let left: usize = killed.iter().map(|g| members(*g).len()).sum();
        if left == 0 || Instant::now() >= deadline {
            out.survivors = left;
            return out;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The fields of `/proc/PID/stat` after the command (field 3 first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// A process's start time (clock ticks since boot), if it is alive (not a zombie).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    if matches!(f.first().map(String::as_str), Some("Z" | "X")) {
        return None;
    }
    f.get(19)?.parse().ok()
}

/// The live (non-zombie) processes whose group is `pgid`.
pub(crate) fn members(pgid: u32) -> Vec<u32> {
    let Ok(proc) = std::fs::read_dir("/proc") else { return Vec::new() };
    proc.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            stat_fields(*pid).is_some_and(|f| {
                !matches!(f.first().map(String::as_str), Some("Z" | "X"))
                    && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real group: `sh` leading it, a `sleep` grandchild in it.
    fn group() -> std::process::Child {
        use std::os::unix::process::CommandExt;
        std::process::Command::new("sh").args(["-c", "sleep 600 & wait"]).process_group(0).spawn().unwrap()
    }

    fn wait_members(pgid: u32, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while members(pgid).len() != n {
            assert!(Instant::now() < deadline, "group {pgid}: {:?}, wanted {n}", members(pgid));
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_sweep_kills_a_recorded_live_group_and_spares_one_whose_pid_was_reused() {
        let data = tempfile::tempdir().unwrap();
        let groups = ChildGroups::in_dir(data.path()).unwrap();
        let mut live = group();
        let pgid = live.id();
        wait_members(pgid, 2);
        let _kept = groups.record(pgid);
        // A record of a pid now used by another process (another start time).
        let mut other = group();
        wait_members(other.id(), 2);
        let reused = start_time(other.id()).unwrap() + 1;
        std::fs::File::create(data.path().join(DIR).join(format!("{}.{reused}", other.id()))).unwrap();
        let swept = sweep(data.path());
        assert_eq!(swept, Swept { records: 2, killed: 1, survivors: 0 });
        assert!(members(pgid).is_empty());
        let _ = live.wait();
        assert_eq!(members(other.id()).len(), 2, "the group of a reused pid is spared");
        assert_eq!(std::fs::read_dir(data.path().join(DIR)).unwrap().count(), 0, "every record is removed");
        let _ = killpg(Pid::from_raw(other.id() as i32), Signal::SIGKILL);
        let _ = other.wait();
    }

    #[test]
    fn a_sweep_kills_what_is_left_of_a_group_whose_leader_is_gone() {
        let data = tempfile::tempdir().unwrap();
        let groups = ChildGroups::in_dir(data.path()).unwrap();
        let mut leader = group();
        let pgid = leader.id();
        wait_members(pgid, 2);
        let _kept = groups.record(pgid);
        nix::sys::signal::kill(Pid::from_raw(pgid as i32), Signal::SIGKILL).unwrap();
        let _ = leader.wait();
        wait_members(pgid, 1); // the grandchild, orphaned in the group
        let swept = sweep(data.path());
        assert_eq!(swept, Swept { records: 1, killed: 1, survivors: 0 });
        assert!(members(pgid).is_empty());
    }
}
