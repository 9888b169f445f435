//! Endpoint slots: what belongs to an agent or object across incarnations —
//! its spec, its mailbox, its published status and its recent history.
//!
//! The swarm actor creates a slot when the endpoint is added and drops it
//! when the endpoint is removed; each incarnation of the actor gets the same
//! slot. Status fields are atomics the incarnation writes and anyone reads,
//! so reading an agent's status never waits behind the work it is doing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ractor::ActorCell;
use serde::Serialize;
use serde_json::Value;

use crate::config::{AgentSpec, ObjectSpec};
use crate::events::now_ms;
use crate::objects::ObjectKind;
use crate::runtime::swarm::mailbox::Mailbox;

/// Entries kept in an agent's history.
pub(crate) const HISTORY_CAPACITY: usize = 200;

/// The lifecycle state of an agent, as shown in its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum AgentState {
    /// Being started.
    Starting = 0,
    /// Ready for work.
    Idle = 1,
    /// Working on a task.
    Busy = 2,
    /// Paused (its process is stopped).
    Paused = 3,
    /// Exited; a restart follows.
    Restarting = 4,
    /// Stopped for good.
    Stopped = 5,
}

impl AgentState {
    /// Every state, in the order of their numbers.
    pub const ALL: [AgentState; 6] =
        [Self::Starting, Self::Idle, Self::Busy, Self::Paused, Self::Restarting, Self::Stopped];

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Starting,
            1 => Self::Idle,
            2 => Self::Busy,
            3 => Self::Paused,
            4 => Self::Restarting,
            _ => Self::Stopped,
        }
    }

    /// The word shown in status and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Stopped => "stopped",
        }
    }
}

/// Counters and state published by an endpoint's incarnations.
#[derive(Default)]
pub struct StatusCell {
    state: AtomicU8,
    incarnations: AtomicU32,
    last_activity_ms: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    received: AtomicU64,
    pid: AtomicU32,
    detail: Mutex<Option<String>>,
}

