//! The ZeroMQ gateway end to end: real ROUTER/DEALER sockets on 127.0.0.1,
//! workers written here with tmq, the REST API on a real server.

mod http_common;
mod tools;
mod zmq_common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hive::gateway::GatewayOptions;
use http_common::{Daemon, cfg};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tools::Tool;
use zmq_common::Worker;

async fn daemon(opts: GatewayOptions) -> (Daemon, String) {
    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..opts };
    let d = Daemon::start_with(cfg(), hive::HiveOptions { gateway: Some(gw), ..Default::default() }).await;
    let endpoint = d.hive.zmq_status().await.unwrap().endpoint;
    (d, endpoint)
}

async fn until_workers(d: &Daemon, n: u64) {
    d.get_until("/api/v1/zmq/status", |b| b["connected"].as_u64() == Some(n)).await;
}

/// A runtime with a store in `dir` and the gateway on a free port.
fn durable(dir: &std::path::Path) -> hive::HiveOptions {
    hive::HiveOptions {
        data_dir: Some(dir.to_path_buf()),
        gateway: Some(GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() }),
        ..Default::default()
    }
}

async fn dispatch(d: &Daemon, body: Value) -> String {
    let (c, b) = d.post("/api/v1/zmq/dispatch", body).await;
    assert_eq!(c, 202, "{b}");
    b["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn tokens_stream_over_sse_then_the_result() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut w = Worker::connect(&ep, "w1", &["llm"], 1).await;
    until_workers(&d, 1).await;
    let http = d.http.clone();
    let url = d.url("/api/v1/zmq/dispatch");
    let sse = tokio::spawn(async move {
        let r = http.post(url).json(&json!({"prompt": "hello", "stream": true})).send().await.unwrap();
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        r.text().await.unwrap()
    });
    let task = w.next().await;
    assert_eq!((&task["type"], &task["prompt"]), (&json!("task"), &json!("hello")), "{task}");
    for t in ["hel", "lo"] {
        w.send(json!({"type": "token", "task_id": task["task_id"], "content": t})).await;
    }
    w.result(&task["task_id"], "HELLO").await;
    let body = tokio::time::timeout(Duration::from_secs(10), sse).await.unwrap().unwrap();
    let expected = format!(
        "event: token\ndata: {{\"content\":\"hel\"}}\n\nevent: token\ndata: {{\"content\":\"lo\"}}\n\nevent: result\ndata: {}\n\n",
        json!({"task_id": task["task_id"], "status": "ok", "content": "HELLO"})
    );
    assert_eq!(body, expected);
    let (_, rec) = d.get(&format!("/api/v1/tasks/{}", task["task_id"].as_str().unwrap())).await;
    assert_eq!((&rec["status"], &rec["content"]), (&json!("ok"), &json!("HELLO")), "{rec}");
    d.shutdown().await;
}

#[tokio::test]
async fn sync_mode_answers_the_result_and_both_framings_work() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    // A worker that sends [b"", payload] gets answers with the empty frame.
    let ctx = tmq::Context::new();
    let sock = tmq::dealer(&ctx).set_identity(b"framed").set_linger(0).connect(&ep).unwrap();
    let (mut sink, mut stream) = sock.split();
    let ready = rmp_serde::to_vec_named(&json!({"type": "ready", "worker_id": "framed"})).unwrap();
    sink.send(tmq::Multipart::from(vec![tmq::Message::new(), tmq::Message::from(ready)])).await.unwrap();
    until_workers(&d, 1).await;
    let http = d.http.clone();
    let url = d.url("/api/v1/zmq/dispatch");
    let call = tokio::spawn(async move { http.post(url).json(&json!({"prompt": "p"})).send().await.unwrap() });
    let parts = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(parts.len(), 2, "answered in the framing the worker used");
    assert!(parts[0].is_empty());
    let task: Value = rmp_serde::from_slice(&parts[1]).unwrap();
    let result =
        rmp_serde::to_vec_named(&json!({"type": "result", "task_id": task["task_id"], "content": "r"})).unwrap();
    sink.send(tmq::Multipart::from(vec![tmq::Message::new(), tmq::Message::from(result)])).await.unwrap();
    let r = call.await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!((&b["status"], &b["content"]), (&json!("ok"), &json!("r")), "{b}");
    d.shutdown().await;
}

#[tokio::test]
async fn cancel_reaches_the_worker_and_a_late_result_is_ignored() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut w = Worker::connect(&ep, "w1", &[], 1).await;
    until_workers(&d, 1).await;
    let id = dispatch(&d, json!({"prompt": "long", "mode": "async"})).await;
    let task = w.next().await;
    assert_eq!(task["task_id"], id);
    let (c, b) = d.delete(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!((c, &b["status"]), (200, &json!("cancelled")), "{b}");
    let cancel = w.next().await;
    assert_eq!(cancel, json!({"type": "cancel", "task_id": id}));
    w.result(&task["task_id"], "too late").await;
    d.get_until("/api/events?event_type=result_ignored&swarm=_dispatch", |b| b["count"] == 1).await;
    let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "cancelled").await;
    assert_ne!(rec["content"], "too late");
    d.shutdown().await;
}

