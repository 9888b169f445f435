//! The store's file handle and whether it can be used: what every clone of
//! a [`Store`] shares.
//!
//! redb refuses every operation after an I/O error (the `Database` is
//! poisoned), so a failed disk makes the store *unavailable*: the handle is
//! dropped, every call answers a [`StoreError`] of kind `Unavailable` at
//! once (no call touches a poisoned database), and the service's reopener
//! ([`Store::reopen`], driven by `service.rs`) opens the file again — redb
//! repairs it from its last commit — until it works; then the store is
//! available again, without a restart.
//!
//! Guarantees: a failure marks the store down only if it came from the
//! handle now installed (a generation number), so a late error of an old
//! handle never takes down a reopened one; a reopen installs a handle only
//! after a write transaction committed on it; [`Availability`] says when and
//! why the store went down, and wakes whoever waits for it to come back.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use redb::{Database, ReadTransaction, WriteTransaction};

use super::{Faults, Store, StoreError};

pub(super) struct Shared {
    pub(super) path: PathBuf,
    faults: Faults,
    slot: RwLock<Slot>,
    availability: Availability,
}

struct Slot {
    /// `None` while the store is unavailable.
    db: Option<Arc<Database>>,
    /// Bumped by each reopen.
    generation: u64,
}

impl Shared {
    pub(super) fn new(db: Database, path: PathBuf, faults: Faults) -> Self {
        Self {
            faults,
            availability: Availability(Arc::new(Inner {
                state: Mutex::default(),
                changed: Condvar::new(),
                path: path.display().to_string(),
            })),
            path,
            slot: RwLock::new(Slot { db: Some(Arc::new(db)), generation: 0 }),
        }
    }
}

/// Whether the store can be used, and since when it cannot; clones share
/// it. It holds no handle to the file.
#[derive(Debug, Clone)]
pub struct Availability(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
    /// The file, for messages.
    path: String,
}

#[derive(Debug, Default)]
struct State {
    down: Option<Outage>,
    /// Times the store went down since it opened.
    outages: u64,
    /// The service is shutting down: waiters stop waiting for a recovery.
    stopping: bool,
}

/// Why and since when the store is unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// When it went down (ms since the epoch).
    pub since_ms: u64,
    /// The failure that took it down.
    pub reason: String,
}

impl Availability {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the store can be used now.
    pub fn available(&self) -> bool {
        self.lock().down.is_none()
    }

    /// The current outage, if the store is down.
    pub fn outage(&self) -> Option<Outage> {
        self.lock().down.clone()
    }

    /// The error answered while the store is down: the outage's reason.
    pub fn down_error(&self) -> StoreError {
        let why = self.outage().map(|o| o.reason).unwrap_or_else(|| "the disk failed".into());
        StoreError::unavailable(format!("the store is unavailable (reopening '{}'): {why}", self.0.path))
    }

    /// Times the store went down since it opened.
    pub fn outages(&self) -> u64 {
        self.lock().outages
    }

    /// Whether the service is shutting down.
    pub fn stopping(&self) -> bool {
        self.lock().stopping
    }

    pub(super) fn set_stopping(&self) {
        self.lock().stopping = true;
        self.0.changed.notify_all();
    }

    fn go_down(&self, reason: &str) {
        let mut st = self.lock();
        if st.down.is_none() {
            st.outages += 1;
            st.down = Some(Outage { since_ms: crate::events::now_ms(), reason: reason.to_string() });
        }
        drop(st);
        self.0.changed.notify_all();
    }

    fn come_up(&self) {
        self.lock().down = None;
        self.0.changed.notify_all();
    }

    /// Waits (a blocking thread) until the store is available, the service
    /// stops, or `timeout` passes; returns whether it is available.
    pub(super) fn wait_available(&self, timeout: Duration) -> bool {
        let st = self.lock();
        let (st, _) = self
            .0
            .changed
            .wait_timeout_while(st, timeout, |s| s.down.is_some() && !s.stopping)
            .unwrap_or_else(|p| p.into_inner());
        st.down.is_none()
    }

