//! Workers over plain HTTP against a real daemon: register, long-poll,
//! stream output, end a task; a worker lost mid-task, silent or a real
//! reference-worker process SIGKILLed (its task completes once, on a
//! ZeroMQ worker); the handoff (a task that ends before the poll, a poll
//! of an earlier registration, a poll whose answer is not delivered);
//! leases and heartbeats; a worker bound to its token; a hundred workers
//! polling at once behind one address, each with its own rate-limit
//! bucket, and made-up ids that get none; and the bad input of each
//! endpoint.

mod common;
mod http_common;
mod zmq_common;

use std::time::Duration;

use hive::gateway::{DispatchRequest, GatewayOptions, Submit};
use http_common::{Daemon, cfg};
use serde_json::{Value, json};

async fn daemon(cfg: hive::http::ServerConfig, gw: GatewayOptions) -> Daemon {
    let gateway = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..gw };
    Daemon::start_with(cfg, hive::HiveOptions { gateway: Some(gateway), ..Default::default() }).await
}

async fn register(d: &Daemon, id: &str, caps: &[&str], slots: u32) -> Value {
    let (code, b) = d.post("/api/v1/workers/register", json!({"id": id, "capabilities": caps, "slots": slots})).await;
    assert_eq!(code, 201, "{b}");
    b
}

/// Waits for a task (the test's deadline, 10 s); panics on 204.
async fn next(d: &Daemon, id: &str) -> Value {
    let (code, a) = d.get(&format!("/api/v1/workers/{id}/next?wait=10s")).await;
    assert_eq!(code, 200, "{a}");
    a
}

async fn submit(d: &Daemon, prompt: &str, caps: &[&str]) -> String {
    let (code, b) = d.post("/api/v1/tasks", json!({"prompt": prompt, "capabilities": caps})).await;
    assert_eq!(code, 202, "{b}");
    b["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_http_worker_registers_polls_streams_and_ends_a_task() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    let terms = register(&d, "h1", &["gpu"], 2).await;
    assert_eq!(terms["id"], "h1");
    assert!(terms["lease_ms"].as_u64().unwrap() > 0 && terms["max_wait_s"] == 60, "{terms}");
    // Nothing to do: 204 once `wait` passes.
    let r = d.http.get(d.url("/api/v1/workers/h1/next?wait=100ms")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);

    let id = submit(&d, "render", &["gpu"]).await;
    let a = next(&d, "h1").await;
    assert_eq!((a["task_id"].as_str(), &a["prompt"]), (Some(id.as_str()), &json!("render")), "{a}");
    assert_eq!(a["capabilities"], json!(["gpu"]));
    let one = format!("/api/v1/tasks/{id}");
    let t = d.get_until(&one, |t| t["status"] == "in_progress").await;
    assert_eq!(t["worker"], "h1");
    for chunk in ["par", "tial"] {
        let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/output"), json!({"content": chunk})).await;
        assert_eq!(code, 200, "{b}");
    }
    d.get_until(&one, |t| t["output"] == "partial").await;
    let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "done"})).await;
    assert_eq!(code, 200, "{b}");
    let t = d.get_until(&one, |t| t["status"] == "ok").await;
    assert_eq!(t["content"], "done");

    // A second end is refused and recorded; the task stays as it ended.
    let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "again"})).await;
    assert_eq!((code, b["error_code"].as_str()), (409, Some("HIVE_CONFLICT")), "{b}");
    d.get_until("/api/events?event_type=result_ignored", |e| e["count"].as_u64() > Some(0)).await;
    assert_eq!(d.get(&one).await.1["content"], "done");

    // A failure with the worker's own code.
    let id = submit(&d, "fail", &[]).await;
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    let (code, _) =
        d.post(&format!("/api/v1/workers/h1/tasks/{id}/error"), json!({"code": "oom", "message": "no memory"})).await;
    assert_eq!(code, 200);
    let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "error").await;
    assert_eq!((&t["error_code"], &t["error_message"]), (&json!("oom"), &json!("no memory")), "{t}");

    // Listed with every transport, with its own.
    let (_, list) = d.get("/api/v1/workers?transport=http").await;
    assert_eq!((list["total"].as_u64(), &list["items"][0]["transport"]), (Some(1), &json!("http")), "{list}");
    let (_, hb) = d.post("/api/v1/workers/h1/heartbeat", json!({})).await;
    assert_eq!(hb["status"], "ok");
    let (code, b) = d.delete("/api/v1/workers/h1").await;
    assert_eq!((code, &b["status"]), (200, &json!("unregistered")), "{b}");
    assert_eq!(d.post("/api/v1/workers/h1/heartbeat", json!({})).await.0, 404, "gone: register again");
    d.shutdown().await;
}

