//! An object whose handler is a program (`handler = "stdio"`): the JSON
//! lines it speaks (`docs/protocol-jsonl.md`, "Objects") and what the object
//! actor does with them. The process itself is the stdio agents' one
//! ([`ChildProcess`]: own process group, bounded lines, bounded event queue,
//! graceful stop, always reaped).
//!
//! Guarantees:
//! * requests go to the program only once it said `ready`, at most
//!   [`MAX_WAITING`] unanswered at a time (the rest wait in the mailbox);
//! * every request written is answered to its sender exactly once: by the
//!   program's `reply` or `error`, or with an error when the process ends;
//! * a state read never waits longer than [`STATE_DEADLINE`]: without an
//!   answer it gets the last state the program reported (`null` if none);
//!   at most [`MAX_STATE_ASKS`] reads ask the program at once, others get the
//!   last state at once;
//! * a bad line (not JSON, not a protocol line, too long) becomes a `log`
//!   event of the object and changes nothing else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::HiveError;
use crate::events::{EventKind, Level};
use crate::runtime::swarm::agent::process::protocol::{cut, log_level, text};
use crate::runtime::swarm::agent::process::{ChildEvent, ChildProcess, SpawnSpec};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::Message;
use crate::runtime::swarm::slot::ObjectSlot;

use super::ObjectMsg;

/// Requests written to the program and not yet answered, at most.
pub(crate) const MAX_WAITING: usize = 64;
/// How long a state read waits for the program's answer.
pub(crate) const STATE_DEADLINE: Duration = Duration::from_secs(2);
/// State reads asking the program at once, at most.
pub(crate) const MAX_STATE_ASKS: usize = 16;
/// How long the program has to exit after `shutdown` (then SIGTERM, SIGKILL);
/// within the objects supervisor's 5 s shutdown timeout.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(4);

/// Where a state read is answered.
pub(crate) type StateReply = RpcReplyPort<Result<Value, HiveError>>;

/// A line from the program.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromHandler {
    /// Up; takes requests from now on. May carry its first state.
    Ready {
        #[serde(default)]
        state: Option<Value>,
    },
    /// The answer to request `id`, for its sender.
    Reply {
        id: String,
        #[serde(default)]
        payload: Value,
    },
    /// Request `id` is refused; its sender gets `{"error": message}`.
    Error {
        id: String,
        #[serde(default)]
        message: String,
    },
    /// The object's state: the answer to state request `id`, or (no `id`)
    /// an update pushed by the program. Either way the runtime keeps it.
    State {
        #[serde(default)]
        id: Option<String>,
        state: Value,
    },
    /// A message to another agent or object, through the router.
    Send { to: String, payload: Value },
    /// A line for the event stream.
    Log {
        #[serde(default)]
        level: String,
        #[serde(default)]
        message: String,
    },
}

/// A line to the program.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ToHandler<'a> {
    /// A routed message: a request to answer, or (`reply`) the answer to
    /// one of the program's own sends, which needs none.
    Message {
        id: &'a str,
        from: &'a str,
        payload: &'a Value,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        reply: bool,
    },
    /// Asks for the state (answer: `state` with this `id`).
    State { id: &'a str },
    /// One of the program's sends was refused.
    Denied { to: &'a str, reason: &'a str },
}

impl ToHandler<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// What a stdout line is.
fn parse(line: &[u8]) -> Result<FromHandler, String> {
    serde_json::from_slice::<FromHandler>(line).map_err(|e| {
        let text = String::from_utf8_lossy(line);
        if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
            format!("ignored a line that is not an object protocol line ({e}): {}", cut(&text, 200))
        } else {
            format!("ignored a line that is not JSON: {}", cut(&text, 200))
        }
    })
}

/// What the object actor must do after a child event.
pub(crate) enum Step {
    /// Nothing.
    Nothing,
    /// Requests may be written now (ready, or room freed).
    Drain,
    /// The process is gone: the incarnation ends with this reason.
    Died { normal: bool, text: String },
}

/// One incarnation's program and its conversation.
pub(crate) struct ProgramObject {
    process: ChildProcess,
    ready: bool,
    next_id: u64,
    /// Requests written and not answered: id → sender.
    waiting: HashMap<String, Arc<str>>,
    /// The last state the program reported.
    state: Value,
    /// State reads waiting for the program: id → (caller, deadline timer).
    asks: HashMap<String, (StateReply, tokio::task::JoinHandle<()>)>,
}

