//! The ROUTER socket: one task owns it. Inbound frames are split into
//! identity, framing (`[id, payload]` or `[id, "", payload]`) and payload,
//! decoded, and handed to the [`FrameSink`] the socket is given; a frame
//! that does not decode is a `frame_rejected` event, never a crash.
//! Outbound frames are written in the framing the worker used, in batches
//! (feed, then one flush).
//!
//! The socket knows nothing of who reads it: its owner (the dispatcher)
//! passes the sink and keeps the [`Socket`] handle. Guarantees:
//! * at most [`MAX_PENDING_FRAMES`] frames are handed over and not yet
//!   [`handled`](Socket::handled); past it the socket stops reading;
//! * the sink is told how the task ended ([`SocketEnd`]: the stream ended,
//!   an I/O error, a panic, its owner gone) exactly once, and only after the
//!   socket is closed, so a new socket can bind the same port at once;
//! * dropping the handle aborts the task; [`Socket::close`] aborts it and
//!   waits (bounded) until the socket is closed.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use tmq::{AsZmqSocket, Message, Multipart};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::protocol::{self, WorkerMsg};
use crate::events::{EventBus, EventKind};

/// Frames handed to the sink and not yet handled, at most; past it the
/// socket stops reading (ZeroMQ's high-water mark then holds the workers
/// back): a flooding worker cannot grow the dispatcher's mailbox.
pub(crate) const MAX_PENDING_FRAMES: usize = 65_536;

/// Outbound frames waiting for the socket, at most (senders wait beyond).
const MAX_OUTBOUND: usize = 65_536;

/// How long [`Socket::close`] waits for the socket to close.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

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

/// Where the socket task hands what it reads.
pub(crate) trait FrameSink: Send + Sync + 'static {
    /// A decoded frame; `false` if the reader is gone (the task then ends
    /// [`SocketEnd::Detached`]).
    fn frame(&self, f: Inbound) -> bool;
    /// The task ended (told once, after the socket is closed).
    fn ended(&self, why: SocketEnd);
}

/// How the socket task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SocketEnd {
    /// The ROUTER's stream ended.
    StreamEnded,
    /// Reading or writing the socket failed.
    Io(String),
    /// The task panicked (the test hook [`Socket::kill`] makes it panic).
    Panicked(String),
    /// Its owner is gone: the handle was dropped or the sink refused a frame.
    Detached,
}

impl fmt::Display for SocketEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StreamEnded => f.write_str("the socket's stream ended"),
            Self::Io(e) => write!(f, "socket I/O failed: {e}"),
            Self::Panicked(p) => write!(f, "the socket task panicked: {p}"),
            Self::Detached => f.write_str("its owner is gone"),
        }
    }
}

/// The handle of a bound ROUTER socket and the task that owns it.
pub(crate) struct Socket {
    out: mpsc::Sender<Outbound>,
    endpoint: String,
    pending: Arc<AtomicUsize>,
    kill: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Socket {
    /// Binds `endpoint` and starts the task that owns the socket, handing
    /// frames to `sink`. [`Socket::endpoint`] is the bound address
    /// (`tcp://host:port`, with the real port when 0 was asked).
    pub(crate) fn bind(endpoint: &str, sink: impl FrameSink, bus: EventBus) -> Result<Self, String> {
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
        let bound =
            router.get_socket().get_last_endpoint().ok().and_then(|r| r.ok()).unwrap_or_else(|| endpoint.into());
        let (out, rx) = mpsc::channel::<Outbound>(MAX_OUTBOUND);
        let (kill, killed) = oneshot::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let io = Io { router, rx, killed, pending: pending.clone(), bus };
        let task = tokio::spawn(async move {
            // The socket (and its context, whose last user it is) is closed
            // at the end of this statement, before the sink is told.
            let why = std::panic::AssertUnwindSafe(io.run(&sink)).catch_unwind().await;
            let why = why.unwrap_or_else(|p| SocketEnd::Panicked(panic_text(p.as_ref())));
            sink.ended(why);
        });
        Ok(Self { out, endpoint: bound, pending, kill: Some(kill), task })
    }

    /// The bound address.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Queues a frame for the socket (waits while the queue is full; a
    /// frame for a socket that has ended is dropped).
    pub(crate) async fn send(&self, o: Outbound) {
        let _ = self.out.send(o).await;
    }

    /// The reader has handled one frame it was handed.
    pub(crate) fn handled(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }

    /// Test hook: the task panics, as a bug in it would; the sink is told
    /// [`SocketEnd::Panicked`].
    pub(crate) fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
    }

