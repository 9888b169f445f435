//! `hive bench zmq` end to end, small: the gateway in process, the reference worker example as
//! its worker processes. The example is built first (`cargo build --example zmq_worker`, a no-op
//! after `cargo test --all-targets`), for this test's profile.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

fn example_binary() -> PathBuf {
    // target/<profile>/deps/bench_zmq-HASH -> target/<profile>
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>").to_path_buf();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", "zmq_worker"]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    if let Some(target_dir) = profile_dir.parent() {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let status = cmd.status().expect("run cargo build --example zmq_worker");
    assert!(status.success(), "cargo build --example zmq_worker failed: {status}");
    profile_dir.join("examples").join("zmq_worker")
}

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
