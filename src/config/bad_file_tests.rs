//! Table-driven tests of bad swarm files: each file lists every error it must
//! produce, in order, as `"line:column path ~ message fragment"` (`-` for no
//! location). Several errors in one file are all reported at once.

use super::*;

/// Parses `src` and checks its errors one by one against `expected`.
fn assert_errors(src: &str, expected: &[&str]) {
    let errors = match parse_toml(src, &ValidateOptions::default()) {
        Ok(spec) => panic!("expected errors, parsed {spec:?}\n{src}"),
        Err(e) => e.0,
    };
    let listing: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
    let listing = listing.join("\n");
    assert_eq!(errors.len(), expected.len(), "got\n{listing}");
    for (e, want) in errors.iter().zip(expected) {
        let (loc, rest) = want.split_once(' ').unwrap_or((want, ""));
        let (path, fragment) = rest.split_once(" ~ ").unwrap_or((rest, ""));
        let pos = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("{l}:{c}"),
            _ => "-".to_owned(),
        };
        let ok = pos == loc && e.path == path && e.message.contains(fragment);
        assert!(ok, "expected `{want}`\ngot\n{listing}");
    }
}

/// Found by the property tests: a key missing from the root table (an
/// empty file) was the one error of a text file without a place.
#[test]
fn a_key_missing_from_the_root_table_is_reported_at_1_1() {
    assert_errors("", &["1:1 name ~ missing required key `name`"]);
    assert_errors("\n\n[[agents]]\nname = \"a\"\n", &["1:1 name ~ missing required key `name`"]);
}

#[test]
fn top_level_errors_point_at_the_offending_key_or_value() {
    assert_errors("[supervision]\n", &["1:1 name ~ missing required key `name`"]);
    assert_errors("name = \"1abc\"\n", &["1:8 name ~ invalid name `1abc`: must start with a letter"]);
    assert_errors(
        "name = \"s\"\nagent = []\n",
        &["2:1 agent ~ unknown key `agent` (did you mean `agents`?); valid keys: name, supervision,"],
    );
    assert_errors(
        r#"name = 42
supervision = "fast"
agents = { name = "a" }
objects = [1]
topology = []
"#,
        &[
            "1:8 name ~ expected a string, found an integer",
            "2:15 supervision ~ expected a table, found a string",
            "3:10 agents ~ expected an array of tables, found a table (write [[agents]] for each entry)",
            "4:12 objects[0] ~ expected a table, found an integer",
            "5:12 topology ~ expected a table, found an array",
        ],
    );
}

#[test]
fn supervision_words_and_bounds_are_all_checked() {
    assert_errors(
        r#"name = "s"
[supervision]
strategy = "one_for_none"
max_restarts = -1
max_seconds = 0
backoff_ms = 1000
backoff_max_ms = 10
extra = 1
"#,
        &[
            "3:12 supervision.strategy ~ expected one of: one_for_one, one_for_all, rest_for_one",
            "4:16 supervision.max_restarts ~ must be between 0 and 1000000, found -1",
            "5:15 supervision.max_seconds ~ must be between 1 and 86400, found 0",
            "7:18 supervision.backoff_max_ms ~ must be at least backoff_ms (1000), found 10",
            "8:1 supervision.extra ~ unknown key `extra`",
        ],
    );
}

#[test]
fn agent_keys_types_bounds_and_backend_settings_are_all_checked() {
    assert_errors(
        r#"name = "s"
[[agents]]
name = "a"
backend = "stdoi"
[[agents]]
name = "b"
backend = "stdio"
[[agents]]
name = "c"
replicas = 10001
restart = "always"
kill_timeout_ms = "5s"
[[agents]]
name = "d"
command = ["x"]
capabilities = ["gpu"]
[[agents]]
nmae = "e"
replicas = -2
kill_timeout_ms = 1.5
"#,
        &[
            "4:11 agents[0].backend ~ unknown value `stdoi` (did you mean `stdio`?); expected one of: mock, stdio, zmq",
            "5:1 agents[1].command ~ missing required key `command`",
            "10:12 agents[2].replicas ~ must be between 0 and 10000, found 10001",
            "11:11 agents[2].restart ~ expected one of: permanent, transient, temporary",
            "12:19 agents[2].kill_timeout_ms ~ expected an integer, found a string",
            "15:1 agents[3].command ~ `command` is only valid for stdio agents; this agent's backend is `mock`",
            "16:1 agents[3].capabilities ~ only valid for zmq agents",
            "17:1 agents[4].name ~ missing required key `name`",
            "18:1 agents[4].nmae ~ unknown key `nmae` (did you mean `name`?)",
            "19:12 agents[4].replicas ~ must be between 0 and 10000, found -2",
            "20:19 agents[4].kill_timeout_ms ~ expected an integer, found a float",
        ],
    );
}

