//! A tiny, fast stdio agent for the benchmarks in `benches/stdio.rs` (std and
//! `serde_json` only; it does not use the `hive` library).
//!
//! It speaks the JSONL protocol (docs/protocol-jsonl.md) as cheaply as it can:
//!
//! - at start-up it prints `{"type":"ready"}` and flushes;
//! - for a `task` whose `content` is a number `N` (a JSON number or a string
//!   such as `"100000"`) it prints `N` lines `{"type":"token","id":..,"content":"x"}`
//!   into a 64 KiB buffer, then `{"type":"result","id":..,"content":"N"}`, and
//!   flushes once at the end (stdout goes out in 64 KiB writes, not line by
//!   line: the point is to measure the runtime's side of the pipe). A task
//!   whose content is not a number gets no tokens and its content back;
//! - `shutdown` or end of stdin: exits 0. Every other line is ignored.
//!
//! It does not read stdin while it floods, so a `cancel` is only seen after
//! the task's result: fine for a benchmark, not for a real agent.
//!
//! Build: `cargo build --release --example flood_agent`.
//! Try: `echo '{"type":"task","id":"t","content":"3"}' | target/release/examples/flood_agent`

use std::io::{self, BufRead, BufWriter, Write};

use serde_json::Value;

const TOKEN_HEAD: &[u8] = b"{\"type\":\"token\",\"id\":";
const TOKEN_TAIL: &[u8] = b",\"content\":\"x\"}\n";

fn main() {
    // An error here means stdout or stdin is gone: the runtime no longer
    // listens, so there is nobody to report to. Exit quietly either way.
    let _ = serve();
}

fn serve() -> io::Result<()> {
    let mut out = BufWriter::with_capacity(64 << 10, io::stdout().lock());
    out.write_all(b"{\"type\":\"ready\"}\n")?;
    out.flush()?;
    let mut input = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(()); // end of stdin
        }
        let Ok(msg) = serde_json::from_slice::<Value>(&line) else { continue };
        match msg.get("type").and_then(Value::as_str) {
            Some("task") => task(&mut out, &msg)?,
            Some("shutdown") => return Ok(()),
            _ => {}
        }
    }
}

/// Answers one task: `N` tokens, then the result, then one flush.
fn task(out: &mut impl Write, msg: &Value) -> io::Result<()> {
    let id = serde_json::to_vec(msg.get("id").unwrap_or(&Value::Null))?;
    let content = msg.get("content").cloned().unwrap_or(Value::Null);
    let count = match &content {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    for _ in 0..count.unwrap_or(0) {
        out.write_all(TOKEN_HEAD)?;
        out.write_all(&id)?;
        out.write_all(TOKEN_TAIL)?;
    }
    let result = match (count, content) {
        (Some(n), _) => Value::String(n.to_string()),
        (None, Value::String(s)) => Value::String(s),
        (None, other) => Value::String(other.to_string()),
    };
    out.write_all(b"{\"type\":\"result\",\"id\":")?;
    out.write_all(&id)?;
    out.write_all(b",\"content\":")?;
    serde_json::to_writer(&mut *out, &result)?;
    out.write_all(b"}\n")?;
    out.flush()
}
