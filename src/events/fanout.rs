//! Filtered fan-out: each subscriber gets, in its own bounded queue, only the
//! events its filter takes, so an event wakes exactly the subscribers that
//! want it (a broadcast channel wakes every receiver, which then filters).
//!
//! * Subscribers are indexed by what their filter pins: the agent, else the
//!   event type, else the swarm; the rest (no filter, or only a level or a
//!   category) are in one list. Publishing an event looks up its agent, type
//!   and swarm (three hash lookups) and runs the full filter on those
//!   buckets' entries only: the cost is proportional to the subscribers that
//!   can match, and a match costs one `Arc` clone into the queue.
//! * A queue holds at most `capacity` events. The publisher never waits: an
//!   event that does not fit marks the subscriber lagged, from the oldest
//!   event it has not taken (everything it follows from there is missed),
//!   and nothing more is queued until the subscriber has been told.
//! * A subscriber is woken when its queue goes from empty to not empty, or
//!   when it lagged; never for an event it does not follow.
//! * Dropping the [`FilteredReceiver`] removes the subscriber; dropping the
//!   [`Fanout`] tells every subscriber the stream ended.
//!
//! The owner (the bus) calls [`Fanout::subscribe`] and [`Fanout::sender`]
//! under its own lock, which gives the order of events and the consistent
//! cut between a ring backlog and the live queue. Lock order: the bus, then
//! the index, then a queue; a receiver takes only its queue (and the index
//! when it is dropped).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use rustc_hash::FxHashMap;
use tokio::sync::Notify;

use super::Event;
use super::filter::EventFilter;

/// The subscriber was told nothing from `missed_from` on: the events it
/// follows with that sequence number and later, up to the next one it gets,
/// were dropped because its queue was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged {
    /// The first sequence number it missed; a resume asks for `since =
    /// missed_from - 1`.
    pub missed_from: u64,
}

/// The registry of filtered subscribers.
pub(super) struct Fanout {
    shared: Arc<Shared>,
}

struct Shared {
    index: Mutex<Index>,
    /// Events a subscriber's queue holds at most.
    capacity: usize,
    /// Subscribers registered (read without the index lock by the
    /// publisher, which skips the lock when there are none).
    count: AtomicUsize,
}

#[derive(Default)]
struct Index {
    by_agent: FxHashMap<Box<str>, Vec<Entry>>,
    by_type: FxHashMap<&'static str, Vec<Entry>>,
    by_swarm: FxHashMap<Box<str>, Vec<Entry>>,
    rest: Vec<Entry>,
}

struct Entry {
    filter: EventFilter,
    slot: Arc<Slot>,
}

/// Where a subscriber is indexed: the most selective field its filter pins.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Agent(Box<str>),
    Type(&'static str),
    Swarm(Box<str>),
    Rest,
}

impl Key {
    fn of(f: &EventFilter) -> Self {
        if let Some(a) = &f.agent {
            Key::Agent(a.as_str().into())
        } else if let Some(t) = f.event_type {
            Key::Type(t)
        } else if let Some(s) = &f.swarm {
            Key::Swarm(s.as_str().into())
        } else {
            Key::Rest
        }
    }
}

impl Index {
    fn bucket(&mut self, key: &Key) -> Option<&mut Vec<Entry>> {
        match key {
            Key::Agent(a) => self.by_agent.get_mut(a),
            Key::Type(t) => self.by_type.get_mut(t),
            Key::Swarm(s) => self.by_swarm.get_mut(s),
            Key::Rest => Some(&mut self.rest),
        }
    }

    fn insert(&mut self, key: &Key, entry: Entry) {
        match key {
            Key::Agent(a) => self.by_agent.entry(a.clone()).or_default().push(entry),
            Key::Type(t) => self.by_type.entry(t).or_default().push(entry),
            Key::Swarm(s) => self.by_swarm.entry(s.clone()).or_default().push(entry),
            Key::Rest => self.rest.push(entry),
        }
    }

