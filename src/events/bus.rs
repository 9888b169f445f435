//! The event bus: the single point that orders events.
//!
//! It is the runtime's one deliberately shared structure (like an ETS table
//! in Erlang): a global order needs one serialization point, and a mutex held
//! for a few hundred nanoseconds is cheaper than an actor hop on every routed
//! message. It guarantees:
//! * sequence numbers start at 1 and strictly increase, with no gap;
//! * the ring holds the last `ring_capacity` events (older ones are dropped);
//! * [`EventBus::subscribe_since`] returns the ring tail after a sequence
//!   number and a live receiver in one atomic step: no gap, no duplicate;
//! * a subscriber more than `max_lag` events behind is told it lagged (the
//!   bus never blocks on a slow subscriber and never grows for one);
//! * in durable mode ([`EventBus::durable`]) an event is published (ring and
//!   subscribers) only after the flusher has committed it, in sequence order:
//!   no subscriber sees an event a crash can take back. At most
//!   [`MAX_PENDING`] wait for their commit; an emitter waits beyond that.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::broadcast;

use super::{Event, EventKind, now_ms};

/// Bounds of the bus.
#[derive(Debug, Clone, Copy)]
pub struct BusOptions {
    /// Events kept in memory for queries and `since` replays.
    pub ring_capacity: usize,
    /// Events a live subscriber may fall behind before it is told it lagged.
    pub max_lag: usize,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self { ring_capacity: 50_000, max_lag: 4_096 }
    }
}

/// A cloneable handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    tx: broadcast::Sender<Arc<Event>>,
    capacity: usize,
    /// Signals the flusher (events pending) and emitters (room again).
    changed: Condvar,
}

struct State {
    next_seq: u64,
    ring: VecDeque<Arc<Event>>,
    /// Durable mode: events numbered but not yet committed, in order.
    pending: Option<Vec<Arc<Event>>>,
    closed: bool,
}

/// Most events waiting for their commit; an emitter waits beyond it
/// (backpressure from the disk, never a silent drop).
pub const MAX_PENDING: usize = 262_144;

/// A live subscription: events from the ring tail first, then live ones.
pub struct Subscription {
    /// Events already in the ring after the requested sequence number.
    pub backlog: Vec<Arc<Event>>,
    /// Live events after the backlog.
    pub live: broadcast::Receiver<Arc<Event>>,
    /// False when events after the requested sequence number had already
    /// left the ring: the backlog then starts later than asked (a gap the
    /// caller must report; the durable store closes it).
    pub complete: bool,
}

impl EventBus {
    /// A bus with the given bounds.
    pub fn new(opts: BusOptions) -> Self {
        Self::build(opts, 1, None)
    }

    /// A bus whose events are published only after a flusher has committed
    /// them (see [`take_pending`](Self::take_pending)); numbering starts at
    /// `next_seq` (one past the last number ever used).
    pub fn durable(opts: BusOptions, next_seq: u64) -> Self {
        Self::build(opts, next_seq.max(1), Some(Vec::new()))
    }

    fn build(opts: BusOptions, next_seq: u64, pending: Option<Vec<Arc<Event>>>) -> Self {
        let (tx, _) = broadcast::channel(opts.max_lag.max(1));
        let ring = VecDeque::with_capacity(opts.ring_capacity.min(4096));
        let state = State { next_seq, ring, pending, closed: false };
        let inner =
            Inner { state: Mutex::new(state), tx, capacity: opts.ring_capacity.max(1), changed: Condvar::new() };
        Self { inner: Arc::new(inner) }
    }

