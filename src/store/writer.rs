//! Group commit: one writer thread owns all writes. Callers queue jobs and
//! wait for their acknowledgement; the thread takes every job that is
//! waiting (up to `max_batch`), applies them in one transaction, commits it
//! durably once, and acknowledges each job in submission order. While one
//! commit's fsync runs, the next batch accumulates, so the batch size grows
//! with the load and a lone write is not delayed.
//!
//! While the store is unavailable (the disk failed; see `avail.rs`), every
//! job is answered at once with an `Unavailable` error: nothing is
//! acknowledged that was not committed. What a job records that memory
//! already holds is kept, in order, and committed first once the store is
//! back, so that the file and the running runtime agree again: the task
//! book's journal (a record, then its changes; a record whose
//! acknowledgement was refused is kept too, with the change that ended it
//! `rejected`), overlay changes and swarm records (a change that passed the
//! swarm's check of the store just before the disk failed was applied; its
//! caller got the error). The journal reaches the writer only from the
//! flusher, with the events taken at the same time (`Job::Flush`), and a
//! kept journal is committed with the flusher's next try. A kept overlay
//! change keeps the index its first try gave it: a commit whose fsync
//! failed may have reached the file all the same, and the change must not
//! be appended twice. Clearing or reseeding an overlay is not kept: it is
//! asked for before anything is applied, and refused. At most [`MAX_CARRIED`]
//! entries are kept; beyond, the thread stops taking jobs until the store is
//! back (the journal, then the book, then new tasks wait: backpressure, not
//! loss). Only a shutdown while the store is still down drops them, with an
//! error log that counts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::events::{StoredEvent, append};
use super::overlay::{SwarmRecord, append_op, clear_op, put_op_at, put_swarm};
use super::{Store, StoreError, StoreErrorKind};
use crate::task::{Journaled, NotDurable};

/// Bounds of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Most jobs per transaction.
    pub max_batch: usize,
    /// Jobs that may wait; senders wait beyond it (backpressure).
    pub queue: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { max_batch: 8_192, queue: 65_536 }
    }
}

/// Most journal entries kept while the store is unavailable, before the
/// writer stops taking jobs until it is back.
pub(crate) const MAX_CARRIED: usize = 65_536;

/// What the thread keeps while the store is down, oldest first.
#[derive(Default)]
struct Carried {
    journal: Vec<Journaled>,
    /// (swarm, op, the index a try gave it).
    overlay: Vec<(String, Vec<u8>, Option<u64>)>,
    swarms: Vec<SwarmRecord>,
}

impl Carried {
    fn len(&self) -> usize {
        self.journal.len() + self.overlay.len() + self.swarms.len()
    }
}

enum Job {
    Overlay(String, Vec<u8>, oneshot::Sender<Result<u64, StoreError>>),
    Swarm(SwarmRecord, oneshot::Sender<Result<(), StoreError>>),
    ClearOverlay(String, oneshot::Sender<Result<(), StoreError>>),
    Reseed(SwarmRecord, oneshot::Sender<Result<(), StoreError>>),
    /// From the flusher: the task book's journal entries, in order (their
    /// puts and barriers carry their own acks), and the events taken with
    /// them (see `TaskBook::drain_journal_and`), committed in one
    /// transaction with `next_seq` (one past the last number taken).
    Flush {
        journal: Vec<Journaled>,
        events: Vec<StoredEvent>,
        next_seq: Option<u64>,
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    /// The store is available again: commit what was kept.
    Resume,
    Shutdown,
}

/// What the writer measures of its commits, for the metrics: each
/// transaction's time (applying its jobs, then the durable commit) and its
/// size in jobs. Observed once per commit, on the writer thread.
#[derive(Debug)]
pub struct CommitStats {
    /// Seconds per commit.
    pub latency: prometheus_client::metrics::histogram::Histogram,
    /// Jobs per commit.
    pub batch: prometheus_client::metrics::histogram::Histogram,
}

impl Default for CommitStats {
    fn default() -> Self {
        use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
        Self {
            // 100 µs to about 6.5 s.
            latency: Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
            // 1 to 8192 jobs (the most a batch takes).
            batch: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
        }
    }
}

/// The handle to the writer thread. Dropping every handle stops the thread
/// after it has written what was queued.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    /// Whether the store is up (no handle to its file: the service's
    /// shutdown closes the file while writers are still held).
    availability: super::Availability,
    /// When the last commit ended (ms since the epoch; 0 = none yet).
    last_commit_ms: Arc<AtomicU64>,
    stats: Arc<CommitStats>,
}

