//! `hive events`: stored events, or (`-f`) the live stream over the
//! `/ws/events` WebSocket, reconnecting with `since=` after a `lagged`
//! notice or a dropped connection so that no event is skipped or repeated.

use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Client, ClientError, Refusal, str_of};
use crate::cli::print::json_event_line;

/// `hive events` arguments.
#[derive(Args, Debug)]
pub(crate) struct EventsArgs {
    /// Only this swarm's events.
    name: Option<String>,
    /// Follow the live stream (Ctrl-C ends it).
    #[arg(short, long)]
    follow: bool,
    /// Only this agent or object (needs NAME).
    #[arg(long, requires = "name")]
    agent: Option<String>,
    /// Only this level: debug, info, warning, error.
    #[arg(long, value_name = "L")]
    level: Option<String>,
    /// Only this category: swarm, agent, object, routing, backend, worker, task, system.
    #[arg(long, value_name = "C")]
    category: Option<String>,
    /// Only this event type (e.g. task_completed).
    #[arg(long = "type", value_name = "T")]
    event_type: Option<String>,
    /// Newest events to show (1..=1000; with -f: shown before following) [default: 100 without -f].
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: Option<u32>,
    /// Only events after this sequence number (with -f: replayed, then live).
    #[arg(long, value_name = "SEQ")]
    since: Option<u64>,
}

impl EventsArgs {
    /// The query filters; the agent among them unless the route names it.
    fn filters(&self, agent_in_path: bool) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let agent = if agent_in_path { &None } else { &self.agent };
        for (k, v) in
            [("agent", agent), ("level", &self.level), ("category", &self.category), ("event_type", &self.event_type)]
        {
            if let Some(v) = v {
                q.push((k, v.clone()));
            }
        }
        q
    }
}

pub(crate) async fn run(c: &Client, a: &EventsArgs) -> Result<(), ClientError> {
    let mut since = a.since;
    if !a.follow || a.limit.is_some() {
        let mut q = a.filters(a.name.is_some() && a.agent.is_some());
        q.push(("limit", a.limit.unwrap_or(100).to_string()));
        if let Some(s) = a.since {
            q.push(("since", s.to_string()));
        }
        let v = match (&a.name, &a.agent) {
            (Some(n), Some(agent)) => {
                // The agent's own route: an unknown agent is a 404, not an empty list.
                c.get(&["api", "swarms", n, "agents", agent, "events"], &q).await?
            }
            (Some(n), None) => c.get(&["api", "swarms", n, "events"], &q).await?,
            (None, _) => c.get(&["api", "events"], &q).await?,
        };
        let items = v["events"].as_array().cloned().unwrap_or_default();
        if c.json && !a.follow {
            c.print_json(&v);
            return Ok(());
        }
        for e in &items {
            print_event(c, e, &e.to_string());
        }
        if let Some(last) = items.last().and_then(|e| e["seq"].as_u64()) {
            since = Some(last);
        }
    }
    if !a.follow {
        return Ok(());
    }
    let mut q = a.filters(false);
    if let Some(n) = &a.name {
        q.push(("swarm", n.clone()));
    }
    follow(c, q, since).await
}

fn print_event(c: &Client, e: &Value, raw: &str) {
    if c.json {
        println!("{raw}");
    } else {
        println!("{}", json_event_line(e));
    }
}

/// What ended one connection.
enum Ended {
    /// Ctrl-C.
    Interrupted,
    /// Closed, lagged or dropped: connect again.
    Reconnect,
}

async fn follow(c: &Client, filters: Vec<(&'static str, String)>, mut since: Option<u64>) -> Result<(), ClientError> {
    if since.is_none() {
        // Start from the daemon's newest event, so that a reconnection
        // before the first matching event still misses nothing.
        since = c.get(&["health"], &[]).await?["last_event_seq"].as_u64();
    }
    let mut connected_once = false;
    let mut backoff = Duration::from_millis(200);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let mut q = filters.clone();
        if let Some(s) = since {
            q.push(("since", s.to_string()));
        }
        let mut url = c.url(&["ws", "events"], &q);
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        let _ = url.set_scheme(scheme);
        let mut req =
            url.as_str().into_client_request().map_err(|e| ClientError::Other(format!("bad stream URL {url}: {e}")))?;
        if let Some(t) = c.token()
            && let Ok(h) = HeaderValue::from_str(&format!("Bearer {t}"))
        {
            req.headers_mut().insert("authorization", h);
        }
        let connected = tokio::select! {
            r = tokio_tungstenite::connect_async(req) => r,
            _ = &mut ctrl_c => return Ok(()),
        };
        let ws = match connected {
            Ok((ws, _)) => ws,
            Err(tungstenite::Error::Http(resp)) => {
                return Err(Refusal::from_body(resp.status().as_u16(), resp.body().as_deref().unwrap_or_default()));
            }
            Err(e) if !connected_once => {
                return Err(match e {
                    tungstenite::Error::Io(_) => {
                        ClientError::Unreachable(c.base().as_str().trim_end_matches('/').to_string())
                    }
                    e => ClientError::Other(format!("cannot open the event stream: {e}")),
                });
            }
            Err(e) => {
                eprintln!("hive: event stream: {e}; retrying in {} ms", backoff.as_millis());
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut ctrl_c => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if connected_once {
            eprintln!("hive: event stream reconnected");
        }
        connected_once = true;
        backoff = Duration::from_millis(200);
        let (_sink, mut stream) = ws.split();
        let ended = loop {
            let msg = tokio::select! {
                m = stream.next() => m,
                _ = &mut ctrl_c => break Ended::Interrupted,
            };
            let text = match msg {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Ended::Reconnect,
                Some(Ok(_)) => continue,
            };
            let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
            match str_of(&v, "type") {
                "lagged" => {
                    let from = v["missed_from"].as_u64().unwrap_or(1);
                    eprintln!("hive: fell behind the stream; catching up from event {from}");
                    since = Some(from.saturating_sub(1));
                    break Ended::Reconnect;
                }
                "gap" => {
                    eprintln!(
                        "hive: events {}..{} are gone (the daemon keeps no store)",
                        v["from"].as_u64().unwrap_or_default(),
                        v["to"].as_u64().unwrap_or_default()
                    );
                    if let Some(to) = v["to"].as_u64() {
                        since = Some(since.unwrap_or(0).max(to));
                    }
                }
                "error" => eprintln!("hive: event stream: {}", str_of(&v, "message")),
                _ => {
                    if let Some(seq) = v["seq"].as_u64() {
                        since = Some(seq);
                    }
                    print_event(c, &v, &text);
                }
            }
        };
        match ended {
            Ended::Interrupted => return Ok(()),
            Ended::Reconnect => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
