//! Stdio agents with real child processes: the protocol, the lifecycle,
//! and every fault a child can commit (actors/misbehave.py).

mod common;
mod tools;

use std::time::Duration;

use common::*;
use hive::events::{EventKind, Level, OutputKind};
use hive::runtime::{AgentState, SwarmState};
use hive::task::TaskEnd;
use tools::Tool;

fn agent(name: &str, command: &str, extra: &str) -> String {
    format!("[[agents]]\nname = \"{name}\"\nbackend = \"stdio\"\ncommand = {command}\n{extra}\n")
}

fn swarm(name: &str, agents: &str, tail: &str) -> String {
    format!("name = \"{name}\"\n[supervision]\nmax_restarts = 5\nmax_seconds = 30\n{agents}\n{tail}")
}

fn misbehave(name: &str, mode: &str, extra: &str) -> String {
    agent(name, &format!("[\"python3\", \"actors/misbehave.py\", \"{mode}\"]"), extra)
}

const ECHO: &str = "[\"python3\", \"actors/echo.py\"]";

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// A process's state letter (R, S, T, Z ...).
fn proc_state(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.split_whitespace().next().map(String::from)
}

fn log_matching(events: &[std::sync::Arc<hive::events::Event>], who: &str, text: &str) -> Option<(Level, String)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Log { level, message } if e.agent.as_deref() == Some(who) && message.contains(text) => {
            Some((*level, message.clone()))
        }
        _ => None,
    })
}

async fn pid_of(swarm: &hive::SwarmHandle, agent: &str) -> u32 {
    eventually("a pid", || async { swarm.agent_status(agent).await.ok()?.pid }).await
}

#[tokio::test]
async fn echo_streams_tokens_then_the_result_with_hive_env() {
    let hive = hive().await;
    let extra = "model = \"m1\"\nskills = [\"skills/a.md\", \"skills/b.md\"]\nenv = { ECHO_TOKEN_DELAY_MS = \"1\" }";
    let swarm = hive.start_swarm(spec(&hive, &swarm("env", &agent("echo", ECHO, extra), ""))).await.unwrap();
    let mut rx = hive.events().subscribe_since(0);
    let out = swarm.run_task("echo", "hello stdio world", DEADLINE).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "hello stdio world".into() });
    let mut events = rx.backlog.clone();
    events.extend(until(&mut rx.live, |e| e.event_type() == "task_completed").await);
    let tokens: String = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentOutput { output: OutputKind::Token, content, .. } => Some(content.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(tokens, "hello stdio world");
    let (_, env) = log_matching(&events, "echo", "HIVE_AGENT=").expect("echo logs its environment");
    for want in ["HIVE_AGENT=echo", "HIVE_SWARM=env", "HIVE_MODEL=m1", "HIVE_SKILLS=skills/a.md:skills/b.md"] {
        assert!(env.contains(want), "{want} missing in {env}");
    }
    assert!(swarm.agent_status("echo").await.unwrap().pid.is_some());
    hive.shutdown().await;
}

#[tokio::test]
async fn forbidden_send_is_answered_with_denied_on_stdin() {
    let hive = hive().await;
    let agents = agent("relay", "[\"python3\", \"actors/relay.py\"]", "env = { RELAY_TO = \"target\" }")
        + &agent("target", ECHO, "");
    let swarm = hive.start_swarm(spec(&hive, &swarm("deny", &agents, ""))).await.unwrap();
    let mut rx = hive.events().subscribe();
    swarm.send_task("relay", "forbidden").await.unwrap();
    let events =
        until(&mut rx, |e| matches!(&e.kind, EventKind::Log { message, .. } if message.contains("denied"))).await;
    assert!(events.iter().any(|e| is(e, "route_denied", "relay")));
    let (level, _) = log_matching(&events, "relay", "denied").unwrap();
    assert_eq!(level, Level::Warning, "relay.py logs the denied line it got on stdin");
    assert_eq!(swarm.agent_status("target").await.unwrap().messages_received, 0);
    hive.shutdown().await;
}

#[tokio::test]
async fn cancel_reaches_the_child_and_the_next_task_runs() {
    let hive = hive().await;
    let extra = "env = { ECHO_TOKEN_DELAY_MS = \"200\" }";
    let swarm = hive.start_swarm(spec(&hive, &swarm("cancel", &agent("echo", ECHO, extra), ""))).await.unwrap();
    let mut rx = hive.events().subscribe();
    let slow = swarm.send_task("echo", "a b c d e f g h").await.unwrap();
    until(&mut rx, |e| matches!(&e.kind, EventKind::AgentOutput { output: OutputKind::Token, .. })).await;
    swarm.cancel_task("echo", &slow).await.unwrap();
    // echo.py answers the cancel with an error for a task that is no longer running: ignored, logged.
    let events =
        until(&mut rx, |e| matches!(&e.kind, EventKind::Log { message, .. } if message.contains("not running"))).await;
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::TaskCancelled { task_id } if *task_id == slow)));
    let out = swarm.run_task("echo", "next", DEADLINE).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "next".into() });
    hive.shutdown().await;
}

