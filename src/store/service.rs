//! The store at work: the threads that keep it, started together
//! and shut down together, in the one order that loses nothing.
//!
//! * the writer thread (group commit of every write);
//! * the event flusher thread (the task book's journal and the durable
//!   events, committed together through the writer, then publication; a
//!   task's end and its events go in one transaction, see `flusher.rs`);
//! * the pruner thread (retention of events and ended tasks);
//! * the reopener thread: when the disk fails, the store is unavailable
//!   (`avail.rs`) and this thread opens its file again, with a backoff
//!   from 50 ms doubling to at most 2 s, until it works, then wakes the
//!   writer to commit what it kept (the flusher retries by itself).
//!
//! [`StoreService::shutdown`] closes the book and the bus, waits until the
//! flusher has had everything they held committed, then stops the writer
//! and joins every thread. A shutdown while the store is down drops what
//! could not be stored (the writer's last batch gives the reopener 200 ms
//! more), with an error log that counts it.

use std::sync::Mutex;
use std::time::Duration;

use super::{Flusher, Store, Writer, WriterThread};
use crate::events::EventBus;
use crate::task::TaskBook;

/// Retention of stored events and ended tasks: the newest `max_events`
/// events and `max_tasks` ended tasks, none older than `max_age`, pruned
/// every `interval` in the background (tasks still queued or running are
/// always kept).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most events kept (default 1 000 000).
    pub max_events: u64,
    /// Most ended tasks kept (default 1 000 000).
    pub max_tasks: u64,
    /// Oldest event kept (default 7 days).
    pub max_age: Duration,
    /// How often the pruner runs (default 60 s).
    pub interval: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_events: 1_000_000,
            max_tasks: 1_000_000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            interval: Duration::from_secs(60),
        }
    }
}

/// The running store.
pub struct StoreService {
    /// Taken at shutdown, so the data file closes even while the service is
    /// still shared.
    store: Mutex<Option<Store>>,
    writer: Writer,
    /// Taken by the first shutdown.
    threads: Mutex<Option<Threads>>,
}

struct Threads {
    writer: WriterThread,
    flusher: Flusher,
    pruner: (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>),
    reopener: std::thread::JoinHandle<()>,
}

impl StoreService {
    /// Starts the writer, the flusher of `bus` (a durable bus) and of the
    /// journal of `book`, the pruner and the reopener.
    pub fn start(store: Store, bus: &EventBus, book: &TaskBook, retention: Retention) -> Self {
        let (writer, writer_thread) = Writer::start(store.clone(), Default::default());
        let availability = store.availability().clone();
        let threads = Threads {
            writer: writer_thread,
            flusher: Flusher::start(bus.clone(), book.clone(), writer.clone(), availability),
            pruner: start_pruner(store.clone(), retention),
            reopener: start_reopener(store.clone(), writer.clone()),
        };
        Self { store: Mutex::new(Some(store)), writer, threads: Mutex::new(Some(threads)) }
    }

    /// The store; `None` once it has shut down.
    pub fn store(&self) -> Option<Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Stores what is left and stops every thread; calls after the first
    /// return at once. Every producer of events and tasks must have stopped.
    pub async fn shutdown(&self, bus: &EventBus, book: &TaskBook) {
        let Some(t) = self.threads.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        // Our handle goes now; the threads' handles go when they end.
        let store = self.store.lock().unwrap_or_else(|p| p.into_inner()).take();
        // A store that is down now has until the flusher's next try (and
        // the writer's last batch) to come back; after that nobody waits.
        let stopping = store.as_ref().map(|s| s.availability().clone());
        if let Some(a) = stopping.as_ref().filter(|a| !a.available()) {
            a.set_stopping();
        }
        book.close();
        bus.close();
        let flusher = t.flusher;
        if tokio::task::spawn_blocking(move || flusher.join()).await.is_err() {
            tracing::error!("the event flusher ended abnormally");
        }
        self.writer.shutdown().await;
        let _ = t.pruner.0.send(());
        let _ = tokio::task::spawn_blocking(move || {
            t.writer.join();
            // From here nothing waits for a store that is down (the
            // reopener stops).
            if let Some(a) = &stopping {
                a.set_stopping();
            }
            let _ = t.pruner.1.join();
            let _ = t.reopener.join();
        })
        .await;
    }
}

fn start_reopener(store: Store, writer: Writer) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("hive-store-reopener".into())
        .spawn(move || {
            let a = store.availability().clone();
            while a.wait_down() {
                let mut delay = Duration::from_millis(50);
                loop {
                    match store.reopen() {
                        Ok(()) => {
                            writer.resume();
                            break;
                        }
                        Err(e) => tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "the store is still unavailable"),
                    }
                    if !a.pause(delay) {
                        return;
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        })
        .expect("spawn the store reopener thread")
}

fn start_pruner(store: Store, r: Retention) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("hive-event-pruner".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(r.interval) {
                let oldest = crate::events::now_ms().saturating_sub(r.max_age.as_millis() as u64);
                while let Ok(n) = store.prune_events(r.max_events, oldest, 10_000) {
                    if n == 0 {
                        break;
                    }
                }
                let _ = store.prune_tasks(oldest, r.max_tasks);
            }
        })
        .expect("spawn the event pruner thread");
    (stop, handle)
}
