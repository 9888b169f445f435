//! Writing a [`SwarmSpec`] back as a swarm file. The spec is first turned
//! into the same document tree the parsers produce (keys equal to their
//! defaults omitted), which `check_spec` also validates; the tree is then
//! written as TOML: top-level keys, then `[supervision]`, `[[agents]]`,
//! `[[objects]]` and `[topology]` sections with inline values.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::node::{self, Entry, Node, Value};
use super::spec::{AgentSpec, BackendSpec, DEFAULT_KILL_TIMEOUT_MS, LaunchSpec, MockSpec, ObjectSpec, SwarmSpec};
use super::validate::default_backoff_max;
use crate::supervisor::Restart;

/// Builds a table entry by entry.
#[derive(Default)]
struct Builder(Vec<Entry>);

impl Builder {
    fn put(&mut self, key: &str, value: Node) -> &mut Self {
        self.0.push(Entry { key: key.to_owned(), key_pos: None, value });
        self
    }
    fn node(self) -> Node {
        Node::new(Value::Table(self.0))
    }
}

fn string(s: &str) -> Node {
    Node::new(Value::Str(s.to_owned()))
}
fn int(n: impl Into<i128>) -> Node {
    Node::new(Value::Int(n.into()))
}
fn strings(list: &[String]) -> Node {
    Node::new(Value::Array(list.iter().map(|s| string(s)).collect()))
}

/// The document tree of `spec`, as a swarm file would hold it.
pub(crate) fn spec_to_node(spec: &SwarmSpec) -> Node {
    let mut root = Builder::default();
    root.put("name", string(&spec.name));
    let s = &spec.supervision;
    let mut sup = Builder::default();
    sup.put("strategy", string(s.strategy.as_str()));
    sup.put("max_restarts", int(s.max_restarts));
    sup.put("max_seconds", int(s.max_seconds));
    if s.backoff_ms != 0 {
        sup.put("backoff_ms", int(s.backoff_ms));
    }
    if s.backoff_max_ms != default_backoff_max(s.backoff_ms) {
        sup.put("backoff_max_ms", int(s.backoff_max_ms));
    }
    root.put("supervision", sup.node());
    if !spec.agents.is_empty() {
        root.put("agents", Node::new(Value::Array(spec.agents.iter().map(agent_to_node).collect())));
    }
    if !spec.objects.is_empty() {
        let objects = spec.objects.iter().map(object_to_node).collect();
        root.put("objects", Node::new(Value::Array(objects)));
    }
    if !spec.schedules.is_empty() {
        let schedules = spec.schedules.iter().map(schedule_to_node).collect();
        root.put("schedules", Node::new(Value::Array(schedules)));
    }
    let mut froms: Vec<(&str, Vec<Node>)> = Vec::new();
    let mut index = HashMap::new();
    for edge in &spec.topology {
        let i = *index.entry(edge.from.as_str()).or_insert_with(|| {
            froms.push((&edge.from, Vec::new()));
            froms.len() - 1
        });
        froms[i].1.push(string(&edge.to));
    }
    if !froms.is_empty() {
        let mut topology = Builder::default();
        for (from, targets) in froms {
            topology.put(from, Node::new(Value::Array(targets)));
        }
        root.put("topology", topology.node());
    }
    root.node()
}

/// One `[[schedules]]` entry (its name without the swarm's prefix);
/// defaults are left out.
fn schedule_to_node(s: &super::schedule::ScheduleSpec) -> Node {
    use super::schedule::{CatchUp, Overlap, Target};
    let mut t = Builder::default();
    t.put("name", string(s.name.split_once('.').map_or(s.name.as_str(), |(_, n)| n)));
    if let Target::Agent(a) = &s.target {
        t.put("agent", string(&a.agent));
    }
    for (key, v) in [("cron", &s.cron), ("timezone", &s.timezone), ("every", &s.every), ("at", &s.at)] {
        if let Some(v) = v {
            t.put(key, string(v));
        }
    }
    t.put("content", string(&s.content));
    if !s.enabled {
        t.put("enabled", Node::new(Value::Bool(false)));
    }
    match s.overlap {
        Overlap::Skip => {}
        Overlap::Queue => {
            t.put("overlap", string("queue"));
        }
        Overlap::CancelPrevious => {
            t.put("overlap", string("cancel_previous"));
        }
    }
    if s.catch_up == CatchUp::Once {
        t.put("catch_up", string("once"));
    }
    t.node()
}