#[tokio::test]
async fn kill_9_fails_the_task_in_flight_keeps_queued_ones_and_restarts() {
    let hive = hive().await;
    let extra = "env = { ECHO_TOKEN_DELAY_MS = \"300\" }";
    let swarm = hive.start_swarm(spec(&hive, &swarm("k9", &agent("echo", ECHO, extra), ""))).await.unwrap();
    let mut rx = hive.events().subscribe();
    let first = swarm.send_task("echo", "one two three").await.unwrap();
    let second = swarm.send_task("echo", "after").await.unwrap();
    until(&mut rx, |e| matches!(&e.kind, EventKind::TaskStarted { task_id } if *task_id == first)).await;
    let pid = pid_of(&swarm, "echo").await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let events =
        until(&mut rx, |e| matches!(&e.kind, EventKind::TaskCompleted { task_id } if *task_id == second)).await;
    assert!(events.iter().any(|e| task_failed(e, &first, "agent_crashed")));
    let exited = events.iter().find(|e| is(e, "agent_exited", "echo")).expect("exit reported");
    assert!(exited.kind.message().contains("signal 9"), "{}", exited.kind.message());
    let st = swarm.agent_status("echo").await.unwrap();
    assert_eq!(st.restarts, 1);
    assert_ne!(st.pid, Some(pid));
    assert!(!alive(pid), "the killed child was reaped");
    hive.shutdown().await;
}

#[tokio::test]
async fn pause_stops_the_process_group_and_resume_continues_it() {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, &swarm("pause", &agent("echo", ECHO, ""), ""))).await.unwrap();
    swarm.run_task("echo", "warm up", DEADLINE).await.unwrap();
    let pid = pid_of(&swarm, "echo").await;
    assert_eq!(swarm.pause().await.unwrap(), 1);
    eventually("stopped", || async { (proc_state(pid).as_deref() == Some("T")).then_some(()) }).await;
    assert_eq!(swarm.agent_status("echo").await.unwrap().state, AgentState::Paused);
    let task = swarm.send_task("echo", "while paused").await.unwrap();
    assert_eq!(swarm.agent_status("echo").await.unwrap().inbox, 1, "a paused agent takes no task");
    assert_eq!(swarm.resume().await.unwrap(), 1);
    eventually("running", || async { (proc_state(pid).as_deref() != Some("T")).then_some(()) }).await;
    let mut rx = hive.events().subscribe_since(0);
    let done = rx.backlog.iter().any(|e| matches!(&e.kind, EventKind::TaskCompleted { task_id } if *task_id == task));
    if !done {
        until(&mut rx.live, |e| matches!(&e.kind, EventKind::TaskCompleted { task_id } if *task_id == task)).await;
    }
    hive.shutdown().await;
}

#[tokio::test]
async fn graceful_stop_escalates_to_sigkill_for_a_child_that_ignores_sigterm() {
    let hive = hive().await;
    let a = misbehave("stubborn", "ignore-sigterm", "kill_timeout_ms = 400");
    let swarm = hive.start_swarm(spec(&hive, &swarm("term", &a, ""))).await.unwrap();
    let pid = pid_of(&swarm, "stubborn").await;
    // Ready means its SIGTERM handler is installed.
    eventually("ready", || async {
        (swarm.agent_status("stubborn").await.unwrap().state == AgentState::Idle).then_some(())
    })
    .await;
    let mut rx = hive.events().subscribe();
    let started = std::time::Instant::now();
    hive.stop_swarm("term").await.unwrap();
    let events = until(&mut rx, |e| e.event_type() == "swarm_stopped").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let (_, msg) = log_matching(&events, "stubborn", "process").unwrap();
    assert!(msg.contains("signal 9"), "{msg}");
    assert!(!alive(pid));
    hive.shutdown().await;
}

