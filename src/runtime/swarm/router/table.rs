//! The routing table: which endpoints exist, which groups they form, and
//! which edges are declared. Pure data, built by the swarm actor and handed
//! to the router as an immutable snapshot (`Arc`), so a router restart loses
//! nothing and a check never waits on the swarm.
//!
//! An edge names endpoints as declared: agents, objects, group members, or a
//! group (standing for every current member). A message `from → to` is
//! allowed when an edge joins `from` or its group to `to` or its group; new
//! group members therefore inherit the group's edges, in and out.

use std::collections::HashSet;

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

use crate::runtime::swarm::mailbox::Mailbox;

/// A concrete endpoint that can receive messages.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// The group it belongs to, for members.
    pub group: Option<Arc<str>>,
    /// Where its messages go.
    pub mailbox: Arc<Mailbox>,
}

/// Concrete recipients of a message: each endpoint's name and mailbox.
/// One inline: most messages have one recipient and cost no allocation here.
pub(crate) type Recipients = smallvec::SmallVec<[(Arc<str>, Arc<Mailbox>); 1]>;

/// See the module documentation.
#[derive(Clone, Default)]
pub(crate) struct RoutingTable {
    endpoints: FxHashMap<Arc<str>, Endpoint>,
    groups: FxHashMap<Arc<str>, Vec<Arc<str>>>,
    /// Declared edges by sender, for membership (looked up by `&str`, no allocation).
    adj: FxHashMap<Arc<str>, FxHashSet<Arc<str>>>,
    /// The same edges by sender, in declaration order (broadcast order).
    out: FxHashMap<Arc<str>, Vec<Arc<str>>>,
}

/// Why a message may not go where it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No endpoint or group of that name.
    #[error("unknown endpoint '{0}'")]
    UnknownEndpoint(String),
    /// No edge allows it.
    #[error("no edge allows {from} → {to}")]
    Denied {
        /// Sender.
        from: String,
        /// Target.
        to: String,
    },
    /// The target's mailbox is full.
    #[error("mailbox of '{0}' is full")]
    MailboxFull(String),
}

impl RoutingTable {
    /// Adds or replaces an endpoint.
    pub(crate) fn insert_endpoint(&mut self, name: Arc<str>, endpoint: Endpoint) {
        if let Some(g) = &endpoint.group {
            let members = self.groups.entry(g.clone()).or_default();
            if !members.contains(&name) {
                members.push(name.clone());
            }
        }
        self.endpoints.insert(name, endpoint);
    }

    /// Declares an (initially empty) group.
    pub(crate) fn insert_group(&mut self, group: Arc<str>) {
        self.groups.entry(group).or_default();
    }

    /// Removes an endpoint and every edge that names it.
    pub(crate) fn remove_endpoint(&mut self, name: &str) {
        if let Some(ep) = self.endpoints.remove(name)
            && let Some(g) = ep.group
            && let Some(members) = self.groups.get_mut(&g)
        {
            members.retain(|m| &**m != name);
        }
        self.remove_edges_of(name);
    }

    /// Removes a group (its members must be removed separately) and its edges.
    pub(crate) fn remove_group(&mut self, group: &str) {
        self.groups.remove(group);
        self.remove_edges_of(group);
    }

    fn remove_edges_of(&mut self, name: &str) {
        let doomed: Vec<(Arc<str>, Arc<str>)> = self
            .adj
            .iter()
            .flat_map(|(f, tos)| tos.iter().map(move |t| (f.clone(), t.clone())))
            .filter(|(f, t)| &**f == name || &**t == name)
            .collect();
        for (f, t) in doomed {
            self.remove_edge(&f, &t);
        }
    }

    /// Whether a name is an endpoint or a group.
    pub(crate) fn knows(&self, name: &str) -> bool {
        self.endpoints.contains_key(name) || self.groups.contains_key(name)
    }

    /// The endpoint of that name, with its shared name.
    pub(crate) fn endpoint_entry(&self, name: &str) -> Option<(&Arc<str>, &Endpoint)> {
        self.endpoints.get_key_value(name)
    }

