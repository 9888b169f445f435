//! One joined topic (`swarm:<name>`): what the client subscribed to and which
//! pushes an event becomes. Pure: no I/O, unit-tested.
//!
//! A joined topic always gets the swarm's lifecycle pushes ([`lifecycle`]).
//! `subscribe_logs` adds `log_entry` pushes (for every agent, or for named
//! agents); `subscribe_events` adds `event` pushes carrying the full event,
//! filtered by level, category, event type and agent. Subscriptions are sets
//! and filters are replaced, never stacked: subscribing twice yields one push
//! per event, and [`Channel::pushes`] returns at most one frame per kind.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::protocol::{Frame, push};
use crate::events::{Event, EventFilter, EventKind};

/// Most agents a topic can name in `subscribe_logs` (more → error reply).
pub(crate) const MAX_LOG_AGENTS: usize = 1024;

/// The state of one joined topic.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    /// The swarm's name.
    pub swarm: Arc<str>,
    /// `swarm:<name>`.
    pub topic: String,
    /// The join's ref, set on every push.
    pub join_ref: Value,
    logs_all: bool,
    log_agents: BTreeSet<String>,
    events: Option<EventFilter>,
}

/// The topic of a swarm.
pub(crate) fn topic_swarm(topic: &str) -> Option<&str> {
    topic.strip_prefix("swarm:").filter(|s| !s.is_empty())
}

impl Channel {
    /// A freshly joined topic: lifecycle pushes only.
    pub(crate) fn new(swarm: &str, join_ref: Value) -> Self {
        Self {
            swarm: swarm.into(),
            topic: format!("swarm:{swarm}"),
            join_ref,
            logs_all: false,
            log_agents: BTreeSet::new(),
            events: None,
        }
    }

    /// `subscribe_logs {agent?}`: log pushes of `agent`, or of every agent.
    pub(crate) fn subscribe_logs(&mut self, payload: &Value) -> Result<Value, String> {
        match optional_str(payload, "agent")? {
            None => self.logs_all = true,
            Some(a) => {
                if !self.log_agents.contains(a) && self.log_agents.len() >= MAX_LOG_AGENTS {
                    return Err(format!("at most {MAX_LOG_AGENTS} agents per topic"));
                }
                self.log_agents.insert(a.to_owned());
            }
        }
        Ok(self.logs_view())
    }

    /// `unsubscribe_logs {agent?}`: undoes `subscribe_logs {agent}`; without
    /// an agent, stops every log push.
    pub(crate) fn unsubscribe_logs(&mut self, payload: &Value) -> Result<Value, String> {
        match optional_str(payload, "agent")? {
            None => {
                self.logs_all = false;
                self.log_agents.clear();
            }
            Some(a) => {
                self.log_agents.remove(a);
            }
        }
        Ok(self.logs_view())
    }

    fn logs_view(&self) -> Value {
        if self.logs_all { json!({"logs": "all"}) } else { json!({"logs": self.log_agents}) }
    }

    /// `subscribe_events {filters: {level?, category?, event_type?, agent?}}`:
    /// replaces the topic's event filter. Unknown words → an error listing
    /// the valid values; nothing changes then.
    pub(crate) fn subscribe_events(&mut self, payload: &Value) -> Result<Value, String> {
        let filters = match payload_object(payload)?.get("filters") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("filters must be an object".into()),
        };
        let mut f = EventFilter { swarm: Some(self.swarm.to_string()), ..EventFilter::default() };
        for (k, v) in &filters {
            let Some(word) = v.as_str() else {
                if v.is_null() {
                    continue;
                }
                return Err(format!("filters.{k} must be a string"));
            };
            match k.as_str() {
                "level" => f.level = Some(EventFilter::parse_level(word).map_err(|e| e.to_string())?),
                "category" => f.category = Some(EventFilter::parse_category(word).map_err(|e| e.to_string())?),
                "event_type" => f.event_type = Some(EventFilter::parse_event_type(word).map_err(|e| e.to_string())?),
                "agent" => f.agent = Some(word.to_owned()),
                _ => return Err(format!("unknown filter '{k}'; valid filters: level, category, event_type, agent")),
            }
        }
        self.events = Some(f);
        Ok(json!({"filters": filters}))
    }

    /// `unsubscribe_events {}`: no more `event` pushes.
    pub(crate) fn unsubscribe_events(&mut self) {
        self.events = None;
    }

    /// The pushes `e` becomes on this topic, in order: lifecycle, `log_entry`,
    /// `event`. Empty for another swarm's events.
    pub(crate) fn pushes(&self, e: &Event) -> Vec<Frame> {
        let mut out = Vec::new();
        if e.swarm.as_deref() != Some(&*self.swarm) {
            return out;
        }
        if let Some((event, payload)) = lifecycle(e) {
            out.push(push(&self.join_ref, &self.topic, event, payload));
        }
        if let EventKind::Log { level, message } = &e.kind {
            let agent_ok = e.agent.as_deref().is_some_and(|a| self.log_agents.contains(a));
            if self.logs_all || agent_ok {
                let payload = json!({"seq": e.seq, "timestamp": e.timestamp(), "agent": e.agent,
                    "level": level, "message": message});
                out.push(push(&self.join_ref, &self.topic, "log_entry", payload));
            }
        }
        if self.events.as_ref().is_some_and(|f| f.matches(e)) {
            out.push(push(&self.join_ref, &self.topic, "event", serde_json::to_value(e).unwrap_or_default()));
        }
        out
    }
}

