//! The mailbox of an agent or object: a bounded FIFO that belongs to the
//! endpoint's slot, not to one incarnation of its actor.
//!
//! In Erlang a process's mailbox dies with it. Hive keeps an endpoint's queue
//! across restarts instead, so a crash loses only the item being processed
//! (reported as failed with `agent_crashed`), never the queued ones. Senders
//! push and the current incarnation is woken with one `Wake` per burst (not
//! one per item). A full mailbox hands the item back to the sender.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Something waiting in a mailbox.
#[derive(Debug, Clone)]
pub enum Envelope {
    /// A task for an agent.
    Task(Task),
    /// A message routed from another endpoint.
    Message(Message),
    /// A send by this endpoint that the router refused.
    Denied {
        /// The refused target.
        to: Arc<str>,
        /// Why.
        reason: String,
    },
}

/// A task queued for an agent.
#[derive(Debug, Clone)]
pub struct Task {
    /// Unique task id.
    pub id: Arc<str>,
    /// What to do.
    pub content: String,
    /// `user`, or the endpoint that sent it.
    pub from: Arc<str>,
    /// Who decides how it ends.
    pub owner: TaskOwner,
}

/// Who a task's tokens and end are reported to.
#[derive(Debug, Clone)]
pub enum TaskOwner {
    /// The task book: the agent's own task (a swarm's, or a standalone
    /// worker's), whose end the agent decides.
    Book,
    /// The dispatcher, through a standalone worker's link: the dispatcher
    /// decides the end (timeouts, requeues), the agent reports to it.
    Link(tokio::sync::mpsc::Sender<LinkReport>),
}

/// What an agent reports about a task the dispatcher owns.
#[derive(Debug)]
pub enum LinkReport {
    /// Partial output.
    Token(Arc<str>, String),
    /// The agent's end of it.
    End(Arc<str>, crate::task::TaskEnd),
}

/// A routed message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The sending endpoint.
    pub from: Arc<str>,
    /// The content (shared, never copied on the way).
    pub content: Arc<str>,
    /// Set when this message answers one sent to an object.
    pub reply: bool,
}

/// Wakes the endpoint's current incarnation.
pub trait Waker: Send + Sync {
    /// Called (outside the mailbox lock) when items are waiting.
    fn wake(&self);
}

/// The bounded mailbox. See the module documentation.
pub struct Mailbox {
    inner: Mutex<Inner>,
    capacity: usize,
}

/// Tasks and everything else wait in two queues, each item tagged with its
/// arrival number: an idle consumer takes the older of the two heads (one
/// FIFO overall), a busy one takes only from `other` (messages, replies and
/// refusals never wait behind a queued task). Both are O(1).
struct Inner {
    tasks: VecDeque<(u64, Envelope)>,
    other: VecDeque<(u64, Envelope)>,
    next: u64,
    in_flight: Option<Task>,
    waker: Option<Arc<dyn Waker>>,
    wake_pending: bool,
}

impl Inner {
    fn len(&self) -> usize {
        self.tasks.len() + self.other.len()
    }
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox").field("len", &self.len()).field("capacity", &self.capacity).finish()
    }
}

impl Mailbox {
    /// An empty mailbox holding at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                tasks: VecDeque::new(),
                other: VecDeque::new(),
                next: 0,
                in_flight: None,
                waker: None,
                wake_pending: false,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an item; a full mailbox returns it.
    pub fn push(&self, item: Envelope) -> Result<(), Envelope> {
        self.push_with(item, || ())
    }

