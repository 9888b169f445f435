//! The event log: events by sequence number, with indexes by swarm and by
//! (swarm, agent) so that a scoped query reads only that scope's keys, newest
//! first, and stops after `limit` matches.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::{EVENTS, EVENTS_BY_AGENT, EVENTS_BY_SWARM, Store, StoreError};
use crate::events::{Event, rfc3339_ms};

/// An event as stored: its rendered fields (what the API returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredEvent {
    /// Sequence number.
    pub seq: u64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: u64,
    /// `debug` .. `error`.
    pub level: String,
    /// Category word.
    pub category: String,
    /// Swarm.
    pub swarm: Option<String>,
    /// Agent or object.
    pub agent: Option<String>,
    /// Type word.
    pub event_type: String,
    /// Human message.
    pub message: String,
    /// Metadata, as JSON text.
    pub metadata: String,
}

impl From<&Event> for StoredEvent {
    fn from(e: &Event) -> Self {
        Self {
            seq: e.seq,
            timestamp_ms: e.timestamp_ms,
            level: e.level().as_str().into(),
            category: e.category().as_str().into(),
            swarm: e.swarm.as_deref().map(String::from),
            agent: e.agent.as_deref().map(String::from),
            event_type: e.event_type().into(),
            message: e.kind.message(),
            metadata: e.kind.metadata().to_string(),
        }
    }
}

impl StoredEvent {
    /// The API's JSON shape (PROTOCOLS.md §4).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.seq,
            "seq": self.seq,
            "timestamp": rfc3339_ms(self.timestamp_ms),
            "level": self.level,
            "category": self.category,
            "swarm": self.swarm,
            "agent": self.agent,
            "event_type": self.event_type,
            "message": self.message,
            "metadata": serde_json::from_str::<serde_json::Value>(&self.metadata).unwrap_or_default(),
        })
    }
}

/// What to read. `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only this swarm (uses the swarm index).
    pub swarm: Option<String>,
    /// Only this agent of `swarm` (uses the agent index; needs `swarm`).
    pub agent: Option<String>,
    /// Only this level.
    pub level: Option<String>,
    /// Only this category.
    pub category: Option<String>,
    /// Only this type.
    pub event_type: Option<String>,
    /// Only events with `seq > since`.
    pub since: Option<u64>,
    /// Only events at or after this time (ms since the epoch).
    pub after_ms: Option<u64>,
    /// At most this many (the newest), returned oldest first.
    pub limit: usize,
}

impl EventQuery {
    /// Whether a live event (the bus's ring) matches every field of the query.
    pub fn matches(&self, e: &Event) -> bool {
        self.since.is_none_or(|s| e.seq > s)
            && self.after_ms.is_none_or(|t| e.timestamp_ms >= t)
            && self.swarm.as_deref().is_none_or(|s| e.swarm.as_deref() == Some(s))
            && self.agent.as_deref().is_none_or(|a| e.agent.as_deref() == Some(a))
            && self.level.as_deref().is_none_or(|l| e.level().as_str() == l)
            && self.category.as_deref().is_none_or(|c| e.category().as_str() == c)
            && self.event_type.as_deref().is_none_or(|t| e.event_type() == t)
    }

    fn keeps(&self, e: &StoredEvent) -> bool {
        self.level.as_deref().is_none_or(|l| e.level == l)
            && self.category.as_deref().is_none_or(|c| e.category == c)
            && self.event_type.as_deref().is_none_or(|t| e.event_type == t)
    }
}

fn encode(e: &StoredEvent) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(e).map_err(|err| StoreError::failed(format!("encode event: {err}")))
}

fn decode(b: &[u8]) -> Result<StoredEvent, StoreError> {
    rmp_serde::from_slice(b).map_err(|err| StoreError::failed(format!("decode event: {err}")))
}

