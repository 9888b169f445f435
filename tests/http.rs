//! The REST surface end to end: a real server on port 0 with a real store,
//! driven over HTTP.

mod http_common;

use http_common::{DEMO, Daemon, assert_error, cfg};
use serde_json::json;

#[tokio::test]
async fn a_swarm_lives_its_whole_life_over_rest() {
    let d = Daemon::local().await;
    let created = d.create(DEMO).await;
    assert_eq!(created["status"], "created");
    assert_eq!(created["agents"], json!(["planner", "worker_1", "worker_2"]));

    let (code, list) = d.get("/api/swarms").await;
    assert_eq!((code, list["total"].as_u64()), (200, Some(1)));
    let (_, status) = d.get("/api/swarms/demo").await;
    assert_eq!(status["state"], "running");
    assert_eq!(status["agents"].as_array().unwrap().len(), 3);

    // A task, followed to its end through the task record.
    let (code, t) = d.post("/api/swarms/demo/agents/worker_1/task", json!({"task": "hello"})).await;
    assert_eq!(code, 202, "{t}");
    let id = t["task_id"].as_str().unwrap().to_string();
    let done = d.get_until(&format!("/api/v1/tasks/{id}"), |b| b["status"] == "ok").await;
    assert_eq!(done["content"], "done");
    assert_eq!(done["agent"], "worker_1");

    // Scale, add an agent and an object, change edges.
    let (code, s) = d.post("/api/swarms/demo/agents/worker/scale", json!({"count": 4})).await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["result"]["added"], json!(["worker_3", "worker_4"]));
    let (code, a) =
        d.post("/api/swarms/demo/agents", json!({"name": "critic", "backend": "mock", "incoming": ["planner"]})).await;
    assert_eq!(code, 201, "{a}");
    let (code, o) = d.post("/api/swarms/demo/objects", json!({"name": "tally", "kind": "counter"})).await;
    assert_eq!(code, 201, "{o}");
    let (code, e) = d.patch("/api/swarms/demo/topology", json!({"add": [["critic", "tally"]], "remove": []})).await;
    assert_eq!(code, 200, "{e}");
    let (_, topo) = d.get("/api/swarms/demo/topology").await;
    assert!(topo["edges"].as_array().unwrap().contains(&json!({"from": "critic", "to": "tally"})), "{topo}");

    // A message over an edge is routed; one against the topology is refused.
    let (code, m) = d.post("/api/swarms/demo/message", json!({"from": "critic", "to": "tally", "content": "1"})).await;
    assert_eq!((code, &m["status"]), (200, &json!("routed")), "{m}");
    let (code, m) = d.post("/api/swarms/demo/message", json!({"from": "tally", "to": "critic", "content": "x"})).await;
    assert_error(code, &m, 403, "HIVE_ROUTE_DENIED");
    let (_, msgs) = d.get("/api/swarms/demo/messages?limit=10").await;
    assert!(msgs["count"].as_u64().unwrap() >= 1, "{msgs}");

    // Objects with live state; configure.
    let (_, objs) = d.get("/api/swarms/demo/objects").await;
    assert_eq!(objs["total"], 2, "{objs}");
    let (code, c) = d.patch("/api/swarms/demo/objects/board/config", json!({"config": {"max_keys": 5}})).await;
    assert_eq!(code, 200, "{c}");
    let (code, st) = d.get("/api/swarms/demo/objects/board").await;
    assert_eq!((code, &st["object"]), (200, &json!("board")));

    // The overlay has the changes; the snapshot is a swarm file with them.
    let (_, overlay) = d.get("/api/swarms/demo/overlay").await;
    assert!(overlay["events"].as_array().unwrap().len() >= 4, "{overlay}");
    let r = d.http.post(d.url("/api/swarms/demo/snapshot")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/toml"));
    let toml = r.text().await.unwrap();
    let spec = hive::config::parse_toml(&toml, &d.hive.validate_options()).expect("the snapshot is a valid swarm file");
    assert!(spec.agents.iter().any(|a| a.name == "critic"));

    // History is kept per run of the swarm.
    let (_, h) = d.get("/api/swarms/demo/agents/worker_1/history").await;
    assert!(h["count"].as_u64().unwrap() >= 1, "{h}");

    // Pause, resume, restart as left (the changes survive).
    let (_, p) = d.post("/api/swarms/demo/pause", json!(null)).await;
    assert_eq!(p["status"], "paused");
    let (_, p) = d.post("/api/swarms/demo/resume", json!(null)).await;
    assert_eq!(p["status"], "resumed");
    let (code, r) = d.post("/api/swarms/demo/restart", json!(null)).await;
    assert_eq!(code, 200, "{r}");
    let (_, status) = d.get("/api/swarms/demo/agents/critic").await;
    assert_eq!(status["name"], "critic", "the added agent survives a restart");

    // Events and logs.
    let (_, ev) = d.get("/api/swarms/demo/events?event_type=task_completed").await;
    assert!(ev["count"].as_u64().unwrap() >= 1, "{ev}");
    let e = &ev["events"][0];
    assert!(e["timestamp"].is_string() && e["metadata"].is_object() && e["seq"].is_u64(), "the §4 shape: {e}");
    let (_, ev) = d.get("/api/swarms/demo/agents/worker_1/events?limit=5").await;
    assert!(ev["events"].as_array().unwrap().iter().all(|e| e["agent"] == "worker_1"));
    let (code, _) = d.get("/api/swarms/demo/agents/worker_1/logs").await;
    assert_eq!(code, 200);

    // Restart from a clean slate: back to the seed.
    let (code, _) = d.post("/api/swarms/demo/restart?delete=true", json!(null)).await;
    assert_eq!(code, 200);
    let (code, _) = d.get("/api/swarms/demo/agents/critic").await;
    assert_eq!(code, 404, "a clean restart forgets the added agent");

    // Stop, then clean; create again and purge.
    let (code, s) = d.delete("/api/swarms/demo").await;
    assert_eq!((code, &s["status"]), (200, &json!("stopped")));
    let (code, s) = d.delete("/api/swarms/demo").await;
    assert_error(code, &s, 409, "HIVE_CONFLICT");
    let (_, s) = d.get("/api/swarms/demo").await;
    assert_eq!(s["state"], "stopped");
    let (_, c) = d.post("/api/swarms/clean", json!(null)).await;
    assert_eq!(c["swarms_removed"], 1);
    d.create(DEMO).await;
    let (code, s) = d.delete("/api/swarms/demo?purge=true").await;
    assert_eq!((code, &s["status"]), (200, &json!("purged")), "{s}");
    let (code, _) = d.get("/api/swarms/demo").await;
    assert_eq!(code, 404);
    let (_, ev) = d.get("/api/events?swarm=demo").await;
    assert_eq!(ev["count"], 0, "purge deletes the swarm's events: {ev}");
    d.shutdown().await;
}

