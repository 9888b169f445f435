//! The root of the tree that runs: a `one_for_one` supervisor whose
//! children are the swarm registry, the standalone worker pool and (with the
//! gateway) the dispatcher, each a permanent child registered under a name
//! of this runtime. [`child`] is the one way a root child is described.

use std::sync::Arc;

use ractor::Actor;

use crate::supervisor::{ChildSpec, Restart, Shutdown, spawn_error};

/// A permanent root child: actor `A`, registered as `name`, started with
/// the arguments `args` makes (again at each restart).
pub(super) fn child<A>(
    id: &str,
    name: String,
    actor: A,
    args: impl Fn() -> A::Arguments + Send + Sync + 'static,
) -> ChildSpec
where
    A: Actor + Clone + Sync,
    A::Arguments: Send,
{
    ChildSpec {
        id: id.into(),
        restart: Restart::Permanent,
        shutdown: Shutdown::Infinity,
        start: Arc::new(move |sup| {
            let (name, actor, args) = (name.clone(), actor.clone(), args());
            Box::pin(async move {
                let (r, _) = Actor::spawn_linked(Some(name), actor, args, sup).await.map_err(|e| spawn_error(&e))?;
                Ok(r.get_cell())
            })
        }),
    }
}
