//! The CLI as a client of a running daemon: one HTTP [`Client`] (base URL,
//! token, JSON requests answering the body or a typed [`ClientError`]) and
//! one module per command group.

pub(crate) mod agents;
pub(crate) mod control;
pub(crate) mod daemon;
pub(crate) mod events;
pub(crate) mod gateway;
pub(crate) mod objects;
pub(crate) mod orchestrate;
pub(crate) mod schedules;
pub(crate) mod swarms;
pub(crate) mod table;
pub(crate) mod task_body;
pub(crate) mod tasks;
pub(crate) mod wire;
pub(crate) mod workers;

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, Url};
use serde_json::Value;

/// Options every client command takes.
#[derive(Args, Debug, Clone)]
pub(crate) struct ClientOpts {
    /// The daemon's address.
    #[arg(long, global = true, env = "HIVE_URL", default_value = "http://127.0.0.1:4000", value_name = "URL")]
    pub url: Url,
    /// Bearer token, when the daemon requires one.
    #[arg(long, global = true, env = "HIVE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Print the server's JSON as is (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum ClientError {
    /// Nothing answers at the URL.
    Unreachable(String),
    /// The daemon refused: its error body.
    Api(Box<Refusal>),
    /// Anything else (a malformed answer, a file that cannot be read, ...).
    Other(String),
}

/// An error answer of the daemon.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// `error`: a sentence.
    pub message: String,
    /// `error_code`: `HIVE_...`.
    pub code: String,
    /// `details`.
    pub details: Value,
    /// The whole body.
    pub body: Value,
}

impl Refusal {
    /// Reads an error answer (any body: a non-Hive one gets `HTTP_<status>`).
    pub(crate) fn from_body(status: u16, bytes: &[u8]) -> ClientError {
        let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        ClientError::Api(Box::new(Refusal {
            status,
            message: s("error").unwrap_or_else(|| format!("HTTP {status}")),
            code: s("error_code").unwrap_or_else(|| format!("HTTP_{status}")),
            details: body.get("details").cloned().unwrap_or(Value::Null),
            body,
        }))
    }
}

impl ClientError {
    /// The daemon's error code, if it refused with one this client knows.
    pub(crate) fn code(&self) -> Option<hive::ErrorCode> {
        match self {
            Self::Api(r) => serde_json::from_value(Value::String(r.code.clone())).ok(),
            _ => None,
        }
    }

    /// Prints the error and answers the exit code: 3 when no daemon is
    /// reachable, 1 otherwise. With `--json` a refusal's body goes to stdout.
    pub(crate) fn report(&self, json: bool) -> ExitCode {
        match self {
            Self::Unreachable(url) => {
                eprintln!("hive: no Hive daemon at {url} (start one with 'hive serve', or set HIVE_URL)");
                return ExitCode::from(3);
            }
            Self::Api(r) => {
                let Refusal { message, code, details, body, .. } = &**r;
                if json {
                    println!("{body}");
                }
                eprintln!("hive: {message} ({code})");
                for e in details.get("errors").and_then(Value::as_array).into_iter().flatten() {
                    let line = detail_line(e);
                    if !message.contains(&line) {
                        eprintln!("  {line}");
                    }
                }
            }
            Self::Other(m) => eprintln!("hive: {m}"),
        }
        ExitCode::FAILURE
    }
}

/// One entry of an error's `details.errors`.
fn detail_line(e: &Value) -> String {
    let s = |k: &str| e.get(k).and_then(Value::as_str);
    if let Some(text) = e.as_str() {
        return text.to_string();
    }
    if let (Some(from), Some(to), Some(reason)) = (s("from"), s("to"), s("reason")) {
        return format!("{from}→{to}: {reason}");
    }
    if let Some(message) = s("message") {
        let at = match (e.get("line").and_then(Value::as_u64), e.get("column").and_then(Value::as_u64)) {
            (Some(l), Some(c)) => format!("{l}:{c}: "),
            _ => String::new(),
        };
        let path = s("path").filter(|p| !p.is_empty()).map(|p| format!("{p}: ")).unwrap_or_default();
        return format!("{at}{path}{message}");
    }
    if let Some(reason) = s("reason") {
        return reason.to_string();
    }
    e.to_string()
}

