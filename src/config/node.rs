//! The located document tree every input format is converted into before
//! validation: TOML text (with 1-based line/column of every key and value),
//! JSON text and `serde_json::Value` (no locations). Tables keep their keys in
//! file order, duplicates included (JSON allows them; validation reports them).
//! Syntax errors of either format become [`ConfigError`]s here.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ConfigError;

/// A 1-based `(line, column)` location in the source text.
pub(crate) type Pos = (u32, u32);

/// Deepest nesting of arrays and tables accepted.
const MAX_DEPTH: usize = 128;

/// A value with the location it was written at (`None` for JSON and code-built input).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// The value.
    pub(crate) value: Value,
    /// Where the value (or the table's header) starts.
    pub(crate) pos: Option<Pos>,
}

/// The kinds of values a swarm file can hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// JSON `null` (TOML has none).
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer; wide enough for every TOML integer and every JSON `u64`/`i64`.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A TOML date/time, in its RFC 3339 text form.
    Datetime(String),
    /// An array.
    Array(Vec<Node>),
    /// A table (JSON object), keys in file order.
    Table(Vec<Entry>),
}

/// One `key = value` of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The key.
    pub(crate) key: String,
    /// Where the key is written.
    pub(crate) key_pos: Option<Pos>,
    /// The value.
    pub(crate) value: Node,
}

impl Node {
    /// A node without a location.
    pub(crate) fn new(value: Value) -> Self {
        Self { value, pos: None }
    }
}

impl Value {
    /// The type in words, with its article: "a string", "an integer", ...
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "a boolean",
            Self::Int(_) => "an integer",
            Self::Float(_) => "a float",
            Self::Str(_) => "a string",
            Self::Datetime(_) => "a datetime",
            Self::Array(_) => "an array",
            Self::Table(_) => "a table",
        }
    }
}

/// Parses TOML text; on failure returns every syntax error the parser recovered from.
pub(crate) fn from_toml(src: &str) -> Result<Node, Vec<ConfigError>> {
    let (table, parse_errors) = DeTable::parse_recoverable(src);
    let lines = LineIndex::new(src);
    let mut errors: Vec<ConfigError> = parse_errors
        .iter()
        .map(|e| {
            let pos = e.span().map(|s| lines.pos(s.start));
            ConfigError::at("", pos, format!("invalid TOML: {}", e.message()))
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    let root = Spanned::new(0..0, DeValue::Table(table.into_inner()));
    let mut conv = TomlConv { lines: &lines, errors: &mut errors };
    let mut node = conv.value(&root, 0);
    // The root table has no header: what is missing from it is missing from
    // the file, which starts at 1:1 (every error of a text file has a place).
    node.pos = Some((1, 1));
    if errors.is_empty() { Ok(node) } else { Err(errors) }
}

/// Parses JSON text, keeping object keys in text order.
pub(crate) fn from_json_str(src: &str) -> Result<Node, Vec<ConfigError>> {
    serde_json::from_str::<Node>(src).map_err(|e| {
        let text = e.to_string();
        let message = match text.rfind(" at line ") {
            Some(i) => &text[..i],
            None => &text,
        };
        let pos = (e.line() > 0).then(|| (to_u32(e.line()), to_u32(e.column().max(1))));
        vec![ConfigError::at("", pos, format!("invalid JSON: {message}"))]
    })
}

/// Converts a JSON value (no locations).
pub(crate) fn from_json(v: &serde_json::Value) -> Node {
    Node::new(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i128::from(i)),
            (None, Some(u)) => Value::Int(i128::from(u)),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(from_json).collect()),
        serde_json::Value::Object(m) => {
            Value::Table(m.iter().map(|(k, v)| Entry { key: k.clone(), key_pos: None, value: from_json(v) }).collect())
        }
    })
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Byte offset → 1-based (line, column in characters).
struct LineIndex<'s> {
    src: &'s str,
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    fn new(src: &'s str) -> Self {
        let starts = std::iter::once(0).chain(src.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Self { src, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.src.len());
        let line = self.starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = self.src.get(start..offset).map_or(0, |s| s.chars().count());
        (to_u32(line + 1), to_u32(col + 1))
    }
}

struct TomlConv<'a, 's> {
    lines: &'a LineIndex<'s>,
    errors: &'a mut Vec<ConfigError>,
}