    /// Removes the entry of `slot`; whether it was there.
    fn remove(&mut self, key: &Key, slot: &Arc<Slot>) -> bool {
        let Some(bucket) = self.bucket(key) else { return false };
        let Some(i) = bucket.iter().position(|e| Arc::ptr_eq(&e.slot, slot)) else { return false };
        bucket.swap_remove(i);
        if bucket.is_empty() {
            match key {
                Key::Agent(a) => drop(self.by_agent.remove(a)),
                Key::Type(t) => drop(self.by_type.remove(t)),
                Key::Swarm(s) => drop(self.by_swarm.remove(s)),
                Key::Rest => {}
            }
        }
        true
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        let maps = self.by_agent.values().chain(self.by_type.values()).chain(self.by_swarm.values());
        maps.flatten().chain(self.rest.iter())
    }
}

/// One subscriber's queue.
struct Slot {
    queue: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Arc<Event>>,
    /// Lagged from this sequence number; not yet told.
    missed_from: Option<u64>,
    /// The fan-out is gone: no event will come.
    closed: bool,
}

impl Queue {
    /// Gives back the memory of a queue that grew while its subscriber was
    /// behind, once it is empty.
    fn caught_up(&mut self) {
        if self.events.is_empty() && self.events.capacity() > KEEP_CAPACITY {
            self.events.shrink_to(KEEP_CAPACITY);
        }
    }
}

/// Queue capacity kept after a drain; a queue that grew past it while its
/// subscriber was behind gives the memory back once it caught up.
const KEEP_CAPACITY: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Slot {
    /// Queues `e` (the filter matched), or marks the subscriber lagged.
    fn offer(&self, e: &Arc<Event>, capacity: usize) {
        let mut q = lock(&self.queue);
        if q.missed_from.is_some() {
            return; // already lagged: it will resume from missed_from
        }
        if q.events.len() >= capacity {
            q.missed_from = Some(q.events.front().map_or(e.seq, |f| f.seq));
            drop(q);
            self.wake.notify_one();
            return;
        }
        q.events.push_back(e.clone());
        let first = q.events.len() == 1;
        drop(q);
        if first {
            self.wake.notify_one();
        }
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_one();
    }
}

impl Fanout {
    /// A fan-out whose queues hold at most `capacity` events each.
    pub(super) fn new(capacity: usize) -> Self {
        let shared = Shared { index: Mutex::default(), capacity: capacity.max(1), count: AtomicUsize::new(0) };
        Self { shared: Arc::new(shared) }
    }

    /// Registers a subscriber: it gets every event sent from now on that
    /// `filter` matches.
    pub(super) fn subscribe(&self, filter: EventFilter) -> FilteredReceiver {
        let key = Key::of(&filter);
        let slot = Arc::new(Slot { queue: Mutex::default(), wake: Notify::new() });
        lock(&self.shared.index).insert(&key, Entry { filter, slot: slot.clone() });
        self.shared.count.fetch_add(1, Ordering::Relaxed);
        FilteredReceiver { slot, key, registry: Arc::downgrade(&self.shared) }
    }

    /// A sender for a run of events (one index lock for all of them), or
    /// `None` when nobody subscribed. The caller must hold the lock that
    /// orders [`subscribe`](Self::subscribe) with the events (the bus's):
    /// a subscriber registered before this call is then seen by it.
    pub(super) fn sender(&self) -> Option<Sender<'_>> {
        if self.shared.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        Some(Sender { index: lock(&self.shared.index), capacity: self.shared.capacity })
    }

    /// Subscribers now, and the most events any of them has queued.
    pub(super) fn stats(&self) -> (usize, usize) {
        let ix = lock(&self.shared.index);
        let (mut n, mut most) = (0, 0);
        for e in ix.entries() {
            n += 1;
            most = most.max(lock(&e.slot.queue).events.len());
        }
        (n, most)
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        for e in lock(&self.shared.index).entries() {
            e.slot.close();
        }
    }
}

/// Hands events to the subscribers that follow them (holds the index lock).
pub(super) struct Sender<'a> {
    index: MutexGuard<'a, Index>,
    capacity: usize,
}

