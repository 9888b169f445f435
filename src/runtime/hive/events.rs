//! The events handle: the live bus, and queries over what happened — from
//! the store when the runtime has one (everything retention keeps), else
//! from the bus's in-memory ring (also while the store is unavailable: its
//! disk failed, and the ring is what memory still serves).

use super::{Hive, blocking};
use crate::error::HiveError;
use crate::events::EventBus;
use crate::store::{EventQuery, StoredEvent};

/// The events of a runtime ([`Hive::event_log`]).
pub struct Events<'a>(pub(super) &'a Hive);

impl Events<'_> {
    /// The live bus.
    pub fn bus(&self) -> &EventBus {
        &self.0.bus
    }

    /// Events matching `q`, newest `q.limit`, oldest first: from the store,
    /// or from the ring without one or while it is unavailable.
    pub async fn query(&self, q: EventQuery) -> Result<Vec<StoredEvent>, HiveError> {
        if let Some(store) = self.0.store()?.filter(|s| s.availability().available()) {
            return blocking(move || store.query_events(&q)).await;
        }
        Ok(self.0.bus.recent(q.limit, |e| q.matches(e)).iter().map(|e| StoredEvent::from(&**e)).collect())
    }

    /// Stored events with `after < seq < upto` that `q` keeps, oldest first,
    /// reading at most `scan` entries, and the last sequence number read
    /// (`None` once the range is exhausted; see
    /// [`crate::store::Store::events_after`]): the part of a replay the ring
    /// no longer holds. Empty without a store.
    pub async fn stored_after(
        &self,
        q: EventQuery,
        after: u64,
        upto: u64,
        scan: usize,
    ) -> Result<(Vec<StoredEvent>, Option<u64>), HiveError> {
        let Some(store) = self.0.store()? else { return Ok((Vec::new(), None)) };
        blocking(move || store.events_after(&q, after, upto, scan)).await
    }
}