/// The push a joined topic gets by default for an event of its swarm, if any.
pub(crate) fn lifecycle(e: &Event) -> Option<(&'static str, Value)> {
    use EventKind::*;
    let agent = &e.agent;
    Some(match &e.kind {
        AgentOutput { task_id, output, content } => {
            ("agent_output", json!({"agent": agent, "content": content, "task_id": task_id, "kind": output}))
        }
        MessageRouted { from, to, content } => (
            "message_routed",
            json!({"from": from, "to": to, "type": "message", "content_preview": crate::events::preview(content)}),
        ),
        MessageBroadcast { from, recipients } => ("message_broadcast", json!({"from": from, "recipients": recipients})),
        AgentStatus { state } => ("agent_status", json!({"agent": agent, "state": state})),
        SwarmStarted { agents, objects } => ("swarm_started", json!({"agents": agents, "objects": objects})),
        SwarmStopped { reason } => ("swarm_stopped", json!({"reason": reason, "failed": false})),
        SwarmFailed { reason } => ("swarm_stopped", json!({"reason": reason, "failed": true})),
        AgentAdded { backend, group } => ("agent_added", json!({"name": agent, "backend": backend, "group": group})),
        AgentRemoved => ("agent_removed", json!({"name": agent})),
        TopologyChanged { added, removed } => ("topology_changed", json!({"added": added, "removed": removed})),
        _ => return None,
    })
}

fn payload_object(payload: &Value) -> Result<Map<String, Value>, String> {
    match payload {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        _ => Err("the payload must be an object".into()),
    }
}

/// A field that may be absent or null, else must be a non-empty string.
pub(crate) fn optional_str<'a>(payload: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match payload {
        Value::Null => Ok(None),
        Value::Object(m) => match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
            Some(_) => Err(format!("'{key}' must be a non-empty string")),
        },
        _ => Err("the payload must be an object".into()),
    }
}

