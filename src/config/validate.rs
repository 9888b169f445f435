//! Whole-file validation: turns a located document tree into a [`SwarmSpec`],
//! collecting every error. Owns the top-level keys, `[supervision]`, the
//! limits on agent and object counts, name uniqueness across agents, group
//! members and objects, and the topology. Single entries are checked by
//! `entry.rs`; typed access and error recording by `check.rs`.

use std::collections::{HashMap, HashSet};

use super::ValidateOptions;
use super::check::{Checker, Table, suggest};
use super::entry::{self, AgentOut, MAX_TIMEOUT_MS, Named, ObjectOut};
use super::error::ConfigError;
use super::node::{Entry, Node, Value};
use super::spec::{AgentSpec, Edge, MAX_AGENTS, MAX_OBJECTS, ObjectSpec, SupervisionSpec, SwarmSpec};
use crate::supervisor::Strategy;

const TOP_KEYS: &[&str] = &["name", "supervision", "agents", "objects", "topology", "schedules"];
const SUPERVISION_KEYS: &[&str] = &["strategy", "max_restarts", "max_seconds", "backoff_ms", "backoff_max_ms"];
const STRATEGIES: &[&str] = &["one_for_one", "one_for_all", "rest_for_one"];
/// Unknown endpoints that get a "did you mean" suggestion.
const MAX_HINTS: usize = 32;
/// Highest `max_restarts`.
const MAX_RESTARTS: u32 = 1_000_000;
/// Longest `max_seconds`: one day.
const MAX_SECONDS: u32 = 86_400;

/// `backoff_max_ms` when the file does not set it: 32 × `backoff_ms`, capped.
pub(crate) fn default_backoff_max(backoff_ms: u64) -> u64 {
    backoff_ms.saturating_mul(32).min(MAX_TIMEOUT_MS)
}

/// Validates a whole swarm file.
pub(crate) fn swarm(node: &Node, opts: &ValidateOptions) -> Result<SwarmSpec, Vec<ConfigError>> {
    let mut c = Checker::default();
    let Some(root) = c.table("", node, Some(TOP_KEYS)) else {
        return Err(c.errors);
    };
    let name = c.required(&root, "name").and_then(|e| c.name("name", &e.value));
    let supervision = match root.get("supervision") {
        Some(e) => supervision(&mut c, &e.value),
        None => Some(SupervisionSpec::default()),
    };
    let agents = list(&mut c, &root, "agents", entry::agent);
    let kinds = &opts.object_kinds;
    let objects = list(&mut c, &root, "objects", |c, p, n| entry::object(c, p, n, kinds));

    let total: u64 = agents.iter().map(|a| a.replicas.map_or(1, u64::from)).sum();
    if let Some(e) = root.get("agents").filter(|_| total > MAX_AGENTS as u64) {
        let msg = format!("too many agents: {total} (group members included); at most {MAX_AGENTS}");
        c.err("agents", e.key_pos, msg);
    }
    if let Some(e) = root.get("objects").filter(|_| objects.len() > MAX_OBJECTS) {
        let msg = format!("too many objects: {}; at most {MAX_OBJECTS}", objects.len());
        c.err("objects", e.key_pos, msg);
    }
    let endpoints = Endpoints::build(&mut c, &agents, &objects);
    let topology = match root.get("topology") {
        Some(e) => topology(&mut c, &endpoints, e),
        None => Vec::new(),
    };
    let is_agent = |a: &str| {
        matches!(endpoints.agents.get(a), Some((_, None)))
            || endpoints.member(a).is_some_and(|m| m.1 >= 1 && m.1 <= m.2)
    };
    let swarm_name = name.as_deref();
    let schedules =
        list(&mut c, &root, "schedules", |c, p, n| super::schedule::entry::schedule(c, p, n, swarm_name, is_agent));
    let mut seen = HashSet::new();
    for s in schedules.iter().flatten() {
        if !seen.insert(s.name.as_str()) {
            let msg = format!("duplicate schedule name `{}`", s.name.split_once('.').map_or(s.name.as_str(), |p| p.1));
            c.err("schedules", root.get("schedules").and_then(|e| e.key_pos), msg);
        }
    }
    drop(endpoints);
    // Without errors every entry has a spec; `collect` into Option keeps that honest.
    let schedules: Option<Vec<_>> = schedules.into_iter().collect();
    let agents: Option<Vec<_>> = agents.into_iter().map(|a| a.spec).collect();
    let objects: Option<Vec<_>> = objects.into_iter().map(|o| o.spec).collect();
    match (name, supervision, agents, objects, schedules) {
        (Some(name), Some(supervision), Some(agents), Some(objects), Some(schedules)) if c.errors.is_empty() => {
            Ok(SwarmSpec { name, supervision, agents, objects, topology, schedules })
        }
        _ => Err(or_generic(c.errors)),
    }
}