    /// Aborts the task and waits (at most [`CLOSE_WAIT`]) until it has
    /// ended and the socket is closed.
    pub(crate) async fn close(&mut self) {
        self.task.abort();
        let _ = tokio::time::timeout(CLOSE_WAIT, &mut self.task).await;
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// What the socket task owns.
struct Io {
    router: tmq::router::Router,
    rx: mpsc::Receiver<Outbound>,
    killed: oneshot::Receiver<()>,
    pending: Arc<AtomicUsize>,
    bus: EventBus,
}

impl Io {
    async fn run(self, sink: &impl FrameSink) -> SocketEnd {
        let Io { router, mut rx, mut killed, pending, bus } = self;
        let (mut out, mut stream) = router.split();
        loop {
            let room = pending.load(Ordering::Relaxed) < MAX_PENDING_FRAMES;
            tokio::select! {
                // Full: look again in a moment (outbound frames still flow).
                _ = tokio::time::sleep(Duration::from_millis(1)), if !room => {}
                frame = stream.next(), if room => match frame {
                    Some(Ok(parts)) => {
                        let Some(f) = inbound(parts, &bus) else { continue };
                        // Counted before the hand-over: the reader may handle it at once.
                        pending.fetch_add(1, Ordering::Relaxed);
                        if !sink.frame(f) {
                            return SocketEnd::Detached;
                        }
                    }
                    Some(Err(e)) => return SocketEnd::Io(format!("read: {e}")),
                    None => return SocketEnd::StreamEnded,
                },
                o = rx.recv() => match o {
                    Some(first) => {
                        let mut r = out.feed(multipart(first)).await;
                        let mut n = 0;
                        while r.is_ok() && n < 1024 {
                            match rx.try_recv() {
                                Ok(more) => r = out.feed(multipart(more)).await,
                                Err(_) => break,
                            }
                            n += 1;
                        }
                        if let Err(e) = r.and(out.flush().await) {
                            return SocketEnd::Io(format!("write: {e}"));
                        }
                    }
                    None => return SocketEnd::Detached,
                },
                k = &mut killed => match k {
                    Ok(()) => panic!("killed by the test hook"),
                    Err(_) => return SocketEnd::Detached,
                },
            }
        }
    }
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

/// Decodes a frame (`None`, with a `frame_rejected` event, if it does not).
fn inbound(parts: Multipart, bus: &EventBus) -> Option<Inbound> {
    let mut parts = parts.0;
    let reject = |why: String| {
        bus.emit(None, None, EventKind::FrameRejected { reason: why });
    };
    let identity = parts.pop_front()?;
    let identity: Arc<[u8]> = identity.to_vec().into();
    let (empty_delimiter, payload) = match (parts.pop_front(), parts.pop_front(), parts.is_empty()) {
        (Some(p), None, _) => (false, p),
        (Some(d), Some(p), true) if d.is_empty() => (true, p),
        _ => {
            reject(format!(
                "worker {}: frames must be [payload] or [\"\", payload]",
                String::from_utf8_lossy(&identity)
            ));
            return None;
        }
    };
    match protocol::decode(&payload) {
        Ok(msg) => Some(Inbound { identity, empty_delimiter, msg }),
        Err(why) => {
            reject(format!("worker {}: {why}", String::from_utf8_lossy(&identity)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::events::BusOptions;

    use crate::proptest_cases::cases;

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            Just(rmp_serde::to_vec_named(&serde_json::json!({"type": "heartbeat", "worker_id": "w"})).unwrap()),
            Just(Vec::new()),
        ]
    }

    proptest! {
        #![proptest_config(cases())]

        /// Any multipart a ROUTER can read (an identity, then any parts):
        /// handed over as a message, or one `frame_rejected` event; never both,
        /// never neither, never a panic.
        #[test]
        fn every_frame_is_a_message_or_one_rejection_event(
            identity in prop::collection::vec(any::<u8>(), 1..8),
            parts in prop::collection::vec(payload(), 0..4),
        ) {
            let bus = EventBus::new(BusOptions::default());
            let mut all = std::collections::VecDeque::from([Message::from(&identity[..])]);
            all.extend(parts.iter().map(|p| Message::from(&p[..])));
            let got = inbound(Multipart(all), &bus);
            let rejected = bus.recent(10, |e| e.event_type() == "frame_rejected").len();
            prop_assert_eq!(rejected, usize::from(got.is_none()), "{:?}", parts);
            if let Some(f) = got {
                prop_assert_eq!(&*f.identity, &identity[..]);
                prop_assert_eq!(f.empty_delimiter, parts.len() == 2);
            }
        }
    }
}