/// A field that must be a non-empty string.
pub(crate) fn required_str<'a>(payload: &'a Value, key: &str) -> Result<&'a str, String> {
    optional_str(payload, key)?.ok_or_else(|| format!("'{key}' is required"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Level, OutputKind};

    fn ev(seq: u64, swarm: &str, agent: Option<&str>, kind: EventKind) -> Event {
        Event { seq, timestamp_ms: 0, swarm: Some(swarm.into()), agent: agent.map(Into::into), kind }
    }

    fn log(agent: &str) -> Event {
        ev(1, "s", Some(agent), EventKind::Log { level: Level::Warning, message: "m".into() })
    }

    fn events(c: &Channel, e: &Event) -> Vec<String> {
        c.pushes(e).into_iter().map(|f| f.event).collect()
    }

    #[test]
    fn a_joined_topic_gets_its_swarms_lifecycle_only() {
        let c = Channel::new("s", json!("1"));
        let out = ev(
            1,
            "s",
            Some("a"),
            EventKind::AgentOutput { task_id: None, output: OutputKind::Result, content: "hi".into() },
        );
        let p = c.pushes(&out);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].event.as_str(), p[0].topic.as_str()), ("agent_output", "swarm:s"));
        assert_eq!((&p[0].join_ref, &p[0].msg_ref), (&json!("1"), &Value::Null));
        assert_eq!(p[0].payload["agent"], "a");
        assert_eq!(p[0].payload["content"], "hi");
        let other = ev(2, "t", Some("a"), EventKind::AgentRemoved);
        assert!(c.pushes(&other).is_empty());
        assert!(c.pushes(&ev(3, "s", None, EventKind::TaskStarted { task_id: "x".into() })).is_empty());
        assert!(c.pushes(&log("a")).is_empty(), "logs need subscribe_logs");
        let routed =
            ev(4, "s", None, EventKind::MessageRouted { from: "a".into(), to: "b".into(), content: "c".into() });
        assert_eq!(c.pushes(&routed)[0].payload, json!({"from":"a","to":"b","type":"message","content_preview":"c"}));
        assert_eq!(events(&c, &ev(5, "s", Some("b"), EventKind::AgentRemoved)), ["agent_removed"]);
        assert_eq!(events(&c, &ev(6, "s", None, EventKind::SwarmFailed { reason: "r".into() })), ["swarm_stopped"]);
    }

    #[test]
    fn log_subscriptions_are_sets() {
        let mut c = Channel::new("s", Value::Null);
        c.subscribe_logs(&json!({"agent": "a"})).unwrap();
        c.subscribe_logs(&json!({"agent": "a"})).unwrap();
        assert_eq!(events(&c, &log("a")), ["log_entry"]);
        assert!(c.pushes(&log("b")).is_empty());
        c.subscribe_logs(&json!({})).unwrap();
        c.subscribe_logs(&Value::Null).unwrap();
        assert_eq!(events(&c, &log("b")), ["log_entry"]);
        assert_eq!(events(&c, &log("a")), ["log_entry"]);
        c.unsubscribe_logs(&json!({})).unwrap();
        assert!(c.pushes(&log("a")).is_empty());
        assert!(c.subscribe_logs(&json!({"agent": 5})).is_err());
        assert!(c.subscribe_logs(&json!([1])).is_err());
    }

    #[test]
    fn event_filters_replace_each_other_and_reject_unknown_words() {
        let mut c = Channel::new("s", Value::Null);
        c.subscribe_events(&json!({"filters": {"level": "warning"}})).unwrap();
        c.subscribe_events(&json!({"filters": {"level": "warning"}})).unwrap();
        let l = log("a");
        assert_eq!(events(&c, &l), ["event"]);
        assert_eq!(c.pushes(&l)[0].payload["event_type"], "log_entry");
        assert_eq!(c.pushes(&l)[0].payload["level"], "warning");
        c.subscribe_logs(&json!({})).unwrap();
        assert_eq!(events(&c, &l), ["log_entry", "event"]);
        let e = c.subscribe_events(&json!({"filters": {"category": "nope"}})).unwrap_err();
        assert!(e.contains("valid values: swarm, agent"), "{e}");
        assert!(c.subscribe_events(&json!({"filters": {"colour": "red"}})).unwrap_err().contains("valid filters"));
        assert!(c.subscribe_events(&json!({"filters": {"event_type": "nope"}})).unwrap_err().contains("agent_output"));
        assert_eq!(events(&c, &l), ["log_entry", "event"], "a refused filter changes nothing");
        c.subscribe_events(&json!({"filters": {"category": "task"}})).unwrap();
        assert_eq!(events(&c, &l), ["log_entry"]);
        c.subscribe_events(&json!({})).unwrap();
        assert_eq!(events(&c, &ev(2, "s", None, EventKind::TaskStarted { task_id: "t".into() })), ["event"]);
        assert!(c.pushes(&ev(2, "other", None, EventKind::TaskStarted { task_id: "t".into() })).is_empty());
        c.unsubscribe_events();
        assert_eq!(events(&c, &l), ["log_entry"]);
    }

    #[test]
    fn payload_fields() {
        assert_eq!(required_str(&json!({"agent": "a"}), "agent"), Ok("a"));
        assert!(required_str(&json!({}), "agent").unwrap_err().contains("required"));
        assert!(required_str(&json!({"agent": ""}), "agent").is_err());
        assert!(required_str(&json!("x"), "agent").is_err());
        assert_eq!(topic_swarm("swarm:demo"), Some("demo"));
        assert_eq!(topic_swarm("swarm:"), None);
        assert_eq!(topic_swarm("room:x"), None);
    }
}