#[tokio::test]
async fn grandchildren_of_an_exited_child_are_killed() {
    let hive = hive().await;
    let a = misbehave("forker", "fork-grandchildren", "restart = \"transient\"");
    let mut rx = hive.events().subscribe();
    let swarm = hive.start_swarm(spec(&hive, &swarm("fork", &a, ""))).await.unwrap();
    let events = until(&mut rx, |e| is(e, "agent_exited", "forker")).await;
    let (_, msg) = log_matching(&events, "forker", "grandchildren").unwrap();
    let pids: Vec<u32> = msg.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert_eq!(pids.len(), 3, "{msg}");
    for pid in pids {
        eventually("grandchild killed", || async { (!alive(pid)).then_some(()) }).await;
    }
    // Exit code 0 and transient: not restarted; the agent refuses new tasks.
    let exited = events.iter().find(|e| is(e, "agent_exited", "forker")).unwrap();
    assert_eq!(exited.kind.metadata()["restarting"], false);
    assert_eq!(swarm.agent_status("forker").await.unwrap().state, AgentState::Stopped);
    assert!(matches!(swarm.send_task("forker", "x").await, Err(hive::HiveError::Conflict(_))));
    hive.shutdown().await;
}

#[tokio::test]
async fn child_that_exits_at_once_in_a_loop_fails_the_swarm_by_intensity() {
    let hive = hive().await;
    let toml = format!(
        "name = \"loop\"\n[supervision]\nmax_restarts = 3\nmax_seconds = 60\n{}{}",
        misbehave("crasher", "exit-now", ""),
        agent("bystander", ECHO, "")
    );
    let mut rx = hive.events().subscribe();
    let _swarm = hive.start_swarm(spec(&hive, &toml)).await.unwrap();
    let events = until(&mut rx, |e| e.event_type() == "swarm_failed").await;
    let exits: Vec<_> = events.iter().filter(|e| is(e, "agent_exited", "crasher")).collect();
    assert_eq!(exits.len(), 4, "3 restarts allowed, the 4th exit gives up");
    assert!(exits.iter().all(|e| e.kind.message().contains("exited with code 3")));
    let summary = hive.swarm_summary("loop").await.unwrap();
    assert_eq!(summary.state, SwarmState::Failed);
    assert!(summary.failure_reason.unwrap().contains("crasher"));
    // The bystander's process was stopped with the swarm, not orphaned.
    let stopped = events.iter().any(|e| is(e, "agent_stopped", "bystander"));
    assert!(stopped);
    hive.shutdown().await;
}

#[tokio::test]
async fn a_command_that_does_not_exist_is_a_clear_start_error() {
    let hive = hive().await;
    let toml = swarm("nocmd", &agent("ghost", "[\"/definitely/not/here-hive\"]", ""), "");
    let err = hive.start_swarm(spec(&hive, &toml)).await.unwrap_err().to_string();
    assert!(err.contains("ghost") && err.contains("not found"), "{err}");
    let toml = swarm("nodir", &agent("lost", ECHO, "cwd = \"/no/such/dir\""), "");
    let err = hive.start_swarm(spec(&hive, &toml)).await.unwrap_err().to_string();
    assert!(err.contains("/no/such/dir"), "{err}");
    // Nothing was left registered.
    assert!(hive.list_swarms().await.unwrap().is_empty());
    hive.shutdown().await;
}

/// Sends a task to a misbehaving child after its fault and expects it
/// served, and the fault reported (stderr is read by its own task and may
/// trail the result, so the check waits on the event ring).
async fn survives(mode: &str, check: impl Fn(&[std::sync::Arc<hive::events::Event>]) -> bool) {
    let hive = hive().await;
    let swarm = hive.start_swarm(spec(&hive, &swarm("bad", &misbehave("m", mode, ""), ""))).await.unwrap();
    let out = swarm.run_task("m", "still alive", DEADLINE).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "still alive".into() }, "{mode}");
    eventually(mode, || async { check(&hive.events().recent(usize::MAX, |_| true)).then_some(()) }).await;
    assert_eq!(swarm.agent_status("m").await.unwrap().restarts, 0, "{mode}: no restart needed");
    hive.shutdown().await;
}

