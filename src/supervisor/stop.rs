//! Stopping one child with its [`Shutdown`] policy, and translating ractor's
//! exit notifications into OTP [`ExitReason`]s.

use std::time::Duration;

use ractor::{ActorCell, ActorProcessingErr};

use super::{ExitReason, Shutdown};

/// The error an actor returns from a handler to exit with a precise reason.
/// Anything else that fails an actor (a panic, another error) is read as
/// [`ExitReason::Panicked`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ActorExit(pub ExitReason);

/// The stop reason string ractor carries for an exit reason.
impl ExitReason {
    /// The reason string to pass to `ActorCell::stop` for this exit.
    pub fn as_stop_reason(&self) -> String {
        match self {
            ExitReason::Normal => "normal".into(),
            ExitReason::Shutdown => "shutdown".into(),
            ExitReason::Killed => "killed".into(),
            other => other.to_string(),
        }
    }
}

/// Reads the optional reason of a clean ractor stop.
pub fn exit_reason_of_stop(reason: Option<&str>) -> ExitReason {
    match reason {
        None | Some("normal") => ExitReason::Normal,
        Some("shutdown") => ExitReason::Shutdown,
        Some("killed") => ExitReason::Killed,
        Some(other) => ExitReason::Failed(other.to_string()),
    }
}

/// Reads the error of a failed actor.
pub fn exit_reason_of_failure(err: &ActorProcessingErr) -> ExitReason {
    match err.downcast_ref::<ActorExit>() {
        Some(ActorExit(reason)) => reason.clone(),
        None => ExitReason::Panicked(err.to_string()),
    }
}

/// How long a kill may take before the supervisor stops waiting for it.
/// A kill interrupts a running handler at once; only an actor whose
/// `post_stop` hangs can exceed this (Hive's own actors bound theirs).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The actor and exit reason of an exit notification (`None` for other events).
pub fn exit_of(event: ractor::SupervisionEvent) -> Option<(ActorCell, ExitReason)> {
    match event {
        ractor::SupervisionEvent::ActorFailed(cell, err) => {
            let reason = exit_reason_of_failure(&err);
            Some((cell, reason))
        }
        ractor::SupervisionEvent::ActorTerminated(cell, _, r) => {
            let reason = exit_reason_of_stop(r.as_deref());
            Some((cell, reason))
        }
        _ => None,
    }
}

/// Why an actor failed to start, as text (the inner error of `StartupFailed`).
pub fn spawn_error(e: &ractor::SpawnErr) -> String {
    match e {
        ractor::SpawnErr::StartupFailed(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// Stops `cell` per `shutdown`: ask, wait up to the timeout, then kill.
/// Returns once the actor is gone (or a kill did not finish in [`KILL_WAIT`]).
pub async fn stop_child(cell: ActorCell, shutdown: Shutdown) {
    let graceful = match shutdown {
        Shutdown::BrutalKill => false,
        Shutdown::Infinity => cell.stop_and_wait(Some("shutdown".into()), None).await.is_ok(),
        Shutdown::Timeout(timeout) => cell.stop_and_wait(Some("shutdown".into()), Some(timeout)).await.is_ok(),
    };
    if !graceful && cell.kill_and_wait(Some(KILL_WAIT)).await.is_err() {
        let status = cell.get_status();
        if !matches!(status, ractor::ActorStatus::Stopped) {
            tracing::warn!(actor = %cell.get_id(), ?status, "child did not stop within the kill wait");
        }
    }
}
