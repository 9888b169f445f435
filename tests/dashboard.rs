//! The dashboard (`/ui`) in a real browser: the real `hive` binary serves
//! the demo swarm with a token, and `tests/js/dashboard.mjs` drives headless
//! Chromium through puppeteer-core against it (the 401 of a bad token, the
//! graph, scaling from the UI, the event stream, a task from an agent's
//! page, a viewer's refused action, markup in user data shown as text and
//! never run, no console errors). It saves screenshots of the main views (into `docs/dashboard/` with
//! `HIVE_UPDATE_SCREENSHOTS=1`, else under the target directory),
//! which `docs/dashboard.md` shows. Without a browser, the page and every
//! module it imports are checked to be served, public, with their policy.

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
    // The screenshots docs/dashboard.md shows are refreshed on request
    // (`HIVE_UPDATE_SCREENSHOTS=1`); otherwise a run leaves the checkout as it was.
    let shots = if std::env::var_os("HIVE_UPDATE_SCREENSHOTS").is_some() {
        root.join("docs/dashboard")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard")
    };
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

/// `GET path` without a token: the status line and headers (lower case), and the body.
fn get(url: &str, path: &str) -> (String, String) {
    let (head, body) = cli_common::http_get(url, path);
    (head.to_ascii_lowercase(), body)
}

#[test]
fn the_page_and_every_module_it_imports_are_public_and_run_only_their_own_scripts() {
    let d = Daemon::start(&["--in-memory"], &[("HIVE_TOKEN", TOKEN)], false);
    let (head, page) = get(&d.url, "/ui");
    assert!(head.starts_with("http/1.1 200") || head.starts_with("http/1.0 200"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'self'; script-src 'self'"), "{head}");
    // Every module reachable from the page's script, by its imports.
    let mut todo = vec!["app.js".to_string(), "style.css".to_string()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(file) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let (head, body) = get(&d.url, &format!("/ui/{file}"));
        assert!(head.contains(" 200 "), "/ui/{file}: {head}");
        assert!(!body.contains("innerHTML"), "/ui/{file} writes HTML");
        for import in body.split("from \"./").skip(1) {
            todo.push(import.split('"').next().unwrap().to_string());
        }
    }
    assert!(page.contains("/ui/app.js") && seen.len() >= 6, "{seen:?}");
    let (head, body) = get(&d.url, "/ui/nope.js");
    assert!(head.contains(" 404 ") && body.contains("HIVE_NOT_FOUND"), "{head}{body}");
    // The page is public; the data behind it is not.
    let (head, _) = get(&d.url, "/api/swarms");
    assert!(head.contains(" 401 "), "{head}");
    d.stop();
}