    /// Durable mode, for the flusher: waits for pending events and takes them
    /// all, in sequence order; `None` once the bus is closed and drained.
    pub fn take_pending(&self) -> Option<Vec<Arc<Event>>> {
        let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let closed = st.closed;
            match st.pending.as_mut() {
                Some(p) if !p.is_empty() => {
                    let batch = std::mem::take(p);
                    self.inner.changed.notify_all();
                    return Some(batch);
                }
                Some(_) if !closed => st = self.inner.changed.wait(st).unwrap_or_else(|p| p.into_inner()),
                _ => return None,
            }
        }
    }

    /// Durable mode, for the flusher: publishes committed events (in order).
    pub fn publish(&self, batch: Vec<Arc<Event>>) {
        let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        for event in batch {
            self.publish_locked(&mut st, event);
        }
    }

    /// Durable mode: no more events; the flusher drains what is pending and stops.
    pub fn close(&self) {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        self.inner.changed.notify_all();
    }

    fn publish_locked(&self, st: &mut State, event: Arc<Event>) {
        if st.ring.len() == self.inner.capacity {
            st.ring.pop_front();
        }
        st.ring.push_back(event.clone());
        // Sent under the lock so that subscribe_since sees a consistent cut.
        let _ = self.inner.tx.send(event);
    }

    /// Records an event and publishes it; returns its sequence number.
    pub fn emit(&self, swarm: Option<&Arc<str>>, agent: Option<&Arc<str>>, kind: EventKind) -> u64 {
        self.emit_at(now_ms(), swarm, agent, kind)
    }

    /// [`emit`](Self::emit) with a timestamp the caller already read (one
    /// clock read shared by a hot path's records).
    pub fn emit_at(
        &self,
        timestamp_ms: u64,
        swarm: Option<&Arc<str>>,
        agent: Option<&Arc<str>>,
        kind: EventKind,
    ) -> u64 {
        let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        while st.pending.as_ref().is_some_and(|p| p.len() >= MAX_PENDING) && !st.closed {
            st = self.inner.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        let event = Arc::new(Event { seq, timestamp_ms, swarm: swarm.cloned(), agent: agent.cloned(), kind });
        let closed = st.closed;
        match st.pending.as_mut() {
            Some(p) if !closed => {
                p.push(event);
                if p.len() == 1 {
                    self.inner.changed.notify_all();
                }
            }
            _ => self.publish_locked(&mut st, event),
        }
        seq
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).next_seq
    }

    /// A live receiver of future events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// The ring's events with `seq > since`, then the live ones, without gap
    /// or duplicate between the two. `complete` tells whether the ring still
    /// held every event after `since`.
    pub fn subscribe_since(&self, since: u64) -> Subscription {
        let st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let backlog = tail_after(&st.ring, since);
        let live = self.inner.tx.subscribe();
        let complete = st.ring.front().is_none_or(|e| e.seq <= since.saturating_add(1)) || since + 1 >= st.next_seq;
        Subscription { backlog, live, complete }
    }

    /// The last `limit` events (oldest first) that match `keep`.
    pub fn recent(&self, limit: usize, keep: impl Fn(&Event) -> bool) -> Vec<Arc<Event>> {
        let st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Arc<Event>> = st.ring.iter().rev().filter(|e| keep(e)).take(limit).cloned().collect();
        out.reverse();
        out
    }

    /// Sequence number of the oldest event still in the ring, if any.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).ring.front().map(|e| e.seq)
    }
}

fn tail_after(ring: &VecDeque<Arc<Event>>, since: u64) -> Vec<Arc<Event>> {
    // Sequence numbers in the ring are contiguous, so the start is computed.
    let Some(first) = ring.front().map(|e| e.seq) else {
        return Vec::new();
    };
    let skip = since.saturating_sub(first).saturating_add(1).min(ring.len() as u64) as usize;
    let skip = if since < first { 0 } else { skip };
    ring.iter().skip(skip).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus(ring: usize, lag: usize) -> EventBus {
        EventBus::new(BusOptions { ring_capacity: ring, max_lag: lag })
    }

    fn emit(b: &EventBus) -> u64 {
        b.emit(None, None, EventKind::AgentRemoved)
    }

    #[test]
    fn sequence_numbers_start_at_one_and_have_no_gaps() {
        let b = bus(10, 10);
        let seqs: Vec<u64> = (0..5).map(|_| emit(&b)).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn ring_keeps_only_the_newest_events() {
        let b = bus(3, 10);
        for _ in 0..5 {
            emit(&b);
        }
        let seqs: Vec<u64> = b.recent(10, |_| true).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(b.oldest_seq(), Some(3));
        assert!(!b.subscribe_since(0).complete, "events 1 and 2 are gone");
        assert!(b.subscribe_since(2).complete);
    }

    #[tokio::test]
    async fn subscribe_since_has_no_gap_and_no_duplicate() {
        let b = bus(100, 100);
        for _ in 0..10 {
            emit(&b);
        }
        let mut sub = b.subscribe_since(7);
        emit(&b);
        let mut seen: Vec<u64> = sub.backlog.iter().map(|e| e.seq).collect();
        seen.push(sub.live.recv().await.unwrap().seq);
        assert_eq!(seen, [8, 9, 10, 11]);
        assert!(b.subscribe_since(0).backlog.len() == 11);
        assert!(b.subscribe_since(0).complete && b.subscribe_since(7).complete);
        assert!(b.subscribe_since(11).backlog.is_empty());
        assert!(b.subscribe_since(500).backlog.is_empty());
    }

    #[tokio::test]
    async fn slow_subscriber_is_told_it_lagged_instead_of_growing() {
        let b = bus(100, 4);
        let mut rx = b.subscribe();
        for _ in 0..10 {
            emit(&b);
        }
        assert!(matches!(rx.recv().await, Err(broadcast::error::RecvError::Lagged(6))));
        assert_eq!(rx.recv().await.unwrap().seq, 7);
    }
}