#[test]
fn launch_options_must_match_the_launch_kind() {
    assert_errors(
        r#"name = "s"
[[agents]]
name = "a"
backend = "stdio"
command = "python3 a.py"
launch = "ssh"
launch_args = "-v"
[[agents]]
name = "b"
backend = "stdio"
command = []
launch = "docker"
host = "box"
[[agents]]
name = "c"
backend = "stdio"
command = ["x"]
image = "img"
launch = "lxc"
[[agents]]
name = "d"
backend = "stdio"
command = ["x"]
launch_args = ["--ro-bind"]
"#,
        &[
            "6:10 agents[0].host ~ launch = \"ssh\" needs `host`",
            "7:15 agents[0].launch_args ~ expected an array of strings, found a string",
            "11:11 agents[1].command ~ command must not be empty",
            "12:10 agents[1].image ~ launch = \"docker\" needs `image`",
            "13:1 agents[1].host ~ only valid with launch = \"ssh\"; this agent has launch = \"docker\"",
            "19:10 agents[2].launch ~ expected one of: local, ssh, bwrap, docker",
            "24:1 agents[3].launch_args ~ only valid with launch = \"ssh\", \"bwrap\" or \"docker\"",
        ],
    );
}

#[test]
fn env_skills_and_mock_options_are_checked_per_element() {
    assert_errors(
        r#"name = "s"
[[agents]]
name = "a"
backend = "stdio"
command = ["x", 3]
env = { "1BAD" = "x", GOOD = 2 }
skills = ["/etc/passwd", "a/../b", "ok.md", ""]
[[agents]]
name = "m"
mock = { delay_ms = 3600001, fail_every = 1.5, relay = "yes", colour = "red" }
"#,
        &[
            "5:17 agents[0].command[1] ~ expected a string, found an integer",
            "6:9 agents[0].env.1BAD ~ invalid environment variable name `1BAD`",
            "6:30 agents[0].env.GOOD ~ expected a string, found an integer",
            "7:11 agents[0].skills[0] ~ skill path `/etc/passwd` must be a relative path",
            "7:26 agents[0].skills[1] ~ skill path `a/../b` must not contain `..`",
            "7:45 agents[0].skills[3] ~ must not be empty",
            "10:21 agents[1].mock.delay_ms ~ must be between 0 and 3600000, found 3600001",
            "10:43 agents[1].mock.fail_every ~ expected an integer, found a float",
            "10:56 agents[1].mock.relay ~ expected a boolean, found a string",
            "10:63 agents[1].mock.colour ~ unknown key `colour`; valid keys: delay_ms, fail_every",
        ],
    );
}

#[test]
fn duplicate_names_and_clashes_with_group_members_are_errors() {
    assert_errors(
        r#"name = "s"
[[agents]]
name = "worker"
replicas = 3
[[agents]]
name = "worker_2"
[[agents]]
name = "solo"
[[agents]]
name = "solo"
[[objects]]
name = "solo"
kind = "kv"
[[objects]]
name = "worker_3"
kind = "kv"
[[objects]]
name = "board"
kind = "blackboard"
[[objects]]
name = "board"
kind = "kv"
config = 5
[[objects]]
name = "worker"
kind = "kv"
"#,
        &[
            "6:8 agents[1].name ~ `worker_2` is taken by member 2 of group `worker` (agents[0], line 3; replicas = 3)",
            "10:8 agents[3].name ~ duplicate agent name `solo`; first defined at agents[2], line 8",
            "12:8 objects[0].name ~ object name `solo` is already used by the agent at agents[2], line 8",
            "15:8 objects[1].name ~ object name `worker_3` is taken by member 3 of group `worker`",
            "19:8 objects[2].kind ~ unknown object kind `blackboard`; known kinds: kv, counter, queue, or `stdio` (a program; needs `command`)",
            "21:8 objects[3].name ~ is a duplicate; first defined at objects[2], line 18",
            "23:10 objects[3].config ~ expected a table, found an integer",
            "25:8 objects[4].name ~ object name `worker` is already used by the group at agents[0]",
        ],
    );
}

