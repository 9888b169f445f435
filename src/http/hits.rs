//! What the server does when one of its bounds is hit: counts it in the
//! metrics (`hive_http_limited_total{limit}`) every time, and logs it at
//! `warn` at most once a second per bound, with how many hits that line
//! stands for, so a flood of slow or greedy clients cannot flood the log.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::metrics::{HttpLimit, Metrics};

/// Least time between two warnings of one bound.
const QUIET: Duration = Duration::from_secs(1);

/// The server's record of bounds hit.
#[derive(Debug)]
pub(crate) struct Hits {
    metrics: Metrics,
    began: Instant,
    bounds: [Bound; 4],
}

#[derive(Debug, Default)]
struct Bound {
    /// Milliseconds after `began` of the last warning, plus one (0: none yet).
    warned_at: AtomicU64,
    /// Hits since that warning.
    unlogged: AtomicU64,
}

fn slot(limit: HttpLimit) -> usize {
    match limit {
        HttpLimit::Connections => 0,
        HttpLimit::HeaderTimeout => 1,
        HttpLimit::InFlight => 2,
        HttpLimit::RequestTimeout => 3,
    }
}

fn what(limit: HttpLimit) -> &'static str {
    match limit {
        HttpLimit::Connections => "at the connection cap: new connections wait until one closes",
        HttpLimit::HeaderTimeout => "a connection did not send a request's headers in time; closed",
        HttpLimit::InFlight => "a client is over its budget of requests in flight; answered 429",
        HttpLimit::RequestTimeout => "a request was not answered within the request timeout; answered 504",
    }
}

impl Hits {
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self { metrics, began: Instant::now(), bounds: Default::default() }
    }

    /// Counts one hit of `limit` without logging it.
    pub(crate) fn count(&self, limit: HttpLimit) {
        self.metrics.http_limited(limit);
    }

    /// Records one hit of `limit` (by `peer`, when one is known); returns
    /// whether it was logged.
    pub(crate) fn hit(&self, limit: HttpLimit, peer: Option<SocketAddr>) -> bool {
        self.metrics.http_limited(limit);
        let b = &self.bounds[slot(limit)];
        let unlogged = b.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.began.elapsed().as_millis() as u64 + 1;
        let last = b.warned_at.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= QUIET.as_millis() as u64;
        if !due || b.warned_at.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            return false;
        }
        b.unlogged.fetch_sub(unlogged, Ordering::Relaxed);
        let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        tracing::warn!(limit = limit.as_str(), peer, hits = unlogged, "{}", what(limit));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hit_is_counted_and_a_burst_is_logged_once() {
        let m = Metrics::default();
        let h = Hits::new(m.clone());
        let logged = (0..100).filter(|_| h.hit(HttpLimit::InFlight, None)).count();
        assert_eq!(logged, 1, "one line for a burst");
        assert!(h.hit(HttpLimit::HeaderTimeout, None), "each bound has its own line");
        let mut r = prometheus_client::registry::Registry::default();
        m.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &r).unwrap();
        assert!(text.contains(r#"hive_http_limited_total{limit="in_flight"} 100"#), "{text}");
        assert!(text.contains(r#"hive_http_limited_total{limit="header_timeout"} 1"#), "{text}");
    }
}
