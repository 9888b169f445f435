//! The scheduler's seam to durable storage: [`ScheduleStore`] is what it
//! asks of a store (schedules and their runs), implemented by the redb
//! store (`store/schedules.rs`) and, for a runtime without a data
//! directory, by [`MemoryStore`]. Calls are synchronous: the scheduler runs
//! them on the blocking pool.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::record::{Run, Schedule};
use crate::error::HiveError;

/// Most runs kept per schedule (older ones are dropped).
pub const MAX_RUNS: usize = 1_000;

/// Where schedules and their runs are kept.
pub trait ScheduleStore: Send + Sync + 'static {
    /// Whether calls return at once (memory): the scheduler then makes them
    /// in place rather than on the blocking pool.
    fn is_inline(&self) -> bool {
        false
    }
    /// Every schedule, with its latest run.
    fn load(&self) -> Result<Vec<(Schedule, Option<Run>)>, HiveError>;
    /// Writes (or replaces) a schedule.
    fn put(&self, s: &Schedule) -> Result<(), HiveError>;
    /// Deletes a schedule and its runs.
    fn delete(&self, id: &str) -> Result<(), HiveError>;
    /// Writes runs (schedule id, run), in one commit. A fired run the
    /// store already wrote with its task is written again unchanged.
    fn put_runs(&self, runs: &[(String, Run)]) -> Result<(), HiveError>;
    /// Drops a schedule's runs but the newest `keep`.
    fn trim(&self, id: &str, keep: usize) -> Result<(), HiveError>;
    /// A schedule's latest `limit` runs, newest first.
    fn runs(&self, id: &str, limit: usize) -> Result<Vec<Run>, HiveError>;
}

/// A schedule and its runs by tick.
type Kept = (Schedule, BTreeMap<u64, Run>);

/// Schedules in memory (a runtime without a data directory).
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<HashMap<String, Kept>>,
}

impl ScheduleStore for MemoryStore {
    fn is_inline(&self) -> bool {
        true
    }

    fn load(&self) -> Result<Vec<(Schedule, Option<Run>)>, HiveError> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(g.values().map(|(s, runs)| (s.clone(), runs.values().next_back().cloned())).collect())
    }

    fn put(&self, s: &Schedule) -> Result<(), HiveError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.entry(s.id.clone()).or_insert_with(|| (s.clone(), BTreeMap::new())).0 = s.clone();
        Ok(())
    }

    fn delete(&self, id: &str) -> Result<(), HiveError> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        Ok(())
    }

    fn put_runs(&self, runs: &[(String, Run)]) -> Result<(), HiveError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (id, run) in runs {
            if let Some((_, kept)) = g.get_mut(id) {
                kept.insert(run.tick_ms, run.clone());
            }
        }
        Ok(())
    }

    fn trim(&self, id: &str, keep: usize) -> Result<(), HiveError> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, kept)) = g.get_mut(id) {
            while kept.len() > keep {
                kept.pop_first();
            }
        }
        Ok(())
    }

    fn runs(&self, id: &str, limit: usize) -> Result<Vec<Run>, HiveError> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(g.get(id).map(|(_, runs)| runs.values().rev().take(limit).cloned().collect()).unwrap_or_default())
    }
}