#[tokio::test]
async fn every_class_of_bad_input_gets_a_4xx_in_the_error_shape() {
    let d = Daemon::start(hive::http::ServerConfig { body_limit: 4096, ..cfg() }).await;
    d.create(DEMO).await;
    let topology_before = d.get("/api/swarms/demo/topology").await.1;

    // Malformed JSON, wrong types, missing fields, unknown fields.
    let (c, b) = d.post_raw("/api/swarms/demo/agents/worker_1/task", "{\"task\":").await;
    assert_error(c, &b, 400, "HIVE_MALFORMED_JSON");
    let (c, b) = d.post("/api/swarms/demo/agents/worker_1/task", json!({"task": 5})).await;
    assert_error(c, &b, 400, "HIVE_INVALID_BODY");
    let (c, b) = d.post("/api/swarms/demo/agents/worker_1/task", json!({})).await;
    assert_error(c, &b, 400, "HIVE_INVALID_BODY");
    let (c, b) = d.post_raw("/api/swarms/demo/agents/worker_1/task", "").await;
    assert_error(c, &b, 400, "HIVE_INVALID_BODY");
    // A body that is not an object, even one serde would read into a
    // struct of defaults (`[]`), changes nothing (schemathesis found `[]`
    // accepted by PATCH .../topology).
    for body in ["[]", "[[\"planner\", \"board\"]]", "\"x\"", "5", "null"] {
        let (c, b) = d.patch_raw("/api/swarms/demo/topology", body).await;
        assert_error(c, &b, 400, "HIVE_INVALID_BODY");
    }
    let (c, b) = d.post("/api/swarms/demo/agents/worker/scale", json!({"count": -1})).await;
    assert_error(c, &b, 400, "HIVE_BAD_REQUEST");
    let (c, b) = d.post("/api/swarms/demo/agents/worker/scale", json!({"count": 1.5})).await;
    assert_error(c, &b, 400, "HIVE_INVALID_BODY");
    let (c, b) = d.post("/api/swarms", json!({})).await;
    assert_error(c, &b, 400, "HIVE_BAD_REQUEST");

    // Unknown swarm, agent, object, task, route.
    let (c, b) = d.get("/api/swarms/nope").await;
    assert_error(c, &b, 404, "HIVE_SWARM_NOT_FOUND");
    let (c, b) = d.get("/api/swarms/demo/agents/nope").await;
    assert_error(c, &b, 404, "HIVE_AGENT_NOT_FOUND");
    let (c, b) = d.post("/api/swarms/demo/agents/nope/task", json!({"task": "x"})).await;
    assert_error(c, &b, 404, "HIVE_AGENT_NOT_FOUND");
    let (c, b) = d.get("/api/swarms/demo/objects/nope").await;
    assert_error(c, &b, 404, "HIVE_OBJECT_NOT_FOUND");
    let (c, b) = d.get("/api/v1/tasks/nope").await;
    assert_error(c, &b, 404, "HIVE_TASK_NOT_FOUND");
    let (c, b) = d.delete("/api/v1/tasks/nope").await;
    assert_error(c, &b, 404, "HIVE_TASK_NOT_FOUND");
    let (c, b) = d.get("/api/nothing/here").await;
    assert_error(c, &b, 404, "HIVE_NOT_FOUND");
    let (c, b) = d.put("/api/swarms", json!({})).await;
    assert_error(c, &b, 405, "HIVE_METHOD_NOT_ALLOWED");

    // Invalid names and configs: every error with its location.
    let (c, b) = d.post("/api/swarms/demo/agents", json!({"name": "bad name!", "backend": "mock"})).await;
    assert_error(c, &b, 422, "HIVE_INVALID_CONFIG");
    let (c, b) =
        d.post("/api/swarms", json!({"content": "name = \"x\"\n[[agents]]\nname = 3\n", "format": "toml"})).await;
    assert_error(c, &b, 422, "HIVE_INVALID_CONFIG");
    assert_eq!(b["details"]["errors"][0]["line"], 3, "{b}");
    let (c, b) = d.post("/api/swarms", json!({"content": DEMO, "format": "yaml"})).await;
    assert_error(c, &b, 400, "HIVE_INVALID_BODY");
    assert!(b["error"].as_str().is_some_and(|e| e.contains("`toml` or `json`")), "names the valid formats: {b}");
    let (c, b) = d.post("/api/swarms", json!({"content": DEMO, "format": "toml"})).await;
    assert_error(c, &b, 409, "HIVE_CONFLICT");

    // Bad edges: each one listed, nothing applied.
    let (c, b) =
        d.patch("/api/swarms/demo/topology", json!({"add": [["planner", "board"], ["a"], {"from": "x"}]})).await;
    assert_error(c, &b, 400, "HIVE_INVALID_EDGES");
    assert_eq!(b["details"]["errors"].as_array().unwrap().len(), 2, "{b}");
    let (c, b) =
        d.patch("/api/swarms/demo/topology", json!({"add": [["board", "ghost"], ["ghost2", "planner"]]})).await;
    assert_error(c, &b, 400, "HIVE_INVALID_EDGES");
    assert_eq!(b["details"]["errors"].as_array().unwrap().len(), 2, "{b}");
    assert_eq!(d.get("/api/swarms/demo/topology").await.1, topology_before, "nothing was applied");

    // Unknown filter values list the valid ones.
    let (c, b) = d.get("/api/events?category=nope").await;
    assert_error(c, &b, 400, "HIVE_BAD_FILTER");
    assert!(b["details"]["valid"].as_array().unwrap().contains(&json!("routing")), "{b}");
    let (c, b) = d.get("/api/events?event_type=nope").await;
    assert_error(c, &b, 400, "HIVE_BAD_FILTER");
    let (c, b) = d.get("/api/events?limit=abc").await;
    assert_error(c, &b, 400, "HIVE_BAD_QUERY");
    let (c, b) = d.get("/api/events?limit=5000").await;
    assert_error(c, &b, 400, "HIVE_BAD_REQUEST");
    let (c, b) = d.get("/api/v1/tasks?status=nope").await;
    assert_error(c, &b, 400, "HIVE_BAD_FILTER");

    // Oversized bodies.
    let big = "x".repeat(10_000);
    let (c, b) = d.post("/api/swarms/demo/agents/worker_1/task", json!({"task": big})).await;
    assert_error(c, &b, 413, "HIVE_TOO_LARGE");

    // Path traversal out of the swarm and skills directories.
    std::fs::write(d.dir.path().join("outside.toml"), DEMO).unwrap();
    for p in ["../outside.toml", "/etc/passwd", "a/../../outside.toml"] {
        let (c, b) = d.post("/api/swarms", json!({"config_path": p})).await;
        assert_error(c, &b, 403, "HIVE_PATH_FORBIDDEN");
        let (c, b) = d.post("/api/config/validate", json!({"config_path": p})).await;
        assert_error(c, &b, 403, "HIVE_PATH_FORBIDDEN");
    }
    let (c, b) = d.get("/api/skills/..%2Foutside.toml").await;
    assert_error(c, &b, 403, "HIVE_PATH_FORBIDDEN");
    let (c, b) = d.post("/api/swarms", json!({"config_path": "missing.toml"})).await;
    assert_error(c, &b, 404, "HIVE_NOT_FOUND");

    // The swarm is unharmed.
    let (_, s) = d.get("/api/swarms/demo").await;
    assert_eq!(s["state"], "running");
    d.shutdown().await;
}

