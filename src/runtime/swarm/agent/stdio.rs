//! The `stdio` backend: an agent incarnation's OS process and the JSONL
//! conversation with it. The incarnation lives exactly as long as its
//! process: when the process exits, the agent actor exits with the exit code
//! or signal as its reason and the supervisor decides (restart type, backoff,
//! intensity).

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use ractor::ActorRef;

use super::process::protocol::{FromChild, Parsed, ToChild, cut, log_level, parse, text};
use super::process::{ChildEvent, ChildProcess, ExitInfo, SpawnSpec, launch};
use crate::config::{BackendSpec, StdioSpec};
use crate::events::{EventKind, Level, OutputKind};
use crate::runtime::swarm::agent::AgentMsg;
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Message, Task};
use crate::runtime::swarm::slot::AgentSlot;
use crate::task::{FailCode, TaskEnd};

/// What a child's line means for the agent.
pub(crate) enum Step {
    /// Nothing for the agent to do.
    Nothing,
    /// The child is ready for tasks.
    Ready,
    /// A token of the task with this id.
    Token(Arc<str>, String),
    /// The current task ended (result or error).
    Finished(TaskEnd),
    /// The process is gone (or useless): the incarnation must end.
    Died(ExitReasonText),
}

/// Why the process ended, and whether that counts as a normal exit.
pub(crate) struct ExitReasonText {
    /// Normal (exit code 0) or not.
    pub(crate) normal: bool,
    /// Human text: "process exited with code 3".
    pub(crate) text: String,
}

