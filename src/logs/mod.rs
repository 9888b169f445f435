//! The daemon's own log lines, kept in memory for `GET /api/v1/logs`.
//!
//! This file owns [`LogRing`], a bounded ring of [`LogLine`]s: at most
//! `capacity` lines (the oldest go first), each at most [`MAX_LINE_BYTES`]
//! of message and fields together (longer ones are cut, on a character
//! boundary, and marked `…`), with at most [`MAX_FIELDS`] fields. The ring
//! is fed by a `tracing` layer ([`RingLayer`], `layer.rs`, feature
//! `server`) that the daemon installs where it sets up logging, and read
//! by the runtime ([`crate::Hive::logs`]). A push takes one short lock and
//! never waits on a reader.
//!
//! [`LogLevel`] is the closed set of levels (tracing's words); a query's
//! level keeps lines at that level or more severe.

#[cfg(feature = "server")]
mod layer;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

#[cfg(feature = "server")]
pub use layer::{DEFAULT_DIRECTIVES, RingLayer};

/// Lines a ring keeps by default.
pub const DEFAULT_CAPACITY: usize = 1000;
/// Most bytes of message and fields of one line.
pub const MAX_LINE_BYTES: usize = 4096;
/// Most fields of one line (the rest are dropped and counted).
pub const MAX_FIELDS: usize = 32;

/// A log level, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// A failure.
    Error,
    /// Something went wrong but was handled.
    Warn,
    /// Normal operation.
    Info,
    /// Detail.
    Debug,
    /// Fine detail.
    Trace,
}

impl LogLevel {
    /// Every level, most severe first.
    pub const ALL: [LogLevel; 5] = [Self::Error, Self::Warn, Self::Info, Self::Debug, Self::Trace];

    /// The word used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }

    /// The level named `s`, or the list of valid words.
    pub fn parse(s: &str) -> Result<Self, Vec<&'static str>> {
        Self::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| Self::ALL.map(Self::as_str).to_vec())
    }

    /// Whether a line at `self` is kept by a query for `at_least`.
    pub fn at_least(self, at_least: LogLevel) -> bool {
        self <= at_least
    }
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// When it was logged (RFC 3339, milliseconds).
    pub ts: String,
    /// Its level.
    pub level: LogLevel,
    /// Where it comes from (the module path, e.g. `hive::http`).
    pub target: String,
    /// The message.
    pub message: String,
    /// Its other fields, in order, values as text.
    pub fields: Vec<LogField>,
    /// Whether the message or fields were cut to the line bound.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// A field of a log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogField {
    /// Its name.
    pub name: String,
    /// Its value, as text.
    pub value: String,
}

/// What to read from a ring.
#[derive(Debug, Clone, Copy)]
pub struct LogQuery {
    /// Newest lines to return (at most the ring's capacity).
    pub limit: usize,
    /// Only lines at this level or more severe.
    pub level: Option<LogLevel>,
}

/// A bounded ring of log lines, shared by its writer and its readers.
#[derive(Clone)]
pub struct LogRing(Arc<Ring>);

struct Ring {
    capacity: usize,
    lines: Mutex<VecDeque<LogLine>>,
}

impl Default for LogRing {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for LogRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogRing").field("capacity", &self.0.capacity).finish_non_exhaustive()
    }
}

