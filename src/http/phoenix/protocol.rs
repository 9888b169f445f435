//! The Phoenix Channels v2 wire format, pure: parsing and encoding of frames.
//!
//! A frame is a JSON array `[join_ref, ref, topic, event, payload]`, as the
//! `phoenix` JavaScript client (`vsn=2.0.0`) sends them. `join_ref` and `ref`
//! are `null`, strings or numbers and are echoed back unchanged; `topic` and
//! `event` are strings; `payload` is any JSON value.
//!
//! Guarantees: [`parse`] never panics; on a malformed frame it says why and
//! hands back whatever `join_ref`, `ref` and `topic` it could still read, so
//! the caller can answer with an error reply instead of dropping the frame.

use serde_json::{Value, json};

/// The topic of socket-level messages (heartbeats).
pub(crate) const PHOENIX_TOPIC: &str = "phoenix";

/// One frame, either direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// The ref of the join this frame belongs to (`null` for heartbeats).
    pub join_ref: Value,
    /// The message ref, echoed in the reply (`null` for pushes).
    pub msg_ref: Value,
    /// e.g. `swarm:demo` or `phoenix`.
    pub topic: String,
    /// e.g. `phx_join`, `send_task`, `phx_reply`.
    pub event: String,
    /// The event's payload.
    pub payload: Value,
}

/// Why a frame was refused, with what could still be read of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BadFrame {
    /// Human-readable reason.
    pub reason: String,
    /// The join ref, if readable.
    pub join_ref: Value,
    /// The message ref, if readable (`None`: nobody to answer).
    pub msg_ref: Option<Value>,
    /// The topic, if readable.
    pub topic: Option<String>,
}

fn is_ref(v: &Value) -> bool {
    matches!(v, Value::Null | Value::String(_) | Value::Number(_))
}

/// Parses one text frame.
pub(crate) fn parse(text: &str) -> Result<Frame, BadFrame> {
    let bad = |reason: String, join_ref: Value, msg_ref: Option<Value>, topic: Option<String>| BadFrame {
        reason,
        join_ref,
        msg_ref,
        topic,
    };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}"), Value::Null, None, None))?;
    let Value::Array(mut a) = v else {
        return Err(bad(
            "a frame is a JSON array [join_ref, ref, topic, event, payload]".into(),
            Value::Null,
            None,
            None,
        ));
    };
    // Read what can be read before judging the shape, so the reply can reach the caller.
    let join_ref = a.first().filter(|v| is_ref(v)).cloned().unwrap_or(Value::Null);
    let msg_ref = a.get(1).filter(|v| is_ref(v) && !v.is_null()).cloned();
    let topic = a.get(2).and_then(Value::as_str).map(str::to_owned);
    if a.len() != 5 {
        return Err(bad(format!("a frame has 5 elements, this one has {}", a.len()), join_ref, msg_ref, topic));
    }
    if !is_ref(&a[0]) || !is_ref(&a[1]) {
        return Err(bad("join_ref and ref must be null, a string or a number".into(), join_ref, msg_ref, topic));
    }
    let Some(topic) = topic else {
        return Err(bad("topic must be a string".into(), join_ref, msg_ref, None));
    };
    let Some(event) = a[3].as_str().map(str::to_owned) else {
        return Err(bad("event must be a string".into(), join_ref, msg_ref, Some(topic)));
    };
    let payload = a.pop().unwrap_or(Value::Null);
    Ok(Frame { join_ref, msg_ref: a[1].clone(), topic, event, payload })
}

/// Encodes a frame as its JSON array text.
pub(crate) fn encode(f: &Frame) -> String {
    // A tuple serializes as the same array, without copying the payload into a new tree.
    serde_json::to_string(&(&f.join_ref, &f.msg_ref, &f.topic, &f.event, &f.payload)).unwrap_or_default()
}

/// A `phx_reply` to `(join_ref, msg_ref, topic)` with `status` `ok` or `error`.
pub(crate) fn reply(join_ref: &Value, msg_ref: &Value, topic: &str, ok: bool, response: Value) -> Frame {
    Frame {
        join_ref: join_ref.clone(),
        msg_ref: msg_ref.clone(),
        topic: topic.into(),
        event: "phx_reply".into(),
        payload: json!({"status": if ok { "ok" } else { "error" }, "response": response}),
    }
}

/// An error reply whose response is `{"reason": reason}`.
pub(crate) fn error_reply(join_ref: &Value, msg_ref: &Value, topic: &str, reason: &str) -> Frame {
    reply(join_ref, msg_ref, topic, false, json!({"reason": reason}))
}

