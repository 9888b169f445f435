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

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        use crate::proptest_cases::cases;

        /// A known word, one a little off, or any text.
        fn word(known: Vec<&'static str>) -> impl Strategy<Value = String> {
            let near = known.clone();
            prop_oneof![
                prop::sample::select(known).prop_map(String::from),
                (prop::sample::select(near), ".{0,2}").prop_map(|(w, x)| format!("{w}{x}")),
                ".{0,12}",
            ]
        }

        fn check<T: std::fmt::Debug>(
            field: &str,
            known: &[&'static str],
            w: &str,
            r: Result<T, FilterError>,
        ) -> Result<(), TestCaseError> {
            match r {
                Ok(_) => prop_assert!(known.contains(&w), "{} accepted for {}", w, field),
                Err(e) => {
                    prop_assert!(!known.contains(&w), "{} refused for {}", w, field);
                    prop_assert_eq!(e.field, field);
                    prop_assert_eq!(&e.value, w);
                    prop_assert_eq!(e.valid, known.to_vec());
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(cases())]

            /// A filter word is taken exactly when it is a valid one; a
            /// refusal names the field, the word and every valid word.
            #[test]
            fn a_filter_word_is_taken_exactly_when_it_is_valid(
                level in word(Level::ALL.iter().map(|l| l.as_str()).collect()),
                category in word(Category::ALL.iter().map(|c| c.as_str()).collect()),
                event_type in word(EventKind::TYPES.to_vec()),
            ) {
                let levels: Vec<&'static str> = Level::ALL.iter().map(|l| l.as_str()).collect();
                let categories: Vec<&'static str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                check("level", &levels, &level, EventFilter::parse_level(&level))?;
                check("category", &categories, &category, EventFilter::parse_category(&category))?;
                check("event_type", &EventKind::TYPES, &event_type, EventFilter::parse_event_type(&event_type))?;
            }
        }
    }
}
