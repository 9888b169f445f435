//! Round-trip tests of [`to_toml`]: every valid spec written as a swarm file
//! reads back equal, with escaping, nested object config, launch variants,
//! mock options, empty and zero values.

use std::collections::BTreeMap;

use serde_json::json;

use super::tests::{REALISTIC, realistic_spec};
use super::*;
use crate::supervisor::{Restart, Strategy};

fn opts() -> ValidateOptions {
    ValidateOptions { object_kinds: ["kv", "counter", "queue", "user-kind"].map(String::from).to_vec() }
}

fn assert_round_trip(spec: &SwarmSpec) {
    assert_eq!(check_spec(spec, &opts()), Ok(()), "spec must be valid");
    let text = to_toml(spec);
    match parse_toml(&text, &opts()) {
        Ok(back) => assert_eq!(&back, spec, "round trip changed the spec; file was:\n{text}"),
        Err(e) => panic!("to_toml wrote an invalid file:\n{e}\n---\n{text}"),
    }
}

fn empty(name: &str) -> SwarmSpec {
    SwarmSpec {
        name: name.into(),
        supervision: SupervisionSpec::default(),
        agents: vec![],
        objects: vec![],
        topology: vec![],
        schedules: vec![],
    }
}

fn agent(name: &str, backend: BackendSpec) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        replicas: None,
        backend,
        restart: Restart::Permanent,
        kill_timeout_ms: DEFAULT_KILL_TIMEOUT_MS,
        skills: vec![],
        model: None,
    }
}

fn stdio(command: &[&str], launch: LaunchSpec) -> BackendSpec {
    BackendSpec::Stdio(StdioSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        launch,
        ..StdioSpec::default()
    })
}

const AWKWARD: &str = "he said \"hi\"\n\ttab \\ back\r\u{1}\u{7f}\u{8}\u{c} ünïcødé ✓ 'single' \"\"\"";

#[test]
fn minimal_spec_writes_a_short_readable_file() {
    let spec = empty("tiny");
    let text = to_toml(&spec);
    assert_eq!(
        text,
        "name = \"tiny\"\n\n[supervision]\nstrategy = \"one_for_one\"\nmax_restarts = 3\nmax_seconds = 5\n"
    );
    assert_round_trip(&spec);
}

#[test]
fn realistic_spec_round_trips() {
    assert_round_trip(&realistic_spec());
    let parsed = parse_toml(REALISTIC, &opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_round_trip(&parsed);
}

#[test]
fn agents_with_every_backend_launch_and_option_round_trip() {
    let mut spec = empty("varied-1");
    spec.supervision = SupervisionSpec {
        strategy: Strategy::OneForAll,
        max_restarts: 0,
        max_seconds: 86_400,
        backoff_ms: 10,
        backoff_max_ms: 10,
    };
    let mock = MockSpec {
        delay_ms: 3_600_000,
        fail_every: u32::MAX,
        panic_on: Some(AWKWARD.into()),
        reply: Some(String::new()),
        relay: true,
    };
    let mut idle = agent("idle", BackendSpec::Mock(mock));
    idle.replicas = Some(0);
    idle.restart = Restart::Temporary;
    idle.kill_timeout_ms = 0;
    idle.model = Some(String::new());
    idle.skills = vec!["skills/a b.md".into(), "./x/y".into()];
    let mut local = agent("local", stdio(&["prog", "arg with  spaces", ""], LaunchSpec::Local));
    if let BackendSpec::Stdio(s) = &mut local.backend {
        s.cwd = Some(String::new());
        s.env = BTreeMap::from([("A".into(), "x=y".into()), ("_B".into(), AWKWARD.into())]);
    }
    let ssh = LaunchSpec::Ssh { host: "me@box".into(), args: vec!["-p".into(), "2222".into()] };
    let docker = LaunchSpec::Docker { image: "agent:latest".into(), args: vec!["--network=none".into()] };
    spec.agents = vec![
        idle,
        local,
        agent("remote", stdio(&["a"], ssh)),
        agent("boxed", stdio(&["b"], LaunchSpec::Bwrap { args: vec![] })),
        agent("contained", stdio(&["c"], docker)),
        agent("pool", BackendSpec::Zmq(ZmqSpec::default())),
        AgentSpec { replicas: Some(2), ..agent("echo", BackendSpec::Mock(MockSpec::default())) },
    ];
    spec.topology = vec![Edge::new("echo", "echo_2"), Edge::new("echo_1", "idle"), Edge::new("remote", "echo")];
    assert_round_trip(&spec);
}

#[test]
fn objects_with_nested_config_round_trip() {
    let mut spec = empty("varied-2");
    spec.supervision.backoff_ms = 20_000; // backoff_max_ms left at its default
    spec.supervision.backoff_max_ms = 600_000;
    spec.agents = vec![agent("a", BackendSpec::Mock(MockSpec::default()))];
    let config = json!({
        "a b": {"": [1, -2, 0.1, 1e300, -0.0, true, "s", [], {}, [[1], {"k": "v"}]]},
        "ü": {"x": {"y": [{"z": 1}, {"z": AWKWARD}]}},
        "min": i64::MIN,
        "max": i64::MAX,
        "quote\"key": {},
    });
    spec.objects = vec![
        ObjectSpec { name: "board".into(), kind: "kv".into(), config, restart: Restart::Transient, program: None },
        ObjectSpec {
            name: "count".into(),
            kind: "counter".into(),
            config: json!({}),
            restart: Restart::Permanent,
            program: None,
        },
        ObjectSpec {
            name: "mine".into(),
            kind: "user-kind".into(),
            config: json!({"n": 1}),
            restart: Restart::Temporary,
            program: None,
        },
        ObjectSpec {
            name: "tally".into(),
            kind: crate::config::PROGRAM_HANDLER.into(),
            config: json!({"start": 2}),
            restart: Restart::Transient,
            program: Some(StdioSpec {
                command: vec!["actors/stdio_counter.py".into(), "--step".into(), "two words".into()],
                cwd: Some("/srv".into()),
                env: [("MODE".to_string(), "fast".to_string())].into(),
                launch: LaunchSpec::Local,
            }),
        },
    ];
    spec.topology = vec![Edge::new("a", "board"), Edge::new("a", "count"), Edge::new("board", "a")];
    assert_round_trip(&spec);
}

#[test]
fn ungrouped_edges_are_written_grouped_by_sender() {
    let mut spec = empty("edges");
    spec.agents =
        vec![agent("a", BackendSpec::Mock(MockSpec::default())), agent("b", BackendSpec::Mock(MockSpec::default()))];
    spec.topology = vec![Edge::new("a", "b"), Edge::new("b", "a"), Edge::new("a", "a")];
    let text = to_toml(&spec);
    assert!(text.ends_with("[topology]\na = [\"b\", \"a\"]\nb = [\"a\"]\n"), "{text}");
    let back = parse_toml(&text, &opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.topology, [Edge::new("a", "b"), Edge::new("a", "a"), Edge::new("b", "a")]);
}
