//! The event flusher: the thread between a durable event bus, the task
//! book's journal and the store. Each round it takes, under the book's lock,
//! every journal entry waiting and every pending event
//! (`TaskBook::drain_journal_and`), has the writer commit them (and the next
//! sequence number) in one transaction, and only then publishes the events
//! to the bus, in order. Token events are published in order too but not
//! stored (a task's result is).
//!
//! Guarantees:
//! * a task's end and the events that report it (`TaskBook::end_then`)
//!   are committed in one transaction: a crash keeps both or neither, so a
//!   restart never ends a task whose end is stored (the bug
//!   `a_crash_between_a_task_end_and_its_event_never_stores_one_without_the_other`);
//!   any other change of a task is committed no later than its event;
//! * no event is published uncommitted.
//!
//! While the store is unavailable (the disk failed; see `avail.rs`) the
//! flusher keeps its events and tries again every 50 ms (at once when the
//! store comes back), each time with the journal entries and events that
//! arrived since: the writer refuses the journal's acknowledgements at once
//! (a task that waits for its record gets its error without waiting for the
//! disk) and keeps the entries, written first with the next flush. The
//! events are written after the recovery, then published, with their
//! numbers — none is lost and none is published uncommitted. Producers wait
//! for room as under any slow disk (backpressure, `MAX_PENDING`). Only a
//! shutdown while the store is still down drops them, with an error log
//! naming their range: they were never published, so no reader saw them.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Availability, StoredEvent, Writer};
use crate::events::{Event, EventBus, EventKind, OutputKind};
use crate::task::{Journaled, TaskBook};

/// Whether an event is published without being stored (streamed tokens).
pub fn is_ephemeral(e: &Event) -> bool {
    matches!(e.kind, EventKind::AgentOutput { output: OutputKind::Token, .. })
}

/// How often a flush is tried again while the store is down.
const RETRY: Duration = Duration::from_millis(50);

/// The flusher thread.
pub struct Flusher(JoinHandle<()>);

impl Flusher {
    /// Starts flushing `bus` (created with [`EventBus::durable`]) and the
    /// journal of `book` through `writer`. The book wakes the flusher
    /// through the bus when its journal has entries.
    pub fn start(bus: EventBus, book: TaskBook, writer: Writer, availability: Availability) -> Self {
        let nudge = bus.clone();
        book.set_journal_reader(move || nudge.nudge());
        let handle = std::thread::Builder::new()
            .name("hive-event-flusher".into())
            .spawn(move || run(&bus, &book, &writer, &availability))
            .expect("spawn the event flusher thread");
        Self(handle)
    }

    /// Waits until the bus and the book are closed and everything they
    /// held is stored (or, with the store down at shutdown, dropped).
    pub fn join(self) {
        let _ = self.0.join();
    }
}

fn run(bus: &EventBus, book: &TaskBook, writer: &Writer, availability: &Availability) {
    loop {
        let more = bus.wait_work();
        let (journal, batch) = book.drain_journal_and(|| bus.take_now());
        if !journal.is_empty() || !batch.is_empty() {
            flush(bus, book, writer, availability, journal, batch);
        }
        // Closed and drained: the book is closed first (the shutdown's
        // order), so this last drain took what it held.
        if !more {
            return;
        }
    }
}

/// Commits `journal` and `batch` (retrying, with what arrives meanwhile,
/// while the store is down), then publishes the events.
fn flush(
    bus: &EventBus,
    book: &TaskBook,
    writer: &Writer,
    availability: &Availability,
    mut journal: Vec<Journaled>,
    mut batch: Vec<Arc<Event>>,
) {
    let mut delay = Duration::from_millis(10);
    loop {
        // Converted anew for a retry (rare): the happy path converts once.
        let stored: Vec<StoredEvent> =
            batch.iter().filter(|e| !is_ephemeral(e)).map(|e| StoredEvent::from(&**e)).collect();
        let next = batch.last().map(|e| e.seq + 1);
        let Err(e) = writer.flush_blocking(std::mem::take(&mut journal), stored, next) else { break };
        if availability.stopping() {
            let (first, last) = (batch.first().map_or(0, |e| e.seq), next.map_or(0, |n| n - 1));
            tracing::error!(error = %e, first, last, "the store is unavailable at shutdown: these events are not stored");
            return; // never published: nobody saw them
        }
        if e.is_unavailable() {
            availability.wait_available(RETRY);
        } else {
            tracing::error!(error = %e, "storing events failed; retrying");
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        // What arrived meanwhile goes with the retry, taken the same way.
        let (j, more) = book.drain_journal_and(|| bus.take_now());
        journal = j;
        batch.extend(more);
    }
    bus.publish(batch);
}
