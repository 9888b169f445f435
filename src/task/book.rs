//! The task book: the one place a task's lifecycle is decided. Every
//! transport (mock, stdio and zmq agents, standalone JSONL workers, the
//! dispatcher's ZeroMQ and pool workers) reports into it — started,
//! requeued, tokens, the end — and every waiter (a synchronous REST call, an
//! SSE stream, a webhook, orchestrate, a zmq agent, the standalone-worker
//! link) learns from it. Nobody reads the event bus to find out how a task
//! ended.
//!
//! Guarantees:
//! * a task ends once: [`TaskBook::end`] returns `true` to the one caller
//!   that ended it and `false` to every later one, whose end is dropped;
//! * a follower gets the task's tokens in order while it keeps up; one that
//!   falls behind is told how many it missed ([`TaskUpdate::Missed`]), and
//!   always gets the end whole, after every token it was given;
//! * open tasks are kept until they end; ended ones are kept in memory up to
//!   [`BookOptions::max_ended`] (oldest forgotten first), so a runtime
//!   without a data directory still answers for recent tasks;
//! * with a journal (the store), every new record and every change is
//!   handed to it in the order it happened here, so a record is always
//!   written before its changes; an end and the events that report it
//!   ([`TaskBook::end_then`]) reach the store in one drain, committed
//!   together; a new task waits (asynchronously) while more than
//!   [`MAX_JOURNAL`] entries wait for the journal;
//! * every change is also a [`TaskNotice`] to the subscribers of
//!   [`TaskBook::notices`] (bounded; a slow one is told it lagged).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap as HashMap;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use super::model::{TaskEnd, TaskStatus, TaskUpdate};
use super::notice::{Happened, NOTICE_LAG, TaskNotice};
use super::query::{TaskFilter, TaskOrder};
use super::record::{TaskChange, TaskRecord};
use super::stats::{self, TaskStats};
use crate::events::now_ms;

/// Entries waiting for the journal beyond which new tasks wait.
pub const MAX_JOURNAL: usize = 65_536;

/// Tokens buffered per follower before it is counted as missing them.
pub const FOLLOWER_TOKENS: usize = 4_096;

/// Bounds of the book.
#[derive(Debug, Clone, Copy)]
pub struct BookOptions {
    /// Ended tasks kept in memory (default 10 000).
    pub max_ended: usize,
}

impl Default for BookOptions {
    fn default() -> Self {
        Self { max_ended: 10_000 }
    }
}

/// Why a task's record (or a barrier) was not made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotDurable {
    /// The store is unavailable (its disk failed): the caller was not
    /// acknowledged; the store keeps the journal and writes it once it is back.
    #[error("{0}")]
    StoreUnavailable(String),
    /// Any other failure, or the store stopped.
    #[error("{0}")]
    Failed(String),
}

/// What the journal (the store) is handed, in order.
#[derive(Debug)]
pub enum Journaled {
    /// A new task's record; the sender, if any, learns when it is durable.
    Put(Box<TaskRecord>, Option<oneshot::Sender<Result<(), NotDurable>>>),
    /// A change of a recorded task, stamped with its time.
    Change(Arc<str>, TaskChange, u64),
    /// Nothing to write: the sender learns when everything before it is durable.
    Barrier(oneshot::Sender<Result<(), NotDurable>>),
}

/// Whether and how a new task is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    /// Recorded (when the book has a journal); the caller may wait for it.
    Record,
    /// Kept in memory only: a part of another recorded task (a zmq agent's
    /// dispatch runs under the agent's own recorded task).
    Skip,
}

/// A new task, as [`TaskBook::open`] answers.
pub struct Opened {
    /// Resolves once the record is durable (`None`: nothing to wait for).
    pub durable: Option<oneshot::Receiver<Result<(), NotDurable>>>,
    /// The task's updates, when asked for.
    pub follower: Option<Follower>,
}

