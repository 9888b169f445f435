//! Events: what happened in the runtime, each with a global sequence number.
//!
//! An [`Event`] carries a typed [`EventKind`]; its level, category,
//! `event_type`, human message and metadata are derived from the kind, so
//! every producer emits the same shape (PROTOCOLS.md §4) and the set of event
//! types is closed and documented (`docs/events.md`). The [`EventBus`] assigns
//! sequence numbers, keeps a bounded ring and fans out to subscribers (each
//! filtered one gets only the events it follows).

mod bus;
mod class;
mod fanout;
mod filter;
mod kind;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeMap, Serializer};

pub use bus::{BusOptions, EventBus, FilteredSubscription, MAX_PENDING, Subscription};
pub use class::{Category, Level, OutputKind};
pub use fanout::{FilteredReceiver, Lagged};
pub use filter::{EventFilter, FilterError};
pub use kind::EventKind;
#[cfg(feature = "server")]
pub(crate) use kind::preview;

/// One event, as stored in the ring and sent to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Global, strictly increasing sequence number (starts at 1).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The swarm it concerns, if any.
    pub swarm: Option<Arc<str>>,
    /// The agent (or object) it concerns, if any.
    pub agent: Option<Arc<str>>,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The RFC 3339 timestamp with milliseconds.
    pub fn timestamp(&self) -> String {
        rfc3339_ms(self.timestamp_ms)
    }

    /// The event's level.
    pub fn level(&self) -> Level {
        self.kind.level()
    }

    /// The event's category.
    pub fn category(&self) -> Category {
        self.kind.category()
    }

    /// The event's type, e.g. `message_routed`.
    pub fn event_type(&self) -> &'static str {
        self.kind.event_type()
    }
}

/// Renders milliseconds since the Unix epoch as RFC 3339 with milliseconds.
pub fn rfc3339_ms(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(10))?;
        m.serialize_entry("id", &self.seq)?;
        m.serialize_entry("seq", &self.seq)?;
        m.serialize_entry("timestamp", &self.timestamp())?;
        m.serialize_entry("level", &self.level())?;
        m.serialize_entry("category", &self.category())?;
        m.serialize_entry("swarm", &self.swarm)?;
        m.serialize_entry("agent", &self.agent)?;
        m.serialize_entry("event_type", self.event_type())?;
        m.serialize_entry("message", &self.kind.message())?;
        m.serialize_entry("metadata", &self.kind.metadata())?;
        m.end()
    }
}
