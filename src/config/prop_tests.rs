//! Property tests of the swarm-file parser and writer: a spec built from
//! random parts either is valid, and then [`to_toml`] writes a file that
//! reads back to the same spec, or is refused, and then its file is refused
//! too; random and mutated swarm files either parse to a spec that
//! round-trips or give errors that each say where; nothing panics.
//! `PROPTEST_CASES` raises the case counts.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use super::schedule::{AgentTarget, CatchUp, Overlap, ScheduleSpec, Target};
use super::*;
use crate::supervisor::{Restart, Strategy as Supervision};

fn opts() -> ValidateOptions {
    ValidateOptions { object_kinds: ["kv", "counter", "queue", "user-kind"].map(String::from).to_vec() }
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// Mostly valid names, now and then one that is not.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z][A-Za-z0-9_-]{0,10}",
        1 => "[a-z]{1,3}_[1-3]",
        1 => ".{0,70}",
    ]
}

/// Any text: escapes, control characters, quotes, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z0-9 ./-]{0,12}", 1 => any::<String>(), 1 => "[\"'\\\\\n\t\r\u{1}\u{7f}é✓ ]{0,8}"]
}

fn strings(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text(), 0..max)
}

fn command() -> impl Strategy<Value = Vec<String>> {
    ("[a-z/][a-z0-9/._-]{0,10}", strings(3)).prop_map(|(p, mut args)| {
        args.insert(0, p);
        args
    })
}

fn env() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[A-Za-z_][A-Za-z0-9_]{0,6}", text(), 0..3)
}

fn stdio(launches: bool) -> impl Strategy<Value = StdioSpec> {
    let launch = if launches {
        prop_oneof![
            3 => Just(LaunchSpec::Local),
            1 => ("[a-z@.]{1,10}", strings(3)).prop_map(|(host, args)| LaunchSpec::Ssh { host, args }),
            1 => strings(3).prop_map(|args| LaunchSpec::Bwrap { args }),
            1 => ("[a-z:/.]{1,10}", strings(3)).prop_map(|(image, args)| LaunchSpec::Docker { image, args }),
        ]
        .boxed()
    } else {
        Just(LaunchSpec::Local).boxed()
    };
    (command(), prop::option::of(text()), env(), launch).prop_map(|(command, cwd, env, launch)| StdioSpec {
        command,
        cwd,
        env,
        launch,
    })
}

fn backend() -> impl Strategy<Value = BackendSpec> {
    let mock = (
        prop_oneof![Just(0u64), 0..=3_600_000u64],
        prop_oneof![Just(0u32), any::<u32>()],
        prop::option::of(text()),
        prop::option::of(text()),
        any::<bool>(),
    )
        .prop_map(|(delay_ms, fail_every, panic_on, reply, relay)| {
            BackendSpec::Mock(MockSpec { delay_ms, fail_every, panic_on, reply, relay })
        });
    prop_oneof![
        3 => mock,
        2 => stdio(true).prop_map(BackendSpec::Stdio),
        1 => strings(3).prop_map(|capabilities| BackendSpec::Zmq(ZmqSpec { capabilities })),
    ]
}

fn restart() -> impl Strategy<Value = Restart> {
    prop::sample::select(Restart::ALL.to_vec())
}

fn agent() -> impl Strategy<Value = AgentSpec> {
    (
        name(),
        prop::option::of(0..4u32),
        backend(),
        restart(),
        prop_oneof![Just(DEFAULT_KILL_TIMEOUT_MS), 0..=600_000u64],
        prop::collection::vec("[a-z]{1,5}(/[a-z]{1,5})?\\.md", 0..3),
        prop::option::of(text()),
    )
        .prop_map(|(name, replicas, backend, restart, kill_timeout_ms, skills, model)| AgentSpec {
            name,
            replicas,
            backend,
            restart,
            kill_timeout_ms,
            skills,
            model,
        })
}

/// JSON that a swarm file can hold (no null; integers within 64 bits signed).
fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = ObjectSpec> {
    let kind = prop_oneof![
        4 => prop::sample::select(vec!["kv", "counter", "queue", "user-kind"]).prop_map(|k| (k.to_string(), None)),
        1 => stdio(false).prop_map(|p| (PROGRAM_HANDLER.to_string(), Some(p))),
    ];
    let config =
        prop::collection::vec(("[a-z_]{1,6}", json()), 0..3).prop_map(|kv| Value::Object(kv.into_iter().collect()));
    (name(), kind, config, restart()).prop_map(|(name, (kind, program), config, restart)| ObjectSpec {
        name,
        kind,
        config,
        restart,
        program,
    })
}

