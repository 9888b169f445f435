//! Tools some tests need from the machine (python3, pyzmq and msgpack, node
//! with the phoenix JS client, bwrap, promtool, Chromium with puppeteer-core). A test asks for each up front with
//! [`require`]: when one is missing the test fails under CI (the `CI`
//! environment variable is set, as `.ci/run` does) and is skipped elsewhere;
//! either way it says which tool is missing and how to get it. The skip
//! notice goes straight to stderr, past the test harness's capture, so a
//! skipped test is never silent. `./scripts/test` installs what it can
//! without root (pyzmq and msgpack in a venv, the JS client with `npm ci`).
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A tool a test may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `python3`, for the reference agents in `actors/`.
    Python3,
    /// The Python packages pyzmq and msgpack, for `actors/zmq_worker.py`.
    PyZmq,
    /// `node`, with `tests/js/node_modules` (the phoenix and ws packages).
    PhoenixJs,
    /// `bwrap` (bubblewrap), for the sandboxed launch.
    Bwrap,
    /// `promtool` (Debian's `prometheus`), to check the metrics' exposition.
    Promtool,
    /// Chromium ([`chromium`]) and `node` with `tests/js/node_modules/puppeteer-core`,
    /// for the dashboard's browser test.
    Chromium,
}

impl Tool {
    /// What is missing, and how to get it; None when the tool is there.
    fn missing(self) -> Option<String> {
        match self {
            Tool::Python3 if !runs("python3", &["--version"]) => {
                Some("python3 is missing: install Python 3 (apt-get install python3)".into())
            }
            Tool::Python3 => None,
            Tool::PyZmq => Tool::Python3.missing().or_else(|| {
                (!runs("python3", &["-c", "import zmq, msgpack"])).then(|| {
                    "pyzmq/msgpack are missing (`python3 -c 'import zmq, msgpack'` fails): run ./scripts/test, \
                     which installs actors/requirements.txt in .venv, or `python3 -m pip install -r \
                     actors/requirements.txt`"
                        .into()
                })
            }),
            Tool::PhoenixJs if !runs("node", &["--version"]) => {
                Some("node is missing: install nodejs and npm (apt-get install nodejs npm)".into())
            }
            Tool::PhoenixJs => {
                let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules");
                (!js.join("phoenix").is_dir() || !js.join("ws").is_dir()).then(|| {
                    "the phoenix JS client is missing (tests/js/node_modules): run ./scripts/test or \
                     `npm ci --prefix tests/js` (needs npm)"
                        .into()
                })
            }
            Tool::Chromium if chromium().is_none() => Some(
                "chromium is missing: install Debian's chromium (apt-get install chromium), or name the \
                 browser in HIVE_CHROMIUM"
                    .into(),
            ),
            Tool::Chromium if !runs("node", &["--version"]) => {
                Some("node is missing: install nodejs and npm (apt-get install nodejs npm)".into())
            }
            Tool::Chromium => {
                let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules/puppeteer-core");
                (!js.is_dir()).then(|| {
                    "puppeteer-core is missing (tests/js/node_modules): run ./scripts/test or \
                     `npm ci --prefix tests/js` (needs npm)"
                        .into()
                })
            }
            Tool::Bwrap => (!runs("bwrap", &["--version"]))
                .then(|| "bwrap is missing: install bubblewrap (apt-get install bubblewrap)".into()),
            Tool::Promtool => (!runs("promtool", &["--version"]))
                .then(|| "promtool is missing: install Prometheus's tools (apt-get install prometheus)".into()),
        }
    }
}

/// The Chromium to drive, as a path (puppeteer wants one): `HIVE_CHROMIUM`,
/// else `chromium` or `chromium-browser` on the PATH, if it runs.
pub fn chromium() -> Option<String> {
    let named = std::env::var("HIVE_CHROMIUM").ok().filter(|c| !c.is_empty());
    let candidates = named.map_or_else(|| vec!["chromium".to_string(), "chromium-browser".to_string()], |c| vec![c]);
    let on_path = |name: &str| -> Option<String> {
        if name.contains('/') {
            return Some(name.to_string());
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).map(|p| p.display().to_string())
    };
    candidates.iter().filter_map(|c| on_path(c)).find(|c| runs(c, &["--version"]))
}

/// Whether a command runs and exits with success.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether this is a CI run, where a missing tool is a failure.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// True when every tool is there. Otherwise panics under CI, naming what is
/// missing; elsewhere prints a notice naming it and returns false, and the
/// test returns (skips).
#[must_use = "return from the test when a tool is missing"]
pub fn require(tools: &[Tool]) -> bool {
    let missing: Vec<String> = tools.iter().filter_map(|t| t.missing()).collect();
    if missing.is_empty() {
        return true;
    }
    let what = missing.join("; ");
    if in_ci() {
        panic!("{what} (CI is set, so this test fails instead of skipping)");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    // Not eprintln!: the harness would capture that and a passing test's
    // output is never shown.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {what}");
    false
}