#[tokio::test]
async fn a_worker_killed_mid_task_loses_it_to_another_worker_and_it_completes_once() {
    let opts = GatewayOptions { heartbeat_timeout: Duration::from_millis(400), ..Default::default() };
    let (d, ep) = daemon(opts).await;
    let mut w1 = Worker::connect(&ep, "w1", &[], 1).await;
    until_workers(&d, 1).await;
    let id = dispatch(&d, json!({"prompt": "p", "mode": "async"})).await;
    assert_eq!(w1.next().await["task_id"], id);
    let mut w2 = Worker::connect(&ep, "w2", &[], 1).await;
    until_workers(&d, 2).await;
    w1.die();
    let again = w2.next().await;
    assert_eq!(again["task_id"], id, "requeued to the live worker");
    w2.result(&again["task_id"], "done").await;
    let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
    assert_eq!((rec["attempts"].as_u64(), &rec["content"]), (Some(2), &json!("done")), "{rec}");
    // The record is the task book's word; its events are stored just after.
    d.get_until("/api/events?swarm=_dispatch&event_type=task_completed", |ev| ev["count"] == 1).await;
    let (_, ev) = d.get("/api/events?swarm=_dispatch&event_type=worker_disconnected").await;
    assert_eq!(ev["events"][0]["metadata"]["reason"], "heartbeat_timeout", "{ev}");
    assert_eq!(ev["events"][0]["metadata"]["requeued"], 1, "{ev}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_task_whose_workers_keep_dying_fails_with_worker_lost() {
    let opts = GatewayOptions { heartbeat_timeout: Duration::from_millis(300), max_attempts: 2, ..Default::default() };
    let (d, ep) = daemon(opts).await;
    let id = dispatch(&d, json!({"prompt": "cursed", "mode": "async"})).await;
    for n in 0..2 {
        let mut w = Worker::connect(&ep, &format!("doomed{n}"), &[], 1).await;
        assert_eq!(w.next().await["task_id"], id);
        w.die();
    }
    let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "error").await;
    assert!(rec["content"].as_str().unwrap().starts_with("worker_lost"), "{rec}");
    d.shutdown().await;
}

#[tokio::test]
async fn garbage_from_a_worker_is_recorded_and_the_gateway_keeps_serving() {
    let opts = GatewayOptions { token: Some("wt".into()), ..Default::default() };
    let (d, ep) = daemon(opts).await;
    // No token, then a bad one: rejected.
    let mut bad = Worker::connect_with(&ep, "intruder", json!({"type": "ready", "worker_id": "intruder"}), false).await;
    assert_eq!(bad.next().await, json!({"type": "rejected", "reason": "bad token"}));
    let ready = json!({"type": "ready", "worker_id": "good", "token": "wt"});
    let mut good = Worker::connect_with(&ep, "good", ready.clone(), true).await;
    until_workers(&d, 1).await;
    // The same id again from another socket identity is refused.
    let dup = json!({"type": "ready", "worker_id": "good", "token": "wt"});
    let mut imposter = Worker::connect_with(&ep, "good2", dup, false).await;
    assert_eq!(imposter.next().await["type"], "rejected");
    for junk in [json!("raw-garbage"), json!([1, 2, 3]), json!({"type": "explode"}), json!({"type": "result"})] {
        good.send(junk).await;
    }
    d.get_until("/api/events?event_type=frame_rejected", |b| b["count"].as_u64() == Some(4)).await;
    let id = dispatch(&d, json!({"prompt": "still fine", "mode": "async"})).await;
    let t = good.next().await;
    assert_eq!(t["task_id"], id);
    good.result(&t["task_id"], "yes").await;
    d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
    d.shutdown().await;
}

