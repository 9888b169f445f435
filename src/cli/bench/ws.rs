//! `hive bench ws`: N `/ws/events` subscribers to one swarm while a
//! producer routes messages through it at a fixed rate over REST. Each
//! message carries its send time; every subscriber checks it receives every
//! message and measures send → receive latency (end to end: HTTP, router,
//! event bus, WebSocket). Prints delivered/expected and latency percentiles.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use super::{Conn, percentile};

#[derive(Args, Debug)]
pub(crate) struct WsArgs {
    /// A running daemon's URL, with the bench swarm (default: start one in a
    /// child process); its token is read from HIVE_TOKEN.
    #[arg(long, value_name = "URL")]
    against: Option<String>,
    /// WebSocket subscribers.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Messages routed per second (each one event per subscriber).
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// How long to produce.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

#[derive(Default)]
struct Received {
    count: u64,
    lagged: u64,
    latencies_us: Vec<u64>,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, says it is ready (its subscription is live once the socket is
/// open), then receives until it has every message sent.
async fn subscriber(
    ws_url: String,
    expected: Arc<AtomicU64>,
    done: Arc<tokio::sync::Notify>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<Received, String> {
    let (ws, _) = tokio_tungstenite::connect_async(&ws_url).await.map_err(|e| format!("subscribe: {e}"))?;
    let _ = ready.send(()).await;
    drop(ready);
    receive(ws, expected, done).await
}

async fn receive(mut ws: Socket, expected: Arc<AtomicU64>, done: Arc<tokio::sync::Notify>) -> Result<Received, String> {
    let mut r = Received::default();
    loop {
        let wait_done = done.notified();
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).map_err(|e| e.to_string())?;
                    if v["type"] == "lagged" {
                        r.lagged += 1;
                        break;
                    }
                    if let Some(sent) = v["metadata"]["content_preview"].as_str().and_then(|s| s.parse::<u64>().ok()) {
                        r.latencies_us.push(now_us().saturating_sub(sent));
                        r.count += 1;
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            _ = wait_done => {}
        }
        let want = expected.load(Ordering::Acquire);
        if want != u64::MAX && r.count >= want {
            break;
        }
    }
    Ok(r)
}

pub(crate) async fn run(a: WsArgs) -> Result<(), String> {
    let super::Target { daemon, addr, token } = super::Target::new(&a.against)?;
    let token_query = token.as_deref().map(|t| format!("&token={t}")).unwrap_or_default();
    let ws_url = format!("ws://{addr}/ws/events?swarm=bench&event_type=message_routed{token_query}");

    let expected = Arc::new(AtomicU64::new(u64::MAX));
    let done = Arc::new(tokio::sync::Notify::new());
    let t0 = Instant::now();
    // Connect in waves; each subscription is live once its socket is open.
    let mut subs = Vec::with_capacity(a.subscribers);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(a.subscribers.max(1));
    for _ in 0..a.subscribers {
        let (u, e, d, ready) = (ws_url.clone(), expected.clone(), done.clone(), ready_tx.clone());
        subs.push(tokio::spawn(subscriber(u, e, d, ready)));
    }
    drop(ready_tx);
    for _ in 0..a.subscribers {
        if tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await.ok().flatten().is_none() {
            return Err("subscribers did not all connect within 60 s".into());
        }
    }
    eprintln!("bench: {} subscribers connected in {:.2} s", a.subscribers, t0.elapsed().as_secs_f64());

    // Producers: a few keep-alive connections, each at its share of the
    // rate, so one slow answer does not hold the rate back.
    let producers = 4usize.min(a.rate.max(1) as usize);
    let until = Instant::now() + a.duration;
    let per = f64::from(a.rate.max(1)) / producers as f64;
    let mut handles = Vec::new();
    for _ in 0..producers {
        handles.push(tokio::spawn(produce(addr.clone(), token.clone(), per, until)));
    }
    let mut sent = 0u64;
    for h in handles {
        sent += h.await.map_err(|e| e.to_string())??;
    }
    expected.store(sent, Ordering::Release);
    done.notify_waiters();
    // Give every subscriber up to 10 s to receive the tail.
    let grace = Instant::now() + Duration::from_secs(10);
    let (mut delivered, mut lagged, mut short, mut lat) = (0u64, 0u64, 0usize, Vec::new());
    for s in subs {
        let left = grace.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s).await {
            Ok(Ok(Ok(r))) => {
                delivered += r.count;
                lagged += r.lagged;
                short += usize::from(r.count < sent);
                lat.extend(r.latencies_us);
            }
            Ok(Ok(Err(e))) => return Err(e),
            _ => short += 1,
        }
        done.notify_waiters();
    }
    lat.sort_unstable();
    let expected_total = sent * a.subscribers as u64;
    println!(
        "{} subscribers, {} msg/s for {:.1} s: {sent} messages routed, {delivered}/{expected_total} events delivered \
         ({} subscribers short, {lagged} lagged)",
        a.subscribers,
        a.rate,
        a.duration.as_secs_f64(),
        short
    );
    println!(
        "  send → receive latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&lat, 50.0) as f64 / 1000.0,
        percentile(&lat, 99.0) as f64 / 1000.0,
        lat.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    if let Some(kib) = daemon.as_ref().and_then(|d| d.pid()).and_then(super::daemon::peak_rss_kib) {
        println!("  daemon peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    if delivered < expected_total {
        return Err(format!("{} events were not delivered", expected_total - delivered));
    }
    Ok(())
}

/// Routes messages at `rate` per second until `until`; returns how many.
async fn produce(addr: String, token: Option<String>, rate: f64, until: Instant) -> Result<u64, String> {
    let mut conn = Conn::open(&addr, token).await?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    while Instant::now() < until {
        tick.tick().await;
        let body = format!(r#"{{"from":"source","to":"sink","content":"{}"}}"#, now_us());
        let (status, text) = conn.request(hyper::Method::POST, "/api/swarms/bench/message", Some(body)).await?;
        if !status.is_success() {
            return Err(format!("routing failed: {status} {}", String::from_utf8_lossy(&text)));
        }
        sent += 1;
    }
    Ok(sent)
}
