//! The tasks table: one record per task sent to a swarm agent, written
//! durably before the task is queued; its status follows the task's events
//! (updated by the flusher in the same transaction as those events).

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, TASKS};
use crate::events::{Event, EventKind, OutputKind};

/// A task as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskRecord {
    /// Task id (time-ordered: ids sort by creation).
    pub id: String,
    /// Swarm of the target agent.
    pub swarm: String,
    /// Target agent.
    pub target: String,
    /// What to do.
    pub content: String,
    /// Who sent it.
    pub from: String,
    /// `queued`, `in_progress`, `ok`, `error` or `cancelled`.
    pub status: String,
    /// Times it was started.
    pub attempts: u32,
    /// Created (ms since the epoch).
    pub created_ms: u64,
    /// Last change (ms since the epoch).
    pub updated_ms: u64,
    /// The result, when `ok`.
    pub result: Option<String>,
    /// The error code and message, when `error`.
    pub error: Option<String>,
    /// Dispatched tasks: priority (1 highest).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Dispatched tasks: capabilities the worker needs.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Dispatched tasks: model override.
    #[serde(default)]
    pub model: Option<String>,
    /// Dispatched tasks: extra context.
    #[serde(default)]
    pub context: Option<String>,
}

impl TaskRecord {
    /// A new task's record: `queued`, created now.
    pub fn queued(id: &str, swarm: &str, target: &str, content: &str, from: &str) -> Self {
        let now = crate::events::now_ms();
        Self {
            id: id.into(),
            swarm: swarm.into(),
            target: target.into(),
            content: content.into(),
            from: from.into(),
            status: "queued".into(),
            attempts: 0,
            created_ms: now,
            updated_ms: now,
            result: None,
            error: None,
            priority: None,
            capabilities: Vec::new(),
            model: None,
            context: None,
        }
    }

    /// Whether the task has ended.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "ok" | "error" | "cancelled")
    }
}

fn encode(r: &TaskRecord) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(r).map_err(|e| StoreError(format!("encode task: {e}")))
}

fn decode(b: &[u8]) -> Result<TaskRecord, StoreError> {
    rmp_serde::from_slice(b).map_err(|e| StoreError(format!("decode task: {e}")))
}

/// The swarm of an encoded task record (None if it does not decode).
pub(super) fn swarm_of(b: &[u8]) -> Option<String> {
    decode(b).ok().map(|r| r.swarm)
}

pub(super) fn put(tx: &WriteTransaction, r: &TaskRecord) -> Result<(), StoreError> {
    tx.open_table(TASKS)
        .map_err(StoreError::db)?
        .insert(r.id.as_str(), encode(r)?.as_slice())
        .map_err(StoreError::db)?;
    Ok(())
}

/// Applies the task events of a batch to the recorded tasks (unknown ids
/// are not recorded tasks and are skipped). Each task is read and written
/// once per batch, however many of its events the batch holds.
pub(super) fn follow(tx: &WriteTransaction, events: &[std::sync::Arc<Event>]) -> Result<(), StoreError> {
    let mut t = tx.open_table(TASKS).map_err(StoreError::db)?;
    // Each touched task once; `None` = not a recorded task.
    let mut touched: std::collections::HashMap<&str, Option<TaskRecord>> = std::collections::HashMap::new();
    for e in events {
        let id: &str = match &e.kind {
            EventKind::TaskStarted { task_id }
            | EventKind::TaskCompleted { task_id }
            | EventKind::TaskFailed { task_id, .. }
            | EventKind::TaskCancelled { task_id }
            | EventKind::TaskRequeued { task_id, .. }
            | EventKind::AgentOutput { task_id: Some(task_id), output: OutputKind::Result, .. } => task_id,
            _ => continue,
        };
        let r = match touched.entry(id) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(t.get(id).map_err(StoreError::db)?.map(|raw| decode(raw.value())).transpose()?)
            }
        };
        let Some(r) = r.as_mut() else { continue };
        match &e.kind {
            EventKind::TaskStarted { .. } => {
                r.status = "in_progress".into();
                r.attempts += 1;
            }
            EventKind::AgentOutput { content, .. } => r.result = Some(content.clone()),
            EventKind::TaskCompleted { .. } => r.status = "ok".into(),
            EventKind::TaskFailed { code, message, .. } => {
                r.status = "error".into();
                r.error = Some(format!("{code}: {message}"));
            }
            EventKind::TaskCancelled { .. } => r.status = "cancelled".into(),
            EventKind::TaskRequeued { .. } => r.status = "queued".into(),
            _ => {}
        }
        r.updated_ms = e.timestamp_ms;
    }
    for (id, r) in touched.into_iter().filter_map(|(id, r)| Some((id, r?))) {
        t.insert(id, encode(&r)?.as_slice()).map_err(StoreError::db)?;
    }
    Ok(())
}

impl Store {
    /// Writes a task record (durably).
    pub fn put_task(&self, r: &TaskRecord) -> Result<(), StoreError> {
        let tx = self.db().begin_write().map_err(StoreError::db)?;
        put(&tx, r)?;
        tx.commit().map_err(StoreError::db)
    }

    /// One task.
    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>, StoreError> {
        let tx = self.db().begin_read().map_err(StoreError::db)?;
        let t = tx.open_table(TASKS).map_err(StoreError::db)?;
        t.get(id).map_err(StoreError::db)?.map(|v| decode(v.value())).transpose()
    }

    /// Every task whose status is in `statuses` (all if empty), oldest first.
    pub fn tasks(&self, statuses: &[&str]) -> Result<Vec<TaskRecord>, StoreError> {
        let tx = self.db().begin_read().map_err(StoreError::db)?;
        let t = tx.open_table(TASKS).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(StoreError::db)? {
            let (_, v) = item.map_err(StoreError::db)?;
            let r = decode(v.value())?;
            if statuses.is_empty() || statuses.contains(&r.status.as_str()) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// One page of the tasks whose status is in `statuses` (all if empty),
    /// newest first: at most `limit` after skipping `offset`, with how many
    /// match in all. Only the page is kept in memory; with no status filter
    /// the skipped records are not even decoded.
    pub fn tasks_page(
        &self,
        statuses: &[&str],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<TaskRecord>, usize), StoreError> {
        let tx = self.db().begin_read().map_err(StoreError::db)?;
        let t = tx.open_table(TASKS).map_err(StoreError::db)?;
        let mut out = Vec::new();
        if statuses.is_empty() {
            let total = t.len().map_err(StoreError::db)? as usize;
            for item in t.iter().map_err(StoreError::db)?.rev().skip(offset).take(limit) {
                out.push(decode(item.map_err(StoreError::db)?.1.value())?);
            }
            return Ok((out, total));
        }
        let mut total = 0;
        for item in t.iter().map_err(StoreError::db)?.rev() {
            let r = decode(item.map_err(StoreError::db)?.1.value())?;
            if statuses.contains(&r.status.as_str()) {
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
        let tx = self.db().begin_write().map_err(StoreError::db)?;
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
