//! A real daemon for HTTP tests: a runtime, a server on 127.0.0.1 port 0,
//! and a reqwest client. The server stops when the `Daemon` is dropped.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use hive::http::{AppState, ServerConfig};
use hive::{Hive, HiveOptions};
use serde_json::Value;

pub const DEMO: &str = r#"
name = "demo"
[[agents]]
name = "planner"
backend = "mock"
mock = { relay = true }
[[agents]]
name = "worker"
backend = "mock"
replicas = 2
mock = { reply = "done" }
[[objects]]
name = "board"
kind = "kv"
[topology]
planner = ["worker", "board"]
worker = ["planner"]
"#;

pub struct Daemon {
    pub addr: SocketAddr,
    pub hive: Arc<Hive>,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub dir: tempfile::TempDir,
}

impl Daemon {
    /// A daemon with a store in a temp dir and `cfg` (its dirs are made
    /// relative to the temp dir: `swarms/` and `skills/` exist there).
    pub async fn start(cfg: ServerConfig) -> Self {
        Self::start_with(cfg, HiveOptions::default()).await
    }

    pub async fn start_with(mut cfg: ServerConfig, mut opts: HiveOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("swarms")).unwrap();
        std::fs::create_dir(dir.path().join("skills")).unwrap();
        cfg.swarm_dir = dir.path().join("swarms");
        cfg.skills_dir = dir.path().join("skills");
        if opts.data_dir.is_none() {
            opts.data_dir = Some(dir.path().join("data"));
        }
        // As `hive serve` does: the [server] webhook settings go to the runtime.
        if let Some(gw) = opts.gateway.as_mut() {
            gw.webhooks = cfg.webhook_options().expect("webhook settings");
        }
        let hive = Arc::new(Hive::start(opts).await.expect("runtime starts"));
        let listener = tokio::net::TcpListener::bind(cfg.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(hive.clone(), cfg).unwrap();
        tokio::spawn(hive::http::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Self { addr, hive, http: reqwest::Client::new(), stop: Some(stop), dir }
    }

    /// A loopback daemon with default settings on port 0.
    pub async fn local() -> Self {
        Self::start(cfg()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        send(self.http.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        send(self.http.post(self.url(path)).header("content-type", "application/json").body(body.to_string())).await
    }

    pub async fn patch_raw(&self, path: &str, body: &str) -> (u16, Value) {
        send(self.http.patch(self.url(path)).header("content-type", "application/json").body(body.to_string())).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.http.patch(self.url(path)).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.http.put(self.url(path)).json(&body)).await
    }

    /// Creates the demo swarm (or `toml`).
    /// GETs `path` until it answers 200 with a body `done` accepts (10 s
    /// deadline, then the test fails with the last answer).
    pub async fn get_until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (code, body) = self.get(path).await;
            if code == 200 && done(&body) {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting on {path}: {code} {body}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub async fn create(&self, toml: &str) -> Value {
        let (code, body) = self.post("/api/swarms", serde_json::json!({"content": toml, "format": "toml"})).await;
        assert_eq!(code, 201, "{body}");
        body
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.hive.shutdown().await;
    }
}

pub fn cfg() -> ServerConfig {
    ServerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..ServerConfig::default() }
}

pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let r = req.send().await.expect("the server answers");
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, body)
}

/// Asserts the error shape and code.
pub fn assert_error(code: u16, body: &Value, status: u16, error_code: &str) {
    assert_eq!(code, status, "{body}");
    assert_eq!(body["error_code"], error_code, "{body}");
    assert!(body["error"].as_str().is_some_and(|s| !s.is_empty()), "{body}");
    assert!(body["details"].is_object(), "{body}");
}
