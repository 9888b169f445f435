//! Restore at start: every swarm the store says was running comes back as
//! its users left it (its seed, then its overlay replayed in order), then
//! every task that was open: a queued one is queued again, in creation
//! order; one that was running ends `runtime_restarted` (it may have had
//! effects: it is not run twice); one whose swarm did not come back ends
//! `not_restored`. Dispatched tasks are the dispatcher's: it reloads them.

use std::sync::Arc;

use super::{Hive, blocking};
use crate::config;
use crate::error::HiveError;
use crate::events::{EventKind, Level};
use crate::runtime::registry::RegistryMsg;
use crate::runtime::swarm::SwarmMsg;
use crate::store::{Store, SwarmRecord};
use crate::task::{FailCode, TaskEnd, TaskRecord, TaskStatus, Transport};

/// Brings back the recorded swarms (only those in `only`, if given) and
/// then their open tasks.
pub(super) async fn restore(hive: &Hive, store: &Store, only: Option<&[String]>) -> Result<(), HiveError> {
    let records = blocking({
        let store = store.clone();
        move || store.swarms()
    })
    .await?;
    let opts = hive.validate_options();
    let wanted = |r: &SwarmRecord| only.is_none_or(|names| names.contains(&r.name));
    for record in records.into_iter().filter(|r| r.state == "running" && wanted(r)) {
        let problem = |what: String| {
            let message = format!("swarm '{}' not restored: {what}", record.name);
            hive.bus.emit(None, None, EventKind::Log { level: Level::Error, message });
        };
        let seed = match config::parse_toml(&record.seed_toml, &opts) {
            Ok(s) => s,
            Err(e) => {
                problem(format!("its stored seed is invalid: {e}"));
                continue;
            }
        };
        let effective = hive.swarms().replayed(store, &record.name, &seed).await?;
        let schedules = effective.schedules.clone();
        match ractor::call!(hive.registry()?, RegistryMsg::Restore, effective, record.seed_toml.clone()) {
            Ok(Ok(_)) => hive.schedules().attach(&record.name, schedules).await,
            Ok(Err(e)) => problem(e.to_string()),
            Err(e) => problem(e.to_string()),
        }
    }
    restore_tasks(hive, store, only).await
}

async fn restore_tasks(hive: &Hive, store: &Store, only: Option<&[String]>) -> Result<(), HiveError> {
    let reader = store.clone();
    let open = blocking(move || reader.tasks(&[TaskStatus::Queued, TaskStatus::Running])).await?;
    // Tasks of swarms left out of this restore stay recorded as they are.
    let mine =
        |t: &TaskRecord| t.transport() != Transport::Dispatch && only.is_none_or(|names| names.contains(&t.swarm));
    for t in open.into_iter().filter(mine) {
        let (swarm_name, agent): (Arc<str>, Arc<str>) = (t.swarm.as_str().into(), t.target.as_str().into());
        let requeued = match (t.status, t.transport()) {
            (TaskStatus::Queued, Transport::Agent) => match hive.swarms().get(&t.swarm).await {
                Ok(swarm) => {
                    hive.book.adopt(t.clone());
                    swarm
                        .ask(|reply| SwarmMsg::Requeue {
                            agent: t.target.clone(),
                            task_id: t.id.clone(),
                            content: t.content.clone(),
                            from: t.from.clone(),
                            reply,
                        })
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            },
            (TaskStatus::Queued, _) => Err("standalone workers are not restored".into()),
            _ => Err("the runtime stopped while this task ran".into()),
        };
        if let Err(why) = requeued {
            let code = if t.status == TaskStatus::Running { FailCode::RuntimeRestarted } else { FailCode::NotRestored };
            hive.book.adopt(t.clone());
            let id: Arc<str> = t.id.as_str().into();
            hive.book.end_then(&t.id, TaskEnd::failed(code, why), |end| {
                for kind in end.events(&id) {
                    hive.bus.emit(Some(&swarm_name), Some(&agent), kind);
                }
            });
        }
    }
    // Durable before start returns, then announced.
    hive.book.synced().await.map_err(|e| crate::runtime::swarm::not_recorded(&e))
}