#[test]
fn member_names_beyond_the_group_size_are_free_names() {
    let src = "name = \"s\"\n[[agents]]\nname = \"w\"\nreplicas = 2\n\
               [[agents]]\nname = \"w_3\"\n[[agents]]\nname = \"w_01\"\n";
    let spec = parse_toml(src, &ValidateOptions::default()).map(|s| s.agent_names());
    assert_eq!(spec, Ok(["w_1", "w_2", "w_3", "w_01"].map(String::from).to_vec()));
}

#[test]
fn topology_keys_and_targets_must_be_endpoints() {
    assert_errors(
        r#"name = "s"
[[agents]]
name = "planner"
[[agents]]
name = "worker"
replicas = 2
[[objects]]
name = "board"
kind = "kv"
[topology]
planner = ["worker", "worker_3", "board", "plannr"]
ghost = ["planner"]
worker_1 = "planner"
board = [1]
"#,
        &[
            "11:22 topology.planner[1] ~ unknown endpoint `worker_3`: group `worker` has 2 members",
            "11:43 topology.planner[3] ~ `plannr`: not an agent, group, group member or object (did you mean `planner`?)",
            "12:1 topology.ghost ~ unknown endpoint `ghost`",
            "13:12 topology.worker_1 ~ expected an array of endpoint names, found a string",
            "14:10 topology.board[0] ~ expected a string, found an integer",
        ],
    );
}

#[test]
fn object_entries_need_a_kind_and_known_keys() {
    assert_errors(
        "name = \"s\"\n[[objects]]\nname = \"o\"\nkinds = \"kv\"\nrestart = \"never\"\n",
        &[
            "2:1 objects[0].kind ~ missing required key `kind`",
            "4:1 objects[0].kinds ~ unknown key `kinds` (did you mean `kind`?)",
            "5:11 objects[0].restart ~ unknown value `never`",
        ],
    );
}

#[test]
fn too_many_agents_counts_group_members() {
    assert_errors(
        r#"name = "s"
[[agents]]
name = "a"
replicas = 10000
[[agents]]
name = "b"
replicas = 10000
[[agents]]
name = "c"
"#,
        &["2:3 agents ~ too many agents: 20001 (group members included); at most 20000"],
    );
}

#[test]
fn too_many_objects_is_an_error_at_the_objects_key() {
    let mut src = String::from("name = \"s\"\n");
    for i in 0..=MAX_OBJECTS {
        src.push_str(&format!("[[objects]]\nname = \"o{i}\"\nkind = \"kv\"\n"));
    }
    assert_errors(&src, &["2:3 objects ~ too many objects: 1001; at most 1000"]);
}

#[test]
fn toml_syntax_errors_are_reported_together_and_stop_validation() {
    let src = "name = \"s\"\n[[agents]]\nname = \nreplicas = 3\nx = [1, 2\nname = \"dup\"\n";
    let opts = ValidateOptions::default();
    let errors = parse_toml(src, &opts).err().map(|e| e.0).unwrap_or_default();
    assert!(errors.len() >= 2, "{errors:?}");
    assert!(errors.iter().all(|e| e.line.is_some() && e.message.starts_with("invalid TOML")));
    assert_eq!(errors[0].line, Some(3));
    assert!(errors.windows(2).all(|w| (w[0].line, w[0].column) <= (w[1].line, w[1].column)));
    assert_errors("name = \"a\"\nname = \"b\"\n", &["2:1  ~ invalid TOML: duplicate key"]);
}
