//! The typed task stream, `GET /ws/tasks`: one JSON notice per text message,
//! `{"type": "task.queued" | "task.started" | "task.output" |
//! "task.completed" | "task.failed" | "task.cancelled", task_id,
//! submitted_by, ...}`, from the task book (every transport reports there).
//!
//! Which tasks: `?task=ID` one task (404 if the caller may not see it; if it
//! has already ended, its end is sent at once and the socket closes after
//! it); `?mine=true` the caller's token's tasks; neither, every task the
//! caller may see (an admin: all; anyone else: its token's).
//!
//! Guarantees: subscribed before the handshake is answered (no change after
//! the client sees the socket open is missed); a client more than
//! [`crate::task::NOTICE_LAG`] notices behind is sent `{"type": "lagged",
//! "missed": n}` and the stream goes on; with `?task=`, the socket closes
//! after the task's end, also when the end was among the notices missed (on
//! a lag the task's record is read again, and an ended task's end is sent);
//! a send that makes no progress for 30 s closes it.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use super::AppState;
use super::WS_SEND_TIMEOUT as SEND_TIMEOUT;
use super::access::Caller;
use super::error::ApiResult;
use super::extract::ApiQuery;
use crate::task::{Happened, TaskNotice};

/// `?task=` or `?mine=true`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskStreamParams {
    /// Only this task.
    task: Option<String>,
    /// Only the tasks of the caller's token (what a non-admin gets anyway).
    mine: Option<bool>,
    /// A WebSocket client that cannot set headers may pass its token here.
    #[allow(dead_code)]
    token: Option<String>,
}

/// Which notices a client gets.
struct Keep {
    task: Option<Arc<str>>,
    submitted_by: Option<Arc<str>>,
}

impl Keep {
    fn matches(&self, n: &TaskNotice) -> bool {
        self.task.as_ref().is_none_or(|t| *t == n.task_id)
            && self.submitted_by.as_ref().is_none_or(|o| n.submitted_by.as_ref() == Some(o))
    }
}

/// Streams task changes over a WebSocket.
#[utoipa::path(get, path = "/ws/tasks", tag = "streams", params(TaskStreamParams),
    responses((status = 101, description = "WebSocket: one task notice per message"),
        (status = 400, body = crate::http::ErrorBody), (status = 404, body = crate::http::ErrorBody),
        (status = 503, body = crate::http::ErrorBody)))]
pub(crate) async fn ws_tasks(
    State(st): State<AppState>,
    Caller(who): Caller,
    ApiQuery(p): ApiQuery<TaskStreamParams>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // Subscribed first: a change after the record is read is not missed.
    let rx = st.hive.task_book().notices();
    // An ended task's end is all there is to send.
    let first = match &p.task {
        Some(id) => {
            let r = st.hive.tasks().get_for(id, &who).await?;
            r.end().map(|end| TaskNotice::of(&r, Happened::ended(&end)))
        }
        None => None,
    };
    let own = p.mine == Some(true) || !who.sees_all_tasks();
    let keep = Keep { task: p.task.as_deref().map(Into::into), submitted_by: own.then(|| who.name.clone()) };
    let (state, shutdown) = (st.clone(), st.shutdown.clone());
    // After a lag, the one task's end, if it ended meanwhile.
    let ended = move || {
        let (st, who, task) = (state.clone(), who.clone(), p.task.clone());
        async move {
            let r = st.hive.tasks().get_for(task.as_deref()?, &who).await.ok()?;
            r.end().map(|end| TaskNotice::of(&r, Happened::ended(&end)))
        }
    };
    st.websocket(ws, 4 * 1024, move |sink, stream| pump(shutdown, keep, first, ended, rx, sink, stream))
}

fn notice_text(n: &TaskNotice) -> Message {
    Message::Text(serde_json::to_string(n).unwrap_or_default().into())
}

async fn send<S>(sink: &mut S, m: Message) -> bool
where
    S: Sink<Message> + Unpin,
{
    matches!(tokio::time::timeout(SEND_TIMEOUT, sink.send(m)).await, Ok(Ok(())))
}

fn is_end(n: &TaskNotice) -> bool {
    matches!(n.what, Happened::Completed { .. } | Happened::Failed { .. } | Happened::Cancelled)
}

async fn pump<S, R, E, F>(
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    keep: Keep,
    first: Option<TaskNotice>,
    ended: E,
    mut rx: broadcast::Receiver<Arc<TaskNotice>>,
    mut sink: S,
    mut stream: R,
) where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, axum::Error>> + Unpin,
    E: Fn() -> F,
    F: std::future::Future<Output = Option<TaskNotice>>,
{
    if let Some(n) = first {
        let _ = send(&mut sink, notice_text(&n)).await;
        let _ = sink.close().await;
        return;
    }
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(n) if keep.matches(&n) => {
                    if !send(&mut sink, notice_text(&n)).await {
                        return;
                    }
                    if keep.task.is_some() && is_end(&n) {
                        break;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    if !send(&mut sink, Message::Text(json!({"type": "lagged", "missed": missed}).to_string().into())).await {
                        return;
                    }
                    // The one task's end may have been missed: its record says.
                    if keep.task.is_some() && let Some(end) = ended().await {
                        let _ = send(&mut sink, notice_text(&end)).await;
                        break;
                    }
                }
                Err(RecvError::Closed) => break,
            },
            m = stream.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => break,
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{TaskEnd, TaskRecord, Transport};

    fn notice(id: &str, what: Happened) -> Arc<TaskNotice> {
        Arc::new(TaskNotice::of(&TaskRecord::queued(id, Transport::Dispatch, "s", "", "p", "api"), what))
    }

    #[tokio::test]
    async fn a_task_stream_whose_end_was_lagged_away_sends_the_end_from_the_record_and_closes() {
        let (tx, rx) = broadcast::channel(2);
        // The end is among the notices the stream falls behind on.
        let end = TaskEnd::Completed { content: "done".into() };
        for what in [Happened::Queued, Happened::Queued, Happened::ended(&end), Happened::Queued] {
            tx.send(notice("t1", what)).unwrap();
        }
        let (sink, mut out) = futures::channel::mpsc::unbounded::<Message>();
        let keep = Keep { task: Some("t1".into()), submitted_by: None };
        let ended =
            || async { Some((*notice("t1", Happened::ended(&TaskEnd::Completed { content: "done".into() }))).clone()) };
        let (_stop, shutdown) = tokio::sync::watch::channel(false);
        let stream = futures::stream::pending::<Result<Message, axum::Error>>();
        // `tx` stays open: only the end closes the stream.
        tokio::time::timeout(std::time::Duration::from_secs(10), pump(shutdown, keep, None, ended, rx, sink, stream))
            .await
            .expect("the stream closes after the end");
        let mut sent = Vec::new();
        while let Ok(Message::Text(t)) = out.try_recv() {
            sent.push(serde_json::from_str::<serde_json::Value>(&t).unwrap());
        }
        assert_eq!(sent[0]["type"], "lagged", "{sent:?}");
        assert_eq!((&sent[1]["type"], &sent[1]["content"]), (&json!("task.completed"), &json!("done")), "{sent:?}");
        assert_eq!(sent.len(), 2, "{sent:?}");
        drop(tx);
    }
}