impl Sender<'_> {
    /// Queues `e` for every subscriber whose filter matches it.
    pub(super) fn send(&self, e: &Arc<Event>) {
        let ix = &*self.index;
        let offer = |bucket: &[Entry]| {
            for entry in bucket {
                if entry.filter.matches(e) {
                    entry.slot.offer(e, self.capacity);
                }
            }
        };
        if let Some(b) = e.agent.as_deref().and_then(|a| ix.by_agent.get(a)) {
            offer(b);
        }
        if let Some(b) = ix.by_type.get(e.event_type()) {
            offer(b);
        }
        if let Some(b) = e.swarm.as_deref().and_then(|s| ix.by_swarm.get(s)) {
            offer(b);
        }
        offer(&ix.rest);
    }
}

/// The receiving end of a filtered subscription; dropping it unsubscribes.
pub struct FilteredReceiver {
    slot: Arc<Slot>,
    key: Key,
    registry: Weak<Shared>,
}

impl FilteredReceiver {
    /// Waits until events are queued, then moves up to `limit` of them (in
    /// sequence order) into `buf` and returns how many. `Ok(0)` only when
    /// `limit` is 0 or the bus is gone. `Err` once when the subscriber
    /// lagged: what it had queued is dropped with the rest, and the events
    /// sent after it is told are queued again.
    pub async fn recv_many(&mut self, buf: &mut Vec<Arc<Event>>, limit: usize) -> Result<usize, Lagged> {
        loop {
            if let Some(r) = self.take(buf, limit) {
                return r;
            }
            // A notification since the check is kept as a permit: no lost wake-up.
            self.slot.wake.notified().await;
        }
    }

    /// The next event, waiting for it; `Ok(None)` once the bus is gone.
    pub async fn recv(&mut self) -> Result<Option<Arc<Event>>, Lagged> {
        loop {
            if let Some(r) = self.take_one() {
                return r;
            }
            self.slot.wake.notified().await;
        }
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Option<Arc<Event>>, Lagged> {
        self.take_one().unwrap_or(Ok(None))
    }

    /// Events queued and not yet taken.
    pub fn queued(&self) -> usize {
        lock(&self.slot.queue).events.len()
    }

    /// What is ready: a lag (told once), up to `limit` events, or the end;
    /// `None` when the caller must wait.
    fn take(&mut self, buf: &mut Vec<Arc<Event>>, limit: usize) -> Option<Result<usize, Lagged>> {
        let mut q = lock(&self.slot.queue);
        if let Some(missed_from) = q.missed_from.take() {
            let dropped = std::mem::take(&mut q.events);
            drop(q);
            drop(dropped); // outside the lock
            return Some(Err(Lagged { missed_from }));
        }
        if limit == 0 {
            return Some(Ok(0));
        }
        if !q.events.is_empty() {
            let n = limit.min(q.events.len());
            buf.extend(q.events.drain(..n));
            q.caught_up();
            return Some(Ok(n));
        }
        q.closed.then_some(Ok(0))
    }

    /// [`take`](Self::take) of one event, without a buffer.
    fn take_one(&mut self) -> Option<Result<Option<Arc<Event>>, Lagged>> {
        let mut q = lock(&self.slot.queue);
        if let Some(missed_from) = q.missed_from.take() {
            let dropped = std::mem::take(&mut q.events);
            drop(q);
            drop(dropped);
            return Some(Err(Lagged { missed_from }));
        }
        if let Some(e) = q.events.pop_front() {
            q.caught_up();
            return Some(Ok(Some(e)));
        }
        q.closed.then_some(Ok(None))
    }
}

impl Drop for FilteredReceiver {
    fn drop(&mut self) {
        if let Some(shared) = self.registry.upgrade()
            && lock(&shared.index).remove(&self.key, &self.slot)
        {
            shared.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for FilteredReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilteredReceiver").field("key", &self.key).field("queued", &self.queued()).finish()
    }
}
