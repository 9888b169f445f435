//! Model-based property test of runtime changes: a random sequence of
//! changes (add and remove agents, groups and objects, edges, scaling,
//! object configuration) is applied live to a running swarm of a runtime
//! with a data directory, and to a plain-Rust model of the swarm's spec.
//! After every change the live swarm's answer (applied, or refused and of
//! which kind) and its spec agree with the model's; at the end the stored
//! overlay replayed on the seed, the snapshot read back, and the swarm a
//! restarted runtime restores all equal the model.
//! `PROPTEST_CASES` raises the case count (default 32).

use std::path::Path;

use hive::config::{self, AgentSpec, Edge, ObjectSpec, SwarmSpec, member_name};
use hive::runtime::overlay;
use hive::{Hive, HiveError, HiveOptions};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Names the changes use: agents, groups, members and objects collide often.
const NAMES: [&str; 11] = ["a", "b", "c", "g", "g_1", "g_2", "g_3", "h", "h_1", "o", "p"];

const SEED: &str = r#"
name = "prop"
[[agents]]
name = "a"
[[agents]]
name = "g"
replicas = 2
[[objects]]
name = "o"
kind = "kv"
[topology]
a = ["g", "o"]
g = ["o"]
g_2 = ["a"]
"#;

#[derive(Debug, Clone)]
enum Change {
    AddAgent { name: &'static str, replicas: Option<u32>, connections: Vec<&'static str>, incoming: Vec<&'static str> },
    RemoveAgent(&'static str),
    AddObject { name: &'static str, kind: &'static str, connections: Vec<&'static str>, incoming: Vec<&'static str> },
    RemoveObject(&'static str),
    Edges { add: Vec<(&'static str, &'static str)>, remove: Vec<(&'static str, &'static str)> },
    Scale(&'static str, u64),
    Configure(&'static str, Value),
}

/// How a change was refused, as the runtime's error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotFound,
    Conflict,
    BadRequest,
    InvalidEdges,
}

fn refusal(e: &HiveError) -> Refusal {
    match e {
        HiveError::NotFound { .. } => Refusal::NotFound,
        HiveError::Conflict(_) => Refusal::Conflict,
        HiveError::BadRequest(_) => Refusal::BadRequest,
        HiveError::InvalidEdges(_) => Refusal::InvalidEdges,
        other => panic!("a change was refused for an unexpected reason: {other}"),
    }
}

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(NAMES.to_vec())
}

fn names() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(name(), 0..3)
}

/// Configurations of every kind, some refused by the kind, some that a
/// swarm file cannot hold (null, an integer beyond 64 bits signed).
fn config() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        (0..50u64).prop_map(|n| json!({"max_keys": n})),
        (0..50u64).prop_map(|n| json!({"max_len": n})),
        any::<i64>().prop_map(|n| json!({"initial": n})),
        Just(json!({"max_keys": null})),
        Just(json!({"initial": null})),
        Just(json!({"max_keys": u64::MAX})),
        Just(json!({"max_len": -1})),
        Just(json!({"initial": 1.5})),
        Just(json!({"bogus": 1})),
        Just(json!([1])),
    ]
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (name(), prop::option::of(0..3u32), names(), names())
            .prop_map(|(name, replicas, connections, incoming)| Change::AddAgent { name, replicas, connections, incoming }),
        1 => name().prop_map(Change::RemoveAgent),
        2 => (name(), prop::sample::select(vec!["kv", "counter", "queue"]), names(), names())
            .prop_map(|(name, kind, connections, incoming)| Change::AddObject { name, kind, connections, incoming }),
        1 => name().prop_map(Change::RemoveObject),
        3 => (prop::collection::vec((name(), name()), 0..3), prop::collection::vec((name(), name()), 0..2))
            .prop_map(|(add, remove)| Change::Edges { add, remove }),
        3 => (name(), 0..5u64).prop_map(|(g, n)| Change::Scale(g, n)),
        2 => (name(), config()).prop_map(|(o, c)| Change::Configure(o, c)),
    ]
}

/// The model: the swarm's spec, changed by the rules of `docs/semantics.md`
/// ("Runtime changes"), written without the runtime's code.
struct Model {
    spec: SwarmSpec,
}

impl Model {
    fn group(&self, name: &str) -> Option<&AgentSpec> {
        self.spec.agents.iter().find(|a| a.name == name && a.replicas.is_some())
    }

    /// Every endpoint an edge may name: agents, members, groups, objects.
    fn knows(&self, name: &str) -> bool {
        self.spec.agent_names().iter().any(|n| n == name)
            || self.group(name).is_some()
            || self.spec.objects.iter().any(|o| o.name == name)
    }

    fn push_edge(&mut self, e: Edge) {
        if !self.spec.topology.contains(&e) {
            self.spec.topology.push(e);
        }
    }

    fn drop_edges_naming(&mut self, names: &[String]) {
        self.spec.topology.retain(|e| !names.contains(&e.from) && !names.contains(&e.to));
    }