    /// Appends an item and runs `accepted` before any consumer can see it
    /// (under the lock): an event emitted there precedes every event of the
    /// item's processing. A full mailbox returns the item and runs nothing.
    pub fn push_with(&self, item: Envelope, accepted: impl FnOnce()) -> Result<(), Envelope> {
        let waker = {
            let mut g = self.lock();
            if g.len() >= self.capacity {
                return Err(item);
            }
            accepted();
            let n = g.next;
            g.next += 1;
            match item {
                Envelope::Task(_) => g.tasks.push_back((n, item)),
                _ => g.other.push_back((n, item)),
            }
            if g.wake_pending {
                None
            } else {
                g.wake_pending = true;
                g.waker.clone()
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Takes the next item. When nothing is left the next push wakes again.
    pub fn pop(&self) -> Option<Envelope> {
        self.pop_next(true)
    }

    /// Takes the next item in arrival order; with `tasks == false` (a busy
    /// agent) the next item that is not a task. When nothing is taken the
    /// next push wakes again. A consumer must pop until `None` or wake
    /// itself again: the mailbox does not wake a consumer that stopped early.
    pub fn pop_next(&self, tasks: bool) -> Option<Envelope> {
        let mut g = self.lock();
        let take_task = tasks
            && match (g.tasks.front(), g.other.front()) {
                (Some((t, _)), Some((o, _))) => t < o,
                (Some(_), None) => true,
                _ => false,
            };
        let item = if take_task { g.tasks.pop_front() } else { g.other.pop_front() };
        if item.is_none() {
            g.wake_pending = false;
        }
        item.map(|(_, e)| e)
    }

    /// Attaches a new incarnation. Returns the task the previous incarnation
    /// was processing when it died, if any; wakes at once if items wait.
    pub fn attach(&self, waker: Arc<dyn Waker>) -> Option<Task> {
        let (lost, wake) = {
            let mut g = self.lock();
            g.waker = Some(waker.clone());
            g.wake_pending = g.len() > 0;
            (g.in_flight.take(), g.wake_pending)
        };
        if wake {
            waker.wake();
        }
        lost
    }

    /// Detaches the incarnation (it stopped); pushes wait for the next one.
    pub fn detach(&self) {
        let mut g = self.lock();
        g.waker = None;
        g.wake_pending = false;
    }

    /// Records the task now being processed (survives a crash of the actor).
    pub fn set_in_flight(&self, task: Option<Task>) {
        self.lock().in_flight = task;
    }

    /// Takes the task a dead incarnation was processing (when no new
    /// incarnation will, so that the caller can end it).
    pub fn take_in_flight(&self) -> Option<Task> {
        self.lock().in_flight.take()
    }

    /// The task being processed.
    pub fn in_flight(&self) -> Option<Arc<str>> {
        self.lock().in_flight.as_ref().map(|t| t.id.clone())
    }

    /// Removes a queued task; returns it if it was queued.
    pub fn remove_task(&self, id: &str) -> Option<Task> {
        let mut g = self.lock();
        let at = g.tasks.iter().position(|(_, e)| matches!(e, Envelope::Task(t) if &*t.id == id))?;
        match g.tasks.remove(at) {
            Some((_, Envelope::Task(t))) => Some(t),
            _ => None,
        }
    }

    /// Items waiting (the one in flight excluded).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every queued item, in arrival order (used when an endpoint is removed).
    pub fn drain(&self) -> Vec<Envelope> {
        let mut g = self.lock();
        let inner = &mut *g;
        let mut all: Vec<(u64, Envelope)> = inner.tasks.drain(..).chain(inner.other.drain(..)).collect();
        all.sort_by_key(|(n, _)| *n);
        all.into_iter().map(|(_, e)| e).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Waker for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task(id: &str) -> Envelope {
        Envelope::Task(Task { id: id.into(), content: String::new(), from: "user".into(), owner: TaskOwner::Book })
    }

    #[test]
    fn one_wake_per_burst_not_per_item() {
        let m = Mailbox::new(10);
        let w = Arc::new(Count::default());
        m.attach(w.clone());
        for i in 0..5 {
            m.push(task(&i.to_string())).unwrap();
        }
        assert_eq!(w.0.load(Ordering::SeqCst), 1);
        while m.pop().is_some() {}
        m.push(task("x")).unwrap();
        assert_eq!(w.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn full_mailbox_hands_the_item_back() {
        let m = Mailbox::new(2);
        m.push(task("a")).unwrap();
        m.push(task("b")).unwrap();
        assert!(matches!(m.push(task("c")), Err(Envelope::Task(t)) if &*t.id == "c"));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn queued_items_and_in_flight_task_survive_a_new_incarnation() {
        let m = Mailbox::new(10);
        m.attach(Arc::new(Count::default()));
        m.push(task("a")).unwrap();
        m.push(task("b")).unwrap();
        let Some(Envelope::Task(a)) = m.pop() else { panic!() };
        m.set_in_flight(Some(a));
        // The incarnation dies; a new one attaches.
        m.detach();
        let w = Arc::new(Count::default());
        let lost = m.attach(w.clone());
        assert_eq!(lost.map(|t| t.id), Some("a".into()));
        assert_eq!(w.0.load(Ordering::SeqCst), 1, "woken because b waits");
        assert!(matches!(m.pop(), Some(Envelope::Task(t)) if &*t.id == "b"));
    }

    fn msg(from: &str) -> Envelope {
        Envelope::Message(Message { from: from.into(), content: "x".into(), reply: false })
    }

    #[test]
    fn busy_consumer_takes_messages_queued_behind_a_task_and_idle_order_is_fifo() {
        let m = Mailbox::new(10);
        m.push(task("t1")).unwrap();
        m.push(msg("a")).unwrap();
        m.push(task("t2")).unwrap();
        m.push(msg("b")).unwrap();
        // Busy: only the messages, in order.
        assert!(matches!(m.pop_next(false), Some(Envelope::Message(x)) if &*x.from == "a"));
        assert!(matches!(m.pop_next(false), Some(Envelope::Message(x)) if &*x.from == "b"));
        assert!(m.pop_next(false).is_none());
        // Idle: the tasks in order.
        assert!(matches!(m.pop(), Some(Envelope::Task(t)) if &*t.id == "t1"));
        m.push(msg("c")).unwrap();
        assert!(matches!(m.pop(), Some(Envelope::Task(t)) if &*t.id == "t2"));
        assert!(matches!(m.pop(), Some(Envelope::Message(x)) if &*x.from == "c"));
    }

    #[test]
    fn push_with_runs_before_a_consumer_can_take_the_item_and_not_when_full() {
        let m = Mailbox::new(1);
        let mut ran = 0;
        m.push_with(task("a"), || ran += 1).unwrap();
        assert!(m.push_with(task("b"), || ran += 1).is_err());
        assert_eq!(ran, 1);
    }

    #[test]
    fn cancel_removes_a_queued_task() {
        let m = Mailbox::new(10);
        m.push(task("a")).unwrap();
        assert!(m.remove_task("a").is_some());
        assert!(m.remove_task("a").is_none());
        assert!(m.is_empty());
    }
}
