//! The JSONL protocol (PROTOCOLS.md §1): lines a child writes, parsed, and
//! lines the runtime writes, encoded. Extra fields are ignored on input.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A line from the child, understood.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum FromChild {
    /// The child is up.
    Ready {
        #[serde(default)]
        capabilities: Vec<String>,
    },
    /// Partial output of a task.
    Token { id: String, content: Value },
    /// A task is done.
    Result { id: String, content: Value },
    /// A task failed.
    Error {
        id: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        code: Option<String>,
    },
    /// Send to another endpoint.
    Send { to: String, content: Value },
    /// Send to every out-edge.
    Broadcast { content: Value },
    /// A log line.
    Log {
        #[serde(default)]
        level: String,
        #[serde(default)]
        message: String,
    },
    /// Free-form state for the status.
    Status { state: Value },
}

/// What a stdout line turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parsed {
    /// A protocol line.
    Line(FromChild),
    /// JSON, but not a protocol line (unknown type, missing field).
    Invalid(String),
    /// Not JSON: plain output.
    Raw(String),
}

/// Parses one stdout line.
pub(crate) fn parse(line: &[u8]) -> Parsed {
    match serde_json::from_slice::<FromChild>(line) {
        Ok(l) => Parsed::Line(l),
        Err(e) => {
            let text = String::from_utf8_lossy(line).into_owned();
            if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
                Parsed::Invalid(format!("not a protocol line ({e}): {}", cut(&text, 200)))
            } else {
                Parsed::Raw(text)
            }
        }
    }
}

/// A JSON content value as text (strings as they are, anything else as JSON).
pub(crate) fn text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The event level of a child's `log` line: `debug`, `warning` (or
/// `warn`), `error`; anything else is `info`.
pub(crate) fn log_level(word: &str) -> crate::events::Level {
    use crate::events::Level;
    match word {
        "debug" => Level::Debug,
        "warning" | "warn" => Level::Warning,
        "error" => Level::Error,
        _ => Level::Info,
    }
}

/// Cuts a string to at most `n` bytes on a char boundary.
pub(crate) fn cut(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A line to the child.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToChild<'a> {
    /// Run a task.
    Task {
        id: &'a str,
        content: &'a str,
        from: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<&'a str>,
    },
    /// A routed message.
    Message { id: &'a str, from: &'a str, content: &'a str },
    /// Stop working on a task.
    Cancel { id: &'a str },
    /// Finish up and exit.
    Shutdown,
    /// A send of the child's was refused.
    Denied { to: &'a str, reason: &'a str },
}

impl ToChild<'_> {
    /// The line, `\n`-terminated.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_child_line_type_and_ignores_extra_fields() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(p(r#"{"type":"ready","x":1}"#), Parsed::Line(FromChild::Ready { capabilities: vec![] }));
        assert!(matches!(p(r#"{"type":"token","id":"1","content":"a"}"#), Parsed::Line(FromChild::Token { .. })));
        assert!(matches!(p(r#"{"type":"result","id":"1","content":{"k":1}}"#), Parsed::Line(FromChild::Result { .. })));
        assert!(matches!(
            p(r#"{"type":"error","id":"1","message":"m","code":"c"}"#),
            Parsed::Line(FromChild::Error { .. })
        ));
        assert!(matches!(p(r#"{"type":"send","to":"b","content":"x"}"#), Parsed::Line(FromChild::Send { .. })));
        assert!(matches!(p(r#"{"type":"broadcast","content":"x"}"#), Parsed::Line(FromChild::Broadcast { .. })));
        assert!(matches!(p(r#"{"type":"log","level":"info","message":"m"}"#), Parsed::Line(FromChild::Log { .. })));
        assert!(matches!(p(r#"{"type":"status","state":"thinking"}"#), Parsed::Line(FromChild::Status { .. })));
    }

    #[test]
    fn json_that_is_not_a_protocol_line_is_invalid_and_text_is_raw() {
        assert!(matches!(parse(br#"{"type":"nope"}"#), Parsed::Invalid(_)));
        assert!(matches!(parse(br#"{"type":"result"}"#), Parsed::Invalid(_)));
        assert!(matches!(parse(b"[1,2]"), Parsed::Invalid(_)));
        assert_eq!(parse(b"hello world"), Parsed::Raw("hello world".into()));
        assert_eq!(parse(b"\xff\xfe ok"), Parsed::Raw("\u{fffd}\u{fffd} ok".into()));
    }

    #[test]
    fn encodes_lines_with_a_newline() {
        let l = ToChild::Task { id: "1", content: "hi", from: "user", model: None }.encode();
        assert_eq!(l, b"{\"type\":\"task\",\"id\":\"1\",\"content\":\"hi\",\"from\":\"user\"}\n");
        assert_eq!(ToChild::Shutdown.encode(), b"{\"type\":\"shutdown\"}\n");
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        use crate::proptest_cases::cases;

        const TYPES: [&str; 10] =
            ["ready", "token", "result", "error", "send", "broadcast", "log", "status", "task", "nope"];
        const FIELDS: [&str; 9] = ["id", "content", "message", "code", "to", "level", "state", "capabilities", "type"];

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,6}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn line_object() -> impl Strategy<Value = Value> {
            (
                prop::sample::select(TYPES.to_vec()),
                prop::collection::vec((prop::sample::select(FIELDS.to_vec()), json()), 0..5),
            )
                .prop_map(|(t, fields)| {
                    let mut m = serde_json::Map::new();
                    m.insert("type".into(), t.into());
                    m.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
                    Value::Object(m)
                })
        }

        proptest! {
            #![proptest_config(cases())]

            /// Any bytes: JSON is a protocol line or invalid; anything else is raw output.
            #[test]
            fn any_bytes_are_a_line_invalid_or_raw(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
                let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok();
                match parse(&bytes) {
                    Parsed::Line(_) | Parsed::Invalid(_) => prop_assert!(is_json),
                    Parsed::Raw(text) => {
                        prop_assert!(!is_json);
                        prop_assert_eq!(text, String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
            }

            /// Objects with the protocol's field names and values of any type:
            /// a line or invalid (never raw, never a panic); cut short, not a line.
            #[test]
            fn protocol_shaped_objects_are_lines_or_invalid(v in line_object(), cut in any::<prop::sample::Index>()) {
                let text = v.to_string();
                prop_assert!(!matches!(parse(text.as_bytes()), Parsed::Raw(_)));
                let cut = cut.index(text.len());
                prop_assert!(!matches!(parse(&text.as_bytes()[..cut]), Parsed::Line(_)));
            }

            /// A line's content goes through whatever it is, nested as deep as JSON allows.
            #[test]
            fn a_result_keeps_its_content(id in ".{0,8}", content in json(), depth in 0..120usize) {
                let nested = (0..depth).fold(content, |v, _| Value::Array(vec![v]));
                let line = serde_json::json!({"type": "result", "id": id, "content": nested}).to_string();
                prop_assert_eq!(parse(line.as_bytes()), Parsed::Line(FromChild::Result { id, content: nested }));
            }
        }
    }
}
