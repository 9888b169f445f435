//! The ZeroMQ wire protocol (PROTOCOLS.md §2): one msgpack map per payload,
//! with a `type` key. Decoding never panics: anything that is not msgpack,
//! not a map, of an unknown type or missing a field is an error that says
//! which (the gateway turns it into a `frame_rejected` event).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest payload accepted from a worker.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

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
    rmp_serde::from_slice(payload).map_err(|e| DecodeError::Invalid(e.to_string()))
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
}
