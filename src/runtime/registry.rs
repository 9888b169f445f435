//! The swarm registry: the dynamic supervisor of running swarms.
//!
//! Swarms are its temporary children: one that fails is not restarted but
//! kept in the registry as `failed` with its reason (visible in status and
//! events) until it is started again or cleaned away; the others go on.
//! Stopping a swarm stops its tree gracefully (reverse start order).

use std::collections::BTreeMap;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use crate::config::SwarmSpec;
use crate::error::HiveError;
use crate::events::{EventBus, now_ms, rfc3339_ms};
use crate::objects::ObjectKinds;
use crate::runtime::swarm::{Swarm, SwarmArgs, SwarmLimits, SwarmMsg, SwarmState};
use crate::store::SwarmRecord;
use crate::supervisor::{ExitReason, Shutdown, exit_of, spawn_error, stop_child};

/// A registry entry as listed.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SwarmSummary {
    /// Name.
    pub name: String,
    /// Running, stopped or failed.
    pub state: SwarmState,
    /// When it was started (RFC 3339).
    pub started_at: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
}

/// Messages the registry handles.
pub(super) enum RegistryMsg {
    /// Start a new swarm from its spec; answers its actor.
    Start(SwarmSpec, RpcReplyPort<Result<ActorRef<SwarmMsg>, HiveError>>),
    /// Start a swarm restored from the store: the spec is its seed with the
    /// overlay replayed; the stored seed (given as TOML) and overlay are kept.
    Restore(SwarmSpec, String, RpcReplyPort<Result<ActorRef<SwarmMsg>, HiveError>>),
    /// Stop a running swarm, by name (it stays known, as stopped).
    Stop(String, RpcReplyPort<Result<(), HiveError>>),
    /// A running swarm's actor, by name.
    Get(String, RpcReplyPort<Result<ActorRef<SwarmMsg>, HiveError>>),
    /// One swarm's summary, whatever its state; None if unknown.
    Summary(String, RpcReplyPort<Option<SwarmSummary>>),
    /// Every known swarm's summary.
    List(RpcReplyPort<Vec<SwarmSummary>>),
    /// The recorded overlay of a swarm (needs a store).
    Overlay(String, RpcReplyPort<Result<Vec<crate::runtime::overlay::OverlayOp>, HiveError>>),
    /// Make a running swarm's effective spec its new seed and empty its overlay.
    ClearOverlay(String, RpcReplyPort<Result<(), HiveError>>),
    /// Forget stopped and failed swarms; answers their names.
    Clean(RpcReplyPort<Vec<String>>),
    /// A swarm's seed (its swarm file as TOML), whatever its state.
    Seed(String, RpcReplyPort<Result<String, HiveError>>),
    /// Forget a swarm that is not running; answers whether it was known.
    Forget(String, RpcReplyPort<Result<(), HiveError>>),
}

/// Start arguments of the registry.
pub(super) struct RegistryArgs {
    /// The event bus.
    pub bus: EventBus,
    /// Known object kinds.
    pub kinds: ObjectKinds,
    /// Bounds for every swarm.
    pub limits: SwarmLimits,
    /// The durable store's writer, if the runtime has a data directory.
    pub store: Option<crate::store::Writer>,
    /// The store itself, for reads.
    pub reader: Option<crate::store::Store>,
    /// The dispatcher's registry name, when the gateway runs.
    pub dispatcher: Option<Arc<str>>,
    /// The task book.
    pub tasks: crate::task::TaskBook,
    /// Where the process groups of stdio children are recorded.
    pub groups: crate::runtime::swarm::agent::process::groups::ChildGroups,
}

struct Entry {
    actor: Option<ActorRef<SwarmMsg>>,
    state: SwarmState,
    started_at_ms: u64,
    failure: Option<String>,
    seed_toml: String,
}

/// The registry actor.
#[derive(Clone, Copy)]
pub(super) struct Registry;

/// The registry's state.
pub(super) struct RegistryState {
    args: RegistryArgs,
    swarms: BTreeMap<String, Entry>,
}

impl Actor for Registry {
    type Msg = RegistryMsg;
    type State = RegistryState;
    type Arguments = RegistryArgs;

    async fn pre_start(
        &self,
        _: ActorRef<RegistryMsg>,
        args: RegistryArgs,
    ) -> Result<RegistryState, ActorProcessingErr> {
        Ok(RegistryState { args, swarms: BTreeMap::new() })
    }

