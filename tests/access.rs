//! Roles and tokens against a real daemon: every route of the served
//! OpenAPI document with a token of each role (a refusal is exactly where
//! the route's `x-hive-role` is not included, and it is recorded), worker
//! tokens in the ZeroMQ `ready`, and `hive token new` lines taken in by a
//! SIGHUP without a restart.

mod cli_common;
mod common;
mod http_common;
mod zmq_common;

use hive::access::{Role, TokenSpec, digest_hex};
use http_common::*;
use serde_json::{Value, json};

const SECRETS: [(&str, Role, &str); 5] = [
    ("dash", Role::Viewer, "viewer-secret"),
    ("ci", Role::Operator, "operator-secret"),
    ("bob", Role::Operator, "bob-secret"),
    ("root", Role::Admin, "admin-secret"),
    ("w1", Role::Worker, "worker-secret"),
];

fn with_tokens() -> hive::http::ServerConfig {
    let tokens =
        SECRETS.iter().map(|(n, r, s)| TokenSpec { name: (*n).into(), role: *r, sha256: digest_hex(s) }).collect();
    hive::http::ServerConfig { tokens, ..cfg() }
}

async fn call(d: &Daemon, method: &str, path: &str, secret: &str) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = d.http.request(m.clone(), d.url(path)).bearer_auth(secret);
    if m != reqwest::Method::GET && m != reqwest::Method::DELETE {
        req = req.json(&json!({}));
    }
    send(req).await
}

fn role_of(op: &Value) -> Option<Role> {
    serde_json::from_value(op.get("x-hive-role")?.clone()).ok()
}

#[tokio::test]
async fn each_role_against_every_route_is_refused_exactly_where_its_role_falls_short() {
    let d = Daemon::start(with_tokens()).await;
    let (code, doc) = call(&d, "get", "/openapi.json", "admin-secret").await;
    assert_eq!(code, 200);
    let mut checked = std::collections::BTreeMap::<Role, usize>::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(needed) = role_of(op) else {
                assert_eq!(op["security"], json!([]), "{method} {path}: neither public nor given a role");
                continue;
            };
            assert!(op["responses"]["403"].is_object(), "{method} {path} documents no 403");
            // Names that exist nowhere: nothing is changed by the calls
            // that are let through (they answer 400 or 404).
            let concrete = path.replace("{name}", "nosuch").replace(['{', '}'], "");
            for (token, role, secret) in SECRETS {
                let (code, body) = call(&d, method, &concrete, secret).await;
                let denied = code == 403 && body["error_code"] == "HIVE_ACCESS_DENIED";
                assert_eq!(
                    denied,
                    !role.allows(needed),
                    "{method} {path} (needs {needed}) with {token} ({role}): {code} {body}"
                );
                if denied {
                    assert_eq!(body["details"]["needed"], json!(needed), "{body}");
                    assert!(body["error"].as_str().unwrap().contains(needed.as_str()), "names the role: {body}");
                }
                assert_ne!(code, 401, "{method} {path} with {token}: a valid token is never 401");
            }
            *checked.entry(needed).or_default() += 1;
        }
    }
    // The table, spot-checked: what each class holds.
    let role_at = |method: &str, path: &str| role_of(&doc["paths"][path][method]);
    for (method, path, role) in [
        ("post", "/api/swarms", Role::Admin),
        ("delete", "/api/swarms/{name}", Role::Admin),
        ("post", "/api/v1/agents/spawn", Role::Admin),
        ("post", "/api/v1/maintenance/off", Role::Admin),
        ("post", "/api/v1/zmq/workers/{id}/off", Role::Admin),
        ("post", "/api/v1/tasks", Role::Operator),
        ("post", "/api/v1/zmq/dispatch", Role::Operator),
        ("post", "/api/swarms/{name}/agents/{base}/scale", Role::Operator),
        ("patch", "/api/swarms/{name}/topology", Role::Operator),
        ("post", "/api/swarms/{name}/restart", Role::Operator),
        ("post", "/api/swarms/{name}/snapshot", Role::Viewer),
        ("post", "/api/config/validate", Role::Viewer),
        ("get", "/ws/events", Role::Viewer),
        ("get", "/api/v1/tasks", Role::Viewer),
    ] {
        assert_eq!(role_at(method, path), Some(role), "{method} {path}");
    }
    // A restart that deletes the swarm's data needs admin, and says so.
    let restart = &doc["paths"]["/api/swarms/{name}/restart"]["post"];
    assert_eq!(restart["x-hive-admin-if"], json!({"delete": "admin"}), "{restart}");
    assert!(restart["description"].as_str().unwrap().contains("`?delete=true`"), "{restart}");
    for (query, secret, denied) in [
        ("?delete=true", "operator-secret", true),
        ("?delete=%74rue", "operator-secret", true),
        ("?delete=false", "operator-secret", false),
        ("", "operator-secret", false),
        ("?delete=true", "admin-secret", false),
    ] {
        let (code, body) = call(&d, "post", &format!("/api/swarms/nosuch/restart{query}"), secret).await;
        let refused = code == 403 && body["error_code"] == "HIVE_ACCESS_DENIED";
        assert_eq!(refused, denied, "{query} with {secret}: {code} {body}");
        if denied {
            assert_eq!(body["details"]["needed"], "admin", "{body}");
        }
    }
    // Every class of route was tried.
    for role in [Role::Viewer, Role::Operator, Role::Admin] {
        assert!(checked.get(&role).copied().unwrap_or(0) > 1, "{checked:?}");
    }
    assert_eq!(call(&d, "get", "/api/swarms", "nobody").await.0, 401);
    // A HEAD runs the GET handler, so it needs the GET's role: a viewer's
    // HEAD of a worker's next task takes nothing.
    let head = d.http.head(d.url("/api/v1/workers/w/next")).bearer_auth("viewer-secret").send().await.unwrap();
    assert_eq!(head.status().as_u16(), 403);
    d.shutdown().await;
}

