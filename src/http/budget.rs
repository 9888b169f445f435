//! The budget of requests in flight per client: a client is its token (by
//! name), or its address when it has none (a loopback client of a daemon
//! without tokens, a public route); an HTTP worker on its own endpoints is
//! its worker id, with a budget of its own (`in_flight.per_worker`), once
//! its credentials admit it there (the auth middleware runs first). A
//! request over its client's budget is 429 `HIVE_RATE_LIMITED` with
//! `Retry-After: 1`, in the API's error shape, and is counted
//! (`hive_http_limited_total{limit="in_flight"}`). A request holds its place
//! until its response starts (a stream's body is not counted).
//!
//! Guarantees: the table holds only clients with a request in flight (an
//! entry goes when its last request ends) and at most [`MAX_CLIENTS`] of
//! them; a new client past that is 503 `HIVE_BUSY`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::config::InFlight;
use super::error::ApiError;
use crate::ErrorCode;
use crate::access::{Principal, Role};
use crate::metrics::HttpLimit;

/// Most clients with requests in flight that the table holds.
pub(crate) const MAX_CLIENTS: usize = 65_536;

/// Whose budget a request takes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// A token, by its name.
    Token(Arc<str>),
    /// A client address.
    Ip(IpAddr),
    /// An HTTP worker, by the id its route names.
    Worker(Arc<str>),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client has this many requests in flight already.
    Over(u32),
    /// The table is full of other clients.
    Full,
}

/// The requests in flight of every client that has some.
#[derive(Debug, Clone)]
pub(crate) struct Budgets {
    limits: InFlight,
    table: Arc<Mutex<HashMap<Client, u32>>>,
}

/// A request's place in its client's budget, given back on drop.
#[derive(Debug)]
pub(crate) struct Place {
    table: Arc<Mutex<HashMap<Client, u32>>>,
    client: Client,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.client);
            }
        }
    }
}

impl Budgets {
    pub(crate) fn new(limits: InFlight) -> Self {
        Self { limits, table: Arc::default() }
    }

    fn limit_of(&self, client: &Client) -> u32 {
        match client {
            Client::Worker(_) => self.limits.per_worker,
            Client::Token(_) | Client::Ip(_) => self.limits.per_client,
        }
    }

    /// A place for one more request of `client`, or why not.
    pub(crate) fn enter(&self, client: Client) -> Result<Option<Place>, Refusal> {
        let limit = self.limit_of(&client);
        if limit == 0 {
            return Ok(None);
        }
        let mut t = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let len = t.len();
        match t.get_mut(&client) {
            Some(n) if *n >= limit => return Err(Refusal::Over(*n)),
            Some(n) => *n += 1,
            None if len >= MAX_CLIENTS => return Err(Refusal::Full),
            None => {
                t.insert(client.clone(), 1);
            }
        }
        Ok(Some(Place { table: self.table.clone(), client }))
    }

    /// Clients with requests in flight now.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

/// Whose budget `req` takes from (see the module doc).
async fn client_of(req: &mut Request, ip: IpAddr) -> Client {
    let principal = req.extensions().get::<Principal>().cloned();
    let worker_route =
        req.extensions().get::<MatchedPath>().is_some_and(|m| super::access::is_worker_route(req.method(), m.as_str()));
    if worker_route
        && principal.as_ref().is_some_and(|p| p.role.allows(Role::Worker))
        && let Some(id) = super::limit::route_worker_id(req).await
    {
        return Client::Worker(id);
    }
    match principal {
        Some(p) if &*p.name != Principal::LOOPBACK => Client::Token(p.name),
        _ => Client::Ip(ip.to_canonical()),
    }
}

/// The in-flight budget middleware (after auth).
pub(crate) async fn enforce(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = client_of(&mut req, peer.ip()).await;
    let limit = state.budgets.limit_of(&client);
    match state.budgets.enter(client) {
        Ok(place) => {
            let res = next.run(req).await;
            drop(place);
            res
        }
        Err(Refusal::Over(n)) => {
            state.hits.hit(HttpLimit::InFlight, Some(peer));
            ApiError::new(
                ErrorCode::RateLimited,
                format!("too many requests in flight: {n} of at most {limit}; wait for one to end"),
            )
            .with_details(serde_json::json!({"in_flight": n, "limit": limit}))
            .with_retry_after(1)
            .into_response()
        }
        Err(Refusal::Full) => {
            state.hits.hit(HttpLimit::InFlight, Some(peer));
            ApiError::new(ErrorCode::Busy, "too many clients with requests in flight")
                .with_retry_after(1)
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Client {
        Client::Ip(s.parse().unwrap())
    }

    #[test]
    fn a_client_over_its_budget_is_refused_and_others_are_not() {
        let b = Budgets::new(InFlight { per_client: 2, per_worker: 1 });
        let held: Vec<_> = (0..2).map(|_| b.enter(ip("10.0.0.1")).unwrap()).collect();
        assert_eq!(b.enter(ip("10.0.0.1")).unwrap_err(), Refusal::Over(2));
        assert!(b.enter(ip("10.0.0.2")).is_ok(), "another address has its own");
        assert!(b.enter(Client::Token("ci".into())).is_ok(), "so has a token");
        let w = b.enter(Client::Worker("w1".into())).unwrap();
        assert_eq!(b.enter(Client::Worker("w1".into())).unwrap_err(), Refusal::Over(1), "a worker's own budget");
        drop(w);
        drop(held);
        assert_eq!(b.clients(), 0, "a client with nothing in flight leaves the table");
        assert!(b.enter(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let b = Budgets::new(InFlight { per_client: 1, per_worker: 1 });
        let held: Vec<_> = (0..MAX_CLIENTS).map(|i| b.enter(Client::Token(format!("t{i}").into())).unwrap()).collect();
        assert_eq!(b.enter(Client::Token("one more".into())).unwrap_err(), Refusal::Full);
        drop(held);
        assert!(b.enter(Client::Token("one more".into())).is_ok());
    }

    #[test]
    fn zero_turns_the_budget_off() {
        let b = Budgets::new(InFlight { per_client: 0, per_worker: 0 });
        let held: Vec<_> = (0..1000).map(|_| b.enter(ip("10.0.0.1")).unwrap()).collect();
        assert!(held.iter().all(Option::is_none));
        assert_eq!(b.clients(), 0);
    }
}
