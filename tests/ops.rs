//! Operating the daemon over real HTTP: `/health` in both forms, the
//! maintenance switch (new work refused with 503 + Retry-After, running work
//! finishes), the `X-RateLimit-*` headers and the 429 body, and the log ring
//! of a real `hive serve` process (`/api/v1/logs`).

mod cli_common;
mod http_common;

use std::time::Duration;

use hive::gateway::GatewayOptions;
use hive::http::{RateLimit, ServerConfig};
use http_common::{Daemon, assert_error, cfg, send};
use serde_json::{Value, json};

const SLOW: &str = r#"
name = "slow"
[[agents]]
name = "worker"
backend = "mock"
mock = { delay_ms = 1500, reply = "done" }
[[agents]]
name = "pool"
backend = "mock"
replicas = 1
"#;

fn gateway() -> hive::HiveOptions {
    hive::HiveOptions {
        gateway: Some(GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_small_for_anyone_and_detailed_for_a_valid_token() {
    let d = Daemon::start_with(ServerConfig { token: Some("s3cret".into()), ..cfg() }, gateway()).await;
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth("s3cret");
    // Three dispatched tasks wait (no worker): two at priority 1, one at 7.
    for p in [1, 7, 1] {
        let (code, body) = send(auth(d.http.post(d.url("/api/v1/zmq/dispatch"))).json(&json!({
            "prompt": "p", "mode": "async", "priority": p
        })))
        .await;
        assert_eq!(code, 202, "{body}");
    }

    let (code, small) = d.get("/health").await;
    assert_eq!(code, 200, "{small}");
    assert_eq!((small["status"].as_str(), small["accepting"].as_bool()), (Some("ok"), Some(true)), "{small}");
    for key in ["version", "uptime_s", "swarms_running", "last_event_seq"] {
        assert!(!small[key].is_null(), "{key} missing: {small}");
    }
    assert!(small.get("detail").is_none(), "no detail without a token: {small}");
    let (_, wrong) = send(d.http.get(d.url("/health")).bearer_auth("nope")).await;
    assert!(wrong.get("detail").is_none(), "no detail with a wrong token: {wrong}");

    let (code, full) = send(auth(d.http.get(d.url("/health")))).await;
    assert_eq!(code, 200, "{full}");
    let detail = &full["detail"];
    assert_eq!(detail["maintenance"]["accepting"], true, "{full}");
    assert_eq!(detail["gateway"], true, "{full}");
    assert_eq!(detail["workers"], json!({"total": 0, "ready": 0, "busy": 0, "draining": 0}), "{full}");
    assert_eq!(detail["slots"], json!({"total": 0, "used": 0, "free": 0}), "{full}");
    assert_eq!(
        detail["queue"],
        json!({"total": 3, "by_priority": [{"priority": 1, "depth": 2}, {"priority": 7, "depth": 1}]}),
        "{full}"
    );
    let store = &detail["store"];
    assert_eq!(store["mode"], "durable", "{full}");
    assert!(store["path"].as_str().is_some_and(|p| p.ends_with("hive.redb")), "{full}");
    // The async dispatches were answered once durable: a commit has happened.
    assert!(store["last_commit"].as_str().is_some_and(|t| t.ends_with('Z')), "{full}");
    assert!(store["writer_queue"].is_u64() && store["unstored_events"].is_u64(), "{full}");
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_in_memory_says_so() {
    let d = Daemon::start_with(cfg(), hive::HiveOptions::default()).await;
    // No token configured: a loopback caller is one auth accepts.
    let (_, h) = d.get("/health").await;
    assert_eq!(h["detail"]["gateway"], false, "{h}");
    d.shutdown().await;
    let hive = hive::Hive::start(hive::HiveOptions::default()).await.unwrap();
    let h = hive.health(true).await.unwrap();
    let store = h.detail.unwrap().store;
    assert_eq!((store.mode, store.path), (hive::runtime::StoreMode::InMemory, None));
    hive.shutdown().await;
}

async fn task_status(d: &Daemon, id: &str) -> Value {
    d.get_until(&format!("/api/v1/tasks/{id}"), |b| !b["status"].is_null()).await
}

fn assert_maintenance(code: u16, body: &Value) {
    assert_error(code, body, 503, "HIVE_MAINTENANCE");
    assert_eq!(body["retry_after"], hive::runtime::MAINTENANCE_RETRY_AFTER_S, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_refuses_new_work_lets_running_work_finish_and_ends() {
    let d = Daemon::start_with(cfg(), gateway()).await;
    d.create(SLOW).await;
    let (code, body) = d.post("/api/swarms/slow/agents/worker/task", json!({"task": "long"})).await;
    assert_eq!(code, 202, "{body}");
    let running = body["task_id"].as_str().unwrap().to_string();
    d.get_until(&format!("/api/v1/tasks/{running}"), |b| b["status"] == "in_progress").await;

    let (code, state) = d.post("/api/v1/maintenance/off", json!(null)).await;
    assert_eq!(code, 200, "{state}");
    assert_eq!(state["accepting"], false, "{state}");
    assert!(state["since"].as_str().is_some(), "{state}");

    // New work of every kind is refused, with Retry-After.
    let r =
        d.http.post(d.url("/api/swarms/slow/agents/worker/task")).json(&json!({"task": "new"})).send().await.unwrap();
    assert_eq!(r.headers()["retry-after"], hive::runtime::MAINTENANCE_RETRY_AFTER_S.to_string().as_str());
    let (code, body) = (r.status().as_u16(), r.json::<Value>().await.unwrap());
    assert_maintenance(code, &body);
    let (code, body) =
        d.post("/api/swarms/slow/message", json!({"from": "worker", "to": "pool", "content": "x"})).await;
    assert_maintenance(code, &body);
    let (code, body) = d.post("/api/swarms", json!({"content": http_common::DEMO, "format": "toml"})).await;
    assert_maintenance(code, &body);
    let (code, body) = d.post("/api/v1/zmq/dispatch", json!({"prompt": "p", "mode": "async"})).await;
    assert_maintenance(code, &body);
    let (code, body) = d
        .post(
            "/api/v1/orchestrate",
            json!({"tasks": [{"prompt": "p"}], "strategy": "parallel",
        "mode": "direct", "timeout": 1000}),
        )
        .await;
    assert_maintenance(code, &body);
    let (code, body) = d.post("/api/swarms/slow/agents/pool/scale", json!({"count": 3})).await;
    assert_maintenance(code, &body);
    let (code, body) = d.post("/api/swarms/slow/restart", json!(null)).await;
    assert_maintenance(code, &body);

    // Reads, and taking work away, keep working; health shows the switch.
    let (code, _) = d.get("/api/swarms/slow").await;
    assert_eq!(code, 200);
    let (code, body) = d.post("/api/swarms/slow/agents/pool/scale", json!({"count": 1})).await;
    assert_eq!(code, 200, "scaling to the same size is no new work: {body}");
    let (_, h) = d.get("/health").await;
    assert_eq!(
        (h["accepting"].as_bool(), h["detail"]["maintenance"]["accepting"].as_bool()),
        (Some(false), Some(false))
    );

    // The task that was running when maintenance began finishes.
    let ended = d.get_until(&format!("/api/v1/tasks/{running}"), |b| b["status"] == "ok").await;
    assert_eq!(ended["content"], "done", "{ended}");

    let (code, state) = d.post("/api/v1/maintenance/on", json!(null)).await;
    assert_eq!((code, state["accepting"].as_bool()), (200, Some(true)), "{state}");
    let (code, body) = d.post("/api/swarms/slow/agents/worker/task", json!({"task": "again"})).await;
    assert_eq!(code, 202, "accepted again: {body}");
    let id = body["task_id"].as_str().unwrap().to_string();
    assert!(!task_status(&d, &id).await["status"].is_null());
    let (code, _) = d.post("/api/v1/zmq/dispatch", json!({"prompt": "p", "mode": "async"})).await;
    assert_eq!(code, 202);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_api_has_the_same_gate() {
    let hive = hive::Hive::start(hive::HiveOptions::default()).await.unwrap();
    let spec = hive::config::parse_toml(SLOW, &hive.validate_options()).unwrap();
    let swarm = hive.start_swarm(spec.clone()).await.unwrap();
    assert!(!hive.set_accepting(false).accepting);
    let e = swarm.send_task("worker", "x").await.unwrap_err();
    assert_eq!(e.code(), hive::ErrorCode::Maintenance, "{e}");
    assert!(matches!(hive.restart_swarm("slow", false).await, Err(hive::HiveError::Maintenance(_))));
    assert!(hive.swarm("slow").await.is_ok(), "a refused restart stopped nothing");
    hive.set_accepting(true);
    assert!(swarm.send_task("worker", "x").await.is_ok());
    hive.shutdown().await;
}

fn header(r: &reqwest::Response, name: &str) -> u64 {
    r.headers()[name].to_str().unwrap().parse().unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limited_response_carries_its_budget_and_a_429_says_when_to_retry() {
    let d = Daemon::start(ServerConfig { rate_limit: RateLimit { per_second: 1, burst: 3 }, ..cfg() }).await;
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut remaining = Vec::new();
    // A 404 passes the limiter too.
    for path in ["/health", "/api/swarms", "/no/such/route"] {
        let r = d.http.get(d.url(path)).send().await.unwrap();
        assert!(r.status().as_u16() != 429, "{path}");
        assert_eq!(header(&r, "x-ratelimit-limit"), 3);
        let reset = header(&r, "x-ratelimit-reset");
        assert!(reset >= now() && reset <= now() + 4, "reset {reset} is Unix seconds within the refill time");
        remaining.push(header(&r, "x-ratelimit-remaining"));
    }
    // One token may come back within a slow request; never more than that.
    assert!(remaining[0] == 2 && remaining[2] <= 1, "{remaining:?}");
    let mut refused = None;
    for _ in 0..5 {
        let r = d.http.get(d.url("/api/swarms")).send().await.unwrap();
        if r.status().as_u16() == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("a burst beyond the quota is refused");
    assert_eq!((header(&r, "x-ratelimit-limit"), header(&r, "x-ratelimit-remaining")), (3, 0));
    let retry = header(&r, "retry-after");
    let body: Value = r.json().await.unwrap();
    assert_error(429, &body, 429, "HIVE_RATE_LIMITED");
    assert_eq!(body["retry_after"].as_u64(), Some(retry), "{body}");
    assert!(retry >= 1, "{body}");
    d.shutdown().await;

    // With the limit off, no budget headers.
    let d = Daemon::start(ServerConfig { rate_limit: RateLimit { per_second: 0, burst: 0 }, ..cfg() }).await;
    let r = d.http.get(d.url("/health")).send().await.unwrap();
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    d.shutdown().await;
}

async fn logs(http: &reqwest::Client, url: &str, query: &str) -> (u16, Value) {
    send(http.get(format!("{url}/api/v1/logs{query}"))).await
}

fn messages(body: &Value) -> Vec<String> {
    body["items"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_serves_its_own_log_lines() {
    let daemon = cli_common::Daemon::start(&["--in-memory"], &[("RUST_LOG", "error")], false);
    let http = reqwest::Client::new();
    let url = daemon.url.clone();

    // The daemon logged that it listens (at info, though stderr shows only errors).
    let (code, body) = logs(&http, &url, "").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["capacity"], 1000, "{body}");
    let listening = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["message"] == "listening")
        .unwrap_or_else(|| panic!("no 'listening' line: {body}"))
        .clone();
    assert_eq!((listening["level"].as_str(), listening["target"].as_str()), (Some("info"), Some("hive::cli::serve")));
    assert_eq!(listening["fields"][0]["name"], "addr", "{listening}");
    assert!(url.ends_with(listening["fields"][0]["value"].as_str().unwrap()), "{listening}");
    assert!(listening["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{listening}");

    // A line it logs later shows up, newest last; limit takes the newest.
    let (code, _) = send(http.post(format!("{url}/api/v1/maintenance/off"))).await;
    assert_eq!(code, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = logs(&http, &url, "?limit=1").await;
        if messages(&body).iter().any(|m| m.starts_with("maintenance started")) {
            assert_eq!(body["count"], 1, "{body}");
            assert_eq!(body["has_more"], true, "older lines are held: {body}");
            assert!(body["total"].as_u64() > Some(1), "{body}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no maintenance line: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, all) = logs(&http, &url, "?level=info").await;
    assert_eq!((&all["has_more"], &all["total"]), (&json!(false), &all["count"]), "{all}");
    let m = messages(&all);
    let (at, listen_at) =
        (m.iter().position(|m| m.starts_with("maintenance")), m.iter().position(|m| m == "listening"));
    assert!(listen_at < at, "oldest first: {m:?}");

    // The level filter keeps that level and more severe: no info line is a warning.
    let (code, warn) = logs(&http, &url, "?level=warn").await;
    assert_eq!(code, 200, "{warn}");
    assert!(warn["items"].as_array().unwrap().iter().all(|l| l["level"] == "warn" || l["level"] == "error"), "{warn}");

    // Bad input: a 400 that names the valid levels, and the limit's bounds.
    let (code, bad) = logs(&http, &url, "?level=loud").await;
    assert_error(code, &bad, 400, "HIVE_BAD_FILTER");
    assert_eq!(bad["details"]["valid"], json!(["error", "warn", "info", "debug", "trace"]), "{bad}");
    for q in ["?limit=0", "?limit=1001", "?limit=x", "?lines=3"] {
        let (code, bad) = logs(&http, &url, q).await;
        assert_eq!(code, 400, "{q}: {bad}");
    }
    daemon.stop();
}
