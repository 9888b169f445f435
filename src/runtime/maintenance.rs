//! The daemon-wide maintenance switch: whether the runtime takes new work.
//!
//! This file owns [`Maintenance`], one shared flag that every entry point of
//! new work checks before it sends anything to an actor: starting or
//! restarting a swarm, a task for an agent, a message from a user, adding an
//! agent or scaling a group up (the swarm handle); spawning a standalone
//! worker or giving it a task (the worker pool); dispatching a task
//! (including webhook dispatch) and orchestrate (the dispatcher). Out of
//! service ([`Maintenance::set`] with `false`), each of them is refused with
//! [`HiveError::Maintenance`] (503 `HIVE_MAINTENANCE` + `Retry-After`) while
//! what already runs goes on and ends as it would have: queued and running
//! tasks, routing between agents, agents' own messages, reads, stops, removals.
//!
//! Guarantees: the gate is in the runtime, so library users and every wire
//! API get the same answer; it is a flag, not a queue — nothing waits behind
//! it. It is not persisted: a runtime starts in service.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

use crate::error::HiveError;

/// Seconds a refused client is told to wait (`Retry-After`).
pub const MAINTENANCE_RETRY_AFTER_S: u64 = 30;

/// Whether the runtime takes new work (shared by the façade and every swarm handle).
#[derive(Clone, Debug)]
pub struct Maintenance(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    accepting: AtomicBool,
    /// When it last changed (ms since the epoch; 0 = never since the start).
    since_ms: AtomicU64,
}

impl Default for Maintenance {
    fn default() -> Self {
        Self(Arc::new(Inner { accepting: AtomicBool::new(true), since_ms: AtomicU64::new(0) }))
    }
}

/// The switch as shown (health, `POST /api/v1/maintenance/{on,off}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MaintenanceState {
    /// `true`: in service, new work is taken. `false`: out of service
    /// (maintenance): what runs finishes, new work gets 503 `HIVE_MAINTENANCE`.
    pub accepting: bool,
    /// When it last changed (RFC 3339); `null` when it has not since the start.
    pub since: Option<String>,
}

impl Maintenance {
    /// Whether new work is taken now.
    pub fn accepting(&self) -> bool {
        self.0.accepting.load(Ordering::Acquire)
    }

    /// Puts the runtime in service (`true`) or out of service (`false`);
    /// returns the state after, and whether it changed.
    pub fn set(&self, accepting: bool) -> (MaintenanceState, bool) {
        let was = self.0.accepting.swap(accepting, Ordering::AcqRel);
        if was != accepting {
            self.0.since_ms.store(crate::events::now_ms(), Ordering::Release);
        }
        (self.state(), was != accepting)
    }

    /// The state now.
    pub fn state(&self) -> MaintenanceState {
        let since = self.0.since_ms.load(Ordering::Acquire);
        MaintenanceState { accepting: self.accepting(), since: (since > 0).then(|| crate::events::rfc3339_ms(since)) }
    }

    /// `Ok` in service; else [`HiveError::Maintenance`] saying that `what`
    /// (e.g. "a new task") is not taken now.
    pub fn admit(&self, what: &str) -> Result<(), HiveError> {
        if self.accepting() {
            return Ok(());
        }
        Err(HiveError::Maintenance(format!(
            "the daemon is in maintenance and takes no new work ({what} refused); \
             what runs finishes; retry later or POST /api/v1/maintenance/on"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_refuses_new_work_and_on_takes_it_again() {
        let m = Maintenance::default();
        assert!(m.admit("a task").is_ok());
        assert_eq!(m.state(), MaintenanceState { accepting: true, since: None });
        let (state, changed) = m.set(false);
        assert!(changed && !state.accepting && state.since.is_some());
        let e = m.admit("a task").unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::Maintenance);
        assert!(e.to_string().contains("a task refused"), "{e}");
        // A clone is the same switch (the swarm handles hold clones).
        let clone = m.clone();
        assert!(!clone.set(false).1, "already off: no change");
        assert!(m.set(true).1);
        assert!(clone.admit("a task").is_ok());
    }
}
