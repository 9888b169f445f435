//! No child outlives a daemon killed with -9: its direct children die by
//! their parent-death signal, and a restart on the same data directory kills
//! what they forked into their process groups. Real `hive serve` processes,
//! real children, checked from `/proc`.

mod cli_common;

use std::time::{Duration, Instant};

use cli_common::{DEADLINE, Daemon};

/// A stdio agent that ignores its stdin closing and SIGTERM/SIGHUP, and
/// forks a grandchild (a subshell) into its group that does the same.
const STUBBORN: &str = r#"trap '' TERM HUP
( trap '' TERM HUP; while :; do sleep 1; done ) &
echo '{"type":"ready"}'
while :; do sleep 1; done
"#;

/// `/proc/PID/stat` after the command: (state, pgid).
fn stat(pid: u32) -> Option<(String, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
    Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
}

fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc").unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != "Z" && state != "X")
}

/// Live processes of group `pgid`.
fn members(pgid: u32) -> Vec<u32> {
    pids().into_iter().filter(|p| alive(*p) && stat(*p).is_some_and(|(_, g)| g == pgid)).collect()
}

/// Live processes whose command line has `marker` and that lead their group.
fn leaders(marker: &str) -> Vec<u32> {
    pids()
        .into_iter()
        .filter(|p| {
            alive(*p)
                && stat(*p).is_some_and(|(_, g)| g == *p)
                && std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == marker.as_bytes()))
        })
        .collect()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !ok() {
        assert!(Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_stubborn_child_dies_with_a_kill_9_daemon_and_the_restart_kills_its_grandchild() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("stubborn.sh");
    std::fs::write(&script, STUBBORN).unwrap();
    let marker = format!("orphan-marker-{}", std::process::id());
    let swarm = dir.path().join("s.toml");
    std::fs::write(
        &swarm,
        format!(
            "name = \"s\"\n[[agents]]\nname = \"stubborn\"\nbackend = \"stdio\"\ncommand = [\"sh\", \"{}\", \"{marker}\"]\nkill_timeout_ms = 500\n",
            script.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let mut daemon = Daemon::start(&["--data-dir", data_arg, "--swarm", swarm.to_str().unwrap()], &[], false);
    wait_until("the agent's process and its grandchild run", || {
        leaders(&marker).first().is_some_and(|l| members(*l).len() >= 2)
    });
    let leader = leaders(&marker)[0];
    let records = std::fs::read_dir(data.join("children")).unwrap().count();
    assert_eq!(records, 1, "the live child's group is recorded");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon.child.id() as i32), nix::sys::signal::Signal::SIGKILL)
        .unwrap();
    let _ = daemon.child.wait();
    wait_until("the direct child dies by its parent-death signal", || !alive(leader));
    // The grandchild is not the daemon's child: it lives on, in the group.
    let left = members(leader);
    assert!(!left.is_empty(), "the grandchild survives the daemon (the restart's job)");

    let restarted = Daemon::start(&["--data-dir", data_arg], &[], false);
    wait_until("the restart killed the group left behind", || members(leader).is_empty());
    // The restored swarm runs a new child, recorded in its place.
    wait_until("the restored agent runs again", || leaders(&marker).iter().any(|l| *l != leader));
    let fresh = leaders(&marker).into_iter().find(|l| *l != leader).unwrap();
    restarted.stop();
    wait_until("a graceful stop leaves no process of the new group", || members(fresh).is_empty());
    assert_eq!(std::fs::read_dir(data.join("children")).unwrap().count(), 0, "reaped groups are forgotten");
}