#[tokio::test]
async fn priority_orders_the_queue_and_a_draining_worker_takes_nothing_new() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut w = Worker::connect(&ep, "w1", &["py"], 1).await;
    until_workers(&d, 1).await;
    let first = dispatch(&d, json!({"prompt": "first", "mode": "async"})).await;
    let t = w.next().await;
    assert_eq!(t["task_id"], first);
    // Drain: the running task finishes, nothing new arrives.
    let (c, _) = d.post("/api/v1/zmq/workers/w1/off", json!(null)).await;
    assert_eq!(c, 200);
    let (_, ws) = d.get("/api/v1/zmq/workers").await;
    assert_eq!(ws["items"][0]["status"], "draining", "{ws}");
    let mut ids = Vec::new();
    for (p, prio) in [("low", 9), ("high", 1), ("mid", 5), ("high2", 1)] {
        ids.push((dispatch(&d, json!({"prompt": p, "priority": prio, "mode": "async"})).await, p));
    }
    let gpu = dispatch(&d, json!({"prompt": "gpu only", "capabilities": ["gpu"], "mode": "async"})).await;
    w.result(&t["task_id"], "ok").await;
    d.get_until(&format!("/api/v1/tasks/{first}"), |b| b["status"] == "ok").await;
    let (_, status) = d.get("/api/v1/zmq/status").await;
    assert_eq!((status["queue_depth"].as_u64(), status["running"].as_u64()), (Some(5), Some(0)), "{status}");
    d.post("/api/v1/zmq/workers/w1/on", json!(null)).await;
    let mut order = Vec::new();
    for _ in 0..4 {
        let t = w.next().await;
        order.push(t["prompt"].as_str().unwrap().to_string());
        w.result(&t["task_id"], "ok").await;
    }
    assert_eq!(order, ["high", "high2", "mid", "low"], "priority, then FIFO");
    let (_, rec) = d.get(&format!("/api/v1/tasks/{gpu}")).await;
    assert_eq!(rec["status"], "queued", "no worker has the capability: {rec}");
    d.shutdown().await;
}

#[tokio::test]
async fn a_hundred_workers_connect_and_share_the_work() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut workers = Vec::new();
    for i in 0..100 {
        workers.push(Worker::connect(&ep, &format!("w{i:03}"), &[], 1).await);
    }
    until_workers(&d, 100).await;
    let (_, page) = d.get("/api/v1/zmq/workers?per_page=10&page=10").await;
    assert_eq!((page["total"].as_u64(), page["items"][0]["worker_id"].as_str()), (Some(100), Some("w090")), "{page}");
    let mut ids = Vec::new();
    for i in 0..100 {
        ids.push(dispatch(&d, json!({"prompt": format!("t{i}"), "mode": "async"})).await);
    }
    // One slot each: every worker gets exactly one task.
    for w in &mut workers {
        let t = w.next().await;
        w.result(&t["task_id"], &w.id.clone()).await;
    }
    for id in ids {
        d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
    }
    d.shutdown().await;
}

#[tokio::test]
async fn orchestrate_runs_parallel_and_workflow() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut w = Worker::connect(&ep, "w1", &[], 4).await;
    until_workers(&d, 1).await;
    let echo = tokio::spawn(async move {
        loop {
            let t = w.next().await;
            let content = format!("{}+{}", t["prompt"].as_str().unwrap(), t["context"].as_str().unwrap_or("-"));
            w.result(&t["task_id"], &content).await;
        }
    });
    let (c, b) = d
        .post("/api/v1/orchestrate", json!({"tasks": [{"prompt": "a"}, {"prompt": "b"}], "strategy": "parallel"}))
        .await;
    assert_eq!((c, &b["status"]), (200, &json!("ok")), "{b}");
    let contents: Vec<&str> = b["results"].as_array().unwrap().iter().map(|r| r["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["a+-", "b+-"]);
    let (_, b) =
        d.post("/api/v1/orchestrate", json!({"tasks": [{"prompt": "a"}, {"prompt": "b"}], "mode": "workflow"})).await;
    let last = b["results"][1]["content"].as_str().unwrap();
    assert_eq!(last, "b+a+-", "the first result is the second task's context: {b}");
    let (c, b) = d.post("/api/v1/orchestrate", json!({"tasks": [], "strategy": "parallel"})).await;
    assert_eq!((c, &b["error_code"]), (400, &json!("HIVE_BAD_REQUEST")));
    echo.abort();
    d.shutdown().await;
}

#[tokio::test]
async fn a_zmq_agent_runs_its_tasks_on_a_worker_with_its_capabilities() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut cpu = Worker::connect(&ep, "cpu", &["py"], 1).await;
    let mut gpu = Worker::connect(&ep, "gpu", &["py", "gpu"], 1).await;
    until_workers(&d, 2).await;
    d.create("name = \"z\"\n[[agents]]\nname = \"vision\"\nbackend = \"zmq\"\ncapabilities = [\"gpu\"]\n").await;
    let mut bus = d.hive.events().subscribe();
    let (c, t) = d.post("/api/swarms/z/agents/vision/task", json!({"task": "look"})).await;
    assert_eq!(c, 202, "{t}");
    let task = gpu.next().await;
    assert_eq!((&task["prompt"], &task["swarm"], &task["agent"]), (&json!("look"), &json!("z"), &json!("vision")));
    gpu.send(json!({"type": "token", "task_id": task["task_id"], "content": "a cat"})).await;
    gpu.result(&task["task_id"], "a cat on a mat").await;
    let id = t["task_id"].as_str().unwrap();
    let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
    assert_eq!((&rec["content"], &rec["agent"]), (&json!("a cat on a mat"), &json!("vision")), "{rec}");
    // Tokens are live-only events (not stored): read them from the bus,
    // up to the agent's task_completed (which may follow the record).
    let mut kinds = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), bus.recv()).await.expect("events within 10 s").unwrap();
        if e.event_type() == "agent_output" && e.agent.as_deref() == Some("vision") {
            kinds.push(e.kind.metadata()["kind"].as_str().unwrap().to_string());
        }
        if e.event_type() == "task_completed" && e.agent.as_deref() == Some("vision") {
            break;
        }
    }
    assert_eq!(kinds, ["token", "result"]);
    // The agent's own lifecycle is the only one reported (no duplicate from the dispatcher).
    let (_, done) = d.get("/api/events?event_type=task_completed").await;
    assert_eq!(done["count"], 1, "{done}");
    // Cancel through the agent reaches the worker.
    let (_, t2) = d.post("/api/swarms/z/agents/vision/task", json!({"task": "again"})).await;
    let task2 = gpu.next().await;
    let (c, _) = d.delete(&format!("/api/v1/tasks/{}", t2["task_id"].as_str().unwrap())).await;
    assert_eq!(c, 200);
    assert_eq!(gpu.next().await, json!({"type": "cancel", "task_id": task2["task_id"]}));
    assert!(cpu.rx.try_recv().is_err(), "the worker without the capability got nothing");
    d.shutdown().await;
}

