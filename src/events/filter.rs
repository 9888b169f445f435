//! Event filters (swarm, agent, level, category, event_type, since), parsed
//! from words with a clear error listing the valid values.

use super::{Category, Event, EventKind, Level};

/// Which events a query or a subscriber wants. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Only this swarm.
    pub swarm: Option<String>,
    /// Only this agent or object.
    pub agent: Option<String>,
    /// Only this level.
    pub level: Option<Level>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only this event type.
    pub event_type: Option<&'static str>,
    /// Only events with a sequence number above this.
    pub since: Option<u64>,
}

/// An unknown filter word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {field} '{value}'; valid values: {}", valid.join(", "))]
pub struct FilterError {
    /// The filter field.
    pub field: &'static str,
    /// The value given.
    pub value: String,
    /// The valid values.
    pub valid: Vec<&'static str>,
}

impl EventFilter {
    /// Parses a level word.
    pub fn parse_level(s: &str) -> Result<Level, FilterError> {
        Level::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| FilterError {
            field: "level",
            value: s.into(),
            valid: Level::ALL.iter().map(|l| l.as_str()).collect(),
        })
    }

    /// Parses a category word.
    pub fn parse_category(s: &str) -> Result<Category, FilterError> {
        Category::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| FilterError {
            field: "category",
            value: s.into(),
            valid: Category::ALL.iter().map(|c| c.as_str()).collect(),
        })
    }

    /// Parses an event type word.
    pub fn parse_event_type(s: &str) -> Result<&'static str, FilterError> {
        EventKind::TYPES.into_iter().find(|t| *t == s).ok_or_else(|| FilterError {
            field: "event_type",
            value: s.into(),
            valid: EventKind::TYPES.to_vec(),
        })
    }

    /// Whether `e` passes the filter.
    pub fn matches(&self, e: &Event) -> bool {
        self.since.is_none_or(|s| e.seq > s)
            && self.swarm.as_deref().is_none_or(|s| e.swarm.as_deref() == Some(s))
            && self.agent.as_deref().is_none_or(|a| e.agent.as_deref() == Some(a))
            && self.level.is_none_or(|l| e.level() == l)
            && self.category.is_none_or(|c| e.category() == c)
            && self.event_type.is_none_or(|t| e.event_type() == t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_filter_words_list_the_valid_values() {
        let e = EventFilter::parse_category("nope").unwrap_err();
        assert!(e.to_string().contains("swarm, agent, object"), "{e}");
        assert!(EventFilter::parse_level("warning").is_ok());
        assert!(EventFilter::parse_event_type("message_routed").is_ok());
        assert!(EventFilter::parse_event_type("message_sent").is_err());
    }

    #[test]
    fn every_event_type_word_is_listed_once() {
        let mut t = EventKind::TYPES.to_vec();
        t.sort();
        t.dedup();
        assert_eq!(t.len(), EventKind::TYPES.len());
    }
}
