//! The `counter` object: a signed 64-bit counter.
//! Requests: `incr`/`decr` (optional `by`), `get`, `reset`. Config: `initial`.

use serde_json::{Value, json};

use super::{ObjectError, ObjectHandler, ObjectKind, known_keys, op_of};

/// Factory of `counter` objects.
pub struct CounterKind;

struct Counter {
    initial: i64,
    value: i64,
}

fn initial(config: &Value) -> Result<i64, ObjectError> {
    known_keys(config, &["initial"])?;
    match config.get("initial") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_i64().ok_or_else(|| ObjectError::config("config.initial must be an integer")),
    }
}

impl ObjectKind for CounterKind {
    fn name(&self) -> &str {
        "counter"
    }
    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, ObjectError> {
        let initial = initial(config)?;
        Ok(Box::new(Counter { initial, value: initial }))
    }
}

impl ObjectHandler for Counter {
    fn handle(&mut self, _from: &str, req: Value) -> Result<Value, ObjectError> {
        let by = match req.get("by") {
            None => 1,
            Some(v) => v.as_i64().ok_or_else(|| ObjectError::request("'by' must be an integer"))?,
        };
        match op_of(&req)? {
            "incr" => {
                self.value = self.value.checked_add(by).ok_or_else(|| ObjectError::refused("counter overflow"))?
            }
            "decr" => {
                self.value = self.value.checked_sub(by).ok_or_else(|| ObjectError::refused("counter overflow"))?
            }
            "reset" => self.value = self.initial,
            "get" => {}
            op => return Err(ObjectError::request(format!("unknown op '{op}'; valid: incr, decr, get, reset"))),
        }
        Ok(json!({"value": self.value}))
    }
    fn state(&self) -> Value {
        json!({"value": self.value, "initial": self.initial})
    }
    fn configure(&mut self, config: &Value) -> Result<(), ObjectError> {
        self.initial = initial(config)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_counts_and_resets() {
        let mut c = CounterKind.create(&json!({"initial": 5})).unwrap();
        c.handle("a", json!("incr")).unwrap();
        c.handle("a", json!({"op":"decr","by":3})).unwrap();
        assert_eq!(c.state()["value"], 3);
        assert_eq!(c.handle("a", json!("reset")).unwrap(), json!({"value": 5}));
        assert!(c.handle("a", json!({"op":"incr","by":"x"})).is_err());
    }
}
