//! The genswarms REST contract (`../shared/reference/genswarms-rest-api.txt`),
//! against a real daemon: each documented endpoint is driven and every key
//! the reference names is checked for presence and JSON type, including the
//! documented error answers. Each check is a row of a table (`key → type`),
//! so the tables below read as the contract. Where Hive deliberately differs
//! (`docs/api.md`, "genswarms: where Hive differs"), the row says what Hive
//! answers instead.

mod http_common;

use http_common::*;
use serde_json::{Value, json};

/// The JSON type a key must have.
#[derive(Debug, Clone, Copy)]
enum J {
    Str,
    Int,
    Bool,
    Arr,
    Obj,
    /// A string or null.
    StrOrNull,
    /// This exact string.
    Is(&'static str),
    /// `true`.
    True,
}

impl J {
    fn accepts(self, v: &Value) -> bool {
        match self {
            J::Str => v.is_string(),
            J::Int => v.is_i64() || v.is_u64(),
            J::Bool => v.is_boolean(),
            J::Arr => v.is_array(),
            J::Obj => v.is_object(),
            J::StrOrNull => v.is_string() || v.is_null(),
            J::Is(s) => v == s,
            J::True => v == &Value::Bool(true),
        }
    }
}

/// Every value at `path`: `a.b` descends into objects, `a[]` into each
/// element of a list (which must not be empty, so the row checks something).
fn at<'v>(v: &'v Value, path: &str) -> Result<Vec<&'v Value>, String> {
    let mut here = vec![v];
    for seg in path.split('.') {
        let (key, each) = match seg.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (seg, false),
        };
        let mut next = Vec::new();
        for h in here {
            let child = h.get(key).ok_or_else(|| format!("missing key `{key}` (of `{path}`)"))?;
            if each {
                let items = child.as_array().ok_or_else(|| format!("`{key}` is not a list"))?;
                if items.is_empty() {
                    return Err(format!("`{key}` is empty: nothing to check"));
                }
                next.extend(items);
            } else {
                next.push(child);
            }
        }
        here = next;
    }
    Ok(here)
}

/// Checks one answer against its contract rows; fails naming the route.
#[track_caller]
fn check(route: &str, (code, body): &(u16, Value), status: u16, rows: &[(&str, J)]) {
    assert_eq!(*code, status, "{route}: status, body {body}");
    for &(path, ty) in rows {
        match at(body, path) {
            Ok(vals) => {
                for v in vals {
                    assert!(ty.accepts(v), "{route}: `{path}` should be {ty:?}, is {v} in {body}");
                }
            }
            Err(e) => panic!("{route}: {e} in {body}"),
        }
    }
}

/// Every genswarms error: `{"error": "..."}`.
const ERROR: &[(&str, J)] = &[("error", J::Str)];

const SWARM: &str = r#"
name = "gs"
[[agents]]
name = "coder"
backend = "mock"
skills = ["code.md"]
[[agents]]
name = "worker"
backend = "mock"
replicas = 1
[[objects]]
name = "board"
kind = "kv"
[topology]
coder = ["board", "worker"]
"#;

const EVENT: &[(&str, J)] = &[
    ("events[].id", J::Int),
    ("events[].timestamp", J::Str),
    ("events[].level", J::Str),
    ("events[].category", J::Str),
    ("events[].swarm", J::StrOrNull),
    ("events[].agent", J::StrOrNull),
    ("events[].event_type", J::Str),
    ("events[].message", J::Str),
    ("events[].metadata", J::Obj),
    ("count", J::Int),
];

