//! Swarm files: parse TOML (or the same structure as JSON), validate it —
//! reporting every error at once, with line and column — into a
//! [`SwarmSpec`], and write a spec back as TOML ([`to_toml`]).
//!
//! Every input is first turned into one located document tree (`node.rs`),
//! which one validator reads (`validate.rs`, `entry.rs`, `check.rs`).
//! The format is described in `design/SWARM-FILES.md`.

mod check;
mod entry;
mod error;
mod genswarms;
mod node;
pub mod schedule;
mod snapshot;
mod spec;
mod validate;

#[cfg(test)]
mod bad_file_tests;
#[cfg(test)]
mod prop_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use spec::*;

/// Options for validation: the object kinds the runtime knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateOptions {
    /// Accepted values of an object's `kind`.
    pub object_kinds: Vec<String>,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self { object_kinds: ["kv", "counter", "queue"].map(String::from).to_vec() }
    }
}

fn finish<T>(result: Result<T, Vec<ConfigError>>) -> Result<T, ConfigErrors> {
    result.map_err(ConfigErrors::sorted)
}

/// How a swarm file given as text is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    /// TOML (the default).
    #[default]
    Toml,
    /// JSON text, the same structure.
    Json,
}

/// Parses and validates a swarm file written as `format`.
pub fn parse(src: &str, format: ConfigFormat, opts: &ValidateOptions) -> Result<SwarmSpec, ConfigErrors> {
    match format {
        ConfigFormat::Toml => parse_toml(src, opts),
        ConfigFormat::Json => parse_json(src, opts),
    }
}

/// Parses and validates a swarm file written in TOML.
pub fn parse_toml(src: &str, opts: &ValidateOptions) -> Result<SwarmSpec, ConfigErrors> {
    finish(node::from_toml(src).and_then(|n| validate::swarm(&n, opts)))
}

/// Parses and validates a swarm file written as JSON text (same structure as the TOML).
pub fn parse_json(src: &str, opts: &ValidateOptions) -> Result<SwarmSpec, ConfigErrors> {
    finish(node::from_json_str(src).and_then(|n| validate::swarm(&n, opts)))
}

/// Validates a swarm file given as a JSON value (errors carry no line numbers).
pub fn parse_json_value(v: &serde_json::Value, opts: &ValidateOptions) -> Result<SwarmSpec, ConfigErrors> {
    finish(validate::swarm(&node::from_json(v), opts))
}

/// Reads a file; `.json` extension → JSON, anything else → TOML.
/// An IO error becomes one [`ConfigError`] with path `""` and the IO message.
pub fn parse_file(path: &Path, opts: &ValidateOptions) -> Result<SwarmSpec, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError::new("", format!("{}: {e}", path.display())))?;
    let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json { parse_json(&src, opts) } else { parse_toml(&src, opts) }
}

/// One agent entry in the same format as an `[[agents]]` table, given as JSON
/// (used by "add agent" over REST). Checks only the entry itself (name, keys,
/// types, bounds), not uniqueness. Error paths are relative to the entry.
pub fn parse_agent_json(v: &serde_json::Value) -> Result<AgentSpec, ConfigErrors> {
    finish(validate::lone_agent(&node::from_json(v)))
}

/// One object entry as JSON, like an `[[objects]]` table; `kind` is checked
/// against `opts.object_kinds`. Error paths are relative to the entry.
pub fn parse_object_json(v: &serde_json::Value, opts: &ValidateOptions) -> Result<ObjectSpec, ConfigErrors> {
    finish(validate::lone_object(&node::from_json(v), opts))
}

/// Checks a new object configuration given as JSON (`configure_object`) by
/// the rules of a swarm file's `config` table: a table holding only what
/// TOML can (no null, integers within 64 bits signed), so that the
/// snapshot, and the seed an overlay is folded into, still parse. Error
/// paths start at `config`.
pub fn check_object_config(config: &serde_json::Value) -> Result<(), ConfigErrors> {
    let mut c = check::Checker::default();
    match c.json_object("config", &node::from_json(config)) {
        Some(_) if c.errors.is_empty() => Ok(()),
        _ => Err(ConfigErrors::sorted(c.errors)),
    }
}

/// Re-checks a whole spec built in code (unique names, edges to known
/// endpoints, bounds) with the same rules as a file; errors carry no locations.
pub fn check_spec(spec: &SwarmSpec, opts: &ValidateOptions) -> Result<(), ConfigErrors> {
    finish(validate::swarm(&snapshot::spec_to_node(spec), opts).map(|_| ()))
}

/// Writes the spec as a swarm file (TOML) that [`parse_toml`] reads back to an
/// equal [`SwarmSpec`]. Keys equal to their defaults are left out; edges are
/// grouped by sender, senders in order of first appearance (so a spec whose
/// edges are not grouped that way reads back with the same edges, regrouped).
pub fn to_toml(spec: &SwarmSpec) -> String {
    snapshot::write_toml(&snapshot::spec_to_node(spec))
}
