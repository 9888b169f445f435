//! Behaviour tests of the swarm-file module as a whole: a realistic valid
//! file, defaults, JSON equivalence, files on disk, single-entry parsers and
//! `check_spec`. Bad files live in `bad_file_tests.rs`, round trips in
//! `snapshot_tests.rs`.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::supervisor::{Restart, Strategy};

fn opts() -> ValidateOptions {
    ValidateOptions::default()
}

pub(super) const REALISTIC: &str = r#"
name = "research"

[supervision]
strategy = "rest_for_one"
max_restarts = 10
max_seconds = 60
backoff_ms = 100

[[agents]]
name = "planner"
backend = "stdio"
command = ["python3", "actors/echo.py"]
cwd = "."
env = { LOG_LEVEL = "info" }
restart = "transient"
kill_timeout_ms = 2000
skills = ["skills/planning.md"]
model = "gpt-4o"
launch = "bwrap"
launch_args = ["--ro-bind", "/usr", "/usr"]

[[agents]]
name = "worker"
replicas = 3
mock = { delay_ms = 50, reply = "done" }

[[agents]]
name = "worker_4"
backend = "zmq"
capabilities = ["gpu", "cuda12"]

[[agents]]
name = "reviewer"
backend = "stdio"
command = "node  review.js --strict"
launch = "ssh"
host = "me@box"

[[objects]]
name = "board"
kind = "kv"
config = { max_keys = 1000, since = 1979-05-27, nested = { list = [1, 2.5, "x"] } }

[[objects]]
name = "jobs"
kind = "queue"
restart = "temporary"

[topology]
planner = ["worker", "board", "worker"]
worker_2 = ["planner", "jobs"]
worker = ["reviewer"]
reviewer = ["worker_4", "planner"]
"#;

pub(super) fn realistic_spec() -> SwarmSpec {
    let agent = |name: &str, backend| AgentSpec {
        name: name.into(),
        replicas: None,
        backend,
        restart: Restart::Permanent,
        kill_timeout_ms: DEFAULT_KILL_TIMEOUT_MS,
        skills: vec![],
        model: None,
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let planner = AgentSpec {
        restart: Restart::Transient,
        kill_timeout_ms: 2000,
        skills: strings(&["skills/planning.md"]),
        model: Some("gpt-4o".into()),
        ..agent(
            "planner",
            BackendSpec::Stdio(StdioSpec {
                command: strings(&["python3", "actors/echo.py"]),
                cwd: Some(".".into()),
                env: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
                launch: LaunchSpec::Bwrap { args: strings(&["--ro-bind", "/usr", "/usr"]) },
            }),
        )
    };
    let mock = MockSpec { delay_ms: 50, reply: Some("done".into()), ..MockSpec::default() };
    let worker = AgentSpec { replicas: Some(3), ..agent("worker", BackendSpec::Mock(mock)) };
    let gpu = agent("worker_4", BackendSpec::Zmq(ZmqSpec { capabilities: strings(&["gpu", "cuda12"]) }));
    let reviewer = agent(
        "reviewer",
        BackendSpec::Stdio(StdioSpec {
            command: strings(&["node", "review.js", "--strict"]),
            launch: LaunchSpec::Ssh { host: "me@box".into(), args: vec![] },
            ..StdioSpec::default()
        }),
    );
    let edges = [
        ("planner", "worker"),
        ("planner", "board"),
        ("worker_2", "planner"),
        ("worker_2", "jobs"),
        ("worker", "reviewer"),
        ("reviewer", "worker_4"),
        ("reviewer", "planner"),
    ];
    SwarmSpec {
        name: "research".into(),
        supervision: SupervisionSpec {
            strategy: Strategy::RestForOne,
            max_restarts: 10,
            max_seconds: 60,
            backoff_ms: 100,
            backoff_max_ms: 3200,
        },
        agents: vec![planner, worker, gpu, reviewer],
        objects: vec![
            ObjectSpec {
                name: "board".into(),
                kind: "kv".into(),
                config: json!({"max_keys": 1000, "since": "1979-05-27", "nested": {"list": [1, 2.5, "x"]}}),
                restart: Restart::Permanent,
                program: None,
            },
            ObjectSpec {
                name: "jobs".into(),
                kind: "queue".into(),
                config: json!({}),
                restart: Restart::Temporary,
                program: None,
            },
        ],
        topology: edges.iter().map(|(f, t)| Edge::new(*f, *t)).collect(),
        schedules: Vec::new(),
    }
}

#[test]
fn realistic_file_parses_to_the_expected_spec() {
    let spec = parse_toml(REALISTIC, &opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec, realistic_spec());
    assert_eq!(spec.agent_names(), ["planner", "worker_1", "worker_2", "worker_3", "worker_4", "reviewer"]);
    assert_eq!(check_spec(&spec, &opts()), Ok(()));
}

#[test]
fn defaults_apply_when_keys_are_absent() {
    let spec = parse_toml("name = \"s\"\n[[agents]]\nname = \"a\"\n", &opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.supervision, SupervisionSpec::default());
    let a = &spec.agents[0];
    assert_eq!(a.backend, BackendSpec::Mock(MockSpec::default()));
    assert_eq!((a.replicas, a.restart, a.kill_timeout_ms), (None, Restart::Permanent, DEFAULT_KILL_TIMEOUT_MS));
    let capped = parse_toml("name = \"s\"\n[supervision]\nbackoff_ms = 60000\n", &opts());
    assert_eq!(capped.map(|s| s.supervision.backoff_max_ms), Ok(600_000));
}

const REALISTIC_JSON: &str = r#"{
  "name": "research",
  "supervision": {"strategy": "rest_for_one", "max_restarts": 10, "max_seconds": 60, "backoff_ms": 100},
  "agents": [
    {"name": "planner", "backend": "stdio", "command": ["python3", "actors/echo.py"], "cwd": ".",
     "env": {"LOG_LEVEL": "info"}, "restart": "transient", "kill_timeout_ms": 2000,
     "skills": ["skills/planning.md"], "model": "gpt-4o", "launch": "bwrap",
     "launch_args": ["--ro-bind", "/usr", "/usr"]},
    {"name": "worker", "replicas": 3, "mock": {"delay_ms": 50, "reply": "done"}},
    {"name": "worker_4", "backend": "zmq", "capabilities": ["gpu", "cuda12"]},
    {"name": "reviewer", "backend": "stdio", "command": "node  review.js --strict", "launch": "ssh", "host": "me@box"}
  ],
  "objects": [
    {"name": "board", "kind": "kv", "config": {"max_keys": 1000, "since": "1979-05-27", "nested": {"list": [1, 2.5, "x"]}}},
    {"name": "jobs", "kind": "queue", "restart": "temporary"}
  ],
  "topology": {
    "planner": ["worker", "board", "worker"],
    "worker_2": ["planner", "jobs"],
    "worker": ["reviewer"],
    "reviewer": ["worker_4", "planner"]
  }
}"#;