    /// The endpoint of that name.
    pub(crate) fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.get(name)
    }

    /// Declares `from → to` (names must be known; checked by the caller).
    pub(crate) fn add_edge(&mut self, from: &str, to: &str) -> bool {
        if self.has_edge(from, to) {
            return false;
        }
        let (f, t): (Arc<str>, Arc<str>) = (from.into(), to.into());
        self.adj.entry(f.clone()).or_default().insert(t.clone());
        self.out.entry(f).or_default().push(t);
        true
    }

    /// Removes `from → to`; returns whether it existed.
    pub(crate) fn remove_edge(&mut self, from: &str, to: &str) -> bool {
        let Some(tos) = self.adj.get_mut(from) else { return false };
        if !tos.remove(to) {
            return false;
        }
        if tos.is_empty() {
            self.adj.remove(from);
        }
        if let Some(v) = self.out.get_mut(from) {
            v.retain(|t| &**t != to);
            if v.is_empty() {
                self.out.remove(from);
            }
        }
        true
    }

    /// Whether the edge is declared exactly as given.
    pub(crate) fn has_edge(&self, from: &str, to: &str) -> bool {
        self.adj.get(from).is_some_and(|tos| tos.contains(to))
    }

    /// The concrete recipients of a message `from → to` if the topology allows it.
    /// A group target means every current member.
    pub(crate) fn resolve(&self, from: &str, to: &str) -> Result<Recipients, RouteError> {
        let sender = self.endpoints.get(from).ok_or_else(|| RouteError::UnknownEndpoint(from.into()))?;
        let mut out = Recipients::new();
        let allowed = |t: &str| self.has_edge(from, t) || sender.group.as_deref().is_some_and(|g| self.has_edge(g, t));
        if let Some((name, ep)) = self.endpoints.get_key_value(to) {
            if !(allowed(to) || ep.group.as_deref().is_some_and(allowed)) {
                return Err(RouteError::Denied { from: from.into(), to: to.into() });
            }
            out.push((name.clone(), ep.mailbox.clone()));
        } else if let Some(members) = self.groups.get(to) {
            if !allowed(to) {
                return Err(RouteError::Denied { from: from.into(), to: to.into() });
            }
            out.extend(members.iter().filter_map(|m| self.endpoints.get(m).map(|ep| (m.clone(), ep.mailbox.clone()))));
        } else {
            return Err(RouteError::UnknownEndpoint(to.into()));
        }
        Ok(out)
    }

    /// Every concrete endpoint `from` may send to (its out-edges and its
    /// group's, groups expanded), itself excluded.
    pub(crate) fn out_targets(&self, from: &str) -> Result<Recipients, RouteError> {
        let sender = self.endpoints.get(from).ok_or_else(|| RouteError::UnknownEndpoint(from.into()))?;
        let mut seen = HashSet::new();
        let mut out = Recipients::new();
        let sources = std::iter::once(from).chain(sender.group.as_deref());
        for src in sources {
            for t in self.out.get(src).into_iter().flatten() {
                let names: Vec<Arc<str>> = match self.groups.get(t) {
                    Some(members) if !self.endpoints.contains_key(t) => members.clone(),
                    _ => vec![t.clone()],
                };
                for n in names {
                    if &*n != from
                        && seen.insert(n.clone())
                        && let Some(ep) = self.endpoints.get(&n)
                    {
                        out.push((n, ep.mailbox.clone()));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(group: Option<&str>) -> Endpoint {
        Endpoint { group: group.map(Arc::from), mailbox: Arc::new(Mailbox::new(8)) }
    }

    fn table() -> RoutingTable {
        let mut t = RoutingTable::default();
        t.insert_endpoint("planner".into(), ep(None));
        t.insert_group("worker".into());
        for i in 1..=3 {
            t.insert_endpoint(format!("worker_{i}").into(), ep(Some("worker")));
        }
        t.insert_endpoint("board".into(), ep(None));
        t.add_edge("planner", "worker");
        t.add_edge("worker", "planner");
        t.add_edge("worker_2", "board");
        t
    }

    fn names(v: Result<Recipients, RouteError>) -> Vec<String> {
        v.unwrap().into_iter().map(|(n, _)| n.to_string()).collect()
    }

    #[test]
    fn group_edges_apply_to_every_member_in_and_out() {
        let t = table();
        assert_eq!(names(t.resolve("planner", "worker_3")), ["worker_3"]);
        assert_eq!(names(t.resolve("worker_1", "planner")), ["planner"]);
        assert_eq!(names(t.resolve("planner", "worker")), ["worker_1", "worker_2", "worker_3"]);
    }

    #[test]
    fn member_edges_apply_to_that_member_only() {
        let t = table();
        assert_eq!(names(t.resolve("worker_2", "board")), ["board"]);
        assert_eq!(
            t.resolve("worker_1", "board").unwrap_err(),
            RouteError::Denied { from: "worker_1".into(), to: "board".into() }
        );
    }

    #[test]
    fn missing_edge_is_denied_and_unknown_names_are_reported() {
        let t = table();
        assert!(matches!(t.resolve("board", "planner"), Err(RouteError::Denied { .. })));
        assert_eq!(t.resolve("ghost", "planner").unwrap_err(), RouteError::UnknownEndpoint("ghost".into()));
        assert_eq!(t.resolve("planner", "ghost").unwrap_err(), RouteError::UnknownEndpoint("ghost".into()));
    }

    #[test]
    fn new_member_inherits_group_edges() {
        let mut t = table();
        t.insert_endpoint("worker_4".into(), ep(Some("worker")));
        assert!(t.resolve("planner", "worker_4").is_ok());
        assert!(t.resolve("worker_4", "planner").is_ok());
    }

    #[test]
    fn removing_an_endpoint_removes_its_edges() {
        let mut t = table();
        t.remove_endpoint("worker_2");
        assert!(!t.has_edge("worker_2", "board"));
        assert_eq!(names(t.resolve("planner", "worker")), ["worker_1", "worker_3"]);
    }

    #[test]
    fn broadcast_targets_expand_groups_and_exclude_the_sender() {
        let mut t = table();
        t.add_edge("worker", "worker");
        assert_eq!(names(t.out_targets("worker_1")), ["planner", "worker_2", "worker_3"]);
        assert_eq!(names(t.out_targets("worker_2")), ["board", "planner", "worker_1", "worker_3"]);
    }
}
