//! The load: clients of the daemon (agent tasks, dispatches, scale
//! mutations, `/ws/events` subscribers), each recording what it was told in
//! [`Told`]. Every client reconnects to the current daemon after a kill and
//! ends when `stop` says so; a request waits at most [`ANSWER`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::schedule::Rng;
use super::{GROUP, SWARM, Transport};
use crate::cli::bench::Conn;

/// How long a request waits for its answer.
const ANSWER: Duration = Duration::from_secs(30);

/// One acknowledged task: its id and what it asked.
#[derive(Debug, Clone)]
pub(super) struct Acked {
    pub(super) id: String,
    pub(super) prompt: String,
    /// Where it runs: a swarm agent (None) or a worker of a transport.
    pub(super) transport: Option<Transport>,
}

/// What the clients were told.
#[derive(Default)]
pub(super) struct Told {
    /// Acknowledged tasks (202 with an id): agent tasks and dispatches.
    pub(super) tasks: Vec<Acked>,
    /// Requests refused or unanswered (not acknowledged), per target
    /// (None: an agent task).
    pub(super) unacked: BTreeMap<Option<Transport>, u64>,
    /// The last acknowledged scale count of the group, and the counts asked
    /// for since without an answer (one of them may have been applied).
    pub(super) scale_acked: Option<i64>,
    pub(super) scale_unknown: Vec<i64>,
    pub(super) scales_acked: u64,
    /// Per subscriber: (seq → event_type) seen, and gaps told.
    pub(super) seen: Vec<BTreeMap<u64, String>>,
    pub(super) gaps: Vec<Vec<(u64, u64)>>,
    pub(super) duplicates: u64,
    pub(super) out_of_order: u64,
    pub(super) reconnects: u64,
}

pub(super) type Shared = Arc<Mutex<Told>>;

/// Sends one request on a connection to the current daemon, opening one if
/// there is none; `Err` = no answer (the connection is then dropped).
pub(super) async fn request(
    conn: &mut Option<Conn>,
    addr: &watch::Receiver<String>,
    method: hyper::Method,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Value), String> {
    if conn.is_none() {
        let a = addr.borrow().clone();
        *conn = Some(tokio::time::timeout(ANSWER, Conn::open(&a, None)).await.map_err(|_| "no connection")??);
    }
    let c = conn.as_mut().expect("opened");
    match tokio::time::timeout(ANSWER, c.request(method, path, body)).await {
        Ok(Ok((status, bytes))) => Ok((status.as_u16(), serde_json::from_slice(&bytes).unwrap_or(Value::Null))),
        Ok(Err(e)) => {
            *conn = None;
            Err(e)
        }
        Err(_) => {
            *conn = None;
            Err(format!("no answer within {ANSWER:?}"))
        }
    }
}

/// Tasks for the swarm's agents, round robin, at `rate` per second.
pub(super) async fn task_client(
    agents: usize,
    rate: u32,
    addr: watch::Receiver<String>,
    told: Shared,
    stop: watch::Receiver<bool>,
) {
    let mut conn = None;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    let mut n: u64 = 0;
    while !*stop.borrow() {
        tick.tick().await;
        n += 1;
        let agent = format!("a{}", n % agents.max(1) as u64);
        let prompt = format!("chaos{n}");
        let body = serde_json::json!({ "task": prompt }).to_string();
        let path = format!("/api/swarms/{SWARM}/agents/{agent}/task");
        let r = request(&mut conn, &addr, hyper::Method::POST, &path, Some(body)).await;
        let mut t = told.lock().expect("told");
        match r {
            Ok((202, v)) if v["task_id"].is_string() => {
                let id = v["task_id"].as_str().unwrap_or_default().to_string();
                t.tasks.push(Acked { id, prompt, transport: None });
            }
            _ => *t.unacked.entry(None).or_default() += 1,
        }
    }
}

/// Dispatches through the task API (`POST /api/v1/tasks`) at `rate` per
/// second, round robin over `transports`, each with the capability only
/// that transport's workers have and a `timeout`.
pub(super) async fn dispatch_client(
    transports: Vec<Transport>,
    rate: u32,
    timeout: Duration,
    addr: watch::Receiver<String>,
    told: Shared,
    stop: watch::Receiver<bool>,
) {
    if transports.is_empty() || rate == 0 {
        return;
    }
    let mut conn = None;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut n: u64 = 0;
    while !*stop.borrow() {
        tick.tick().await;
        n += 1;
        let transport = transports[(n % transports.len() as u64) as usize];
        let prompt = format!("dispatch {n} for {}", transport.capability());
        let body = serde_json::json!({
            "prompt": prompt,
            "capabilities": [transport.capability()],
            "timeout_ms": timeout.as_millis() as u64,
        })
        .to_string();
        let r = request(&mut conn, &addr, hyper::Method::POST, "/api/v1/tasks", Some(body)).await;
        let mut t = told.lock().expect("told");
        match r {
            Ok((202, v)) if v["task_id"].is_string() => {
                let id = v["task_id"].as_str().unwrap_or_default().to_string();
                t.tasks.push(Acked { id, prompt, transport: Some(transport) });
            }
            _ => *t.unacked.entry(Some(transport)).or_default() += 1,
        }
    }
}

