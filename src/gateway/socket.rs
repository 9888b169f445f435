//! The ROUTER socket: one task owns it. Inbound frames are split into
//! identity, framing (`[id, payload]` or `[id, "", payload]`) and payload,
//! decoded, and handed to the dispatcher; a frame that does not decode is a
//! `frame_rejected` event, never a crash. Outbound frames are written in the
//! framing the worker used, in batches (feed, then one flush).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{SinkExt, StreamExt};
use ractor::ActorRef;
use tmq::{AsZmqSocket, Message, Multipart};
use tokio::sync::{mpsc, watch};

use super::dispatcher::DispatcherMsg;
use super::protocol::{self, WorkerMsg};
use crate::events::{EventBus, EventKind};

/// Frames handed to the dispatcher and not yet handled, at most; past it
/// the socket stops reading (ZeroMQ's high-water mark then holds the
/// workers back): a flooding worker cannot grow the dispatcher's mailbox.
pub(crate) const MAX_PENDING_FRAMES: usize = 65_536;

/// A frame to send.
pub(crate) struct Outbound {
    pub(crate) identity: Arc<[u8]>,
    /// The worker sent `[id, "", payload]`.
    pub(crate) empty_delimiter: bool,
    pub(crate) payload: Vec<u8>,
}

/// A decoded frame from a worker.
pub(crate) struct Inbound {
    pub(crate) identity: Arc<[u8]>,
    pub(crate) empty_delimiter: bool,
    pub(crate) msg: WorkerMsg,
}

/// Binds `endpoint`; returns the sender of outbound frames and the bound
/// address (`tcp://host:port`, with the real port when 0 was asked).
pub(crate) fn start(
    endpoint: &str,
    dispatcher: ActorRef<DispatcherMsg>,
    bus: EventBus,
    mut stop: watch::Receiver<bool>,
    pending: Arc<AtomicUsize>,
) -> Result<(mpsc::Sender<Outbound>, String), String> {
    // ZeroMQ spells "any port" `*`; accept the usual `:0` too.
    let endpoint = &match endpoint.strip_suffix(":0") {
        Some(host) => format!("{host}:*"),
        None => endpoint.to_string(),
    };
    let ctx = tmq::Context::new();
    let router = tmq::router(&ctx)
        .set_linger(0)
        .set_sndhwm(100_000)
        .set_rcvhwm(100_000)
        .bind(endpoint)
        .map_err(|e| format!("cannot bind the gateway to {endpoint}: {e}"))?;
    let bound = router.get_socket().get_last_endpoint().ok().and_then(|r| r.ok()).unwrap_or_else(|| endpoint.into());
    let (tx, mut rx) = mpsc::channel::<Outbound>(65_536);
    let (mut sink, mut stream) = router.split();
    tokio::spawn(async move {
        let _ctx = ctx;
        loop {
            let room = pending.load(Ordering::Relaxed) < MAX_PENDING_FRAMES;
            tokio::select! {
                // Full: look again in a moment (outbound frames still flow).
                _ = tokio::time::sleep(std::time::Duration::from_millis(1)), if !room => {}
                frame = stream.next(), if room => match frame {
                    Some(Ok(parts)) => {
                        // Counted before the hand-over: the dispatcher may handle it at once.
                        pending.fetch_add(1, Ordering::Relaxed);
                        if !inbound(parts, &dispatcher, &bus) {
                            pending.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "gateway socket read failed");
                    }
                    None => break,
                },
                out = rx.recv() => match out {
                    Some(first) => {
                        let mut ok = sink.feed(multipart(first)).await.is_ok();
                        let mut n = 0;
                        while ok && n < 1024 {
                            match rx.try_recv() {
                                Ok(more) => ok = sink.feed(multipart(more)).await.is_ok(),
                                Err(_) => break,
                            }
                            n += 1;
                        }
                        if !ok || sink.flush().await.is_err() {
                            tracing::warn!("gateway socket write failed");
                        }
                    }
                    None => break,
                },
                _ = stop.changed() => break,
            }
        }
    });
    Ok((tx, bound))
}

fn multipart(o: Outbound) -> Multipart {
    let mut parts = std::collections::VecDeque::with_capacity(3);
    parts.push_back(Message::from(&o.identity[..]));
    if o.empty_delimiter {
        parts.push_back(Message::new());
    }
    parts.push_back(Message::from(o.payload));
    Multipart(parts)
}

/// Decodes a frame and hands it to the dispatcher; true if it was handed.
fn inbound(parts: Multipart, dispatcher: &ActorRef<DispatcherMsg>, bus: &EventBus) -> bool {
    let mut parts = parts.0;
    let reject = |why: String| {
        bus.emit(None, None, EventKind::FrameRejected { reason: why });
    };
    let Some(identity) = parts.pop_front() else { return false };
    let identity: Arc<[u8]> = identity.to_vec().into();
    let (empty_delimiter, payload) = match (parts.pop_front(), parts.pop_front(), parts.is_empty()) {
        (Some(p), None, _) => (false, p),
        (Some(d), Some(p), true) if d.is_empty() => (true, p),
        _ => {
            reject(format!(
                "worker {}: frames must be [payload] or [\"\", payload]",
                String::from_utf8_lossy(&identity)
            ));
            return false;
        }
    };
    match protocol::decode(&payload) {
        Ok(msg) => dispatcher.cast(DispatcherMsg::Frame(Inbound { identity, empty_delimiter, msg })).is_ok(),
        Err(why) => {
            reject(format!("worker {}: {why}", String::from_utf8_lossy(&identity)));
            false
        }
    }
}
