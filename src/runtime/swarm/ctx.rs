//! What every actor of a swarm shares: the swarm's name, the event bus,
//! the task book and the router cell.

use std::sync::Arc;

use crate::events::{EventBus, EventKind};
use crate::runtime::swarm::agent::process::groups::ChildGroups;
use crate::runtime::swarm::router::RouterCell;

/// A swarm's shared context, cloned into each of its actors.
#[derive(Clone)]
pub(crate) struct SwarmCtx {
    /// The swarm's name.
    pub swarm: Arc<str>,
    /// The event bus.
    pub bus: EventBus,
    /// The router cell (current table and router).
    pub router: Arc<RouterCell>,
    /// Bound of a line from a stdio child.
    pub max_line_bytes: usize,
    /// The dispatcher's registry name, when the gateway runs (zmq agents).
    pub dispatcher: Option<Arc<str>>,
    /// The task book: where the swarm's tasks are opened and ended.
    pub tasks: crate::task::TaskBook,
    /// Where the process groups of stdio children are recorded.
    pub groups: ChildGroups,
}

impl SwarmCtx {
    /// Emits an event about endpoint `who` of this swarm.
    pub(crate) fn emit(&self, who: &Arc<str>, kind: EventKind) -> u64 {
        self.bus.emit(Some(&self.swarm), Some(who), kind)
    }

    /// Emits an event about the swarm itself.
    pub(crate) fn emit_swarm(&self, kind: EventKind) -> u64 {
        self.bus.emit(Some(&self.swarm), None, kind)
    }
}