    async fn post_stop(&self, _: ActorRef<RegistryMsg>, s: &mut RegistryState) -> Result<(), ActorProcessingErr> {
        // Newest first, like any supervisor's shutdown.
        let mut running: Vec<_> =
            s.swarms.values_mut().filter_map(|e| e.actor.take().map(|a| (e.started_at_ms, a))).collect();
        running.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
        for (_, a) in running {
            // Recorded tasks come back with the swarm at the next start.
            // A call, not a cast: a stop is handled before queued messages.
            let _ = ractor::call_t!(a, SwarmMsg::RuntimeShutdown, 5_000, s.args.store.is_some());
            stop_child(a.get_cell(), Shutdown::Infinity).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RegistryMsg>,
        msg: RegistryMsg,
        s: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RegistryMsg::Start(spec, reply) => {
                let _ = reply.send(s.start(&myself, spec, None).await);
            }
            RegistryMsg::Restore(spec, seed_toml, reply) => {
                let _ = reply.send(s.start(&myself, spec, Some(seed_toml)).await);
            }
            RegistryMsg::Stop(name, reply) => {
                let r = match s.swarms.get_mut(&name) {
                    None => Err(HiveError::swarm(name)),
                    Some(e) => match e.actor.take() {
                        None => Err(HiveError::Conflict(format!("swarm '{name}' is not running"))),
                        Some(a) => {
                            e.state = SwarmState::Stopped;
                            stop_child(a.get_cell(), Shutdown::Infinity).await;
                            let (started, seed) = (e.started_at_ms, e.seed_toml.clone());
                            s.record(&name, seed, "stopped", started, None).await
                        }
                    },
                };
                let _ = reply.send(r);
            }
            RegistryMsg::Get(name, reply) => {
                let r = match s.swarms.get(&name) {
                    None => Err(HiveError::swarm(name)),
                    Some(Entry { actor: Some(a), .. }) => Ok(a.clone()),
                    Some(e) => Err(HiveError::Conflict(match &e.failure {
                        Some(why) => format!("swarm '{name}' failed: {why}"),
                        None => format!("swarm '{name}' is not running"),
                    })),
                };
                let _ = reply.send(r);
            }
            RegistryMsg::Overlay(name, reply) => {
                let _ = reply.send(s.overlay(&name).await);
            }
            RegistryMsg::ClearOverlay(name, reply) => {
                let _ = reply.send(s.clear_overlay(&name).await);
            }
            RegistryMsg::Summary(name, reply) => {
                let _ = reply.send(s.swarms.get(&name).map(|e| summary(&name, e)));
            }
            RegistryMsg::List(reply) => {
                let _ = reply.send(s.swarms.iter().map(|(n, e)| summary(n, e)).collect());
            }
            RegistryMsg::Clean(reply) => {
                let gone: Vec<String> =
                    s.swarms.iter().filter(|(_, e)| e.actor.is_none()).map(|(n, _)| n.clone()).collect();
                s.swarms.retain(|_, e| e.actor.is_some());
                let _ = reply.send(gone);
            }
            RegistryMsg::Seed(name, reply) => {
                let r = s.swarms.get(&name).map(|e| e.seed_toml.clone()).ok_or(HiveError::swarm(name));
                let _ = reply.send(r);
            }
            RegistryMsg::Forget(name, reply) => {
                let r = match s.swarms.get(&name) {
                    None => Err(HiveError::swarm(name)),
                    Some(e) if e.actor.is_some() => Err(HiveError::Conflict(format!("swarm '{name}' is running"))),
                    Some(_) => {
                        s.swarms.remove(&name);
                        Ok(())
                    }
                };
                let _ = reply.send(r);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<RegistryMsg>,
        e: SupervisionEvent,
        s: &mut RegistryState,
    ) -> Result<(), ActorProcessingErr> {
        let Some((cell, reason)) = exit_of(e) else { return Ok(()) };
        let id = cell.get_id();
        let found = s.swarms.iter_mut().find(|(_, e)| e.actor.as_ref().is_some_and(|a| a.get_id() == id));
        if let Some((name, entry)) = found {
            entry.actor = None;
            if reason.is_abnormal() {
                entry.state = SwarmState::Failed;
                entry.failure = Some(match reason {
                    ExitReason::GaveUp(r) => r,
                    other => other.to_string(),
                });
            } else {
                entry.state = SwarmState::Stopped;
            }
            let (name, started, failure) = (name.clone(), entry.started_at_ms, entry.failure.clone());
            let state = if failure.is_some() { "failed" } else { "stopped" };
            let seed = entry.seed_toml.clone();
            let _ = s.record(&name, seed, state, started, failure).await;
        }
        Ok(())
    }
}

fn no_store() -> HiveError {
    HiveError::Unavailable("the overlay is recorded only when the runtime has a data directory".into())
}

fn durability(e: crate::store::StoreError) -> HiveError {
    e.to_hive("the swarm could not be recorded durably")
}

fn summary(name: &str, e: &Entry) -> SwarmSummary {
    SwarmSummary {
        name: name.to_string(),
        state: e.state,
        started_at: rfc3339_ms(e.started_at_ms),
        failure_reason: e.failure.clone(),
    }
}

impl RegistryState {
    async fn overlay(&self, name: &str) -> Result<Vec<crate::runtime::overlay::OverlayOp>, HiveError> {
        if !self.swarms.contains_key(name) {
            return Err(HiveError::swarm(name));
        }
        let store = self.args.reader.clone().ok_or_else(no_store)?;
        let name = name.to_string();
        let raw = tokio::task::spawn_blocking(move || store.overlay(&name))
            .await
            .map_err(|e| HiveError::Unavailable(e.to_string()))?
            .map_err(crate::store::StoreError::into_hive)?;
        raw.iter()
            .map(|(_, b)| {
                crate::runtime::overlay::OverlayOp::decode(b).map_err(|e| HiveError::Unavailable(e.to_string()))
            })
            .collect()
    }

    async fn clear_overlay(&mut self, name: &str) -> Result<(), HiveError> {
        let writer = self.args.store.clone().ok_or_else(no_store)?;
        let entry = self.swarms.get(name).ok_or_else(|| HiveError::swarm(name))?;
        let actor = entry.actor.clone().ok_or_else(|| HiveError::Conflict(format!("swarm '{name}' is not running")))?;
        let effective = ractor::call!(actor, SwarmMsg::Spec)?;
        let seed_toml = crate::config::to_toml(&effective);
        let record = SwarmRecord {
            name: name.into(),
            seed_toml: seed_toml.clone(),
            state: "running".into(),
            started_at_ms: entry.started_at_ms,
            failure_reason: None,
        };
        writer.reseed(record).await.map_err(durability)?;
        if let Some(e) = self.swarms.get_mut(name) {
            e.seed_toml = seed_toml;
        }
        Ok(())
    }

    /// Writes a swarm's record (seed and state), durably, if there is a store.
    async fn record(
        &self,
        name: &str,
        seed_toml: String,
        state: &str,
        started_at_ms: u64,
        failure_reason: Option<String>,
    ) -> Result<(), HiveError> {
        let Some(store) = &self.args.store else { return Ok(()) };
        let record = SwarmRecord { name: name.into(), seed_toml, state: state.into(), started_at_ms, failure_reason };
        store.put_swarm(record).await.map_err(durability)
    }

    async fn start(
        &mut self,
        myself: &ActorRef<RegistryMsg>,
        spec: SwarmSpec,
        restored_seed: Option<String>,
    ) -> Result<ActorRef<SwarmMsg>, HiveError> {
        if self.swarms.get(&spec.name).is_some_and(|e| e.actor.is_some()) {
            return Err(HiveError::Conflict(format!("swarm '{}' is already running", spec.name)));
        }
        let started_at_ms = now_ms();
        let fresh = restored_seed.is_none();
        let seed_toml = restored_seed.unwrap_or_else(|| crate::config::to_toml(&spec));
        if let (Some(store), true) = (&self.args.store, fresh) {
            // A fresh start: the spec is the new seed, with no overlay yet.
            store.clear_overlay(&spec.name).await.map_err(durability)?;
        }
        let name = spec.name.clone();
        let args = SwarmArgs {
            spec,
            bus: self.args.bus.clone(),
            kinds: self.args.kinds.clone(),
            limits: self.args.limits,
            store: self.args.store.clone(),
            dispatcher: self.args.dispatcher.clone(),
            tasks: self.args.tasks.clone(),
            groups: self.args.groups.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, Swarm, args, myself.get_cell())
            .await
            .map_err(|e| HiveError::BadRequest(format!("swarm '{name}' failed to start: {}", spawn_error(&e))))?;
        self.record(&name, seed_toml.clone(), "running", started_at_ms, None).await?;
        self.swarms.insert(
            name,
            Entry { actor: Some(actor.clone()), state: SwarmState::Running, started_at_ms, failure: None, seed_toml },
        );
        Ok(actor)
    }
}
