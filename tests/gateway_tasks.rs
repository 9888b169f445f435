//! `POST /api/v1/tasks`, one ZeroMQ worker read and force-unregistered by
//! id, and what task records and the v1 lists show, against real
//! ROUTER/DEALER sockets on 127.0.0.1 and a real server.

mod http_common;
mod zmq_common;

use hive::gateway::GatewayOptions;
use http_common::{Daemon, assert_error, cfg};
use serde_json::{Value, json};
use zmq_common::Worker;

async fn daemon() -> (Daemon, String) {
    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() };
    let d = Daemon::start_with(cfg(), hive::HiveOptions { gateway: Some(gw), ..Default::default() }).await;
    let endpoint = d.hive.zmq_status().await.unwrap().endpoint;
    (d, endpoint)
}

async fn until_workers(d: &Daemon, n: u64) {
    d.get_until("/api/v1/zmq/status", |b| b["connected"].as_u64() == Some(n)).await;
}

/// A worker that sends no heartbeat: once unregistered it does not come back by itself.
async fn quiet(ep: &str, id: &str, caps: &[&str]) -> Worker {
    let ready = json!({"type": "ready", "worker_id": id, "capabilities": caps, "slots": 1});
    Worker::connect_with(ep, id, ready, false).await
}

async fn submit(d: &Daemon, body: Value) -> Value {
    let r = d.http.post(d.url("/api/v1/tasks")).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let b: Value = r.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/tasks/{}", b["task_id"].as_str().unwrap()), "{b}");
    b
}

#[tokio::test]
async fn a_worker_unregistered_through_the_api_loses_its_task_to_the_queue_and_is_a_stranger_after() {
    let (d, ep) = daemon().await;
    let mut w1 = quiet(&ep, "w1", &["gpu"]).await;
    until_workers(&d, 1).await;
    let (c, one) = d.get("/api/v1/zmq/workers/w1").await;
    assert_eq!((c, &one["worker_id"], &one["status"]), (200, &json!("w1"), &json!("ready")), "{one}");
    let (c, b) = d.get("/api/v1/zmq/workers/nope").await;
    assert_error(c, &b, 404, "HIVE_WORKER_NOT_FOUND");

    let rec = submit(&d, json!({"prompt": "p", "capabilities": ["gpu"], "priority": 2})).await;
    // The answer is the record once it is durable: a free worker may have taken it by then.
    assert!(["queued", "in_progress"].contains(&rec["status"].as_str().unwrap()), "{rec}");
    assert_eq!((&rec["priority"], &rec["capabilities"]), (&json!(2), &json!(["gpu"])), "{rec}");
    let id = rec["task_id"].as_str().unwrap().to_string();
    let task = w1.next().await;
    assert_eq!(task["task_id"], id);
    w1.send(json!({"type": "token", "task_id": id, "content": "half "})).await;
    w1.send(json!({"type": "token", "task_id": id, "content": "way"})).await;
    let path = format!("/api/v1/tasks/{id}");
    let running = d.get_until(&path, |b| b["content"] == "half way").await;
    assert_eq!(
        (&running["status"], &running["worker"], &running["attempts"]),
        (&json!("in_progress"), &json!("w1"), &json!(1))
    );
    assert_eq!(running["output"], "half way", "{running}");
    assert!(running["started_at"].is_u64() && running["ended_at"].is_null(), "{running}");
    let (_, busy) = d.get("/api/v1/zmq/workers?status=busy").await;
    assert_eq!(busy["items"][0]["current_task"], json!(id), "{busy}");

    let (c, gone) = d.delete("/api/v1/zmq/workers/w1").await;
    assert_eq!((c, &gone["status"], &gone["requeued"]), (200, &json!("unregistered"), &json!([id])), "{gone}");
    let (c, b) = d.get("/api/v1/zmq/workers/w1").await;
    assert_error(c, &b, 404, "HIVE_WORKER_NOT_FOUND");
    let (c, b) = d.delete("/api/v1/zmq/workers/w1").await;
    assert_error(c, &b, 404, "HIVE_WORKER_NOT_FOUND");
    let queued = d.get_until(&path, |b| b["status"] == "queued").await;
    assert_eq!((&queued["worker"], &queued["attempts"], &queued["content"]), (&Value::Null, &json!(1), &json!("")));

    // Its result now is a stranger's frame: refused, and the task waits on.
    w1.result(&task["task_id"], "stale").await;
    d.get_until("/api/events?event_type=frame_rejected", |b| b["count"] == 1).await;
    assert_eq!(d.get(&path).await.1["status"], "queued");

    let mut w2 = Worker::connect(&ep, "w2", &["gpu"], 1).await;
    let again = w2.next().await;
    assert_eq!(again["task_id"], id, "requeued to the next worker");
    w2.result(&again["task_id"], "done").await;
    let done = d.get_until(&path, |b| b["status"] == "ok").await;
    assert_eq!((&done["content"], &done["worker"], &done["attempts"]), (&json!("done"), &json!("w2"), &json!(2)));
    assert!(done["ended_at"].as_u64() >= done["started_at"].as_u64() && done["output"].is_null(), "{done}");

    // A heartbeat from the forgotten worker is answered as an unknown one's;
    // its `ready` then registers it anew.
    w1.send(json!({"type": "heartbeat", "worker_id": "w1"})).await;
    let told = w1.next().await;
    assert!(told["reason"].as_str().is_some_and(|r| r.contains("not registered")), "{told}");
    d.get_until("/api/v1/zmq/workers/w1", |b| b["worker_id"] == "w1").await;
    d.shutdown().await;
}

