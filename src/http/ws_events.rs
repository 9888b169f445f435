//! The plain event stream, `GET /ws/events`: one JSON event per text
//! message, filtered by `swarm`, `agent`, `level`, `category`, `event_type`.
//!
//! Guarantees:
//! * `since=<seq>` replays every stored event after `seq`, then continues
//!   live, with no gap and no duplicate (the ring and the live receiver are
//!   taken in one step; what the ring no longer holds is read from the store);
//! * the bus hands each client only the events its filter takes (a client
//!   is not woken for the others); one that falls more than `max_lag` of
//!   those behind is sent `{"type":"lagged","missed_from":seq}` and the
//!   socket is closed: it reconnects with `since=seq-1`. Memory per client
//!   is bounded by the bus's lag bound, never by the client's speed;
//! * without a store, events that left the ring are announced as
//!   `{"type":"gap","from":a,"to":b}` (they cannot be replayed);
//! * the subscription is taken before the handshake is answered: every
//!   event emitted after the client sees the socket open is delivered;
//! * a send that makes no progress for 30 s closes the socket.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde_json::json;

use super::AppState;
use super::error::ApiResult;
use super::extract::ApiQuery;
use super::routes::events::EventParams;
use crate::events::{Event, EventFilter, FilteredSubscription, Lagged};

use super::WS_SEND_TIMEOUT as SEND_TIMEOUT;
/// Events read from the store per page during a replay.
const REPLAY_PAGE: usize = 1000;
/// Live events sent before one flush.
const LIVE_BATCH: usize = 256;

/// Streams events over a WebSocket.
#[utoipa::path(get, path = "/ws/events", tag = "streams", params(EventParams),
    responses((status = 101, description = "WebSocket: one event per message"),
        (status = 400, body = crate::http::ErrorBody), (status = 503, body = crate::http::ErrorBody)))]
pub(crate) async fn ws_events(
    State(st): State<AppState>,
    ApiQuery(p): ApiQuery<EventParams>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let filter = p.filter()?;
    // Subscribed before the handshake answer: every event emitted after the
    // client sees the socket open is delivered.
    let bus = st.hive.events();
    let since = filter.since.unwrap_or_else(|| bus.next_seq().saturating_sub(1));
    let sub = bus.subscribe_filtered(since, filter.clone());
    let state = st.clone();
    st.websocket(ws, 64 * 1024, move |sink, stream| pump(state, filter, sub, sink, stream))
}

fn text(v: serde_json::Value) -> Message {
    Message::Text(v.to_string().into())
}

fn event_text(e: &Event) -> Message {
    Message::Text(serde_json::to_string(e).unwrap_or_default().into())
}

async fn send<S>(sink: &mut S, m: Message) -> bool
where
    S: Sink<Message> + Unpin,
{
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(m)).await, Ok(Ok(())))
}

/// The stream of one client: replay, then live. Generic over the socket's
/// halves so it can be driven by channels in tests.
pub(crate) async fn pump<S, R>(
    st: AppState,
    filter: EventFilter,
    mut sub: FilteredSubscription,
    mut sink: S,
    mut stream: R,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let bus = st.hive.events().clone();
    let mut last = filter.since.unwrap_or(0);
    if !sub.complete {
        let first_held = sub.backlog.first().map_or_else(|| bus.next_seq(), |e| e.seq);
        if !replay_stored(&st, &filter, &mut sink, &mut last, first_held).await {
            return;
        }
    }
    for e in std::mem::take(&mut sub.backlog) {
        if e.seq > last && filter.matches(&e) && !send(&mut sink, event_text(&e)).await {
            return;
        }
        last = last.max(e.seq);
    }
    let mut shutdown = st.shutdown.clone();
    let mut batch = Vec::with_capacity(LIVE_BATCH);
    loop {
        tokio::select! {
            r = sub.live.recv_many(&mut batch, LIVE_BATCH) => match r {
                Ok(0) => break, // the bus is gone
                Ok(_) => {
                    // What is queued (up to LIVE_BATCH, all matching the
                    // filter), then one flush; a lag is told by the next call.
                    for e in batch.drain(..) {
                        if e.seq > last {
                            last = e.seq;
                            if sink.feed(event_text(&e)).await.is_err() {
                                return;
                            }
                        }
                    }
                    if !matches!(tokio::time::timeout(SEND_TIMEOUT, sink.flush()).await, Ok(Ok(()))) {
                        return;
                    }
                }
                // Every event it follows before missed_from was sent.
                Err(Lagged { missed_from }) => return lag_notice(&mut sink, missed_from).await,
            },
            m = stream.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {} // pings are answered by the socket; other input is ignored
            },
            _ = shutdown.changed() => break,
        }
    }
    let _ = sink.close().await;
}

/// Tells the client it missed events from `missed_from` on, and closes the
/// socket.
async fn lag_notice<S>(sink: &mut S, missed_from: u64)
where
    S: Sink<Message> + Unpin,
{
    let _ = send(sink, text(json!({"type": "lagged", "missed_from": missed_from}))).await;
    let _ = sink.close().await;
}

/// Sends stored events in `(last, upto)`; false if the client went away.
async fn replay_stored<S>(st: &AppState, filter: &EventFilter, sink: &mut S, last: &mut u64, upto: u64) -> bool
where
    S: Sink<Message> + Unpin,
{
    if !st.hive.has_store() {
        let gap = json!({"type": "gap", "from": *last + 1, "to": upto.saturating_sub(1)});
        *last = upto.saturating_sub(1);
        return send(sink, text(gap)).await;
    }
    // The filter, applied by the store on its indexes.
    let q = crate::store::EventQuery {
        swarm: filter.swarm.clone(),
        agent: filter.agent.clone(),
        level: filter.level.map(|l| l.as_str().into()),
        category: filter.category.map(|c| c.as_str().into()),
        event_type: filter.event_type.map(Into::into),
        ..Default::default()
    };
    while *last + 1 < upto {
        let (page, read_to) = match st.hive.stored_events_after(q.clone(), *last, upto, REPLAY_PAGE).await {
            Ok(p) => p,
            Err(e) => {
                let _ = send(sink, text(json!({"type": "error", "message": e.to_string()}))).await;
                return false;
            }
        };
        for e in page {
            if !send(sink, text(e.to_json())).await {
                return false;
            }
        }
        let Some(end) = read_to else { break };
        *last = end;
    }
    *last = (*last).max(upto.saturating_sub(1));
    true
}