#[tokio::test]
async fn standalone_jsonl_workers_take_dispatched_tasks_from_the_same_pool() {
    if !tools::require(&[Tool::Python3]) {
        return;
    }
    let echo = format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"));
    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() };
    let opts = hive::HiveOptions {
        gateway: Some(gw),
        workers: hive::runtime::WorkerOptions { spawn_allow: vec![echo.clone()], ..Default::default() },
        ..Default::default()
    };
    let d = Daemon::start_with(cfg(), opts).await;
    let spawn = json!({"worker_path": echo, "opts": {"capabilities": ["jsonl"]}});
    let (c, b) = d.post("/api/v1/agents/spawn", spawn).await;
    assert_eq!(c, 201, "{b}");
    let local = format!("local/{}", b["id"].as_str().unwrap());
    let (_, ws) = d.get("/api/v1/zmq/workers").await;
    assert_eq!(
        (&ws["items"][0]["worker_id"], &ws["items"][0]["tags"]["kind"]),
        (&json!(local), &json!("jsonl")),
        "{ws}"
    );
    let (c, r) = d.post("/api/v1/zmq/dispatch", json!({"prompt": "hello pool", "capabilities": ["jsonl"]})).await;
    assert_eq!((c, &r["status"]), (200, &json!("ok")), "{r}");
    assert!(r["content"].as_str().unwrap().contains("hello pool"), "{r}");
    // A restarted gateway takes the pool worker back (its link is made again).
    d.hive.gateway().kill_socket().unwrap();
    let log = |b: &Value| b.to_string().contains("takes dispatched tasks again");
    d.get_until("/api/events?event_type=log_entry&swarm=_workers", log).await;
    let (c, r) = d.post("/api/v1/zmq/dispatch", json!({"prompt": "hello again", "capabilities": ["jsonl"]})).await;
    assert_eq!((c, &r["status"]), (200, &json!("ok")), "{r}");
    // Killing the worker takes it out of the pool.
    let (c, _) = d.delete(&format!("/api/v1/agents/{}/kill", b["id"].as_str().unwrap())).await;
    assert_eq!(c, 200);
    d.get_until("/api/v1/zmq/status", |b| b["connected"] == 0).await;
    d.shutdown().await;
}

#[tokio::test]
async fn webhook_mode_posts_the_result_with_the_headers_and_retries() {
    use std::sync::{Arc, Mutex};
    // A receiver that fails the first delivery, then records.
    type Deliveries = Arc<Mutex<Vec<(Option<String>, Value)>>>;
    let got: Deliveries = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let (g, n) = (got.clone(), calls.clone());
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
            let (g, n) = (g.clone(), n.clone());
            async move {
                if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let h = headers.get("x-secret").map(|v| v.to_str().unwrap().to_string());
                g.lock().unwrap().push((h, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hook).await });

    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() };
    let allow = hive::http::ServerConfig { webhook_allow: vec![url.clone()], ..cfg() };
    let d = Daemon::start_with(allow, hive::HiveOptions { gateway: Some(gw), ..Default::default() }).await;
    let ep = d.hive.zmq_status().await.unwrap().endpoint;
    let mut w = Worker::connect(&ep, "w1", &[], 1).await;
    until_workers(&d, 1).await;
    // Only allowed prefixes: nothing else can be made a target.
    let other = json!({"prompt": "p", "mode": "webhook", "webhook": {"url": "http://169.254.169.254/latest"}});
    let (c, e) = d.post("/api/v1/zmq/dispatch", other).await;
    assert_eq!((c, &e["error_code"]), (403, &json!("HIVE_FORBIDDEN")), "{e}");
    let body = json!({"prompt": "p", "mode": "webhook", "webhook": {"url": url, "headers": {"x-secret": "s"}}});
    let (c, b) = d.post("/api/v1/zmq/dispatch", body).await;
    assert_eq!(c, 202, "{b}");
    let t = w.next().await;
    w.result(&t["task_id"], "delivered").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the webhook was not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (h, body) = got.lock().unwrap()[0].clone();
    assert_eq!(h.as_deref(), Some("s"));
    assert_eq!(body, json!({"task_id": b["task_id"], "status": "ok", "content": "delivered"}));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2, "one failure, one retry");
    let (c, e) = d.post("/api/v1/zmq/dispatch", json!({"prompt": "p", "mode": "webhook"})).await;
    assert_eq!((c, &e["error_code"]), (400, &json!("HIVE_BAD_REQUEST")));
    d.shutdown().await;
}