/// The environment Hive gives a child.
pub(crate) fn child_env(ctx: &SwarmCtx, slot: &AgentSlot, spec: &StdioSpec) -> Vec<(String, String)> {
    let mut env = vec![
        ("HIVE_SWARM".to_string(), ctx.swarm.to_string()),
        ("HIVE_AGENT".to_string(), slot.name.to_string()),
        ("HIVE_SKILLS".to_string(), slot.spec.skills.join(":")),
        ("HIVE_MODEL".to_string(), slot.spec.model.clone().unwrap_or_default()),
    ];
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// A stdio agent's process and protocol state.
pub(crate) struct StdioBackend {
    process: ChildProcess,
    messages: u64,
}

impl StdioBackend {
    /// Spawns the agent's process; `AgentMsg::ChildEvents` tells the agent
    /// its events wait ([`take_events`](Self::take_events)).
    pub(crate) async fn spawn(
        ctx: &SwarmCtx,
        slot: &AgentSlot,
        incarnation: u32,
        myself: &ActorRef<AgentMsg>,
    ) -> Result<Self, String> {
        let BackendSpec::Stdio(spec) = &slot.spec.backend else {
            return Err("not a stdio agent".into());
        };
        let env = child_env(ctx, slot, spec);
        let container = format!("hive-{}-{}-{incarnation}", ctx.swarm, slot.name);
        let (argv, local_env) = launch::argv(spec, &env, &container);
        let me = myself.clone();
        let wake = Arc::new(move || {
            let _ = me.cast(AgentMsg::ChildEvents);
        });
        let spawn = SpawnSpec {
            argv,
            env: if local_env { env } else { Vec::new() },
            cwd: spec.cwd.clone(),
            max_line_bytes: ctx.max_line_bytes,
            groups: ctx.groups.clone(),
        };
        // fork/exec can stall under CPU pressure: keep it off the async workers.
        let process = tokio::task::spawn_blocking(move || ChildProcess::spawn(spawn, wake))
            .await
            .map_err(|e| format!("spawning the process panicked: {e}"))??;
        slot.status.set_pid(process.pid());
        Ok(Self { process, messages: 0 })
    }

    /// Takes up to `max` of the child's waiting events, in order.
    pub(crate) fn take_events(&mut self, max: usize) -> Vec<ChildEvent> {
        self.process.take_events(max)
    }

    /// Hands a task to the child.
    pub(crate) async fn start(&self, task: &Task, model: Option<&str>) -> bool {
        let line = ToChild::Task { id: &task.id, content: &task.content, from: &task.from, model };
        self.process.send(&line).await
    }

    /// Delivers a routed message.
    pub(crate) async fn message(&mut self, m: &Message) -> bool {
        self.messages += 1;
        let id = format!("m{}", self.messages);
        self.process.send(&ToChild::Message { id: &id, from: &m.from, content: &m.content }).await
    }

    /// Tells the child a send was refused.
    pub(crate) async fn denied(&self, to: &str, reason: &str) -> bool {
        self.process.send(&ToChild::Denied { to, reason }).await
    }

    /// Tells the child to stop working on a task.
    pub(crate) async fn cancel(&self, id: &str) -> bool {
        self.process.send(&ToChild::Cancel { id }).await
    }

    /// SIGSTOP / SIGCONT to the process group.
    pub(crate) fn pause(&self, pause: bool) -> Result<(), String> {
        self.process.signal(if pause { Signal::SIGSTOP } else { Signal::SIGCONT })
    }

    /// Graceful stop within `timeout`; returns how the process ended.
    pub(crate) async fn stop(&mut self, timeout: Duration) -> Option<ExitInfo> {
        self.process.stop(timeout).await
    }

    /// Interprets one event of the child.
    pub(crate) fn on_event(&mut self, ctx: &SwarmCtx, slot: &AgentSlot, current: Option<&Task>, e: ChildEvent) -> Step {
        let who = &slot.name;
        match e {
            ChildEvent::Stdout(bytes) => self.on_stdout(ctx, slot, current, parse(&bytes)),
            ChildEvent::StdoutTooLong(n) => {
                let message =
                    format!("discarded a stdout line of {n} bytes (over max_line_bytes = {})", ctx.max_line_bytes);
                ctx.emit(who, EventKind::Log { level: Level::Error, message });
                Step::Nothing
            }
            ChildEvent::Stderr(line) => {
                ctx.emit(who, EventKind::Log { level: Level::Warning, message: line });
                Step::Nothing
            }
            ChildEvent::StdoutClosed => {
                let _ = self.process.signal(Signal::SIGKILL);
                Step::Died(ExitReasonText {
                    normal: false,
                    text: "the process closed its stdout but kept running; killed".into(),
                })
            }
            ChildEvent::Exited(info) => {
                slot.status.set_pid(0);
                Step::Died(ExitReasonText { normal: info.success(), text: format!("process {info}") })
            }
        }
    }

    fn on_stdout(&mut self, ctx: &SwarmCtx, slot: &AgentSlot, current: Option<&Task>, line: Parsed) -> Step {
        let who = &slot.name;
        match line {
            Parsed::Line(line) => self.on_line(ctx, slot, current, line),
            Parsed::Raw(text) => {
                ctx.emit(
                    who,
                    EventKind::AgentOutput {
                        task_id: current.map(|t| t.id.clone()),
                        output: OutputKind::Raw,
                        content: text,
                    },
                );
                Step::Nothing
            }
            Parsed::Invalid(why) => {
                ctx.emit(who, EventKind::Log { level: Level::Warning, message: why });
                Step::Nothing
            }
        }
    }

    fn on_line(&mut self, ctx: &SwarmCtx, slot: &AgentSlot, current: Option<&Task>, line: FromChild) -> Step {
        let who = &slot.name;
        let is_current = |id: &str| current.is_some_and(|t| &*t.id == id);
        match line {
            FromChild::Ready { .. } => return Step::Ready,
            FromChild::Token { id, content } => {
                let task_id = current.filter(|t| *t.id == *id).map(|t| t.id.clone()).unwrap_or_else(|| id.into());
                return Step::Token(task_id, text(content));
            }
            FromChild::Result { id, content } if is_current(&id) => {
                return Step::Finished(TaskEnd::Completed { content: text(content) });
            }
            FromChild::Error { id, message, code } if is_current(&id) => {
                let code = code.as_deref().map_or(FailCode::AgentError, FailCode::reported);
                return Step::Finished(TaskEnd::Failed { code, message });
            }
            FromChild::Result { id, .. } | FromChild::Error { id, .. } => {
                let message = format!("ignored an answer for task '{}', which is not running", cut(&id, 100));
                ctx.emit(who, EventKind::Log { level: Level::Warning, message });
            }
            FromChild::Send { to, content } => ctx.router.send(who.clone(), to.into(), text(content).into()),
            FromChild::Broadcast { content } => ctx.router.broadcast(who.clone(), text(content).into()),
            FromChild::Log { level, message } => {
                ctx.emit(who, EventKind::Log { level: log_level(&level), message });
            }
            FromChild::Status { state } => {
                let state = text(state);
                slot.status.set_detail(Some(cut(&state, 200).to_string()));
            }
        }
        Step::Nothing
    }
}