#[tokio::test]
async fn submitted_tasks_wait_for_a_worker_and_bad_submits_are_refused() {
    let (d, ep) = daemon().await;
    // No worker: the task is queued all the same (it waits until its timeout).
    let rec = submit(&d, json!({"prompt": "later", "timeout_ms": 60000})).await;
    let id = rec["task_id"].as_str().unwrap().to_string();
    let (_, zs) = d.get("/api/v1/zmq/status").await;
    assert_eq!(zs["queue_depth"], 1, "{zs}");
    let mut w = Worker::connect(&ep, "late", &[], 1).await;
    assert_eq!(w.next().await["task_id"], id);

    for (body, code) in [
        (json!({"prompt": ""}), "HIVE_BAD_REQUEST"),
        (json!({"prompt": "x", "priority": 0}), "HIVE_BAD_REQUEST"),
        (json!({"prompt": "x", "colour": "red"}), "HIVE_INVALID_BODY"),
        (json!({"capabilities": []}), "HIVE_INVALID_BODY"),
    ] {
        let (c, b) = d.post("/api/v1/tasks", body).await;
        assert_error(c, &b, 400, code);
    }
    d.shutdown().await;

    let off = Daemon::local().await;
    let (c, b) = off.post("/api/v1/tasks", json!({"prompt": "x"})).await;
    assert_error(c, &b, 503, "HIVE_UNAVAILABLE");
    off.shutdown().await;
}

#[tokio::test]
async fn v1_lists_filter_and_sort_over_closed_sets_and_say_has_more() {
    let (d, ep) = daemon().await;
    let mut gpu = quiet(&ep, "gpu-1", &["gpu"]).await;
    let _cpu = quiet(&ep, "cpu-1", &["cpu"]).await;
    until_workers(&d, 2).await;
    let a = submit(&d, json!({"prompt": "a", "capabilities": ["gpu"]})).await;
    let b = submit(&d, json!({"prompt": "b", "capabilities": ["nobody-has-this"], "priority": 1})).await;
    let a_id = a["task_id"].as_str().unwrap();
    assert_eq!(gpu.next().await["task_id"], a_id);
    d.get_until(&format!("/api/v1/tasks/{a_id}"), |r| r["status"] == "in_progress").await;

    let ids = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["task_id"].as_str().unwrap().to_string()).collect()
    };
    let b_id = b["task_id"].as_str().unwrap().to_string();
    let (_, l) = d.get("/api/v1/tasks?worker=gpu-1").await;
    assert_eq!(ids(&l), [a_id], "{l}");
    let (_, l) = d.get("/api/v1/tasks?capability=nobody-has-this").await;
    assert_eq!(ids(&l), vec![b_id.clone()], "{l}");
    let (_, l) = d.get("/api/v1/tasks?sort=priority").await;
    assert_eq!(ids(&l), [b_id.clone(), a_id.to_string()], "priority 1 first: {l}");
    let (_, l) = d.get("/api/v1/tasks?sort=-attempts&per_page=1").await;
    assert_eq!((ids(&l), &l["has_more"], &l["total"]), (vec![a_id.to_string()], &json!(true), &json!(2)), "{l}");
    let (_, l) = d.get("/api/v1/tasks?sort=created_at&per_page=1&page=2").await;
    assert_eq!((ids(&l), &l["has_more"]), (vec![b_id], &json!(false)), "{l}");

    let (_, w) = d.get("/api/v1/zmq/workers?capability=cpu").await;
    assert_eq!((&w["total"], &w["items"][0]["worker_id"]), (&json!(1), &json!("cpu-1")), "{w}");
    let (_, w) = d.get("/api/v1/zmq/workers?sort=-worker_id").await;
    assert_eq!((&w["items"][0]["worker_id"], &w["has_more"]), (&json!("gpu-1"), &json!(false)), "{w}");
    let (_, w) = d.get("/api/v1/zmq/workers?status=busy").await;
    assert_eq!((&w["total"], &w["items"][0]["worker_id"]), (&json!(1), &json!("gpu-1")), "{w}");

    for (path, code, names) in [
        ("/api/v1/tasks?status=nope", "HIVE_BAD_FILTER", "in_progress"),
        ("/api/v1/tasks?sort=-colour", "HIVE_BAD_QUERY", "-started_at"),
        ("/api/v1/zmq/workers?status=sleepy", "HIVE_BAD_FILTER", "draining"),
        ("/api/v1/zmq/workers?sort=age", "HIVE_BAD_QUERY", "last_heartbeat"),
        ("/api/v1/agents?status=idle", "HIVE_BAD_FILTER", "running"),
        ("/api/v1/agents?state=running", "HIVE_BAD_FILTER", "idle"),
        ("/api/v1/agents?sort=name", "HIVE_BAD_QUERY", "spawned_at"),
    ] {
        let (c, b) = d.get(path).await;
        assert_error(c, &b, 400, code);
        assert!(b["error"].as_str().unwrap().contains(names), "{path}: the valid values are named: {b}");
    }
    d.shutdown().await;
}
