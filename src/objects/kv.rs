//! The `kv` object: a bounded string-keyed map of JSON values.
//! Requests: `{"op":"put","key","value"}`, `{"op":"get","key"}`,
//! `{"op":"delete","key"}`, `{"op":"keys"}`. Config: `max_keys` (default 10 000).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ObjectHandler, ObjectKind, config_u64, known_keys, op_of};

/// Factory of `kv` objects.
pub struct KvKind;

struct Kv {
    max_keys: usize,
    map: BTreeMap<String, Value>,
}

fn max_keys(config: &Value) -> Result<usize, String> {
    known_keys(config, &["max_keys"])?;
    Ok(config_u64(config, "max_keys", 10_000)? as usize)
}

impl ObjectKind for KvKind {
    fn name(&self) -> &str {
        "kv"
    }
    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, String> {
        Ok(Box::new(Kv { max_keys: max_keys(config)?, map: BTreeMap::new() }))
    }
}

fn key(req: &Value) -> Result<String, String> {
    req.get("key").and_then(Value::as_str).map(str::to_string).ok_or_else(|| "request needs a string 'key'".into())
}

impl ObjectHandler for Kv {
    fn handle(&mut self, _from: &str, req: Value) -> Result<Value, String> {
        match op_of(&req)? {
            "put" => {
                let k = key(&req)?;
                let v = req.get("value").cloned().unwrap_or(Value::Null);
                if !self.map.contains_key(&k) && self.map.len() >= self.max_keys {
                    return Err(format!("kv is full ({} keys)", self.max_keys));
                }
                let old = self.map.insert(k, v);
                Ok(json!({"ok": true, "previous": old}))
            }
            "get" => Ok(json!({"value": self.map.get(&key(&req)?)})),
            "delete" => Ok(json!({"deleted": self.map.remove(&key(&req)?).is_some()})),
            "keys" => Ok(json!({"keys": self.map.keys().collect::<Vec<_>>()})),
            op => Err(format!("unknown op '{op}'; valid: put, get, delete, keys")),
        }
    }
    fn state(&self) -> Value {
        json!({"entries": self.map, "max_keys": self.max_keys})
    }
    fn configure(&mut self, config: &Value) -> Result<(), String> {
        let max = max_keys(config)?;
        if self.map.len() > max {
            return Err(format!("kv holds {} keys, more than max_keys {max}", self.map.len()));
        }
        self.max_keys = max;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_put_get_delete_and_bound() {
        let mut kv = KvKind.create(&json!({"max_keys": 1})).unwrap();
        kv.handle("a", json!({"op":"put","key":"x","value":1})).unwrap();
        assert_eq!(kv.handle("a", json!({"op":"get","key":"x"})).unwrap(), json!({"value": 1}));
        assert!(kv.handle("a", json!({"op":"put","key":"y","value":2})).unwrap_err().contains("full"));
        assert_eq!(kv.handle("a", json!({"op":"delete","key":"x"})).unwrap(), json!({"deleted": true}));
        assert!(kv.handle("a", json!({"op":"nope"})).is_err());
        let err = KvKind.create(&json!({"max_key": 1})).err().unwrap();
        assert!(err.contains("unknown config key"), "{err}");
    }
}