#[test]
fn json_text_parses_to_the_same_spec_as_toml() {
    let from_json = parse_json(REALISTIC_JSON, &opts()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_json, realistic_spec());
}

#[test]
fn json_value_parses_to_the_same_spec_up_to_topology_key_order() {
    let value: serde_json::Value = serde_json::from_str(REALISTIC_JSON).unwrap_or_default();
    let mut spec = parse_json_value(&value, &opts()).unwrap_or_else(|e| panic!("{e}"));
    let mut expected = realistic_spec();
    spec.topology.sort();
    expected.topology.sort();
    assert_eq!(spec, expected);
}

#[test]
fn json_errors_use_the_same_paths_without_locations() {
    let value = json!({"name": "s", "agents": [{"name": "a", "backend": "stdio", "mock": {}}], "extra": 1});
    let errors = parse_json_value(&value, &opts()).err().map(|e| e.0).unwrap_or_default();
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["extra", "agents[0].mock", "agents[0].command"]);
    assert!(errors.iter().all(|e| e.line.is_none()));
}

#[test]
fn json_syntax_error_and_duplicate_key_and_null_are_reported() {
    let syntax = parse_json("{\"name\": \"s\",\n \"agents\": [}", &opts()).err().map(|e| e.0).unwrap_or_default();
    assert_eq!(syntax.len(), 1);
    assert_eq!(syntax[0].line, Some(2));
    let dup = parse_json(r#"{"name": "s", "name": "t"}"#, &opts()).err().map(|e| e.0).unwrap_or_default();
    assert!(dup[0].message.contains("duplicate key `name`"), "{dup:?}");
    let null = json!({"name": "s", "objects": [{"name": "o", "kind": "kv", "config": {"a": null}}]});
    let errs = parse_json_value(&null, &opts()).err().map(|e| e.0).unwrap_or_default();
    assert_eq!(errs[0].path, "objects[0].config.a");
    assert!(errs[0].message.contains("null is not allowed"));
}

#[test]
fn parse_file_picks_the_format_by_extension_and_reports_io_errors() {
    let dir = std::env::temp_dir().join(format!("hive-config-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let toml_path = dir.join("s.toml");
    let json_path = dir.join("s.json");
    let _ = std::fs::write(&toml_path, REALISTIC);
    let _ = std::fs::write(&json_path, REALISTIC_JSON);
    assert_eq!(parse_file(&toml_path, &opts()), Ok(realistic_spec()));
    assert_eq!(parse_file(&json_path, &opts()), Ok(realistic_spec()));
    let missing = parse_file(&dir.join("missing.toml"), &opts()).err().map(|e| e.0).unwrap_or_default();
    assert_eq!(missing.len(), 1);
    assert_eq!((missing[0].path.as_str(), missing[0].line), ("", None));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unknown_object_kinds_follow_the_options() {
    let src = "name = \"s\"\n[[objects]]\nname = \"o\"\nkind = \"blob\"\n";
    assert!(parse_toml(src, &opts()).is_err());
    let custom = ValidateOptions { object_kinds: vec!["blob".into()] };
    assert_eq!(parse_toml(src, &custom).map(|s| s.objects[0].kind.clone()), Ok("blob".into()));
}

#[test]
fn an_object_whose_handler_is_a_program_needs_a_command_and_takes_cwd_and_env() {
    let src = "name = \"s\"\n[[objects]]\nname = \"tally\"\nhandler = \"stdio\"\n\
               command = [\"actors/stdio_counter.py\", \"--x\"]\ncwd = \"/tmp\"\nenv = { MODE = \"a\" }\n";
    let spec = parse_toml(src, &opts()).unwrap_or_else(|e| panic!("{e}"));
    let o = &spec.objects[0];
    assert_eq!(o.kind, PROGRAM_HANDLER);
    let p = o.program.as_ref().expect("a program");
    assert_eq!(p.command, ["actors/stdio_counter.py", "--x"]);
    assert_eq!((p.cwd.as_deref(), p.env.get("MODE").map(String::as_str)), (Some("/tmp"), Some("a")));
    // `kind = "stdio"` is the same setting.
    let same = src.replace("handler", "kind");
    assert_eq!(parse_toml(&same, &opts()).map(|s| s.objects[0].program.clone()), Ok(o.program.clone()));

    let errs = |src: &str| parse_toml(src, &opts()).err().map(|e| e.0).unwrap_or_default();
    let no_command = errs("name = \"s\"\n[[objects]]\nname = \"t\"\nhandler = \"stdio\"\n");
    assert_eq!(no_command.len(), 1, "{no_command:?}");
    assert!(no_command[0].message.contains("missing required key `command`"), "{no_command:?}");
    let stray = errs("name = \"s\"\n[[objects]]\nname = \"t\"\nkind = \"kv\"\ncommand = \"x\"\n");
    assert_eq!(stray[0].path, "objects[0].command");
    assert!(stray[0].message.contains("only valid with handler = \"stdio\""), "{stray:?}");
    let both = errs("name = \"s\"\n[[objects]]\nname = \"t\"\nkind = \"kv\"\nhandler = \"kv\"\n");
    assert!(both[0].message.contains("not both"), "{both:?}");
}

#[test]
fn parse_agent_json_accepts_a_valid_entry() {
    let v = json!({"name": "w", "replicas": 0, "mock": {"relay": true, "panic_on": "boom", "fail_every": 3}});
    let a = parse_agent_json(&v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.replicas, Some(0));
    let m = MockSpec { relay: true, panic_on: Some("boom".into()), fail_every: 3, ..MockSpec::default() };
    assert_eq!(a.backend, BackendSpec::Mock(m));
    let docker = json!({"name": "d", "backend": "stdio", "command": ["run"], "launch": "docker", "image": "a:1"});
    let d = parse_agent_json(&docker).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(d.backend, BackendSpec::Stdio(StdioSpec { launch: LaunchSpec::Docker { .. }, .. })));
}

#[test]
fn parse_agent_json_reports_entry_relative_paths() {
    let v = json!({"name": "bad name", "backend": "mock", "mock": {"delay_ms": -1}, "cwd": "/"});
    let errors = parse_agent_json(&v).err().map(|e| e.0).unwrap_or_default();
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["name", "cwd", "mock.delay_ms"], "{errors:?}");
    assert!(parse_agent_json(&json!([1])).is_err());
}

#[test]
fn parse_object_json_checks_kind_and_config() {
    let ok = parse_object_json(&json!({"name": "c", "kind": "counter", "config": {"start": 5}}), &opts());
    assert_eq!(ok.map(|o| o.config), Ok(json!({"start": 5})));
    let bad = parse_object_json(&json!({"name": "c", "kind": "nope", "config": [1]}), &opts());
    let errors = bad.err().map(|e| e.0).unwrap_or_default();
    let paths: Vec<_> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["kind", "config"]);
    let missing = parse_object_json(&json!({"kind": "kv"}), &opts()).err().map(|e| e.0).unwrap_or_default();
    assert_eq!(missing[0].message, "missing required key `name`");
}

#[test]
fn check_spec_finds_duplicates_bad_edges_and_bounds_without_locations() {
    let mut spec = realistic_spec();
    spec.agents[2].name = "planner".into();
    spec.agents[1].replicas = Some(MAX_REPLICAS + 1);
    spec.topology.push(Edge::new("planner", "nobody"));
    if let BackendSpec::Stdio(s) = &mut spec.agents[3].backend {
        s.command.clear();
    }
    let errors = check_spec(&spec, &opts()).err().map(|e| e.0).unwrap_or_default();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(errors.iter().all(|e| e.line.is_none()), "{text:?}");
    for want in ["agents[1].replicas", "agents[2].name: duplicate agent name", "agents[3].command", "`nobody`"] {
        assert!(text.iter().any(|t| t.contains(want)), "missing {want} in {text:?}");
    }
}