impl Opened {
    /// Waits until the record is durable (at once without a journal).
    pub async fn durable(&mut self) -> Result<(), NotDurable> {
        match self.durable.take() {
            None => Ok(()),
            Some(rx) => rx
                .await
                .unwrap_or_else(|_| Err(NotDurable::Failed("the store stopped before recording the task".into()))),
        }
    }
}

/// The task book. Cheap to clone.
#[derive(Clone)]
pub struct TaskBook {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    opts: BookOptions,
    /// Wakes the journal's reader (the store's flusher).
    reader: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Wakes new tasks waiting for room in the journal.
    room: Notify,
    /// The task stream.
    notices: broadcast::Sender<Arc<TaskNotice>>,
    stats: TaskStats,
}

struct State {
    open: HashMap<Arc<str>, Entry>,
    ended: HashMap<Arc<str>, Box<TaskRecord>>,
    ended_order: VecDeque<Arc<str>>,
    /// `None`: the book has no journal.
    journal: Option<VecDeque<Journaled>>,
    closed: bool,
}

/// Records are boxed, in `open` and `ended` alike: the maps churn (a task
/// in, a task out), and hashbrown's rehashes move every value; a record is
/// ~450 bytes, a box 8, and an ended record moves from one map to the other
/// without a copy.
struct Entry {
    record: Box<TaskRecord>,
    journaled: bool,
    followers: Vec<FollowTx>,
    /// The task's span, open while the task is: its lifecycle lines (and
    /// any a transport logs [`TaskBook::in_span`]) carry its id.
    span: tracing::Span,
}

/// The span of one task (target `hive::task`, level `debug`, like its
/// lines: under the default filters it is disabled and costs a task
/// nothing): its id, transport, swarm and agent, whichever transport runs it.
fn span_of(r: &TaskRecord) -> tracing::Span {
    tracing::debug_span!(target: "hive::task", "task", task_id = %r.id, transport = r.transport().as_str(),
        swarm = %r.swarm, agent = %r.target)
}

struct FollowTx {
    tokens: mpsc::Sender<String>,
    missed: Arc<AtomicU64>,
    end: oneshot::Sender<TaskEnd>,
}

