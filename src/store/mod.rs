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

mod events;
mod flusher;
mod overlay;
mod schedules;
mod service;
mod tasks;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};

pub use crate::task::TaskRecord;
pub use events::{EventQuery, StoredEvent};
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

/// A store error, with a message meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

impl StoreError {
    pub(crate) fn db(e: impl std::fmt::Display) -> Self {
        Self(format!("store: {e}"))
    }
}

/// The open store. Cheap to clone; reads may run concurrently with the writer.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) `dir/hive.redb`. A file that is not a redb
    /// database, or is damaged, is a clear error and is left untouched.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError(format!("cannot create the data directory '{}': {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|e| {
            let why = match e {
                redb::DatabaseError::DatabaseAlreadyOpen => "another process has it open".to_string(),
                other => other.to_string(),
            };
            StoreError(format!(
                "cannot open the data file '{}': {why}. It was not modified; move it away or point --data-dir elsewhere",
                path.display()
            ))
        })?;
        let store = Self { db: Arc::new(db), path };
        store.init()?;
        Ok(store)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(StoreError::db)?;
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

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// The first sequence number not used yet: one past every number ever
    /// handed out, stored or not (events that are not stored, such as
    /// tokens, still advance it).
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(StoreError::db)?;
        let meta = tx.open_table(META).map_err(StoreError::db)?;
        let recorded = meta.get("next_seq").map_err(StoreError::db)?.map(|v| v.value()).unwrap_or(1);
        drop(meta);
        drop(tx);
        Ok(recorded.max(self.last_seq()? + 1))
    }

    /// The highest event sequence number stored (0 when none).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(StoreError::db)?;
        let t = tx.open_table(EVENTS).map_err(StoreError::db)?;
        Ok(redb::ReadableTable::last(&t).map_err(StoreError::db)?.map(|(k, _)| k.value()).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;
