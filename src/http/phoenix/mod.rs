//! The Phoenix Channels v2 socket, `GET /swarm/websocket?vsn=2.0.0`: lets
//! the official `phoenix` JavaScript client join `swarm:<name>` topics, send
//! tasks, read status and receive the swarm's events as pushes
//! (`docs/protocol-websocket.md`).
//!
//! This module owns the handler and the socket loop; [`protocol`] owns the
//! frame format and [`channel`] the per-topic subscriptions and the mapping
//! of events to pushes.
//!
//! Guarantees:
//! * no client input closes the socket or the server, except a frame over
//!   64 KiB (the socket is closed, 1009); a malformed frame is answered with
//!   an error `phx_reply` when its `ref` is readable, else logged and dropped;
//! * memory per socket is bounded: at most [`MAX_TOPICS`] joined topics, one
//!   bus receiver per socket (bounded by the bus's `max_lag`; a lagging
//!   socket gets a `lagged` push on every topic and continues), frames are
//!   written one batch at a time (a write that makes no progress for 30 s
//!   closes the socket), and nothing is queued per client beyond that;
//! * a socket that sends no heartbeat for `ws_heartbeat_timeout_s` is closed,
//!   and every socket is closed when the daemon stops.

mod channel;
mod protocol;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::response::Response;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use utoipa::IntoParams;

use self::channel::{Channel, required_str, topic_swarm};
use self::protocol::{Frame, PHOENIX_TOPIC, encode, error_reply, push, reply};
use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::ApiQuery;
use crate::ErrorCode;
use crate::HiveError;
use crate::events::Event;
use crate::http::WS_SEND_TIMEOUT as SEND_TIMEOUT;

/// Largest frame a client may send.
pub(crate) const MAX_FRAME: usize = 64 * 1024;
/// Most topics one socket may have joined at once.
pub(crate) const MAX_TOPICS: usize = 100;
/// Most bus events turned into pushes before a flush.
const BATCH: usize = 256;
/// The events a joined topic accepts.
const CHANNEL_EVENTS: &str =
    "send_task, get_status, subscribe_logs, unsubscribe_logs, subscribe_events, unsubscribe_events, phx_leave";

/// Query parameters of the socket.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SocketParams {
    /// Protocol version: `2.0.0` (the only one served; the default).
    vsn: Option<String>,
    /// The token (read by the auth layer).
    #[allow(dead_code)]
    token: Option<String>,
}

/// A Phoenix Channels v2 socket (JSON array frames).
#[utoipa::path(get, path = "/swarm/websocket", tag = "streams", params(SocketParams),
    responses((status = 101, description = "WebSocket: Phoenix Channels v2 frames (docs/protocol-websocket.md)"),
        (status = 400, body = crate::http::ErrorBody), (status = 503, body = crate::http::ErrorBody)))]
pub(crate) async fn socket(
    State(st): State<AppState>,
    crate::http::access::Caller(caller): crate::http::access::Caller,
    ApiQuery(p): ApiQuery<SocketParams>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if let Some(v) = p.vsn.as_deref()
        && !v.starts_with("2.")
    {
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            format!("unsupported vsn '{v}': only 2.0.0 (JSON array frames) is served"),
        ));
    }
    let state = st.clone();
    st.websocket(ws, MAX_FRAME, move |sink, stream| run(state, caller, sink, stream))
}

/// One socket: its joined topics (by swarm name) and its bus receiver,
/// held only while a topic is joined.
struct Socket {
    st: AppState,
    /// Who connected: `send_task` needs an operator (joining and reading
    /// need the viewer the route needs).
    caller: crate::access::Principal,
    channels: HashMap<Arc<str>, Channel>,
    bus: Option<broadcast::Receiver<Arc<Event>>>,
    /// The last event sequence number seen (for `lagged.missed_from`).
    last_seq: u64,
}