#[tokio::test]
async fn a_refusal_is_recorded_with_who_what_and_from_where() {
    let d = Daemon::start(with_tokens()).await;
    let (code, body) = call(&d, "post", "/api/v1/maintenance/off", "operator-secret").await;
    assert_eq!((code, body["error_code"].as_str()), (403, Some("HIVE_ACCESS_DENIED")), "{body}");
    assert_eq!(body["details"], json!({"needed": "admin", "role": "operator"}));
    let mut found = Value::Null;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while found.is_null() {
        let (_, ev) = call(&d, "get", "/api/events?event_type=access_denied", "viewer-secret").await;
        if let Some(e) = ev["events"].as_array().and_then(|a| a.first()) {
            found = e.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no access_denied event: {ev}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let m = &found["metadata"];
    assert_eq!(m["token"], "ci");
    assert_eq!(m["role"], "operator");
    assert_eq!(m["needed"], "admin");
    assert_eq!(m["route"], "POST /api/v1/maintenance/off");
    assert_eq!(m["address"], "127.0.0.1");
    assert_eq!(found["event_type"], "access_denied");
    // Maintenance is untouched.
    let (_, h) = call(&d, "get", "/health", "admin-secret").await;
    assert_eq!(h["accepting"], true, "{h}");
    // The tokens duty is an admin's, and shows names and roles only.
    let (code, _) = call(&d, "get", "/api/v1/tokens", "operator-secret").await;
    assert_eq!(code, 403);
    let (code, t) = call(&d, "get", "/api/v1/tokens", "admin-secret").await;
    assert_eq!((code, t["total"].as_u64()), (200, Some(5)), "{t}");
    assert_eq!(t["tokens"][3], json!({"name": "root", "role": "admin"}));
    assert!(!t.to_string().contains("secret") && !t.to_string().contains(&digest_hex("admin-secret")));
    d.shutdown().await;
}

async fn call_with(d: &Daemon, method: reqwest::Method, path: &str, secret: &str, body: Value) -> (u16, Value) {
    send(d.http.request(method, d.url(path)).bearer_auth(secret).json(&body)).await
}

#[tokio::test]
async fn a_task_is_its_submitters_and_only_admins_see_everyone_s() {
    use reqwest::Method;
    let d = Daemon::start(with_tokens()).await;
    let (code, b) =
        call_with(&d, Method::POST, "/api/swarms", "admin-secret", json!({"content": DEMO, "format": "toml"})).await;
    assert_eq!(code, 201, "{b}");
    let (code, b) =
        call_with(&d, Method::POST, "/api/swarms/demo/agents/worker_1/task", "operator-secret", json!({"task": "x"}))
            .await;
    assert_eq!(code, 202, "{b}");
    let id = b["task_id"].as_str().unwrap().to_string();
    let one = format!("/api/v1/tasks/{id}");
    // Its submitter and an admin read it, with the submitter's name.
    for secret in ["operator-secret", "admin-secret"] {
        let (code, t) = call(&d, "get", &one, secret).await;
        assert_eq!((code, &t["submitted_by"]), (200, &json!("ci")), "{secret}: {t}");
    }
    // Another operator and a viewer: not found, not listed, not cancelled.
    for secret in ["bob-secret", "viewer-secret"] {
        let (code, t) = call(&d, "get", &one, secret).await;
        assert_eq!((code, t["error_code"].as_str()), (404, Some("HIVE_TASK_NOT_FOUND")), "{secret}: {t}");
        let (_, list) = call(&d, "get", "/api/v1/tasks", secret).await;
        assert_eq!(list["total"], 0, "{secret}: {list}");
    }
    let (code, _) = call(&d, "delete", &one, "bob-secret").await;
    assert_eq!(code, 404, "another operator cannot cancel it");
    let (_, mine) = call(&d, "get", "/api/v1/tasks", "operator-secret").await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["items"][0]["task_id"], json!(id));
    let (_, all) = call(&d, "get", "/api/v1/tasks", "admin-secret").await;
    assert_eq!(all["total"], 1, "{all}");
    // bob's own task is his alone, in the task stream too.
    let url = format!("ws://{}/ws/tasks?token=bob-secret", d.addr);
    let (mut stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    call_with(&d, Method::POST, "/api/swarms/demo/agents/worker_1/task", "operator-secret", json!({"task": "z"})).await;
    let (_, b) =
        call_with(&d, Method::POST, "/api/swarms/demo/agents/worker_2/task", "bob-secret", json!({"task": "y"})).await;
    let n = common::next(&mut stream).await.unwrap();
    assert_eq!((&n["task_id"], &n["submitted_by"], &n["type"]), (&b["task_id"], &json!("bob"), &json!("task.queued")));
    let (_, bobs) = call(&d, "get", "/api/v1/tasks", "bob-secret").await;
    assert_eq!((bobs["total"].as_u64(), &bobs["items"][0]["task_id"]), (Some(1), &b["task_id"]), "{bobs}");
    let (_, all) = call(&d, "get", "/api/v1/tasks", "admin-secret").await;
    assert_eq!(all["total"], 3, "{all}");
    d.shutdown().await;
}

#[tokio::test]
async fn health_details_follow_the_role() {
    let d = Daemon::start(with_tokens()).await;
    let (_, h) = call(&d, "get", "/health", "viewer-secret").await;
    assert!(h["detail"].is_object(), "a viewer sees the detail: {h}");
    let (_, h) = call(&d, "get", "/health", "worker-secret").await;
    assert!(h["detail"].is_null(), "a worker does not: {h}");
    d.shutdown().await;
}

#[test]
fn hive_token_new_lines_are_taken_in_by_a_sighup_without_a_restart() {
    use cli_common::*;
    let out = run(hive().args(["token", "new", "late", "--role", "viewer"])).ok();
    let secret = out.stdout.lines().find_map(|l| l.split(": ").nth(1).filter(|s| s.starts_with("hive_"))).unwrap();
    let lines: String =
        out.stdout.lines().skip_while(|l| !l.starts_with("[[server.tokens]]")).collect::<Vec<_>>().join("\n");
    assert!(lines.contains(&format!("sha256 = \"{}\"", digest_hex(secret))), "{}", out.stdout);
    assert!(!lines.contains(secret), "the config lines never hold the secret");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hive.toml");
    let admin = format!("[[server.tokens]]\nname = \"root\"\nrole = \"admin\"\nsha256 = \"{}\"\n", digest_hex("a"));
    std::fs::write(&config, &admin).unwrap();
    let d = Daemon::start(&["--in-memory", "--config", config.to_str().unwrap()], &[], false);
    let ps = |secret: &str| run(d.hive().env("HIVE_TOKEN", secret).args(["ps"]));
    assert_eq!(ps("a").code, Some(0));
    assert_ne!(ps(secret).code, Some(0), "not listed yet");
    std::fs::write(&config, format!("{admin}\n{lines}\n")).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.child.id() as i32), nix::sys::signal::Signal::SIGHUP).unwrap();
    let deadline = std::time::Instant::now() + DEADLINE;
    while ps(secret).code != Some(0) {
        assert!(std::time::Instant::now() < deadline, "the new token was not taken in");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A viewer may read but not create.
    let swarm = dir.path().join("s.toml");
    std::fs::write(&swarm, "name = \"s\"\n[[agents]]\nname = \"a\"\nbackend = \"mock\"\n").unwrap();
    let up = run(d.hive().env("HIVE_TOKEN", secret).args(["up", swarm.to_str().unwrap()]));
    assert_ne!(up.code, Some(0));
    assert!(up.stderr.contains("admin"), "the refusal names the role: {}", up.stderr);
    d.stop();
}

#[test]
fn a_sighup_without_a_config_file_is_told_to_have_nothing_to_reload_and_the_daemon_serves_on() {
    use cli_common::*;
    let mut d = Daemon::start(&["--in-memory"], &[], false);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.child.id() as i32), nix::sys::signal::Signal::SIGHUP).unwrap();
    d.wait_for_line("nothing to reload");
    assert_eq!(run(d.hive().args(["ps"])).code, Some(0), "still serving");
    d.stop();
}

