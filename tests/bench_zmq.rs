//! `hive bench zmq` end to end, small: the gateway in process, the reference worker example as
//! its worker processes. The example is built first (`cargo build --example zmq_worker`, a no-op
//! after `cargo test --all-targets`), for this test's profile.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

mod zmq_common;
use zmq_common::example_binary;

#[test]
fn bench_zmq_runs_every_task_and_both_round_trips() {
    let worker = example_binary();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["bench", "zmq", "--tasks", "200", "--in-flight", "64", "--rtt-samples", "50", "--workers", "2"])
        .arg("--worker-bin")
        .arg(&worker)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hive bench zmq");
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("hive bench zmq did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(status.success(), "exit {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    for want in ["tasks/s", "dispatch round trip (50 sequential)", "raw ROUTER round trip (50 sequential)", "×"] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
}
