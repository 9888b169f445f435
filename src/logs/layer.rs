//! [`RingLayer`]: the `tracing` layer that copies each event into a
//! [`LogRing`] — its time, level, target, message and its own fields (not
//! its spans'). The daemon installs it beside its stderr output, with its
//! own filter ([`RingLayer::filter`]), so what `GET /api/v1/logs` shows does
//! not depend on `RUST_LOG`.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};

use super::{LogField, LogLevel, LogLine, LogRing, MAX_FIELDS, MAX_LINE_BYTES};

/// What the ring keeps unless `HIVE_LOG_RING` says otherwise (same syntax
/// as `RUST_LOG`): Hive's own lines at `info` and above, except the
/// per-request lines of `hive::http` (only its warnings: failed
/// requests), and other crates' warnings and errors.
pub const DEFAULT_DIRECTIVES: &str = "warn,hive=info,hive::http=warn";

/// Copies events into a ring.
pub struct RingLayer {
    ring: LogRing,
}

impl RingLayer {
    /// A layer feeding `ring`.
    pub fn new(ring: LogRing) -> Self {
        Self { ring }
    }

    /// The ring's filter: `HIVE_LOG_RING` if it is set and parses, else
    /// [`DEFAULT_DIRECTIVES`].
    pub fn filter() -> EnvFilter {
        std::env::var("HIVE_LOG_RING")
            .ok()
            .and_then(|d| EnvFilter::try_new(d).ok())
            .unwrap_or_else(|| EnvFilter::new(DEFAULT_DIRECTIVES))
    }
}

fn level(l: &tracing::Level) -> LogLevel {
    match *l {
        tracing::Level::ERROR => LogLevel::Error,
        tracing::Level::WARN => LogLevel::Warn,
        tracing::Level::INFO => LogLevel::Info,
        tracing::Level::DEBUG => LogLevel::Debug,
        tracing::Level::TRACE => LogLevel::Trace,
    }
}

/// Collects an event's message and fields, each value cut at the line
/// bound as it is written (so a huge value costs no more than the bound).
#[derive(Default)]
struct Collect {
    message: String,
    fields: Vec<LogField>,
    truncated: bool,
}

impl Collect {
    fn value(&mut self, field: &Field, write: impl FnOnce(&mut String)) {
        let is_message = field.name() == "message";
        if !is_message && self.fields.len() >= MAX_FIELDS {
            self.truncated = true;
            return;
        }
        let mut v = String::new();
        write(&mut v);
        if v.len() > MAX_LINE_BYTES {
            super::cut(&mut v, MAX_LINE_BYTES);
            self.truncated = true;
        }
        if is_message {
            self.message = v;
        } else {
            self.fields.push(LogField { name: field.name().to_string(), value: v });
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.value(field, |s| s.push_str(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.value(field, |s| {
            let _ = write!(s, "{value:?}");
        });
    }
}

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut c = Collect::default();
        event.record(&mut c);
        let meta = event.metadata();
        self.ring.push(LogLine {
            ts: crate::events::rfc3339_ms(crate::events::now_ms()),
            level: level(meta.level()),
            target: meta.target().to_string(),
            message: c.message,
            fields: c.fields,
            truncated: c.truncated,
        });
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::logs::LogQuery;

    #[test]
    fn events_land_in_the_ring_with_their_fields_and_the_filter() {
        let ring = LogRing::new(10);
        let subscriber = tracing_subscriber::registry()
            .with(RingLayer::new(ring.clone()).with_filter(EnvFilter::new("info,noisy=error")));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "hive::x", addr = "127.0.0.1:1", n = 3, "listening");
            tracing::debug!(target: "hive::x", "too chatty");
            tracing::warn!(target: "noisy", "filtered out");
            tracing::error!(target: "hive::x", big = %"y".repeat(3 * MAX_LINE_BYTES), "huge");
        });
        let lines = ring.read(LogQuery { limit: 10, level: None });
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            (lines[0].level, lines[0].target.as_str(), lines[0].message.as_str()),
            (LogLevel::Info, "hive::x", "listening")
        );
        let fields: Vec<(&str, &str)> = lines[0].fields.iter().map(|f| (f.name.as_str(), f.value.as_str())).collect();
        assert_eq!(fields, [("addr", "127.0.0.1:1"), ("n", "3")]);
        assert!(lines[1].truncated && lines[1].fields[0].value.len() <= MAX_LINE_BYTES);
    }
}
