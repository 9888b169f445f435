//! Schedules and their runs in redb: `schedules` (id → record) and
//! `schedule_runs` ((id, tick) → run). A fired tick's run is written by
//! [`fired`] inside the transaction that writes the task it created (see
//! `store/tasks.rs`), so the run exists exactly when the task does. Runs
//! are trimmed to the newest [`MAX_RUNS`] per schedule, every
//! [`TRIM_EVERY`] ticks.

use redb::{ReadableTable, WriteTransaction};

use super::{SCHEDULE_RUNS, SCHEDULES, Store, StoreError};
use crate::error::HiveError;
use crate::schedule::{Run, RunOutcome, Schedule, ScheduleStore};
use crate::task::TaskRecord;

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    // By field name: a spec leaves its unset fields out.
    rmp_serde::to_vec_named(v).map_err(|e| StoreError::failed(format!("encode schedule: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(b).map_err(|e| StoreError::failed(format!("decode schedule: {e}")))
}

fn unavailable(e: StoreError) -> HiveError {
    e.into_hive()
}

/// Writes the run of the tick that created `r` (if a schedule's tick did).
pub(super) fn fired(tx: &WriteTransaction, r: &TaskRecord) -> Result<(), StoreError> {
    let Some(tick) = &r.tick else { return Ok(()) };
    let run = Run {
        tick_ms: tick.tick_ms,
        at_ms: r.created_ms,
        outcome: RunOutcome::Fired,
        task_id: Some(r.id.clone()),
        reason: None,
        missed: 0,
    };
    put_run(tx, &tick.schedule_id, &run)
}

fn put_run(tx: &WriteTransaction, id: &str, run: &Run) -> Result<(), StoreError> {
    let mut t = tx.open_table(SCHEDULE_RUNS).map_err(StoreError::db)?;
    t.insert((id, run.tick_ms), encode(run)?.as_slice()).map_err(StoreError::db)?;
    Ok(())
}

impl ScheduleStore for Store {
    fn load(&self) -> Result<Vec<(Schedule, Option<Run>)>, HiveError> {
        let read = || {
            let tx = self.begin_read()?;
            let s = tx.open_table(SCHEDULES).map_err(StoreError::db)?;
            let runs = tx.open_table(SCHEDULE_RUNS).map_err(StoreError::db)?;
            let mut out = Vec::new();
            for item in s.iter().map_err(StoreError::db)? {
                let (_, v) = item.map_err(StoreError::db)?;
                let sched: Schedule = decode(v.value())?;
                let id = sched.id.as_str();
                let last = runs
                    .range((id, 0)..=(id, u64::MAX))
                    .map_err(StoreError::db)?
                    .next_back()
                    .transpose()
                    .map_err(StoreError::db)?
                    .map(|(_, v)| decode(v.value()))
                    .transpose()?;
                out.push((sched, last));
            }
            Ok::<_, StoreError>(out)
        };
        read().map_err(unavailable)
    }

    fn put(&self, s: &Schedule) -> Result<(), HiveError> {
        let write = || {
            let tx = self.begin_write()?;
            tx.open_table(SCHEDULES)
                .map_err(StoreError::db)?
                .insert(s.id.as_str(), encode(s)?.as_slice())
                .map_err(StoreError::db)?;
            tx.commit().map_err(StoreError::db)
        };
        write().map_err(unavailable)
    }

    fn delete(&self, id: &str) -> Result<(), HiveError> {
        let write = || {
            let tx = self.begin_write()?;
            tx.open_table(SCHEDULES).map_err(StoreError::db)?.remove(id).map_err(StoreError::db)?;
            tx.open_table(SCHEDULE_RUNS)
                .map_err(StoreError::db)?
                .retain_in((id, 0)..=(id, u64::MAX), |_, _| false)
                .map_err(StoreError::db)?;
            tx.commit().map_err(StoreError::db)
        };
        write().map_err(unavailable)
    }

    fn put_runs(&self, runs: &[(String, Run)]) -> Result<(), HiveError> {
        let write = || {
            let tx = self.begin_write()?;
            for (id, run) in runs {
                put_run(&tx, id, run)?;
            }
            tx.commit().map_err(StoreError::db)
        };
        write().map_err(unavailable)
    }

    fn trim(&self, id: &str, keep: usize) -> Result<(), HiveError> {
        let write = || {
            let tx = self.begin_write()?;
            {
                let mut t = tx.open_table(SCHEDULE_RUNS).map_err(StoreError::db)?;
                let oldest_kept = t
                    .range((id, 0)..=(id, u64::MAX))
                    .map_err(StoreError::db)?
                    .rev()
                    .nth(keep.saturating_sub(1))
                    .transpose()
                    .map_err(StoreError::db)?
                    .map(|(k, _)| k.value().1);
                if let Some(oldest) = oldest_kept.filter(|_| keep > 0) {
                    t.retain_in((id, 0)..(id, oldest), |_, _| false).map_err(StoreError::db)?;
                }
            }
            tx.commit().map_err(StoreError::db)
        };
        write().map_err(unavailable)
    }

    fn runs(&self, id: &str, limit: usize) -> Result<Vec<Run>, HiveError> {
        let read = || {
            let tx = self.begin_read()?;
            let t = tx.open_table(SCHEDULE_RUNS).map_err(StoreError::db)?;
            let mut out = Vec::new();
            for item in t.range((id, 0)..=(id, u64::MAX)).map_err(StoreError::db)?.rev().take(limit) {
                out.push(decode(item.map_err(StoreError::db)?.1.value())?);
            }
            Ok::<_, StoreError>(out)
        };
        read().map_err(unavailable)
    }
}
