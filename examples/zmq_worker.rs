//! A fast reference worker for Hive's ZeroMQ worker gateway (protocol: `docs/protocol-zmq.md`).
//!
//! One process runs `--workers N` workers, ids `ID-1` .. `ID-N`, each with its own DEALER socket
//! (identity = worker id) and its own tokio task. Each sends `ready` (capabilities, slots, token)
//! once, a `heartbeat` every `--heartbeat-ms`, and answers every `task` with `--tokens K` `token`
//! messages (pieces of the prompt that concatenate to it) and then a `result` whose content is the
//! prompt (echo), `status` `ok`. With `--delay-ms D` a task stays in flight D ms before it is
//! answered; at most `--slots` tasks are in flight per worker, the others wait in arrival order.
//! `cancel` drops a task still in flight or waiting and answers `error` `cancelled` (a cancel for
//! a task that is not here gets a `debug` `log`); a task that does not decode gets `error`
//! `unusable task: ...`; `rejected` prints the reason on stderr and exits the process with status
//! 3; SIGINT/SIGTERM fail the tasks in flight (`worker shutting down`) and exit 0.
//!
//! Speed: every wake-up drains the socket without blocking (up to `BATCH` messages), handles the
//! whole batch, then writes every answer straight to the socket, awaiting only when its send
//! queue is full. Payloads are msgpack maps encoded with `rmp_serde::to_vec_named`.
//!
//! Run it against a gateway (`hive serve` binds `tcp://127.0.0.1:5555` by default):
//!
//! ```sh
//! cargo run --release -- serve &
//! cargo run --release --example zmq_worker -- --connect tcp://127.0.0.1:5555 --id bench --workers 4
//! cargo run --release --example zmq_worker -- --id w --workers 1 --slots 8 --tokens 3 --delay-ms 200 \
//!     --capabilities echo,gpu --token "$HIVE_TOKEN"
//! ```

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use futures::{SinkExt, StreamExt};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use tmq::{AsZmqSocket, Multipart};
use tokio::time::Instant;

/// Most messages read from a socket in one go before the answers are written.
const BATCH: usize = 1024;
/// Send and receive queue bounds per socket (messages).
const HWM: i32 = 100_000;
const EXIT_REJECTED: i32 = 3;

#[derive(Parser, Debug, Clone)]
#[command(about = "Reference ZeroMQ worker for the Hive gateway (echo)")]
struct Args {
    /// Gateway ROUTER endpoint.
    #[arg(long, default_value = "tcp://127.0.0.1:5555")]
    connect: String,
    /// Worker id prefix: the workers are ID-1 .. ID-N.
    #[arg(long, default_value = "rs")]
    id: String,
    /// Workers (DEALER sockets) in this process.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    workers: u32,
    /// Tasks in flight per worker (sent in `ready`).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    slots: u32,
    /// Comma-separated capabilities.
    #[arg(long, default_value = "echo")]
    capabilities: String,
    /// `token` messages sent before each `result`.
    #[arg(long, default_value_t = 0)]
    tokens: u32,
    /// Auth token sent in `ready`.
    #[arg(long)]
    token: Option<String>,
    /// Heartbeat period in ms (0: none).
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// How long a task stays in flight before it is answered, in ms.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// `plain`: `[payload]`; `empty`: `["", payload]`.
    #[arg(long, value_enum, default_value_t = Framing::Plain)]
    framing: Framing,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Plain,
    Empty,
}

