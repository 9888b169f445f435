//! The accept loop: it owns every connection the daemon serves. hyper's
//! HTTP/1 connection (with upgrades, for WebSockets) serves each, with a
//! header read timeout on a tokio timer; the router sees each request with
//! its peer's address (`ConnectInfo`).
//!
//! Guarantees:
//! - At most `max_connections` connections are served at once: at the cap
//!   the loop stops accepting (a new client waits in the kernel's listen
//!   queue) until one closes, and the wait is recorded
//!   (`hive_http_limited_total{limit="connections"}`). A WebSocket leaves
//!   the count once upgraded (`max_websockets` bounds those).
//! - A connection that does not send a request's headers within
//!   `header_read_timeout_s` of its start (or of its previous request's end)
//!   is closed and counted (`limit="header_timeout"`): a client that sends
//!   nothing, or a byte at a time, holds its slot no longer than that. It
//!   is logged at `warn` when the connection never sent a whole request
//!   (an idle keep-alive connection closing is routine: `debug`).
//!   (hyper's HTTP/1 connection times the headers from its first poll; the
//!   auto builder's protocol sniff would wait for a first byte untimed, and
//!   this build serves HTTP/1 only.)
//! - Every connection task is in one `JoinSet`: the loop learns how each
//!   ended (a panic is logged at `error`). When the shutdown signal comes,
//!   the loop stops accepting, closes the streams (`on_shutdown`), tells
//!   every connection to finish its request in flight and close, and waits
//!   for them at most [`DRAIN`]; those still open then are aborted.
//! - An accept error that is not the client's (descriptors exhausted) is
//!   logged and retried after a second, never a busy loop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::hits::Hits;
use crate::metrics::{HttpLimit, Metrics};

/// Longest the server waits, once stopping, for its connections to finish
/// the requests they have in flight.
pub(crate) const DRAIN: Duration = Duration::from_secs(10);

/// What bounds the loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Most connections served at once.
    pub(crate) max_connections: usize,
    /// How long a client has to send a request's headers.
    pub(crate) header_read_timeout: Duration,
}

/// How a connection task ended: whose it was, how many requests it had
/// begun, and its end.
type Ended = (SocketAddr, u64, Result<(), hyper::Error>);

/// Serves `app` on `listener` until `shutdown` resolves (see the module doc).
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    hits: Arc<Hits>,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_shutdown: impl FnOnce(),
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(bounds.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut conns: JoinSet<Ended> = JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(bounds.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                hits.hit(HttpLimit::Connections, None);
                tokio::select! {
                    p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    Some(done) = conns.join_next() => { ended(&hits, done); continue }
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection; retrying in 1 s");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            Some(done) = conns.join_next() => { ended(&hits, done); continue }
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let begun = Arc::new(AtomicU64::new(0));
        let counted = begun.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            counted.fetch_add(1, Ordering::Relaxed);
            req.extensions_mut().insert(ConnectInfo(peer));
            tower::ServiceExt::oneshot(app.clone(), req.map(axum::body::Body::new))
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        let mut stopping = stopping.clone();
        let open = metrics.http_connection_opened();
        conns.spawn(async move {
            let _permit = permit;
            let _open = open;
            tokio::pin!(conn);
            let r = tokio::select! {
                r = conn.as_mut() => r,
                () = async { drop(stopping.wait_for(|s| *s).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            (peer, begun.load(Ordering::Relaxed), r)
        });
    }
    drop(listener);
    on_shutdown();
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(done) = conns.join_next().await {
            ended(&hits, done);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(open = conns.len(), "connections still open {} s after shutdown; closing them", DRAIN.as_secs());
        conns.shutdown().await;
    }
    Ok(())
}

/// Takes note of how a connection ended.
fn ended(hits: &Hits, done: Result<Ended, tokio::task::JoinError>) {
    match done {
        Ok((_, _, Ok(()))) => {}
        // A connection that never sent a whole request: a slow or silent client.
        Ok((peer, 0, Err(e))) if e.is_timeout() => {
            hits.hit(HttpLimit::HeaderTimeout, Some(peer));
        }
        // An idle keep-alive connection: counted, but closing it is routine.
        Ok((peer, _, Err(e))) if e.is_timeout() => {
            hits.count(HttpLimit::HeaderTimeout);
            tracing::debug!(%peer, "an idle keep-alive connection was closed");
        }
        Ok((peer, _, Err(e))) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
        Err(e) if e.is_panic() => tracing::error!(error = %e, "a connection task panicked"),
        Err(_) => {}
    }
}

/// Errors of one client's connection attempt, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