#[tokio::test]
async fn config_validation_reports_every_error_with_its_line() {
    let d = Daemon::local().await;
    let (c, b) = d.post("/api/config/validate", json!({"content": DEMO, "format": "toml"})).await;
    assert_eq!((c, &b["valid"]), (200, &json!(true)), "{b}");
    assert_eq!(b["config"]["agent_count"], 2);
    let bad = "name = \"x\"\n[[agents]]\nname = \"a\"\nbackend = \"nope\"\n[topology]\na = [\"ghost\"]\n";
    let (c, b) = d.post("/api/config/validate", json!({"content": bad})).await;
    assert_eq!((c, &b["valid"]), (400, &json!(false)), "{b}");
    assert_eq!(b["errors"].as_array().unwrap().len(), 2, "{b}");
    assert!(b["errors"].as_array().unwrap().iter().all(|e| e["line"].is_u64()), "{b}");
    std::fs::write(d.dir.path().join("swarms/ok.toml"), DEMO).unwrap();
    let (c, b) = d.post("/api/config/validate", json!({"config_path": "ok.toml"})).await;
    assert_eq!((c, &b["valid"]), (200, &json!(true)), "{b}");
    let (c, b) = d.post("/api/swarms", json!({"config_path": "ok.toml"})).await;
    assert_eq!(c, 201, "{b}");
    d.shutdown().await;
}