impl ProgramObject {
    /// Starts the program `argv` (already permitted by `spawn_allow`);
    /// `ObjectMsg::ChildEvents` tells the actor its events wait.
    pub(crate) async fn spawn(
        ctx: &SwarmCtx,
        slot: &ObjectSlot,
        argv: &[String],
        myself: &ActorRef<ObjectMsg>,
    ) -> Result<Self, String> {
        let spec = slot.spec();
        let program = spec.program.unwrap_or_default();
        let mut env = vec![
            ("HIVE_SWARM".to_string(), ctx.swarm.to_string()),
            ("HIVE_OBJECT".to_string(), slot.name.to_string()),
            ("HIVE_OBJECT_CONFIG".to_string(), spec.config.to_string()),
        ];
        env.extend(program.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let me = myself.clone();
        let wake = Arc::new(move || {
            let _ = me.cast(ObjectMsg::ChildEvents);
        });
        let spawn = SpawnSpec {
            argv: argv.to_vec(),
            env,
            cwd: program.cwd.clone(),
            max_line_bytes: ctx.max_line_bytes,
            groups: ctx.groups.clone(),
        };
        // fork/exec can stall under CPU pressure: keep it off the async workers.
        let process = tokio::task::spawn_blocking(move || ChildProcess::spawn(spawn, wake))
            .await
            .map_err(|e| format!("spawning the process panicked: {e}"))??;
        slot.status.set_pid(process.pid());
        Ok(Self {
            process,
            ready: false,
            next_id: 0,
            waiting: HashMap::new(),
            state: Value::Null,
            asks: HashMap::new(),
        })
    }

    fn next_id(&mut self, prefix: char) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }

    /// Whether the program takes another request now.
    pub(crate) fn has_room(&self) -> bool {
        self.ready && self.waiting.len() < MAX_WAITING
    }

    /// Writes a routed message: a request (tracked until answered) or an
    /// answer to one of the program's sends.
    pub(crate) async fn message(&mut self, m: &Message) {
        let id = self.next_id('m');
        let payload = serde_json::from_str(&m.content).unwrap_or_else(|_| Value::String(m.content.to_string()));
        let line = ToHandler::Message { id: &id, from: &m.from, payload: &payload, reply: m.reply };
        if self.process.send_line(line.encode()).await && !m.reply {
            self.waiting.insert(id, m.from.clone());
        }
    }

    /// Tells the program a send was refused.
    pub(crate) async fn denied(&mut self, to: &str, reason: &str) {
        self.process.send_line(ToHandler::Denied { to, reason }.encode()).await;
    }

    /// A state read: asks the program (answered by its `state` line or, at
    /// the deadline, with the last state), or answers the last state now
    /// when the program is not ready or enough reads already wait.
    pub(crate) async fn ask_state(&mut self, myself: &ActorRef<ObjectMsg>, reply: StateReply) {
        if !self.ready || self.asks.len() >= MAX_STATE_ASKS {
            let _ = reply.send(Ok(self.state.clone()));
            return;
        }
        let id = self.next_id('s');
        if !self.process.send_line(ToHandler::State { id: &id }.encode()).await {
            let _ = reply.send(Ok(self.state.clone()));
            return;
        }
        let (me, key) = (myself.clone(), id.clone());
        let timer = tokio::spawn(async move {
            tokio::time::sleep(STATE_DEADLINE).await;
            let _ = me.cast(ObjectMsg::StateDeadline(key));
        });
        self.asks.insert(id, (reply, timer));
    }

    /// The deadline of state read `id` passed: it gets the last state.
    pub(crate) fn state_deadline(&mut self, ctx: &SwarmCtx, slot: &ObjectSlot, id: &str) {
        if let Some((reply, _)) = self.asks.remove(id) {
            let _ = reply.send(Ok(self.state.clone()));
            let message = format!(
                "the handler did not answer a state request within {} ms; the last state it reported was read",
                STATE_DEADLINE.as_millis()
            );
            ctx.emit(&slot.name, EventKind::Log { level: Level::Warning, message });
        }
    }

    /// Interprets one event of the child.
    pub(crate) fn on_event(&mut self, ctx: &SwarmCtx, slot: &ObjectSlot, e: ChildEvent) -> Step {
        let who = &slot.name;
        let warn = |message: String| ctx.emit(who, EventKind::Log { level: Level::Warning, message });
        match e {
            ChildEvent::Stdout(bytes) => match parse(&bytes) {
                Ok(line) => return self.on_line(ctx, slot, line),
                Err(why) => {
                    warn(why);
                }
            },
            ChildEvent::StdoutTooLong(n) => {
                let message =
                    format!("discarded a stdout line of {n} bytes (over max_line_bytes = {})", ctx.max_line_bytes);
                ctx.emit(who, EventKind::Log { level: Level::Error, message });
            }
            ChildEvent::Stderr(line) => {
                warn(line);
            }
            ChildEvent::StdoutClosed => {
                let _ = self.process.signal(nix::sys::signal::Signal::SIGKILL);
                return Step::Died {
                    normal: false,
                    text: "the process closed its stdout but kept running; killed".into(),
                };
            }
            ChildEvent::Exited(info) => {
                slot.status.set_pid(0);
                return Step::Died { normal: info.success(), text: format!("process {info}") };
            }
        }
        Step::Nothing
    }

