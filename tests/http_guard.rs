//! What stands in front of the handlers: auth, loopback-only without a
//! token, rate limit, CORS, and the OpenAPI document and docs page. Plus a
//! sweep of every documented route with bad input: never a 5xx. And the
//! bounds on connections and requests: the header read timeout, the
//! connection cap, the budget of requests in flight and the request timeout.

mod http_common;

use http_common::{DEMO, Daemon, assert_error, cfg, send};
use serde_json::{Value, json};

#[tokio::test]
async fn with_a_token_every_route_but_the_public_ones_needs_it() {
    let d = Daemon::start(hive::http::ServerConfig { token: Some("s3cret".into()), ..cfg() }).await;
    for public in ["/health", "/", "/openapi.json"] {
        let (c, _) = d.get(public).await;
        assert_eq!(c, 200, "{public} is public");
    }
    let (c, b) = d.get("/api/swarms").await;
    assert_error(c, &b, 401, "HIVE_UNAUTHORIZED");
    let (c, b) = send(d.http.get(d.url("/api/swarms")).bearer_auth("wrong")).await;
    assert_error(c, &b, 401, "HIVE_UNAUTHORIZED");
    let (c, b) = send(d.http.get(d.url("/api/swarms")).bearer_auth("s3cre")).await;
    assert_error(c, &b, 401, "HIVE_UNAUTHORIZED");
    let (c, _) = send(d.http.get(d.url("/api/swarms")).bearer_auth("s3cret")).await;
    assert_eq!(c, 200);
    // ?token= is for WebSockets only.
    let (c, b) = d.get("/api/swarms?token=s3cret").await;
    assert_error(c, &b, 401, "HIVE_UNAUTHORIZED");
    let url = format!("ws://{}/ws/events?token=s3cret", d.addr);
    tokio_tungstenite::connect_async(&url).await.expect("the token in the query opens the socket");
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/ws/events?token=nope", d.addr)).await;
    assert!(refused.is_err(), "a bad token does not open a socket");
    d.shutdown().await;
}

