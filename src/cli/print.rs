//! Readable one-line rendering of events for the terminal.

use hive::events::Event;
use serde_json::Value;

/// `12:00:01.234  info   demo/planner  task_completed  task … completed`
pub(crate) fn event_line(e: &Event) -> String {
    line(&e.timestamp(), e.level().as_str(), e.swarm.as_deref(), e.agent.as_deref(), e.event_type(), e.kind.message())
}

/// The same line for an event read as JSON: the stream's shape (`timestamp`
/// as RFC 3339) or the stored one (`timestamp_ms`).
pub(crate) fn json_event_line(v: &Value) -> String {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let ts = match (s("timestamp"), v.get("timestamp_ms").and_then(Value::as_u64)) {
        (Some(t), _) => t.to_string(),
        (None, Some(ms)) => hive::events::rfc3339_ms(ms),
        (None, None) => String::new(),
    };
    let msg = s("message").unwrap_or_default().to_string();
    line(&ts, s("level").unwrap_or("info"), s("swarm"), s("agent"), s("event_type").unwrap_or("?"), msg)
}

fn line(ts: &str, level: &str, swarm: Option<&str>, agent: Option<&str>, event_type: &str, mut msg: String) -> String {
    let time = ts.get(11..23).unwrap_or(ts);
    let who = match (swarm, agent) {
        (Some(s), Some(a)) => format!("{s}/{a}"),
        (Some(s), None) => s.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => "-".into(),
    };
    let level = match level {
        "info" => "info ",
        "warning" => "WARN ",
        "error" => "ERROR",
        other => other,
    };
    if msg.len() > 160 {
        let mut end = 160;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
        msg.push('…');
    }
    format!("{time}  {level}  {who:<24}  {event_type:<18}  {}", msg.replace('\n', "⏎"))
}