#[tokio::test]
async fn every_documented_route_answers_the_documented_keys() {
    let d = Daemon::local().await;
    std::fs::write(d.dir.path().join("skills/code.md"), "# code").unwrap();
    std::fs::write(d.dir.path().join("swarms/gs.toml"), SWARM).unwrap();

    // API info.
    let r = d.get("/").await;
    check(
        "GET /",
        &r,
        200,
        &[
            ("name", J::Str),
            ("version", J::Str),
            ("description", J::Str),
            ("endpoints", J::Obj),
            ("websocket", J::Obj),
            ("websocket.url", J::Str),
            ("websocket.topic", J::Str),
            ("documentation", J::Obj),
            ("documentation.swarms", J::Str),
        ],
    );

    // Swarm management: create (config_path and inline config), list, status.
    let r = d.post("/api/swarms", json!({"config_path": "gs.toml"})).await;
    check("POST /api/swarms {config_path}", &r, 201, &[("status", J::Is("created")), ("swarm_name", J::Is("gs"))]);
    let inline = json!({"config": {"name": "inline", "agents": [{"name": "a", "backend": "mock"}]}});
    let r = d.post("/api/swarms", inline).await;
    check("POST /api/swarms {config}", &r, 201, &[("status", J::Is("created")), ("swarm_name", J::Is("inline"))]);
    check("POST /api/swarms {}", &d.post("/api/swarms", json!({})).await, 400, ERROR);
    // Hive: an invalid config is 422 (genswarms: 400), with every error listed.
    let bad = json!({"config": {"name": "bad", "agents": [{"name": "a", "backend": "nope"}]}});
    check("POST /api/swarms {bad config}", &d.post("/api/swarms", bad).await, 422, ERROR);
    let r = d.get("/api/swarms").await;
    check("GET /api/swarms", &r, 200, &[("swarms", J::Arr), ("swarms[].name", J::Str), ("has_more", J::Bool)]);
    let r = d.get("/api/swarms/gs").await;
    check(
        "GET /api/swarms/:name",
        &r,
        200,
        &[
            ("name", J::Is("gs")),
            ("agents[].name", J::Str),
            ("agents[].backend_type", J::Str),
            ("objects[].handler", J::Str),
            ("topology", J::Arr),
        ],
    );
    check("GET /api/swarms/:name (unknown)", &d.get("/api/swarms/ghost").await, 404, ERROR);

    // Agent operations.
    let r = d.get("/api/swarms/gs/agents").await;
    check("GET .../agents", &r, 200, &[("agents[].name", J::Str), ("agents[].state", J::Str)]);
    check("GET .../agents/:agent", &d.get("/api/swarms/gs/agents/coder").await, 200, &[("name", J::Is("coder"))]);
    check("GET .../agents/:agent (unknown)", &d.get("/api/swarms/gs/agents/ghost").await, 404, ERROR);
    // Hive answers 202: the task is queued (genswarms: 200).
    let r = d.post("/api/swarms/gs/agents/coder/task", json!({"task": "write it"})).await;
    check(
        "POST .../task",
        &r,
        202,
        &[("status", J::Is("sent")), ("agent", J::Is("coder")), ("task", J::Is("write it"))],
    );
    check("POST .../task {}", &d.post("/api/swarms/gs/agents/coder/task", json!({})).await, 400, ERROR);
    let r = d.get_until("/api/swarms/gs/agents/coder/history", |b| b["count"].as_u64() >= Some(1)).await;
    check("GET .../history", &(200, r), 200, &[("history", J::Arr), ("count", J::Int), ("has_more", J::Bool)]);
    check("GET .../logs", &d.get("/api/swarms/gs/agents/coder/logs").await, 200, &[("logs", J::Arr)]);
    check("GET .../history (unknown)", &d.get("/api/swarms/gs/agents/ghost/history").await, 404, ERROR);
    let r = d.get("/api/swarms/gs/agents/coder/skills").await;
    check("GET .../skills", &r, 200, &[("skills", J::Arr), ("skills[].content", J::Str)]);
    let r = d.put("/api/swarms/gs/agents/coder/skills/code", json!({"content": "# new"})).await;
    check("PUT .../skills/:skill", &r, 200, &[("status", J::Is("updated")), ("skill", J::Str)]);
    let r = d.post("/api/swarms/gs/agents/coder/restart", json!(null)).await;
    check("POST .../agents/:agent/restart", &r, 200, &[("status", J::Is("restarted")), ("agent", J::Is("coder"))]);
    check(
        "POST .../restart (unknown swarm)",
        &d.post("/api/swarms/ghost/agents/a/restart", json!(null)).await,
        404,
        ERROR,
    );

    // Messages.
    let m = json!({"from": "coder", "to": "board", "content": "{\"op\": \"put\", \"key\": \"k\", \"value\": 1}"});
    let r = d.post("/api/swarms/gs/message", m).await;
    check(
        "POST .../message",
        &r,
        200,
        &[("status", J::Is("routed")), ("from", J::Is("coder")), ("to", J::Is("board")), ("swarm", J::Is("gs"))],
    );
    check("POST .../message {}", &d.post("/api/swarms/gs/message", json!({"from": "coder"})).await, 400, ERROR);
    let r = d.get("/api/swarms/gs/messages?limit=10").await;
    check("GET .../messages", &r, 200, &[("messages[].from", J::Str), ("messages[].to", J::Str)]);

    // Dynamic topology and scaling.
    let r = d.get("/api/swarms/gs/topology").await;
    check("GET .../topology", &r, 200, &[("topology[].from", J::Str), ("topology[].targets", J::Arr)]);
    check("GET .../topology (unknown)", &d.get("/api/swarms/ghost/topology").await, 404, ERROR);
    let p = json!({"add": [["worker", "coder"], {"from": "board", "to": "coder"}], "remove": [["coder", "worker"]]});
    let r = d.patch("/api/swarms/gs/topology", p).await;
    check("PATCH .../topology", &r, 200, &[("status", J::Is("ok")), ("added", J::Int), ("removed", J::Int)]);
    // Hive refuses the whole patch for one bad edge (genswarms ignores it).
    check(
        "PATCH .../topology (bad edge)",
        &d.patch("/api/swarms/gs/topology", json!({"add": [["a"]]})).await,
        400,
        ERROR,
    );
    let add = json!({"name": "reviewer", "backend": {"type": "mock"}, "incoming": ["coder"]});
    let r = d.post("/api/swarms/gs/agents", add).await;
    check("POST .../agents (backend object)", &r, 201, &[("status", J::Is("added")), ("name", J::Is("reviewer"))]);
    // A docker backend maps to a stdio agent run in docker: it needs its command.
    let docker = json!({"name": "dock", "backend": {"type": "docker", "image": "code"}});
    check("POST .../agents (docker, no command)", &d.post("/api/swarms/gs/agents", docker).await, 422, ERROR);
    let bwrap = json!({"name": "b", "command": "x", "backend": {"type": "bwrap", "opts": {"ro": "/"}}});
    check("POST .../agents (bwrap opts)", &d.post("/api/swarms/gs/agents", bwrap).await, 422, ERROR);
    let r = d.delete("/api/swarms/gs/agents/reviewer").await;
    check("DELETE .../agents/:agent", &r, 200, &[("status", J::Is("removed")), ("name", J::Is("reviewer"))]);
    check("DELETE .../agents/:agent (unknown)", &d.delete("/api/swarms/gs/agents/ghost").await, 404, ERROR);
    let r = d.post("/api/swarms/gs/agents/worker/scale", json!({"count": 2})).await;
    check(
        "POST .../scale",
        &r,
        200,
        &[("status", J::Is("ok")), ("result.added[]", J::Str), ("result.removed", J::Arr), ("result.failed", J::Arr)],
    );
    let r = d.post("/api/swarms/gs/agents/worker/scale", json!({"count": 1})).await;
    check("POST .../scale (down)", &r, 200, &[("result.removed[]", J::Str)]);
    for bad in [json!({"count": -1}), json!({"count": "two"}), json!({})] {
        check("POST .../scale (bad count)", &d.post("/api/swarms/gs/agents/worker/scale", bad).await, 400, ERROR);
    }

    // Objects.
    let r = d.get("/api/swarms/gs/objects").await;
    check(
        "GET .../objects",
        &r,
        200,
        &[("objects[].name", J::Str), ("objects[].state", J::Str), ("objects[].handler", J::StrOrNull)],
    );
    let r = d.post("/api/swarms/gs/objects", json!({"name": "tally", "kind": "counter", "incoming": ["coder"]})).await;
    check("POST .../objects", &r, 201, &[("status", J::Is("added")), ("name", J::Is("tally"))]);
    check("POST .../objects (bad)", &d.post("/api/swarms/gs/objects", json!({"name": "x"})).await, 422, ERROR);
    let r = d.get("/api/swarms/gs/objects/board").await;
    check("GET .../objects/:object", &r, 200, &[("object", J::Is("board")), ("state", J::Obj)]);
    check("GET .../objects/:object (unknown)", &d.get("/api/swarms/gs/objects/ghost").await, 404, ERROR);
    let r = d.delete("/api/swarms/gs/objects/tally").await;
    check("DELETE .../objects/:object", &r, 200, &[("status", J::Is("removed")), ("name", J::Is("tally"))]);
    check("DELETE .../objects/:object (unknown)", &d.delete("/api/swarms/gs/objects/tally").await, 404, ERROR);

    // Overlay and snapshot (Hive: the snapshot is a TOML swarm file).
    let r = d.get("/api/swarms/gs/overlay").await;
    check("GET .../overlay", &r, 200, &[("swarm", J::Is("gs")), ("events[].op", J::Str), ("events[].payload", J::Obj)]);
    let snap = d.http.post(d.url("/api/swarms/gs/snapshot")).send().await.unwrap();
    assert_eq!(snap.status(), 200);
    check("POST .../snapshot (unknown)", &d.post("/api/swarms/ghost/snapshot", json!(null)).await, 404, ERROR);
    let r = d.delete("/api/swarms/gs/overlay").await;
    check("DELETE .../overlay", &r, 200, &[("status", J::Is("cleared")), ("swarm", J::Is("gs"))]);

    // Events: shared filters, scoped echoes.
    let r = d.get("/api/events?limit=5&level=info").await;
    let mut rows = EVENT.to_vec();
    rows.push(("query", J::Obj));
    check("GET /api/events", &r, 200, &rows);
    check("GET /api/events?level=loud", &d.get("/api/events?level=loud").await, 400, ERROR);
    let r = d.get("/api/swarms/gs/events?category=swarm").await;
    let mut rows = EVENT.to_vec();
    rows.push(("swarm", J::Is("gs")));
    check("GET .../events", &r, 200, &rows);
    let r = d.get("/api/swarms/gs/agents/coder/events?minutes=5").await;
    let mut rows = EVENT.to_vec();
    rows.extend([("swarm", J::Is("gs")), ("agent", J::Is("coder"))]);
    check("GET .../agents/:agent/events", &r, 200, &rows);

    // Skills.
    let r = d.get("/api/skills").await;
    check(
        "GET /api/skills",
        &r,
        200,
        &[
            ("skills[].name", J::Str),
            ("skills[].path", J::Str),
            ("skills[].relative_path", J::Str),
            ("skills[].category", J::Str),
            ("base_path", J::Str),
            ("count", J::Int),
        ],
    );
    let r = d.get("/api/skills/code").await;
    check(
        "GET /api/skills/:name",
        &r,
        200,
        &[("name", J::Str), ("path", J::Str), ("content", J::Is("# new")), ("size", J::Int)],
    );
    check("GET /api/skills/:name (unknown)", &d.get("/api/skills/ghost").await, 404, ERROR);

    // Config validation.
    let r = d.post("/api/config/validate", json!({"config_path": "gs.toml"})).await;
    check(
        "POST /api/config/validate",
        &r,
        200,
        &[
            ("valid", J::Bool),
            ("config.name", J::Is("gs")),
            ("config.agent_count", J::Int),
            ("config.object_count", J::Int),
            ("config.topology_edges", J::Int),
            ("config.agents[].name", J::Str),
            ("config.agents[].backend", J::Str),
            ("config.objects[].name", J::Str),
            ("config.objects[].handler", J::Str),
            ("config.topology[].from", J::Str),
            ("config.topology[].to", J::Str),
        ],
    );
    assert_eq!(r.1["config_path"], "gs.toml", "the config_path form echoes it: {}", r.1);
    let r = d.post("/api/config/validate", json!({"content": "{\"name\": \"j\"}", "format": "json"})).await;
    check("POST /api/config/validate {content, format}", &r, 200, &[("valid", J::True), ("format", J::Is("json"))]);
    // Hive reads TOML and JSON: `exs` and `yaml` are refused naming the valid ones.
    check(
        "POST /api/config/validate (exs)",
        &d.post("/api/config/validate", json!({"content": "x", "format": "exs"})).await,
        400,
        ERROR,
    );
    let r = d.post("/api/config/validate", json!({"content": "name = 1", "format": "toml"})).await;
    check("POST /api/config/validate (invalid)", &r, 400, &[("valid", J::Bool), ("errors", J::Arr)]);
    let r = d.post("/api/config/validate", json!({"config_path": "ghost.toml"})).await;
    check("POST /api/config/validate (no file)", &r, 404, &[("valid", J::Bool), ("errors", J::Arr)]);
    check("POST /api/config/validate {}", &d.post("/api/config/validate", json!({})).await, 400, ERROR);

    // Swarm lifecycle: pause, resume, restart, stop, clean.
    let r = d.post("/api/swarms/gs/pause", json!(null)).await;
    check(
        "POST .../pause",
        &r,
        200,
        &[("status", J::Is("paused")), ("swarm_name", J::Is("gs")), ("containers_paused", J::Int)],
    );
    let r = d.post("/api/swarms/gs/resume", json!(null)).await;
    check(
        "POST .../resume",
        &r,
        200,
        &[("status", J::Is("resumed")), ("swarm_name", J::Is("gs")), ("containers_resumed", J::Int)],
    );
    check("POST .../pause (unknown)", &d.post("/api/swarms/ghost/pause", json!(null)).await, 404, ERROR);
    check("POST .../resume (unknown)", &d.post("/api/swarms/ghost/resume", json!(null)).await, 404, ERROR);
    let r = d.post("/api/swarms/gs/restart?delete=true", json!(null)).await;
    check(
        "POST .../restart",
        &r,
        200,
        &[("status", J::Is("restarted")), ("swarm_name", J::Is("gs")), ("delete_data", J::Bool)],
    );
    check("POST .../restart (unknown)", &d.post("/api/swarms/ghost/restart", json!(null)).await, 404, ERROR);
    let r = d.delete("/api/swarms/gs").await;
    check(
        "DELETE /api/swarms/:name",
        &r,
        200,
        &[("status", J::Is("stopped")), ("swarm_name", J::Is("gs")), ("config_path", J::StrOrNull)],
    );
    check("DELETE /api/swarms/:name (unknown)", &d.delete("/api/swarms/ghost").await, 404, ERROR);
    // A stopped swarm keeps its agents' events, but a name no agent can have is still no agent.
    check("GET .../agents/:agent/events (stopped)", &d.get("/api/swarms/gs/agents/coder/events").await, 200, &[]);
    let bad = d.get("/api/swarms/gs/agents/%20x%0D/events").await;
    check("GET .../agents/:agent/events (not a name)", &bad, 404, ERROR);
    let r = d.delete("/api/swarms/inline?purge=true").await;
    check(
        "DELETE /api/swarms/:name?purge=true",
        &r,
        200,
        &[("status", J::Is("purged")), ("swarm_name", J::Is("inline"))],
    );
    let r = d.post("/api/swarms/clean", json!(null)).await;
    check(
        "POST /api/swarms/clean",
        &r,
        200,
        &[("status", J::Is("cleaned")), ("swarms_removed", J::Int), ("events_cleared", J::Bool)],
    );
    d.shutdown().await;
}

