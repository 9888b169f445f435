//! The `kv` object: a bounded string-keyed map of JSON values.
//! Requests: `{"op":"put","key","value"}`, `{"op":"get","key"}`,
//! `{"op":"delete","key"}`, `{"op":"keys"}`. Config: `max_keys` (default 10 000).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ObjectError, ObjectHandler, ObjectKind, config_u64, known_keys, op_of};

/// Factory of `kv` objects.
pub struct KvKind;

struct Kv {
    max_keys: usize,
    map: BTreeMap<String, Value>,
}

fn max_keys(config: &Value) -> Result<usize, ObjectError> {
    known_keys(config, &["max_keys"])?;
    Ok(config_u64(config, "max_keys", 10_000)? as usize)
}

impl ObjectKind for KvKind {
    fn name(&self) -> &str {
        "kv"
    }
    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, ObjectError> {
        Ok(Box::new(Kv { max_keys: max_keys(config)?, map: BTreeMap::new() }))
    }
}

fn key(req: &Value) -> Result<String, ObjectError> {
    req.get("key")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ObjectError::request("request needs a string 'key'"))
}

impl ObjectHandler for Kv {
    fn handle(&mut self, _from: &str, req: Value) -> Result<Value, ObjectError> {
        match op_of(&req)? {
            "put" => {
                let k = key(&req)?;
                let v = req.get("value").cloned().unwrap_or(Value::Null);
                if !self.map.contains_key(&k) && self.map.len() >= self.max_keys {
                    return Err(ObjectError::refused(format!("kv is full ({} keys)", self.max_keys)));
                }
                let old = self.map.insert(k, v);
                Ok(json!({"ok": true, "previous": old}))
            }
            "get" => Ok(json!({"value": self.map.get(&key(&req)?)})),
            "delete" => Ok(json!({"deleted": self.map.remove(&key(&req)?).is_some()})),
            "keys" => Ok(json!({"keys": self.map.keys().collect::<Vec<_>>()})),
            op => Err(ObjectError::request(format!("unknown op '{op}'; valid: put, get, delete, keys"))),
        }
    }
    fn state(&self) -> Value {
        json!({"entries": self.map, "max_keys": self.max_keys})
    }
    fn configure(&mut self, config: &Value) -> Result<(), ObjectError> {
        let max = max_keys(config)?;
        if self.map.len() > max {
            return Err(ObjectError::config(format!("kv holds {} keys, more than max_keys {max}", self.map.len())));
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
        let full = kv.handle("a", json!({"op":"put","key":"y","value":2})).unwrap_err();
        assert_eq!(full, ObjectError::refused("kv is full (1 keys)"));
        assert_eq!(kv.handle("a", json!({"op":"delete","key":"x"})).unwrap(), json!({"deleted": true}));
        assert!(matches!(kv.handle("a", json!({"op":"nope"})), Err(ObjectError::BadRequest(_))));
        let err = KvKind.create(&json!({"max_key": 1})).err().unwrap();
        assert!(matches!(&err, ObjectError::BadConfig(m) if m.contains("unknown config key")), "{err}");
    }
}
