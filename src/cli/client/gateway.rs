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
use super::task_body::{DispatchMode, TaskFields};
use super::{Client, ClientError, cell, str_of};
use hive::task::TaskStatus;

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
    #[command(flatten)]
    task: TaskFields,
}

/// How long the daemon waits for a sync task without a timeout.
const SERVER_WAIT: Duration = Duration::from_secs(300);

/// `hive dispatch TEXT`.
pub(crate) async fn dispatch(c: &Client, a: &DispatchArgs) -> Result<(), ClientError> {
    let mode = if a.is_async {
        DispatchMode::Async
    } else if a.stream {
        DispatchMode::Stream
    } else {
        DispatchMode::Sync
    };
    let body = super::control::to_value(&a.task.body(&a.text, Some(mode)));
    let limit = a.task.timeout.unwrap_or(SERVER_WAIT) + Duration::from_secs(10);
    let path = ["api", "v1", "zmq", "dispatch"];
    let resp = c.send_within(Method::POST, &path, &[], Some(&body), Some(limit)).await?;
    if mode == DispatchMode::Stream {
        return stream(c, resp).await;
    }
    let v = c.json_of(resp).await?;
    if c.json {
        c.print_json(&v);
    }
    let a2: DispatchAnswer = serde_json::from_value(v)
        .map_err(|e| ClientError::Other(format!("the daemon's dispatch answer is not understood: {e}")))?;
    let (id, content) = (a2.task_id.as_str(), a2.content.as_deref().unwrap_or(""));
    match a2.status {
        TaskStatus::Queued if a.is_async => {
            if !c.json {
                println!("{id}");
            }
            Ok(())
        }
        TaskStatus::Completed => {
            if !c.json {
                println!("{content}");
            }
            Ok(())
        }
        TaskStatus::Queued | TaskStatus::Running => {
            Err(ClientError::Other(format!("task {id} is still running past the wait; see 'hive tasks {id}'")))
        }
        status => Err(ended_badly(id, status.as_str(), content)),
    }
}

/// What a sync or async dispatch answers.
#[derive(serde::Deserialize)]
struct DispatchAnswer {
    task_id: String,
    status: TaskStatus,
    #[serde(default)]
    content: Option<String>,
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
