//! The dashboard (`/ui`) in a real browser: the real `hive` binary serves
//! the demo swarm with a token, and `tests/js/dashboard.mjs` drives headless
//! Chromium through puppeteer-core against it (the 401 of a bad token, the
//! graph, scaling from the UI, the event stream, a task from an agent's
//! page, a viewer's refused action, markup in user data shown as text and
//! never run, no console errors). It saves screenshots of the main views into `docs/dashboard/`,
//! which `docs/dashboard.md` shows.

mod cli_common;
mod tools;

use std::path::Path;
use std::time::Duration;

use cli_common::{Daemon, run};
use serde_json::Value;
use tools::Tool;

const TOKEN: &str = "dashboard-test-token";
/// A viewer's secret and the config lines `hive token new ui-viewer --role viewer` printed for it.
const VIEWER: &str = "hive_a72c69215379bf444d050d5ab4faae8feae9c7afd9b560e1c8f4e5a3c0a4a728";
const CONFIG: &str = r#"
[[server.tokens]]
name = "ui-viewer"
role = "viewer"
sha256 = "c1f26f04c76090270609d34b62d640dbf62dff06f40ceea99bd896e3c2d9a0f4"
"#;

#[test]
fn the_dashboard_works_in_a_real_browser() {
    if !tools::require(&[Tool::Chromium]) {
        return;
    }
    let chromium = tools::chromium().expect("checked by require");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("docs/dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hive.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let d = Daemon::start(&["--in-memory", "--config", config.to_str().unwrap()], &[("HIVE_TOKEN", TOKEN)], false);
    run(d.hive().env("HIVE_TOKEN", TOKEN).args(["up", "swarms/demo.toml"])).ok();

    let mut child = std::process::Command::new("node")
        .arg(root.join("tests/js/dashboard.mjs"))
        .args([d.url.trim_end_matches('/'), TOKEN, &chromium, shots.to_str().unwrap(), VIEWER])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    // The script bounds each of its waits (15 s); this bounds the whole run.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the browser script did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    d.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(summary["ok"], true, "{summary}\n{stderr}");
    assert_eq!(summary["console_errors"], serde_json::json!([]), "{summary}");
    for view in ["swarms", "swarm", "events", "agent", "tasks", "bad-token", "refused", "workers", "schedules"] {
        assert!(shots.join(format!("{view}.png")).is_file(), "no screenshot of {view}");
    }
}
