//! The ZeroMQ gateway: its workers (listed by `hive workers`, switched with
//! `hive workers off|on ID`) and `hive dispatch` (sync, async, or streamed
//! over SSE).

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use clap::Args;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use super::table::Table;
use super::{Client, ClientError, cell, str_of};

/// The ZeroMQ workers' body, or why there is none: `Err(note)` when the
/// gateway is disabled.
pub(crate) async fn zmq_workers(c: &Client) -> Result<Result<Value, String>, ClientError> {
    let status = c.get(&["api", "v1", "zmq", "status"], &[]).await?;
    if status["enabled"] == false {
        return Ok(Err("the ZeroMQ gateway is disabled".into()));
    }
    match c.get(&["api", "v1", "zmq", "workers"], &[("per_page", "1000".into())]).await {
        Ok(v) => Ok(Ok(v)),
        Err(ClientError::Api(r)) if r.status == 503 => {
            Ok(Err(format!("the ZeroMQ gateway is unavailable: {}", r.message)))
        }
        Err(e) => Err(e),
    }
}

/// The ZeroMQ workers' table.
pub(crate) fn zmq_table(v: &Value) -> Table {
    let mut t = Table::new(&["ID", "STATUS", "SLOTS", "RUNNING", "CAPABILITIES", "LAST HEARTBEAT"]);
    for w in v["items"].as_array().into_iter().flatten() {
        let caps: Vec<&str> = w["capabilities"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let running = w["running"].as_array().map_or(0, Vec::len);
        let beat = w["last_heartbeat"].as_u64().map_or("-".into(), ago);
        t.row(vec![
            cell(w, "worker_id"),
            cell(w, "status"),
            cell(w, "slots"),
            running.to_string(),
            if caps.is_empty() { "-".into() } else { caps.join(",") },
            beat,
        ]);
    }
    t
}

/// How long ago a time in ms since the epoch was: `3s ago`.
fn ago(ms: u64) -> String {
    let now = hive::events::now_ms();
    format!("{} ago", humantime::format_duration(Duration::from_secs(now.saturating_sub(ms) / 1000)))
}

/// A time in ms since the epoch, as RFC 3339 (UTC, seconds).
pub(crate) fn when(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `hive workers off|on ID`: the worker's maintenance switch.
pub(crate) async fn switch(c: &Client, id: &str, on: bool) -> Result<(), ClientError> {
    let v = c.post(&["api", "v1", "zmq", "workers", id, if on { "on" } else { "off" }], &json!({})).await?;
    if c.json {
        c.print_json(&v);
    } else if on {
        println!("worker {id} takes tasks again");
    } else {
        println!("worker {id} is draining: it finishes its running tasks and gets no new one");
    }
    Ok(())
}

/// `hive dispatch` arguments.
#[derive(Args, Debug)]
pub(crate) struct DispatchArgs {
    /// The prompt.
    text: String,
    /// Print the result's tokens as they arrive.
    #[arg(long, conflicts_with = "is_async")]
    stream: bool,
    /// Queue it and print the task id at once.
    #[arg(long = "async")]
    is_async: bool,
    /// 1 (highest) to 255 [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    priority: Option<u8>,
    /// A capability the worker must have (repeatable).
    #[arg(long = "capability", value_name = "C")]
    capabilities: Vec<String>,
    /// The model to ask for.
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Context for the prompt.
    #[arg(long, value_name = "TEXT")]
    context: Option<String>,
    /// The task's timeout (and how long to wait for it) [default: the gateway's].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
}

/// How long the daemon waits for a sync task without a timeout.
const SERVER_WAIT: Duration = Duration::from_secs(300);

/// `hive dispatch TEXT`.
pub(crate) async fn dispatch(c: &Client, a: &DispatchArgs) -> Result<(), ClientError> {
    let mode = if a.is_async {
        "async"
    } else if a.stream {
        "stream"
    } else {
        "sync"
    };
    let mut body = json!({"prompt": a.text, "mode": mode, "capabilities": a.capabilities});
    for (k, v) in [("model", &a.model), ("context", &a.context)] {
        if let Some(v) = v {
            body[k] = json!(v);
        }
    }
    if let Some(p) = a.priority {
        body["priority"] = json!(p);
    }
    if let Some(t) = a.timeout {
        body["timeout_ms"] = json!(t.as_millis() as u64);
    }
    let limit = a.timeout.unwrap_or(SERVER_WAIT) + Duration::from_secs(10);
    let path = ["api", "v1", "zmq", "dispatch"];
    let resp = c.send_within(Method::POST, &path, &[], Some(&body), Some(limit)).await?;
    if mode == "stream" {
        return stream(c, resp).await;
    }
    let v = c.json_of(resp).await?;
    if c.json {
        c.print_json(&v);
    }
    let id = str_of(&v, "task_id");
    match str_of(&v, "status") {
        "queued" if a.is_async => {
            if !c.json {
                println!("{id}");
            }
            Ok(())
        }
        "ok" => {
            if !c.json {
                println!("{}", str_of(&v, "content"));
            }
            Ok(())
        }
        "in_progress" => {
            Err(ClientError::Other(format!("task {id} is still running past the wait; see 'hive tasks {id}'")))
        }
        status => Err(ended_badly(id, status, str_of(&v, "content"))),
    }
}

fn ended_badly(id: &str, status: &str, content: &str) -> ClientError {
    let status = if status.is_empty() { "unknown" } else { status };
    if content.is_empty() {
        ClientError::Other(format!("task {id} ended {status}"))
    } else {
        ClientError::Other(format!("task {id} ended {status}: {content}"))
    }
}

/// Reads the SSE answer of a streamed dispatch as it arrives.
async fn stream(c: &Client, resp: reqwest::Response) -> Result<(), ClientError> {
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = std::io::stdout();
    let mut printed = false;
    loop {
        // Every complete event in the buffer (events end with a blank line).
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buf.drain(..end + 2).collect();
            let Some((event, data)) = parse_event(&String::from_utf8_lossy(&block)) else { continue };
            let data: Value = serde_json::from_str(&data).unwrap_or(Value::String(data));
            if c.json {
                println!("{}", json!({"event": event, "data": data}));
            }
            match event.as_str() {
                "token" if !c.json => {
                    let _ = write!(out, "{}", str_of(&data, "content"));
                    let _ = out.flush();
                    printed = true;
                }
                "result" | "error" => {
                    if !c.json && printed {
                        println!();
                    }
                    let status = str_of(&data, "status");
                    if event == "result" && status == "ok" {
                        if !c.json && !printed {
                            println!("{}", str_of(&data, "content"));
                        }
                        return Ok(());
                    }
                    return Err(ended_badly(str_of(&data, "task_id"), status, str_of(&data, "content")));
                }
                _ => {}
            }
        }
        match body.next().await {
            Some(Ok(chunk)) => buf.extend(chunk.iter().filter(|&&b| b != b'\r')),
            Some(Err(e)) => {
                if printed && !c.json {
                    println!();
                }
                return Err(c.transport(e));
            }
            None => {
                if printed && !c.json {
                    println!();
                }
                return Err(ClientError::Other("the stream ended before the task's result".into()));
            }
        }
    }
}

/// One SSE event block: its name (default `message`) and its data lines
/// joined; `None` for a block without data (a keep-alive comment).
fn parse_event(block: &str) -> Option<(String, String)> {
    let mut event = "message".to_string();
    let mut data: Option<String> = None;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = value.to_string(),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            },
            _ => {}
        }
    }
    data.map(|d| (event, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_are_parsed() {
        assert_eq!(
            parse_event("event: token\ndata: {\"content\":\"hi \"}\n\n"),
            Some(("token".into(), "{\"content\":\"hi \"}".into()))
        );
        assert_eq!(parse_event("data: a\ndata: b\n"), Some(("message".into(), "a\nb".into())));
        assert_eq!(parse_event(":\n\n"), None);
    }
}