impl StatusCell {
    /// Sets the state and marks activity.
    pub fn set_state(&self, s: AgentState) {
        self.state.store(s as u8, Ordering::Relaxed);
        self.touch();
    }
    /// The current state.
    pub fn state(&self) -> AgentState {
        AgentState::from_u8(self.state.load(Ordering::Relaxed))
    }
    /// Marks activity now.
    pub fn touch(&self) {
        self.last_activity_ms.store(now_ms(), Ordering::Relaxed);
    }
    /// Counts a new incarnation; returns its number (0 for the first).
    pub fn new_incarnation(&self) -> u32 {
        self.incarnations.fetch_add(1, Ordering::Relaxed)
    }
    /// Restarts so far (incarnations after the first).
    pub fn restarts(&self) -> u32 {
        self.incarnations.load(Ordering::Relaxed).saturating_sub(1)
    }
    /// Counts a finished task.
    pub fn task_done(&self, ok: bool) {
        if ok { &self.completed } else { &self.failed }.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }
    /// Records the OS process id of the current incarnation (0: none).
    pub fn set_pid(&self, pid: u32) {
        self.pid.store(pid, Ordering::Relaxed);
    }
    /// The OS process id of the current incarnation, if it runs one.
    pub fn pid(&self) -> Option<u32> {
        Some(self.pid.load(Ordering::Relaxed)).filter(|p| *p != 0)
    }
    /// Sets the free-form state an agent reported (`status` line).
    pub fn set_detail(&self, d: Option<String>) {
        *self.detail.lock().unwrap_or_else(|p| p.into_inner()) = d;
    }
    /// The free-form state an agent reported.
    pub fn detail(&self) -> Option<String> {
        self.detail.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// Counts a received message.
    pub fn message_received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    /// Messages received so far.
    pub fn messages_received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
    /// Last activity, ms since the epoch (0: never).
    pub fn last_activity_ms(&self) -> u64 {
        self.last_activity_ms.load(Ordering::Relaxed)
    }
    /// Tasks completed and failed.
    pub fn task_counts(&self) -> (u64, u64) {
        (self.completed.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

/// One entry of an agent's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// When (ms since the epoch).
    pub timestamp_ms: u64,
    /// `task`, `message`, `reply`, `denied`, `result`, `error`.
    pub kind: &'static str,
    /// The other party (sender, target, or the task id).
    pub peer: Arc<str>,
    /// The content.
    pub content: Arc<str>,
}

/// Everything that outlives one incarnation of an agent.
pub struct AgentSlot {
    /// The agent's name (a member's name for group members).
    pub name: Arc<str>,
    /// The group it belongs to.
    pub group: Option<Arc<str>>,
    /// Its spec (for members: the group's spec).
    pub spec: Arc<AgentSpec>,
    /// Its mailbox.
    pub mailbox: Arc<Mailbox>,
    /// Its published status.
    pub status: StatusCell,
    /// The running incarnation, if any (the agent module knows its message
    /// type: `agent::actor_of`).
    pub actor: Mutex<Option<ActorCell>>,
    /// Set once the agent will never run again (exited without restart,
    /// removed, its swarm gone): it refuses new tasks.
    pub retired: std::sync::atomic::AtomicBool,
    /// Paused by request; survives restarts (a new incarnation starts paused).
    pub paused: std::sync::atomic::AtomicBool,
    history: Mutex<VecDeque<HistoryEntry>>,
}

impl AgentSlot {
    /// A fresh slot.
    pub fn new(name: Arc<str>, group: Option<Arc<str>>, spec: Arc<AgentSpec>, mailbox_capacity: usize) -> Self {
        Self {
            name,
            group,
            spec,
            mailbox: Arc::new(Mailbox::new(mailbox_capacity)),
            status: StatusCell::default(),
            actor: Mutex::new(None),
            retired: Default::default(),
            paused: Default::default(),
            history: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether the agent will never run again.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
    }

    /// The running incarnation's cell, if any.
    pub fn cell(&self) -> Option<ActorCell> {
        self.actor.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Appends to the bounded history and marks activity (one clock read).
    pub fn remember(&self, kind: &'static str, peer: Arc<str>, content: Arc<str>) {
        let timestamp_ms = now_ms();
        self.status.last_activity_ms.store(timestamp_ms, Ordering::Relaxed);
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() == HISTORY_CAPACITY {
            h.pop_front();
        }
        h.push_back(HistoryEntry { timestamp_ms, kind, peer, content });
    }

    /// The last `limit` history entries, oldest first.
    pub fn history(&self, limit: usize) -> Vec<HistoryEntry> {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        h.iter().skip(h.len().saturating_sub(limit)).cloned().collect()
    }
}

/// What handles an object's requests.
#[derive(Clone)]
pub enum ObjectImpl {
    /// A registered kind, in process.
    Kind(Arc<dyn ObjectKind>),
    /// A program speaking JSON lines: the argv `spawn_allow` permitted
    /// (checked once, when the object was added or its swarm started).
    Program(Arc<[String]>),
}

/// Everything that outlives one incarnation of an object.
pub struct ObjectSlot {
    /// The object's name.
    pub name: Arc<str>,
    /// What handles it.
    pub handler: ObjectImpl,
    /// Its spec; `config` is replaced by a configuration update.
    pub spec: Mutex<ObjectSpec>,
    /// Its mailbox.
    pub mailbox: Arc<Mailbox>,
    /// Its published status.
    pub status: StatusCell,
    /// The running incarnation, if any (the object module knows its message
    /// type: `object::actor_of`).
    pub actor: Mutex<Option<ActorCell>>,
}

impl ObjectSlot {
    /// A fresh slot.
    pub fn new(spec: ObjectSpec, handler: ObjectImpl, mailbox_capacity: usize) -> Self {
        Self {
            name: spec.name.as_str().into(),
            handler,
            spec: Mutex::new(spec),
            mailbox: Arc::new(Mailbox::new(mailbox_capacity)),
            status: StatusCell::default(),
            actor: Mutex::new(None),
        }
    }

    /// The running incarnation's cell, if any.
    pub fn cell(&self) -> Option<ActorCell> {
        self.actor.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current configuration.
    pub fn config(&self) -> Value {
        self.spec.lock().unwrap_or_else(|p| p.into_inner()).config.clone()
    }

    /// A copy of the current spec.
    pub fn spec(&self) -> ObjectSpec {
        self.spec.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