/// An HTTP client of one daemon.
pub(crate) struct Client {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
    /// `--json`: print the server's JSON as is.
    pub json: bool,
}

/// Query parameters.
pub(crate) type Query<'a> = [(&'a str, String)];

impl Client {
    pub(crate) fn new(opts: &ClientOpts) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| ClientError::Other(format!("cannot build the HTTP client: {e}")))?;
        let token = opts.token.clone().filter(|t| !t.is_empty());
        Ok(Self { base: opts.url.clone(), token, http, json: opts.json })
    }

    /// The URL of `segments` (each percent-encoded) under the base, with `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &Query<'_>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (k, v)));
        }
        url
    }

    /// The base URL as given (for messages).
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    /// The token, if any.
    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Sends a request; answers the response of a success, or the error.
    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &Query<'_>,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, ClientError> {
        self.send_within(method, segments, query, body, None).await
    }

    /// [`Client::send`] with its own time limit (answer and body included)
    /// instead of the client's 120 s.
    async fn send_within(
        &self,
        method: Method,
        segments: &[&str],
        query: &Query<'_>,
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut req = self.http.request(method, self.url(segments, query));
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        Err(Refusal::from_body(status.as_u16(), &bytes))
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        if e.is_connect() {
            ClientError::Unreachable(self.base.as_str().trim_end_matches('/').to_string())
        } else if e.is_timeout() {
            ClientError::Other(format!("the daemon at {} did not answer in time", self.base))
        } else {
            ClientError::Other(format!("request to {} failed: {e}", self.base))
        }
    }

    async fn json_of(&self, resp: reqwest::Response) -> Result<Value, ClientError> {
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Other(format!("unexpected answer from {} (not JSON: {e})", self.base)))
    }

    pub(crate) async fn get(&self, segments: &[&str], query: &Query<'_>) -> Result<Value, ClientError> {
        let r = self.send(Method::GET, segments, query, None).await?;
        self.json_of(r).await
    }

    pub(crate) async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        let r = self.send(Method::POST, segments, &[], Some(body)).await?;
        self.json_of(r).await
    }

    /// A POST without a body (an action: pause, restart, clean, ...).
    pub(crate) async fn post_empty(&self, segments: &[&str], query: &Query<'_>) -> Result<Value, ClientError> {
        let r = self.send(Method::POST, segments, query, None).await?;
        self.json_of(r).await
    }

    pub(crate) async fn put(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        let r = self.send(Method::PUT, segments, &[], Some(body)).await?;
        self.json_of(r).await
    }

    pub(crate) async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        let r = self.send(Method::PATCH, segments, &[], Some(body)).await?;
        self.json_of(r).await
    }

    pub(crate) async fn delete(&self, segments: &[&str], query: &Query<'_>) -> Result<Value, ClientError> {
        let r = self.send(Method::DELETE, segments, query, None).await?;
        self.json_of(r).await
    }

    /// A POST answered with text (a snapshot).
    pub(crate) async fn post_text(&self, segments: &[&str]) -> Result<String, ClientError> {
        let r = self.send(Method::POST, segments, &[], None).await?;
        r.text().await.map_err(|e| self.transport(e))
    }

    /// Prints a JSON answer as is (`--json`).
    pub(crate) fn print_json(&self, v: &Value) {
        println!("{v}");
    }
}

/// A string field of a JSON object, or "".
pub(crate) fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// A field rendered for a table cell: strings bare, null as "-".
pub(crate) fn cell(v: &Value, k: &str) -> String {
    match v.get(k) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
