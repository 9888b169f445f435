//! The event flusher: the thread between a durable event bus and the store.
//! It takes every pending event, commits the durable ones (and the next
//! sequence number) in one transaction, and only then publishes the whole
//! batch to the bus, in order. Token events are published in order too but
//! not stored (a task's result is).
//!
//! While the store is unavailable (the disk failed; see `avail.rs`) the
//! flusher keeps its batch and tries again each time the store comes back
//! (or every second): the events are written after the recovery, then
//! published, with their numbers — none is lost and none is published
//! uncommitted. Meanwhile new events queue behind it, and producers wait
//! for room as under any slow disk (backpressure, `MAX_PENDING`). Only a
//! shutdown while the store is still down drops them, with an error log
//! naming their range: they were never published, so no reader saw them.

use std::thread::JoinHandle;
use std::time::Duration;

use super::{Store, StoredEvent};
use crate::events::{Event, EventBus, EventKind, OutputKind};

/// Whether an event is published without being stored (streamed tokens).
pub fn is_ephemeral(e: &Event) -> bool {
    matches!(e.kind, EventKind::AgentOutput { output: OutputKind::Token, .. })
}

/// The flusher thread.
pub struct Flusher(JoinHandle<()>);

impl Flusher {
    /// Starts flushing `bus` (created with [`EventBus::durable`]) into `store`.
    pub fn start(store: Store, bus: EventBus) -> Self {
        let handle = std::thread::Builder::new()
            .name("hive-event-flusher".into())
            .spawn(move || {
                while let Some(batch) = bus.take_pending() {
                    let durable: Vec<StoredEvent> =
                        batch.iter().filter(|e| !is_ephemeral(e)).map(|e| StoredEvent::from(&**e)).collect();
                    let next = batch.last().map_or(1, |e| e.seq + 1);
                    // A failed commit is retried: publishing uncommitted events
                    // is what this thread exists to prevent.
                    let mut delay = Duration::from_millis(10);
                    let stored = loop {
                        let generation = store.generation();
                        let Err(e) = store.commit_events(&durable, next) else { break true };
                        store.failed(generation, &e);
                        let a = store.availability();
                        if a.stopping() {
                            let (first, last) = (batch.first().map_or(0, |e| e.seq), next - 1);
                            tracing::error!(error = %e, first, last, "the store is unavailable at shutdown: these events are not stored");
                            break false;
                        }
                        if e.is_unavailable() {
                            a.wait_available(Duration::from_secs(1));
                        } else {
                            tracing::error!(error = %e, "storing events failed; retrying");
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                    };
                    if stored {
                        bus.publish(batch);
                    }
                }
            })
            .expect("spawn the event flusher thread");
        Self(handle)
    }

    /// Waits until the bus is closed and every pending event is stored.
    pub fn join(self) {
        let _ = self.0.join();
    }
}