#[tokio::test]
async fn bad_input_from_a_worker_is_a_4xx_and_changes_nothing() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    register(&d, "h1", &[], 1).await;
    let cases: Vec<(u16, (u16, Value))> = vec![
        (409, d.post("/api/v1/workers/register", json!({"id": "h1"})).await),
        (400, d.post("/api/v1/workers/register", json!({"id": ""})).await),
        (400, d.post("/api/v1/workers/register", json!({"id": "x", "slots": 0})).await),
        (400, d.post("/api/v1/workers/register", json!({"id": "x", "bogus": 1})).await),
        (404, d.post("/api/v1/workers/nobody/heartbeat", json!({})).await),
        (404, d.get("/api/v1/workers/nobody/next?wait=1ms").await),
        (400, d.get("/api/v1/workers/h1/next?wait=61s").await),
        (400, d.get("/api/v1/workers/h1/next?wait=soon").await),
        (409, d.post("/api/v1/workers/h1/tasks/nope/result", json!({"content": "x"})).await),
        (404, d.post("/api/v1/workers/nobody/tasks/nope/result", json!({"content": "x"})).await),
        (400, d.post("/api/v1/workers/h1/tasks/nope/error", json!({"message": "no code"})).await),
    ];
    for (want, (code, body)) in cases {
        assert_eq!(code, want, "{body}");
        assert!(body["error_code"].is_string(), "the error shape: {body}");
    }
    let (_, list) = d.get("/api/v1/workers").await;
    assert_eq!(list["total"], 1, "nothing registered by the refusals: {list}");
    d.shutdown().await;
}

#[tokio::test]
async fn an_http_worker_lost_mid_task_has_its_task_completed_once_by_a_zeromq_worker() {
    let gw = GatewayOptions { http_heartbeat_timeout: Duration::from_millis(400), ..Default::default() };
    let d = daemon(cfg(), gw).await;
    register(&d, "h1", &["x"], 1).await;
    let id = submit(&d, "once", &["x"]).await;
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    // h1 goes silent: no heartbeat, no poll. It is lost; the task requeued.
    let endpoint = d.hive.zmq_status().await.unwrap().endpoint;
    d.get_until("/api/events?event_type=task_requeued", |e| e["count"].as_u64() > Some(0)).await;
    let mut z = zmq_common::Worker::connect(&endpoint, "z1", &["x"], 1).await;
    let task = z.next().await;
    assert_eq!((task["type"].as_str(), &task["task_id"]), (Some("task"), &json!(id)), "{task}");
    z.result(&task["task_id"], "by zmq").await;
    let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "ok").await;
    assert_eq!((&t["content"], &t["worker"], t["attempts"].as_u64()), (&json!("by zmq"), &json!("z1"), Some(2)), "{t}");
    // The lost worker's late result is refused: the task ended once.
    let (code, _) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "late"})).await;
    assert_eq!(code, 404, "h1 is gone");
    assert_eq!(d.get(&format!("/api/v1/tasks/{id}")).await.1["content"], "by zmq");
    d.shutdown().await;
}