    fn new_endpoint(&self, names: &[String], edges: &[Edge], own: &str) -> Result<(), Refusal> {
        if names.iter().any(|n| self.knows(n)) {
            return Err(Refusal::Conflict);
        }
        if edges.iter().any(|e| [&e.from, &e.to].iter().any(|n| *n != own && !self.knows(n))) {
            return Err(Refusal::InvalidEdges);
        }
        Ok(())
    }

    fn apply(&mut self, c: &Change, agent: Option<&AgentSpec>, object: Option<&ObjectSpec>) -> Result<(), Refusal> {
        match c {
            Change::AddAgent { name, replicas, connections, incoming } => {
                let mut names = vec![name.to_string()];
                names.extend((1..=replicas.unwrap_or(0)).map(|i| member_name(name, i)));
                let edges = edges_of(name, connections, incoming);
                self.new_endpoint(&names, &edges, name)?;
                self.spec.agents.push(agent.expect("an agent spec").clone());
                edges.into_iter().for_each(|e| self.push_edge(e));
            }
            Change::RemoveAgent(name) => {
                let i = self.spec.agents.iter().position(|a| a.name == *name);
                match i {
                    Some(i) => {
                        let a = self.spec.agents.remove(i);
                        let mut gone = vec![a.name.clone()];
                        gone.extend((1..=a.replicas.unwrap_or(0)).map(|i| member_name(&a.name, i)));
                        self.drop_edges_naming(&gone);
                    }
                    None if self.spec.agent_names().iter().any(|n| n == name) => return Err(Refusal::Conflict),
                    None => return Err(Refusal::NotFound),
                }
            }
            Change::AddObject { name, connections, incoming, .. } => {
                let edges = edges_of(name, connections, incoming);
                self.new_endpoint(&[name.to_string()], &edges, name)?;
                self.spec.objects.push(object.expect("an object spec").clone());
                edges.into_iter().for_each(|e| self.push_edge(e));
            }
            Change::RemoveObject(name) => {
                let before = self.spec.objects.len();
                self.spec.objects.retain(|o| o.name != *name);
                if self.spec.objects.len() == before {
                    return Err(Refusal::NotFound);
                }
                self.drop_edges_naming(&[name.to_string()]);
            }
            Change::Edges { add, remove } => {
                let add: Vec<Edge> = add.iter().map(|(f, t)| Edge::new(*f, *t)).collect();
                let remove: Vec<Edge> = remove.iter().map(|(f, t)| Edge::new(*f, *t)).collect();
                let unknown = add.iter().any(|e| !self.knows(&e.from) || !self.knows(&e.to));
                if unknown || remove.iter().any(|e| !self.spec.topology.contains(e)) {
                    return Err(Refusal::InvalidEdges);
                }
                self.spec.topology.retain(|e| !remove.contains(e));
                add.into_iter().for_each(|e| self.push_edge(e));
            }
            Change::Scale(group, count) => {
                let Some(current) = self.group(group).and_then(|g| g.replicas) else {
                    // A plain agent or a member is not a group.
                    let agent = self.spec.agent_names().iter().any(|n| n == group);
                    return Err(if agent { Refusal::Conflict } else { Refusal::NotFound });
                };
                let count = *count as u32;
                let mut reached = current;
                if count > current {
                    // Members start in index order; a name already used stops the scale-up there.
                    while reached < count && !self.knows(&member_name(group, reached + 1)) {
                        reached += 1;
                    }
                } else {
                    reached = count;
                    let gone: Vec<String> = (count + 1..=current).map(|i| member_name(group, i)).collect();
                    self.drop_edges_naming(&gone);
                }
                if let Some(g) = self.spec.agents.iter_mut().find(|a| a.name == *group) {
                    g.replicas = Some(reached);
                }
            }
            Change::Configure(name, config) => {
                let Some(o) = self.spec.objects.iter_mut().find(|o| o.name == *name) else {
                    return Err(Refusal::NotFound);
                };
                if !kind_takes(&o.kind, config) {
                    return Err(Refusal::BadRequest);
                }
                o.config = config.clone();
            }
        }
        Ok(())
    }
}

fn edges_of(name: &str, connections: &[&str], incoming: &[&str]) -> Vec<Edge> {
    connections.iter().map(|c| Edge::new(name, *c)).chain(incoming.iter().map(|i| Edge::new(*i, name))).collect()
}

/// Whether a kind takes a configuration: its own keys, of their types, and
/// only what a swarm file can hold (no null, integers within 64 bits signed).
fn kind_takes(kind: &str, config: &Value) -> bool {
    let Some(m) = config.as_object() else { return false };
    let fits = |v: &Value| v.as_i64().is_some();
    m.iter().all(|(k, v)| match (kind, k.as_str()) {
        ("kv", "max_keys") | ("queue", "max_len") => v.as_u64().is_some() && fits(v),
        ("counter", "initial") => fits(v),
        _ => false,
    })
}

async fn durable(dir: &Path) -> Hive {
    Hive::start(HiveOptions { data_dir: Some(dir.to_path_buf()), ..HiveOptions::default() }).await.expect("starts")
}

