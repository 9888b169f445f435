//! The tasks table: one [`TaskRecord`] per task, keyed by its id. The
//! records are written from the task book's journal ([`Journaled`]), in the
//! order the book saw them: a new task's record first, then each change of
//! its lifecycle, read, applied and written back in the writer's
//! transaction. The store records what the task model says; it derives
//! nothing from events.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::{Store, StoreError, TASKS};
use crate::task::{Journaled, TaskFilter, TaskOrder, TaskRecord, TaskStatus};

fn encode(r: &TaskRecord) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(r).map_err(|e| StoreError::failed(format!("encode task: {e}")))
}

fn decode(b: &[u8]) -> Result<TaskRecord, StoreError> {
    rmp_serde::from_slice(b).map_err(|e| StoreError::failed(format!("decode task: {e}")))
}

/// The swarm of an encoded task record (None if it does not decode).
pub(super) fn swarm_of(b: &[u8]) -> Option<String> {
    decode(b).ok().map(|r| r.swarm)
}

pub(super) fn put(tx: &WriteTransaction, r: &TaskRecord) -> Result<(), StoreError> {
    super::schedules::fired(tx, r)?;
    tx.open_table(TASKS)
        .map_err(StoreError::db)?
        .insert(r.id.as_str(), encode(r)?.as_slice())
        .map_err(StoreError::db)?;
    Ok(())
}

/// Applies the book's journal entries of a batch, in order. Each record
/// is read and written once per batch, however many entries it has; a
/// change of an unknown task (pruned, or purged with its swarm) is skipped.
pub(super) fn apply(tx: &WriteTransaction, batch: &[Journaled]) -> Result<(), StoreError> {
    let mut t = tx.open_table(TASKS).map_err(StoreError::db)?;
    // Each touched task once; `None` = not a recorded task.
    let mut touched: HashMap<&str, Option<TaskRecord>> = HashMap::new();
    for j in batch {
        match j {
            Journaled::Put(r, _) => {
                super::schedules::fired(tx, r)?;
                touched.insert(r.id.as_str(), Some((**r).clone()));
            }
            Journaled::Change(id, change, at) => {
                let r = match touched.entry(id) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => {
                        v.insert(t.get(&**id).map_err(StoreError::db)?.map(|raw| decode(raw.value())).transpose()?)
                    }
                };
                if let Some(r) = r.as_mut() {
                    r.apply(change, *at);
                }
            }
            Journaled::Barrier(_) => {}
        }
    }
    for (id, r) in touched.into_iter().filter_map(|(id, r)| Some((id, r?))) {
        t.insert(id, encode(&r)?.as_slice()).map_err(StoreError::db)?;
    }
    Ok(())
}

impl Store {
    /// Writes a task record (durably).
    pub fn put_task(&self, r: &TaskRecord) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        put(&tx, r)?;
        tx.commit().map_err(StoreError::db)
    }

    /// One task.
    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(TASKS).map_err(StoreError::db)?;
        t.get(id).map_err(StoreError::db)?.map(|v| decode(v.value())).transpose()
    }

    /// Every task whose status is in `statuses` (all if empty), oldest first.
    pub fn tasks(&self, statuses: &[TaskStatus]) -> Result<Vec<TaskRecord>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(TASKS).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(StoreError::db)? {
            let (_, v) = item.map_err(StoreError::db)?;
            let r = decode(v.value())?;
            if statuses.is_empty() || statuses.contains(&r.status) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// One page of the tasks `filter` shows, in `order`: at most `limit`
    /// after skipping `offset`, with how many match in all. In creation
    /// order (the key's) only the page is kept in memory, and with no
    /// filter the skipped records are not even decoded; another order
    /// holds the matching records to sort them (the table is bounded by
    /// the pruner).
    pub fn tasks_page(
        &self,
        filter: &TaskFilter,
        order: TaskOrder,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<TaskRecord>, usize), StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(TASKS).map_err(StoreError::db)?;
        let mut out = Vec::new();
        if !order.is_by_id() {
            for item in t.iter().map_err(StoreError::db)? {
                let r = decode(item.map_err(StoreError::db)?.1.value())?;
                if filter.matches(&r) {
                    out.push(r);
                }
            }
            out.sort_unstable_by(|a, b| order.compare(a, b));
            let total = out.len();
            return Ok((out.into_iter().skip(offset).take(limit).collect(), total));
        }
        let rows = t.iter().map_err(StoreError::db)?;
        let rows: Box<dyn Iterator<Item = _>> = if order.descending { Box::new(rows.rev()) } else { Box::new(rows) };
        if filter.is_empty() {
            let total = t.len().map_err(StoreError::db)? as usize;
            for item in rows.skip(offset).take(limit) {
                out.push(decode(item.map_err(StoreError::db)?.1.value())?);
            }
            return Ok((out, total));
        }
        let mut total = 0;
        for item in rows {
            let r = decode(item.map_err(StoreError::db)?.1.value())?;
            if filter.matches(&r) {
                if total >= offset && out.len() < limit {
                    out.push(r);
                }
                total += 1;
            }
        }
        Ok((out, total))
    }

    /// Deletes ended tasks: those last changed before `min_updated_ms`, and
    /// the oldest beyond the newest `max_ended` ended ones. Queued and running
    /// tasks are never deleted. Returns how many went.
    pub fn prune_tasks(&self, min_updated_ms: u64, max_ended: u64) -> Result<usize, StoreError> {
        let tx = self.begin_write()?;
        let mut gone = Vec::new();
        {
            let t = tx.open_table(TASKS).map_err(StoreError::db)?;
            let ended = |item: Result<(redb::AccessGuard<&str>, redb::AccessGuard<&[u8]>), redb::StorageError>| {
                let (k, v) = item.map_err(StoreError::db)?;
                Ok::<_, StoreError>(
                    decode(v.value()).ok().filter(TaskRecord::is_final).map(|r| (k.value().to_string(), r)),
                )
            };
            // Counted only when the table could be over the bound.
            let mut excess = 0;
            if t.len().map_err(StoreError::db)? > max_ended {
                let mut n = 0u64;
                for item in t.iter().map_err(StoreError::db)? {
                    n += u64::from(ended(item)?.is_some());
                }
                excess = n.saturating_sub(max_ended);
            }
            // Oldest first: ids are time-ordered.
            for item in t.iter().map_err(StoreError::db)? {
                let Some((k, r)) = ended(item)? else { continue };
                if excess > 0 {
                    excess -= 1;
                    gone.push(k);
                } else if r.updated_ms < min_updated_ms {
                    gone.push(k);
                }
            }
        }
        let mut t = tx.open_table(TASKS).map_err(StoreError::db)?;
        for k in &gone {
            t.remove(k.as_str()).map_err(StoreError::db)?;
        }
        drop(t);
        tx.commit().map_err(StoreError::db)?;
        Ok(gone.len())
    }
}
