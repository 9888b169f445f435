//! `hive bench chaos` for two minutes with a fixed seed (the debug build,
//! what CI can afford): a durable daemon under agent tasks, scales,
//! subscribers and dispatches to ZeroMQ, JSONL and HTTP workers while the
//! seeded schedule kill -9s agents, workers and the daemon. The bench is the
//! checker (it exits non-zero on any broken promise, naming the seed); this
//! test holds it to a clean verdict and to having injected every kind of
//! fault. It needs python3 with pyzmq and msgpack (`./scripts/test` puts
//! its `.venv` first on PATH): missing, the test fails under CI and is
//! skipped elsewhere.

use std::process::Command;
use std::time::Duration;

mod cli_common;
mod tools;

use tools::Tool;

/// The seed the test runs (reproduce with `hive bench chaos --duration 2m --seed 14`).
const SEED: &str = "14";

#[test]
fn two_minutes_of_chaos_with_a_fixed_seed_end_clean() {
    if !tools::require(&[Tool::PyZmq]) {
        return;
    }
    let out = cli_common::run_within(
        Command::new(env!("CARGO_BIN_EXE_hive")).args(["bench", "chaos", "--duration", "2m", "--seed", SEED]),
        Duration::from_secs(200),
    );
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert!(out.code == Some(0), "exit {:?} (seed {SEED})\nstdout:\n{stdout}\nstderr:\n{stderr}", out.code);
    assert!(stdout.contains(&format!("chaos: verdict: clean (seed {SEED})")), "no clean verdict in:\n{stdout}");
    let injected = stdout.lines().find(|l| l.starts_with("chaos: faults injected: ")).unwrap_or_default();
    for kind in
        ["kill -9 agent", "kill -9 daemon", "kill -9 ZeroMQ worker", "kill -9 JSONL worker", "kill -9 HTTP worker"]
    {
        assert!(injected.contains(kind), "no {kind:?} injected (seed {SEED}):\n{stdout}");
    }
    for what in ["agent tasks", "ZeroMQ dispatches", "JSONL dispatches", "HTTP dispatches"] {
        assert!(stdout.contains(&format!("chaos: {what}: acknowledged ")), "no {what} in:\n{stdout}");
    }
}