#[tokio::test]
async fn workers_come_in_with_a_worker_token_over_http_and_zeromq() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hive.toml");
    let tokens: String =
        [("root", "admin", "admin-secret"), ("w1", "worker", "worker-secret"), ("dash", "viewer", "v")]
            .iter()
            .map(|(n, r, s)| {
                format!("[[server.tokens]]\nname = \"{n}\"\nrole = \"{r}\"\nsha256 = \"{}\"\n", digest_hex(s))
            })
            .collect();
    std::fs::write(&config, format!("[gateway]\ntoken = \"shared\"\n\n{tokens}")).unwrap();
    let d = cli_common::Daemon::start(&["--in-memory", "--config", config.to_str().unwrap()], &[], true);
    let http = reqwest::Client::new();
    let register = |header: Option<(&'static str, String)>, id: &str| {
        let mut req = http.post(format!("{}/api/v1/workers/register", d.url)).json(&json!({"id": id}));
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        async move { send(req).await }
    };
    let x = |s: &str| Some(("x-worker-token", s.to_string()));
    let bearer = |s: &str| Some(("authorization", format!("Bearer {s}")));
    assert_eq!(register(x("shared"), "a").await.0, 201, "the shared gateway token");
    assert_eq!(register(x("worker-secret"), "b").await.0, 201, "a worker token");
    assert_eq!(register(bearer("worker-secret"), "c").await.0, 201, "a worker bearer token");
    assert_eq!(register(bearer("admin-secret"), "d").await.0, 201, "an admin may too");
    assert_eq!(register(x("wrong"), "e").await.0, 401);
    assert_eq!(register(x("v"), "f").await.0, 401, "a viewer token is no worker token");
    let (code, b) = register(bearer("v"), "g").await;
    assert_eq!((code, b["error_code"].as_str()), (403, Some("HIVE_ACCESS_DENIED")), "{b}");
    assert_eq!(register(None, "h").await.0, 401);
    // A worker token reaches only the worker endpoints.
    let (code, _) = send(http.get(format!("{}/api/swarms", d.url)).header("x-worker-token", "worker-secret")).await;
    assert_eq!(code, 403);

    // ZeroMQ `ready`: the shared token or a worker token; anything else is rejected.
    let endpoint = d.endpoint.clone().unwrap();
    let mut alive = Vec::new();
    for (id, token, ok) in [("z1", "shared", true), ("z2", "worker-secret", true), ("z3", "v", false)] {
        let ready = json!({"type": "ready", "worker_id": id, "capabilities": [], "token": token});
        let mut w = zmq_common::Worker::connect_with(&endpoint, id, ready, true).await;
        if !ok {
            let v = w.next().await;
            assert_eq!((v["type"].as_str(), v["reason"].as_str()), (Some("rejected"), Some("bad token")), "{v}");
        }
        alive.push(w); // connected (and heartbeating) until the end
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, list) = send(http.get(format!("{}/api/v1/workers?transport=zmq", d.url)).bearer_auth("v")).await;
        if list["total"] == 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "z1 and z2 registered: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    d.stop();
}