#[tokio::test]
async fn skills_are_read_and_written_only_inside_the_skills_dir() {
    let d = Daemon::local().await;
    std::fs::create_dir(d.dir.path().join("skills/research")).unwrap();
    std::fs::write(d.dir.path().join("skills/research/search.md"), "# search").unwrap();
    d.create("name = \"s\"\n[[agents]]\nname = \"a\"\nbackend = \"mock\"\nskills = [\"research/search.md\"]\n").await;
    let (_, list) = d.get("/api/skills").await;
    assert_eq!(list["skills"][0]["category"], "research", "{list}");
    let (c, s) = d.get("/api/skills/research%2Fsearch").await;
    assert_eq!((c, &s["content"]), (200, &json!("# search")), "{s}");
    let (c, b) = d.put("/api/swarms/s/agents/a/skills/search", json!({"content": "# new"})).await;
    assert_eq!(c, 200, "{b}");
    assert_eq!(std::fs::read_to_string(d.dir.path().join("skills/research/search.md")).unwrap(), "# new");
    let (_, sk) = d.get("/api/swarms/s/agents/a/skills").await;
    assert_eq!(sk["skills"][0]["content"], "# new", "{sk}");
    let (c, b) = d.put("/api/swarms/s/agents/a/skills/other", json!({"content": "x"})).await;
    assert_error(c, &b, 404, "HIVE_NOT_FOUND");
    d.shutdown().await;
}