/// The writer thread, to wait for at shutdown.
pub struct WriterThread(JoinHandle<()>);

impl WriterThread {
    /// Waits until the thread has written everything and exited.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

impl Writer {
    /// Starts the writer thread for `store`.
    pub fn start(store: Store, opts: WriterOptions) -> (Self, WriterThread) {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let last_commit_ms = Arc::new(AtomicU64::new(0));
        let stamp = last_commit_ms.clone();
        let stats = Arc::new(CommitStats::default());
        let measure = stats.clone();
        let thread_store = store.clone();
        let handle = std::thread::Builder::new()
            .name("hive-store-writer".into())
            .spawn(move || run(thread_store, rx, opts.max_batch.max(1), &stamp, &measure))
            .expect("spawn the store writer thread");
        let availability = store.availability().clone();
        (Self { tx, availability, last_commit_ms, stats }, WriterThread(handle))
    }

    /// Jobs waiting for the writer thread now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The commits' latency and batch size histograms.
    pub fn commit_stats(&self) -> &CommitStats {
        &self.stats
    }

    /// When the last commit ended (ms since the epoch), if there was one.
    pub fn last_commit_ms(&self) -> Option<u64> {
        Some(self.last_commit_ms.load(Ordering::Acquire)).filter(|&ms| ms > 0)
    }

    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (ack, done) = oneshot::channel();
        self.tx.send(job(ack)).await.map_err(|_| StoreError::failed("the store writer has stopped"))?;
        done.await.map_err(|_| StoreError::failed("the store writer has stopped"))?
    }

    /// `Err` (`Unavailable`) while the store is down: what would be written
    /// now is refused. A change that must be recorded asks before it is applied.
    pub fn writable(&self) -> Result<(), StoreError> {
        if self.availability.available() {
            return Ok(());
        }
        Err(self.availability.down_error())
    }

    /// Tells the thread that the store is available again (the reopener),
    /// so that it commits what it kept; if its queue is full it has jobs
    /// to wake it anyway.
    pub(crate) fn resume(&self) {
        let _ = self.tx.try_send(Job::Resume);
    }

    /// Stops the writer thread once every job queued before this one is
    /// written, whoever still holds a handle (later jobs get an error).
    pub async fn shutdown(&self) {
        let _ = self.tx.send(Job::Shutdown).await;
    }

    /// Appends events; returns once they are durable.
    pub async fn append_events(&self, events: Vec<StoredEvent>) -> Result<(), StoreError> {
        self.submit(|ack| Job::Flush { journal: Vec::new(), events, next_seq: None, ack }).await
    }

    /// Appends an overlay op; returns its index once durable.
    pub async fn append_overlay(&self, swarm: &str, op: Vec<u8>) -> Result<u64, StoreError> {
        self.submit(|ack| Job::Overlay(swarm.to_string(), op, ack)).await
    }

    /// Clears a swarm's overlay; returns once durable.
    pub async fn clear_overlay(&self, swarm: &str) -> Result<(), StoreError> {
        self.submit(|ack| Job::ClearOverlay(swarm.to_string(), ack)).await
    }

    /// Replaces a swarm's seed and empties its overlay, in one transaction.
    pub async fn reseed(&self, record: SwarmRecord) -> Result<(), StoreError> {
        self.submit(|ack| Job::Reseed(record, ack)).await
    }