#[tokio::test]
async fn api_lists_sort_filter_and_say_has_more() {
    let d = Daemon::local().await;
    d.create(SWARM).await;
    d.create("name = \"alpha\"\n[[agents]]\nname = \"a\"\nbackend = \"mock\"\n").await;
    d.delete("/api/swarms/alpha").await;

    let r = d.get("/api/swarms?sort=-name&limit=1").await;
    check(
        "GET /api/swarms?sort=-name",
        &r,
        200,
        &[("swarms[].name", J::Is("gs")), ("total", J::Int), ("has_more", J::True)],
    );
    let r = d.get("/api/swarms?state=stopped").await;
    check("GET /api/swarms?state=stopped", &r, 200, &[("swarms[].name", J::Is("alpha")), ("total", J::Int)]);
    let (code, b) = d.get("/api/swarms?sort=colour").await;
    assert_eq!(code, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("name, -name, state, -state, started_at, -started_at"), "{b}");
    let (code, b) = d.get("/api/swarms?state=asleep").await;
    assert!(code == 400 && b["error"].as_str().unwrap().contains("running"), "{b}");

    let r = d.get("/api/swarms/gs/agents?sort=-name").await;
    check("GET .../agents?sort=-name", &r, 200, &[("agents", J::Arr), ("has_more", J::Bool)]);
    let names: Vec<&str> = r.1["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["worker_1", "coder"]);
    let r = d.get("/api/swarms/gs/agents?group=worker&backend=mock&backend_type=mock").await;
    check("GET .../agents?backend=mock", &r, 200, &[("agents[].name", J::Is("worker_1"))]);
    let r = d.get_until("/api/swarms/gs/agents?group=worker&state=idle", |b| b["total"] == 1).await;
    check("GET .../agents?group=worker", &(200, r), 200, &[("agents[].name", J::Is("worker_1"))]);
    let (code, b) = d.get("/api/swarms/gs/agents?backend=docker").await;
    assert!(code == 400 && b["error"].as_str().unwrap().contains("stdio"), "{b}");
    let (code, b) = d.get("/api/swarms/gs/objects?sort=size").await;
    assert!(code == 400 && b["error"].as_str().unwrap().contains("-restarts"), "{b}");
    let (_, all) = d.get("/api/swarms/gs/objects").await;
    let (_, counters) = d.get("/api/swarms/gs/objects?kind=kv").await;
    let kinds = |b: &Value| b["objects"].as_array().unwrap().iter().map(|o| o["kind"].clone()).collect::<Vec<_>>();
    assert!(kinds(&counters).iter().all(|k| k == "kv") && !kinds(&counters).is_empty(), "{counters}");
    let (_, none) = d.get("/api/swarms/gs/objects?kind=counter").await;
    assert_eq!((none["total"].as_u64(), kinds(&all).len()), (Some(0), kinds(&counters).len()), "{all}");
    d.shutdown().await;
}
