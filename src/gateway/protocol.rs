//! The ZeroMQ wire protocol (PROTOCOLS.md §2): one msgpack map per payload,
//! with a `type` key. Decoding never panics: anything that is not msgpack,
//! not a map, of an unknown type or missing a field is an error that says
//! which (the gateway turns it into a `frame_rejected` event); nesting is
//! bounded, so no payload can overflow the stack.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest payload accepted from a worker.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Deepest nesting of arrays and maps accepted in a payload. A tagged
/// message is buffered whole before it is read, one stack frame a level:
/// rmp-serde's own limit (1 024) overflowed a worker thread's stack.
const MAX_DEPTH: usize = 64;

/// A message from a worker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMsg {
    /// Register, or: alive with free slots.
    Ready {
        /// The worker's id (its socket identity).
        worker_id: String,
        /// What it can do.
        #[serde(default)]
        capabilities: Vec<String>,
        /// Tasks it runs at once (default 1).
        slots: Option<u32>,
        /// The gateway's worker token, when one is configured.
        token: Option<String>,
        /// Free-form metadata.
        #[serde(default)]
        tags: BTreeMap<String, serde_json::Value>,
    },
    /// Alive (while busy).
    Heartbeat {
        /// The worker's id.
        worker_id: String,
    },
    /// Partial output.
    Token {
        /// The task.
        task_id: String,
        /// The piece.
        content: String,
    },
    /// Done.
    Result {
        /// The task.
        task_id: String,
        /// The result.
        content: String,
        /// `ok` (anything else is a failure).
        status: Option<ResultStatus>,
    },
    /// Failed.
    Error {
        /// The task.
        task_id: String,
        /// Why.
        message: String,
        /// A failure code (default `worker_error`); a worker that gave up a
        /// task it was told to cancel may say `cancelled`.
        #[serde(default)]
        code: Option<String>,
    },
    /// A log line.
    Log {
        /// `debug`, `info`, `warning` or `error`.
        level: String,
        /// The line.
        message: String,
    },
}

/// The `status` of a worker's `result`: `ok`, or anything else (a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    /// The task completed.
    Ok,
    /// Any other word: the task failed, with the content as its message.
    #[serde(other)]
    Failed,
}

/// A message to a worker.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GatewayMsg<'a> {
    /// Run this.
    Task {
        /// The task.
        task_id: &'a str,
        /// What to do.
        prompt: &'a str,
        /// Model override.
        #[serde(skip_serializing_if = "Option::is_none")]
        model: Option<&'a str>,
        /// Extra context.
        #[serde(skip_serializing_if = "Option::is_none")]
        context: Option<&'a str>,
        /// 1 (highest) ..
        priority: u8,
        /// The swarm, for a swarm agent's task.
        #[serde(skip_serializing_if = "Option::is_none")]
        swarm: Option<&'a str>,
        /// The agent, for a swarm agent's task.
        #[serde(skip_serializing_if = "Option::is_none")]
        agent: Option<&'a str>,
    },
    /// Abort it.
    Cancel {
        /// The task.
        task_id: &'a str,
    },
    /// Registration refused.
    Rejected {
        /// Why.
        reason: &'a str,
    },
}

/// Why a worker's payload is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over [`MAX_FRAME_BYTES`] (the size is given).
    #[error("payload of {0} bytes is over {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    /// No bytes.
    #[error("empty payload")]
    Empty,
    /// Not a msgpack map.
    #[error("the payload is not a msgpack map")]
    NotAMap,
    /// A map that is not a known message (the decoder's words).
    #[error("invalid message: {0}")]
    Invalid(String),
}

/// Decodes a worker's payload.
pub fn decode(payload: &[u8]) -> Result<WorkerMsg, DecodeError> {
    if payload.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(payload.len()));
    }
    match payload.first() {
        // fixmap, map16, map32
        Some(0x80..=0x8f | 0xde | 0xdf) => {}
        Some(_) => return Err(DecodeError::NotAMap),
        None => return Err(DecodeError::Empty),
    }
    let mut de = rmp_serde::Deserializer::from_read_ref(payload);
    de.set_max_depth(MAX_DEPTH);
    WorkerMsg::deserialize(&mut de).map_err(|e| DecodeError::Invalid(e.to_string()))
}

