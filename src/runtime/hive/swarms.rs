//! The swarms handle: start, stop, find, list, restart, clean and purge
//! swarms, and their overlays (the recorded runtime changes). Each call is
//! a message to the swarm registry; start and restart first pass the
//! maintenance gate.

use std::time::Duration;

use super::{Hive, blocking};
use crate::config::{self, SwarmSpec};
use crate::error::HiveError;
use crate::events::EventKind;
use crate::runtime::SwarmHandle;
use crate::runtime::overlay::{self, OverlayOp};
use crate::runtime::registry::{RegistryMsg, SwarmSummary};

/// How long a purge waits for the store to commit the swarm's last events.
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// The swarms of a runtime ([`Hive::swarms`]).
pub struct Swarms<'a>(pub(super) &'a Hive);

impl Swarms<'_> {
    /// Starts a swarm from a spec (checked again here for specs built in code).
    /// Refused in maintenance.
    pub async fn start(&self, spec: SwarmSpec) -> Result<SwarmHandle, HiveError> {
        self.0.maintenance.admit("starting a swarm")?;
        self.start_admitted(spec).await
    }

    async fn start_admitted(&self, spec: SwarmSpec) -> Result<SwarmHandle, HiveError> {
        config::check_spec(&spec, &self.0.validate_options()).map_err(HiveError::InvalidConfig)?;
        let (name, schedules) = (spec.name.clone(), spec.schedules.clone());
        let actor = ractor::call!(self.0.registry()?, RegistryMsg::Start, spec)??;
        self.0.schedules().attach(&name, schedules).await;
        Ok(self.0.handle(name, actor))
    }

    /// Stops a running swarm gracefully (its schedules stop firing).
    pub async fn stop(&self, name: &str) -> Result<(), HiveError> {
        ractor::call!(self.0.registry()?, RegistryMsg::Stop, name.to_string())??;
        self.0.schedules().detach(name, false).await;
        Ok(())
    }

    /// A handle to a running swarm.
    pub async fn get(&self, name: &str) -> Result<SwarmHandle, HiveError> {
        let actor = ractor::call!(self.0.registry()?, RegistryMsg::Get, name.to_string())??;
        Ok(self.0.handle(name.to_string(), actor))
    }

    /// Every swarm the registry knows (running, stopped, failed).
    pub async fn list(&self) -> Result<Vec<SwarmSummary>, HiveError> {
        Ok(ractor::call!(self.0.registry()?, RegistryMsg::List)?)
    }

    /// One swarm's registry entry.
    pub async fn summary(&self, name: &str) -> Result<SwarmSummary, HiveError> {
        ractor::call!(self.0.registry()?, RegistryMsg::Summary, name.to_string())?.ok_or_else(|| HiveError::swarm(name))
    }

    /// A swarm's status: live while it runs; for a stopped or failed one,
    /// its registry entry (no agents, objects or edges; no supervision).
    pub async fn status(&self, name: &str) -> Result<crate::runtime::SwarmStatus, HiveError> {
        match self.get(name).await {
            Ok(h) => h.status().await,
            Err(HiveError::Conflict(_)) => Ok(crate::runtime::SwarmStatus::not_running(self.summary(name).await?)),
            Err(e) => Err(e),
        }
    }

    /// A swarm's recorded runtime changes, in order (needs a data directory).
    pub async fn overlay(&self, name: &str) -> Result<Vec<OverlayOp>, HiveError> {
        ractor::call!(self.0.registry()?, RegistryMsg::Overlay, name.to_string())?
    }

    /// Folds a running swarm's changes into its seed and empties its overlay:
    /// the snapshot and a restart give the same swarm as before, with no
    /// recorded changes (needs a data directory).
    pub async fn clear_overlay(&self, name: &str) -> Result<(), HiveError> {
        ractor::call!(self.0.registry()?, RegistryMsg::ClearOverlay, name.to_string())?
    }

    /// Forgets stopped and failed swarms; returns their names. With
    /// `purge`, everything stored about them goes too (record, overlay,
    /// events, tasks).
    pub async fn clean(&self, purge: bool) -> Result<Vec<String>, HiveError> {
        let gone = ractor::call!(self.0.registry()?, RegistryMsg::Clean)?;
        for name in &gone {
            self.0.schedules().detach(name, purge).await;
        }
        if purge {
            for name in &gone {
                self.purge_stored(name).await?;
            }
        }
        Ok(gone)
    }

    /// Stops a swarm if it runs, forgets it, and deletes everything stored
    /// about it (record, overlay, events, tasks). Returns the number of
    /// stored events deleted.
    pub async fn purge(&self, name: &str) -> Result<usize, HiveError> {
        match self.stop(name).await {
            Ok(()) | Err(HiveError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        ractor::call!(self.0.registry()?, RegistryMsg::Forget, name.to_string())??;
        self.0.schedules().detach(name, true).await;
        self.purge_stored(name).await
    }

    /// Deletes a swarm's stored data once every event emitted so far is
    /// committed (so its last events, e.g. the stop, go too). A disk that
    /// has not caught up within [`COMMIT_WAIT`] is 503: purging then would
    /// leave the swarm's later events behind.
    async fn purge_stored(&self, name: &str) -> Result<usize, HiveError> {
        let Some(store) = self.0.store()? else { return Ok(0) };
        let target = self.0.bus.next_seq().saturating_sub(1);
        tokio::time::timeout(COMMIT_WAIT, self.0.bus.published_through(target)).await.map_err(|_| {
            HiveError::Unavailable(format!(
                "the store has not committed the swarm's last events within {} s; nothing was purged",
                COMMIT_WAIT.as_secs()
            ))
        })?;
        let name = name.to_string();
        blocking(move || store.purge_swarm(&name)).await
    }

    /// Restarts a swarm (running, stopped or failed) as its users left it:
    /// seed plus every recorded change. With `clean`, from its seed alone,
    /// with its overlay, events and tasks deleted. Refused in maintenance
    /// (before anything is stopped).
    pub async fn restart(&self, name: &str, clean: bool) -> Result<SwarmHandle, HiveError> {
        self.0.maintenance.admit("restarting a swarm")?;
        let seed_toml = ractor::call!(self.0.registry()?, RegistryMsg::Seed, name.to_string())??;
        let opts = self.0.validate_options();
        let seed = config::parse_toml(&seed_toml, &opts).map_err(HiveError::InvalidConfig)?;
        let effective = match self.get(name).await {
            Ok(running) => Some(running.spec().await?),
            Err(_) => None,
        };
        match self.stop(name).await {
            Ok(()) | Err(HiveError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        if clean {
            self.purge_stored(name).await?;
            return self.start_admitted(seed).await;
        }
        let effective = match (effective, self.0.store()?) {
            (Some(spec), _) => spec,
            (None, Some(store)) => self.replayed(&store, name, &seed).await?,
            (None, None) => seed,
        };
        let schedules = effective.schedules.clone();
        let actor = ractor::call!(self.0.registry()?, RegistryMsg::Restore, effective, seed_toml)??;
        self.0.schedules().attach(name, schedules).await;
        Ok(self.0.handle(name.to_string(), actor))
    }

    /// A swarm's seed with its stored overlay replayed (changes that no
    /// longer apply are reported as error events and skipped).
    pub(super) async fn replayed(
        &self,
        store: &crate::store::Store,
        name: &str,
        seed: &SwarmSpec,
    ) -> Result<SwarmSpec, HiveError> {
        let (store, key) = (store.clone(), name.to_string());
        let ops = blocking(move || store.overlay(&key)).await?;
        let ops: Vec<OverlayOp> = ops.iter().filter_map(|(_, b)| OverlayOp::decode(b).ok()).collect();
        let (effective, skipped) = overlay::replay(seed, &ops, &self.0.validate_options());
        for why in skipped {
            let message = format!("swarm '{name}': a recorded change was skipped: {why}");
            self.0.bus.emit(None, None, EventKind::Log { level: crate::events::Level::Error, message });
        }
        Ok(effective)
    }
}
