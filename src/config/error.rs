//! The error type of swarm-file parsing and validation: one [`ConfigError`]
//! per problem, each with a path into the file and (for text input) a
//! 1-based line and column; [`ConfigErrors`] carries all of them at once.

use std::fmt;

/// One problem in a swarm file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct ConfigError {
    /// Where in the structure, e.g. `agents[1].backend`, `topology.planner[0]`;
    /// empty for the whole file.
    pub path: String,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<u32>,
    /// 1-based column (in characters) of the offending key or value, when known.
    pub column: Option<u32>,
    /// What is wrong, in words.
    pub message: String,
}

impl ConfigError {
    /// An error without a location (a spec built in code, an IO error).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::at(path, None, message)
    }

    /// An error at an optional `(line, column)` location.
    pub fn at(path: impl Into<String>, pos: Option<(u32, u32)>, message: impl Into<String>) -> Self {
        Self { path: path.into(), line: pos.map(|p| p.0), column: pos.map(|p| p.1), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{l}:{c}: ")?,
            (Some(l), None) => write!(f, "{l}: ")?,
            _ => {}
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one swarm file (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Sorts located errors by (line, column); errors without a location
    /// come first and keep their order (file order). Exact duplicates are dropped.
    pub(crate) fn sorted(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| (e.line.unwrap_or(0), e.column.unwrap_or(0)));
        errors.dedup();
        Self(errors)
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        Self(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_omits_missing_location_and_path() {
        let e = ConfigError::at("agents[0].backend", Some((3, 11)), "bad");
        assert_eq!(e.to_string(), "3:11: agents[0].backend: bad");
        assert_eq!(ConfigError::new("", "io").to_string(), "io");
        assert_eq!(ConfigError::new("name", "missing").to_string(), "name: missing");
    }

    #[test]
    fn errors_display_one_per_line_sorted_by_location() {
        let errs = ConfigErrors::sorted(vec![
            ConfigError::at("b", Some((5, 1)), "second"),
            ConfigError::at("a", Some((2, 7)), "first"),
            ConfigError::new("", "whole file"),
        ]);
        assert_eq!(errs.to_string(), "whole file\n2:7: a: first\n5:1: b: second");
    }

    #[test]
    fn errors_serialize_as_a_plain_array() {
        let errs = ConfigErrors::from(ConfigError::at("name", Some((1, 8)), "bad name"));
        let json = serde_json::to_value(&errs).unwrap_or_default();
        assert_eq!(json, serde_json::json!([{"path": "name", "line": 1, "column": 8, "message": "bad name"}]));
    }
}
