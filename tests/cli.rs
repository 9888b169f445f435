//! The `hive` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hive() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hive"))
}

#[test]
fn validate_reports_every_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\n[[agents]]\nname = \"a\"\nbackend = \"nope\"\n[[agents]]\nname = \"a\"\nreplica = 3\n[topology]\na = [\"ghost\"]\n",
    )
    .unwrap();
    let out = hive().arg("validate").arg(&bad).arg("swarms/demo.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("bad.toml:")).collect();
    assert!(lines.len() >= 4, "{stdout}");
    let file = bad.display().to_string();
    assert!(lines.iter().any(|l| l.starts_with(&format!("{file}:4:")) && l.contains("backend")), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with(&format!("{file}:6:")) && l.contains("duplicate")), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with(&format!("{file}:7:")) && l.contains("replica")), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with(&format!("{file}:9:")) && l.contains("ghost")), "{stdout}");
    assert!(stdout.contains("swarms/demo.toml: ok"), "{stdout}");
}

#[test]
fn up_prints_events_and_stops_gracefully_on_sigint() {
    let mut child = hive()
        .args(["run", "swarms/demo.toml", "--in-memory", "--task", "worker_1=hello"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("task_completed")) {
        assert!(Instant::now() < deadline, "no task_completed in {seen:?}");
        seen.push(lines.next().unwrap().unwrap());
    }
    assert!(seen.iter().any(|l| l.contains("swarm_started")));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(rest.iter().any(|l| l.contains("agent_stopped")), "{rest:?}");
    assert!(rest.last().is_some_and(|l| l.contains("swarm_stopped")), "{rest:?}");
}

#[test]
fn up_with_an_invalid_file_exits_non_zero_with_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = 3\n").unwrap();
    let out = hive().arg("run").arg(&bad).arg("--in-memory").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(":1:"));
}

/// Runs `hive up` until `until` appears on stdout, then SIGINT; returns
/// (stdout, stderr). Output is read on threads and every wait has a deadline:
/// a `hive up` that does not exit after SIGINT is killed and reported.
fn up_then_interrupt(args: &[&str], until: &str) -> (Vec<String>, String) {
    use std::io::Read;
    use std::sync::mpsc;
    let mut child = hive().arg("run").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|l| l.contains(until)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no '{until}' within 30 s; stdout {seen:?}; stderr {}", err_reader.join().unwrap_or_default());
            }
        }
    }
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hive up did not exit within 30 s of SIGINT; stderr {}", err_reader.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    seen.extend(rx.iter());
    let err = err_reader.join().unwrap_or_default();
    assert!(status.success(), "{status:?}; stderr {err}");
    (seen, err)
}

#[test]
fn up_with_a_data_dir_brings_the_swarm_back_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (_, err) =
        up_then_interrupt(&["swarms/demo.toml", "--data-dir", data, "--task", "worker_1=hi"], "task_completed");
    assert!(err.contains("stays recorded"), "{err}");
    assert!(dir.path().join("hive.redb").exists());
    let (out, err) = up_then_interrupt(&["swarms/demo.toml", "--data-dir", data], "swarm_started");
    assert!(err.contains("was restored"), "{err}");
    assert!(out.iter().any(|l| l.contains("swarm_started")));
    let (_, err) = up_then_interrupt(&["swarms/demo.toml", "--data-dir", data, "--fresh"], "swarm_started");
    assert!(!err.contains("was restored"), "{err}");
}