/// Encodes a message for a worker (a msgpack map with string keys).
pub fn encode(msg: &GatewayMsg<'_>) -> Vec<u8> {
    rmp_serde::to_vec_named(msg).expect("gateway messages always encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec_named(&v).unwrap()
    }

    #[test]
    fn worker_messages_decode_with_defaults() {
        let m = decode(&map(serde_json::json!({"type": "ready", "worker_id": "w1", "capabilities": ["a"]}))).unwrap();
        assert_eq!(
            m,
            WorkerMsg::Ready {
                worker_id: "w1".into(),
                capabilities: vec!["a".into()],
                slots: None,
                token: None,
                tags: BTreeMap::new()
            }
        );
        let m = decode(&map(serde_json::json!({"type": "result", "task_id": "t", "content": "c", "extra": 1})));
        assert!(matches!(m, Ok(WorkerMsg::Result { .. })), "extra fields are ignored");
    }

    #[test]
    fn garbage_is_an_error_that_says_why() {
        assert_eq!(decode(b"").unwrap_err(), DecodeError::Empty);
        assert_eq!(decode(b"\x93\x01\x02\x03").unwrap_err(), DecodeError::NotAMap);
        assert_eq!(decode(b"\xff\xfe").unwrap_err().to_string(), "the payload is not a msgpack map");
        let e = decode(&map(serde_json::json!({"type": "launch"}))).unwrap_err();
        assert!(matches!(&e, DecodeError::Invalid(m) if m.contains("launch")), "{e}");
        let e = decode(&map(serde_json::json!({"type": "result", "content": "c"}))).unwrap_err();
        assert!(e.to_string().contains("task_id"), "{e}");
        assert!(decode(&map(serde_json::json!({"worker_id": "w"}))).is_err(), "no type");
        assert!(decode(&[0x81, 0xa4]).is_err(), "truncated");
    }

    #[test]
    fn gateway_messages_are_maps_with_a_type() {
        let b = encode(&GatewayMsg::Cancel { task_id: "t1" });
        let v: serde_json::Value = rmp_serde::from_slice(&b).unwrap();
        assert_eq!(v, serde_json::json!({"type": "cancel", "task_id": "t1"}));
    }

    /// Found by the property tests: a frame nesting arrays a thousand deep
    /// in any field overflowed the stack (an abort of the daemon, from any
    /// peer of the socket, before its token was looked at).
    #[test]
    fn deep_nesting_is_refused_and_does_not_overflow_the_stack() {
        for depth in [65, 1_000, 100_000] {
            for (field, open) in [("tags", 0x81u8), ("extra", 0x91)] {
                let mut p = vec![0x83];
                p.extend(rmp_serde::to_vec(&"type").unwrap());
                p.extend(rmp_serde::to_vec(&"ready").unwrap());
                p.extend(rmp_serde::to_vec(&"worker_id").unwrap());
                p.extend(rmp_serde::to_vec(&"w").unwrap());
                p.extend(rmp_serde::to_vec(&field).unwrap());
                for _ in 0..depth {
                    p.push(open);
                    if open == 0x81 {
                        p.push(0xa1);
                        p.push(b'k');
                    }
                }
                p.push(0x01);
                let e = decode(&p).unwrap_err();
                assert!(e.to_string().contains("depth"), "{depth} {field}: {e}");
            }
        }
        let shallow = map(serde_json::json!({"type": "ready", "worker_id": "w", "tags": {"a": [[[[[1]]]]]}}));
        assert!(decode(&shallow).is_ok(), "ordinary nesting is fine");
    }

    mod props {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::*;
        use super::map;

        use crate::proptest_cases::cases;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
            ];
            leaf.prop_recursive(4, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,6}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        const TYPES: [&str; 7] = ["ready", "heartbeat", "token", "result", "error", "log", "launch"];
        const FIELDS: [&str; 12] = [
            "worker_id",
            "capabilities",
            "slots",
            "token",
            "tags",
            "task_id",
            "content",
            "status",
            "message",
            "code",
            "level",
            "type",
        ];

        /// A map with a `type` (mostly a known one) and fields of the
        /// protocol's names with values of any type.
        fn frame_map() -> impl Strategy<Value = Value> {
            (
                prop::sample::select(TYPES.to_vec()),
                prop::collection::vec((prop::sample::select(FIELDS.to_vec()), json()), 0..6),
            )
                .prop_map(|(t, fields)| {
                    let mut m = serde_json::Map::new();
                    m.insert("type".into(), t.into());
                    m.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
                    Value::Object(m)
                })
        }

        /// A well-formed message, with the map that encodes it (extra fields included).
        fn message() -> impl Strategy<Value = (WorkerMsg, Value)> {
            let s = || ".{0,12}";
            prop_oneof![
                (s(), prop::collection::vec(s(), 0..3), prop::option::of(1..100u32), prop::option::of(s())).prop_map(
                    |(worker_id, capabilities, slots, token)| {
                        let mut m = json!({"type": "ready", "worker_id": worker_id, "capabilities": capabilities});
                        if let Some(n) = slots {
                            m["slots"] = n.into();
                        }
                        if let Some(t) = &token {
                            m["token"] = t.as_str().into();
                        }
                        let msg = WorkerMsg::Ready { worker_id, capabilities, slots, token, tags: BTreeMap::new() };
                        (msg, m)
                    }
                ),
                s().prop_map(|w| (
                    WorkerMsg::Heartbeat { worker_id: w.clone() },
                    json!({"type": "heartbeat", "worker_id": w, "x": [1]})
                )),
                (s(), s()).prop_map(|(t, c)| (
                    WorkerMsg::Token { task_id: t.clone(), content: c.clone() },
                    json!({"type": "token", "task_id": t, "content": c})
                )),
                (s(), s(), any::<bool>()).prop_map(|(t, c, ok)| (
                    WorkerMsg::Result {
                        task_id: t.clone(),
                        content: c.clone(),
                        status: Some(if ok { ResultStatus::Ok } else { ResultStatus::Failed }),
                    },
                    json!({"type": "result", "task_id": t, "content": c, "status": if ok { "ok" } else { "oops" }})
                )),
                (s(), s(), prop::option::of(s())).prop_map(|(t, m, code)| (
                    WorkerMsg::Error { task_id: t.clone(), message: m.clone(), code: code.clone() },
                    json!({"type": "error", "task_id": t, "message": m, "code": code})
                )),
                (s(), s()).prop_map(|(l, m)| (
                    WorkerMsg::Log { level: l.clone(), message: m.clone() },
                    json!({"type": "log", "level": l, "message": m})
                )),
            ]
        }

        proptest! {
            #![proptest_config(cases())]

            /// Any bytes: no panic; empty, not a map and too large say so.
            #[test]
            fn any_bytes_decode_or_say_why(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
                match decode(&bytes) {
                    Ok(_) => prop_assert!(matches!(bytes[0], 0x80..=0x8f | 0xde | 0xdf)),
                    Err(DecodeError::Empty) => prop_assert!(bytes.is_empty()),
                    Err(DecodeError::NotAMap) => prop_assert!(!matches!(bytes[0], 0x80..=0x8f | 0xde | 0xdf)),
                    Err(DecodeError::Invalid(why)) => prop_assert!(!why.is_empty()),
                    Err(DecodeError::TooLarge(_)) => prop_assert!(false, "small payload called too large"),
                }
            }

            /// Maps with the protocol's field names and values of any type:
            /// a message or an error, never a panic; cut short, an error.
            #[test]
            fn maps_of_any_fields_decode_or_say_why(m in frame_map(), cut in any::<prop::sample::Index>()) {
                let bytes = map(m);
                let _ = decode(&bytes);
                let cut = cut.index(bytes.len());
                prop_assert!(decode(&bytes[..cut]).is_err(), "a cut map is not a message");
            }

            /// A well-formed message decodes to itself, extra fields ignored.
            #[test]
            fn a_well_formed_message_decodes_to_itself((msg, m) in message()) {
                prop_assert_eq!(decode(&map(m)), Ok(msg));
            }
        }
    }
}
