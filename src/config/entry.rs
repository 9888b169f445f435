//! Validation of one `[[agents]]` or `[[objects]]` entry on its own: keys,
//! types, bounds, backend- and launch-specific settings, object kinds. Used by
//! the whole-file validator and by the single-entry REST parsers.
//! Cross-entry rules (unique names, topology) live in `validate.rs`.

use std::collections::BTreeMap;

use serde_json::Map;

use super::check::{Checker, Table};
use super::genswarms::{self, Mapped};
use super::node::{Node, Pos, Value};
use super::spec::{
    AgentSpec, BackendSpec, DEFAULT_KILL_TIMEOUT_MS, LaunchSpec, MAX_REPLICAS, MockSpec, ObjectSpec, PROGRAM_HANDLER,
    StdioSpec, ZmqSpec,
};
use crate::supervisor::Restart;

/// Longest `kill_timeout_ms` and `backoff_ms`: ten minutes.
pub(crate) const MAX_TIMEOUT_MS: u64 = 600_000;
/// Longest mock `delay_ms`: one hour.
const MAX_MOCK_DELAY_MS: u64 = 3_600_000;

const AGENT_KEYS: &[&str] = &[
    "name",
    "backend",
    "replicas",
    "restart",
    "kill_timeout_ms",
    "skills",
    "model",
    "mock",
    "command",
    "cwd",
    "env",
    "launch",
    "host",
    "image",
    "launch_args",
    "capabilities",
];
const MOCK_KEYS: &[&str] = &["delay_ms", "fail_every", "panic_on", "reply", "relay"];
const OBJECT_KEYS: &[&str] = &["name", "kind", "handler", "config", "restart", "command", "cwd", "env"];
/// Keys only an object whose handler is a program takes.
const PROGRAM_KEYS: &[&str] = &["command", "cwd", "env"];
/// Backend words: Hive's, and genswarms' `local` (a stdio agent run locally).
const WORDS: &[&str] = &["mock", "stdio", "zmq", "local"];
const LAUNCHES: &[&str] = &["local", "ssh", "bwrap", "docker"];
pub(crate) const RESTARTS: &[&str] = &["permanent", "transient", "temporary"];

/// A name as written, for duplicate checks.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    /// The name.
    pub(crate) name: String,
    /// Path of the entry (`agents[2]`).
    pub(crate) entry: String,
    /// Where the name value is written.
    pub(crate) pos: Option<Pos>,
}

/// What the whole-file validator needs from one agent entry, even an invalid one.
#[derive(Debug, Default)]
pub(crate) struct AgentOut {
    /// The entry's name, when valid.
    pub(crate) named: Option<Named>,
    /// `replicas`, when set and valid.
    pub(crate) replicas: Option<u32>,
    /// The agent, when the entry had no error.
    pub(crate) spec: Option<AgentSpec>,
}

/// What the whole-file validator needs from one object entry.
#[derive(Debug, Default)]
pub(crate) struct ObjectOut {
    /// The entry's name, when valid.
    pub(crate) named: Option<Named>,
    /// The object, when the entry had no error.
    pub(crate) spec: Option<ObjectSpec>,
}

/// The backend a backend-specific key belongs to.
fn owner(key: &str) -> Option<&'static str> {
    match key {
        "mock" => Some("mock"),
        "command" | "cwd" | "env" | "launch" | "host" | "image" | "launch_args" => Some("stdio"),
        "capabilities" => Some("zmq"),
        _ => None,
    }
}

fn named(c: &mut Checker, t: &Table<'_>) -> Option<Named> {
    let e = c.required(t, "name")?;
    let name = c.name(&t.path("name"), &e.value)?;
    Some(Named { name, entry: t.path.clone(), pos: e.value.pos })
}

fn restart(c: &mut Checker, t: &Table<'_>) -> Option<Restart> {
    match t.get("restart") {
        Some(e) => c.word(&t.path("restart"), &e.value, RESTARTS, Restart::parse),
        None => Some(Restart::default()),
    }
}