async fn run(changes: Vec<Change>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let hive = durable(dir.path()).await;
    let opts = hive.validate_options();
    let seed = config::parse_toml(SEED, &opts).expect("the seed parses");
    let swarm = hive.start_swarm(seed.clone()).await.expect("the seed starts");
    let mut model = Model { spec: seed.clone() };
    for (i, c) in changes.iter().enumerate() {
        let (mut agent, mut object) = (None, None);
        let live = match c.clone() {
            Change::AddAgent { name, replicas, connections, incoming } => {
                let mut v = json!({"name": name});
                if let Some(n) = replicas {
                    v["replicas"] = n.into();
                }
                let spec = config::parse_agent_json(&v).expect("a valid agent");
                agent = Some(spec.clone());
                let strings = |l: Vec<&str>| l.into_iter().map(String::from).collect();
                swarm.add_agent(spec, strings(connections), strings(incoming)).await.map(drop)
            }
            Change::RemoveAgent(name) => swarm.remove_agent(name).await.map(drop),
            Change::AddObject { name, kind, connections, incoming } => {
                let spec = config::parse_object_json(&json!({"name": name, "kind": kind}), &opts).expect("an object");
                object = Some(spec.clone());
                let strings = |l: Vec<&str>| l.into_iter().map(String::from).collect();
                swarm.add_object(spec, strings(connections), strings(incoming)).await
            }
            Change::RemoveObject(name) => swarm.remove_object(name).await,
            Change::Edges { add, remove } => {
                let edges = |l: Vec<(&str, &str)>| l.into_iter().map(|(f, t)| Edge::new(f, t)).collect();
                swarm.update_edges(edges(add), edges(remove)).await.map(drop)
            }
            Change::Scale(group, n) => swarm.scale(group, n).await.map(drop),
            Change::Configure(name, config) => swarm.configure_object(name, config).await,
        };
        let expected = model.apply(c, agent.as_ref(), object.as_ref());
        prop_assert_eq!(live.as_ref().map_err(refusal).err(), expected.err(), "change {} {:?}: {:?}", i + 1, c, live);
        let spec = swarm.spec().await.expect("the spec");
        prop_assert_eq!(&spec, &model.spec, "after change {} {:?}", i + 1, c);
    }
    // The snapshot reads back as the same swarm (its edges grouped by
    // sender, as `to_toml` writes them: their order means nothing).
    let text = config::to_toml(&model.spec);
    let sorted = |mut s: SwarmSpec| {
        s.topology.sort();
        s
    };
    let back = config::parse_toml(&text, &opts).map(sorted);
    prop_assert_eq!(back, Ok(sorted(model.spec.clone())), "snapshot:\n{}", text);
    // The stored overlay replayed on the seed is the same swarm.
    let ops = hive.overlay("prop").await.expect("the overlay");
    let (replayed, skipped) = overlay::replay(&seed, &ops, &opts);
    prop_assert!(skipped.is_empty(), "{:?}", skipped);
    prop_assert_eq!(&replayed, &model.spec);
    hive.shutdown().await;
    // And so is the swarm a restarted runtime brings back.
    let hive = durable(dir.path()).await;
    let restored = hive.swarm("prop").await.expect("restored").spec().await.expect("its spec");
    prop_assert_eq!(&restored, &model.spec);
    hive.shutdown().await;
    Ok(())
}

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn live_changes_the_overlay_replay_and_a_restart_agree_with_the_model(
        changes in prop::collection::vec(change(), 1..25),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        rt.block_on(run(changes))?;
    }
}

/// Found by the model: a kind took a configuration a swarm file cannot
/// hold (`{"max_keys": null}`, `{"max_keys": 18446744073709551615}`), so the
/// snapshot lost the null or no longer parsed, and so did the seed an
/// overlay was folded into. Such a configuration is refused; nothing changes.
#[tokio::test]
async fn a_configuration_a_swarm_file_cannot_hold_is_refused_and_the_snapshot_still_parses() {
    let dir = tempfile::tempdir().unwrap();
    let hive = durable(dir.path()).await;
    let opts = hive.validate_options();
    let swarm = hive.start_swarm(config::parse_toml(SEED, &opts).unwrap()).await.unwrap();
    for bad in [json!({"max_keys": null}), json!({"max_keys": u64::MAX})] {
        let e = swarm.configure_object("o", bad.clone()).await.unwrap_err();
        assert!(matches!(&e, HiveError::BadRequest(m) if m.contains("config.max_keys")), "{bad}: {e}");
    }
    swarm.configure_object("o", json!({"max_keys": 7})).await.unwrap();
    hive.clear_overlay("prop").await.unwrap();
    let spec = swarm.spec().await.unwrap();
    assert_eq!(spec.objects[0].config, json!({"max_keys": 7}));
    assert_eq!(config::parse_toml(&config::to_toml(&spec), &opts).map(|s| s.objects), Ok(spec.objects.clone()));
    hive.shutdown().await;
    let hive = durable(dir.path()).await;
    assert_eq!(hive.swarm("prop").await.unwrap().spec().await.unwrap().objects, spec.objects);
    hive.shutdown().await;
}
