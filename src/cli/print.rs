//! Readable one-line rendering of events for the terminal.

use hive::events::{Event, Level};

/// `12:00:01.234  info   demo/planner  task_completed  task … completed`
pub(crate) fn event_line(e: &Event) -> String {
    let ts = e.timestamp();
    let time = ts.get(11..23).unwrap_or(&ts);
    let who = match (&e.swarm, &e.agent) {
        (Some(s), Some(a)) => format!("{s}/{a}"),
        (Some(s), None) => s.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => "-".into(),
    };
    let level = match e.level() {
        Level::Debug => "debug",
        Level::Info => "info ",
        Level::Warning => "WARN ",
        Level::Error => "ERROR",
    };
    let mut msg = e.kind.message();
    if msg.len() > 160 {
        let mut end = 160;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
        msg.push('…');
    }
    format!("{time}  {level}  {who:<24}  {:<18}  {}", e.event_type(), msg.replace('\n', "⏎"))
}