impl TaskBook {
    /// A book; `journaled` when a store records the tasks.
    pub fn new(opts: BookOptions, journaled: bool) -> Self {
        let state = State {
            open: HashMap::default(),
            ended: HashMap::default(),
            ended_order: VecDeque::new(),
            journal: journaled.then(VecDeque::new),
            closed: false,
        };
        let (notices, _) = broadcast::channel(NOTICE_LAG);
        let inner = Inner {
            state: Mutex::new(state),
            opts,
            reader: std::sync::OnceLock::new(),
            room: Notify::new(),
            notices,
            stats: TaskStats::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every task's changes from now on.
    pub fn notices(&self) -> broadcast::Receiver<Arc<TaskNotice>> {
        self.inner.notices.subscribe()
    }

    /// Tells the task stream, if anyone listens (sent under the state lock,
    /// so notices keep the book's order).
    fn notify(&self, record: &TaskRecord, what: impl FnOnce() -> Happened) {
        if self.inner.notices.receiver_count() == 0 {
            return;
        }
        let _ = self.inner.notices.send(Arc::new(TaskNotice::of(record, what())));
    }

    /// Whether a journal records the tasks.
    pub fn is_journaled(&self) -> bool {
        self.state().journal.is_some()
    }

    /// Runs `f` inside the span of open task `id` (outside any span when
    /// it is not open), so that what a transport logs about the task
    /// carries its id.
    pub fn in_span<T>(&self, id: &str, f: impl FnOnce() -> T) -> T {
        // The task lines are at debug: with them off (the default), the
        // book's lock is not taken for a span that would show nothing.
        if !tracing::enabled!(target: "hive::task", tracing::Level::DEBUG) {
            return f();
        }
        let span = self.state().open.get(id).map(|e| e.span.clone());
        match span {
            Some(s) => s.in_scope(f),
            None => f(),
        }
    }

    /// What the book counted: ended tasks and the wait and run histograms
    /// (for the metrics).
    pub fn stats(&self) -> &TaskStats {
        &self.inner.stats
    }

    /// Open tasks by transport (in [`super::Transport::ALL`] order) and status
    /// (queued, running): one pass over the open tasks, under the book's lock.
    pub fn open_counts(&self) -> [[u64; 2]; 3] {
        let st = self.state();
        let mut out = [[0u64; 2]; 3];
        for e in st.open.values() {
            let t = stats::slot(e.record.transport());
            let s = usize::from(e.record.status != TaskStatus::Queued);
            out[t][s] += 1;
        }
        out
    }

    /// Registers a new task (`queued`) and hands its record to the journal;
    /// with `follow`, its updates come with the answer (so none is missed).
    /// Waits while the journal is over [`MAX_JOURNAL`].
    pub async fn open(&self, record: TaskRecord, journal: Journal, follow: bool) -> Opened {
        loop {
            let room = self.inner.room.notified();
            if self.state().journal.as_ref().is_none_or(|j| j.len() < MAX_JOURNAL) {
                break;
            }
            room.await;
        }
        let mut st = self.state();
        let id: Arc<str> = record.id.as_str().into();
        let journaled = journal == Journal::Record && st.journal.is_some();
        let durable = if journaled {
            let (tx, rx) = oneshot::channel();
            self.journal(&mut st, Journaled::Put(Box::new(record.clone()), Some(tx)));
            Some(rx)
        } else {
            None
        };
        self.notify(&record, || Happened::Queued);
        let span = span_of(&record);
        span.in_scope(|| tracing::debug!(target: "hive::task", from = %record.from, "task queued"));
        let mut entry = Entry { record: Box::new(record), journaled, followers: Vec::new(), span };
        let follower = follow.then(|| follower_of(&mut entry));
        st.open.insert(id, entry);
        Opened { durable, follower }
    }

    /// Waits until everything journaled before this call is durable (at
    /// once without a journal).
    pub async fn synced(&self) -> Result<(), NotDurable> {
        let rx = {
            let mut st = self.state();
            if st.journal.is_none() {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            self.journal(&mut st, Journaled::Barrier(tx));
            rx
        };
        rx.await.unwrap_or_else(|_| Err(NotDurable::Failed("the store stopped before recording the tasks".into())))
    }

    /// Registers an open task read back from the store (a restart): it is
    /// not written again.
    pub fn adopt(&self, record: TaskRecord) {
        let mut st = self.state();
        let journaled = st.journal.is_some();
        let span = span_of(&record);
        span.in_scope(|| tracing::debug!(target: "hive::task", status = record.status.as_str(), "task taken back"));
        let key: Arc<str> = record.id.as_str().into();
        st.open.insert(key, Entry { record: Box::new(record), journaled, followers: Vec::new(), span });
    }

    /// The task started (one more attempt) on its target; `false` if it
    /// is not open.
    pub fn started(&self, id: &str) -> bool {
        self.change(id, TaskChange::Started { worker: None })
    }

    /// The task started (one more attempt) on `worker`; `false` if it is
    /// not open.
    pub fn started_on(&self, id: &str, worker: &str) -> bool {
        self.change(id, TaskChange::Started { worker: Some(worker.to_string()) })
    }

    /// The task is back in the queue; `false` if it is not open.
    pub fn requeued(&self, id: &str) -> bool {
        self.change(id, TaskChange::Requeued)
    }

    fn change(&self, id: &str, change: TaskChange) -> bool {
        let mut st = self.state();
        let now = now_ms();
        let Some(e) = st.open.get_mut(id) else { return false };
        if matches!(change, TaskChange::Started { .. }) && e.record.status == TaskStatus::Queued {
            // Queued since its creation or its last requeue (its last change).
            self.inner.stats.started(e.record.transport(), now.saturating_sub(e.record.updated_ms));
        }
        e.record.apply(&change, now);
        e.span.in_scope(|| match &change {
            TaskChange::Started { .. } => {
                tracing::debug!(target: "hive::task", worker = e.record.worker.as_deref(), attempt = e.record.attempts, "task started")
            }
            TaskChange::Requeued => tracing::debug!(target: "hive::task", "task requeued"),
            TaskChange::Ended(_) => {}
        });
        let (record, journaled) = (&e.record, e.journaled);
        self.notify(record, || match &change {
            TaskChange::Started { .. } => Happened::Started { worker: record.worker.clone() },
            TaskChange::Requeued => Happened::Queued,
            TaskChange::Ended(end) => Happened::ended(end),
        });
        if journaled {
            self.journal(&mut st, Journaled::Change(id.into(), change, now));
        }
        true
    }

    fn journal(&self, st: &mut State, j: Journaled) {
        if let Some(q) = st.journal.as_mut() {
            q.push_back(j);
            if q.len() == 1 {
                self.wake_reader();
            }
        }
    }

    fn wake_reader(&self) {
        if let Some(wake) = self.inner.reader.get() {
            wake();
        }
    }

    /// Sets how the journal's reader is woken (once; later calls are
    /// ignored): called when the journal stops being empty, and at close.
    /// It runs under the book's lock, so it must only signal.
    pub fn set_journal_reader(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.inner.reader.set(Box::new(wake));
    }

    /// A token of an open task, to its followers (one that is behind
    /// counts it as missed) and to its output so far (in memory only,
    /// bounded: [`crate::task::MAX_OUTPUT_BYTES`]).
    pub fn token(&self, id: &str, content: &str) {
        let mut st = self.state();
        let Some(e) = st.open.get_mut(id) else { return };
        e.record.push_output(content);
        self.notify(&e.record, || Happened::Output { content: content.to_string() });
        for f in &e.followers {
            if f.tokens.try_send(content.to_string()).is_err() {
                f.missed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Ends an open task: `true` for the call that ended it, `false` when
    /// it had already ended (or is unknown), in which case `end` is dropped.
    pub fn end(&self, id: &str, end: TaskEnd) -> bool {
        self.end_then(id, end, |_| {})
    }

    /// [`end`](Self::end), and, if the end took, `announce` (which emits
    /// the events that report it) while the book still holds its lock: the
    /// journal's reader, which takes the pending events under that lock
    /// ([`drain_journal_and`](Self::drain_journal_and)), then has the end's
    /// change and its events in one drain, and the store commits them
    /// together — a crash never keeps one without the other. `announce`
    /// must not call the book.
    pub fn end_then(&self, id: &str, end: TaskEnd, announce: impl FnOnce(&TaskEnd)) -> bool {
        let mut st = self.state();
        let Some((key, mut e)) = st.open.remove_entry(id) else { return false };
        let now = now_ms();
        let ran = (e.record.status == TaskStatus::Running)
            .then_some(e.record.started_ms)
            .flatten()
            .map(|s| now.saturating_sub(s));
        self.inner.stats.ended(e.record.transport(), end.status(), ran);
        e.record.apply_end(&end, now);
        e.span.in_scope(|| match &end {
            TaskEnd::Failed { code, .. } => {
                tracing::debug!(target: "hive::task", status = end.status().as_str(), code = %code, "task ended")
            }
            _ => tracing::debug!(target: "hive::task", status = end.status().as_str(), "task ended"),
        });
        self.notify(&e.record, || Happened::ended(&end));
        if e.journaled {
            self.journal(&mut st, Journaled::Change(key.clone(), TaskChange::Ended(end.clone()), now));
        }
        announce(&end);
        // Each follower but the last gets a copy; the last gets the end.
        let mut followers = e.followers.into_iter();
        if let Some(last) = followers.next_back() {
            for f in followers {
                let _ = f.end.send(end.clone());
            }
            let _ = last.end.send(end);
        }
        st.ended.insert(key.clone(), e.record);
        st.ended_order.push_back(key);
        while st.ended_order.len() > self.inner.opts.max_ended {
            if let Some(old) = st.ended_order.pop_front() {
                st.ended.remove(&old);
            }
        }
        true
    }

    /// The updates of a task: an open one's from now on, an ended one's
    /// end at once; `None` if the book does not know it.
    pub fn follow(&self, id: &str) -> Option<Follower> {
        let mut st = self.state();
        if let Some(e) = st.open.get_mut(id) {
            return Some(follower_of(e));
        }
        let end = st.ended.get(id)?.end()?;
        let (tokens_tx, tokens) = mpsc::channel(1);
        drop(tokens_tx);
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(end);
        Some(Follower { tokens, tokens_open: false, missed: Arc::default(), reported: 0, end: Some(rx) })
    }

    /// A task's record as the book has it (open, or ended and still kept).
    pub fn get(&self, id: &str) -> Option<TaskRecord> {
        let st = self.state();
        st.open.get(id).map(|e| (*e.record).clone()).or_else(|| st.ended.get(id).map(|r| (**r).clone()))
    }

    /// The records the book holds that `filter` shows, in `order`: at
    /// most `limit` after skipping `offset`, and how many match in all.
    pub fn page(&self, filter: &TaskFilter, order: TaskOrder, offset: usize, limit: usize) -> (Vec<TaskRecord>, usize) {
        let st = self.state();
        let mut all: Vec<&TaskRecord> = st
            .open
            .values()
            .map(|e| &*e.record)
            .chain(st.ended.values().map(|r| &**r))
            .filter(|r| filter.matches(r))
            .collect();
        all.sort_unstable_by(|a, b| order.compare(a, b));
        let total = all.len();
        (all.into_iter().skip(offset).take(limit).cloned().collect(), total)
    }

    /// The open tasks' ids that `keep` selects.
    pub fn open_ids(&self, keep: impl Fn(&TaskRecord) -> bool) -> Vec<Arc<str>> {
        self.state().open.iter().filter(|(_, e)| keep(&e.record)).map(|(id, _)| id.clone()).collect()
    }

    /// For the journal's reader: takes every entry waiting, in order (none
    /// without a journal), and wakes the new tasks waiting for room.
    pub fn drain_journal(&self) -> Vec<Journaled> {
        self.drain_journal_and(|| ()).0
    }

    /// [`drain_journal`](Self::drain_journal), and `also` under the same
    /// hold of the book's lock. The flusher takes the bus's pending events
    /// there: an [`end_then`](Self::end_then), which pushes the end and
    /// emits its events under that lock, is then wholly in this drain or
    /// wholly in a later one.
    pub fn drain_journal_and<T>(&self, also: impl FnOnce() -> T) -> (Vec<Journaled>, T) {
        let (batch, more) = {
            let mut st = self.state();
            let batch: Vec<Journaled> = match st.journal.as_mut() {
                Some(q) if !q.is_empty() => q.drain(..).collect(),
                _ => Vec::new(),
            };
            (batch, also())
        };
        if !batch.is_empty() {
            self.inner.room.notify_waiters();
        }
        (batch, more)
    }

    /// Whether the book is closed (its journal's reader stops once it has
    /// drained what is left).
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// No more entries will be journaled: the journal's reader ends once it
    /// has taken what is left.
    pub fn close(&self) {
        self.state().closed = true;
        self.wake_reader();
    }
}

fn follower_of(e: &mut Entry) -> Follower {
    let (tokens_tx, tokens) = mpsc::channel(FOLLOWER_TOKENS);
    let (end_tx, end) = oneshot::channel();
    let missed = Arc::new(AtomicU64::new(0));
    e.followers.push(FollowTx { tokens: tokens_tx, missed: missed.clone(), end: end_tx });
    Follower { tokens, tokens_open: true, missed, reported: 0, end: Some(end) }
}

/// The updates of one task, for one waiter.
pub struct Follower {
    tokens: mpsc::Receiver<String>,
    tokens_open: bool,
    missed: Arc<AtomicU64>,
    reported: u64,
    end: Option<oneshot::Receiver<TaskEnd>>,
}

impl Follower {
    /// A follower of nothing: it hears no update and no end.
    pub fn never() -> Self {
        let (_, tokens) = mpsc::channel(1);
        Self { tokens, tokens_open: false, missed: Arc::default(), reported: 0, end: None }
    }

    /// The next update: a token, how many were missed, then the end;
    /// `None` after the end (or if the book dropped the task unended, at
    /// shutdown).
    pub async fn next(&mut self) -> Option<TaskUpdate> {
        loop {
            if let Ok(t) = self.tokens.try_recv() {
                return Some(TaskUpdate::Token(t));
            }
            let missed = self.missed.load(Ordering::Relaxed);
            if missed > self.reported {
                let n = missed - self.reported;
                self.reported = missed;
                return Some(TaskUpdate::Missed(n));
            }
            let end = self.end.as_mut()?;
            if !self.tokens_open {
                let r = end.await;
                self.end = None;
                return r.ok().map(TaskUpdate::Done);
            }
            tokio::select! {
                biased;
                t = self.tokens.recv() => match t {
                    Some(t) => return Some(TaskUpdate::Token(t)),
                    None => self.tokens_open = false,
                },
                r = end => {
                    self.end = None;
                    // Tokens sent before the end come first.
                    if let Ok(t) = self.tokens.try_recv() {
                        let (tx, rx) = oneshot::channel();
                        if let Ok(e) = r {
                            let _ = tx.send(e);
                        }
                        self.end = Some(rx);
                        return Some(TaskUpdate::Token(t));
                    }
                    return r.ok().map(TaskUpdate::Done);
                }
            }
        }
    }

    /// The end, skipping tokens; `None` if the task was dropped unended.
    pub async fn end(mut self) -> Option<TaskEnd> {
        self.tokens.close();
        self.end.take()?.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{FailCode, TaskStatus, Transport};

    fn rec(id: &str) -> TaskRecord {
        TaskRecord::queued(id, Transport::Agent, "s", "a", "x", "user")
    }

    #[tokio::test]
    async fn a_task_ends_once_and_its_follower_gets_tokens_then_the_end() {
        let book = TaskBook::new(BookOptions::default(), false);
        let mut f = book.open(rec("t1"), Journal::Record, true).await.follower.unwrap();
        assert!(book.started("t1"));
        book.token("t1", "a");
        book.token("t1", "b");
        assert!(book.end("t1", TaskEnd::Completed { content: "ab".into() }));
        assert!(!book.end("t1", TaskEnd::Cancelled), "a second end is refused");
        assert_eq!(f.next().await, Some(TaskUpdate::Token("a".into())));
        assert_eq!(f.next().await, Some(TaskUpdate::Token("b".into())));
        assert_eq!(f.next().await, Some(TaskUpdate::Done(TaskEnd::Completed { content: "ab".into() })));
        assert_eq!(f.next().await, None);
        let r = book.get("t1").unwrap();
        assert_eq!((r.status, r.attempts, r.result.as_deref()), (TaskStatus::Completed, 1, Some("ab")));
        // A late follower gets the end at once.
        assert_eq!(book.follow("t1").unwrap().end().await, Some(TaskEnd::Completed { content: "ab".into() }));
    }

    #[tokio::test]
    async fn a_record_tells_its_worker_times_attempts_and_the_tail_of_its_output_while_it_runs() {
        let book = TaskBook::new(BookOptions::default(), true);
        book.open(TaskRecord::queued("d", Transport::Dispatch, "_dispatch", "", "x", "api"), Journal::Record, false)
            .await;
        assert!(book.started_on("d", "w1"));
        book.token("d", "héllo ");
        book.token("d", "world");
        let r = book.get("d").unwrap();
        assert_eq!((r.worker.as_deref(), r.attempts, r.output.as_deref()), (Some("w1"), 1, Some("héllo world")));
        assert!(r.started_ms.is_some() && r.ended_ms.is_none());
        // A requeue: no worker, no output; the next start is one more attempt.
        assert!(book.requeued("d"));
        let r = book.get("d").unwrap();
        assert_eq!((r.status, r.worker, r.output), (TaskStatus::Queued, None, None));
        book.started_on("d", "w2");
        let big = "é".repeat(crate::task::MAX_OUTPUT_BYTES);
        book.token("d", &big);
        book.token("d", "end");
        let out = book.get("d").unwrap().output.unwrap();
        assert!(out.len() <= crate::task::MAX_OUTPUT_BYTES && out.ends_with("éend"), "the tail is kept");
        book.end("d", TaskEnd::Completed { content: "done".into() });
        let r = book.get("d").unwrap();
        assert_eq!((r.worker.as_deref(), r.attempts, r.output), (Some("w2"), 2, None));
        assert!(r.ended_ms.is_some());
        // The journal has no tokens: the store never writes output.
        let batch = book.drain_journal();
        assert_eq!(batch.len(), 5, "put, started, requeued, started, ended");
    }

    #[tokio::test]
    async fn a_follower_that_falls_behind_is_told_how_many_tokens_it_missed_and_gets_the_end_whole() {
        let book = TaskBook::new(BookOptions::default(), false);
        let mut f = book.open(rec("t"), Journal::Record, true).await.follower.unwrap();
        for i in 0..FOLLOWER_TOKENS + 10 {
            book.token("t", &i.to_string());
        }
        book.end("t", TaskEnd::failed(FailCode::Timeout, "late"));
        let (mut tokens, mut missed, mut end) = (0, 0, None);
        while let Some(u) = f.next().await {
            match u {
                TaskUpdate::Token(_) => tokens += 1,
                TaskUpdate::Missed(n) => missed += n,
                TaskUpdate::Done(e) => end = Some(e),
            }
        }
        assert_eq!((tokens, missed), (FOLLOWER_TOKENS, 10));
        assert_eq!(end, Some(TaskEnd::failed(FailCode::Timeout, "late")));
    }

    #[tokio::test]
    async fn the_journal_gets_each_record_before_its_changes_and_ended_tasks_are_bounded() {
        let book = TaskBook::new(BookOptions { max_ended: 2 }, true);
        for id in ["a", "b", "c"] {
            book.open(rec(id), Journal::Record, false).await;
            book.started(id);
            book.end(id, TaskEnd::Cancelled);
        }
        book.open(rec("m"), Journal::Skip, false).await;
        book.end("m", TaskEnd::Cancelled);
        let batch = book.drain_journal();
        let shape: Vec<String> = batch
            .iter()
            .map(|j| match j {
                Journaled::Put(r, _) => format!("put {}", r.id),
                Journaled::Change(id, c, _) => format!("{id} {c:?}"),
                Journaled::Barrier(_) => "barrier".into(),
            })
            .collect();
        assert_eq!(shape.len(), 9, "{shape:?}");
        assert_eq!(&shape[..3], ["put a", "a Started { worker: None }", "a Ended(Cancelled)"]);
        assert!(book.get("a").is_none(), "the oldest ended task is forgotten");
        let cancelled = TaskFilter { statuses: vec![TaskStatus::Cancelled], ..Default::default() };
        assert_eq!(book.page(&cancelled, TaskOrder::default(), 0, 10).1, 2);
        book.close();
        assert!(book.drain_journal().is_empty() && book.is_closed());
    }
}