/// A TLS listener for axum: each accepted connection's handshake is done
/// before it is served (one that fails is dropped).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else { continue };
            if let Ok(io) = self.tls.accept(tcp).await {
                return (io, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A test CA (its PEM) and a TLS acceptor with a certificate it signed for 127.0.0.1.
fn test_tls() -> (String, tokio_rustls::TlsAcceptor) {
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "hive test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    (ca.pem(), tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

#[tokio::test]
async fn a_webhook_over_https_is_delivered_with_the_configured_ca() {
    let (ca_pem, tls) = test_tls();
    let (tx, mut got) = mpsc::channel::<Value>(4);
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body).await;
                axum::http::StatusCode::OK
            }
        }),
    );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(TlsListener { tcp, tls }, hook).await });

    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() };
    let server = hive::http::ServerConfig { webhook_allow: vec![url.clone()], webhook_ca: Some(ca), ..cfg() };
    let d = Daemon::start_with(server, hive::HiveOptions { gateway: Some(gw), ..Default::default() }).await;
    let ep = d.hive.zmq_status().await.unwrap().endpoint;
    let mut w = Worker::connect(&ep, "w1", &[], 1).await;
    until_workers(&d, 1).await;
    let (c, b) =
        d.post("/api/v1/zmq/dispatch", json!({"prompt": "p", "mode": "webhook", "webhook": {"url": url}})).await;
    assert_eq!(c, 202, "{b}");
    let t = w.next().await;
    w.result(&t["task_id"], "over tls").await;
    let body = tokio::time::timeout(Duration::from_secs(10), got.recv()).await.expect("delivered within 10 s");
    assert_eq!(body, Some(json!({"task_id": b["task_id"], "status": "ok", "content": "over tls"})));
    d.shutdown().await;
}

#[tokio::test]
async fn dispatch_and_orchestrate_modes_are_closed_enums() {
    let (d, _) = daemon(GatewayOptions::default()).await;
    let (c, e) = d.post("/api/v1/zmq/dispatch", json!({"prompt": "p", "mode": "later"})).await;
    assert_eq!(c, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("`sync`, `async`, `stream`, `webhook`"), "{e}");
    let tasks = json!([{"prompt": "a"}]);
    let (c, e) = d.post("/api/v1/orchestrate", json!({"tasks": tasks, "strategy": "random"})).await;
    assert_eq!(c, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("`parallel` or `sequential`"), "{e}");
    let (c, e) = d.post("/api/v1/orchestrate", json!({"tasks": tasks, "mode": "chain"})).await;
    assert_eq!(c, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("`direct` or `workflow`"), "{e}");
    let (c, e) =
        d.post("/api/v1/orchestrate", json!({"tasks": tasks, "mode": "workflow", "strategy": "parallel"})).await;
    assert_eq!((c, &e["error_code"]), (400, &json!("HIVE_BAD_REQUEST")), "{e}");
    // The OpenAPI document lists the values.
    let (_, doc) = d.get("/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["DispatchMode"]["enum"],
        json!(["sync", "async", "stream", "webhook"]),
        "{}",
        schemas["DispatchMode"]
    );
    assert_eq!(schemas["Strategy"]["enum"], json!(["parallel", "sequential"]));
    assert_eq!(schemas["OrchestrateMode"]["enum"], json!(["direct", "workflow"]));
    d.shutdown().await;
}

#[tokio::test]
async fn a_queued_dispatched_task_survives_a_restart_of_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || durable(dir.path());
    let h = hive::Hive::start(opts()).await.unwrap();
    let req = hive::gateway::DispatchRequest { prompt: "later".into(), priority: Some(2), ..Default::default() };
    let (id, _) = h.dispatch(req, hive::gateway::Submit::Queue).await.unwrap();
    h.shutdown().await;
    drop(h);
    let h = hive::Hive::start(opts()).await.unwrap();
    let ep = h.zmq_status().await.unwrap().endpoint;
    assert_eq!(h.zmq_status().await.unwrap().queue_depth, 1);
    let mut w = Worker::connect(&ep, "late", &[], 1).await;
    let t = w.next().await;
    assert_eq!((t["task_id"].as_str(), &t["priority"]), (Some(&*id), &json!(2)), "{t}");
    w.result(&t["task_id"], "done").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while h.task(&id).await.unwrap().status != hive::task::TaskStatus::Completed {
        assert!(tokio::time::Instant::now() < deadline, "the restored task did not complete");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.shutdown().await;
}