/// A task id as the gateway sent it: a string or an integer, echoed back the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
enum TaskId {
    Str(String),
    UInt(u64),
    Int(i64),
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Str(s) => write!(f, "{s:?}"),
            TaskId::UInt(n) => write!(f, "{n}"),
            TaskId::Int(n) => write!(f, "{n}"),
        }
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TaskId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TaskId, E> {
                Ok(TaskId::Str(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TaskId, E> {
                Ok(TaskId::UInt(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TaskId, E> {
                Ok(u64::try_from(v).map(TaskId::UInt).unwrap_or(TaskId::Int(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the worker reads from a gateway message; other fields are skipped.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    task_id: Option<TaskId>,
    #[serde(borrow)]
    prompt: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
}

/// Messages to the gateway: one msgpack map each, `type` first.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Out<'a> {
    Ready {
        worker_id: &'a str,
        capabilities: &'a [String],
        slots: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
    },
    Heartbeat {
        worker_id: &'a str,
    },
    Token {
        task_id: &'a TaskId,
        content: &'a str,
    },
    Result {
        task_id: &'a TaskId,
        content: &'a str,
        status: &'a str,
    },
    Error {
        task_id: &'a TaskId,
        message: &'a str,
    },
    Log {
        level: &'a str,
        message: &'a str,
    },
}

struct InFlight {
    seq: u64,
    prompt: String,
}

struct Worker {
    id: String,
    args: Args,
    capabilities: Vec<String>,
    delay: Duration,
    /// Encoded payloads waiting to be written.
    out: Vec<Vec<u8>>,
    in_flight: HashMap<TaskId, InFlight>,
    /// (when it is due, seq, id) in start order, which is due order as the delay is fixed;
    /// entries whose seq no longer matches `in_flight` are stale (cancelled).
    due: VecDeque<(Instant, u64, TaskId)>,
    waiting: VecDeque<(TaskId, String)>,
    seq: u64,
}

impl Worker {
    fn new(id: String, args: Args) -> Self {
        let capabilities = args.capabilities.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from);
        Worker {
            id,
            capabilities: capabilities.collect(),
            delay: Duration::from_millis(args.delay_ms),
            args,
            out: Vec::with_capacity(BATCH),
            in_flight: HashMap::new(),
            due: VecDeque::new(),
            waiting: VecDeque::new(),
            seq: 0,
        }
    }

    fn push(&mut self, msg: &Out<'_>) {
        match rmp_serde::to_vec_named(msg) {
            Ok(bytes) => self.out.push(bytes),
            Err(e) => eprintln!("zmq_worker {}: cannot encode a message: {e}", self.id),
        }
    }

    fn log(&mut self, level: &str, message: &str) {
        self.push(&Out::Log { level, message });
    }

    fn ready(&mut self) {
        let (id, caps, token) = (self.id.clone(), self.capabilities.clone(), self.args.token.clone());
        self.push(&Out::Ready { worker_id: &id, capabilities: &caps, slots: self.args.slots, token: token.as_deref() });
        let text = format!(
            "worker {} connected to {}: capabilities={} slots={} tokens={} delay_ms={}",
            self.id, self.args.connect, self.args.capabilities, self.args.slots, self.args.tokens, self.args.delay_ms
        );
        self.log("info", &text);
    }

    fn heartbeat(&mut self) {
        let id = std::mem::take(&mut self.id);
        self.push(&Out::Heartbeat { worker_id: &id });
        self.id = id;
    }

    /// Handles one received multipart (`[payload]` or `["", payload]`).
    fn handle_frames<B: AsRef<[u8]>>(&mut self, frames: &[B], now: Instant) {
        let payload = match frames {
            [p] => p.as_ref(),
            [e, p] if e.as_ref().is_empty() => p.as_ref(),
            _ => {
                self.log("warning", &format!("expected one payload frame, got {} frames", frames.len()));
                return;
            }
        };
        let msg: Incoming<'_> = match rmp_serde::from_slice(payload) {
            Ok(m) => m,
            Err(e) => {
                // A task whose fields do not decode (say a prompt that is not a string) still gets
                // an answer, so that the gateway does not wait for it.
                #[derive(Deserialize)]
                struct TaskOnly {
                    #[serde(rename = "type")]
                    kind: String,
                    task_id: TaskId,
                }
                match rmp_serde::from_slice::<TaskOnly>(payload) {
                    Ok(t) if t.kind == "task" => {
                        self.push(&Out::Error { task_id: &t.task_id, message: &format!("unusable task: {e}") })
                    }
                    _ => self.log("warning", &format!("unusable payload of {} bytes: {e}", payload.len())),
                }
                return;
            }
        };
        match (msg.kind.as_ref(), msg.task_id) {
            ("task", Some(task_id)) => match msg.prompt {
                Some(prompt) => self.on_task(task_id, prompt, now),
                None => self.push(&Out::Error { task_id: &task_id, message: "task has no prompt" }),
            },
            ("cancel", Some(task_id)) => self.on_cancel(task_id),
            ("rejected", _) if msg.reason.as_deref().is_some_and(|r| r.contains("not registered")) => {
                // The gateway restarted, or declared this worker dead: register again.
                eprintln!("zmq_worker {}: registering again", self.id);
                self.ready();
            }
            ("rejected", _) => {
                eprintln!("zmq_worker {}: rejected: {}", self.id, msg.reason.as_deref().unwrap_or(""));
                std::process::exit(EXIT_REJECTED);
            }
            (kind @ ("task" | "cancel"), None) => self.log("warning", &format!("{kind} without a task_id")),
            (kind, _) => self.log("warning", &format!("unknown message type {kind:?}")),
        }
    }

    fn on_task(&mut self, task_id: TaskId, prompt: Cow<'_, str>, now: Instant) {
        if self.delay.is_zero() {
            self.answer(&task_id, &prompt);
        } else if self.in_flight.contains_key(&task_id) || self.waiting.iter().any(|(id, _)| *id == task_id) {
            self.log("warning", &format!("task {task_id} is already here, duplicate ignored"));
        } else if self.in_flight.len() < self.args.slots as usize {
            self.start(task_id, prompt.into_owned(), now);
        } else {
            self.waiting.push_back((task_id, prompt.into_owned()));
        }
    }

    fn start(&mut self, task_id: TaskId, prompt: String, now: Instant) {
        self.seq += 1;
        self.due.push_back((now + self.delay, self.seq, task_id.clone()));
        self.in_flight.insert(task_id, InFlight { seq: self.seq, prompt });
    }

    fn on_cancel(&mut self, task_id: TaskId) {
        let found = if self.in_flight.remove(&task_id).is_some() {
            self.start_waiting(Instant::now());
            true
        } else if let Some(i) = self.waiting.iter().position(|(id, _)| *id == task_id) {
            self.waiting.remove(i);
            true
        } else {
            false
        };
        if found {
            self.push(&Out::Error { task_id: &task_id, message: "cancelled" });
        } else {
            self.log("debug", &format!("cancel for task {task_id}, which is not here"));
        }
    }

    fn start_waiting(&mut self, now: Instant) {
        while self.in_flight.len() < self.args.slots as usize {
            match self.waiting.pop_front() {
                Some((id, prompt)) => self.start(id, prompt, now),
                None => break,
            }
        }
    }

    /// `--tokens` pieces of the prompt (cut on char boundaries, together exactly the prompt), then
    /// the result.
    fn answer(&mut self, task_id: &TaskId, prompt: &str) {
        let k = self.args.tokens as usize;
        let mut start = 0;
        for i in 1..=k {
            let mut end = prompt.len() * i / k;
            while !prompt.is_char_boundary(end) {
                end += 1;
            }
            self.push(&Out::Token { task_id, content: &prompt[start..end] });
            start = end;
        }
        self.push(&Out::Result { task_id, content: prompt, status: "ok" });
    }

    /// Answers every in-flight task whose time has come.
    fn run_due(&mut self, now: Instant) {
        while self.due.front().is_some_and(|(when, _, _)| *when <= now) {
            let Some((_, seq, task_id)) = self.due.pop_front() else { break };
            if self.in_flight.get(&task_id).is_some_and(|t| t.seq == seq) {
                let task = self.in_flight.remove(&task_id).expect("checked above");
                self.answer(&task_id, &task.prompt);
            }
        }
        self.start_waiting(now);
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.front().map(|(when, _, _)| *when)
    }

    fn shut_down(&mut self) {
        let ids: Vec<TaskId> =
            self.in_flight.drain().map(|(id, _)| id).chain(self.waiting.drain(..).map(|(id, _)| id)).collect();
        for task_id in &ids {
            self.push(&Out::Error { task_id, message: "worker shutting down" });
        }
        self.log("info", &format!("worker {} stopping ({} tasks abandoned)", self.id, ids.len()));
    }

    /// Writes every pending payload: straight to the socket while it takes them, through the
    /// async sink (which waits for room) when its queue is full.
    async fn flush(&mut self, sock: &mut tmq::dealer::Dealer) -> tmq::Result<()> {
        let empty = self.args.framing == Framing::Empty;
        for payload in self.out.drain(..) {
            let s = sock.get_socket();
            let sent = if empty {
                s.send_multipart([&b""[..], &payload[..]], zmq::DONTWAIT)
            } else {
                s.send(&payload[..], zmq::DONTWAIT)
            };
            match sent {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => {
                    let frames = if empty { vec![Vec::new(), payload] } else { vec![payload] };
                    sock.send(Multipart::from(frames)).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

async fn run_worker(
    ctx: tmq::Context,
    id: String,
    args: Args,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tmq::Result<()> {
    let mut sock = tmq::dealer(&ctx)
        .set_identity(id.as_bytes())
        .set_linger(1000)
        .set_sndhwm(HWM)
        .set_rcvhwm(HWM)
        .connect(&args.connect)?;
    let heartbeat_ms = args.heartbeat_ms;
    let mut w = Worker::new(id, args);
    w.ready();
    w.flush(&mut sock).await?;
    let period = Duration::from_millis(heartbeat_ms.max(1));
    let mut beat = tokio::time::interval_at(Instant::now() + period, period);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let due = w.next_due();
        tokio::select! {
            _ = stop.changed() => {
                w.shut_down();
                w.flush(&mut sock).await?;
                return Ok(());
            }
            msg = sock.next() => {
                let now = Instant::now();
                match msg {
                    Some(Ok(frames)) => {
                        let frames: Vec<&[u8]> = frames.iter().map(|m| &m[..]).collect();
                        w.handle_frames(&frames, now);
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                }
                // Drain what else is already there, without waiting.
                for _ in 1..BATCH {
                    match sock.get_socket().recv_multipart(zmq::DONTWAIT) {
                        Ok(frames) => w.handle_frames(&frames, now),
                        Err(zmq::Error::EAGAIN) => break,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            _ = beat.tick(), if heartbeat_ms > 0 => w.heartbeat(),
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                w.run_due(Instant::now());
            }
        }
        w.flush(&mut sock).await?;
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let ctx = tmq::Context::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut workers = tokio::task::JoinSet::new();
    for i in 1..=args.workers {
        let id = format!("{}-{i}", args.id);
        let (ctx, args, stop) = (ctx.clone(), args.clone(), stop_rx.clone());
        workers.spawn(async move {
            if let Err(e) = run_worker(ctx, id.clone(), args, stop).await {
                eprintln!("zmq_worker {id}: {e}");
                return false;
            }
            true
        });
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let mut ok = true;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        r = workers.join_next() => ok = matches!(r, Some(Ok(true))),
    }
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(r) = workers.join_next().await {
            ok &= matches!(r, Ok(true));
        }
    });
    if drained.await.is_ok() {
        // Every socket is closed: this waits (up to their linger) until their last messages are out.
        drop(ctx);
    } else {
        ok = false;
    }
    std::process::exit(if ok { 0 } else { 1 });
}