async fn next_event(bus: &mut Option<broadcast::Receiver<Arc<Event>>>) -> Result<Arc<Event>, RecvError> {
    match bus {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes `frames` and flushes; false if the client went away or stalled.
async fn write<S>(sink: &mut S, frames: Vec<Frame>) -> bool
where
    S: Sink<Message> + Unpin,
{
    if frames.is_empty() {
        return true;
    }
    let all = async {
        for f in frames {
            sink.feed(Message::Text(encode(&f).into())).await.map_err(|_| ())?;
        }
        sink.flush().await.map_err(|_| ())
    };
    matches!(tokio::time::timeout(SEND_TIMEOUT, all).await, Ok(Ok(())))
}

async fn close<S>(sink: &mut S, code: u16, reason: &str)
where
    S: Sink<Message> + Unpin,
{
    let frame = CloseFrame { code, reason: reason.into() };
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    let _ = sink.close().await;
}

/// The socket loop. Generic over the socket's halves so it can be driven by
/// channels in tests.
pub(crate) async fn run<S, R>(st: AppState, caller: crate::access::Principal, mut sink: S, mut stream: R)
where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let heartbeat = Duration::from_secs(st.cfg.ws_heartbeat_timeout_s.max(1));
    let mut deadline = Instant::now() + heartbeat;
    let mut shutdown = st.shutdown.clone();
    if *shutdown.borrow() {
        return close(&mut sink, 1001, "server stopping").await;
    }
    let mut sock = Socket { st, caller, channels: HashMap::new(), bus: None, last_seq: 0 };
    loop {
        tokio::select! {
            r = next_event(&mut sock.bus) => {
                let mut out = Vec::new();
                sock.on_bus(r, &mut out);
                for _ in 0..BATCH {
                    let Some(rx) = sock.bus.as_mut() else { break };
                    match rx.try_recv() {
                        Ok(e) => sock.on_bus(Ok(e), &mut out),
                        Err(broadcast::error::TryRecvError::Lagged(n)) => sock.on_bus(Err(RecvError::Lagged(n)), &mut out),
                        Err(_) => break,
                    }
                }
                if !write(&mut sink, out).await {
                    return;
                }
            }
            m = stream.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let mut out = Vec::new();
                    if sock.on_text(t.as_str(), &mut out).await {
                        deadline = Instant::now() + heartbeat;
                    }
                    if !write(&mut sink, out).await {
                        return;
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    tracing::debug!(len = b.len(), "phoenix socket: binary frame ignored (only JSON text frames)");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {} // answered by the socket
                Some(Ok(Message::Close(_))) | None => return,
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "phoenix socket: read failed");
                    return close(&mut sink, 1009, "frame too large or unreadable").await;
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                return close(&mut sink, 1000, "heartbeat timeout").await;
            }
            _ = shutdown.changed() => {
                return close(&mut sink, 1001, "server stopping").await;
            }
        }
    }
}

impl Socket {
    fn on_bus(&mut self, r: Result<Arc<Event>, RecvError>, out: &mut Vec<Frame>) {
        match r {
            Ok(e) => {
                self.last_seq = self.last_seq.max(e.seq);
                if let Some(ch) = e.swarm.as_deref().and_then(|s| self.channels.get(s)) {
                    out.extend(ch.pushes(&e));
                }
            }
            Err(RecvError::Lagged(n)) => {
                let payload = json!({"missed_from": self.last_seq + 1, "missed": n});
                self.last_seq += n;
                for ch in self.channels.values() {
                    out.push(push(&ch.join_ref, &ch.topic, "lagged", payload.clone()));
                }
            }
            Err(RecvError::Closed) => self.bus = None,
        }
    }

    /// Handles one text frame; true if it was a heartbeat.
    async fn on_text(&mut self, text: &str, out: &mut Vec<Frame>) -> bool {
        let f = match protocol::parse(text) {
            Ok(f) => f,
            Err(bad) => {
                tracing::debug!(reason = %bad.reason, "phoenix socket: malformed frame");
                if let Some(r) = bad.msg_ref {
                    let topic = bad.topic.as_deref().unwrap_or(PHOENIX_TOPIC);
                    out.push(reply(
                        &bad.join_ref,
                        &r,
                        topic,
                        false,
                        json!({"reason": "malformed_frame", "message": bad.reason}),
                    ));
                }
                return false;
            }
        };
        match (f.topic.as_str(), f.event.as_str()) {
            (PHOENIX_TOPIC, "heartbeat") => {
                out.push(reply(&f.join_ref, &f.msg_ref, PHOENIX_TOPIC, true, json!({})));
                return true;
            }
            (_, "phx_join") => self.join(&f, out).await,
            (_, "phx_leave") => self.leave(&f, out),
            _ => self.channel_event(&f, out).await,
        }
        false
    }