/// A server push: `ref` is `null`.
pub(crate) fn push(join_ref: &Value, topic: &str, event: &str, payload: Value) -> Frame {
    Frame { join_ref: join_ref.clone(), msg_ref: Value::Null, topic: topic.into(), event: event.into(), payload }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_js_client_sends() {
        let f = parse(r#"["3","4","swarm:demo","send_task",{"agent":"a","task":"t"}]"#).unwrap();
        assert_eq!(f.join_ref, json!("3"));
        assert_eq!(f.msg_ref, json!("4"));
        assert_eq!(f.topic, "swarm:demo");
        assert_eq!(f.event, "send_task");
        assert_eq!(f.payload["agent"], "a");
        let hb = parse(r#"[null,"5","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(hb.join_ref, Value::Null);
        assert_eq!(hb.topic, PHOENIX_TOPIC);
        assert_eq!(parse("[1,2,\"t\",\"e\",null]").unwrap().msg_ref, json!(2));
    }

    #[test]
    fn encode_round_trips() {
        let f = push(&json!("1"), "swarm:x", "agent_output", json!({"agent": "a", "content": "hi"}));
        assert_eq!(encode(&f), r#"["1",null,"swarm:x","agent_output",{"agent":"a","content":"hi"}]"#);
        assert_eq!(parse(&encode(&f)).unwrap(), f);
        let r = error_reply(&Value::Null, &json!("9"), "t", "unmatched topic");
        assert_eq!(
            encode(&r),
            r#"[null,"9","t","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#
        );
    }

    #[test]
    fn malformed_frames_say_why_and_keep_the_ref_when_readable() {
        let e = parse("not json").unwrap_err();
        assert!(e.reason.starts_with("not JSON"), "{e:?}");
        assert_eq!(e.msg_ref, None);
        let e = parse(r#"{"topic":"x"}"#).unwrap_err();
        assert_eq!(e.msg_ref, None);
        let e = parse(r#"["1","2","swarm:x"]"#).unwrap_err();
        assert_eq!((e.msg_ref.clone(), e.topic.as_deref()), (Some(json!("2")), Some("swarm:x")));
        assert!(e.reason.contains("5 elements"), "{e:?}");
        let e = parse(r#"["1","2",7,"ev",{}]"#).unwrap_err();
        assert_eq!((e.msg_ref, e.topic), (Some(json!("2")), None));
        let e = parse(r#"["1","2","t",{},{}]"#).unwrap_err();
        assert_eq!(e.reason, "event must be a string");
        let e = parse(r#"[{},"2","t","e",{}]"#).unwrap_err();
        assert_eq!(e.msg_ref, Some(json!("2")));
        let e = parse(r#"["1",null,"t",5,{}]"#).unwrap_err();
        assert_eq!(e.msg_ref, None, "a null ref cannot be answered");
        for s in ["", "[]", "[[[[", "null", "\"x\"", "[1,2,3,4,5,6]"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }

    mod props {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::*;

        use crate::proptest_cases::cases;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                // Short floats: serde_json's default parser may be one ulp off for long ones.
                (any::<i16>(), 0..3i32).prop_map(|(m, e)| Value::from(f64::from(m) / 2f64.powi(e))),
                ".{0,8}".prop_map(Value::from),
                prop::sample::select(vec!["phoenix", "swarm:demo", "heartbeat", "phx_join", "phx_leave", "send_task"])
                    .prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 16, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..7).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,6}", inner, 0..3)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn is_ref(v: &Value) -> bool {
            matches!(v, Value::Null | Value::String(_) | Value::Number(_))
        }

        proptest! {
            #![proptest_config(cases())]

            /// Any text: no panic; a refusal says why.
            #[test]
            fn any_text_is_a_frame_or_a_refusal_that_says_why(text in any::<String>()) {
                if let Err(bad) = parse(&text) {
                    prop_assert!(!bad.reason.is_empty());
                }
            }

            /// Any JSON: a frame exactly when it has the frame's shape (which
            /// encodes and parses back to itself); a refusal keeps a
            /// readable, non-null ref, so the caller can be answered.
            #[test]
            fn any_json_is_a_frame_exactly_when_it_has_the_shape(v in json()) {
                let text = v.to_string();
                let shaped = matches!(&v, Value::Array(a) if a.len() == 5
                    && is_ref(&a[0]) && is_ref(&a[1]) && a[2].is_string() && a[3].is_string());
                match parse(&text) {
                    Ok(f) => {
                        prop_assert!(shaped, "{} parsed as a frame", text);
                        prop_assert_eq!(parse(&encode(&f)), Ok(f));
                    }
                    Err(bad) => {
                        prop_assert!(!shaped, "{} refused: {}", text, bad.reason);
                        let readable = match &v {
                            Value::Array(a) => a.get(1).filter(|r| is_ref(r) && !r.is_null()).cloned(),
                            _ => None,
                        };
                        prop_assert_eq!(bad.msg_ref, readable);
                    }
                }
            }

            /// A well-formed frame with any payload parses to its parts.
            #[test]
            fn a_frame_parses_to_its_parts(
                join_ref in prop_oneof![Just(Value::Null), ".{0,4}".prop_map(Value::from), any::<u32>().prop_map(Value::from)],
                msg_ref in prop_oneof![Just(Value::Null), ".{0,4}".prop_map(Value::from), any::<u32>().prop_map(Value::from)],
                topic in ".{0,12}",
                event in ".{0,12}",
                payload in json(),
            ) {
                let text = json!([join_ref, msg_ref, topic, event, payload]).to_string();
                let f = Frame { join_ref, msg_ref, topic, event, payload };
                prop_assert_eq!(parse(&text), Ok(f));
            }
        }
    }
}