/// A task's record is written before any change of it, whichever way it
/// was submitted (the task book hands the store its record first, then its
/// changes, in order), and its events are stored in order; a record that
/// missed its changes would stay `queued` (and run again after a restart).
#[tokio::test]
async fn every_dispatched_task_is_recorded_before_its_events_and_ends_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || durable(dir.path());
    let h = hive::Hive::start(opts()).await.unwrap();
    let ep = h.zmq_status().await.unwrap().endpoint;
    let mut w = Worker::connect(&ep, "quick", &[], 1).await;
    while h.zmq_status().await.unwrap().connected != 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Acknowledged submitters are answered only once the record is durable.
    let req = |p: &str| hive::gateway::DispatchRequest { prompt: p.into(), ..Default::default() };
    let (queued, _) = h.dispatch(req("acknowledged"), hive::gateway::Submit::Queue).await.unwrap();
    let status = h.task(&queued).await.expect("recorded before the answer").status;
    assert!(["queued", "in_progress"].contains(&status.as_str()), "{status}");
    // An acknowledged task can be followed afterwards.
    let mut later = h.follow_dispatched(&queued).await.unwrap();
    let t = w.next().await;
    w.result(&t["task_id"], "acknowledged").await;
    let end = tokio::time::timeout(Duration::from_secs(10), later.next()).await.expect("its end within 10 s");
    let done = hive::task::TaskEnd::Completed { content: "acknowledged".into() };
    assert_eq!(end, Some(hive::task::TaskUpdate::Done(done)));
    // Followed tasks start at once; their worker answers faster than a commit.
    let mut ids = vec![queued.to_string()];
    for i in 0..100 {
        let prompt = format!("followed {i}");
        let (id, rx) = h.dispatch(req(&prompt), hive::gateway::Submit::Follow).await.unwrap();
        let t = w.next().await;
        assert_eq!(t["task_id"], json!(*id));
        w.result(&t["task_id"], &prompt).await;
        let mut rx = rx.unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.next()).await.expect("done within 10 s") {
                Some(hive::task::TaskUpdate::Done(end)) => {
                    assert_eq!(end, hive::task::TaskEnd::Completed { content: prompt });
                    break;
                }
                Some(_) => continue,
                None => panic!("task {id} ended without a result"),
            }
        }
        ids.push(id.to_string());
    }
    // Once the store has caught up, every record is final, and each task's
    // events are stored in order: queued, started, result, completed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for id in &ids {
        loop {
            let r = h.task(id).await.unwrap();
            if r.status == hive::task::TaskStatus::Completed {
                assert_eq!((r.attempts, r.result.is_some()), (1, true), "{r:?}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "task {id} stays '{}' in the store", r.status);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let q = hive::store::EventQuery {
        swarm: Some(hive::gateway::DISPATCH_SWARM.into()),
        limit: 10_000,
        ..Default::default()
    };
    // The end events follow the book's end; wait until every one is stored.
    let events = loop {
        let events = h.query_events(q.clone()).await.unwrap();
        if events.iter().filter(|e| e.event_type == "task_completed").count() >= ids.len() {
            break events;
        }
        assert!(tokio::time::Instant::now() < deadline, "the end events were not all stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    for id in &ids {
        let kinds: Vec<&str> =
            events.iter().filter(|e| e.metadata.contains(id.as_str())).map(|e| e.event_type.as_str()).collect();
        assert_eq!(kinds, ["task_queued", "task_started", "agent_output", "task_completed"], "task {id}");
    }
    // Nothing is left to run again after a restart, and the store has each end.
    h.shutdown().await;
    drop(h);
    let h = hive::Hive::start(opts()).await.unwrap();
    assert_eq!(h.zmq_status().await.unwrap().queue_depth, 0);
    for id in &ids {
        let r = h.task(id).await.unwrap();
        assert_eq!((r.status, r.attempts, r.result.is_some()), (hive::task::TaskStatus::Completed, 1, true), "{r:?}");
    }
    assert!(
        h.tasks().list(&[hive::task::TaskStatus::Queued, hive::task::TaskStatus::Running]).await.unwrap().is_empty()
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_task_past_its_timeout_fails_and_its_worker_is_told_to_cancel() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut w = Worker::connect(&ep, "slow", &[], 1).await;
    until_workers(&d, 1).await;
    let id = dispatch(&d, json!({"prompt": "forever", "mode": "async", "timeout_ms": 300})).await;
    assert_eq!(w.next().await["task_id"], id);
    assert_eq!(w.next().await, json!({"type": "cancel", "task_id": id}), "the worker is told");
    let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "error").await;
    assert!(rec["content"].as_str().unwrap().starts_with("timeout"), "{rec}");
    // Its slot is free again.
    let next = dispatch(&d, json!({"prompt": "next", "mode": "async"})).await;
    assert_eq!(w.next().await["task_id"], next);
    d.shutdown().await;
}

#[tokio::test]
async fn the_reference_worker_registers_again_after_the_gateway_restarts() {
    if !tools::require(&[Tool::PyZmq]) {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let opts = || hive::HiveOptions {
        gateway: Some(GatewayOptions { endpoint: endpoint.clone(), ..Default::default() }),
        ..Default::default()
    };
    let h = hive::Hive::start(opts()).await.unwrap();
    let worker = format!("{}/actors/zmq_worker.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .args([worker.as_str(), "--connect", &endpoint, "--id", "phoenix", "--heartbeat-ms", "100"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !listed(&h).await {
        assert!(tokio::time::Instant::now() < deadline, "the worker did not register");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.shutdown().await;
    drop(h);
    let h = hive::Hive::start(opts()).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !listed(&h).await {
        assert!(child.try_wait().unwrap().is_none(), "the worker exited instead of registering again");
        assert!(tokio::time::Instant::now() < deadline, "the worker did not register with the new gateway");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (id, rx) = h
        .dispatch(
            hive::gateway::DispatchRequest { prompt: "back".into(), ..Default::default() },
            hive::gateway::Submit::Follow,
        )
        .await
        .unwrap();
    let mut rx = rx.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(hive::task::TaskUpdate::Done(end)) = rx.next().await {
                return end;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("task {id} did not finish"));
    assert_eq!(done, hive::task::TaskEnd::Completed { content: "back".into() });
    let _ = child.kill();
    let _ = child.wait();
    h.shutdown().await;
}

/// The next `task` frame (skipping the others, such as the `rejected`
/// that makes the worker register again).
async fn next_task(w: &mut Worker) -> Value {
    loop {
        let f = w.next().await;
        if f["type"] == "task" {
            return f;
        }
    }
}

/// Killing the gateway's socket task (a test hook) stops the dispatcher;
/// its supervisor starts it again on the same address. The worker's next
/// heartbeat is answered "not registered: send ready" and it registers
/// again; the task it was running (requeued, one more attempt) and the one
/// waiting are queued again and complete, then a new one does too.
async fn the_socket_task_dies_and_the_gateway_comes_back(data_dir: Option<&std::path::Path>) {
    let d = match data_dir {
        None => daemon(GatewayOptions::default()).await.0,
        Some(dir) => Daemon::start_with(cfg(), durable(dir)).await,
    };
    let ep = d.hive.zmq_status().await.unwrap().endpoint;
    let mut w = Worker::connect(&ep, "w1", &[], 1).await;
    until_workers(&d, 1).await;
    let running = dispatch(&d, json!({"prompt": "running", "mode": "async"})).await;
    assert_eq!(next_task(&mut w).await["task_id"], running);
    let waiting = dispatch(&d, json!({"prompt": "waiting", "mode": "async"})).await;
    d.get_until("/api/v1/zmq/status", |b| b["queue_depth"] == 1 && b["running"] == 1).await;

    d.hive.gateway().kill_socket().unwrap();
    d.get_until("/api/events?event_type=worker_connected&swarm=_dispatch", |b| b["count"] == 2).await;
    let log = d.get_until("/api/events?event_type=log_entry&swarm=_dispatch", |b| b["count"] == 1).await;
    assert!(log.to_string().contains("socket task panicked"), "{log}");
    let status = d.get_until("/api/v1/zmq/status", |b| b["connected"] == 1).await;
    assert_eq!(status["endpoint"], ep.as_str(), "bound to the same address again");

    for (id, prompt) in [(&running, "running"), (&waiting, "waiting")] {
        let t = next_task(&mut w).await;
        assert_eq!((t["task_id"].as_str(), &t["prompt"]), (Some(id.as_str()), &json!(prompt)), "{t}");
        w.result(&t["task_id"], &format!("{prompt} done")).await;
    }
    let after = dispatch(&d, json!({"prompt": "after", "mode": "async"})).await;
    let t = next_task(&mut w).await;
    assert_eq!(t["task_id"], after);
    w.result(&t["task_id"], "after done").await;
    for (id, content, attempts) in
        [(&running, "running done", 2), (&waiting, "waiting done", 1), (&after, "after done", 1)]
    {
        let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
        assert_eq!((&rec["content"], &rec["attempts"]), (&json!(content), &json!(attempts)), "{rec}");
    }
    d.shutdown().await;
}

#[tokio::test]
async fn killing_the_socket_task_restarts_the_gateway_and_workers_register_again() {
    the_socket_task_dies_and_the_gateway_comes_back(None).await;
}

/// A swarm agent's dispatched task is taken back by the restarted
/// dispatcher under its agent: it runs again and ends the agent's task.
#[tokio::test]
async fn a_zmq_agents_task_running_when_the_socket_task_dies_completes_after_the_restart() {
    let (d, ep) = daemon(GatewayOptions::default()).await;
    let mut w = Worker::connect(&ep, "gpu", &["gpu"], 1).await;
    until_workers(&d, 1).await;
    d.create("name = \"z\"\n[[agents]]\nname = \"vision\"\nbackend = \"zmq\"\ncapabilities = [\"gpu\"]\n").await;
    let (c, t) = d.post("/api/swarms/z/agents/vision/task", json!({"task": "look"})).await;
    assert_eq!(c, 202, "{t}");
    let first = next_task(&mut w).await;
    d.hive.gateway().kill_socket().unwrap();
    d.get_until("/api/events?event_type=worker_connected&swarm=_dispatch", |b| b["count"] == 2).await;
    let again = next_task(&mut w).await;
    assert_eq!((&again["task_id"], &again["agent"]), (&first["task_id"], &json!("vision")), "{again}");
    w.result(&again["task_id"], "a cat").await;
    let id = t["task_id"].as_str().unwrap();
    let rec = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
    assert_eq!(rec["content"], "a cat", "{rec}");
    d.shutdown().await;
}

#[tokio::test]
async fn killing_the_socket_task_restarts_the_gateway_with_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    the_socket_task_dies_and_the_gateway_comes_back(Some(dir.path())).await;
}

async fn listed(h: &hive::Hive) -> bool {
    h.zmq_workers().await.unwrap().iter().any(|w| w.worker_id == "phoenix")
}

/// Orchestrate is a runtime call that owns its tasks: at its overall timeout
/// every task it started and that still runs is cancelled (its worker gets
/// `cancel`, its record ends `cancelled`), and when a later dispatch is
/// refused the tasks already started are cancelled too.
#[tokio::test]
async fn orchestrate_cancels_what_still_runs_at_its_timeout_and_on_a_refused_dispatch() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_with(cfg(), durable(dir.path())).await;
    let ep = d.hive.zmq_status().await.unwrap().endpoint;
    let mut w = Worker::connect(&ep, "silent", &[], 4).await;
    until_workers(&d, 1).await;
    let body = json!({"tasks": [{"prompt": "a"}, {"prompt": "b"}], "strategy": "parallel", "timeout": 300});
    let orchestrate = {
        let (http, url) = (d.http.clone(), d.url("/api/v1/orchestrate"));
        tokio::spawn(async move { http.post(url).json(&body).send().await.unwrap().json::<Value>().await.unwrap() })
    };
    // The worker takes both and never answers.
    let (a, b) = (w.next().await, w.next().await);
    let report = tokio::time::timeout(Duration::from_secs(10), orchestrate).await.unwrap().unwrap();
    assert_eq!(report["status"], "timeout", "{report}");
    assert!(report["results"].as_array().unwrap().iter().all(|r| r["status"] == "timeout"), "{report}");
    let mut cancelled = [w.next().await, w.next().await];
    cancelled.sort_by_key(|c| c["task_id"].as_str().unwrap().to_string());
    let mut ids = [a["task_id"].clone(), b["task_id"].clone()];
    ids.sort_by_key(|v| v.as_str().unwrap().to_string());
    for (c, id) in cancelled.iter().zip(&ids) {
        assert_eq!(c, &json!({"type": "cancel", "task_id": id}));
        let path = format!("/api/v1/tasks/{}", id.as_str().unwrap());
        d.get_until(&path, |t| t["status"] == "cancelled").await;
    }
    // A dispatch refused mid-way (a prompt over 1 MiB) cancels the task already started.
    use hive::runtime::orchestrate::{OrchestrateMode, Plan, Strategy};
    let req = |p: String| hive::gateway::DispatchRequest { prompt: p, ..Default::default() };
    let plan = Plan {
        tasks: vec![req("first".into()), req("x".repeat((1 << 20) + 1))],
        strategy: Strategy::Parallel,
        mode: OrchestrateMode::Direct,
        timeout: Duration::from_secs(60),
    };
    let refused = d.hive.gateway().orchestrate(plan).await;
    assert!(matches!(refused, Err(hive::HiveError::BadRequest(_))), "{refused:?}");
    let first = w.next().await;
    assert_eq!(first["prompt"], "first");
    assert_eq!(w.next().await, json!({"type": "cancel", "task_id": first["task_id"]}));
    d.get_until(&format!("/api/v1/tasks/{}", first["task_id"].as_str().unwrap()), |t| t["status"] == "cancelled").await;
    d.shutdown().await;
}
