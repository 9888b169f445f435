//! The error-collecting reader the validators are built from: typed access
//! to [`Node`]s that records a located [`ConfigError`] for every wrong type,
//! out-of-range number, bad enum word, unknown or duplicate key, and returns
//! `None` instead of stopping, so every problem of a file is reported at once.

use std::collections::HashSet;

use serde_json::{Map, Number};

use super::error::ConfigError;
use super::node::{Entry, Node, Pos, Value};
use super::spec::{MAX_NAME_LEN, is_valid_name};

/// `base.key`, or `key` at the top.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() { key.to_owned() } else { format!("{base}.{key}") }
}

/// A type-checked table, its keys already checked against the allowed ones.
pub(crate) struct Table<'n> {
    /// The entries, in file order.
    pub(crate) entries: &'n [Entry],
    /// Where the table (or its header) starts.
    pub(crate) pos: Option<Pos>,
    /// Path of the table itself.
    pub(crate) path: String,
}

impl<'n> Table<'n> {
    /// The first entry named `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// Path of `key` inside this table.
    pub(crate) fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

/// Collects errors while reading a document tree.
#[derive(Default)]
pub(crate) struct Checker {
    /// Every error found so far.
    pub(crate) errors: Vec<ConfigError>,
}

impl Checker {
    /// Records an error.
    pub(crate) fn err(&mut self, path: impl Into<String>, pos: Option<Pos>, message: impl Into<String>) {
        self.errors.push(ConfigError::at(path, pos, message));
    }

    fn wrong_type(&mut self, path: &str, node: &Node, expected: &str) {
        let found = node.value.type_name();
        self.err(path, node.pos, format!("expected {expected}, found {found}"));
    }

    /// A table; reports duplicate keys and, when `keys` is given, every key not in it.
    pub(crate) fn table<'n>(&mut self, path: &str, node: &'n Node, keys: Option<&[&str]>) -> Option<Table<'n>> {
        let Value::Table(entries) = &node.value else {
            self.wrong_type(path, node, "a table");
            return None;
        };
        let mut seen = HashSet::new();
        for e in entries {
            let key_path = join(path, &e.key);
            if !seen.insert(e.key.as_str()) {
                self.err(key_path, e.key_pos, format!("duplicate key `{}`", e.key));
            } else if let Some(keys) = keys.filter(|k| !k.contains(&e.key.as_str())) {
                let hint = suggest(&e.key, keys.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let msg = format!("unknown key `{}`{hint}; valid keys: {}", e.key, keys.join(", "));
                self.err(key_path, e.key_pos, msg);
            }
        }
        Some(Table { entries, pos: node.pos, path: path.to_owned() })
    }