fn supervision() -> impl Strategy<Value = SupervisionSpec> {
    (
        prop::sample::select(Supervision::ALL.to_vec()),
        prop_oneof![Just(3u32), 0..=1_000_000u32],
        prop_oneof![Just(5u32), 1..=86_400u32],
        prop_oneof![Just(0u64), 0..=600_000u64],
        prop::option::of(0..=600_000u64),
    )
        .prop_map(|(strategy, max_restarts, max_seconds, backoff_ms, max)| SupervisionSpec {
            strategy,
            max_restarts,
            max_seconds,
            backoff_ms,
            // Unset: the default the parser fills in; set: at least backoff_ms.
            backoff_max_ms: max.map_or(validate::default_backoff_max(backoff_ms), |m| m.max(backoff_ms)),
        })
}

/// A schedule of the agent at `agent` among the swarm's agent names.
#[derive(Debug, Clone)]
struct RawSchedule {
    name: String,
    agent: Index,
    every: String,
    content: String,
    enabled: bool,
    overlap: Overlap,
    catch_up: CatchUp,
}

fn schedule() -> impl Strategy<Value = RawSchedule> {
    (
        "[a-z][a-z0-9_-]{0,8}",
        any::<Index>(),
        prop::sample::select(vec!["30s", "5m", "1h", "2h 30m"]),
        "[a-z ]{1,10}",
        any::<bool>(),
        prop::sample::select(vec![Overlap::Skip, Overlap::Queue, Overlap::CancelPrevious]),
        prop::sample::select(vec![CatchUp::Skip, CatchUp::Once]),
    )
        .prop_map(|(name, agent, every, content, enabled, overlap, catch_up)| RawSchedule {
            name,
            agent,
            every: every.into(),
            content,
            enabled,
            overlap,
            catch_up,
        })
}

/// A whole spec; edges and schedules name its endpoints (by index), edges
/// deduplicated and grouped by sender as a parsed file has them.
fn spec() -> impl Strategy<Value = SwarmSpec> {
    (
        name(),
        supervision(),
        prop::collection::vec(agent(), 0..5),
        prop::collection::vec(object(), 0..3),
        prop::collection::vec((any::<Index>(), any::<Index>()), 0..8),
        prop::collection::vec(schedule(), 0..2),
    )
        .prop_map(|(name, supervision, agents, objects, edges, schedules)| {
            let mut spec =
                SwarmSpec { name, supervision, agents, objects, topology: Vec::new(), schedules: Vec::new() };
            let mut endpoints: Vec<String> = spec.agents.iter().map(|a| a.name.clone()).collect();
            endpoints.extend(spec.agent_names());
            endpoints.extend(spec.objects.iter().map(|o| o.name.clone()));
            if !endpoints.is_empty() {
                let mut seen = BTreeSet::new();
                let mut pairs: Vec<Edge> = Vec::new();
                for (from, to) in edges {
                    let e = Edge::new(from.get(&endpoints).clone(), to.get(&endpoints).clone());
                    if seen.insert(e.clone()) {
                        pairs.push(e);
                    }
                }
                let mut froms: Vec<&str> = Vec::new();
                for e in &pairs {
                    if !froms.contains(&e.from.as_str()) {
                        froms.push(&e.from);
                    }
                }
                spec.topology =
                    froms.iter().flat_map(|f| pairs.iter().filter(move |e| e.from == *f).cloned()).collect();
            }
            let agents = spec.agent_names();
            if !agents.is_empty() {
                spec.schedules = schedules
                    .into_iter()
                    .map(|s| ScheduleSpec {
                        name: format!("{}.{}", spec.name, s.name),
                        cron: None,
                        timezone: None,
                        every: Some(s.every),
                        at: None,
                        target: Target::Agent(AgentTarget {
                            swarm: spec.name.clone(),
                            agent: s.agent.get(&agents).clone(),
                        }),
                        content: s.content,
                        enabled: s.enabled,
                        overlap: s.overlap,
                        catch_up: s.catch_up,
                    })
                    .collect();
            }
            spec
        })
}

