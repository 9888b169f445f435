//! What a running swarm shows the metrics (`GET /metrics`): per agent its
//! state, restarts and mailbox depth, per swarm the same summed, its
//! router's routed and denied counts and the agents supervisor (whose
//! restart intensity the runtime then asks).
//!
//! Guarantees: a sample is read from the slots' atomics in one pass, with
//! no per-agent strings built (names are shared `Arc<str>`); a swarm of
//! more agents than the caller's per-agent limit gives no per-agent rows,
//! only the swarm's sums, so the label values stay bounded.

use std::sync::Arc;

use ractor::ActorRef;

use crate::runtime::swarm::slot::AgentState;
use crate::supervisor::SupervisorMsg;

/// One agent, as the metrics show it.
#[derive(Debug, Clone)]
pub(crate) struct AgentSample {
    /// Its name.
    pub name: Arc<str>,
    /// Its state now.
    pub state: AgentState,
    /// Its restarts so far.
    pub restarts: u32,
    /// Items waiting in its mailbox.
    pub inbox: usize,
}

/// One running swarm, as the metrics show it.
#[derive(Debug, Clone)]
pub(crate) struct SwarmSample {
    /// Its agents (empty when it has more than the per-agent limit).
    pub agents: Vec<AgentSample>,
    /// Its agents by state (in [`AgentState::ALL`] order).
    pub by_state: [u64; 6],
    /// Restarts of every agent and object.
    pub restarts: u64,
    /// Items waiting in every agent's and object's mailbox.
    pub inbox: u64,
    /// Messages its router delivered (one per recipient).
    pub routed: u64,
    /// Messages its router refused.
    pub denied: u64,
    /// The agents supervisor, to ask for its restart intensity.
    pub(crate) agents_sup: Option<ActorRef<SupervisorMsg>>,
}

impl super::SwarmRun {
    /// Samples the swarm, with per-agent rows when it has at most
    /// `per_agent` agents.
    pub(crate) fn sample(&self, per_agent: usize) -> SwarmSample {
        let slots = self.shared.agent_slots();
        let rows = slots.len() <= per_agent;
        let mut s = SwarmSample {
            agents: Vec::with_capacity(if rows { slots.len() } else { 0 }),
            by_state: [0; 6],
            restarts: 0,
            inbox: 0,
            routed: 0,
            denied: 0,
            agents_sup: self.shared.agents_sup(),
        };
        for slot in &slots {
            let (state, restarts, inbox) = (slot.status.state(), slot.status.restarts(), slot.mailbox.len());
            s.by_state[state as usize] += 1;
            s.restarts += u64::from(restarts);
            s.inbox += inbox as u64;
            if rows {
                s.agents.push(AgentSample { name: slot.name.clone(), state, restarts, inbox });
            }
        }
        for o in self.shared.object_slots() {
            s.restarts += u64::from(o.status.restarts());
            s.inbox += o.mailbox.len() as u64;
        }
        (s.routed, s.denied) = self.shared.ctx.router.counts();
        s
    }
}