    /// For the flusher thread (never from an async task): commits the task
    /// book's journal entries and then `events` (with `next_seq`) in one
    /// transaction and returns once it is durable; each put's and barrier's
    /// sender learns it too. Waits while the writer's queue is full. If the
    /// store is unavailable, the journal is kept (written first with the next
    /// flush once the store is back) and the error returned: the caller keeps
    /// the events and flushes them again.
    pub fn flush_blocking(
        &self,
        journal: Vec<Journaled>,
        events: Vec<StoredEvent>,
        next_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        let stopped = || StoreError::failed("the store writer has stopped");
        self.tx.blocking_send(Job::Flush { journal, events, next_seq, ack }).map_err(|_| stopped())?;
        done.blocking_recv().map_err(|_| stopped())?
    }

    /// Writes a swarm record; returns once durable.
    pub async fn put_swarm(&self, record: SwarmRecord) -> Result<(), StoreError> {
        self.submit(|ack| Job::Swarm(record, ack)).await
    }
}

fn run(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize, last_commit_ms: &AtomicU64, stats: &CommitStats) {
    // The journal kept while the store is down, oldest first.
    let mut carried = Carried::default();
    loop {
        if carried.len() >= MAX_CARRIED {
            // Full: take no job until the store is back (or the service stops).
            while !store.availability().wait_available(std::time::Duration::from_secs(1)) {
                if store.availability().stopping() {
                    break;
                }
            }
        }
        let Some(first) = rx.blocking_recv() else { break };
        let mut stop = matches!(first, Job::Shutdown);
        let mut batch = if stop { Vec::new() } else { vec![first] };
        while !stop && batch.len() < max_batch {
            match rx.try_recv() {
                Ok(Job::Shutdown) => stop = true,
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if stop && !store.availability().available() {
            // A last chance: the reopener may be about to succeed.
            store.availability().wait_available(std::time::Duration::from_millis(200));
        }
        if !batch.is_empty() || carried.len() > 0 {
            let (size, began) = (batch.len(), std::time::Instant::now());
            // At the end, a kept journal goes without a flush: none follows.
            commit(&store, batch, &mut carried, stop);
            stats.latency.observe(began.elapsed().as_secs_f64());
            stats.batch.observe(size as f64);
            last_commit_ms.store(crate::events::now_ms(), Ordering::Release);
        }
        if stop {
            break;
        }
    }
    rx.close();
    if carried.len() > 0 {
        tracing::error!(
            entries = carried.len(),
            "the store is unavailable at shutdown: task records, overlay changes and swarm records kept since it went down are not stored"
        );
    }
}

/// Applies what was kept and then a batch in one transaction: the kept
/// journal only with a flush (or at the `last` commit), so that ends kept
/// while the store was down commit with the events that report them. If the
/// transaction fails, every job of the batch gets the error (nothing of it
/// was written); if it failed because the store is unavailable, the journal
/// entries are kept in `carried` for the next try. While the store is down
/// nothing is tried: the jobs are refused and the journal kept.
fn commit(store: &Store, batch: Vec<Job>, carried: &mut Carried, last: bool) {
    enum Ack {
        Unit(oneshot::Sender<Result<(), StoreError>>),
        Index(oneshot::Sender<Result<u64, StoreError>>),
        Put(oneshot::Sender<Result<(), NotDurable>>),
    }
    let mut acks = Vec::with_capacity(batch.len());
    let mut events = Vec::new();
    let kept = std::mem::take(carried);
    // The kept ones first: their indexes are nobody's to answer.
    let kept_overlay = kept.overlay.len();
    let (mut overlay, mut swarms) = (kept.overlay, kept.swarms);
    let kept_swarms = swarms.len();
    let mut clears = Vec::new();
    let mut journal: Vec<Journaled> = Vec::new();
    let (mut flushes, mut next_seq) = (0usize, None::<u64>);
    for job in batch {
        match job {
            Job::Overlay(swarm, op, ack) => {
                overlay.push((swarm, op, None));
                acks.push(Ack::Index(ack));
            }
            Job::Swarm(r, ack) => {
                swarms.push(r);
                acks.push(Ack::Unit(ack));
            }
            Job::Shutdown | Job::Resume => {}
            Job::Flush { journal: mut j, events: mut e, next_seq: n, ack } => {
                flushes += 1;
                events.append(&mut e);
                next_seq = next_seq.max(n);
                acks.push(Ack::Unit(ack));
                for entry in &mut j {
                    match entry {
                        Journaled::Put(_, ack) => {
                            if let Some(ack) = ack.take() {
                                acks.push(Ack::Put(ack));
                            }
                        }
                        Journaled::Barrier(ack) => {
                            let (stub, _) = oneshot::channel();
                            acks.push(Ack::Put(std::mem::replace(ack, stub)));
                        }
                        Journaled::Change(..) => {}
                    }
                }
                journal.append(&mut j);
            }
            Job::Reseed(r, ack) => {
                clears.push(r.name.clone());
                swarms.push(r);
                acks.push(Ack::Unit(ack));
            }
            Job::ClearOverlay(swarm, ack) => {
                // Clears apply before this batch's appends: a clear is only
                // submitted before a (re)started swarm's first change.
                clears.push(swarm);
                acks.push(Ack::Unit(ack));
            }
        }
    }
    // The kept journal goes with a flush only: the ends in it and the
    // events that report them (which the flusher kept) commit together.
    let waiting = if flushes > 0 || last {
        journal.splice(0..0, kept.journal);
        Vec::new()
    } else {
        kept.journal
    };
    let generation = store.generation();
    let result = (|| -> Result<Vec<u64>, StoreError> {
        let tx = store.begin_write()?;
        for r in &swarms {
            put_swarm(&tx, r)?;
        }
        for swarm in &clears {
            clear_op(&tx, swarm)?;
        }
        super::tasks::apply(&tx, &journal)?;
        let mut indexes = Vec::with_capacity(overlay.len());
        for (swarm, op, at) in overlay.iter_mut() {
            let index = match *at {
                Some(i) => {
                    put_op_at(&tx, swarm, i, op)?;
                    i
                }
                None => append_op(&tx, swarm, op)?,
            };
            *at = Some(index);
            indexes.push(index);
        }
        append(&tx, &events)?;
        if let Some(next) = next_seq {
            super::events::advance_next_seq(&tx, next)?;
        }
        tx.commit().map_err(StoreError::db)?;
        Ok(indexes)
    })();
    match &result {
        Err(e) if e.is_unavailable() => {
            store.failed(generation, e);
            // Clears and reseeds were asked for before anything was applied: dropped.
            let records = swarms.into_iter().enumerate();
            let records = records.filter(|(i, r)| *i < kept_swarms || !clears.contains(&r.name)).map(|(_, r)| r);
            let mut journal = journal;
            journal.splice(0..0, waiting);
            *carried = Carried { journal, overlay, swarms: records.collect() };
            if carried.len() >= MAX_CARRIED {
                tracing::warn!(entries = carried.len(), "the store is unavailable: its writer waits for it");
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "store commit failed");
            carried.journal = waiting;
        }
        Ok(_) => carried.journal = waiting,
    }
    let mut indexes = result.as_ref().map(|v| v.clone().into_iter().skip(kept_overlay)).map_err(Clone::clone);
    for a in acks {
        match a {
            Ack::Unit(s) => {
                let _ = s.send(result.as_ref().map(|_| ()).map_err(Clone::clone));
            }
            Ack::Put(s) => {
                let _ = s.send(result.as_ref().map(|_| ()).map_err(|e| match e.kind {
                    StoreErrorKind::Unavailable => NotDurable::StoreUnavailable(e.message.clone()),
                    StoreErrorKind::Failed => NotDurable::Failed(e.message.clone()),
                }));
            }
            Ack::Index(s) => {
                let r = match &mut indexes {
                    Ok(it) => Ok(it.next().unwrap_or(0)),
                    Err(e) => Err(e.clone()),
                };
                let _ = s.send(r);
            }
        }
    }
}