    fn on_line(&mut self, ctx: &SwarmCtx, slot: &ObjectSlot, line: FromHandler) -> Step {
        let who = &slot.name;
        match line {
            FromHandler::Ready { state } => {
                if let Some(s) = state {
                    self.state = s;
                }
                if !self.ready {
                    self.ready = true;
                    slot.status.set_state(crate::runtime::swarm::slot::AgentState::Idle);
                    return Step::Drain;
                }
            }
            FromHandler::Reply { id, payload } => return self.answer(ctx, slot, &id, Ok(payload)),
            FromHandler::Error { id, message } => return self.answer(ctx, slot, &id, Err(message)),
            FromHandler::State { id, state } => {
                self.state = state;
                if let Some((reply, timer)) = id.and_then(|id| self.asks.remove(&id)) {
                    timer.abort();
                    let _ = reply.send(Ok(self.state.clone()));
                }
            }
            FromHandler::Send { to, payload } => {
                ctx.router.send(who.clone(), to.into(), text(payload).into());
            }
            FromHandler::Log { level, message } => {
                ctx.emit(who, EventKind::Log { level: log_level(&level), message });
            }
        }
        Step::Nothing
    }

    /// Answers request `id` to its sender.
    fn answer(&mut self, ctx: &SwarmCtx, slot: &ObjectSlot, id: &str, answer: Result<Value, String>) -> Step {
        let Some(to) = self.waiting.remove(id) else {
            let message = format!("ignored an answer to request '{}', which is not waiting", cut(id, 100));
            ctx.emit(&slot.name, EventKind::Log { level: Level::Warning, message });
            return Step::Nothing;
        };
        let (ok, body) = match answer {
            Ok(v) => (true, v),
            Err(message) => (false, json!({"error": message})),
        };
        reply(ctx, slot, to, ok, body);
        Step::Drain
    }

    /// The incarnation ends: every request written gets an error, every
    /// state read the last state.
    pub(crate) fn abandon(&mut self, ctx: &SwarmCtx, slot: &ObjectSlot, why: &str) {
        for (_, to) in self.waiting.drain() {
            reply(
                ctx,
                slot,
                to,
                false,
                json!({"error": format!("the object's handler ended before answering: {why}")}),
            );
        }
        for (_, (r, timer)) in self.asks.drain() {
            timer.abort();
            let _ = r.send(Ok(self.state.clone()));
        }
    }

    /// Graceful stop (`shutdown`, then SIGTERM, then SIGKILL).
    pub(crate) async fn stop(&mut self, ctx: &SwarmCtx, slot: &ObjectSlot) {
        self.abandon(ctx, slot, "the object was stopped");
        let exit = self.process.stop(STOP_TIMEOUT).await;
        slot.status.set_pid(0);
        let message = match exit {
            Some(info) => format!("process {info}"),
            None => "process did not exit after SIGKILL".into(),
        };
        ctx.emit(&slot.name, EventKind::Log { level: Level::Info, message });
    }

    /// Takes up to `max` of the child's waiting events, in order.
    pub(crate) fn take_events(&mut self, max: usize) -> Vec<ChildEvent> {
        self.process.take_events(max)
    }
}

fn reply(ctx: &SwarmCtx, slot: &ObjectSlot, to: Arc<str>, ok: bool, body: Value) {
    slot.status.task_done(ok);
    ctx.emit(&slot.name, EventKind::ObjectReplied { to: to.clone(), ok });
    ctx.router.reply(slot.name.clone(), to, body.to_string().into());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_handler_line_and_names_what_is_wrong_with_a_bad_one() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(p(r#"{"type":"ready","x":1}"#), Ok(FromHandler::Ready { state: None }));
        assert!(matches!(p(r#"{"type":"reply","id":"m1","payload":{"n":1}}"#), Ok(FromHandler::Reply { .. })));
        assert!(matches!(p(r#"{"type":"error","id":"m1","message":"no"}"#), Ok(FromHandler::Error { .. })));
        assert!(matches!(p(r#"{"type":"state","state":3}"#), Ok(FromHandler::State { id: None, .. })));
        assert!(matches!(p(r#"{"type":"send","to":"b","payload":"x"}"#), Ok(FromHandler::Send { .. })));
        assert!(matches!(p(r#"{"type":"log","message":"m"}"#), Ok(FromHandler::Log { .. })));
        assert!(p(r#"{"type":"result","id":"1"}"#).is_err_and(|e| e.contains("not an object protocol line")));
        assert!(p("hello").is_err_and(|e| e.contains("not JSON: hello")));
    }

    #[test]
    fn encodes_lines_with_a_newline_and_marks_only_answers_as_replies() {
        let payload = json!({"op": "add"});
        let l = ToHandler::Message { id: "m1", from: "a", payload: &payload, reply: false }.encode();
        assert_eq!(l, b"{\"type\":\"message\",\"id\":\"m1\",\"from\":\"a\",\"payload\":{\"op\":\"add\"}}\n");
        let l = ToHandler::Message { id: "m2", from: "kv", payload: &payload, reply: true }.encode();
        assert!(String::from_utf8(l).unwrap().contains("\"reply\":true"));
        assert_eq!(ToHandler::State { id: "s1" }.encode(), b"{\"type\":\"state\",\"id\":\"s1\"}\n");
    }
}