/// Validates one agent entry on its own.
pub(crate) fn lone_agent(node: &Node) -> Result<AgentSpec, Vec<ConfigError>> {
    let mut c = Checker::default();
    match entry::agent(&mut c, "", node).spec {
        Some(spec) if c.errors.is_empty() => Ok(spec),
        _ => Err(or_generic(c.errors)),
    }
}

/// Validates one object entry on its own.
pub(crate) fn lone_object(node: &Node, opts: &ValidateOptions) -> Result<ObjectSpec, Vec<ConfigError>> {
    let mut c = Checker::default();
    match entry::object(&mut c, "", node, &opts.object_kinds).spec {
        Some(spec) if c.errors.is_empty() => Ok(spec),
        _ => Err(or_generic(c.errors)),
    }
}

fn or_generic(mut errors: Vec<ConfigError>) -> Vec<ConfigError> {
    if errors.is_empty() {
        errors.push(ConfigError::new("", "invalid entry"));
    }
    errors
}

/// `agents` / `objects`: an array of tables, each checked by `check`.
fn list<T>(
    c: &mut Checker,
    root: &Table<'_>,
    key: &str,
    mut check: impl FnMut(&mut Checker, &str, &Node) -> T,
) -> Vec<T> {
    let Some(e) = root.get(key) else {
        return Vec::new();
    };
    match &e.value.value {
        Value::Array(items) => {
            items.iter().enumerate().map(|(i, item)| check(c, &format!("{key}[{i}]"), item)).collect()
        }
        other => {
            let hint = match other {
                Value::Table(_) => format!(" (write [[{key}]] for each entry)"),
                _ => String::new(),
            };
            let msg = format!("expected an array of tables, found {}{hint}", other.type_name());
            c.err(key, e.value.pos, msg);
            Vec::new()
        }
    }
}

fn supervision(c: &mut Checker, node: &Node) -> Option<SupervisionSpec> {
    let t = c.table("supervision", node, Some(SUPERVISION_KEYS))?;
    let d = SupervisionSpec::default();
    let strategy = match t.get("strategy") {
        Some(e) => c.word(&t.path("strategy"), &e.value, STRATEGIES, Strategy::parse),
        None => Some(d.strategy),
    };
    let max_restarts = u32_key(c, &t, "max_restarts", (0, MAX_RESTARTS), d.max_restarts);
    let max_seconds = u32_key(c, &t, "max_seconds", (1, MAX_SECONDS), d.max_seconds);
    let backoff_ms = match t.get("backoff_ms") {
        Some(e) => c.u64_in(&t.path("backoff_ms"), &e.value, 0, MAX_TIMEOUT_MS),
        None => Some(d.backoff_ms),
    };
    let backoff_max_ms = match t.get("backoff_max_ms") {
        Some(e) => c.u64_in(&t.path("backoff_max_ms"), &e.value, 0, MAX_TIMEOUT_MS).filter(|&max| match backoff_ms {
            Some(min) if max < min => {
                let msg = format!("must be at least backoff_ms ({min}), found {max}");
                c.err(t.path("backoff_max_ms"), e.value.pos, msg);
                false
            }
            _ => true,
        }),
        None => backoff_ms.map(default_backoff_max),
    };
    Some(SupervisionSpec {
        strategy: strategy?,
        max_restarts: max_restarts?,
        max_seconds: max_seconds?,
        backoff_ms: backoff_ms?,
        backoff_max_ms: backoff_max_ms?,
    })
}

fn u32_key(c: &mut Checker, t: &Table<'_>, key: &str, (min, max): (u32, u32), default: u32) -> Option<u32> {
    match t.get(key) {
        Some(e) => c.u32_in(&t.path(key), &e.value, min, max),
        None => Some(default),
    }
}

/// Every name a topology edge may use, and the clashes between them.
struct Endpoints<'a> {
    /// Plain agents and groups (with their replicas).
    agents: HashMap<&'a str, (&'a Named, Option<u32>)>,
    objects: HashMap<&'a str, &'a Named>,
}

/// `entry` plus the line, for "first defined at" messages.
fn place(n: &Named) -> String {
    match n.pos {
        Some((line, _)) => format!("{}, line {line}", n.entry),
        None => n.entry.clone(),
    }
}

