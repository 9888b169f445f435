//! The per-client rate limit: a token bucket per IP address (governor's
//! GCRA), and per worker id on the HTTP worker endpoints that name one (so
//! a hundred workers behind one address each get their own). A request
//! gets its worker's bucket only once its credentials admit it to the
//! worker endpoints (checked here, before the auth middleware, with the
//! same lookup); any other request, an unauthenticated one with a made-up
//! id included, takes from its address's bucket, so ids nobody vouched for
//! mint no buckets. Worker buckets are bounded too: past
//! [`MAX_WORKER_BUCKETS`] clients in the table, a worker's requests take
//! from its address's bucket. Every response that passes it carries
//! `X-RateLimit-Limit` (the burst), `X-RateLimit-Remaining` (requests left
//! now) and `X-RateLimit-Reset` (Unix time, seconds, when the bucket is
//! full again); a refused request gets 429 with `Retry-After` and
//! `retry_after` in its body. Idle clients are forgotten periodically, so
//! the table is bounded by the clients of the last minute. With the limit
//! off, no headers.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};

use super::AppState;
use super::config::RateLimit;
use super::error::ApiError;
use crate::ErrorCode;
use crate::access::Role;

/// Whose bucket a request takes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// A client address.
    Ip(IpAddr),
    /// An HTTP worker, by the id its route names.
    Worker(Arc<str>),
}

type Keyed = RateLimiter<
    Client,
    governor::state::keyed::DefaultKeyedStateStore<Client>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// Clients in the table past which a worker's requests take from its
/// address's bucket rather than a bucket of their own.
pub(crate) const MAX_WORKER_BUCKETS: usize = 65_536;

/// A keyed limiter, or none when the limit is off.
#[derive(Clone)]
pub(crate) struct Limiter(Option<Arc<Keyed>>);

/// A client's bucket after a request, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Requests the bucket holds when full (the burst).
    pub(crate) limit: u32,
    /// Requests left now.
    pub(crate) remaining: u32,
    /// Seconds until the bucket is full again (rounded up).
    pub(crate) reset_in: u64,
}

/// A refused request: its budget and seconds until one more is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) budget: Budget,
    pub(crate) retry_after: u64,
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn budget(quota: Quota, remaining: u32) -> Budget {
    let limit = quota.burst_size().get();
    let empty = limit.saturating_sub(remaining);
    Budget { limit, remaining, reset_in: ceil_secs(quota.replenish_interval() * empty) }
}

impl Limiter {
    /// A limiter for `r` (off when `per_second` is 0).
    pub(crate) fn new(r: RateLimit) -> Self {
        Self(NonZeroU32::new(r.per_second).map(|rate| {
            let burst = NonZeroU32::new(r.burst.max(r.per_second)).unwrap_or(rate);
            Arc::new(
                RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
                    .with_middleware::<StateInformationMiddleware>(),
            )
        }))
    }

    /// Whether `client` may make a request now: its budget after it
    /// (`None` when the limit is off), or the refusal.
    pub(crate) fn check(&self, client: &Client) -> Result<Option<Budget>, Refused> {
        let Some(l) = &self.0 else { return Ok(None) };
        let key = match client {
            Client::Ip(ip) => Client::Ip(ip.to_canonical()),
            worker => worker.clone(),
        };
        self.check_key(l, key)
    }

    /// A worker's bucket, or its address's once the table is full.
    pub(crate) fn check_worker(&self, worker: Arc<str>, ip: IpAddr) -> Result<Option<Budget>, Refused> {
        let Some(l) = &self.0 else { return Ok(None) };
        let key = if l.len() < MAX_WORKER_BUCKETS { Client::Worker(worker) } else { Client::Ip(ip.to_canonical()) };
        self.check_key(l, key)
    }