/// One agent entry; defaults are left out.
pub(crate) fn agent_to_node(a: &AgentSpec) -> Node {
    let mut t = Builder::default();
    t.put("name", string(&a.name));
    t.put("backend", string(a.backend.kind()));
    if let Some(n) = a.replicas {
        t.put("replicas", int(n));
    }
    if a.restart != Restart::default() {
        t.put("restart", string(a.restart.as_str()));
    }
    if a.kill_timeout_ms != DEFAULT_KILL_TIMEOUT_MS {
        t.put("kill_timeout_ms", int(a.kill_timeout_ms));
    }
    if !a.skills.is_empty() {
        t.put("skills", strings(&a.skills));
    }
    if let Some(model) = &a.model {
        t.put("model", string(model));
    }
    match &a.backend {
        BackendSpec::Mock(m) if *m != MockSpec::default() => {
            let mut mock = Builder::default();
            if m.delay_ms != 0 {
                mock.put("delay_ms", int(m.delay_ms));
            }
            if m.fail_every != 0 {
                mock.put("fail_every", int(m.fail_every));
            }
            if let Some(p) = &m.panic_on {
                mock.put("panic_on", string(p));
            }
            if let Some(r) = &m.reply {
                mock.put("reply", string(r));
            }
            if m.relay {
                mock.put("relay", Node::new(Value::Bool(true)));
            }
            t.put("mock", mock.node());
        }
        BackendSpec::Mock(_) => {}
        BackendSpec::Stdio(s) => {
            t.put("command", strings(&s.command));
            if let Some(cwd) = &s.cwd {
                t.put("cwd", string(cwd));
            }
            if !s.env.is_empty() {
                let mut env = Builder::default();
                for (k, v) in &s.env {
                    env.put(k, string(v));
                }
                t.put("env", env.node());
            }
            let args = match &s.launch {
                LaunchSpec::Local => None,
                LaunchSpec::Ssh { host, args } => {
                    t.put("launch", string("ssh")).put("host", string(host));
                    Some(args)
                }
                LaunchSpec::Bwrap { args } => {
                    t.put("launch", string("bwrap"));
                    Some(args)
                }
                LaunchSpec::Docker { image, args } => {
                    t.put("launch", string("docker")).put("image", string(image));
                    Some(args)
                }
            };
            if let Some(args) = args.filter(|a| !a.is_empty()) {
                t.put("launch_args", strings(args));
            }
        }
        BackendSpec::Zmq(z) => {
            if !z.capabilities.is_empty() {
                t.put("capabilities", strings(&z.capabilities));
            }
        }
    }
    t.node()
}

/// One object entry; an empty config and the default restart are left out.
pub(crate) fn object_to_node(o: &ObjectSpec) -> Node {
    let mut t = Builder::default();
    t.put("name", string(&o.name));
    match &o.program {
        None => {
            t.put("kind", string(&o.kind));
        }
        Some(p) => {
            t.put("handler", string(&o.kind)).put("command", strings(&p.command));
            if let Some(cwd) = &p.cwd {
                t.put("cwd", string(cwd));
            }
            if !p.env.is_empty() {
                let mut env = Builder::default();
                for (k, v) in &p.env {
                    env.put(k, string(v));
                }
                t.put("env", env.node());
            }
        }
    }
    if o.config.as_object().is_none_or(|m| !m.is_empty()) {
        t.put("config", node::from_json(&o.config));
    }
    if o.restart != Restart::default() {
        t.put("restart", string(o.restart.as_str()));
    }
    t.node()
}

/// Writes a document tree as TOML. Nulls (which TOML cannot hold) are left out.
pub(crate) fn write_toml(root: &Node) -> String {
    let mut out = String::new();
    let Value::Table(entries) = &root.value else {
        return out;
    };
    for e in entries.iter().filter(|e| !is_section(&e.value)) {
        write_pair(&mut out, e);
    }
    for e in entries.iter().filter(|e| is_section(&e.value)) {
        match &e.value.value {
            Value::Table(t) => write_section(&mut out, &format!("[{}]", key(&e.key)), t),
            Value::Array(items) => {
                for item in items {
                    if let Value::Table(t) = &item.value {
                        write_section(&mut out, &format!("[[{}]]", key(&e.key)), t);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A table, or a non-empty array of tables: written as `[key]` / `[[key]]`.
fn is_section(node: &Node) -> bool {
    match &node.value {
        Value::Table(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(|i| matches!(i.value, Value::Table(_))),
        _ => false,
    }
}

fn write_section(out: &mut String, header: &str, entries: &[Entry]) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(header);
    out.push('\n');
    for e in entries {
        write_pair(out, e);
    }
}

fn write_pair(out: &mut String, e: &Entry) {
    if e.value.value != Value::Null {
        out.push_str(&key(&e.key));
        out.push_str(" = ");
        write_inline(out, &e.value);
        out.push('\n');
    }
}

fn write_inline(out: &mut String, node: &Node) {
    match &node.value {
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Float(x) if x.is_nan() => out.push_str("nan"),
        Value::Float(x) if x.is_infinite() => out.push_str(if *x > 0.0 { "inf" } else { "-inf" }),
        Value::Float(x) => {
            let _ = write!(out, "{x:?}");
        }
        Value::Str(s) => quote(out, s),
        Value::Datetime(d) => out.push_str(d),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().filter(|i| i.value != Value::Null).enumerate() {
                out.push_str(if i == 0 { "" } else { ", " });
                write_inline(out, item);
            }
            out.push(']');
        }
        Value::Table(entries) => {
            out.push('{');
            for (i, e) in entries.iter().filter(|e| e.value.value != Value::Null).enumerate() {
                out.push_str(if i == 0 { " " } else { ", " });
                out.push_str(&key(&e.key));
                out.push_str(" = ");
                write_inline(out, &e.value);
            }
            out.push_str(if entries.is_empty() { "}" } else { " }" });
        }
    }
}

/// A key, bare when TOML allows it, else quoted.
fn key(k: &str) -> String {
    let bare = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        return k.to_owned();
    }
    let mut out = String::new();
    quote(&mut out, k);
    out
}

/// A TOML basic string with every character escaped that must be.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
