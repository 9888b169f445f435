//! One actor per connected worker: it owns the worker's liveness. The
//! dispatcher stamps `last_seen` on every frame from the worker; the actor
//! checks it every quarter of the heartbeat timeout and stops with reason
//! `heartbeat_timeout` when the worker has been silent too long. The
//! dispatcher supervises these actors (they are linked to it): an exit is
//! how it learns a worker is gone, and it requeues the worker's tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::events::now_ms;
use crate::supervisor::{ActorExit, ExitReason};

/// Why a connection ends.
pub(crate) const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";

/// Messages of a connection actor.
pub(crate) enum ConnMsg {
    /// Time to check liveness.
    Check,
}

/// Start arguments.
pub(crate) struct ConnArgs {
    pub(crate) last_seen: Arc<AtomicU64>,
    pub(crate) timeout: Duration,
}

/// The connection actor.
pub(crate) struct Conn;

impl Actor for Conn {
    type Msg = ConnMsg;
    type State = ConnArgs;
    type Arguments = ConnArgs;

    async fn pre_start(&self, myself: ActorRef<ConnMsg>, args: ConnArgs) -> Result<ConnArgs, ActorProcessingErr> {
        let every = (args.timeout / 4).max(Duration::from_millis(10));
        myself.send_interval(every, || ConnMsg::Check);
        Ok(args)
    }

    async fn handle(&self, _: ActorRef<ConnMsg>, msg: ConnMsg, s: &mut ConnArgs) -> Result<(), ActorProcessingErr> {
        match msg {
            ConnMsg::Check => {
                let silent = now_ms().saturating_sub(s.last_seen.load(Ordering::Relaxed));
                if silent > s.timeout.as_millis() as u64 {
                    return Err(Box::new(ActorExit(ExitReason::Failed(HEARTBEAT_TIMEOUT.into()))));
                }
            }
        }
        Ok(())
    }
}
