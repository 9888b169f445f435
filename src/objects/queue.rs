//! The `queue` object: a bounded FIFO of JSON values.
//! Requests: `{"op":"push","item"}`, `pop`, `peek`, `len`. Config: `max_len` (default 10 000).

use std::collections::VecDeque;

use serde_json::{Value, json};

use super::{ObjectError, ObjectHandler, ObjectKind, config_u64, known_keys, op_of};

/// Factory of `queue` objects.
pub struct QueueKind;

struct Queue {
    max_len: usize,
    items: VecDeque<Value>,
}

fn max_len(config: &Value) -> Result<usize, ObjectError> {
    known_keys(config, &["max_len"])?;
    Ok(config_u64(config, "max_len", 10_000)? as usize)
}

impl ObjectKind for QueueKind {
    fn name(&self) -> &str {
        "queue"
    }
    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, ObjectError> {
        Ok(Box::new(Queue { max_len: max_len(config)?, items: VecDeque::new() }))
    }
}

impl ObjectHandler for Queue {
    fn handle(&mut self, _from: &str, req: Value) -> Result<Value, ObjectError> {
        match op_of(&req)? {
            "push" => {
                if self.items.len() >= self.max_len {
                    return Err(ObjectError::refused(format!("queue is full ({} items)", self.max_len)));
                }
                self.items.push_back(req.get("item").cloned().unwrap_or(Value::Null));
                Ok(json!({"len": self.items.len()}))
            }
            "pop" => Ok(json!({"item": self.items.pop_front()})),
            "peek" => Ok(json!({"item": self.items.front()})),
            "len" => Ok(json!({"len": self.items.len()})),
            op => Err(ObjectError::request(format!("unknown op '{op}'; valid: push, pop, peek, len"))),
        }
    }
    fn state(&self) -> Value {
        json!({"items": self.items, "len": self.items.len(), "max_len": self.max_len})
    }
    fn configure(&mut self, config: &Value) -> Result<(), ObjectError> {
        self.max_len = max_len(config)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_is_fifo_and_bounded() {
        let mut q = QueueKind.create(&json!({"max_len": 2})).unwrap();
        q.handle("a", json!({"op":"push","item":1})).unwrap();
        q.handle("a", json!({"op":"push","item":2})).unwrap();
        assert!(q.handle("a", json!({"op":"push","item":3})).is_err());
        assert_eq!(q.handle("a", json!("pop")).unwrap(), json!({"item": 1}));
        assert_eq!(q.handle("a", json!("len")).unwrap(), json!({"len": 1}));
    }
}