/// A non-loopback address of this machine, if it has one.
fn outside_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?; // TEST-NET-1: no packet is sent
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test]
async fn without_a_token_only_loopback_clients_are_served() {
    let Some(ip) = outside_address() else {
        eprintln!("this machine has no non-loopback address; the unit test of is_loopback covers the rule");
        return;
    };
    let d = Daemon::start(hive::http::ServerConfig { listen: "0.0.0.0:0".parse().unwrap(), ..cfg() }).await;
    let port = d.addr.port();
    let (c, _) = send(d.http.get(format!("http://127.0.0.1:{port}/api/swarms"))).await;
    assert_eq!(c, 200);
    let (c, b) = send(d.http.get(format!("http://{ip}:{port}/api/swarms"))).await;
    assert_error(c, &b, 403, "HIVE_FORBIDDEN");
    let (c, _) = send(d.http.get(format!("http://{ip}:{port}/health"))).await;
    assert_eq!(c, 200, "health stays public");
    d.shutdown().await;
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let limit = hive::http::RateLimit { per_second: 1, burst: 3 };
    let d = Daemon::start(hive::http::ServerConfig { rate_limit: limit, ..cfg() }).await;
    for _ in 0..3 {
        assert_eq!(d.get("/api/swarms").await.0, 200);
    }
    let r = d.http.get(d.url("/api/swarms")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error_code"], "HIVE_RATE_LIMITED");
    d.shutdown().await;
}

#[tokio::test]
async fn cors_answers_only_allowlisted_origins() {
    let d = Daemon::start(hive::http::ServerConfig { cors_origins: vec!["http://ui.local".into()], ..cfg() }).await;
    let pre = |origin: &'static str| {
        d.http
            .request(reqwest::Method::OPTIONS, d.url("/api/swarms"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = pre("http://ui.local").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://ui.local");
    let other = pre("http://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    d.shutdown().await;
}

/// Every route of design/API.md, as (method, path).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/"),
    ("get", "/health"),
    ("get", "/api/v1/logs"),
    ("post", "/api/v1/maintenance/off"),
    ("post", "/api/v1/maintenance/on"),
    ("get", "/api/swarms"),
    ("post", "/api/swarms"),
    ("get", "/api/swarms/{name}"),
    ("delete", "/api/swarms/{name}"),
    ("post", "/api/swarms/{name}/pause"),
    ("post", "/api/swarms/{name}/resume"),
    ("post", "/api/swarms/{name}/restart"),
    ("post", "/api/swarms/{name}/message"),
    ("post", "/api/swarms/clean"),
    ("get", "/api/swarms/{name}/agents"),
    ("post", "/api/swarms/{name}/agents"),
    ("get", "/api/swarms/{name}/agents/{agent}"),
    ("delete", "/api/swarms/{name}/agents/{agent}"),
    ("post", "/api/swarms/{name}/agents/{agent}/task"),
    ("post", "/api/swarms/{name}/agents/{agent}/restart"),
    ("get", "/api/swarms/{name}/agents/{agent}/history"),
    ("get", "/api/swarms/{name}/agents/{agent}/logs"),
    ("get", "/api/swarms/{name}/agents/{agent}/skills"),
    ("get", "/api/swarms/{name}/agents/{agent}/events"),
    ("put", "/api/swarms/{name}/agents/{agent}/skills/{skill}"),
    ("post", "/api/swarms/{name}/agents/{base}/scale"),
    ("get", "/api/swarms/{name}/topology"),
    ("patch", "/api/swarms/{name}/topology"),
    ("get", "/api/swarms/{name}/objects"),
    ("post", "/api/swarms/{name}/objects"),
    ("get", "/api/swarms/{name}/objects/{object}"),
    ("delete", "/api/swarms/{name}/objects/{object}"),
    ("patch", "/api/swarms/{name}/objects/{object}/config"),
    ("get", "/api/swarms/{name}/overlay"),
    ("delete", "/api/swarms/{name}/overlay"),
    ("post", "/api/swarms/{name}/snapshot"),
    ("get", "/api/swarms/{name}/messages"),
    ("get", "/api/events"),
    ("get", "/api/swarms/{name}/events"),
    ("get", "/api/skills"),
    ("get", "/api/skills/{name}"),
    ("post", "/api/config/validate"),
    ("get", "/api/v1/agents"),
    ("post", "/api/v1/agents/spawn"),
    ("delete", "/api/v1/agents/{id}/kill"),
    ("get", "/api/v1/tasks"),
    ("post", "/api/v1/tasks"),
    ("get", "/api/v1/tasks/{id}"),
    ("delete", "/api/v1/tasks/{id}"),
    ("get", "/ws/events"),
    ("get", "/swarm/websocket"),
    ("get", "/api/v1/zmq/workers"),
    ("get", "/api/v1/zmq/workers/{id}"),
    ("delete", "/api/v1/zmq/workers/{id}"),
    ("get", "/api/v1/zmq/status"),
    ("post", "/api/v1/zmq/workers/{id}/off"),
    ("post", "/api/v1/zmq/workers/{id}/on"),
    ("post", "/api/v1/zmq/dispatch"),
    ("post", "/api/v1/orchestrate"),
];

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_the_docs_work_offline() {
    let d = Daemon::local().await;
    let (c, api) = d.get("/openapi.json").await;
    assert_eq!(c, 200);
    assert!(api["openapi"].as_str().unwrap().starts_with("3.1"), "{}", api["openapi"]);
    let paths = api["paths"].as_object().unwrap();
    let missing: Vec<_> =
        ROUTES.iter().filter(|(m, p)| paths.get(*p).and_then(|item| item.get(*m)).is_none()).collect();
    assert!(missing.is_empty(), "not in the OpenAPI document: {missing:?}");
    assert!(api["components"]["schemas"]["ErrorBody"].is_object());
    // The docs page and its assets are served by the daemon itself.
    let page = d.http.get(d.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the page loads nothing from the internet");
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
        let r = d.http.get(d.url(asset)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{asset}");
    }
    d.shutdown().await;
}

#[tokio::test]
async fn no_client_mistake_on_any_route_yields_a_5xx() {
    // Every component on (a disabled one answers 503 by design).
    let gw = hive::gateway::GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..Default::default() };
    let d = Daemon::start_with(cfg(), hive::HiveOptions { gateway: Some(gw), ..Default::default() }).await;
    d.create(DEMO).await;
    let (_, api) = d.get("/openapi.json").await;
    let bodies = ["", "{", "[]", "null", "{\"x\": 1}", "\"\u{0}\"", "{\"count\": \"many\", \"task\": []}"];
    let mut checked = 0;
    for (path, item) in api["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            for fill in ["nope", "demo", "..%2F..%2Fetc", "%00"] {
                let url = d.url(&fill_params(path, fill)).replace("/ws/events", "/ws/events?level=x");
                let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                for body in bodies {
                    let r = d.http.request(m.clone(), &url).body(body).send().await.unwrap();
                    let code = r.status().as_u16();
                    let text = r.text().await.unwrap();
                    assert!(code < 500, "{method} {url} with {body:?} → {code} {text}");
                    if code >= 400 {
                        let v: Value = serde_json::from_str(&text).unwrap_or(json!(null));
                        assert!(v["error_code"].is_string(), "{method} {url} → {code} without the error shape: {text}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
    d.shutdown().await;
}

fn fill_params(path: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').unwrap();
        // Keep the demo swarm's own names where a real one is needed.
        let name = &rest[i + 1..i + j];
        out.push_str(if with == "demo" && name != "name" { "worker_1" } else { with });
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

// ---- Bounds on connections and requests (server.rs, budget.rs, timeout.rs) ----

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// Reads one HTTP/1.1 response (headers and a `content-length` body): its
/// status and body text.
async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed before a response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed inside a body");
        buf.extend_from_slice(&chunk[..n]);
    }
    (status, String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string())
}

/// A keep-alive GET on `s`.
async fn raw_get(s: &mut TcpStream, path: &str) -> (u16, String) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: hive\r\n\r\n").as_bytes()).await.unwrap();
    read_response(s).await
}

/// Waits until the server closes `s` (EOF or reset), reading what it sends.
async fn until_closed(s: &mut TcpStream) {
    let mut chunk = [0u8; 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// A POST whose body never comes whole: the request stays in flight (in its
/// handler's body extractor) until the server gives up on it.
async fn stalled_post(d: &Daemon, secret: Option<&str>) -> TcpStream {
    let mut s = TcpStream::connect(d.addr).await.unwrap();
    let auth = secret.map(|t| format!("authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /api/config/validate HTTP/1.1\r\nhost: hive\r\n{auth}content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

async fn metrics_text(d: &Daemon) -> String {
    d.hive.metrics_text().await.expect("metrics")
}

#[tokio::test]
async fn a_slowloris_client_is_dropped_within_the_header_timeout() {
    let d = Daemon::start(hive::http::ServerConfig { header_read_timeout_s: 1, ..cfg() }).await;
    let began = Instant::now();
    // One sends nothing at all; one sends its headers a byte at a time and never ends them.
    let mut silent = TcpStream::connect(d.addr).await.unwrap();
    let dribbler = TcpStream::connect(d.addr).await.unwrap();
    let (mut rd, mut wr) = dribbler.into_split();
    let drip = tokio::spawn(async move {
        wr.write_all(b"GET /health HTTP/1.1\r\n").await.ok();
        while wr.write_all(b"x").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    // And an idle keep-alive connection after a request: closed after the same time.
    let mut idle = TcpStream::connect(d.addr).await.unwrap();
    assert_eq!(raw_get(&mut idle, "/health").await.0, 200);
    timeout(Duration::from_secs(10), until_closed(&mut silent)).await.expect("a silent client is dropped");
    timeout(Duration::from_secs(10), until_closed(&mut idle)).await.expect("an idle keep-alive connection is closed");
    timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 1024];
        while !matches!(rd.read(&mut chunk).await, Ok(0) | Err(_)) {}
    })
    .await
    .expect("a client that dribbles its headers is dropped");
    assert!(began.elapsed() >= Duration::from_secs(1), "not before the timeout: {:?}", began.elapsed());
    drip.abort();
    // A client that sends its request in time is served.
    let mut ok = TcpStream::connect(d.addr).await.unwrap();
    assert_eq!(raw_get(&mut ok, "/health").await.0, 200);
    let text = metrics_text(&d).await;
    let line = text.lines().find(|l| l.starts_with(r#"hive_http_limited_total{limit="header_timeout"}"#));
    let n: u64 = line.and_then(|l| l.split_whitespace().last()?.parse().ok()).unwrap_or(0);
    assert!(n >= 3, "all three were counted: {line:?}");
    d.shutdown().await;
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_waits_and_is_served_once_another_closes() {
    let d = Daemon::start(hive::http::ServerConfig { max_connections: 2, ..cfg() }).await;
    let mut a = TcpStream::connect(d.addr).await.unwrap();
    let mut b = TcpStream::connect(d.addr).await.unwrap();
    assert_eq!(raw_get(&mut a, "/health").await.0, 200);
    assert_eq!(raw_get(&mut b, "/health").await.0, 200);
    // The third connects (the kernel queues it) but is not served...
    let mut c = TcpStream::connect(d.addr).await.unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nhost: hive\r\n\r\n").await.unwrap();
    let mut byte = [0u8; 1];
    assert!(timeout(Duration::from_millis(500), c.read(&mut byte)).await.is_err(), "served past the cap");
    assert!(metrics_text(&d).await.contains("hive_http_connections 2\n"));
    // ...until one of the two closes; then it is, in full.
    drop(a);
    // (A read cut off by its timeout consumed nothing.)
    let (code, _) = timeout(Duration::from_secs(10), read_response(&mut c)).await.expect("served once a slot freed");
    assert_eq!(code, 200);
    let text = metrics_text(&d).await;
    assert!(text.contains(r#"hive_http_limited_total{limit="connections"}"#), "the wait is counted: {text}");
    drop((b, c));
    d.shutdown().await;
}

#[tokio::test]
async fn a_client_over_its_in_flight_budget_gets_429_while_another_is_served() {
    use hive::access::{Role, TokenSpec, digest_hex};
    let tokens = [("a", "a-secret"), ("b", "b-secret")]
        .iter()
        .map(|(n, s)| TokenSpec { name: (*n).into(), role: Role::Operator, sha256: digest_hex(s) })
        .collect();
    let in_flight = hive::http::InFlight { per_client: 1, per_worker: 1 };
    let d = Daemon::start(hive::http::ServerConfig { tokens, in_flight, ..cfg() }).await;
    let held = stalled_post(&d, Some("a-secret")).await;
    let get = |secret: &'static str| d.http.get(d.url("/api/swarms")).bearer_auth(secret).send();
    // Token a's one request is in flight: its next is refused, once the first has its place.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let r = get("a-secret").await.unwrap();
        if r.status() == 429 {
            break r;
        }
        assert!(Instant::now() < deadline, "never refused: {}", r.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_error(429, &body, 429, "HIVE_RATE_LIMITED");
    assert_eq!(body["details"]["limit"], 1, "{body}");
    // Token b, from the same address, is served.
    assert_eq!(get("b-secret").await.unwrap().status(), 200);
    // Once a's request ends, a is served again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get("a-secret").await.unwrap().status() != 200 {
        assert!(Instant::now() < deadline, "a is never served again");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(metrics_text(&d).await.contains(r#"hive_http_limited_total{limit="in_flight"}"#));
    d.shutdown().await;
}

#[tokio::test]
async fn a_request_over_its_timeout_answers_504_while_a_websocket_stays_open() {
    use futures::StreamExt;
    let d = Daemon::start(hive::http::ServerConfig { request_timeout_s: 1, ..cfg() }).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/events", d.addr)).await.unwrap();
    let opened = Instant::now();
    let mut slow = stalled_post(&d, None).await;
    let (code, body) = timeout(Duration::from_secs(10), read_response(&mut slow)).await.expect("answered");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_error(code, &body, 504, "HIVE_TIMEOUT");
    assert_eq!(body["details"]["timeout_s"], 1);
    assert!(opened.elapsed() >= Duration::from_secs(1));
    // The socket outlived the request timeout: it still gets what happens.
    let s: std::sync::Arc<str> = "after".into();
    let seq = d.hive.events().emit(
        Some(&s),
        None,
        hive::events::EventKind::Log { level: hive::events::Level::Info, message: "still here".into() },
    );
    let got = timeout(Duration::from_secs(10), async {
        loop {
            let m = ws.next().await.expect("open").expect("a message");
            if let Ok(v) = serde_json::from_str::<Value>(m.to_text().unwrap_or_default())
                && v["seq"] == seq
            {
                return v;
            }
        }
    })
    .await
    .expect("the event came");
    assert_eq!(got["seq"], seq);
    assert!(metrics_text(&d).await.contains(r#"hive_http_limited_total{limit="request_timeout"} 1"#));
    d.shutdown().await;
}
