//! Webhook delivery: one supervised actor (a child of the runtime's root
//! supervisor, next to the dispatcher) that POSTs dispatched tasks' results
//! to their webhooks.
//!
//! It owns every delivery it accepts: each runs as a task in the actor's
//! `JoinSet`, tells the actor when it ends (a drop guard, so a panic is
//! heard too), and is aborted when the actor stops. Guarantees:
//! * only `http://` and `https://` URLs under an allowed prefix
//!   ([`WebhookOptions::allow`]; none by default) are accepted, else
//!   `BadRequest` / `Forbidden`; redirects are not followed, so an allowed
//!   URL cannot send the daemon elsewhere;
//! * bounded: at most `max_running` deliveries run at once (POSTing or
//!   backing off between attempts); at most
//!   `max_waiting` more accepted deliveries wait (for their task's end, or
//!   for a free slot); beyond that a delivery is refused with `Full`;
//! * each delivery makes at most `attempts` attempts, `backoff` before the
//!   second and doubling, each request bounded by `request_timeout`; every
//!   failed attempt is a warning log event (swarm `_dispatch`), the
//!   delivery an info one, giving up an error one;
//! * `https://` is verified against the system's roots plus the extra CA
//!   certificates of [`WebhookOptions::ca_pem`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;

use super::DISPATCH_SWARM;
use crate::HiveError;
use crate::events::{EventBus, EventKind, Level};
use crate::task::Follower;

/// Settings of webhook delivery.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// URL prefixes webhooks may be POSTed to (e.g.
    /// `https://hooks.example.com/`); empty (the default) = none.
    pub allow: Vec<String>,
    /// Extra CA certificates (PEM) trusted for `https://` webhooks, besides
    /// the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// Most POSTs at once (default 32).
    pub max_running: usize,
    /// Most accepted deliveries not running yet (default 1024); more → `Full`.
    pub max_waiting: usize,
    /// Attempts per delivery (default 4).
    pub attempts: u32,
    /// Wait before the second attempt, doubling after (default 0.5 s).
    pub backoff: Duration,
    /// Bound on each request (default 10 s).
    pub request_timeout: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            ca_pem: None,
            max_running: 32,
            max_waiting: 1024,
            attempts: 4,
            backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl WebhookOptions {
    /// Trusts the CA certificates of the PEM file at `path` too (checked
    /// here, so a bad file is an error at startup).
    pub fn trust_ca_file(mut self, path: &std::path::Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        self.ca_pem = Some(pem);
        Ok(self)
    }
}

/// Where a task's result goes: the `webhook` of a dispatch.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `http://` or `https://` URL, under a `[server] webhook_allow` prefix.
    /// (The document's pattern is a safe subset of the URLs taken: a named
    /// host, an optional port and path.)
    #[schema(
        pattern = r"^https?://[A-Za-z][A-Za-z0-9-]*(\.[A-Za-z][A-Za-z0-9-]*)*(:[0-9]{1,4})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$"
    )]
    pub url: String,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// One delivery: a POST of `body` to `url` with `headers`.
pub struct Delivery {
    /// The target.
    pub url: String,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, once it is known (e.g. when the task ends); `None`:
    /// nothing to deliver (the task was never dispatched).
    pub body: BoxFuture<'static, Option<Value>>,
}

/// Messages of the deliverer.
pub(crate) enum WebhookMsg {
    /// Accept a delivery (or refuse it: URL not allowed, too many).
    Deliver(Delivery, RpcReplyPort<Result<(), HiveError>>),
    /// A delivery ended; `Some(why)` if it panicked.
    Ended(Option<String>),
}

/// Start arguments.
pub(crate) struct WebhookArgs {
    pub(crate) opts: WebhookOptions,
    pub(crate) bus: EventBus,
}

/// The deliverer actor.
#[derive(Clone, Copy)]
pub(crate) struct Webhooks;

/// Its state.
pub(crate) struct State {
    opts: Arc<WebhookOptions>,
    bus: EventBus,
    client: reqwest::Client,
    /// `max_running` permits: one per POST in flight.
    slots: Arc<Semaphore>,
    /// Every accepted delivery; aborted when the actor stops.
    jobs: JoinSet<()>,
    /// Accepted deliveries that have not ended.
    held: usize,
}