#[tokio::test]
async fn an_agents_logs_hold_its_output_and_its_log_lines() {
    let d = Daemon::local().await;
    let echo = format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"));
    d.create(&format!(
        "name = \"l\"\n[[agents]]\nname = \"e\"\nbackend = \"stdio\"\ncommand = [\"python3\", {echo:?}]\n"
    ))
    .await;
    let (c, _) = d.post("/api/swarms/l/agents/e/task", json!({"task": "hello logs"})).await;
    assert_eq!(c, 202);
    // echo.py logs its environment at start (a log line) and streams the task (output).
    let logs = d
        .get_until("/api/swarms/l/agents/e/logs", |b| {
            let types: Vec<&str> =
                b["logs"].as_array().into_iter().flatten().filter_map(|e| e["event_type"].as_str()).collect();
            types.contains(&"log_entry") && types.contains(&"agent_output")
        })
        .await;
    let seqs: Vec<u64> = logs["logs"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "oldest first: {seqs:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn standalone_workers_spawn_only_when_allowed() {
    let opts = hive::HiveOptions {
        workers: hive::runtime::WorkerOptions {
            spawn_allow: vec![format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"))],
            ..Default::default()
        },
        ..Default::default()
    };
    let d = Daemon::start_with(cfg(), opts).await;
    let (c, b) = d.post("/api/v1/agents/spawn", json!({"worker_path": "/bin/sh", "args": ["-c", "id"]})).await;
    assert_error(c, &b, 403, "HIVE_FORBIDDEN");
    let echo = format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"));
    let (c, b) = d.post("/api/v1/agents/spawn", json!({"worker_path": echo, "opts": {"restart": "sometimes"}})).await;
    assert_error(c, &b, 400, "HIVE_BAD_REQUEST");
    let slow = json!({"worker_path": echo, "opts": {"env": {"ECHO_TOKEN_DELAY_MS": "500"}}});
    let (c, b) = d.post("/api/v1/agents/spawn", slow).await;
    assert_eq!(c, 201, "{b}");
    let id = b["id"].as_str().unwrap().to_string();
    let (_, list) = d.get("/api/v1/agents?page=1&per_page=10").await;
    assert_eq!((list["total"].as_u64(), list["page"].as_u64()), (Some(1), Some(1)), "{list}");
    let (c, t) = d.post(&format!("/api/v1/agents/{id}/task"), json!({"prompt": "one two three four"})).await;
    assert_eq!(c, 202, "{t}");
    // A worker's task is recorded like a swarm task, and can be cancelled.
    let task = format!("/api/v1/tasks/{}", t["task_id"].as_str().unwrap());
    d.get_until(&task, |b| b["status"] == "in_progress").await;
    let (c, b) = d.delete(&task).await;
    assert_eq!((c, &b["status"]), (200, &json!("cancelled")), "{b}");
    d.get_until(&task, |b| b["status"] == "cancelled").await;
    let (c, k) = d.delete(&format!("/api/v1/agents/{id}/kill")).await;
    assert_eq!((c, &k["status"]), (200, &json!("killed")), "{k}");
    let (c, b) = d.delete(&format!("/api/v1/agents/{id}/kill")).await;
    assert_error(c, &b, 404, "HIVE_WORKER_NOT_FOUND");
    d.shutdown().await;
}

#[tokio::test]
async fn tasks_are_listed_paged_and_cancelled() {
    let d = Daemon::local().await;
    d.create("name = \"t\"\n[[agents]]\nname = \"slow\"\nbackend = \"mock\"\nmock = { delay_ms = 60000 }\n").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, t) = d.post("/api/swarms/t/agents/slow/task", json!({"task": format!("t{i}")})).await;
        ids.push(t["task_id"].as_str().unwrap().to_string());
    }
    let all = d.get_until("/api/v1/tasks?per_page=2", |b| b["total"].as_u64() == Some(3)).await;
    assert_eq!((all["total"].as_u64(), all["items"].as_array().unwrap().len()), (Some(3), 2), "{all}");
    assert_eq!(all["items"][0]["task_id"], json!(ids[2]), "newest first: {all}");
    let (_, last) = d.get("/api/v1/tasks?per_page=2&page=2").await;
    assert_eq!((&last["page"], &last["items"][0]["task_id"], &last["total"]), (&json!(2), &json!(ids[0]), &json!(3)));
    let (_, queued) = d.get("/api/v1/tasks?status=queued").await;
    let (_, running) = d.get("/api/v1/tasks?status=in_progress").await;
    assert_eq!(queued["total"].as_u64().unwrap() + running["total"].as_u64().unwrap(), 3, "{queued} {running}");
    let (c, b) = d.delete(&format!("/api/v1/tasks/{}", ids[2])).await;
    assert_eq!((c, &b["status"]), (200, &json!("cancelled")), "{b}");
    d.get_until(&format!("/api/v1/tasks/{}", ids[2]), |b| b["status"] == "cancelled").await;
    let (c, b) = d.delete(&format!("/api/v1/tasks/{}", ids[2])).await;
    assert_error(c, &b, 409, "HIVE_CONFLICT");
    d.shutdown().await;
}