/// Validates one agent entry at `path` (`agents[3]`, or `""` for a lone entry).
pub(crate) fn agent(c: &mut Checker, path: &str, node: &Node) -> AgentOut {
    let before = c.errors.len();
    let Some(t) = c.table(path, node, Some(AGENT_KEYS)) else {
        return AgentOut::default();
    };
    let named = named(c, &t);
    // genswarms' forms: `"local"` and `{type, image | host | args}` fix the launch.
    let (backend, fixed) = match t.get("backend") {
        None => (Some("mock"), None),
        Some(e) if genswarms::is_object(&e.value) => match genswarms::backend_object(c, &t.path("backend"), &e.value) {
            Some(Mapped::Mock) => (Some("mock"), None),
            Some(Mapped::Stdio(l)) => (Some("stdio"), Some(l)),
            None => (None, None),
        },
        Some(e) => match c.word(&t.path("backend"), &e.value, WORDS, |w| WORDS.iter().copied().find(|&b| b == w)) {
            Some("local") => (Some("stdio"), Some(LaunchSpec::Local)),
            w => (w, None),
        },
    };
    let replicas = t.get("replicas").and_then(|e| c.u32_in(&t.path("replicas"), &e.value, 0, MAX_REPLICAS));
    let restart = restart(c, &t);
    let kill_timeout_ms = match t.get("kill_timeout_ms") {
        Some(e) => c.u64_in(&t.path("kill_timeout_ms"), &e.value, 0, MAX_TIMEOUT_MS),
        None => Some(DEFAULT_KILL_TIMEOUT_MS),
    };
    let skills = t.get("skills").map(|e| skills(c, &t.path("skills"), &e.value));
    let model = t.get("model").map(|e| c.string(&t.path("model"), &e.value));

    let backend = backend.and_then(|word| backend_settings(c, &t, word, fixed));
    let spec = match (&named, backend, restart, kill_timeout_ms) {
        (Some(n), Some(backend), Some(restart), Some(kill_timeout_ms)) if c.errors.len() == before => Some(AgentSpec {
            name: n.name.clone(),
            replicas,
            backend,
            restart,
            kill_timeout_ms,
            skills: skills.flatten().unwrap_or_default(),
            model: model.flatten(),
        }),
        _ => None,
    };
    AgentOut { named, replicas, spec }
}

/// The settings of backend `word`; keys of other backends are errors.
/// `fixed`: the launch a genswarms backend form gave (then `launch`,
/// `host`, `image` and `launch_args` are errors).
fn backend_settings(c: &mut Checker, t: &Table<'_>, word: &str, fixed: Option<LaunchSpec>) -> Option<BackendSpec> {
    for e in t.entries {
        if let Some(o) = owner(&e.key).filter(|&o| o != word) {
            let msg = format!("`{}` is only valid for {o} agents; this agent's backend is `{word}`", e.key);
            c.err(t.path(&e.key), e.key_pos, msg);
        }
    }
    match word {
        "stdio" => stdio(c, t, fixed).map(BackendSpec::Stdio),
        "zmq" => {
            let caps = match t.get("capabilities") {
                Some(e) => c.strings(&t.path("capabilities"), &e.value),
                None => Some(Vec::new()),
            };
            caps.map(|capabilities| BackendSpec::Zmq(ZmqSpec { capabilities }))
        }
        _ => match t.get("mock") {
            Some(e) => mock(c, &t.path("mock"), &e.value).map(BackendSpec::Mock),
            None => Some(BackendSpec::Mock(MockSpec::default())),
        },
    }
}

fn skills(c: &mut Checker, path: &str, node: &Node) -> Option<Vec<String>> {
    let list = c.strings(path, node)?;
    let items = match &node.value {
        Value::Array(items) => items.as_slice(),
        _ => &[],
    };
    let mut ok = true;
    for (i, (s, item)) in list.iter().zip(items).enumerate() {
        let problem = if s.is_empty() {
            Some("must not be empty")
        } else if s.starts_with('/') || s.starts_with('\\') || s.get(1..2) == Some(":") {
            Some("must be a relative path")
        } else if s.split(['/', '\\']).any(|part| part == "..") {
            Some("must not contain `..`")
        } else {
            None
        };
        if let Some(p) = problem {
            c.err(format!("{path}[{i}]"), item.pos, format!("skill path `{s}` {p}"));
            ok = false;
        }
    }
    ok.then_some(list)
}