/// The HTTP client of every delivery (its connection pool is shared).
fn client(opts: &WebhookOptions) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(opts.request_timeout).redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = &opts.ca_pem {
        b = b.tls_certs_merge(reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())?);
    }
    b.build().map_err(|e| e.to_string())
}

/// Refuses a URL that is not `http(s)://` (`BadRequest`) or under no
/// allowed prefix (`Forbidden`).
fn check_url(allow: &[String], url: &str) -> Result<(), HiveError> {
    let scheme = reqwest::Url::parse(url).map(|u| u.scheme().to_string()).unwrap_or_default();
    if !matches!(scheme.as_str(), "http" | "https") {
        return Err(HiveError::BadRequest("'webhook.url' must be an http:// or https:// URL".into()));
    }
    if !allow.iter().any(|p| url.starts_with(p.as_str())) {
        return Err(HiveError::Forbidden(format!(
            "webhook URL '{url}' is not allowed: the daemon's [server] webhook_allow lists the URL prefixes it may call"
        )));
    }
    Ok(())
}

fn header_map(headers: &BTreeMap<String, String>) -> Result<reqwest::header::HeaderMap, HiveError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        let bad = |e: &dyn std::fmt::Display| HiveError::BadRequest(format!("webhook header '{k}': {e}"));
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(&e))?;
        let value = HeaderValue::from_str(v).map_err(|e| bad(&e))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Tells the actor that a delivery ended, however it did.
struct EndGuard(ActorRef<WebhookMsg>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        let panicked = std::thread::panicking().then(|| "the delivery panicked".to_string());
        let _ = self.0.cast(WebhookMsg::Ended(panicked));
    }
}

/// What one delivery needs to run.
struct Job {
    client: reqwest::Client,
    bus: EventBus,
    opts: Arc<WebhookOptions>,
    url: String,
    headers: reqwest::header::HeaderMap,
}

impl Job {
    fn log(&self, level: Level, message: String) {
        let swarm: Arc<str> = DISPATCH_SWARM.into();
        self.bus.emit(Some(&swarm), None, EventKind::Log { level, message });
    }

