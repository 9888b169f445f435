//! Objects: the non-agentic endpoints of a swarm (a key-value store, a
//! counter, a queue, or a kind of your own).
//!
//! An object receives routed messages whose content is a JSON request (a
//! plain-text message is read as the JSON string it spells), answers each one
//! to its sender, and exposes its state for reading. To add a kind, implement
//! [`ObjectKind`] (a factory) and [`ObjectHandler`] (one live object) and
//! register it with [`ObjectKinds::register`]; see `examples/custom_object.rs`.
//!
//! An object's handler can also be a program (`handler = "stdio"` in a swarm
//! file, run by `runtime/swarm/object/program.rs`); the programs that may
//! run are the ones [`ObjectKinds::allow_programs`] permits (the runtime sets
//! it from `[workers] spawn_allow`).
//!
//! An object's state lives in its handler; a restarted object starts again
//! from its (current) configuration. A handler refuses with an
//! [`ObjectError`]; its text is what the sender gets back
//! (`{"error": "<text>"}`), and the API answers a refused configuration as a
//! bad request.

mod counter;
mod kv;
mod queue;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

pub use counter::CounterKind;
pub use kv::KvKind;
pub use queue::QueueKind;

/// Why an object refused a configuration or a request. The text (its
/// `Display`) is what the sender, or the API client, is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The configuration is not one this kind accepts.
    #[error("{0}")]
    BadConfig(String),
    /// The request is malformed (no `op`, an unknown op, a missing field).
    #[error("{0}")]
    BadRequest(String),
    /// A well-formed request the object's state refuses (full, overflow,
    /// over a limit).
    #[error("{0}")]
    Refused(String),
    /// The kind cannot take a new configuration while running.
    #[error("this object kind cannot be reconfigured while running")]
    NotReconfigurable,
}

impl ObjectError {
    /// [`ObjectError::BadConfig`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::BadConfig(message.into())
    }
    /// [`ObjectError::BadRequest`].
    pub fn request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
    /// [`ObjectError::Refused`].
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }
}

/// A factory of objects of one kind.
pub trait ObjectKind: Send + Sync + 'static {
    /// The kind's name, as written in swarm files (`kind = "..."`).
    fn name(&self) -> &str;
    /// Creates a live object from its configuration (a JSON object).
    fn create(&self, config: &Value) -> Result<Box<dyn ObjectHandler>, ObjectError>;
}

/// One live object. Runs inside its actor: never shared, never concurrent.
pub trait ObjectHandler: Send + 'static {
    /// Handles a request from endpoint `from`; the answer goes back to it.
    fn handle(&mut self, from: &str, request: Value) -> Result<Value, ObjectError>;
    /// The object's current state, for reading over the API.
    fn state(&self) -> Value;
    /// Applies a new configuration without losing state, if the kind can.
    fn configure(&mut self, config: &Value) -> Result<(), ObjectError> {
        let _ = config;
        Err(ObjectError::NotReconfigurable)
    }
}

/// The registered object kinds, and which programs may handle objects.
#[derive(Clone)]
pub struct ObjectKinds {
    kinds: BTreeMap<String, Arc<dyn ObjectKind>>,
    programs: Arc<[String]>,
}

impl Default for ObjectKinds {
    /// The built-in kinds: `kv`, `counter`, `queue`; no program allowed.
    fn default() -> Self {
        let mut k = Self { kinds: BTreeMap::new(), programs: Arc::from(Vec::new()) };
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

    /// Lets objects whose handler is a program run the programs these globs
    /// match (`spawn_allow` semantics: the resolved path must match; none =
    /// no program may run).
    pub fn allow_programs(&mut self, globs: Vec<String>) {
        self.programs = Arc::from(globs);
    }

    /// The globs of the programs that may handle objects.
    pub fn program_globs(&self) -> &[String] {
        &self.programs
    }
}

/// Reads the `op` of a request (`{"op": "get", ...}`) or a bare string request.
pub(crate) fn op_of(request: &Value) -> Result<&str, ObjectError> {
    match request {
        Value::String(s) => Ok(s.as_str()),
        Value::Object(m) => {
            m.get("op").and_then(Value::as_str).ok_or_else(|| ObjectError::request("request needs a string field 'op'"))
        }
        _ => Err(ObjectError::request("request must be a JSON object with an 'op' field")),
    }
}

/// Reads an optional unsigned integer setting of a configuration.
pub(crate) fn config_u64(config: &Value, key: &str, default: u64) -> Result<u64, ObjectError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            v.as_u64().ok_or_else(|| ObjectError::config(format!("config.{key} must be a non-negative integer")))
        }
    }
}

/// Rejects configuration keys a kind does not know.
pub(crate) fn known_keys(config: &Value, keys: &[&str]) -> Result<(), ObjectError> {
    match config {
        Value::Null => Ok(()),
        Value::Object(m) => match m.keys().find(|k| !keys.contains(&k.as_str())) {
            Some(k) => Err(ObjectError::config(format!("unknown config key '{k}'; valid keys: {}", keys.join(", ")))),
            None => Ok(()),
        },
        _ => Err(ObjectError::config("config must be a table")),
    }
}