impl TomlConv<'_, '_> {
    fn value(&mut self, v: &Spanned<DeValue<'_>>, depth: usize) -> Node {
        let pos = Some(self.lines.pos(v.span().start));
        if depth > MAX_DEPTH {
            self.errors.push(ConfigError::at("", pos, "nested too deeply"));
            return Node { value: Value::Null, pos };
        }
        let value = match v.get_ref() {
            DeValue::String(s) => Value::Str(s.to_string()),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Value::Int(i128::from(n)),
                Err(_) => {
                    let msg = format!("integer `{i}` is out of range (64-bit)");
                    self.errors.push(ConfigError::at("", pos, msg));
                    Value::Null
                }
            },
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => Value::Float(x),
                Err(_) => {
                    self.errors.push(ConfigError::at("", pos, format!("invalid float `{f}`")));
                    Value::Null
                }
            },
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Datetime(d) => Value::Datetime(d.to_string()),
            DeValue::Array(a) => Value::Array(a.iter().map(|e| self.value(e, depth + 1)).collect()),
            DeValue::Table(t) => {
                // Sorting by key offset restores file order even when the
                // toml crate is built without `preserve_order`.
                let mut keyed: Vec<_> = t.iter().collect();
                keyed.sort_by_key(|(k, _)| k.span().start);
                Value::Table(
                    keyed
                        .into_iter()
                        .map(|(k, val)| Entry {
                            key: k.get_ref().to_string(),
                            key_pos: Some(self.lines.pos(k.span().start)),
                            value: self.value(val, depth + 1),
                        })
                        .collect(),
                )
            }
        };
        Node { value, pos }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::new(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::new(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
        Ok(Node::new(Value::Bool(b)))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
        Ok(Node::new(Value::Int(i128::from(n))))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
        Ok(Node::new(Value::Int(i128::from(n))))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Node, E> {
        Ok(Node::new(Value::Float(x)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::new(Value::Str(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::new(Value::Str(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::new(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Node>()? {
            entries.push(Entry { key, key_pos: None, value });
        }
        Ok(Node::new(Value::Table(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Table(t) => t,
            _ => &[],
        }
    }

    #[test]
    fn toml_keys_and_values_carry_line_and_column() {
        let node = from_toml("name = \"x\"\n\n[supervision]\n  strategy = \"one_for_all\"\n")
            .unwrap_or_else(|e| panic!("{e:?}"));
        let root = table(&node);
        assert_eq!(root[0].key_pos, Some((1, 1)));
        assert_eq!(root[0].value.pos, Some((1, 8)));
        assert_eq!(root[1].value.pos, Some((3, 1)));
        let sup = table(&root[1].value);
        assert_eq!(sup[0].key_pos, Some((4, 3)));
        assert_eq!(sup[0].value.pos, Some((4, 14)));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // The stray `x` is the 11th character but the 14th byte.
        let errs = from_toml("a = \"ééé\" x\n").err().unwrap_or_default();
        assert_eq!((errs[0].line, errs[0].column), (Some(1), Some(11)));
        let node = from_toml("a = \"ééé\"\nb = 1\n").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(table(&node)[1].value.pos, Some((2, 5)));
    }

    #[test]
    fn toml_syntax_errors_are_all_reported_with_locations() {
        let errs = from_toml("name = \nx = [1,\n").err().unwrap_or_default();
        assert!(errs.len() >= 2, "{errs:?}");
        assert!(errs.iter().all(|e| e.line.is_some() && e.message.starts_with("invalid TOML")));
    }

    #[test]
    fn toml_integers_in_any_radix_and_datetimes_convert() {
        let node = from_toml("a = 0x10\nb = 1_000\nc = 1979-05-27T07:32:00Z\n").unwrap_or_else(|e| panic!("{e:?}"));
        let t = table(&node);
        assert_eq!(t[0].value.value, Value::Int(16));
        assert_eq!(t[1].value.value, Value::Int(1000));
        assert_eq!(t[2].value.value, Value::Datetime("1979-05-27T07:32:00Z".into()));
    }

    #[test]
    fn toml_integer_beyond_64_bits_is_an_error() {
        let errs = from_toml("a = 99999999999999999999\n").err().unwrap_or_default();
        assert_eq!((errs[0].line, errs[0].column), (Some(1), Some(5)));
        assert!(errs[0].message.contains("out of range"));
    }

    #[test]
    fn json_text_keeps_key_order_and_duplicates() {
        let node = from_json_str(r#"{"z": 1, "a": [true, null], "z": 2.5}"#).unwrap_or_else(|e| panic!("{e:?}"));
        let keys: Vec<_> = table(&node).iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["z", "a", "z"]);
        assert_eq!(table(&node)[2].value.value, Value::Float(2.5));
    }

    #[test]
    fn json_syntax_error_has_line_and_column() {
        let errs = from_json_str("{\n  \"name\": \"x\",\n  oops\n}").err().unwrap_or_default();
        assert_eq!(errs[0].line, Some(3));
        assert_eq!(errs[0].column, Some(3));
        assert!(!errs[0].message.contains(" at line "), "{}", errs[0].message);
    }

    #[test]
    fn json_value_converts_without_locations() {
        let node = from_json(&serde_json::json!({"a": [1, u64::MAX, -2, 0.5]}));
        assert_eq!(node.pos, None);
        let Value::Array(items) = &table(&node)[0].value.value else { panic!("not an array") };
        assert_eq!(items[1].value, Value::Int(i128::from(u64::MAX)));
        assert_eq!(items[2].value, Value::Int(-2));
    }
}