    fn joined<'t>(&self, topic: &'t str) -> Option<&'t str> {
        topic_swarm(topic).filter(|s| self.channels.contains_key(*s))
    }

    async fn join(&mut self, f: &Frame, out: &mut Vec<Frame>) {
        let Some(name) = topic_swarm(&f.topic) else {
            return out.push(error_reply(&f.join_ref, &f.msg_ref, &f.topic, "unmatched topic"));
        };
        if !self.channels.contains_key(name) && self.channels.len() >= MAX_TOPICS {
            let r = json!({"reason": "too_many_topics", "message": format!("at most {MAX_TOPICS} topics per socket")});
            return out.push(reply(&f.join_ref, &f.msg_ref, &f.topic, false, r));
        }
        if let Err(e) = self.st.hive.swarm(name).await {
            return out.push(reply(&f.join_ref, &f.msg_ref, &f.topic, false, hive_error(&e)));
        }
        if self.bus.is_none() {
            // Subscribed before the reply: every event after the reply is seen.
            let bus = self.st.hive.events();
            self.last_seq = bus.next_seq().saturating_sub(1);
            self.bus = Some(bus.subscribe());
        }
        // A second join of the same topic starts it afresh (as Phoenix does).
        let ch = Channel::new(name, f.join_ref.clone());
        self.channels.insert(ch.swarm.clone(), ch);
        out.push(reply(&f.join_ref, &f.msg_ref, &f.topic, true, json!({"swarm": name})));
    }

    fn leave(&mut self, f: &Frame, out: &mut Vec<Frame>) {
        let Some(ch) = topic_swarm(&f.topic).and_then(|s| self.channels.remove(s)) else {
            return out.push(error_reply(&f.join_ref, &f.msg_ref, &f.topic, "unmatched topic"));
        };
        if self.channels.is_empty() {
            self.bus = None;
        }
        out.push(reply(&f.join_ref, &f.msg_ref, &f.topic, true, json!({})));
        out.push(push(&ch.join_ref, &ch.topic, "phx_close", json!({})));
    }

    async fn channel_event(&mut self, f: &Frame, out: &mut Vec<Frame>) {
        let Some(name) = self.joined(&f.topic).map(Arc::<str>::from) else {
            return out.push(error_reply(&f.join_ref, &f.msg_ref, &f.topic, "unmatched topic"));
        };
        let ok = |response: Value| reply(&f.join_ref, &f.msg_ref, &f.topic, true, response);
        let err = |reason: &str, message: String| {
            reply(&f.join_ref, &f.msg_ref, &f.topic, false, json!({"reason": reason, "message": message}))
        };
        let Some(ch) = self.channels.get_mut(&name) else { return };
        let answer = match f.event.as_str() {
            "send_task" if !self.caller.role.allows(crate::access::Role::Operator) => err(
                ErrorCode::AccessDenied.phoenix_reason(),
                format!("send_task needs the operator role; token '{}' is {}", self.caller.name, self.caller.role),
            ),
            "send_task" => match (required_str(&f.payload, "agent"), required_str(&f.payload, "task")) {
                (Ok(agent), Ok(task)) => match self.st.hive.swarm(&name).await {
                    Ok(s) => match s.send_task_by(agent, task, Some(&self.caller.name)).await {
                        Ok(id) => ok(json!({"task_id": id})),
                        Err(e) => reply(&f.join_ref, &f.msg_ref, &f.topic, false, hive_error(&e)),
                    },
                    Err(e) => reply(&f.join_ref, &f.msg_ref, &f.topic, false, hive_error(&e)),
                },
                (Err(m), _) | (_, Err(m)) => err("invalid_payload", m),
            },
            "get_status" => match self.st.hive.swarm(&name).await {
                Ok(s) => match s.status().await {
                    Ok(status) => ok(serde_json::to_value(status).unwrap_or_default()),
                    Err(e) => reply(&f.join_ref, &f.msg_ref, &f.topic, false, hive_error(&e)),
                },
                Err(e) => reply(&f.join_ref, &f.msg_ref, &f.topic, false, hive_error(&e)),
            },
            "subscribe_logs" => ch.subscribe_logs(&f.payload).map_or_else(|m| err("invalid_payload", m), ok),
            "unsubscribe_logs" => ch.unsubscribe_logs(&f.payload).map_or_else(|m| err("invalid_payload", m), ok),
            "subscribe_events" => ch.subscribe_events(&f.payload).map_or_else(|m| err("invalid_filter", m), ok),
            "unsubscribe_events" => {
                ch.unsubscribe_events();
                ok(json!({}))
            }
            other => err("unknown_event", format!("unknown event '{other}'; valid events: {CHANNEL_EVENTS}")),
        };
        out.push(answer);
    }
}

/// The error response for a runtime error: its code's stable `reason` word
/// (the same [`HiveError::code`] REST answers with) and the human message.
fn hive_error(e: &HiveError) -> Value {
    json!({"reason": e.code().phoenix_reason(), "message": e.to_string()})
}
