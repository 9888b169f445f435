//! Embedding Hive as a library: start a swarm, change it at runtime, run a
//! task and watch its events. Run: `cargo run --example embed`

use std::time::Duration;

use hive::config::{self, Edge};
use hive::{Hive, HiveOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hive = Hive::start(HiveOptions::default()).await?;
    let spec = config::parse_file("swarms/demo.toml".as_ref(), &hive.validate_options())?;
    let swarm = hive.start_swarm(spec).await?;

    let scaled = swarm.scale("worker", 5).await?;
    println!("scaled up: {:?}", scaled.added);
    let change = swarm.update_edges(vec![Edge::new("worker", "board")], vec![]).await?;
    println!("edges added: {}", change.added);

    let outcome = swarm.run_task("worker_5", "hello", Duration::from_secs(5)).await?;
    println!("worker_5: {outcome:?}");

    println!("--- snapshot ---\n{}", swarm.snapshot_toml().await?);
    hive.shutdown().await;
    Ok(())
}
