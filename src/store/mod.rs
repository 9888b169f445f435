//! The durable store: one redb file that holds the event log, the swarm
//! registry, each swarm's overlay (the ordered log of runtime changes) and
//! the tasks table, schedules and their runs; [`StoreService`] runs the threads that keep it.
//!
//! Guarantees:
//! * a write returns only after its transaction is committed with
//!   `Durability::Immediate` (fsync): what was acknowledged survives a crash;
//! * [`Writer`] commits many writes in one transaction (group commit) and
//!   acknowledges them together, in submission order;
//! * a file that is not a readable redb database is reported with a clear
//!   error at open and is never written to or replaced;
//! * event sequence numbers read back strictly increasing; the highest one
//!   is recovered at open, so numbers never repeat after a restart.
//! * a failing disk makes the store unavailable, not the daemon: every call
//!   answers an `Unavailable` error at once while the service reopens the
//!   file (`avail.rs`), and writing resumes once it works, without a restart;
//! * a file on which redb panics at open is refused like a damaged one.

mod avail;
mod events;
#[cfg(feature = "fault-injection")]
mod fault;
mod flusher;
mod overlay;
mod schedules;
mod service;
mod tasks;
mod writer;

use std::path::Path;
use std::sync::Arc;

use redb::{Database, TableDefinition};

use crate::error::HiveError;

pub use crate::task::TaskRecord;
pub use avail::{Availability, Outage};
pub use events::{EventQuery, StoredEvent};
#[cfg(feature = "fault-injection")]
pub use fault::{DiskFaults, Fault, FaultyBackend};
pub use flusher::{Flusher, is_ephemeral};
pub use overlay::SwarmRecord;
pub use service::{Retention, StoreService};
pub use writer::{CommitStats, Writer, WriterOptions, WriterThread};

/// File name of the store inside the data directory.
pub const FILE_NAME: &str = "hive.redb";

pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
pub(crate) const EVENTS_BY_SWARM: TableDefinition<(&str, u64), ()> = TableDefinition::new("events_by_swarm");
pub(crate) const EVENTS_BY_AGENT: TableDefinition<(&str, &str, u64), ()> = TableDefinition::new("events_by_agent");
pub(crate) const SWARMS: TableDefinition<&str, &[u8]> = TableDefinition::new("swarms");
pub(crate) const OVERLAY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("overlay");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
pub(crate) const SCHEDULES: TableDefinition<&str, &[u8]> = TableDefinition::new("schedules");
pub(crate) const SCHEDULE_RUNS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("schedule_runs");

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// The store cannot be used now: the disk failed (an I/O error), and the
    /// store is reopening its file. Retrying later can succeed.
    Unavailable,
    /// Anything else (a value that does not encode, a damaged record, ...).
    Failed,
}

/// A store error, with a message meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// Its kind.
    pub kind: StoreErrorKind,
    /// What happened, for people.
    pub message: String,
}

impl StoreError {
    /// A failure that is not the disk's.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { kind: StoreErrorKind::Failed, message: message.into() }
    }

    /// The store is unavailable (the disk failed).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { kind: StoreErrorKind::Unavailable, message: message.into() }
    }

    /// A redb error: an I/O error (or redb's refusal after one) means the
    /// store is unavailable; anything else is a failure.
    pub(crate) fn db(e: impl Into<redb::Error>) -> Self {
        let e: redb::Error = e.into();
        match e {
            redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                Self::unavailable(format!("store: the disk failed: {e}"))
            }
            other => Self::failed(format!("store: {other}")),
        }
    }

    /// Whether the store is unavailable (retrying later can succeed).
    pub fn is_unavailable(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }

    /// The runtime's error for it, in its own words (as [`Self::to_hive`]).
    pub fn into_hive(self) -> HiveError {
        match self.kind {
            StoreErrorKind::Unavailable => HiveError::StorageUnavailable(self.message),
            StoreErrorKind::Failed => HiveError::Unavailable(self.message),
        }
    }

    /// The runtime's error for it, with what could not be done: 503
    /// `HIVE_STORAGE_UNAVAILABLE` while the disk fails, else `HIVE_UNAVAILABLE`.
    pub fn to_hive(&self, context: &str) -> HiveError {
        match self.kind {
            StoreErrorKind::Unavailable => HiveError::StorageUnavailable(format!("{context}: {}", self.message)),
            StoreErrorKind::Failed => HiveError::Unavailable(format!("{context}: {}", self.message)),
        }
    }
}

