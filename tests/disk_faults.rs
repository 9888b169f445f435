//! The daemon over a disk that fails (faults injected under the real redb
//! file through `HiveOptions::disk_faults`, feature `fault-injection`, which
//! this crate's tests turn on): a real server on port 0, real HTTP.

mod http_common;

use std::collections::BTreeSet;

use hive::store::{DiskFaults, Fault};
use hive::{Hive, HiveOptions};
use http_common::{DEMO, Daemon, assert_error, cfg};
use serde_json::{Value, json};

fn agents(swarm: &Value) -> BTreeSet<String> {
    swarm["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_while_the_disk_fails_is_503_reads_go_on_and_after_the_heal_it_is_accepted_and_durable() {
    let faults = DiskFaults::new();
    let mut d =
        Daemon::start_with(cfg(), HiveOptions { disk_faults: Some(faults.clone()), ..HiveOptions::default() }).await;
    d.create(DEMO).await;
    // The start's events are committed (so in the ring) before the disk fails.
    d.get_until("/api/events?limit=5", |ev| ev["events"].as_array().is_some_and(|e| !e.is_empty())).await;
    faults.fail(Fault::Sync);

    // The first write meets the failed fsync (or the store is already down,
    // an event's commit having met it first): 503, nothing acknowledged.
    let (code, b) = d.post("/api/swarms/demo/agents", json!({"name": "early", "backend": "mock"})).await;
    assert_error(code, &b, 503, "HIVE_STORAGE_UNAVAILABLE");
    assert!(faults.injected() > 0, "the fault fired");
    let h = d.get_until("/health", |h| h["detail"]["store"]["available"] == false).await;
    assert!(h["detail"]["store"]["unavailable_reason"].as_str().unwrap().contains("injected fault"), "{h}");

    // While the store is down: a mutation is refused before anything of it is applied...
    let (code, b) = d.post("/api/swarms/demo/agents", json!({"name": "critic", "backend": "mock"})).await;
    assert_error(code, &b, 503, "HIVE_STORAGE_UNAVAILABLE");
    assert_eq!(b["retry_after"], 5, "{b}");
    let (code, b) = d.post("/api/swarms/demo/agents/worker/scale", json!({"count": 3})).await;
    assert_error(code, &b, 503, "HIVE_STORAGE_UNAVAILABLE");
    // ...and so is a task that must be recorded before it is queued.
    let (code, b) = d.post("/api/swarms/demo/agents/worker_1/task", json!({"task": "hello"})).await;
    assert_error(code, &b, 503, "HIVE_STORAGE_UNAVAILABLE");
    // What memory serves goes on: health, the swarm's status, the event ring.
    let (code, h) = d.get("/health").await;
    assert_eq!((code, &h["status"]), (200, &json!("ok")), "{h}");
    let (code, s) = d.get("/api/swarms/demo").await;
    assert_eq!(code, 200, "{s}");
    assert!(!agents(&s).contains("critic") && !agents(&s).contains("worker_3"), "nothing refused was applied: {s}");
    // Applied only if it passed the check of the store just before the disk failed.
    let early_live = agents(&s).contains("early");
    let (code, ev) = d.get("/api/events?limit=5").await;
    assert_eq!(code, 200, "the ring is served: {ev}");
    assert!(!ev["events"].as_array().is_some_and(Vec::is_empty), "{ev}");

    // The disk comes back: the store reopens its file, without a restart.
    faults.heal();
    d.get_until("/health", |h| h["detail"]["store"]["available"] == true && h["detail"]["store"]["outages"] == 1).await;
    let (code, b) = d.post("/api/swarms/demo/agents", json!({"name": "critic", "backend": "mock"})).await;
    assert_eq!(code, 201, "accepted once the disk is back: {b}");
    let (code, t) = d.post("/api/swarms/demo/agents/worker_1/task", json!({"task": "hello"})).await;
    assert_eq!(code, 202, "{t}");
    // Kept past the daemon (its temp dir goes with it).
    let dir = std::mem::replace(&mut d.dir, tempfile::tempdir().unwrap());
    d.shutdown().await;

    // Durable: a new runtime on the same data directory has it.
    let hive =
        Hive::start(HiveOptions { data_dir: Some(dir.path().join("data")), ..HiveOptions::default() }).await.unwrap();
    let status = hive.swarm("demo").await.unwrap().status().await.unwrap();
    let names: BTreeSet<String> = status.agents.iter().map(|a| a.name.to_string()).collect();
    assert!(names.contains("critic"), "the mutation accepted after the heal survives a restart: {names:?}");
    // A change applied when the disk failed under it (its caller got 503)
    // was kept by the writer and written after the heal: memory and disk agree.
    assert_eq!(names.contains("early"), early_live, "{names:?}");
    assert!(!names.contains("worker_3"), "{names:?}");
    hive.shutdown().await;
}
