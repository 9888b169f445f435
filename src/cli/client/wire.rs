//! What the client reads from the daemon, as typed structs: the answers of
//! the agent, object, skill, message, overlay and log commands, decoded
//! leniently (a field the daemon adds is ignored, a missing optional one is
//! its default), and [`list_of`], the one place that knows under which key an
//! `/api` list answer holds its entries.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ClientError;

/// The `/api` lists the client reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApiList {
    Agents,
    Objects,
    History,
    Logs,
    Skills,
    Messages,
    Overlay,
}

impl ApiList {
    /// The key genswarms gives the list (`{"agents": [...]}`; the overlay's
    /// is `events`).
    fn resource_key(self) -> &'static str {
        match self {
            Self::Agents => "agents",
            Self::Objects => "objects",
            Self::History => "history",
            Self::Logs => "logs",
            Self::Skills => "skills",
            Self::Messages => "messages",
            Self::Overlay => "events",
        }
    }
}

/// The entries of an `/api` list answer: under the resource's key when the
/// daemon names it so, else under `items` (Hive's name before issue 11).
/// Reading both keeps the client working across that rename.
pub(crate) fn list_of<T: DeserializeOwned>(v: &Value, list: ApiList) -> Result<Vec<T>, ClientError> {
    let entries = v.get(list.resource_key()).filter(|e| e.is_array()).or_else(|| v.get("items"));
    match entries {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(e) => decode(e),
    }
}

/// The entries of an `/api/v1` list answer (Sol's `items`).
pub(crate) fn v1_items<T: DeserializeOwned>(v: &Value) -> Result<Vec<T>, ClientError> {
    match v.get("items") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(e) => decode(e),
    }
}

/// Decodes an answer (or a part of one).
pub(crate) fn decode<T: DeserializeOwned>(v: &Value) -> Result<T, ClientError> {
    T::deserialize(v).map_err(|e| ClientError::Other(format!("unexpected answer from the daemon: {e}")))
}

/// A value for a table cell: strings bare, null as `-`, the rest as JSON.
pub(crate) fn value_cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One agent's status (`GET .../agents`, `GET .../agents/{agent}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AgentView {
    pub name: String,
    pub group: Option<String>,
    pub backend: Value,
    pub state: String,
    pub restarts: u64,
    pub inbox: u64,
    pub current_task: Option<String>,
    pub last_activity: Option<String>,
    pub tasks_completed: u64,
    pub tasks_failed: u64,
    pub messages_received: u64,
    pub pid: Option<u32>,
    pub detail: Option<String>,
    pub model: Option<String>,
    pub skills: Vec<String>,
}

/// One object with its live state (`GET .../objects`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ObjectView {
    pub name: String,
    pub kind: String,
    pub state: Value,
    pub restarts: u64,
    pub inbox: u64,
    pub data: Value,
}

/// An object's live state (`GET .../objects/{object}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ObjectState {
    pub state: Value,
}

/// The names an add or remove answered: `names` (an agent's group members)
/// or `name`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Named {
    pub name: Option<String>,
    pub names: Option<Vec<String>>,
}

impl Named {
    /// Every name, or `fallback` when the answer named none.
    pub(crate) fn all(self, fallback: &str) -> Vec<String> {
        match (self.names, self.name) {
            (Some(n), _) if !n.is_empty() => n,
            (_, Some(n)) => vec![n],
            _ => vec![fallback.to_string()],
        }
    }
}

/// One entry of an agent's history.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HistoryView {
    pub timestamp_ms: u64,
    pub kind: String,
    pub peer: String,
    pub content: String,
}

/// One routed message (`GET .../messages`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MessageView {
    pub timestamp_ms: u64,
    pub from: String,
    pub to: String,
    pub kind: String,
    pub content: String,
}

/// The answer of a routed message.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Routed {
    pub recipients: Option<u64>,
}

/// A skill file under the daemon's skills directory (`GET /api/skills`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SkillEntry {
    pub name: String,
    pub relative_path: String,
    pub category: String,
    pub size: u64,
}

/// One skill's content (`GET /api/skills/{name}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SkillContent {
    pub content: String,
}

/// One of an agent's skill files (`GET .../agents/{agent}/skills`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AgentSkill {
    pub name: String,
    pub path: String,
    pub content: Option<String>,
    pub error: Option<String>,
}

