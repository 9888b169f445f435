//! Schedules end to end, against the real `hive serve`: the REST routes and
//! their refusals, the `hive schedule` commands, and kill -9 of the daemon
//! at random moments while a 1-second schedule runs — after which no tick
//! has fired twice.

mod cli_common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cli_common::*;
use serde_json::{Value, json};

async fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let c = reqwest::Client::new();
    let mut r = c.request(method, url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let res = r.send().await.expect("the daemon answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn swarm_file(dir: &std::path::Path) -> String {
    let path = dir.join("clock.toml");
    std::fs::write(
        &path,
        r#"
name = "clock"
[[agents]]
name = "a"
backend = "mock"

[[schedules]]
name = "beat"
agent = "a"
every = "1s"
content = "beat"
overlap = "queue"
catch_up = "once"
"#,
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_routes_and_commands_make_edit_read_and_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let file = swarm_file(dir.path());
    let d = Daemon::start(&["--in-memory", "--swarm", &file], &[], false);
    let api = format!("{}/api/v1/schedules", d.url);

    // The swarm's schedule is there, named after its swarm.
    let (s, v) = call(reqwest::Method::GET, &format!("{api}/clock.beat"), None).await;
    assert_eq!((s, v["swarm"].as_str()), (200, Some("clock")), "{v}");

    let good = json!({"name": "hourly", "cron": "0 * * * *", "timezone": "Europe/Paris",
        "target": {"agent": {"swarm": "clock", "agent": "a"}}, "content": "report"});
    let (s, v) = call(reqwest::Method::POST, &api, Some(good.clone())).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["next_fires"].as_array().map(Vec::len), Some(5), "{v}");
    assert_eq!(v["created_by"], "loopback");

    // Bad input: each a 4xx in the error shape, and nothing changes.
    let bad = [
        (json!({"cron": "61 * * * *"}), 400),
        (json!({"cron": "* * *"}), 400),
        (json!({"timezone": "Mars/Olympus"}), 400),
        (json!({"cron": null, "every": "500ms"}), 400),
        (json!({"cron": null, "at": "not a time"}), 400),
        (json!({"target": {"agent": {"swarm": "nope", "agent": "a"}}}), 400),
        (json!({"target": {"agent": {"swarm": "clock", "agent": "zz"}}}), 400),
        (json!({"target": {"somewhere": {}}}), 400),
        (json!({"name": "hourly"}), 409),
    ];
    for (patch, want) in bad {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        if body["name"] == "hourly" && want != 409 {
            body["name"] = json!("other");
        }
        let (s, v) = call(reqwest::Method::POST, &api, Some(body.clone())).await;
        assert_eq!(s, want, "{body} → {v}");
        assert!(v["error_code"].as_str().is_some_and(|c| c.starts_with("HIVE_")), "{v}");
    }
    let (_, list) = call(reqwest::Method::GET, &api, None).await;
    assert_eq!(list["total"], 2, "{list}");
    let (s, _) = call(reqwest::Method::GET, &format!("{api}/missing"), None).await;
    assert_eq!(s, 404);
    let (s, v) = call(reqwest::Method::PATCH, &format!("{api}/clock.beat"), Some(json!({"content": "x"}))).await;
    assert_eq!(s, 409, "a swarm's schedule takes only 'enabled': {v}");
    let (s, _) = call(reqwest::Method::DELETE, &format!("{api}/clock.beat"), None).await;
    assert_eq!(s, 409, "a swarm's schedule goes with the swarm");
    let (s, _) = call(reqwest::Method::GET, &format!("{api}/hourly/runs?limit=0"), None).await;
    assert_eq!(s, 400);

    // The commands.
    d.run(&["schedule", "add", "ping", "hello", "--every", "1s", "--agent", "clock/a", "--overlap", "queue"]).ok();
    let ls = d.run(&["schedule", "ls"]).ok();
    assert!(
        ls.stdout.contains("ping") && ls.stdout.contains("every 1s") && ls.stdout.contains("clock/a"),
        "{}",
        ls.stdout
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let runs = loop {
        let v = d.run(&["--json", "schedule", "runs", "ping"]).ok().json();
        if v["runs"].as_array().is_some_and(|r| r.iter().any(|r| r["task_status"] == "ok")) {
            break v;
        }
        assert!(Instant::now() < deadline, "ping never fired a task that completed: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(runs["runs"][0]["outcome"], "fired", "{runs}");
    d.run(&["schedule", "disable", "ping"]).ok();
    let show = d.run(&["--json", "schedule", "show", "ping"]).ok().json();
    assert_eq!((show["enabled"].as_bool(), show["next_fires"].as_array().map(Vec::len)), (Some(false), Some(0)));
    d.run(&["schedule", "enable", "ping"]).ok();
    d.run(&["schedule", "rm", "ping"]).ok();
    d.run(&["schedule", "show", "ping"]).fails(1, "not found");
    let (s, v) = call(reqwest::Method::PATCH, &format!("{api}/hourly"), Some(json!({"every": "2s"}))).await;
    assert_eq!((s, v["every"].as_str(), v["cron"].as_str()), (200, Some("2s"), None), "{v}");

    // Stopping the swarm takes its schedule out of the fire queue.
    d.run(&["down", "clock"]).ok();
    let (_, v) = call(reqwest::Method::GET, &format!("{api}/clock.beat"), None).await;
    assert_eq!(v["next_fires"].as_array().map(Vec::len), Some(0), "{v}");
    d.stop();
}

/// Every task a schedule created, by tick.
async fn ticks(url: &str) -> HashMap<u64, Vec<String>> {
    let (s, v) = call(reqwest::Method::GET, &format!("{url}/api/v1/tasks?per_page=1000"), None).await;
    assert_eq!(s, 200, "{v}");
    let mut by_tick: HashMap<u64, Vec<String>> = HashMap::new();
    for t in v["items"].as_array().into_iter().flatten() {
        if let Some(tick) = t["schedule"]["tick_ms"].as_u64() {
            by_tick.entry(tick).or_default().push(t["task_id"].as_str().unwrap_or_default().to_string());
        }
    }
    by_tick
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_while_a_1_second_schedule_runs_fires_no_tick_twice() {
    let dir = tempfile::tempdir().unwrap();
    let file = swarm_file(dir.path());
    let data = dir.path().join("data");
    let data = data.to_string_lossy();
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    let mut rng = seed;
    let mut next = move || {
        // xorshift: a different schedule of kills each run (the seed is printed).
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    eprintln!("kill schedule seed: {seed}");
    for round in 0..4 {
        let args: Vec<&str> =
            if round == 0 { vec!["--data-dir", &data, "--swarm", &file] } else { vec!["--data-dir", &data] };
        let mut d = Daemon::start(&args, &[], false);
        let wait = Duration::from_millis(1_200 + next() % 2_500);
        tokio::time::sleep(wait).await;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.child.id() as i32), nix::sys::signal::Signal::SIGKILL)
            .unwrap();
        d.child.wait().unwrap();
    }
    let d = Daemon::start(&["--data-dir", &data], &[], false);
    let deadline = Instant::now() + Duration::from_secs(30);
    let by_tick = loop {
        let by_tick = ticks(&d.url).await;
        if by_tick.len() >= 6 || Instant::now() > deadline {
            break by_tick;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(by_tick.len() >= 6, "the schedule fired across the restarts: {by_tick:?}");
    let twice: Vec<_> = by_tick.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(twice.is_empty(), "ticks fired twice (seed {seed}): {twice:?}");
    d.stop();
}