/// Every error of a text file says where: a line, or at least a path.
fn assert_located(errors: &ConfigErrors, src: &str) {
    assert!(!errors.0.is_empty(), "an error result holds errors");
    for e in &errors.0 {
        assert!(e.line.is_some(), "error without a line: {e:?}\n---\n{src}");
        assert!(e.column.is_some(), "error without a column: {e:?}\n---\n{src}");
    }
}

/// A file that parses round-trips: written back, it reads as the same spec.
fn assert_round_trips(spec: &SwarmSpec) {
    let text = to_toml(spec);
    match parse_toml(&text, &opts()) {
        Ok(back) => assert_eq!(&back, spec, "written back as:\n{text}"),
        Err(e) => panic!("a parsed spec was written as a file that does not parse:\n{e}\n---\n{text}"),
    }
}

/// One way of damaging a file's text.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, String),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippet = prop_oneof![
        Just("[".to_string()),
        Just("]]".to_string()),
        Just("\"".to_string()),
        Just("=".to_string()),
        Just("\n[[agents]]\nname = \"x\"\n".to_string()),
        Just("\n[topology]\n".to_string()),
        Just(" = [\"a\", 1]".to_string()),
        Just("99999999999999999999".to_string()),
        Just("{ a = nan }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("\nreplicas = 20001\n".to_string()),
        any::<String>(),
    ];
    prop_oneof![
        (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), snippet).prop_map(|(i, s)| Mutation::Insert(i, s)),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// The byte offset `i` picks in `s`, moved back to a char boundary.
fn boundary(s: &str, i: &Index) -> usize {
    let mut at = i.index(s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(src: &str, m: &Mutation) -> String {
    let mut s = src.to_string();
    let mut lines: Vec<&str> = src.split_inclusive('\n').collect();
    match m {
        Mutation::Delete(i, n) => {
            let at = boundary(&s, i);
            let mut end = (at + n).min(s.len());
            while !s.is_char_boundary(end) {
                end += 1;
            }
            s.replace_range(at..end, "");
        }
        Mutation::Insert(i, text) => s.insert_str(boundary(&s, i), text),
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let l = i.get(&lines).to_string();
            lines.insert(i.index(lines.len()), &l);
            return lines.concat();
        }
        Mutation::SwapLines(a, b) if !lines.is_empty() => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
            return lines.concat();
        }
        Mutation::Truncate(i) => s.truncate(boundary(&s, i)),
        _ => {}
    }
    s
}

proptest! {
    #![proptest_config(cases(256))]

    /// A spec is valid exactly when its file parses, and then it parses to itself.
    #[test]
    fn a_spec_writes_a_file_that_parses_back_to_it_exactly_when_it_is_valid(spec in spec()) {
        let text = to_toml(&spec);
        let checked = check_spec(&spec, &opts());
        let parsed = parse_toml(&text, &opts());
        match (&checked, parsed) {
            (Ok(()), Ok(back)) => prop_assert_eq!(back, spec, "written as:\n{}", text),
            (Err(_), Err(e)) => assert_located(&e, &text),
            (Ok(()), Err(e)) => prop_assert!(false, "a valid spec was written as an invalid file:\n{}\n---\n{}", e, text),
            (Err(e), Ok(_)) => prop_assert!(false, "an invalid spec ({}) was written as a valid file:\n{}", e, text),
        }
    }

    /// A damaged swarm file parses to a spec that round-trips, or gives
    /// errors that each have a line and column.
    #[test]
    fn a_damaged_file_parses_to_a_spec_that_round_trips_or_says_where_it_is_wrong(
        spec in spec(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let src = mutations.iter().fold(to_toml(&spec), |s, m| mutate(&s, m));
        match parse_toml(&src, &opts()) {
            Ok(parsed) => assert_round_trips(&parsed),
            Err(e) => assert_located(&e, &src),
        }
    }

    /// Any text at all: no panic, and a result of the same two kinds.
    #[test]
    fn any_text_parses_to_a_spec_that_round_trips_or_says_where_it_is_wrong(src in any::<String>()) {
        match parse_toml(&src, &opts()) {
            Ok(parsed) => assert_round_trips(&parsed),
            Err(e) => assert_located(&e, &src),
        }
        // JSON text goes through the same validator; no panic either.
        let _ = parse_json(&src, &opts());
    }
}
