//! A ZeroMQ worker written in the test with tmq, for tests that drive the
//! gateway frame by frame.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A test worker: a task owns the DEALER socket, sends heartbeats every
/// 100 ms, and relays frames both ways; like the reference workers, it
/// answers `rejected` "... not registered ..." with its `ready` again.
/// Dropping `kill` (or calling `die`) ends it at once: no goodbye, like a
/// crash.
pub struct Worker {
    pub id: String,
    pub rx: mpsc::Receiver<Value>,
    pub tx: mpsc::Sender<Value>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Worker {
    pub async fn connect(endpoint: &str, id: &str, caps: &[&str], slots: u32) -> Self {
        let ready = json!({"type": "ready", "worker_id": id, "capabilities": caps, "slots": slots});
        Self::connect_with(endpoint, id, ready, true).await
    }

    pub async fn connect_with(endpoint: &str, id: &str, ready: Value, heartbeat: bool) -> Self {
        let ctx = tmq::Context::new();
        let sock = tmq::dealer(&ctx).set_identity(id.as_bytes()).set_linger(0).connect(endpoint).unwrap();
        let (mut sink, mut stream) = sock.split();
        let (in_tx, rx) = mpsc::channel::<Value>(10_000);
        let (tx, mut out_rx) = mpsc::channel::<Value>(10_000);
        let wid = id.to_string();
        let task = tokio::spawn(async move {
            let _ctx = ctx;
            let frame = |v: &Value| tmq::Multipart::from(vec![tmq::Message::from(rmp_serde::to_vec_named(v).unwrap())]);
            sink.send(frame(&ready)).await.unwrap();
            let mut beat = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    m = stream.next() => match m {
                        Some(Ok(mut parts)) => {
                            let payload = parts.pop_back().unwrap();
                            let v: Value = rmp_serde::from_slice(&payload).unwrap();
                            if v["type"] == "rejected" && v["reason"].as_str().is_some_and(|r| r.contains("not registered")) {
                                sink.send(frame(&ready)).await.unwrap();
                            }
                            let _ = in_tx.send(v).await;
                        }
                        _ => return,
                    },
                    o = out_rx.recv() => match o {
                        Some(v) if v == json!("raw-garbage") => {
                            sink.send(tmq::Multipart::from(vec![tmq::Message::from(&b"\xc1\xff"[..])])).await.unwrap();
                        }
                        Some(v) => sink.send(frame(&v)).await.unwrap(),
                        None => return,
                    },
                    _ = beat.tick(), if heartbeat => {
                        sink.send(frame(&json!({"type": "heartbeat", "worker_id": wid}))).await.unwrap();
                    }
                }
            }
        });
        Self { id: id.into(), rx, tx, task }
    }

    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv()).await.expect("a frame within 10 s").unwrap()
    }

    pub async fn send(&self, v: Value) {
        self.tx.send(v).await.unwrap();
    }

    pub async fn result(&self, task_id: &Value, content: &str) {
        self.send(json!({"type": "result", "task_id": task_id, "content": content})).await;
    }

    pub fn die(self) {
        self.task.abort();
    }
}