    /// POSTs `body`: up to `attempts` attempts, backing off between them.
    async fn post(&self, body: &Value) {
        let url = &self.url;
        let mut wait = self.opts.backoff;
        for attempt in 1..=self.opts.attempts {
            match self.client.post(url).headers(self.headers.clone()).json(body).send().await {
                Ok(r) if r.status().is_success() => {
                    self.log(Level::Info, format!("webhook {url} got task {}", body["task_id"]));
                    return;
                }
                Ok(r) => self.log(Level::Warning, format!("webhook {url} answered {} (attempt {attempt})", r.status())),
                Err(e) => self.log(Level::Warning, format!("webhook {url} failed: {e} (attempt {attempt})")),
            }
            if attempt < self.opts.attempts {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        self.log(Level::Error, format!("webhook {url} gave up on task {}", body["task_id"]));
    }
}

impl State {
    fn accept(&mut self, me: &ActorRef<WebhookMsg>, d: Delivery) -> Result<(), HiveError> {
        check_url(&self.opts.allow, &d.url)?;
        let headers = header_map(&d.headers)?;
        if self.held >= self.opts.max_running + self.opts.max_waiting {
            return Err(HiveError::Full(format!(
                "{} webhook deliveries are pending (the most allowed); try again later",
                self.held
            )));
        }
        self.held += 1;
        let job =
            Job { client: self.client.clone(), bus: self.bus.clone(), opts: self.opts.clone(), url: d.url, headers };
        let (guard, slots, body) = (EndGuard(me.clone()), self.slots.clone(), d.body);
        self.jobs.spawn(async move {
            let _guard = guard;
            let Some(body) = body.await else { return };
            let Ok(_slot) = slots.acquire_owned().await else { return };
            job.post(&body).await;
        });
        Ok(())
    }
}

impl Actor for Webhooks {
    type Msg = WebhookMsg;
    type State = State;
    type Arguments = WebhookArgs;

    async fn pre_start(&self, _: ActorRef<WebhookMsg>, args: WebhookArgs) -> Result<State, ActorProcessingErr> {
        let client = client(&args.opts).map_err(|e| format!("the webhook client: {e}"))?;
        Ok(State {
            slots: Arc::new(Semaphore::new(args.opts.max_running.max(1))),
            opts: Arc::new(args.opts),
            bus: args.bus,
            client,
            jobs: JoinSet::new(),
            held: 0,
        })
    }

    async fn handle(&self, me: ActorRef<WebhookMsg>, msg: WebhookMsg, s: &mut State) -> Result<(), ActorProcessingErr> {
        match msg {
            WebhookMsg::Deliver(d, reply) => {
                let _ = reply.send(s.accept(&me, d));
            }
            WebhookMsg::Ended(panicked) => {
                s.held = s.held.saturating_sub(1);
                // Reap the finished ones (a task may finish just after its guard spoke).
                while s.jobs.try_join_next().is_some() {}
                if let Some(why) = panicked {
                    let swarm: Arc<str> = DISPATCH_SWARM.into();
                    s.bus.emit(
                        Some(&swarm),
                        None,
                        EventKind::Log { level: Level::Error, message: format!("webhook: {why}") },
                    );
                }
            }
        }
        Ok(())
    }
}

/// The running deliverer next to the dispatcher registered as `dispatcher`.
pub(crate) fn webhooks_ref(dispatcher: &str) -> Option<ActorRef<WebhookMsg>> {
    ractor::registry::where_is(webhooks_name(dispatcher)).map(ActorRef::from)
}

/// The deliverer's registered name, from its dispatcher's.
pub(crate) fn webhooks_name(dispatcher: &str) -> String {
    format!("{dispatcher}.webhooks")
}

/// What a task's webhook gets: `{task_id, status, content}` once it ends,
/// or an error once `wait` passes first.
async fn end_body(task_id: Arc<str>, follower: Option<Follower>, wait: Duration) -> Value {
    let end = async { tokio::time::timeout(wait, follower?.end()).await.ok().flatten() };
    match end.await {
        Some(end) => json!({"task_id": task_id, "status": end.status(), "content": end.content()}),
        None => json!({"task_id": task_id, "status": "error", "content": "the task did not finish in time"}),
    }
}

/// Hands `hook` to the deliverer `to`, then runs `dispatch` (which submits
/// the task and follows it); the result is POSTed once the task ends (or
/// `wait` passes). The delivery is accepted first, so a refused webhook
/// dispatches nothing; a failed dispatch delivers nothing.
pub(crate) async fn dispatch_to<F>(
    to: ActorRef<WebhookMsg>,
    hook: Webhook,
    wait: Duration,
    dispatch: F,
) -> Result<Arc<str>, HiveError>
where
    F: Future<Output = Result<(Arc<str>, Option<Follower>), HiveError>>,
{
    let (tx, rx) = oneshot::channel::<(Arc<str>, Option<Follower>)>();
    let body = Box::pin(async move {
        let (id, updates) = rx.await.ok()?;
        Some(end_body(id, updates, wait).await)
    });
    ractor::call!(to, WebhookMsg::Deliver, Delivery { url: hook.url, headers: hook.headers, body })??;
    let (id, updates) = dispatch.await?;
    let _ = tx.send((id.clone(), updates));
    Ok(id)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A receiver that holds each request a while and records the most it
    /// saw at once, and every body.
    #[derive(Clone, Default)]
    struct Slow {
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
        got: Arc<std::sync::Mutex<Vec<Value>>>,
    }

    async fn serve(slow: Slow) -> String {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let s = slow.clone();
                async move {
                    let n = s.now.fetch_add(1, Ordering::SeqCst) + 1;
                    s.most.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    s.now.fetch_sub(1, Ordering::SeqCst);
                    s.got.lock().unwrap().push(body);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    async fn start(opts: WebhookOptions) -> (ActorRef<WebhookMsg>, EventBus) {
        let bus = EventBus::new(Default::default());
        let (a, _) = Actor::spawn(None, Webhooks, WebhookArgs { opts, bus: bus.clone() }).await.unwrap();
        (a, bus)
    }

    async fn offer(a: &ActorRef<WebhookMsg>, d: Delivery) -> Result<(), HiveError> {
        ractor::call!(a, WebhookMsg::Deliver, d).unwrap()
    }

    fn delivery(url: &str, body: Value) -> Delivery {
        Delivery { url: url.into(), headers: BTreeMap::new(), body: Box::pin(async move { Some(body) }) }
    }

    #[tokio::test]
    async fn at_most_max_running_deliveries_run_at_once_and_all_arrive() {
        let slow = Slow::default();
        let url = serve(slow.clone()).await;
        let opts = WebhookOptions { allow: vec![url.clone()], max_running: 3, ..Default::default() };
        let (a, _) = start(opts).await;
        for i in 0..12 {
            ractor::call!(a, WebhookMsg::Deliver, delivery(&url, json!({"task_id": i}))).unwrap().unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while slow.got.lock().unwrap().len() < 12 {
            assert!(tokio::time::Instant::now() < deadline, "not every delivery arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let most = slow.most.load(Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} deliveries ran at once");
        let mut ids: Vec<u64> = slow.got.lock().unwrap().iter().map(|b| b["task_id"].as_u64().unwrap()).collect();
        ids.sort();
        assert_eq!(ids, (0..12).collect::<Vec<_>>());
        a.stop(None);
    }

    #[tokio::test]
    async fn beyond_the_bound_a_delivery_is_refused_and_a_slot_frees_when_one_ends() {
        let url = "http://127.0.0.1:9/hook";
        let opts = WebhookOptions { allow: vec![url.into()], max_running: 1, max_waiting: 1, ..Default::default() };
        let (a, _) = start(opts).await;
        // Two deliveries whose bodies are not known yet fill it.
        let mut ends = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = oneshot::channel::<Option<Value>>();
            let d =
                Delivery { url: url.into(), headers: BTreeMap::new(), body: Box::pin(async move { rx.await.ok()? }) };
            ractor::call!(a, WebhookMsg::Deliver, d).unwrap().unwrap();
            ends.push(tx);
        }
        let full = ractor::call!(a, WebhookMsg::Deliver, delivery(url, json!({}))).unwrap();
        assert!(matches!(full, Err(HiveError::Full(_))), "{full:?}");
        // Nothing to deliver for one: its place frees.
        ends.pop().unwrap().send(None).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (tx, rx) = oneshot::channel::<Option<Value>>();
            let d =
                Delivery { url: url.into(), headers: BTreeMap::new(), body: Box::pin(async move { rx.await.ok()? }) };
            if ractor::call!(a, WebhookMsg::Deliver, d).unwrap().is_ok() {
                drop(tx);
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the slot did not free");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a.stop(None);
    }

    #[tokio::test]
    async fn only_allowed_http_urls_and_valid_headers_are_accepted() {
        let (a, _) = start(WebhookOptions { allow: vec!["http://127.0.0.1:9/".into()], ..Default::default() }).await;
        let r = offer(&a, delivery("http://169.254.169.254/latest", json!({}))).await;
        assert!(matches!(r, Err(HiveError::Forbidden(_))), "{r:?}");
        let r = offer(&a, delivery("ftp://127.0.0.1:9/x", json!({}))).await;
        assert!(matches!(r, Err(HiveError::BadRequest(_))), "{r:?}");
        let mut d = delivery("http://127.0.0.1:9/x", json!({}));
        d.headers.insert("bad header".into(), "v".into());
        let r = offer(&a, d).await;
        assert!(matches!(r, Err(HiveError::BadRequest(_))), "{r:?}");
        // Nothing is allowed by default.
        let (b, _) = start(WebhookOptions::default()).await;
        let r = offer(&b, delivery("https://hooks.example.com/", json!({}))).await;
        assert!(matches!(r, Err(HiveError::Forbidden(_))), "{r:?}");
        a.stop(None);
        b.stop(None);
    }
}