#[cfg(feature = "fault-injection")]
type Faults = Option<DiskFaults>;
#[cfg(not(feature = "fault-injection"))]
type Faults = ();

/// Opens the redb file at `path` (through the faulty backend when a test
/// injects faults). A damaged file on which redb panics instead of
/// answering an error (pages zeroed inside its layout: redb trusts a
/// cleanly closed file's allocator state and reaches an `unreachable!`) is
/// a `Corrupted` error: the start is refused, clearly, rather than crashing.
fn open_file(path: &Path, faults: &Faults) -> Result<Database, redb::DatabaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open_file_unguarded(path, faults))).unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "redb panicked".into());
        Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(format!(
            "the file is damaged (reading it failed: {why})"
        ))))
    })
}

/// The most memory redb's page cache holds. Its default (1 GiB) let a
/// daemon's RSS grow with its data file: 15 MiB a minute under `hive bench
/// soak`, which found it; its RSS check (a run of 5 minutes or more) holds
/// this bound, since a memory figure is a benchmark's, not a test's. 64 MiB
/// took the soak's daemon (its data file growing ~50 MB a minute) two
/// minutes to fill, past the check's first minute; 32 MiB fills in the
/// first.
pub const CACHE_BYTES: usize = 32 << 20;

fn open_file_unguarded(path: &Path, faults: &Faults) -> Result<Database, redb::DatabaseError> {
    let mut builder = redb::Builder::new();
    builder.set_cache_size(CACHE_BYTES);
    #[cfg(feature = "fault-injection")]
    if let Some(f) = faults {
        let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        return builder.create_with_backend(FaultyBackend::new(file, f.clone())?);
    }
    let _ = faults;
    builder.create(path)
}

/// The open store. Cheap to clone (clones share the file, and its reopening
/// after a disk failure); reads may run concurrently with the writer.
#[derive(Clone)]
pub struct Store {
    shared: Arc<avail::Shared>,
}

impl Store {
    /// Opens (or creates) `dir/hive.redb`. A file that is not a redb
    /// database, or is damaged, is a clear error and is left untouched.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, Faults::default())
    }

    /// [`Store::open`] with injected disk faults (tests: feature `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub fn open_faulty(dir: &Path, faults: DiskFaults) -> Result<Self, StoreError> {
        Self::open_with(dir, Some(faults))
    }

    fn open_with(dir: &Path, faults: Faults) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::failed(format!("cannot create the data directory '{}': {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = open_file(&path, &faults).map_err(|e| {
            let why = match e {
                redb::DatabaseError::DatabaseAlreadyOpen => "another process has it open".to_string(),
                other => other.to_string(),
            };
            StoreError::failed(format!(
                "cannot open the data file '{}': {why}. It was not modified; move it away or point --data-dir elsewhere",
                path.display()
            ))
        })?;
        let store = Self { shared: Arc::new(avail::Shared::new(db, path, faults)) };
        store.init()?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        tx.open_table(EVENTS).map_err(StoreError::db)?;
        tx.open_table(EVENTS_BY_SWARM).map_err(StoreError::db)?;
        tx.open_table(EVENTS_BY_AGENT).map_err(StoreError::db)?;
        tx.open_table(SWARMS).map_err(StoreError::db)?;
        tx.open_table(OVERLAY).map_err(StoreError::db)?;
        tx.open_table(META).map_err(StoreError::db)?;
        tx.open_table(TASKS).map_err(StoreError::db)?;
        tx.open_table(SCHEDULES).map_err(StoreError::db)?;
        tx.open_table(SCHEDULE_RUNS).map_err(StoreError::db)?;
        tx.commit().map_err(StoreError::db)
    }

    /// The first sequence number not used yet: one past every number ever
    /// handed out, stored or not (events that are not stored, such as
    /// tokens, still advance it).
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        let tx = self.begin_read()?;
        let meta = tx.open_table(META).map_err(StoreError::db)?;
        let recorded = meta.get("next_seq").map_err(StoreError::db)?.map(|v| v.value()).unwrap_or(1);
        drop(meta);
        drop(tx);
        Ok(recorded.max(self.last_seq()? + 1))
    }

    /// The highest event sequence number stored (0 when none).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(EVENTS).map_err(StoreError::db)?;
        Ok(redb::ReadableTable::last(&t).map_err(StoreError::db)?.map(|(k, _)| k.value()).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;

#[cfg(all(test, feature = "fault-injection"))]
mod fault_tests;