fn mock(c: &mut Checker, path: &str, node: &Node) -> Option<MockSpec> {
    let before = c.errors.len();
    let t = c.table(path, node, Some(MOCK_KEYS))?;
    let mut m = MockSpec::default();
    if let Some(e) = t.get("delay_ms") {
        m.delay_ms = c.u64_in(&t.path("delay_ms"), &e.value, 0, MAX_MOCK_DELAY_MS).unwrap_or(0);
    }
    if let Some(e) = t.get("fail_every") {
        m.fail_every = c.u32_in(&t.path("fail_every"), &e.value, 0, u32::MAX).unwrap_or(0);
    }
    if let Some(e) = t.get("panic_on") {
        m.panic_on = c.string(&t.path("panic_on"), &e.value);
    }
    if let Some(e) = t.get("reply") {
        m.reply = c.string(&t.path("reply"), &e.value);
    }
    if let Some(e) = t.get("relay") {
        m.relay = c.boolean(&t.path("relay"), &e.value).unwrap_or(false);
    }
    (c.errors.len() == before).then_some(m)
}

fn stdio(c: &mut Checker, t: &Table<'_>, fixed: Option<LaunchSpec>) -> Option<StdioSpec> {
    let before = c.errors.len();
    let command = match c.required(t, "command") {
        Some(e) => command(c, &t.path("command"), &e.value),
        None => None,
    };
    let cwd = t.get("cwd").and_then(|e| c.string(&t.path("cwd"), &e.value));
    let env = t.get("env").map(|e| env(c, &t.path("env"), &e.value)).unwrap_or_default();
    let launch = match fixed {
        Some(l) => {
            for key in ["launch", "host", "image", "launch_args"] {
                if let Some(e) = t.get(key) {
                    let msg =
                        format!("`{key}` conflicts with the backend's own launch settings; give them in one place");
                    c.err(t.path(key), e.key_pos, msg);
                }
            }
            Some(l)
        }
        None => launch(c, t),
    };
    let spec = StdioSpec { command: command?, cwd, env, launch: launch? };
    (c.errors.len() == before).then_some(spec)
}