impl<'a> Endpoints<'a> {
    fn build(c: &mut Checker, agents: &'a [AgentOut], objects: &'a [ObjectOut]) -> Self {
        let mut eps = Self { agents: HashMap::new(), objects: HashMap::new() };
        for a in agents {
            let Some(n) = &a.named else { continue };
            match eps.agents.get(n.name.as_str()) {
                Some((first, _)) => {
                    let msg = format!("duplicate agent name `{}`; first defined at {}", n.name, place(first));
                    c.err(format!("{}.name", n.entry), n.pos, msg);
                }
                None => {
                    eps.agents.insert(&n.name, (n, a.replicas));
                }
            }
        }
        for n in agents.iter().filter_map(|a| a.named.as_ref()) {
            if let Some((group, i, replicas)) = eps.member(&n.name).filter(|m| m.1 <= m.2) {
                let msg = format!(
                    "agent name `{}` is taken by member {i} of group `{}` ({}; replicas = {replicas})",
                    n.name,
                    group.name,
                    place(group)
                );
                c.err(format!("{}.name", n.entry), n.pos, msg);
            }
        }
        for n in objects.iter().filter_map(|o| o.named.as_ref()) {
            let taken = if let Some((agent, replicas)) = eps.agents.get(n.name.as_str()) {
                let what = if replicas.is_some() { "group" } else { "agent" };
                Some(format!("is already used by the {what} at {}", place(agent)))
            } else if let Some((group, i, _)) = eps.member(&n.name).filter(|m| m.1 <= m.2) {
                Some(format!("is taken by member {i} of group `{}` ({})", group.name, place(group)))
            } else {
                eps.objects
                    .get(n.name.as_str())
                    .map(|first| format!("is a duplicate; first defined at {}", place(first)))
            };
            match taken {
                Some(why) => c.err(format!("{}.name", n.entry), n.pos, format!("object name `{}` {why}", n.name)),
                None => {
                    eps.objects.insert(&n.name, n);
                }
            }
        }
        eps
    }

    /// `name` split as `group_i` of a known group: (group, i, replicas).
    fn member(&self, name: &str) -> Option<(&'a Named, u32, u32)> {
        let (base, index) = name.rsplit_once('_')?;
        if index.starts_with('0') || !index.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let i: u32 = index.parse().ok()?;
        match self.agents.get(base) {
            Some(&(group, Some(replicas))) => Some((group, i, replicas)),
            _ => None,
        }
    }

    /// Ok when `name` is an agent, group, existing group member or object.
    /// Looking for a "did you mean" is skipped once `hints` is used up
    /// (it scans every name; a hostile file could have very many bad edges).
    fn resolve(&self, name: &str, hints: &mut usize) -> Result<(), String> {
        if self.agents.contains_key(name) || self.objects.contains_key(name) {
            return Ok(());
        }
        if let Some((group, i, replicas)) = self.member(name) {
            if i <= replicas {
                return Ok(());
            }
            return Err(format!("unknown endpoint `{name}`: group `{}` has {replicas} members", group.name));
        }
        let names = self.agents.keys().chain(self.objects.keys()).copied();
        *hints = hints.saturating_sub(1);
        let hint =
            suggest(name, names.filter(|_| *hints > 0)).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
        Err(format!("unknown endpoint `{name}`: not an agent, group, group member or object{hint}"))
    }
}

/// `[topology]`: endpoint → array of endpoint names; edges deduplicated in file order.
fn topology(c: &mut Checker, eps: &Endpoints<'_>, e: &Entry) -> Vec<Edge> {
    let Some(t) = c.table("topology", &e.value, None) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut edges = Vec::new();
    let mut hints = MAX_HINTS;
    for entry in t.entries {
        let path = t.path(&entry.key);
        let from_ok = eps.resolve(&entry.key, &mut hints).map_err(|m| c.err(&path, entry.key_pos, m)).is_ok();
        let Value::Array(items) = &entry.value.value else {
            let found = entry.value.value.type_name();
            c.err(&path, entry.value.pos, format!("expected an array of endpoint names, found {found}"));
            continue;
        };
        for (j, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{j}]");
            let Some(to) = c.string(&item_path, item) else {
                continue;
            };
            match eps.resolve(&to, &mut hints) {
                Err(m) => c.err(item_path, item.pos, m),
                Ok(()) if from_ok && seen.insert((entry.key.as_str(), to.clone())) => {
                    edges.push(Edge::new(entry.key.clone(), to));
                }
                Ok(()) => {}
            }
        }
    }
    edges
}
