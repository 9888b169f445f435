//! Shared helpers of the CLI tests: the binary, a real daemon (`hive serve`)
//! on free ports, and running a command with a deadline (killed and
//! reported past it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use serde_json::Value;

pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn hive() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hive"));
    c.env_remove("HIVE_TOKEN").env_remove("HIVE_URL");
    c
}

/// A finished client command.
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    pub fn fails(self, code: i32, stderr_has: &str) -> Self {
        assert_eq!(self.code, Some(code), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        assert!(self.stderr.contains(stderr_has), "no '{stderr_has}' in stderr: {}", self.stderr);
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs a command with a deadline (killed and reported past it).
pub fn run(cmd: &mut Command) -> Out {
    run_within(cmd, DEADLINE)
}

/// [`run`] with its own deadline.
pub fn run_within(cmd: &mut Command, limit: Duration) -> Out {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {limit:?}; stderr {}", err.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out { code: status.code(), stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// Sends SIGTERM and waits (with a deadline) for the process to end; answers its status.
pub fn terminate(child: &mut Child, what: &str) -> std::process::ExitStatus {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not stop within {DEADLINE:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `hive serve` with its HTTP URL and ZeroMQ endpoint (if enabled).
pub struct Daemon {
    pub child: Child,
    pub url: String,
    pub endpoint: Option<String>,
    /// What it wrote to stderr after announcing its addresses.
    later: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts it (on free ports unless `args` say `--listen`), with `env`;
    /// with `gateway`, waits for the ZeroMQ endpoint too.
    pub fn start(args: &[&str], env: &[(&str, &str)], gateway: bool) -> Self {
        let mut cmd = hive();
        cmd.args(["serve", "--zmq", "tcp://127.0.0.1:0"]).args(args).envs(env.iter().copied());
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        let mut url = None;
        let mut endpoint = None;
        while url.is_none() || (gateway && endpoint.is_none()) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("hive: serving ") {
                        url = Some(rest.split_whitespace().next().unwrap().to_string());
                    } else if let Some(rest) = line.strip_prefix("hive: ZeroMQ workers connect to ") {
                        endpoint = Some(rest.trim().to_string());
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("the daemon did not announce its addresses within {DEADLINE:?}: {seen:?}");
                }
            }
        }
        let later = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = later.clone();
        std::thread::spawn(move || {
            for line in rx {
                lines.lock().unwrap().push(line);
            }
        });
        Daemon { child, url: url.unwrap(), endpoint, later }
    }

    /// The client, pointed at this daemon.
    pub fn hive(&self) -> Command {
        let mut c = hive();
        c.env("HIVE_URL", &self.url);
        c
    }

    /// Runs a client command to its end.
    pub fn run(&self, args: &[&str]) -> Out {
        run(self.hive().args(args))
    }

    /// Waits (within the deadline) for a stderr line, written after the
    /// start, that contains `part`; panics if the daemon exits first.
    pub fn wait_for_line(&mut self, part: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(l) = self.later.lock().unwrap().iter().find(|l| l.contains(part)) {
                return l.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited ({status:?}) before writing '{part}'");
            }
            assert!(Instant::now() < deadline, "no '{part}' on stderr: {:?}", self.later.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every stderr line written after the start, so far.
    pub fn lines(&self) -> Vec<String> {
        self.later.lock().unwrap().clone()
    }

    /// SIGTERM, then a clean exit within the deadline.
    pub fn stop(mut self) {
        let status = terminate(&mut self.child, "the daemon");
        assert!(status.success(), "daemon exited with {status:?}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over HTTP/1.0 without a token (the answer is read to its
/// end): the status line and headers, then the body.
pub fn http_get(url: &str, path: &str) -> (String, String) {
    use std::io::Write;
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_string(), body.to_string())
}
