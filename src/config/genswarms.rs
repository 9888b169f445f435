//! genswarms' agent `backend` forms, read into Hive's backend and launch:
//! the word `"local"` and the object `{type = "docker", image = ...}`,
//! `{type = "ssh", host = ...}`, `{type = "bwrap"}`, `{type = "local"}`,
//! `{type = "mock"}`. A docker, ssh, bwrap or local backend is a `stdio`
//! agent with that launch (it still needs its `command`); what has no
//! counterpart in Hive (`bwrap`'s `opts`, other types) is an error that says
//! what to write instead. The entry validator (`entry.rs`) calls it.

use super::check::Checker;
use super::node::{Node, Value};
use super::spec::LaunchSpec;

/// The `type`s of a genswarms backend object.
pub(crate) const TYPES: &[&str] = &["local", "docker", "ssh", "bwrap", "mock"];

/// What a genswarms backend is in Hive's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mapped {
    /// A mock agent.
    Mock,
    /// A stdio agent run with this launch.
    Stdio(LaunchSpec),
}

/// Reads the backend object at `path` (a table with `type`).
pub(crate) fn backend_object(c: &mut Checker, path: &str, node: &Node) -> Option<Mapped> {
    let t = c.table(path, node, Some(&["type", "image", "host", "opts", "args"]))?;
    let kind = c.required(&t, "type")?;
    let word = c.word(&t.path("type"), &kind.value, TYPES, |w| TYPES.iter().copied().find(|&k| k == w))?;
    let allowed: &[&str] = match word {
        "docker" => &["type", "image", "args"],
        "ssh" => &["type", "host", "args"],
        "bwrap" => &["type", "args"],
        _ => &["type"],
    };
    let mut ok = true;
    for e in t.entries.iter().filter(|e| !allowed.contains(&e.key.as_str())) {
        let msg = if e.key == "opts" {
            "`opts` of a bwrap backend has no counterpart in Hive: give bubblewrap's arguments as \
             `args` (a list of strings) or `launch_args`"
                .to_string()
        } else {
            format!("`{}` is not valid for a `{word}` backend; valid keys: {}", e.key, allowed.join(", "))
        };
        c.err(t.path(&e.key), e.key_pos, msg);
        ok = false;
    }
    let args = match t.get("args") {
        Some(e) => c.strings(&t.path("args"), &e.value),
        None => Some(Vec::new()),
    };
    let mut needs = |key: &str| match t.get(key) {
        Some(e) => c.non_empty(&t.path(key), &e.value),
        None => {
            c.err(t.path(key), t.pos, format!("a `{word}` backend needs `{key}`"));
            None
        }
    };
    let mapped = match word {
        "docker" => Mapped::Stdio(LaunchSpec::Docker { image: needs("image")?, args: args? }),
        "ssh" => Mapped::Stdio(LaunchSpec::Ssh { host: needs("host")?, args: args? }),
        "bwrap" => Mapped::Stdio(LaunchSpec::Bwrap { args: args? }),
        "local" => Mapped::Stdio(LaunchSpec::Local),
        _ => Mapped::Mock,
    };
    ok.then_some(mapped)
}

/// Whether `node` is a backend object (rather than a word).
pub(crate) fn is_object(node: &Node) -> bool {
    matches!(node.value, Value::Table(_))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::config::{BackendSpec, LaunchSpec, parse_agent_json};

    fn launch(v: serde_json::Value) -> LaunchSpec {
        match parse_agent_json(&v).unwrap_or_else(|e| panic!("{v}: {e}")).backend {
            BackendSpec::Stdio(s) => s.launch,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn genswarms_backends_map_to_launches() {
        let cmd = json!(["python3", "a.py"]);
        let docker = json!({"name": "a", "command": cmd, "backend": {"type": "docker", "image": "coder"}});
        assert_eq!(launch(docker), LaunchSpec::Docker { image: "coder".into(), args: vec![] });
        let ssh = json!({"name": "a", "command": cmd, "backend": {"type": "ssh", "host": "u@h", "args": ["-p", "22"]}});
        assert_eq!(launch(ssh), LaunchSpec::Ssh { host: "u@h".into(), args: vec!["-p".into(), "22".into()] });
        assert_eq!(
            launch(json!({"name": "a", "command": cmd, "backend": {"type": "bwrap"}})),
            LaunchSpec::Bwrap { args: vec![] }
        );
        assert_eq!(launch(json!({"name": "a", "command": cmd, "backend": "local"})), LaunchSpec::Local);
        let mock = parse_agent_json(&json!({"name": "a", "backend": {"type": "mock"}})).unwrap();
        assert!(matches!(mock.backend, BackendSpec::Mock(_)));
    }

    #[test]
    fn what_cannot_map_says_so() {
        let cases = [
            (json!({"name": "a", "command": "x", "backend": {"type": "bwrap", "opts": {"ro": "/"}}}), "no counterpart"),
            (json!({"name": "a", "command": "x", "backend": {"type": "docker"}}), "needs `image`"),
            (json!({"name": "a", "command": "x", "backend": {"type": "k8s"}}), "expected one of"),
            (json!({"name": "a", "backend": {"type": "docker", "image": "i"}}), "command"),
            (
                json!({"name": "a", "command": "x", "launch": "ssh", "backend": {"type": "docker", "image": "i"}}),
                "conflicts",
            ),
        ];
        for (v, want) in cases {
            let e = parse_agent_json(&v).unwrap_err().to_string();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