    /// Waits (a blocking thread) until the store is down or the service
    /// stops; returns `false` when it stops.
    pub(super) fn wait_down(&self) -> bool {
        let st = self.lock();
        let st = self.0.changed.wait_while(st, |s| s.down.is_none() && !s.stopping).unwrap_or_else(|p| p.into_inner());
        !st.stopping
    }

    /// Waits (a blocking thread) for `delay`, or less if the service stops;
    /// returns `false` when it stops.
    pub(super) fn pause(&self, delay: Duration) -> bool {
        let st = self.lock();
        let (st, _) = self.0.changed.wait_timeout_while(st, delay, |s| !s.stopping).unwrap_or_else(|p| p.into_inner());
        !st.stopping
    }
}

impl Store {
    /// Whether the store is available, and why not.
    pub fn availability(&self) -> &Availability {
        &self.shared.availability
    }

    /// The handle installed now, and its generation.
    fn current(&self) -> Result<(Arc<Database>, u64), StoreError> {
        let slot = self.shared.slot.read().unwrap_or_else(|p| p.into_inner());
        match &slot.db {
            Some(db) => Ok((db.clone(), slot.generation)),
            None => Err(self.shared.availability.down_error()),
        }
    }

    /// The generation of the handle installed now (to pass to [`Self::failed`]).
    pub(crate) fn generation(&self) -> u64 {
        self.shared.slot.read().unwrap_or_else(|p| p.into_inner()).generation
    }

    /// A failure of an operation begun on generation `generation`: if it is
    /// the disk's, the store goes down (its handle is dropped) and the
    /// reopener starts.
    pub(crate) fn failed(&self, generation: u64, e: &StoreError) {
        if !e.is_unavailable() {
            return;
        }
        let mut slot = self.shared.slot.write().unwrap_or_else(|p| p.into_inner());
        if slot.generation != generation || slot.db.is_none() {
            return;
        }
        slot.db = None;
        drop(slot);
        tracing::error!(path = %self.path().display(), error = %e, "the store is unavailable: reopening its file");
        self.shared.availability.go_down(&e.message);
    }

    /// Begins a write transaction (an unavailable store, or a disk failure
    /// found here, is an `Unavailable` error).
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let (db, generation) = self.current()?;
        db.begin_write().map_err(|e| {
            let e = StoreError::db(e);
            self.failed(generation, &e);
            e
        })
    }

    /// Begins a read transaction (as [`Self::begin_write`]).
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        use redb::ReadableDatabase;
        let (db, generation) = self.current()?;
        db.begin_read().map_err(|e| {
            let e = StoreError::db(e);
            self.failed(generation, &e);
            e
        })
    }

    /// While the store is down: opens its file again (redb repairs it from
    /// its last commit) and, once a write commits on it, installs it and
    /// says the store is available. Fails while the old handle is still in
    /// use or the disk still fails; the caller retries.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        if self.shared.slot.read().unwrap_or_else(|p| p.into_inner()).db.is_some() {
            return Ok(());
        }
        let db = super::open_file(&self.shared.path, &self.shared.faults)
            .map_err(|e| StoreError::unavailable(format!("reopening the store: {e}")))?;
        // A write that commits: the disk takes data and fsyncs again.
        let tx = db.begin_write().map_err(StoreError::db)?;
        tx.open_table(super::META).map_err(StoreError::db)?;
        tx.commit().map_err(StoreError::db)?;
        let mut slot = self.shared.slot.write().unwrap_or_else(|p| p.into_inner());
        slot.db = Some(Arc::new(db));
        slot.generation += 1;
        drop(slot);
        tracing::info!(path = %self.path().display(), "the store is available again");
        self.shared.availability.come_up();
        Ok(())
    }
}