/// The answer of a skill update.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SkillUpdated {
    pub path: String,
    pub size: u64,
}

/// One recorded runtime change: its `op` and its fields (shown as they are).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OverlayEntry {
    pub op: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A count of agents paused or resumed, under genswarms' key
/// (`containers_paused`, `containers_resumed`) or Hive's (`agents`, a number).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PauseAck {
    pub containers_paused: Option<u64>,
    pub containers_resumed: Option<u64>,
    pub agents: Value,
}

impl PauseAck {
    pub(crate) fn count(&self) -> Option<u64> {
        self.containers_paused.or(self.containers_resumed).or(self.agents.as_u64())
    }
}

/// The answer of `POST /api/swarms/clean`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Cleaned {
    pub swarms_removed: u64,
    pub names: Vec<String>,
}

/// One line of the daemon's own log (`GET /api/v1/logs`): a record, or
/// plain text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum DaemonLogLine {
    Text(String),
    Record(LogRecord),
}

/// A structured line of the daemon's log: `{ts, level, target, message,
/// fields: [{name, value}]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LogRecord {
    #[serde(alias = "timestamp")]
    pub ts: Option<String>,
    pub level: Option<String>,
    pub target: Option<String>,
    pub message: String,
    pub fields: Vec<LogField>,
}

/// A field of a daemon log line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LogField {
    pub name: String,
    pub value: Value,
}

impl LogRecord {
    /// `ts  level  target  message  k=v ...`.
    pub(crate) fn line(&self) -> String {
        let head = [&self.ts, &self.level, &self.target].into_iter().flatten().cloned().collect::<Vec<_>>();
        let mut line = format!("{}  {}", head.join("  "), self.message.replace('\n', "⏎"));
        for f in &self.fields {
            line.push_str(&format!("  {}={}", f.name, value_cell(&f.value)));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lists_are_read_under_the_resource_key_or_items() {
        let hive: Vec<HistoryView> =
            list_of(&json!({"items": [{"kind": "task"}], "count": 1}), ApiList::History).unwrap();
        assert_eq!(hive[0].kind, "task");
        let gs: Vec<HistoryView> = list_of(&json!({"history": [{"kind": "reply"}]}), ApiList::History).unwrap();
        assert_eq!(gs[0].kind, "reply");
        // The overlay answer's `swarm` is no list; its entries are `events`.
        let o: Vec<OverlayEntry> =
            list_of(&json!({"swarm": "s", "events": [{"op": "scale", "group": "w"}]}), ApiList::Overlay).unwrap();
        assert_eq!((o[0].op.as_str(), o[0].fields["group"].as_str()), ("scale", Some("w")));
        assert!(list_of::<HistoryView>(&json!({}), ApiList::History).unwrap().is_empty());
        assert!(list_of::<HistoryView>(&json!({"items": 3}), ApiList::History).is_err());
    }

    #[test]
    fn adds_and_removes_name_what_they_did() {
        let n: Named = decode(&json!({"names": ["w_1", "w_2"]})).unwrap();
        assert_eq!(n.all("w"), ["w_1", "w_2"]);
        let n: Named = decode(&json!({"name": "notes"})).unwrap();
        assert_eq!(n.all("x"), ["notes"]);
        let n: Named = decode(&json!({"status": "removed"})).unwrap();
        assert_eq!(n.all("x"), ["x"]);
    }

    #[test]
    fn a_pause_count_is_read_under_either_name() {
        let a: PauseAck = decode(&json!({"agents": 2})).unwrap();
        let b: PauseAck = decode(&json!({"containers_resumed": 3, "agents": ["a"]})).unwrap();
        assert_eq!((a.count(), b.count()), (Some(2), Some(3)));
    }

    #[test]
    fn daemon_log_lines_are_records_or_text() {
        let lines: Vec<DaemonLogLine> = v1_items(&json!({"items": [
            {"ts": "2026-12-02T05:00:00.000Z", "level": "info", "target": "hive::http", "message": "GET /",
             "fields": [{"name": "status", "value": "200"}]},
            "plain"
        ]}))
        .unwrap();
        let DaemonLogLine::Record(r) = &lines[0] else { panic!("{lines:?}") };
        assert_eq!(r.line(), "2026-12-02T05:00:00.000Z  info  hive::http  GET /  status=200");
        assert!(matches!(&lines[1], DaemonLogLine::Text(t) if t == "plain"));
    }
}
