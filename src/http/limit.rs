//! The per-client rate limit: a token bucket per IP address (governor's
//! GCRA). A refused request gets 429 with `Retry-After`. Idle clients are
//! forgotten periodically, so the table is bounded by the clients of the
//! last minute.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::AppState;
use super::config::RateLimit;
use super::error::ApiError;
use crate::ErrorCode;

/// A keyed limiter, or none when the limit is off.
#[derive(Clone)]
pub(crate) struct Limiter(Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>);

impl Limiter {
    /// A limiter for `r` (off when `per_second` is 0).
    pub(crate) fn new(r: RateLimit) -> Self {
        Self(NonZeroU32::new(r.per_second).map(|rate| {
            let burst = NonZeroU32::new(r.burst.max(r.per_second)).unwrap_or(rate);
            Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
        }))
    }

    /// Whether `ip` may make a request now; if not, seconds to wait.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(l) = &self.0 else { return Ok(()) };
        l.check_key(&ip.to_canonical()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets clients whose buckets are full again.
    pub(crate) fn forget_idle(&self) {
        if let Some(l) = &self.0 {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// The rate-limit middleware.
pub(crate) async fn enforce(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    match state.limiter.check(peer.ip()) {
        Ok(()) => next.run(req).await,
        Err(secs) => ApiError::new(ErrorCode::RateLimited, "too many requests; slow down")
            .with_retry_after(secs.max(1))
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_quota_is_refused_with_a_wait() {
        let l = Limiter::new(RateLimit { per_second: 1, burst: 3 });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip).is_ok());
        }
        assert_eq!(l.check(ip), Err(1));
        // Another client has its own bucket.
        assert!(l.check("127.0.0.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn zero_per_second_turns_the_limit_off() {
        let l = Limiter::new(RateLimit { per_second: 0, burst: 0 });
        for _ in 0..10_000 {
            assert!(l.check("127.0.0.1".parse().unwrap()).is_ok());
        }
    }
}
