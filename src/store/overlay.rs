//! The swarm registry (one record per swarm) and each swarm's overlay: the
//! ordered log of runtime changes, appended before a change is acknowledged
//! and replayed after the seed when the swarm is restored.

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{OVERLAY, SWARMS, Store, StoreError};

/// What the registry keeps about a swarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwarmRecord {
    /// Name.
    pub name: String,
    /// The seed config as a swarm file (TOML).
    pub seed_toml: String,
    /// `running`, `stopped` or `failed`.
    pub state: String,
    /// When it was started (ms since the epoch).
    pub started_at_ms: u64,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

pub(super) fn put_swarm(tx: &WriteTransaction, r: &SwarmRecord) -> Result<(), StoreError> {
    let bytes = rmp_serde::to_vec(r).map_err(|e| StoreError::failed(format!("encode swarm: {e}")))?;
    tx.open_table(SWARMS).map_err(StoreError::db)?.insert(r.name.as_str(), bytes.as_slice()).map_err(StoreError::db)?;
    Ok(())
}

/// Appends one op; returns its index (1, 2, ... per swarm).
pub(super) fn append_op(tx: &WriteTransaction, swarm: &str, op: &[u8]) -> Result<u64, StoreError> {
    let mut t = tx.open_table(OVERLAY).map_err(StoreError::db)?;
    let last = t
        .range((swarm, 0)..=(swarm, u64::MAX))
        .map_err(StoreError::db)?
        .next_back()
        .transpose()
        .map_err(StoreError::db)?
        .map(|(k, _)| k.value().1)
        .unwrap_or(0);
    t.insert((swarm, last + 1), op).map_err(StoreError::db)?;
    Ok(last + 1)
}

/// Writes one op at `index`, which an earlier try of the same commit gave
/// it: a commit whose fsync failed may still have reached the file, so a
/// kept op is written again at its index, never appended twice.
pub(super) fn put_op_at(tx: &WriteTransaction, swarm: &str, index: u64, op: &[u8]) -> Result<(), StoreError> {
    tx.open_table(OVERLAY).map_err(StoreError::db)?.insert((swarm, index), op).map_err(StoreError::db)?;
    Ok(())
}

pub(super) fn clear_op(tx: &WriteTransaction, swarm: &str) -> Result<(), StoreError> {
    tx.open_table(OVERLAY)
        .map_err(StoreError::db)?
        .retain_in((swarm, 0)..=(swarm, u64::MAX), |_, _| false)
        .map_err(StoreError::db)
}

impl Store {
    /// Writes a swarm's record (durably).
    pub fn put_swarm(&self, r: &SwarmRecord) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        put_swarm(&tx, r)?;
        tx.commit().map_err(StoreError::db)
    }

    /// Every swarm record, by name.
    pub fn swarms(&self) -> Result<Vec<SwarmRecord>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(SWARMS).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(StoreError::db)? {
            let (_, v) = item.map_err(StoreError::db)?;
            out.push(rmp_serde::from_slice(v.value()).map_err(|e| StoreError::failed(format!("decode swarm: {e}")))?);
        }
        Ok(out)
    }

    /// Deletes a swarm's record and its overlay.
    pub fn delete_swarm(&self, name: &str) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        tx.open_table(SWARMS).map_err(StoreError::db)?.remove(name).map_err(StoreError::db)?;
        tx.open_table(OVERLAY)
            .map_err(StoreError::db)?
            .retain_in((name, 0)..=(name, u64::MAX), |_, _| false)
            .map_err(StoreError::db)?;
        tx.commit().map_err(StoreError::db)
    }

    /// Appends one op to a swarm's overlay (durably); returns its index.
    pub fn append_overlay(&self, swarm: &str, op: &[u8]) -> Result<u64, StoreError> {
        let tx = self.begin_write()?;
        let i = append_op(&tx, swarm, op)?;
        tx.commit().map_err(StoreError::db)?;
        Ok(i)
    }

    /// A swarm's overlay, in order.
    pub fn overlay(&self, swarm: &str) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(OVERLAY).map_err(StoreError::db)?;
        let mut out = Vec::new();
        for item in t.range((swarm, 0)..=(swarm, u64::MAX)).map_err(StoreError::db)? {
            let (k, v) = item.map_err(StoreError::db)?;
            out.push((k.value().1, v.value().to_vec()));
        }
        Ok(out)
    }

    /// Clears a swarm's overlay.
    pub fn clear_overlay(&self, swarm: &str) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        clear_op(&tx, swarm)?;
        tx.commit().map_err(StoreError::db)
    }
}

impl Store {
    /// Deletes everything recorded about a swarm, in one transaction: its
    /// record, overlay, events (with their index entries) and tasks.
    /// Returns how many events were deleted.
    pub fn purge_swarm(&self, name: &str) -> Result<usize, StoreError> {
        use super::{EVENTS, EVENTS_BY_AGENT, EVENTS_BY_SWARM, TASKS};
        let tx = self.begin_write()?;
        let deleted = {
            tx.open_table(SWARMS).map_err(StoreError::db)?.remove(name).map_err(StoreError::db)?;
            clear_op(&tx, name)?;
            let mut by_swarm = tx.open_table(EVENTS_BY_SWARM).map_err(StoreError::db)?;
            let mut seqs = Vec::new();
            for k in by_swarm.range((name, 0)..=(name, u64::MAX)).map_err(StoreError::db)? {
                seqs.push(k.map_err(StoreError::db)?.0.value().1);
            }
            by_swarm.retain_in((name, 0)..=(name, u64::MAX), |_, _| false).map_err(StoreError::db)?;
            let mut events = tx.open_table(EVENTS).map_err(StoreError::db)?;
            for seq in &seqs {
                events.remove(*seq).map_err(StoreError::db)?;
            }
            tx.open_table(EVENTS_BY_AGENT)
                .map_err(StoreError::db)?
                .retain_in((name, "", 0)..=(name, "\u{10FFFF}", u64::MAX), |_, _| false)
                .map_err(StoreError::db)?;
            let mut tasks = tx.open_table(TASKS).map_err(StoreError::db)?;
            tasks.retain(|_, v| super::tasks::swarm_of(v).is_none_or(|s| s != name)).map_err(StoreError::db)?;
            seqs.len()
        };
        tx.commit().map_err(StoreError::db)?;
        Ok(deleted)
    }
}