impl LogRing {
    /// A ring of at most `capacity` lines (at least 1).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self(Arc::new(Ring { capacity, lines: Mutex::new(VecDeque::with_capacity(capacity.min(1024))) }))
    }

    /// Most lines it keeps.
    pub fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// Lines it holds now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<LogLine>> {
        self.0.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a line, cut to the bounds; the oldest goes when the ring is full.
    pub fn push(&self, mut line: LogLine) {
        bound(&mut line);
        let mut lines = self.lock();
        if lines.len() == self.0.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// How many lines the ring holds at `level` or more severe (all without one).
    pub fn matching(&self, level: Option<LogLevel>) -> usize {
        self.lock().iter().filter(|l| level.is_none_or(|at| l.level.at_least(at))).count()
    }

    /// The newest `q.limit` lines that `q.level` keeps, oldest first.
    pub fn read(&self, q: LogQuery) -> Vec<LogLine> {
        let lines = self.lock();
        let mut out: Vec<LogLine> = lines
            .iter()
            .rev()
            .filter(|l| q.level.is_none_or(|at| l.level.at_least(at)))
            .take(q.limit.min(self.0.capacity))
            .cloned()
            .collect();
        out.reverse();
        out
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary; whether it did.
fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
    true
}

/// Holds a line to [`MAX_FIELDS`] fields and [`MAX_LINE_BYTES`] bytes of
/// message, field names and values (the message first, then the fields in
/// order; a field that does not fit is cut or dropped).
fn bound(line: &mut LogLine) {
    let mut truncated = line.truncated;
    if line.fields.len() > MAX_FIELDS {
        line.fields.truncate(MAX_FIELDS);
        truncated = true;
    }
    truncated |= cut(&mut line.message, MAX_LINE_BYTES);
    let mut left = MAX_LINE_BYTES - line.message.len();
    let mut keep = 0;
    for f in &mut line.fields {
        if left <= f.name.len() + 1 {
            break;
        }
        left -= f.name.len();
        truncated |= cut(&mut f.value, left);
        left -= f.value.len();
        keep += 1;
    }
    if keep < line.fields.len() {
        line.fields.truncate(keep);
        truncated = true;
    }
    line.truncated = truncated;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: LogLevel, message: &str) -> LogLine {
        LogLine {
            ts: "2026-01-01T00:00:00.000Z".into(),
            level,
            target: "hive::test".into(),
            message: message.into(),
            fields: Vec::new(),
            truncated: false,
        }
    }

    fn bytes(l: &LogLine) -> usize {
        l.message.len() + l.fields.iter().map(|f| f.name.len() + f.value.len()).sum::<usize>()
    }

    #[test]
    fn the_ring_keeps_the_newest_lines_up_to_its_capacity() {
        let ring = LogRing::new(3);
        for i in 0..10 {
            ring.push(line(LogLevel::Info, &format!("m{i}")));
        }
        assert_eq!(ring.len(), 3);
        let all = ring.read(LogQuery { limit: 100, level: None });
        assert_eq!(all.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(), ["m7", "m8", "m9"]);
        let last = ring.read(LogQuery { limit: 1, level: None });
        assert_eq!(last[0].message, "m9");
    }

    #[test]
    fn a_level_keeps_that_level_and_more_severe() {
        let ring = LogRing::new(10);
        for l in LogLevel::ALL {
            ring.push(line(l, l.as_str()));
        }
        assert_eq!((ring.matching(None), ring.matching(Some(LogLevel::Warn))), (5, 2));
        let warn = ring.read(LogQuery { limit: 10, level: Some(LogLevel::Warn) });
        assert_eq!(warn.iter().map(|l| l.level).collect::<Vec<_>>(), [LogLevel::Error, LogLevel::Warn]);
        assert_eq!(ring.read(LogQuery { limit: 10, level: Some(LogLevel::Trace) }).len(), 5);
        assert_eq!(LogLevel::parse("warn"), Ok(LogLevel::Warn));
        assert_eq!(LogLevel::parse("warning").unwrap_err(), ["error", "warn", "info", "debug", "trace"]);
    }

    #[test]
    fn a_line_is_bounded_in_bytes_and_fields() {
        let ring = LogRing::new(2);
        let mut many = line(LogLevel::Info, "short");
        many.fields = (0..100).map(|i| LogField { name: format!("f{i}"), value: "x".repeat(100) }).collect();
        ring.push(many);
        let small = line(LogLevel::Info, "fine");
        ring.push(small.clone());
        let got = ring.read(LogQuery { limit: 2, level: None });
        assert!(got[0].truncated && got[0].fields.len() <= MAX_FIELDS && bytes(&got[0]) <= MAX_LINE_BYTES);
        assert!(got[0].message.starts_with("short"));
        assert_eq!(got[1], small, "a line within the bounds is kept whole");
        let mut huge = line(LogLevel::Info, &"é".repeat(MAX_LINE_BYTES));
        bound(&mut huge);
        assert!(huge.truncated && huge.message.len() <= MAX_LINE_BYTES && huge.message.ends_with('…'));
    }
}
