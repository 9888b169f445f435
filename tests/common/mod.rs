//! Shared helpers of the integration tests: a runtime, specs from TOML, and
//! waiting on events or conditions with a deadline (never sleep-and-hope).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use hive::config::{self, SwarmSpec};
use hive::events::{BusOptions, Event, EventKind};
use hive::{Hive, HiveOptions};
use tokio::sync::broadcast;

/// How long any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A runtime with a large event ring and lag bound, so tests can account
/// for every event.
pub async fn hive() -> Hive {
    let opts = HiveOptions { bus: BusOptions { ring_capacity: 200_000, max_lag: 200_000 }, ..HiveOptions::default() };
    Hive::start(opts).await.expect("runtime starts")
}

/// Parses a swarm file or panics with its errors.
pub fn spec(hive: &Hive, toml: &str) -> SwarmSpec {
    config::parse_toml(toml, &hive.validate_options()).unwrap_or_else(|e| panic!("invalid test spec:\n{e}"))
}

/// Receives events until `pred` matches one; returns everything received.
pub async fn until(rx: &mut broadcast::Receiver<Arc<Event>>, pred: impl Fn(&Event) -> bool) -> Vec<Arc<Event>> {
    let mut seen = Vec::new();
    let r = tokio::time::timeout(DEADLINE, async {
        loop {
            let e = rx.recv().await.expect("event bus open and not lagging");
            let done = pred(&e);
            seen.push(e);
            if done {
                return;
            }
        }
    })
    .await;
    if r.is_err() {
        let types: Vec<_> = seen.iter().map(|e| format!("{}:{:?}", e.event_type(), e.agent)).collect();
        panic!("no matching event within {DEADLINE:?}; saw {types:?}");
    }
    seen
}

/// Polls `check` until it returns Some, or panics at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Whether `e` is of the given type and about endpoint `who`.
pub fn is(e: &Event, event_type: &str, who: &str) -> bool {
    e.event_type() == event_type && e.agent.as_deref() == Some(who)
}

/// The names of the endpoints of events of one type, in order.
pub fn names_of(events: &[Arc<Event>], event_type: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event_type() == event_type)
        .filter_map(|e| e.agent.as_deref().map(String::from))
        .collect()
}

/// Whether the event is a failure of `task_id` with `code`.
pub fn task_failed(e: &Event, task_id: &str, code: &str) -> bool {
    matches!(&e.kind, EventKind::TaskFailed { task_id: t, code: c, .. } if &**t == task_id && c == code)
}

/// A client WebSocket of the tests.
pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON (within [`DEADLINE`]); None once the socket is closed.
pub async fn next(ws: &mut Ws) -> Option<serde_json::Value> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(DEADLINE, ws.next()).await.expect("a frame within the deadline") {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).expect("server frames are JSON")),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}
