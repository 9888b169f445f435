//! `hive bench zmq` and `hive bench http-workers` end to end, small: the gateway in process, the reference worker example as
//! its worker processes. The example is built first (`cargo build --example zmq_worker`, a no-op
//! after `cargo test --all-targets`), for this test's profile.

use std::process::Command;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(120);

mod cli_common;
mod zmq_common;
use zmq_common::example_binary;

#[test]
fn bench_zmq_runs_every_task_and_both_round_trips() {
    let worker = example_binary();
    let out = cli_common::run_within(
        Command::new(env!("CARGO_BIN_EXE_hive"))
            .args(["bench", "zmq", "--tasks", "200", "--in-flight", "64", "--rtt-samples", "50", "--workers", "2"])
            .arg("--worker-bin")
            .arg(&worker),
        DEADLINE,
    );
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert!(out.code == Some(0), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.code);
    for want in ["tasks/s", "dispatch round trip (50 sequential)", "raw ROUTER round trip (50 sequential)", "×"] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
}

#[test]
fn bench_http_workers_runs_both_transports_and_prints_the_ratio() {
    let worker = example_binary();
    let out = cli_common::run_within(
        Command::new(env!("CARGO_BIN_EXE_hive"))
            .args(["bench", "http-workers", "--tasks", "100", "--in-flight", "16", "--rounds", "1", "--workers", "2"])
            .arg("--worker-bin")
            .arg(&worker),
        DEADLINE,
    );
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert!(out.code == Some(0), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.code);
    for want in ["http (long-poll", "zmq (worker process)", "http / zmq (medians)"] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
}
