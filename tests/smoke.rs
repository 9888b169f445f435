use std::time::Duration;

use hive::task::TaskEnd;
use hive::{Hive, HiveOptions};

#[tokio::test]
async fn swarm_from_toml_runs_a_task_and_routes_a_message() {
    let hive = Hive::start(HiveOptions::default()).await.unwrap();
    let spec = hive::config::parse_toml(
        r#"
name = "demo"
[[agents]]
name = "planner"
[[agents]]
name = "worker"
replicas = 2
[[objects]]
name = "board"
kind = "kv"
[topology]
planner = ["worker", "board"]
"#,
        &hive.validate_options(),
    )
    .unwrap();
    let swarm = hive.start_swarm(spec).await.unwrap();
    let out = swarm.run_task("worker_2", "hello", Duration::from_secs(5)).await.unwrap();
    assert_eq!(out, TaskEnd::Completed { content: "hello".into() });
    assert_eq!(swarm.send_message("planner", "worker", "hi all").await.unwrap(), 2);
    let denied = swarm.send_message("worker_1", "planner", "back").await.unwrap_err();
    assert!(matches!(denied, hive::HiveError::RouteDenied(_)), "{denied:?}");
    swarm.send_message("planner", "board", r#"{"op":"put","key":"k","value":7}"#).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let st = swarm.object_state("board").await.unwrap();
        if st["entries"]["k"] == 7 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::task::yield_now().await;
    }
    let status = swarm.status().await.unwrap();
    assert_eq!(status.agents.len(), 3);
    println!("{}", swarm.snapshot_toml().await.unwrap());
    hive.shutdown().await;
}
