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
//! * [`EventBus::subscribe_filtered`] hands a subscriber only the events
//!   its filter takes, in its own queue of at most `max_lag` events (see
//!   [`fanout`](super::fanout)): an event wakes only the subscribers that
//!   follow it, where [`EventBus::subscribe`] (a broadcast) wakes them all;
//! * in durable mode ([`EventBus::durable`]) an event is published (ring and
//!   subscribers) only after the flusher has committed it, in sequence order:
//!   no subscriber sees an event a crash can take back;
//! * no emitter ever blocks a thread: [`EventBus::emit`] is sync and returns
//!   at once. Backpressure from the disk is async: [`EventBus::ready`]
//!   returns once fewer than [`MAX_PENDING`] events wait for their commit
//!   (queued or being committed), woken by the flusher after each commit.
//!
//! What bounds the pending events: every producer that can emit at a high
//! rate awaits [`EventBus::ready`] before each step of its work — an agent
//! before each batch of child events and of mailbox items (at most 64), the
//! router and objects before each message or batch, the dispatcher before
//! each worker frame, a swarm before each task or message it is given. A
//! step emits a bounded number of events, and each of those actors runs one
//! step at a time, so pending events stay below [`MAX_PENDING`] plus a few
//! steps' events per actor. Emitters outside those loops (lifecycle events,
//! API operations) emit a handful of events per request and do not wait.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::{Notify, broadcast};

use super::fanout::{Fanout, FilteredReceiver, Sender};
use super::filter::EventFilter;
use super::{Event, EventKind, now_ms};

/// Bounds of the bus.
#[derive(Debug, Clone, Copy)]
pub struct BusOptions {
    /// Events kept in memory for queries and `since` replays.
    pub ring_capacity: usize,
    /// Events a live subscriber may fall behind before it is told it lagged
    /// (a filtered one: events it follows, queued and not yet taken).
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
    /// The filtered subscribers (published to under the state lock).
    fanout: Fanout,
    capacity: usize,
    /// Wakes the flusher (a std thread): events pending, or the bus closed.
    changed: Condvar,
    /// Wakes producers waiting in [`EventBus::ready`]: a batch was
    /// committed, or the bus closed.
    room: Notify,
    /// Durable mode: [`EventBus::ready`] waits while this many events wait
    /// for their commit.
    max_pending: usize,
}

struct State {
    next_seq: u64,
    ring: VecDeque<Arc<Event>>,
    /// Durable mode: events numbered but not yet committed, in order.
    pending: Option<Vec<Arc<Event>>>,
    /// Durable mode: events the flusher took and is committing.
    committing: usize,
    /// The highest sequence number published (in durable mode: committed,
    /// stored or not), so waiters need not ask the store.
    published: u64,
    closed: bool,
    /// Durable mode: the flusher has work though no event may be pending.
    nudged: bool,
}

impl State {
    /// Whether producers must wait for the disk.
    fn over(&self, max_pending: usize) -> bool {
        !self.closed && self.pending.as_ref().is_some_and(|p| p.len() + self.committing >= max_pending)
    }
}

/// Most events waiting for their commit (queued or being committed) before
/// [`EventBus::ready`] waits for the disk (backpressure, never a silent drop).
pub const MAX_PENDING: usize = 262_144;

/// A live subscription to every event: the ring tail first, then live ones.
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

/// A live subscription to the events a filter takes: the ring tail first
/// (unfiltered, like [`Subscription`]'s), then the live events it matches.
pub struct FilteredSubscription {
    /// Events already in the ring after the requested sequence number, all
    /// of them (the caller filters: the first one tells where the ring
    /// starts, which a replay from the store needs).
    pub backlog: Vec<Arc<Event>>,
    /// Live events after the backlog that the filter matches.
    pub live: FilteredReceiver,
    /// As [`Subscription::complete`].
    pub complete: bool,
}

impl EventBus {
    /// A bus with the given bounds.
    pub fn new(opts: BusOptions) -> Self {
        Self::build(opts, 1, None, MAX_PENDING)
    }

    /// A bus whose events are published only after a flusher has committed
    /// them (see [`take_now`](Self::take_now)); numbering starts at
    /// `next_seq` (one past the last number ever used).
    pub fn durable(opts: BusOptions, next_seq: u64) -> Self {
        Self::build(opts, next_seq.max(1), Some(Vec::new()), MAX_PENDING)
    }

