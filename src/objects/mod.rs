//! Objects: the non-agentic endpoints of a swarm (a key-value store, a
//! counter, a queue, or a kind of your own).
//!
//! An object receives routed messages whose content is a JSON request (a
//! plain-text message is read as the JSON string it spells), answers each one
//! to its sender, and exposes its state for reading. To add a kind, implement
//! [`ObjectKind`] (a factory) and [`ObjectHandler`] (one live object) and
//! register it with [`ObjectKinds::register`]; see `examples/custom_object.rs`.
//!
//! An object's state lives in its handler; a restarted object starts again
//! from its (current) configuration.

mod counter;
mod kv;
mod queue;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

pub use counter::CounterKind;
pub use kv::KvKind;
pub use queue::QueueKind;

/// A factory of objects of one kind.
pub trait ObjectKind: Send + Sync + 'static {
    /// The kind's name, as written in swarm files (`kind = "..."`).
    fn name(&self) -> &str;
    /// Creates a live object from its configuration (a JSON object).
    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, String>;
}

/// One live object. Runs inside its actor: never shared, never concurrent.
pub trait ObjectHandler: Send + 'static {
    /// Handles a request from endpoint `from`; the answer goes back to it.
    fn handle(&mut self, from: &str, request: Value) -> Result<Value, String>;
    /// The object's current state, for reading over the API.
    fn state(&self) -> Value;
    /// Applies a new configuration without losing state, if the kind can.
    fn configure(&mut self, config: &Value) -> Result<(), String> {
        let _ = config;
        Err("this object kind cannot be reconfigured while running".into())
    }
}

/// The registered object kinds.
#[derive(Clone)]
pub struct ObjectKinds {
    kinds: BTreeMap<String, Arc<dyn ObjectKind>>,
}

impl Default for ObjectKinds {
    /// The built-in kinds: `kv`, `counter`, `queue`.
    fn default() -> Self {
        let mut k = Self { kinds: BTreeMap::new() };
        k.register(KvKind);
        k.register(CounterKind);
        k.register(QueueKind);
        k
    }
}

impl ObjectKinds {
    /// Registers (or replaces) a kind.
    pub fn register(&mut self, kind: impl ObjectKind) {
        self.kinds.insert(kind.name().to_string(), Arc::new(kind));
    }

    /// The kind of that name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn ObjectKind>> {
        self.kinds.get(name).cloned()
    }

    /// Every registered kind name.
    pub fn names(&self) -> Vec<String> {
        self.kinds.keys().cloned().collect()
    }
}

/// Reads the `op` of a request (`{"op": "get", ...}`) or a bare string request.
pub(crate) fn op_of(request: &Value) -> Result<&str, String> {
    match request {
        Value::String(s) => Ok(s.as_str()),
        Value::Object(m) => {
            m.get("op").and_then(Value::as_str).ok_or_else(|| "request needs a string field 'op'".into())
        }
        _ => Err("request must be a JSON object with an 'op' field".into()),
    }
}

/// Reads an optional unsigned integer setting of a configuration.
pub(crate) fn config_u64(config: &Value, key: &str, default: u64) -> Result<u64, String> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().ok_or_else(|| format!("config.{key} must be a non-negative integer")),
    }
}

/// Rejects configuration keys a kind does not know.
pub(crate) fn known_keys(config: &Value, keys: &[&str]) -> Result<(), String> {
    match config {
        Value::Null => Ok(()),
        Value::Object(m) => match m.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown config key '{k}'; valid keys: {}", keys.join(", "))),
            None => Ok(()),
        },
        _ => Err("config must be a table".into()),
    }
}