/// Resizes the scale group every 300 ms to a seeded count in 1..=4.
pub(super) async fn scale_client(seed: u64, addr: watch::Receiver<String>, told: Shared, stop: watch::Receiver<bool>) {
    let mut conn = None;
    let mut rng = Rng(seed ^ 0x5CA1E);
    while !*stop.borrow() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let count = 1 + rng.below(4) as i64;
        let path = format!("/api/swarms/{SWARM}/agents/{GROUP}/scale");
        let body = serde_json::json!({ "count": count }).to_string();
        match request(&mut conn, &addr, hyper::Method::POST, &path, Some(body)).await {
            Ok((s, _)) if (200..300).contains(&s) => {
                let mut t = told.lock().expect("told");
                t.scale_acked = Some(count);
                t.scale_unknown.clear();
                t.scales_acked += 1;
            }
            Ok(_) => {} // refused: applied nothing
            Err(_) => told.lock().expect("told").scale_unknown.push(count),
        }
    }
}

/// One `/ws/events` subscriber: resumes after its last seen sequence
/// number on every reconnect.
pub(super) async fn subscriber(i: usize, addr: watch::Receiver<String>, told: Shared, stop: watch::Receiver<bool>) {
    let mut last: Option<u64> = None;
    while !*stop.borrow() {
        let a = addr.borrow().clone();
        let since = last.map(|s| format!("?since={s}")).unwrap_or_default();
        let Ok(Ok((mut ws, _))) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(format!("ws://{a}/ws/events{since}")),
        )
        .await
        else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        told.lock().expect("told").reconnects += 1;
        let mut stopping = stop.clone();
        loop {
            let msg = tokio::select! {
                m = ws.next() => m,
                _ = stopping.wait_for(|s| *s) => None,
            };
            let Some(Ok(Message::Text(t))) = msg else { break };
            let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
            let mut told = told.lock().expect("told");
            match v["type"].as_str() {
                Some("lagged") => {
                    // The socket closes; the resume after `missed_from - 1` replays the rest.
                    if let Some(from) = v["missed_from"].as_u64() {
                        last = Some(from.saturating_sub(1));
                    }
                }
                Some("gap") => {
                    if let (Some(f), Some(t)) = (v["from"].as_u64(), v["to"].as_u64()) {
                        told.gaps[i].push((f, t));
                    }
                }
                _ => {
                    let Some(seq) = v["seq"].as_u64() else { continue };
                    if last.is_some_and(|l| seq <= l) {
                        if told.seen[i].contains_key(&seq) {
                            told.duplicates += 1;
                        } else {
                            told.out_of_order += 1;
                        }
                    }
                    let kind = v["event_type"].as_str().unwrap_or_default().to_string();
                    told.seen[i].insert(seq, kind);
                    last = Some(last.map_or(seq, |l| l.max(seq)));
                }
            }
        }
    }
}

/// Spawns `n` standalone JSONL workers running `script` on the daemon at
/// `addr`, each with the JSONL capability and pausing `token_delay` after
/// each token (retried for at most 30 s while the daemon is not ready):
/// their ids.
pub(super) async fn spawn_jsonl_workers(
    addr: &str,
    script: &Path,
    token_delay: Duration,
    n: usize,
) -> Result<Vec<String>, String> {
    let (_tx, rx) = watch::channel(addr.to_string());
    let mut conn = None;
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = serde_json::json!({
        "worker_path": script,
        "opts": {
            "capabilities": [Transport::Jsonl.capability()],
            "kill_timeout_ms": 1000,
            "env": { "ECHO_TOKEN_DELAY_MS": token_delay.as_millis().to_string() },
        },
    })
    .to_string();
    while ids.len() < n {
        match request(&mut conn, &rx, hyper::Method::POST, "/api/v1/agents/spawn", Some(body.clone())).await {
            Ok((201, v)) if v["id"].is_string() => ids.push(v["id"].as_str().unwrap_or_default().to_string()),
            other if Instant::now() > deadline => {
                return Err(format!("cannot spawn the JSONL workers within 30 s: {other:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Ok(ids)
}
