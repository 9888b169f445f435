//! What the task book counts for the metrics (`GET /metrics`): ended tasks
//! by transport and status, and two histograms per transport — the wait
//! from queued to started (the dispatch wait) and the time from start to
//! end. Every transport reports into the book, so these cover agents,
//! standalone workers and dispatched tasks alike.
//!
//! Guarantees: recording is an atomic increment (and a histogram's short
//! lock) on a handle resolved when the book was made — no allocation and
//! no label lookup per task; the label sets are the closed enums
//! [`Transport`] × [`TaskStatus`].

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::atomic::{AtomicU64, Ordering};

use super::model::{TaskStatus, Transport};

/// Index of a transport in [`Transport::ALL`] (the order of the arrays
/// here and of [`super::TaskBook::open_counts`]).
pub(super) fn slot(t: Transport) -> usize {
    match t {
        Transport::Agent => 0,
        Transport::Worker => 1,
        Transport::Dispatch => 2,
    }
}

/// Index of a status in [`TaskStatus::ALL`].
fn status_slot(s: TaskStatus) -> usize {
    TaskStatus::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

/// Bucket bounds in seconds: 1 ms to about 17 minutes, doubling.
pub fn seconds_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 21)
}

/// The book's counters and histograms.
#[derive(Debug)]
pub struct TaskStats {
    ended: [[AtomicU64; 5]; 3],
    wait: [Histogram; 3],
    run: [Histogram; 3],
}

impl Default for TaskStats {
    fn default() -> Self {
        Self {
            ended: Default::default(),
            wait: std::array::from_fn(|_| Histogram::new(seconds_buckets())),
            run: std::array::from_fn(|_| Histogram::new(seconds_buckets())),
        }
    }
}

impl TaskStats {
    /// A task of `transport` started after waiting `wait_ms` in its queue.
    pub(super) fn started(&self, transport: Transport, wait_ms: u64) {
        self.wait[slot(transport)].observe(wait_ms as f64 / 1000.0);
    }

    /// A task of `transport` ended with `status`, having run `run_ms` (none
    /// when it never started).
    pub(super) fn ended(&self, transport: Transport, status: TaskStatus, run_ms: Option<u64>) {
        self.ended[slot(transport)][status_slot(status)].fetch_add(1, Ordering::Relaxed);
        if let Some(ms) = run_ms {
            self.run[slot(transport)].observe(ms as f64 / 1000.0);
        }
    }

    /// Tasks of `transport` that ended with `status` since the book was made.
    pub fn ended_count(&self, transport: Transport, status: TaskStatus) -> u64 {
        self.ended[slot(transport)][status_slot(status)].load(Ordering::Relaxed)
    }

    /// The dispatch-wait histogram of `transport` (seconds).
    pub fn wait(&self, transport: Transport) -> &Histogram {
        &self.wait[slot(transport)]
    }

    /// The run-time histogram of `transport` (seconds).
    pub fn run(&self, transport: Transport) -> &Histogram {
        &self.run[slot(transport)]
    }
}