fn command(c: &mut Checker, path: &str, node: &Node) -> Option<Vec<String>> {
    let parts = match &node.value {
        Value::Str(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Array(_) => c.strings(path, node)?,
        _ => {
            let found = node.value.type_name();
            let msg = format!("expected a string or an array of strings, found {found}");
            c.err(path, node.pos, msg);
            return None;
        }
    };
    match parts.first() {
        None => c.err(path, node.pos, "command must not be empty"),
        Some(p) if p.is_empty() => c.err(path, node.pos, "the program (first element) must not be empty"),
        Some(_) => return Some(parts),
    }
    None
}

fn env(c: &mut Checker, path: &str, node: &Node) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(t) = c.table(path, node, None) else {
        return out;
    };
    for e in t.entries {
        let key_path = t.path(&e.key);
        let mut chars = e.key.chars();
        let valid = matches!(chars.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
            && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !valid {
            let msg = format!(
                "invalid environment variable name `{}`: use letters, digits and `_`, not starting with a digit",
                e.key
            );
            c.err(&key_path, e.key_pos, msg);
        }
        if let Some(v) = c.string(&key_path, &e.value) {
            out.insert(e.key.clone(), v);
        }
    }
    out
}

fn launch(c: &mut Checker, t: &Table<'_>) -> Option<LaunchSpec> {
    let entry = t.get("launch");
    let word = match entry {
        Some(e) => c.word(&t.path("launch"), &e.value, LAUNCHES, |w| LAUNCHES.iter().copied().find(|&l| l == w))?,
        None => "local",
    };
    let pos = entry.map_or(t.pos, |e| e.value.pos);
    let allowed: &[&str] = match word {
        "ssh" => &["host", "launch_args"],
        "docker" => &["image", "launch_args"],
        "bwrap" => &["launch_args"],
        _ => &[],
    };
    for key in ["host", "image", "launch_args"] {
        if let Some(e) = t.get(key).filter(|_| !allowed.contains(&key)) {
            let valid_for = match key {
                "host" => "launch = \"ssh\"",
                "image" => "launch = \"docker\"",
                _ => "launch = \"ssh\", \"bwrap\" or \"docker\"",
            };
            let msg = format!("`{key}` is only valid with {valid_for}; this agent has launch = \"{word}\"");
            c.err(t.path(key), e.key_pos, msg);
        }
    }
    let args = match t.get("launch_args").filter(|_| word != "local") {
        Some(e) => c.strings(&t.path("launch_args"), &e.value).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut needs = |key: &str| match t.get(key) {
        Some(e) => c.non_empty(&t.path(key), &e.value),
        None => {
            c.err(t.path(key), pos, format!("launch = \"{word}\" needs `{key}`"));
            None
        }
    };
    match word {
        "ssh" => Some(LaunchSpec::Ssh { host: needs("host")?, args }),
        "docker" => Some(LaunchSpec::Docker { image: needs("image")?, args }),
        "bwrap" => Some(LaunchSpec::Bwrap { args }),
        _ => Some(LaunchSpec::Local),
    }
}

/// Validates one object entry at `path` (`objects[0]`, or `""` for a lone entry).
/// `handler` is another name for `kind` (genswarms' word); `stdio` makes the
/// object's handler a program, which needs `command` (and may have `cwd`, `env`).
pub(crate) fn object(c: &mut Checker, path: &str, node: &Node, kinds: &[String]) -> ObjectOut {
    let before = c.errors.len();
    let Some(t) = c.table(path, node, Some(OBJECT_KEYS)) else {
        return ObjectOut::default();
    };
    let named = named(c, &t);
    let (kind_key, kind_entry) = match (t.get("kind"), t.get("handler")) {
        (Some(_), Some(h)) => {
            c.err(t.path("handler"), h.key_pos, "set `kind` or `handler` (the same setting), not both");
            ("kind", None)
        }
        (None, Some(h)) => ("handler", Some(h)),
        _ => ("kind", c.required(&t, "kind")),
    };
    let kind = kind_entry.and_then(|e| {
        let kind = c.string(&t.path(kind_key), &e.value)?;
        if kind != PROGRAM_HANDLER && !kinds.contains(&kind) {
            let msg = format!(
                "unknown object kind `{kind}`; known kinds: {}, or `{PROGRAM_HANDLER}` (a program; needs `command`)",
                kinds.join(", ")
            );
            c.err(t.path(kind_key), e.value.pos, msg);
            return None;
        }
        Some(kind)
    });
    let program = match kind.as_deref() {
        Some(PROGRAM_HANDLER) => program(c, &t),
        Some(k) => {
            for key in PROGRAM_KEYS {
                if let Some(e) = t.get(key) {
                    let msg = format!(
                        "`{key}` is only valid with handler = \"{PROGRAM_HANDLER}\"; this object has kind `{k}`"
                    );
                    c.err(t.path(key), e.key_pos, msg);
                }
            }
            None
        }
        None => None,
    };
    let config = match t.get("config") {
        Some(e) => c.json_object(&t.path("config"), &e.value),
        None => Some(serde_json::Value::Object(Map::new())),
    };
    let restart = restart(c, &t);
    let spec = match (&named, kind, config, restart) {
        (Some(n), Some(kind), Some(config), Some(restart)) if c.errors.len() == before => {
            Some(ObjectSpec { name: n.name.clone(), kind, config, restart, program })
        }
        _ => None,
    };
    ObjectOut { named, spec }
}

/// The program of a `handler = "stdio"` object: `command`, `cwd`, `env`, run locally.
fn program(c: &mut Checker, t: &Table<'_>) -> Option<StdioSpec> {
    let before = c.errors.len();
    let command = match c.required(t, "command") {
        Some(e) => command(c, &t.path("command"), &e.value),
        None => None,
    };
    let cwd = t.get("cwd").and_then(|e| c.string(&t.path("cwd"), &e.value));
    let env = t.get("env").map(|e| env(c, &t.path("env"), &e.value)).unwrap_or_default();
    let spec = StdioSpec { command: command?, cwd, env, launch: LaunchSpec::Local };
    (c.errors.len() == before).then_some(spec)
}
