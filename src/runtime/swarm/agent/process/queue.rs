//! The bounded queue between a child's I/O tasks and its owner.
//!
//! The readers of stdout and stderr and the exit waiter put their events in
//! one bounded channel and *wait* for room (`send().await`): a child that
//! writes faster than its owner handles its lines fills the channel, then
//! its pipe, and then its own writes block. It is slowed, never buffered.
//!
//! The owner is woken once per burst (like a mailbox's `Waker`), not once
//! per event: a sender that queues an event while no wake-up is pending
//! calls `wake`; the owner, woken, takes at most a batch with
//! [`EventQueue::take`] and is woken again if more may wait. So the owner
//! (an actor) handles other messages between batches.
//!
//! Guarantees: events reach the owner in the order they were queued; at most
//! [`CHILD_EVENT_QUEUE`] wait; no queued event is left without a wake-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use super::ChildEvent;

/// Most events of a child waiting for its owner.
pub(crate) const CHILD_EVENT_QUEUE: usize = 64;

/// Wakes the owner (typically: casts it a wake-up message).
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

struct Signal {
    /// A wake-up was sent and the owner has not taken events since.
    pending: AtomicBool,
    wake: Wake,
}

impl Signal {
    fn arm(&self) {
        if !self.pending.swap(true, Ordering::AcqRel) {
            (self.wake)();
        }
    }
}

/// The senders' side (cloned into each I/O task).
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: mpsc::Sender<ChildEvent>,
    signal: Arc<Signal>,
}

impl EventSender {
    /// Waits for room, queues `e` and wakes the owner if no wake-up is
    /// pending. False once the owner is gone.
    pub(crate) async fn send(&self, e: ChildEvent) -> bool {
        if self.tx.send(e).await.is_err() {
            return false;
        }
        self.signal.arm();
        true
    }
}

/// The owner's side.
pub(crate) struct EventQueue {
    rx: mpsc::Receiver<ChildEvent>,
    signal: Arc<Signal>,
}

/// A new queue whose owner is woken by `wake`.
pub(crate) fn channel(wake: Wake) -> (EventSender, EventQueue) {
    let (tx, rx) = mpsc::channel(CHILD_EVENT_QUEUE);
    let signal = Arc::new(Signal { pending: AtomicBool::new(false), wake });
    (EventSender { tx, signal: signal.clone() }, EventQueue { rx, signal })
}

impl EventQueue {
    /// Takes up to `max` waiting events, in order. Call it on each wake-up:
    /// a later event wakes the owner again, and so does this call when it
    /// took `max` (more may wait).
    pub(crate) fn take(&mut self, max: usize) -> Vec<ChildEvent> {
        // Cleared before reading: an event queued from here on wakes again.
        // (A swap, to acquire the sends that set it.)
        self.signal.pending.swap(false, Ordering::AcqRel);
        let mut out = Vec::new();
        while out.len() < max {
            match self.rx.try_recv() {
                Ok(e) => out.push(e),
                Err(_) => return out,
            }
        }
        self.signal.arm();
        out
    }

    /// Waits for the next event; `None` once every sender is gone. (For an
    /// owner that only drains, e.g. while stopping the child.)
    pub(crate) async fn recv(&mut self) -> Option<ChildEvent> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn counting() -> (Arc<AtomicUsize>, Wake) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        let wake: Wake = Arc::new(move || {
            m.fetch_add(1, Ordering::SeqCst);
        });
        (n, wake)
    }

    #[tokio::test]
    async fn one_wake_per_burst_and_again_after_a_full_batch() {
        let (wakes, wake) = counting();
        let (tx, mut q) = channel(wake);
        for i in 0..5 {
            assert!(tx.send(ChildEvent::StdoutTooLong(i)).await);
        }
        assert_eq!(wakes.load(Ordering::SeqCst), 1, "one wake-up for the burst");
        let got = q.take(3);
        assert!(matches!(got[..], [ChildEvent::StdoutTooLong(0), ChildEvent::StdoutTooLong(1), _]));
        assert_eq!(wakes.load(Ordering::SeqCst), 2, "a full batch wakes again: more may wait");
        assert_eq!(q.take(3).len(), 2);
        assert!(q.take(3).is_empty());
        assert!(tx.send(ChildEvent::StdoutTooLong(9)).await);
        assert_eq!(wakes.load(Ordering::SeqCst), 3, "the next event after a drain wakes");
    }

    #[tokio::test]
    async fn a_sender_waits_for_room_and_fails_once_the_owner_is_gone() {
        let (_, wake) = counting();
        let (tx, mut q) = channel(wake);
        for i in 0..CHILD_EVENT_QUEUE {
            assert!(tx.send(ChildEvent::StdoutTooLong(i)).await);
        }
        let blocked = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(ChildEvent::StdoutTooLong(usize::MAX)).await }
        });
        tokio::task::yield_now().await;
        assert!(!blocked.is_finished(), "the queue is full: the sender waits");
        assert_eq!(q.take(1).len(), 1);
        assert!(blocked.await.unwrap(), "room again: the event is queued");
        drop(q);
        assert!(!tx.send(ChildEvent::StdoutTooLong(0)).await);
    }
}
