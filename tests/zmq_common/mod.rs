//! ZeroMQ workers for tests: the Rust example worker
//! (`examples/zmq_worker.rs`), built for the running test's profile (a
//! no-op after `cargo test --all-targets`), and a worker driven frame by
//! frame from the test (`worker.rs`).
#![allow(dead_code, unused_imports)]

mod worker;
pub use worker::Worker;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Path of the example binary, built (once per test process) for this test's profile.
pub fn example_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<test>-HASH -> target/<profile>
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
            let bin = profile_dir.join("examples").join("zmq_worker");
            assert!(bin.exists(), "{} missing after the build", bin.display());
            bin
        })
        .clone()
}
