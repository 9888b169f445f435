//! `hive bench soak` for one minute at low rates (what CI can afford): a
//! durable daemon under subscribers, mutations and tasks loses nothing and
//! keeps its descriptors flat. The bench itself is the checker (it exits
//! non-zero on a lost task, mutation or event, or on a descriptor leak);
//! this test holds it to that and to printing its samples.

use std::process::Command;
use std::time::Duration;

mod cli_common;

#[test]
fn a_minute_of_soak_loses_nothing_and_keeps_descriptors_flat() {
    let out = cli_common::run_within(
        Command::new(env!("CARGO_BIN_EXE_hive")).args([
            "bench",
            "soak",
            "--duration",
            "60s",
            "--subscribers",
            "100",
            "--mutations",
            "10",
            "--tasks",
            "50",
            "--every",
            "10s",
        ]),
        Duration::from_secs(240),
    );
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert!(out.code == Some(0), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.code);
    let samples = stdout.lines().filter(|l| l.starts_with("soak: at ")).count();
    assert!(samples >= 6, "a sample every 10 s for 60 s, got {samples}:\n{stdout}");
    for want in ["subscribers: 100/100 saw all", " 0 not ended", "soak: nothing lost"] {
        assert!(stdout.contains(want), "no {want:?} in:\n{stdout}");
    }
}