#[tokio::test]
async fn a_10_mb_line_is_discarded_and_reported_and_the_child_keeps_running() {
    survives("huge-line", |ev| {
        log_matching(ev, "m", "discarded a stdout line of").is_some_and(|(l, m)| {
            let n: usize = m.split_whitespace().find_map(|w| w.parse().ok()).unwrap_or(0);
            l == Level::Error && n >= (10 << 20) - 1
        })
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_becomes_raw_output_and_the_child_keeps_running() {
    survives("bad-utf8", |ev| {
        ev.iter().any(|e| matches!(&e.kind, EventKind::AgentOutput { output: OutputKind::Raw, content, .. } if content.contains('\u{fffd}')))
    })
    .await;
}

#[tokio::test]
async fn binary_garbage_becomes_events_and_the_child_keeps_running() {
    survives("garbage", |ev| {
        ev.iter().filter(|e| matches!(&e.kind, EventKind::AgentOutput { output: OutputKind::Raw, .. })).count() >= 1
    })
    .await;
}

#[tokio::test]
async fn stderr_lines_become_warning_log_events() {
    survives("stderr", |ev| {
        ev.iter().filter(|e| matches!(&e.kind, EventKind::Log { level: Level::Warning, .. })).count() >= 3
    })
    .await;
}

#[tokio::test]
async fn a_child_that_closes_stdout_but_keeps_running_is_killed_and_restarted() {
    let hive = hive().await;
    let mut rx = hive.events().subscribe();
    let swarm = hive.start_swarm(spec(&hive, &swarm("closed", &misbehave("m", "close-stdout", ""), ""))).await.unwrap();
    let first_pid = pid_of(&swarm, "m").await;
    let events = until(&mut rx, |e| is(e, "agent_restarted", "m")).await;
    let exited = events.iter().find(|e| is(e, "agent_exited", "m")).unwrap();
    assert!(exited.kind.message().contains("closed its stdout"), "{}", exited.kind.message());
    eventually("old process reaped", || async { (!alive(first_pid)).then_some(()) }).await;
    hive.shutdown().await;
}

#[tokio::test]
async fn bwrap_launch_runs_the_agent_in_a_sandbox() {
    if !tools::require(&[Tool::Python3, Tool::Bwrap]) {
        return;
    }
    let hive = hive().await;
    let cwd = std::env::current_dir().unwrap().display().to_string();
    let extra = format!("launch = \"bwrap\"\ncwd = \"{cwd}\"");
    let swarm = hive.start_swarm(spec(&hive, &swarm("sandbox", &agent("echo", ECHO, &extra), ""))).await.unwrap();
    let out = swarm.run_task("echo", "from the sandbox", DEADLINE).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "from the sandbox".into() });
    hive.shutdown().await;
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS line");
    kb.trim().trim_end_matches("kB").trim().parse::<u64>().expect("VmRSS in kB") * 1024
}

#[tokio::test]
async fn a_child_flooding_stdout_is_slowed_and_the_runtime_memory_stays_bounded() {
    const FLOOD_MIB: u64 = 400;
    const GROWTH_BOUND: u64 = 100 << 20;
    // A small ring: the runtime keeps at most 1 000 of the flood's 1 KiB events.
    let opts = hive::HiveOptions {
        bus: hive::events::BusOptions { ring_capacity: 1_000, max_lag: 1_000 },
        ..hive::HiveOptions::default()
    };
    let hive = hive::Hive::start(opts).await.unwrap();
    let command = format!("[\"python3\", \"actors/misbehave.py\", \"flood\", \"{FLOOD_MIB}\"]");
    let before = rss();
    let swarm = hive.start_swarm(spec(&hive, &swarm("flood", &agent("f", &command, ""), ""))).await.unwrap();
    let pid = pid_of(&swarm, "f").await;
    let raw = |e: &hive::events::Event| matches!(e.kind, EventKind::AgentOutput { output: OutputKind::Raw, .. });
    eventually("the flood begins", || async { (!hive.events().recent(1, raw).is_empty()).then_some(()) }).await;

    // The agent answers while lines wait for it: pause (a call to the agent
    // actor, with its own timeout) stops the child, resume continues it.
    assert_eq!(tokio::time::timeout(DEADLINE, swarm.pause()).await.unwrap().unwrap(), 1, "pause answered");
    eventually("child stopped", || async { (proc_state(pid).as_deref() == Some("T")).then_some(()) }).await;
    assert_eq!(tokio::time::timeout(DEADLINE, swarm.resume()).await.unwrap().unwrap(), 1, "resume answered");

    // Until the child has written all of it: memory is sampled on the way.
    let done = |e: &hive::events::Event| matches!(&e.kind, EventKind::Log { message, .. } if message.starts_with("flood done"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut peak = 0;
    while hive.events().recent(1, done).is_empty() {
        peak = peak.max(rss().saturating_sub(before));
        assert!(peak < GROWTH_BOUND, "memory grew by {} MiB during the flood", peak >> 20);
        assert!(tokio::time::Instant::now() < deadline, "the flood did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("flood of {FLOOD_MIB} MiB: memory grew by at most {} MiB", peak >> 20);

    let status = tokio::time::timeout(DEADLINE, swarm.agent_status("f")).await.unwrap().unwrap();
    assert_eq!(status.restarts, 0);
    let out = swarm.run_task("f", "after the flood", DEADLINE).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "after the flood".into() });
    tokio::time::timeout(DEADLINE, hive.stop_swarm("flood")).await.unwrap().unwrap();
    eventually("child reaped", || async { (!alive(pid)).then_some(()) }).await;
    hive.shutdown().await;
}