    fn check_key(&self, l: &Keyed, key: Client) -> Result<Option<Budget>, Refused> {
        match l.check_key(&key) {
            Ok(snapshot) => Ok(Some(budget(snapshot.quota(), snapshot.remaining_burst_capacity()))),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let mut b = budget(not_until.quota(), 0);
                // The bucket is full once the wait for one request has passed
                // and the rest of the bucket has refilled.
                b.reset_in = ceil_secs(wait + not_until.quota().replenish_interval() * (b.limit - 1));
                Err(Refused { budget: b, retry_after: ceil_secs(wait).max(1) })
            }
        }
    }

    /// Forgets clients whose buckets are full again.
    pub(crate) fn forget_idle(&self) {
        if let Some(l) = &self.0 {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Sets `X-RateLimit-Limit`, `-Remaining` and `-Reset` (Unix time, seconds,
/// when the bucket is full again).
fn set_headers(h: &mut HeaderMap, b: Budget) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    h.insert("x-ratelimit-limit", HeaderValue::from(b.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(b.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(now + b.reset_in));
}

/// Whose bucket `req` takes from: its worker's on a worker endpoint that
/// names one, when its credentials admit it there; else its address's.
async fn client_of(state: &AppState, req: &mut Request, ip: IpAddr) -> Client {
    let worker_route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|m| super::access::is_worker_route(req.method(), m.as_str()));
    if worker_route
        && super::auth::principal_of(state, ip, req).is_ok_and(|p| p.role.allows(Role::Worker))
        && let Some(id) = route_worker_id(req).await
    {
        return Client::Worker(id);
    }
    Client::Ip(ip)
}

/// The worker id a worker endpoint's path names (`{id}`), if any.
pub(crate) async fn route_worker_id(req: &mut Request) -> Option<Arc<str>> {
    use axum::RequestExt;
    let params = req.extract_parts::<axum::extract::RawPathParams>().await.ok()?;
    params.iter().find(|(k, _)| *k == "id").map(|(_, id)| id.into())
}

/// The rate-limit middleware: every response it passes carries the
/// client's budget; a refusal is 429 with `Retry-After` and `retry_after`
/// (seconds) in its body.
pub(crate) async fn enforce(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let checked = match client_of(&state, &mut req, peer.ip()).await {
        Client::Worker(w) => state.limiter.check_worker(w, peer.ip()),
        ip => state.limiter.check(&ip),
    };
    match checked {
        Ok(None) => next.run(req).await,
        Ok(Some(budget)) => {
            let mut r = next.run(req).await;
            set_headers(r.headers_mut(), budget);
            r
        }
        Err(refused) => {
            let mut r = ApiError::new(ErrorCode::RateLimited, "too many requests; slow down")
                .with_retry_after(refused.retry_after)
                .into_response();
            set_headers(r.headers_mut(), refused.budget);
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_quota_is_refused_with_a_wait() {
        let l = Limiter::new(RateLimit { per_second: 1, burst: 3 });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let remaining: Vec<u32> = (0..3).map(|_| l.check(&Client::Ip(ip)).unwrap().unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check(&Client::Ip(ip)).unwrap_err();
        assert_eq!(refused.retry_after, 1);
        assert_eq!((refused.budget.limit, refused.budget.remaining), (3, 0));
        assert!((2..=3).contains(&refused.budget.reset_in), "{refused:?}");
        // Another client has its own bucket.
        let other = l.check(&Client::Ip("127.0.0.2".parse().unwrap())).unwrap().unwrap();
        assert_eq!(other, Budget { limit: 3, remaining: 2, reset_in: 1 });
        // So does each worker behind the refused address.
        for w in ["w1", "w2"] {
            let b = l.check(&Client::Worker(w.into())).unwrap().unwrap();
            assert_eq!(b.remaining, 2, "{w}");
        }
    }

    #[test]
    fn worker_buckets_are_bounded_then_a_worker_takes_from_its_address() {
        let l = Limiter::new(RateLimit { per_second: 1, burst: 3 });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for i in 0..MAX_WORKER_BUCKETS {
            l.check_worker(format!("w{i}").into(), ip).unwrap();
        }
        // The table is full: a new worker id shares its address's bucket.
        let remaining: Vec<u32> =
            (0..3).map(|i| l.check_worker(format!("new{i}").into(), ip).unwrap().unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        assert!(l.check_worker("new3".into(), ip).is_err());
    }

    #[test]
    fn zero_per_second_turns_the_limit_off() {
        let l = Limiter::new(RateLimit { per_second: 0, burst: 0 });
        for _ in 0..10_000 {
            assert_eq!(l.check(&Client::Ip("127.0.0.1".parse().unwrap())), Ok(None));
        }
    }
}