/// Writes events and their index entries in `tx`.
pub(super) fn append(tx: &WriteTransaction, events: &[StoredEvent]) -> Result<(), StoreError> {
    let mut t = tx.open_table(EVENTS).map_err(StoreError::db)?;
    let mut by_swarm = tx.open_table(EVENTS_BY_SWARM).map_err(StoreError::db)?;
    let mut by_agent = tx.open_table(EVENTS_BY_AGENT).map_err(StoreError::db)?;
    for e in events {
        t.insert(e.seq, encode(e)?.as_slice()).map_err(StoreError::db)?;
        if let Some(s) = &e.swarm {
            by_swarm.insert((s.as_str(), e.seq), ()).map_err(StoreError::db)?;
            if let Some(a) = &e.agent {
                by_agent.insert((s.as_str(), a.as_str(), e.seq), ()).map_err(StoreError::db)?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// Appends events in one durable transaction (use [`super::Writer`] to
    /// batch many callers into one commit).
    pub fn append_events(&self, events: &[StoredEvent]) -> Result<(), StoreError> {
        let tx = self.begin_write()?;
        append(&tx, events)?;
        tx.commit().map_err(StoreError::db)
    }

    /// Reads events per `q`: the newest `limit` that match, oldest first.
    pub fn query_events(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let tx = self.begin_read()?;
        let events = tx.open_table(EVENTS).map_err(StoreError::db)?;
        let from = q.since.map_or(0, |s| s.saturating_add(1));
        let mut out = Vec::new();
        // Events arrive newest first; false = stop reading.
        let mut take = |e: StoredEvent| -> bool {
            if q.after_ms.is_some_and(|t| e.timestamp_ms < t) {
                return false; // everything further is older
            }
            if q.keeps(&e) {
                out.push(e);
            }
            out.len() < q.limit
        };
        let load = |seq: u64| -> Result<Option<StoredEvent>, StoreError> {
            events.get(seq).map_err(StoreError::db)?.map(|raw| decode(raw.value())).transpose()
        };
        match (&q.swarm, &q.agent) {
            (Some(s), Some(a)) => {
                let idx = tx.open_table(EVENTS_BY_AGENT).map_err(StoreError::db)?;
                for k in idx
                    .range((s.as_str(), a.as_str(), from)..=(s.as_str(), a.as_str(), u64::MAX))
                    .map_err(StoreError::db)?
                    .rev()
                {
                    let (k, _) = k.map_err(StoreError::db)?;
                    if let Some(e) = load(k.value().2)?
                        && !take(e)
                    {
                        break;
                    }
                }
            }
            (Some(s), None) => {
                let idx = tx.open_table(EVENTS_BY_SWARM).map_err(StoreError::db)?;
                for k in idx.range((s.as_str(), from)..=(s.as_str(), u64::MAX)).map_err(StoreError::db)?.rev() {
                    let (k, _) = k.map_err(StoreError::db)?;
                    if let Some(e) = load(k.value().1)?
                        && !take(e)
                    {
                        break;
                    }
                }
            }
            (None, _) => {
                // No index narrows it: walk the log newest first, every match counts.
                for item in events.range(from..).map_err(StoreError::db)?.rev() {
                    let (_, v) = item.map_err(StoreError::db)?;
                    if !take(decode(v.value())?) {
                        break;
                    }
                }
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The events with `after < seq < upto` that `q` keeps (its swarm and
    /// agent pick the index read, its level, category and type filter; its
    /// `since`, `after_ms` and `limit` are not used), oldest first. Reads at
    /// most `scan` entries: answers the matches and the last sequence number
    /// read, or `None` once the range is exhausted.
    pub fn events_after(
        &self,
        q: &EventQuery,
        after: u64,
        upto: u64,
        scan: usize,
    ) -> Result<(Vec<StoredEvent>, Option<u64>), StoreError> {
        let tx = self.begin_read()?;
        let events = tx.open_table(EVENTS).map_err(StoreError::db)?;
        let (from, mut out) = (after.saturating_add(1), Vec::new());
        if upto <= from {
            return Ok((out, None));
        }
        // The sequence numbers in range, in order, from the narrowest index.
        let seqs: Vec<u64> = match (&q.swarm, &q.agent) {
            (Some(s), Some(a)) => {
                let idx = tx.open_table(EVENTS_BY_AGENT).map_err(StoreError::db)?;
                let range = idx.range((s.as_str(), a.as_str(), from)..(s.as_str(), a.as_str(), upto));
                range.map_err(StoreError::db)?.take(scan).map(|k| k.map(|(k, _)| k.value().2)).collect::<Result<_, _>>()
            }
            (Some(s), None) => {
                let idx = tx.open_table(EVENTS_BY_SWARM).map_err(StoreError::db)?;
                let range = idx.range((s.as_str(), from)..(s.as_str(), upto));
                range.map_err(StoreError::db)?.take(scan).map(|k| k.map(|(k, _)| k.value().1)).collect::<Result<_, _>>()
            }
            (None, _) => {
                let range = events.range(from..upto).map_err(StoreError::db)?;
                range.take(scan).map(|k| k.map(|(k, _)| k.value())).collect::<Result<_, _>>()
            }
        }
        .map_err(StoreError::db)?;
        for &seq in &seqs {
            if let Some(raw) = events.get(seq).map_err(StoreError::db)? {
                let e = decode(raw.value())?;
                if q.keeps(&e) && q.agent.as_deref().is_none_or(|a| e.agent.as_deref() == Some(a)) {
                    out.push(e);
                }
            }
        }
        let last = (seqs.len() == scan).then(|| seqs.last().copied()).flatten();
        Ok((out, last))
    }

    /// Deletes events beyond `max_count` (oldest first) and older than
    /// `max_age_ms`, at most `batch` per call; returns how many were deleted.
    pub fn prune_events(&self, max_count: u64, min_timestamp_ms: u64, batch: usize) -> Result<usize, StoreError> {
        let tx = self.begin_write()?;
        let deleted = {
            let mut events = tx.open_table(EVENTS).map_err(StoreError::db)?;
            let count = events.len().map_err(StoreError::db)?;
            let over = count.saturating_sub(max_count);
            let mut doomed: Vec<(u64, Option<String>, Option<String>)> = Vec::new();
            for item in events.iter().map_err(StoreError::db)? {
                let (k, v) = item.map_err(StoreError::db)?;
                let e = decode(v.value())?;
                if (doomed.len() as u64) < over || e.timestamp_ms < min_timestamp_ms {
                    doomed.push((k.value(), e.swarm, e.agent));
                } else {
                    break;
                }
                if doomed.len() >= batch {
                    break;
                }
            }
            let mut by_swarm = tx.open_table(EVENTS_BY_SWARM).map_err(StoreError::db)?;
            let mut by_agent = tx.open_table(EVENTS_BY_AGENT).map_err(StoreError::db)?;
            for (seq, swarm, agent) in &doomed {
                events.remove(*seq).map_err(StoreError::db)?;
                if let Some(s) = swarm {
                    by_swarm.remove((s.as_str(), *seq)).map_err(StoreError::db)?;
                    if let Some(a) = agent {
                        by_agent.remove((s.as_str(), a.as_str(), *seq)).map_err(StoreError::db)?;
                    }
                }
            }
            doomed.len()
        };
        tx.commit().map_err(StoreError::db)?;
        Ok(deleted)
    }
}

/// Raises the stored `next_seq` (the first number never handed out) to
/// `next`, in `tx`; never lowers it.
pub(crate) fn advance_next_seq(tx: &redb::WriteTransaction, next: u64) -> Result<(), StoreError> {
    let mut meta = tx.open_table(super::META).map_err(StoreError::db)?;
    let old = meta.get("next_seq").map_err(StoreError::db)?.map(|v| v.value()).unwrap_or(1);
    meta.insert("next_seq", old.max(next)).map_err(StoreError::db)?;
    Ok(())
}