    fn build(opts: BusOptions, next_seq: u64, pending: Option<Vec<Arc<Event>>>, max_pending: usize) -> Self {
        let (tx, _) = broadcast::channel(opts.max_lag.max(1));
        let ring = VecDeque::with_capacity(opts.ring_capacity.min(4096));
        let state =
            State { next_seq, ring, pending, committing: 0, published: next_seq - 1, closed: false, nudged: false };
        let inner = Inner {
            state: Mutex::new(state),
            tx,
            fanout: Fanout::new(opts.max_lag),
            capacity: opts.ring_capacity.max(1),
            changed: Condvar::new(),
            room: Notify::new(),
            max_pending: max_pending.max(1),
        };
        Self { inner: Arc::new(inner) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns once fewer than [`MAX_PENDING`] events wait for their commit
    /// (at once for a bus that is not durable, or closed). Producers that
    /// can emit at a high rate await it before each step; it waits without
    /// holding a thread, so the runtime's other tasks go on meanwhile.
    pub async fn ready(&self) {
        let max = self.inner.max_pending;
        while self.lock().over(max) {
            let notified = self.inner.room.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check: a commit in between is not missed.
            notified.as_mut().enable();
            if !self.lock().over(max) {
                return;
            }
            notified.await;
        }
    }

    /// Durable mode, for the flusher: waits until events are pending or
    /// [`nudge`](Self::nudge) was called since the last return; `false`
    /// once the bus is closed with nothing pending (and no nudge).
    pub fn wait_work(&self) -> bool {
        let mut st = self.lock();
        loop {
            let has = st.pending.as_ref().is_some_and(|p| !p.is_empty());
            if has || st.nudged {
                st.nudged = false;
                return true;
            }
            if st.closed || st.pending.is_none() {
                return false;
            }
            st = self.inner.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Durable mode, for the flusher: takes every pending event, in
    /// sequence order (none may be pending). They count as pending until
    /// [`publish`](Self::publish).
    pub fn take_now(&self) -> Vec<Arc<Event>> {
        let mut st = self.lock();
        let batch = st.pending.as_mut().map(std::mem::take).unwrap_or_default();
        st.committing += batch.len();
        batch
    }

    /// Durable mode: wakes the flusher though no event is pending (the task
    /// journal has entries for it). Only signals: safe under other locks.
    pub fn nudge(&self) {
        self.lock().nudged = true;
        self.inner.changed.notify_all();
    }

    /// Durable mode, for the flusher: publishes committed events (in order)
    /// and wakes the producers waiting for room.
    pub fn publish(&self, batch: Vec<Arc<Event>>) {
        {
            let mut st = self.lock();
            st.committing = st.committing.saturating_sub(batch.len());
            let fan = self.inner.fanout.sender();
            for event in batch {
                self.publish_locked(&mut st, fan.as_ref(), event);
            }
        }
        self.inner.room.notify_waiters();
    }

    /// Durable mode: no more events; the flusher drains what is pending and
    /// stops, and nobody waits in [`ready`](Self::ready) any more.
    pub fn close(&self) {
        self.lock().closed = true;
        self.inner.changed.notify_all();
        self.inner.room.notify_waiters();
    }

    /// `fan`: the filtered subscribers' sender, taken under the same lock.
    fn publish_locked(&self, st: &mut State, fan: Option<&Sender<'_>>, event: Arc<Event>) {
        if st.ring.len() == self.inner.capacity {
            st.ring.pop_front();
        }
        st.published = event.seq;
        st.ring.push_back(event.clone());
        // Sent under the lock so that subscribe_since sees a consistent cut.
        if let Some(fan) = fan {
            fan.send(&event);
        }
        let _ = self.inner.tx.send(event);
    }

    /// Records an event and publishes it (in durable mode: queues it for
    /// the flusher); returns its sequence number. Never waits: see
    /// [`ready`](Self::ready) for backpressure.
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
        let mut st = self.lock();
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
            _ => {
                let fan = self.inner.fanout.sender();
                self.publish_locked(&mut st, fan.as_ref(), event);
            }
        }
        seq
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.lock().next_seq
    }

    /// The highest sequence number published so far: in durable mode, every
    /// event up to it is committed (a streamed token, never stored, counts
    /// as committed once the flusher has passed it).
    pub fn published_seq(&self) -> u64 {
        self.lock().published
    }

    /// Returns once every event numbered up to `seq` is published (in durable
    /// mode: committed), or the bus is closed. Woken by the flusher after
    /// each commit; it holds no thread while it waits.
    pub async fn published_through(&self, seq: u64) {
        loop {
            let notified = self.inner.room.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check: a publish in between is not missed.
            notified.as_mut().enable();
            {
                let st = self.lock();
                if st.published >= seq || st.closed {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Live subscribers now (broadcast and filtered), and the most events
    /// any of them has yet to read (the slowest one's lag; at most the
    /// bound of `max_lag`).
    pub fn subscriber_lag(&self) -> (usize, usize) {
        let (filtered, queued) = self.inner.fanout.stats();
        (self.inner.tx.receiver_count() + filtered, self.inner.tx.len().max(queued))
    }

    /// A live receiver of every future event (woken by each one: a
    /// subscriber that wants only some should use
    /// [`subscribe_filtered`](Self::subscribe_filtered)).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// The ring's events with `seq > since`, then the live ones, without gap
    /// or duplicate between the two. `complete` tells whether the ring still
    /// held every event after `since`.
    pub fn subscribe_since(&self, since: u64) -> Subscription {
        let st = self.lock();
        let (backlog, complete) = cut(&st, since);
        let live = self.inner.tx.subscribe();
        Subscription { backlog, live, complete }
    }

    /// [`subscribe_since`](Self::subscribe_since) for a subscriber that
    /// follows only what `filter` matches: the live receiver is queued (and
    /// woken) only for those events, and is told it lagged (with the first
    /// sequence number it missed) when more than `max_lag` of them wait.
    pub fn subscribe_filtered(&self, since: u64, filter: EventFilter) -> FilteredSubscription {
        let st = self.lock();
        let (backlog, complete) = cut(&st, since);
        // Registered under the lock: the next event published is its first.
        let live = self.inner.fanout.subscribe(filter);
        FilteredSubscription { backlog, live, complete }
    }

    /// The last `limit` events (oldest first) that match `keep`.
    pub fn recent(&self, limit: usize, keep: impl Fn(&Event) -> bool) -> Vec<Arc<Event>> {
        let st = self.lock();
        let mut out: Vec<Arc<Event>> = st.ring.iter().rev().filter(|e| keep(e)).take(limit).cloned().collect();
        out.reverse();
        out
    }

    /// Sequence number of the oldest event still in the ring, if any.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.lock().ring.front().map(|e| e.seq)
    }
}

/// The ring's events after `since`, and whether the ring still holds every
/// event after it (taken under the lock, with the live receiver).
fn cut(st: &State, since: u64) -> (Vec<Arc<Event>>, bool) {
    let complete =
        st.ring.front().is_none_or(|e| e.seq <= since.saturating_add(1)) || since.saturating_add(1) >= st.next_seq;
    (tail_after(&st.ring, since), complete)
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

    fn durable(max_pending: usize) -> EventBus {
        EventBus::build(BusOptions { ring_capacity: 100, max_lag: 100 }, 1, Some(Vec::new()), max_pending)
    }

    /// A flusher thread that commits one batch each time it is told to.
    fn flusher(b: &EventBus) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let b = b.clone();
        let t = std::thread::spawn(move || {
            while b.wait_work() {
                let batch = b.take_now();
                if gate.recv().is_err() {
                    return;
                }
                b.publish(batch);
            }
        });
        (go, t)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_producer_over_the_bound_waits_without_holding_the_thread_and_resumes_after_the_commit() {
        let b = durable(4);
        // The sync emit never waits, even over the bound.
        let seqs: Vec<u64> = (0..6).map(|_| emit(&b)).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
        // Started now, the flusher takes all six in one batch.
        let (commit, flusher) = flusher(&b);
        let producer = tokio::spawn({
            let b = b.clone();
            async move {
                b.ready().await;
                emit(&b)
            }
        });
        // The one thread of this runtime is free: other tasks run and finish
        // while the producer waits (taken events count until committed).
        let mut rx = b.subscribe();
        let other = tokio::spawn(async { (0..1000u64).sum::<u64>() });
        assert_eq!(other.await.unwrap(), 499_500);
        tokio::task::yield_now().await;
        assert!(!producer.is_finished(), "six events wait for their commit: over the bound of four");
        commit.send(()).unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(first.seq, 1, "published only after the commit, in order");
        let seq = tokio::time::timeout(std::time::Duration::from_secs(10), producer).await.unwrap().unwrap();
        assert_eq!(seq, 7);
        b.close();
        drop(commit);
        flusher.join().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn published_through_waits_for_the_commit_of_the_last_event_even_a_token() {
        let b = durable(100);
        emit(&b);
        let token = b.emit(
            None,
            None,
            EventKind::AgentOutput { output: crate::events::OutputKind::Token, content: "t".into(), task_id: None },
        );
        assert_eq!((b.published_seq(), token), (0, 2), "nothing is published before its commit");
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.published_through(token).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "two events wait for their commit");
        let (commit, flusher) = flusher(&b);
        commit.send(()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await.unwrap().unwrap();
        assert_eq!(b.published_seq(), 2, "the token, never stored, counts as committed once passed");
        // Already published: at once; a bus that is not durable: at once.
        b.published_through(1).await;
        let plain = bus(10, 10);
        let seq = emit(&plain);
        plain.published_through(seq).await;
        b.close();
        drop(commit);
        flusher.join().unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn closing_the_bus_releases_waiting_producers() {
        let b = durable(1);
        emit(&b);
        let producer = tokio::spawn({
            let b = b.clone();
            async move { b.ready().await }
        });
        tokio::task::yield_now().await;
        assert!(!producer.is_finished());
        b.close();
        tokio::time::timeout(std::time::Duration::from_secs(10), producer).await.unwrap().unwrap();
        // A bus that is not durable never waits.
        tokio::time::timeout(std::time::Duration::from_secs(10), bus(10, 10).ready()).await.unwrap();
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

    fn sw(name: &str) -> Arc<str> {
        name.into()
    }

    fn added() -> EventKind {
        EventKind::AgentAdded { backend: "mock", group: None }
    }

    fn log_entry() -> EventKind {
        EventKind::Log { level: crate::events::Level::Info, message: "x".into() }
    }

    fn following(event_type: &'static str, swarm: &str) -> EventFilter {
        EventFilter { event_type: Some(event_type), swarm: Some(swarm.into()), ..Default::default() }
    }

    /// Counts the wake-ups of a task.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_filtered_subscriber_is_neither_sent_nor_woken_for_events_it_does_not_follow() {
        let b = bus(100, 4);
        let (soak, other) = (sw("soak"), sw("other"));
        let mut sub = b.subscribe_filtered(0, following("agent_added", "soak")).live;
        // A task waiting in recv, polled once: registered for a wake-up.
        let wakes = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut buf = Vec::new();
        let seq;
        {
            let mut recv = std::pin::pin!(sub.recv_many(&mut buf, 16));
            assert!(recv.as_mut().poll(&mut cx).is_pending());
            // Ten thousand events it does not follow (far over its bound of 4):
            // the wrong type, the wrong swarm, no swarm.
            for i in 0..10_000 {
                match i % 3 {
                    0 => b.emit(Some(&soak), None, log_entry()),
                    1 => b.emit(Some(&other), None, added()),
                    _ => b.emit(None, None, added()),
                };
            }
            assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 0, "never woken");
            assert!(recv.as_mut().poll(&mut cx).is_pending(), "nothing queued, no lag");
            // One it follows wakes it once, and is the one it gets.
            seq = b.emit(Some(&soak), None, added());
            assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
            assert_eq!(recv.as_mut().poll(&mut cx), std::task::Poll::Ready(Ok(1)));
        }
        assert_eq!(buf.iter().map(|e| e.seq).collect::<Vec<_>>(), [seq]);
        assert_eq!(sub.queued(), 0);
        assert_eq!(sub.try_recv(), Ok(None));
    }

    #[tokio::test]
    async fn a_filtered_subscriber_with_a_full_queue_is_told_the_first_seq_it_missed_and_resumes_from_the_ring() {
        let b = bus(1_000, 4);
        let s = sw("s");
        let mut sub = b.subscribe_filtered(0, following("agent_added", "s")).live;
        // Events it does not follow never count toward its bound.
        for _ in 0..100 {
            b.emit(Some(&s), None, log_entry());
        }
        let mut mine = Vec::new();
        for _ in 0..3 {
            mine.push(b.emit(Some(&s), None, added()));
            b.emit(Some(&s), None, log_entry());
        }
        assert_eq!(sub.recv().await.unwrap().unwrap().seq, mine[0], "taken: no longer queued");
        // Queued: mine[1], mine[2]; two more fill the bound of 4, the next overflows.
        for _ in 0..10 {
            mine.push(b.emit(Some(&s), None, added()));
        }
        assert_eq!(sub.queued(), 4, "bounded: the publisher never waits, never grows it");
        let lagged = sub.recv().await.unwrap_err();
        assert_eq!(lagged.missed_from, mine[1], "the first one it did not take");
        assert_eq!(sub.queued(), 0, "what it had queued is dropped with the rest");
        // Told once; then it gets what is published after, like a broadcast.
        let after = b.emit(Some(&s), None, added());
        assert_eq!(sub.recv().await.unwrap().unwrap().seq, after);
        // A resume from missed_from - 1 (what /ws/events tells its client to
        // do) misses nothing it follows: the ring holds them.
        let again = b.subscribe_filtered(lagged.missed_from - 1, following("agent_added", "s"));
        assert!(again.complete);
        let f = following("agent_added", "s");
        let replayed: Vec<u64> = again.backlog.iter().filter(|e| f.matches(e)).map(|e| e.seq).collect();
        let mut want = mine[1..].to_vec();
        want.push(after);
        assert_eq!(replayed, want);
    }

    #[tokio::test]
    async fn filtered_subscribers_are_counted_until_dropped_and_told_when_the_bus_is_gone() {
        let b = bus(100, 8);
        let broadcast = b.subscribe();
        let subs: Vec<_> = (0..5)
            .map(|i| {
                let f = EventFilter { agent: Some(format!("a{i}")), ..Default::default() };
                b.subscribe_filtered(0, f).live
            })
            .collect();
        let (a0, s) = (sw("a0"), sw("s"));
        b.emit(Some(&s), Some(&a0), log_entry());
        b.emit(Some(&s), Some(&a0), log_entry());
        assert_eq!(b.subscriber_lag(), (6, 2), "one broadcast and five filtered; two queued for a0");
        drop(subs);
        drop(broadcast);
        assert_eq!(b.subscriber_lag(), (0, 0), "a dropped subscriber is removed");
        let mut last = b.subscribe_filtered(0, EventFilter::default()).live;
        let seq = emit(&b);
        drop(b);
        assert_eq!(last.recv().await.unwrap().unwrap().seq, seq, "what was queued is still delivered");
        assert_eq!(last.recv().await, Ok(None), "then the end");
    }

    mod props {
        use proptest::prelude::*;

        use super::*;
        use crate::events::{Category, Level};
        use crate::proptest_cases::cases;

        fn name() -> impl Strategy<Value = Option<String>> {
            prop::option::of(prop::sample::select(vec!["a", "b", "c"]).prop_map(String::from))
        }

        fn filter() -> impl Strategy<Value = EventFilter> {
            let ty = prop::option::of(prop::sample::select(vec!["agent_added", "agent_removed", "log_entry"]));
            let level = prop::option::of(prop::sample::select(Level::ALL.to_vec()));
            let category = prop::option::of(prop::sample::select(Category::ALL.to_vec()));
            let since = prop::option::of(0u64..40);
            (name(), name(), level, category, ty, since).prop_map(
                |(swarm, agent, level, category, event_type, since)| EventFilter {
                    swarm,
                    agent,
                    level,
                    category,
                    event_type,
                    since,
                },
            )
        }

        fn kind() -> impl Strategy<Value = EventKind> {
            prop_oneof![
                Just(EventKind::AgentAdded { backend: "mock", group: None }),
                Just(EventKind::AgentRemoved),
                prop::sample::select(Level::ALL.to_vec())
                    .prop_map(|level| EventKind::Log { level, message: "m".into() }),
            ]
        }

        proptest! {
            #![proptest_config(cases())]

            /// Whatever the filters, each filtered subscriber gets exactly the
            /// events its filter matches, in order, once (the index only
            /// decides whose filter is run).
            #[test]
            fn each_filtered_subscriber_gets_exactly_what_its_filter_matches(
                filters in prop::collection::vec(filter(), 1..12),
                events in prop::collection::vec((name(), name(), kind()), 0..60),
            ) {
                let b = bus(1_000, 1_000);
                let mut subs: Vec<_> = filters.iter().map(|f| b.subscribe_filtered(0, f.clone()).live).collect();
                let mut all = b.subscribe();
                for (swarm, agent, kind) in events {
                    let (swarm, agent) = (swarm.map(|s| sw(&s)), agent.map(|a| sw(&a)));
                    b.emit(swarm.as_ref(), agent.as_ref(), kind);
                }
                let mut published = Vec::new();
                while let Ok(e) = all.try_recv() {
                    published.push(e);
                }
                for (f, sub) in filters.iter().zip(subs.iter_mut()) {
                    let want: Vec<u64> = published.iter().filter(|e| f.matches(e)).map(|e| e.seq).collect();
                    let mut got = Vec::new();
                    while let Ok(Some(e)) = sub.try_recv() {
                        got.push(e.seq);
                    }
                    prop_assert_eq!(got, want, "{:?}", f);
                }
            }
        }
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