    /// The entry `key` of `t`; reports it missing.
    pub(crate) fn required<'n>(&mut self, t: &Table<'n>, key: &str) -> Option<&'n Entry> {
        let e = t.get(key);
        if e.is_none() {
            self.err(t.path(key), t.pos, format!("missing required key `{key}`"));
        }
        e
    }

    /// A string.
    pub(crate) fn string(&mut self, path: &str, node: &Node) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(path, node, "a string");
                None
            }
        }
    }

    /// A non-empty string.
    pub(crate) fn non_empty(&mut self, path: &str, node: &Node) -> Option<String> {
        let s = self.string(path, node)?;
        if s.is_empty() {
            self.err(path, node.pos, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// A valid swarm, agent or object name.
    pub(crate) fn name(&mut self, path: &str, node: &Node) -> Option<String> {
        let s = self.string(path, node)?;
        if !is_valid_name(&s) {
            let msg = format!(
                "invalid name `{s}`: must start with a letter, contain only letters, digits, \
                 `_` and `-`, and be at most {MAX_NAME_LEN} characters"
            );
            self.err(path, node.pos, msg);
            return None;
        }
        Some(s)
    }

    /// An integer within `min..=max`.
    pub(crate) fn int(&mut self, path: &str, node: &Node, min: i128, max: i128) -> Option<i128> {
        let Value::Int(n) = node.value else {
            self.wrong_type(path, node, "an integer");
            return None;
        };
        if n < min || n > max {
            self.err(path, node.pos, format!("must be between {min} and {max}, found {n}"));
            return None;
        }
        Some(n)
    }

    /// An integer within `min..=max` as a `u64`.
    pub(crate) fn u64_in(&mut self, path: &str, node: &Node, min: u64, max: u64) -> Option<u64> {
        let n = self.int(path, node, i128::from(min), i128::from(max))?;
        u64::try_from(n).ok()
    }

    /// An integer within `min..=max` as a `u32`.
    pub(crate) fn u32_in(&mut self, path: &str, node: &Node, min: u32, max: u32) -> Option<u32> {
        let n = self.int(path, node, i128::from(min), i128::from(max))?;
        u32::try_from(n).ok()
    }

    /// A boolean.
    pub(crate) fn boolean(&mut self, path: &str, node: &Node) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong_type(path, node, "a boolean");
                None
            }
        }
    }

    /// An array of strings; each bad element is reported at `path[i]`.
    pub(crate) fn strings(&mut self, path: &str, node: &Node) -> Option<Vec<String>> {
        let Value::Array(items) = &node.value else {
            self.wrong_type(path, node, "an array of strings");
            return None;
        };
        let before = self.errors.len();
        let out: Vec<String> =
            items.iter().enumerate().filter_map(|(i, item)| self.string(&format!("{path}[{i}]"), item)).collect();
        (self.errors.len() == before).then_some(out)
    }

    /// One of a fixed set of words, parsed by `parse`.
    pub(crate) fn word<T>(
        &mut self,
        path: &str,
        node: &Node,
        valid: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let s = self.string(path, node)?;
        let parsed = parse(&s);
        if parsed.is_none() {
            let hint =
                suggest(&s, valid.iter().copied()).map(|w| format!(" (did you mean `{w}`?)")).unwrap_or_default();
            let msg = format!("unknown value `{s}`{hint}; expected one of: {}", valid.join(", "));
            self.err(path, node.pos, msg);
        }
        parsed
    }

    /// Any table as a JSON object (TOML datetimes become strings).
    pub(crate) fn json_object(&mut self, path: &str, node: &Node) -> Option<serde_json::Value> {
        if !matches!(node.value, Value::Table(_)) {
            self.wrong_type(path, node, "a table");
            return None;
        }
        let before = self.errors.len();
        let v = self.json(path, node);
        (self.errors.len() == before).then_some(v)
    }

    fn json(&mut self, path: &str, node: &Node) -> serde_json::Value {
        use serde_json::Value as J;
        match &node.value {
            Value::Null => {
                self.err(path, node.pos, "null is not allowed (a swarm file is TOML, which has no null)");
                J::Null
            }
            Value::Bool(b) => J::Bool(*b),
            Value::Int(n) => match i64::try_from(*n) {
                Ok(n) => J::Number(n.into()),
                Err(_) => {
                    self.err(path, node.pos, format!("integer {n} is out of range (64-bit signed)"));
                    J::Null
                }
            },
            Value::Float(x) => match Number::from_f64(*x) {
                Some(n) => J::Number(n),
                None => {
                    self.err(path, node.pos, format!("float {x} is not allowed (not finite)"));
                    J::Null
                }
            },
            Value::Str(s) | Value::Datetime(s) => J::String(s.clone()),
            Value::Array(items) => {
                J::Array(items.iter().enumerate().map(|(i, item)| self.json(&format!("{path}[{i}]"), item)).collect())
            }
            Value::Table(entries) => {
                let mut map = Map::new();
                for e in entries {
                    let key_path = join(path, &e.key);
                    if map.contains_key(&e.key) {
                        self.err(key_path, e.key_pos, format!("duplicate key `{}`", e.key));
                        continue;
                    }
                    let v = self.json(&key_path, &e.value);
                    map.insert(e.key.clone(), v);
                }
                J::Object(map)
            }
        }
    }
}

/// The candidate closest to `word` (edit distance ≤ 2), for "did you mean".
pub(crate) fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (distance(word, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_picks_the_closest_key_within_two_edits() {
        let keys = ["name", "backend", "replicas"];
        assert_eq!(suggest("nmae", keys.iter().copied()), Some("name"));
        assert_eq!(suggest("replica", keys.iter().copied()), Some("replicas"));
        assert_eq!(suggest("zzzzzz", keys.iter().copied()), None);
    }

    #[test]
    fn join_builds_dotted_paths() {
        assert_eq!(join("", "name"), "name");
        assert_eq!(join("agents[0]", "mock"), "agents[0].mock");
    }
}