#[tokio::test]
async fn a_task_given_but_never_taken_loses_its_worker_even_while_it_heartbeats() {
    let gw = GatewayOptions { lease: Duration::from_millis(300), ..Default::default() };
    let d = daemon(cfg(), gw).await;
    register(&d, "h1", &[], 1).await;
    // Given a task it never takes: its lease runs from the assignment, and
    // heartbeats (which renew only the tasks it took) do not keep it.
    let id = submit(&d, "leased", &[]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, b) = d.post("/api/v1/workers/h1/heartbeat", json!({})).await;
        if code == 404 {
            break; // lost
        }
        assert_eq!(code, 200, "{b}");
        assert!(tokio::time::Instant::now() < deadline, "the heartbeats kept a task it never took");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.get_until("/api/events?event_type=worker_disconnected", |e| e["count"].as_u64() > Some(0)).await;
    let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "queued").await;
    assert_eq!(t["attempts"], 1, "{t}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_taken_task_s_lease_is_renewed_by_heartbeats() {
    let gw = GatewayOptions { lease: Duration::from_millis(300), ..Default::default() };
    let d = daemon(cfg(), gw).await;
    register(&d, "h1", &[], 1).await;
    let id = submit(&d, "held", &[]).await;
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    // Past several leases on heartbeats alone, then the result is taken.
    let (_, before) = d.get("/api/events?event_type=worker_disconnected").await;
    let until = tokio::time::Instant::now() + Duration::from_millis(1200);
    while tokio::time::Instant::now() < until {
        assert_eq!(d.post("/api/v1/workers/h1/heartbeat", json!({})).await.0, 200, "still registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "kept"})).await;
    assert_eq!(code, 200, "{b}");
    let (_, after) = d.get("/api/events?event_type=worker_disconnected").await;
    assert_eq!(before["count"], after["count"], "{after}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_task_that_ends_before_its_worker_polls_does_not_block_the_next_one() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    register(&d, "h1", &[], 1).await;
    // Given to h1 (its one slot), then cancelled before h1 polls.
    let gone = submit(&d, "cancelled before the poll", &[]).await;
    d.get_until(&format!("/api/v1/tasks/{gone}"), |t| t["worker"] == "h1").await;
    let (code, b) = d.delete(&format!("/api/v1/tasks/{gone}")).await;
    assert!(code < 300, "{code} {b}");
    // The slot it freed takes the next task, and the poll gets that one.
    let id = submit(&d, "the next one", &[]).await;
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "ok"})).await;
    assert_eq!(code, 200, "{b}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_task_taken_by_a_poll_that_is_not_delivered_goes_back_to_the_queue_at_once() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    register(&d, "h1", &[], 1).await;
    let id = submit(&d, "handed back", &[]).await;
    // A poll takes it, and its answer is dropped unsent (its client went away).
    let who: std::sync::Arc<str> = hive::access::Principal::LOOPBACK.into();
    let taken = d.hive.gateway().next_http("h1", &who, Duration::from_secs(10)).await.unwrap().expect("a task");
    assert_eq!(taken.assignment().task_id, id);
    drop(taken);
    // Requeued at once (no lease or timeout waited for), and the next poll has it.
    d.get_until("/api/events?event_type=task_requeued", |e| e["count"].as_u64() > Some(0)).await;
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "once"})).await;
    assert_eq!(code, 200, "{b}");
    let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "ok").await;
    assert_eq!(t["content"], "once");
    // A poll whose client hangs up while it waits takes nothing with it.
    {
        use tokio::io::AsyncWriteExt;
        let mut raw = tokio::net::TcpStream::connect(d.addr).await.unwrap();
        let req = format!("GET /api/v1/workers/h1/next?wait=10s HTTP/1.1\r\nhost: {}\r\n\r\n", d.addr);
        raw.write_all(req.as_bytes()).await.unwrap();
        // Waiting: another poll is refused.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while d.get("/api/v1/workers/h1/next?wait=0s").await.0 != 409 {
            assert!(tokio::time::Instant::now() < deadline, "the raw poll never waited");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while d.get("/api/v1/workers/h1/next?wait=0s").await.0 == 409 {
        assert!(tokio::time::Instant::now() < deadline, "the cut-off poll is still waiting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let id = submit(&d, "after the hang-up", &[]).await;
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    d.shutdown().await;
}

#[tokio::test]
async fn a_poll_of_an_earlier_registration_takes_nothing_from_the_next_one() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    register(&d, "h1", &[], 1).await;
    let (http, url) = (d.http.clone(), d.url("/api/v1/workers/h1/next?wait=20s"));
    let old = tokio::spawn(async move { http_common::send(http.get(url)).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while d.get("/api/v1/workers/h1/next?wait=0s").await.0 != 409 {
        assert!(tokio::time::Instant::now() < deadline, "the first poll never waited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Unregistered and registered again while that poll waits.
    assert_eq!(d.delete("/api/v1/workers/h1").await.0, 200);
    register(&d, "h1", &[], 1).await;
    let id = submit(&d, "for the new one", &[]).await;
    let new = next(&d, "h1").await;
    assert_eq!(new["task_id"], json!(id));
    let (code, b) = tokio::time::timeout(Duration::from_secs(30), old).await.expect("answered").unwrap();
    assert_eq!((code, b["error_code"].as_str()), (404, Some("HIVE_WORKER_NOT_FOUND")), "the old poll: {b}");
    let (code, b) = d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "once"})).await;
    assert_eq!(code, 200, "{b}");
    let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "ok").await;
    assert_eq!(t["attempts"], 1, "delivered once: {t}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_worker_is_its_registering_token_s_and_another_token_is_refused() {
    let tokens = [("w1", "s1"), ("w2", "s2")]
        .iter()
        .map(|(n, s)| hive::access::TokenSpec {
            name: (*n).into(),
            role: hive::access::Role::Worker,
            sha256: hive::access::digest_hex(s),
        })
        .collect();
    let d = daemon(hive::http::ServerConfig { tokens, ..cfg() }, GatewayOptions::default()).await;
    let as_ = |secret: &'static str, m: reqwest::Method, path: &str, body: Value| {
        let req = d.http.request(m, d.url(path)).bearer_auth(secret).json(&body);
        async move { http_common::send(req).await }
    };
    use reqwest::Method;
    let (code, b) = as_("s1", Method::POST, "/api/v1/workers/register", json!({"id": "h1"})).await;
    assert_eq!(code, 201, "{b}");
    let req = DispatchRequest { prompt: "mine".into(), ..Default::default() };
    let id = d.hive.dispatch(req, Submit::Queue).await.unwrap().0.to_string();
    for (m, path, body) in [
        (Method::POST, "/api/v1/workers/h1/heartbeat".to_string(), json!({})),
        (Method::GET, "/api/v1/workers/h1/next?wait=0s".to_string(), Value::Null),
        (Method::POST, format!("/api/v1/workers/h1/tasks/{id}/output"), json!({"content": "x"})),
        (Method::POST, format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "x"})),
        (Method::POST, format!("/api/v1/workers/h1/tasks/{id}/error"), json!({"code": "c", "message": "m"})),
    ] {
        let (code, b) = as_("s2", m.clone(), &path, body).await;
        http_common::assert_error(code, &b, 403, "HIVE_FORBIDDEN");
        assert!(b["error"].as_str().unwrap().contains("another token"), "{m} {path}: {b}");
    }
    // Its own token gets the task, which no other token touched.
    let (code, a) = as_("s1", Method::GET, "/api/v1/workers/h1/next?wait=10s", Value::Null).await;
    assert_eq!((code, &a["task_id"]), (200, &json!(id)), "{a}");
    let (code, b) =
        as_("s1", Method::POST, &format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "ok"})).await;
    assert_eq!(code, 200, "{b}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_hundred_http_workers_behind_one_address_long_poll_at_once_and_share_the_tasks() {
    // Tight enough that 100 workers' polls and results from one address
    // would be refused if they shared its bucket.
    let limit = hive::http::RateLimit { per_second: 20, burst: 150 };
    let d = daemon(hive::http::ServerConfig { rate_limit: limit, ..cfg() }, GatewayOptions::default()).await;
    let n = 100;
    for i in 0..n {
        register(&d, &format!("w{i}"), &[], 1).await;
    }
    let polls: Vec<_> = (0..n)
        .map(|i| {
            let (http, url) = (d.http.clone(), d.url(&format!("/api/v1/workers/w{i}/next?wait=20s")));
            tokio::spawn(async move { http.get(url).send().await.unwrap().json::<Value>().await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..n {
        let req = DispatchRequest { prompt: format!("t{i}"), ..Default::default() };
        ids.insert(d.hive.dispatch(req, Submit::Queue).await.unwrap().0.to_string());
    }
    let mut given = std::collections::BTreeSet::new();
    for (i, p) in polls.into_iter().enumerate() {
        let a = tokio::time::timeout(Duration::from_secs(30), p).await.expect("each poll is answered").unwrap();
        let task = a["task_id"].as_str().unwrap_or_else(|| panic!("w{i} got {a}")).to_string();
        let (code, b) = d.post(&format!("/api/v1/workers/w{i}/tasks/{task}/result"), json!({"content": "ok"})).await;
        assert_eq!(code, 200, "w{i}: {b}");
        given.insert(task);
    }
    assert_eq!(given, ids, "every task went to exactly one worker");
    let (_, ok) = d.get("/api/v1/tasks?status=ok&per_page=1").await;
    assert_eq!(ok["total"], n, "{ok}");
    d.shutdown().await;
}

#[tokio::test]
async fn unauthenticated_calls_with_made_up_worker_ids_share_their_address_s_bucket() {
    let tokens = vec![hive::access::TokenSpec {
        name: "w1".into(),
        role: hive::access::Role::Worker,
        sha256: hive::access::digest_hex("s1"),
    }];
    let limit = hive::http::RateLimit { per_second: 1, burst: 3 };
    let d = daemon(hive::http::ServerConfig { tokens, rate_limit: limit, ..cfg() }, GatewayOptions::default()).await;
    // Each id is new: were it given a bucket, none would ever be refused.
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..20 {
        let (code, b) = d.post(&format!("/api/v1/workers/fresh{i}/heartbeat"), json!({})).await;
        assert!(b["error_code"].is_string(), "{b}");
        *codes.entry(code).or_default() += 1;
    }
    assert!(codes.get(&429).copied().unwrap_or(0) > 0, "{codes:?}");
    assert_eq!(codes.keys().copied().collect::<Vec<_>>(), [401, 429], "{codes:?}");
    // A worker that authenticates has its own bucket, though its address's is spent.
    let (code, b) = send_as(&d, "s1", reqwest::Method::POST, "/api/v1/workers/register", json!({"id": "h1"})).await;
    assert_eq!(code, 429, "register counts against the address: {b}");
    let r = d.http.post(d.url("/api/v1/workers/h1/heartbeat")).bearer_auth("s1").json(&json!({})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404, "its id's own bucket (h1 is not registered: 404, not 429)");
    d.shutdown().await;
}

async fn send_as(d: &Daemon, secret: &str, m: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    http_common::send(d.http.request(m, d.url(path)).bearer_auth(secret).json(&body)).await
}

/// The reference worker (`actors/http_worker.py`), killed when dropped.
struct PyWorker(std::process::Child);

impl Drop for PyWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_reference_http_worker_runs_tasks_on_its_slots_and_registers_again_when_forgotten() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    let script = format!("{}/actors/http_worker.py", env!("CARGO_MANIFEST_DIR"));
    let url = format!("http://{}", d.addr);
    let args = [
        "--url",
        &url,
        "--id",
        "py1",
        "--slots",
        "2",
        "--wait",
        "2",
        "--heartbeat-ms",
        "200",
        "--capabilities",
        "echo",
    ];
    let _py = PyWorker(
        std::process::Command::new("python3").arg(&script).args(args).spawn().expect("python3 runs the worker"),
    );
    d.get_until("/api/v1/workers?transport=http", |l| l["total"] == 1).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(submit(&d, &format!("hello there {i}"), &["echo"]).await);
    }
    for (i, id) in ids.iter().enumerate() {
        let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "ok").await;
        assert_eq!((&t["content"], &t["worker"]), (&json!(format!("hello there {i}")), &json!("py1")), "{t}");
    }
    // Streamed word by word: the tokens reached the live event stream
    // (tokens are published, never stored).
    let token = |e: &hive::events::Event| {
        matches!(e.kind, hive::events::EventKind::AgentOutput { output: hive::events::OutputKind::Token, .. })
    };
    // The task's end is decided before its last events are committed: wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while d.hive.events().recent(10_000, token).len() < 4 * 3 {
        assert!(tokio::time::Instant::now() < deadline, "three words per task");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(d.hive.events().recent(10_000, token).len(), 4 * 3, "and no more");
    // Forgotten by the daemon (as after a restart): it registers again and works on.
    let (code, _) = d.delete("/api/v1/workers/py1").await;
    assert_eq!(code, 200);
    d.get_until("/api/v1/workers?transport=http", |l| l["total"] == 1).await;
    let id = submit(&d, "back again", &["echo"]).await;
    let t = d.get_until(&format!("/api/v1/tasks/{id}"), |t| t["status"] == "ok").await;
    assert_eq!(t["content"], "back again");
    d.shutdown().await;
}

#[tokio::test]
async fn the_task_stream_tells_each_change_of_a_task_in_order_and_ends_with_it() {
    let d = daemon(cfg(), GatewayOptions::default()).await;
    register(&d, "h1", &[], 1).await;
    let (mut all, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/tasks", d.addr)).await.unwrap();
    let id = submit(&d, "watch me", &[]).await;
    let (mut one, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/tasks?task={id}", d.addr)).await.unwrap();
    assert_eq!(next(&d, "h1").await["task_id"], json!(id));
    for c in ["a", "b"] {
        d.post(&format!("/api/v1/workers/h1/tasks/{id}/output"), json!({"content": c})).await;
    }
    d.post(&format!("/api/v1/workers/h1/tasks/{id}/result"), json!({"content": "ab"})).await;
    let mut seen = Vec::new();
    while seen.last().is_none_or(|t: &String| t != "task.completed") {
        let n = common::next(&mut all).await.expect("the stream goes on");
        assert_eq!(n["task_id"], json!(id), "{n}");
        seen.push(n["type"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ["task.queued", "task.started", "task.output", "task.output", "task.completed"]);
    // `?task=`: from its subscription on, then closed after the end.
    let mut mine = Vec::new();
    while let Some(n) = common::next(&mut one).await {
        mine.push((n["type"].as_str().unwrap().to_string(), n["content"].clone()));
    }
    assert_eq!(mine.last(), Some(&("task.completed".to_string(), json!("ab"))), "{mine:?}");
    // An ended task: its end at once, then closed.
    let (mut late, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/tasks?task={id}", d.addr)).await.unwrap();
    let n = common::next(&mut late).await.unwrap();
    assert_eq!((n["type"].as_str(), &n["content"]), (Some("task.completed"), &json!("ab")), "{n}");
    assert!(common::next(&mut late).await.is_none());
    // An unknown task: 404 before any upgrade.
    match tokio_tungstenite::connect_async(format!("ws://{}/ws/tasks?task=nope", d.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 404),
        other => panic!("expected 404, got {other:?}"),
    }
    d.shutdown().await;
}

#[tokio::test]
async fn a_reference_http_worker_killed_while_it_holds_a_task_has_it_completed_once_by_a_zeromq_worker() {
    let gw = GatewayOptions { http_heartbeat_timeout: Duration::from_millis(500), ..Default::default() };
    let d = daemon(cfg(), gw).await;
    let script = format!("{}/actors/http_worker.py", env!("CARGO_MANIFEST_DIR"));
    let url = format!("http://{}", d.addr);
    // One word, then a minute's pause: it holds the task when it is killed.
    let args = ["--url", &url, "--id", "py1", "--wait", "2", "--heartbeat-ms", "100", "--token-delay-ms", "60000"];
    let mut py = PyWorker(
        std::process::Command::new("python3").arg(&script).args(args).spawn().expect("python3 runs the worker"),
    );
    d.get_until("/api/v1/workers?transport=http", |l| l["total"] == 1).await;
    let id = submit(&d, "hold this", &["echo"]).await;
    let one = format!("/api/v1/tasks/{id}");
    let t = d.get_until(&one, |t| t["output"].as_str().is_some_and(|o| o.starts_with("hold"))).await;
    assert_eq!((&t["worker"], &t["status"]), (&json!("py1"), &json!("in_progress")), "{t}");
    py.0.kill().expect("SIGKILL"); // no goodbye: the process is gone mid-task
    py.0.wait().unwrap();
    d.get_until("/api/events?event_type=task_requeued", |e| e["count"].as_u64() > Some(0)).await;
    let endpoint = d.hive.zmq_status().await.unwrap().endpoint;
    let mut z = zmq_common::Worker::connect(&endpoint, "z1", &["echo"], 1).await;
    let task = z.next().await;
    assert_eq!((task["type"].as_str(), &task["task_id"]), (Some("task"), &json!(id)), "{task}");
    z.result(&task["task_id"], "by zmq").await;
    let t = d.get_until(&one, |t| t["status"] == "ok").await;
    assert_eq!((&t["content"], &t["worker"], t["attempts"].as_u64()), (&json!("by zmq"), &json!("z1"), Some(2)), "{t}");
    // Completed once (the only task of this daemon), and the killed worker is gone.
    let done = d.get_until("/api/events?event_type=task_completed", |e| e["count"].as_u64() > Some(0)).await;
    assert_eq!(done["count"], 1, "{done}");
    let (_, list) = d.get("/api/v1/workers?transport=http").await;
    assert_eq!(list["total"], 0, "{list}");
    d.shutdown().await;
}
