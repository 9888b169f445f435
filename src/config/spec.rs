//! The typed, validated form of a swarm file.
//!
//! A [`SwarmSpec`] only exists after validation ([`super::parse_toml`],
//! [`super::parse_json`]): every name is valid and unique, every edge names a
//! known endpoint, every bound is respected. The runtime trusts it.
//! [`super::to_toml`] writes it back in the swarm-file format.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::supervisor::{Restart, Strategy};

/// Longest agent, object or swarm name.
pub const MAX_NAME_LEN: usize = 64;
/// Most members a scale group may have (`replicas`, and `scale`).
pub const MAX_REPLICAS: u32 = 10_000;
/// Most agents (group members included) one swarm may run.
pub const MAX_AGENTS: usize = 20_000;
/// Most objects one swarm may hold.
pub const MAX_OBJECTS: usize = 1_000;
/// Default graceful-stop timeout of an agent before it is killed.
pub const DEFAULT_KILL_TIMEOUT_MS: u64 = 5_000;

/// A whole swarm: supervision settings, agents, objects and topology.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmSpec {
    /// Unique among running swarms; `[A-Za-z][A-Za-z0-9_-]*`.
    pub name: String,
    /// How the swarm's agents (and objects) are supervised.
    pub supervision: SupervisionSpec,
    /// Agents and scale groups, in file order (which is start order).
    pub agents: Vec<AgentSpec>,
    /// Objects, in file order.
    pub objects: Vec<ObjectSpec>,
    /// Directed edges `from → to`, deduplicated, in declaration order.
    /// Endpoints are agent names, group names (standing for every member),
    /// group member names (`worker_2`) or object names.
    pub topology: Vec<Edge>,
    /// `[[schedules]]`: schedules of its agents, named `<swarm>.<name>`;
    /// they fire while the swarm runs.
    pub schedules: Vec<super::schedule::ScheduleSpec>,
}

/// `[supervision]`: OTP settings of the swarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SupervisionSpec {
    /// Which agents restart together.
    pub strategy: Strategy,
    /// At most this many restarts ...
    pub max_restarts: u32,
    /// ... within this many seconds, else the swarm fails.
    pub max_seconds: u32,
    /// Delay before a restart (doubling per consecutive restart); 0 = none.
    pub backoff_ms: u64,
    /// Cap of the doubling backoff (defaults to 30 × `backoff_ms`... see validation).
    pub backoff_max_ms: u64,
}

impl Default for SupervisionSpec {
    fn default() -> Self {
        Self { strategy: Strategy::OneForOne, max_restarts: 3, max_seconds: 5, backoff_ms: 0, backoff_max_ms: 0 }
    }
}

/// One `[[agents]]` entry: a single agent, or a scale group when `replicas` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// The agent's name, or the group's base name (members are `name_1..name_N`).
    pub name: String,
    /// `Some(n)`: a scale group of `n` members; `None`: one agent.
    pub replicas: Option<u32>,
    /// What runs the agent.
    pub backend: BackendSpec,
    /// OTP restart type.
    pub restart: Restart,
    /// Graceful-stop timeout before the agent is killed.
    pub kill_timeout_ms: u64,
    /// Skill files handed to the agent (`HIVE_SKILLS`).
    pub skills: Vec<String>,
    /// Model name passed through (`HIVE_MODEL`).
    pub model: Option<String>,
}

/// The backend of an agent and its backend-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSpec {
    /// In-process agent for tests and demos.
    Mock(MockSpec),
    /// An OS process speaking JSONL on stdin/stdout.
    Stdio(StdioSpec),
    /// Tasks go to a ZeroMQ pool worker with these capabilities.
    Zmq(ZmqSpec),
}

/// Which backend runs an agent: the word of [`BackendSpec::kind`], typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// In-process mock.
    Mock,
    /// An OS process speaking JSONL.
    Stdio,
    /// A ZeroMQ pool worker.
    Zmq,
}

/// genswarms' name of an agent's backend: the launch of a stdio agent
/// (`local`, `ssh`, `bwrap`, `docker`), else the backend (`mock`, `zmq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackendType {
    /// In-process mock.
    Mock,
    /// A local process.
    Local,
    /// A process over ssh.
    Ssh,
    /// A process in a bubblewrap sandbox.
    Bwrap,
    /// A process in a docker container.
    Docker,
    /// A ZeroMQ pool worker.
    Zmq,
}

impl BackendSpec {
    /// The backend, typed.
    pub fn backend_kind(&self) -> BackendKind {
        match self {
            Self::Mock(_) => BackendKind::Mock,
            Self::Stdio(_) => BackendKind::Stdio,
            Self::Zmq(_) => BackendKind::Zmq,
        }
    }

    /// genswarms' name of the backend.
    pub fn backend_type(&self) -> BackendType {
        match self {
            Self::Mock(_) => BackendType::Mock,
            Self::Zmq(_) => BackendType::Zmq,
            Self::Stdio(s) => match s.launch {
                LaunchSpec::Local => BackendType::Local,
                LaunchSpec::Ssh { .. } => BackendType::Ssh,
                LaunchSpec::Bwrap { .. } => BackendType::Bwrap,
                LaunchSpec::Docker { .. } => BackendType::Docker,
            },
        }
    }

    /// The word used in swarm files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Mock(_) => "mock",
            Self::Stdio(_) => "stdio",
            Self::Zmq(_) => "zmq",
        }
    }
}

/// `mock = { ... }`: behaviour of a mock agent. The default echoes each task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockSpec {
    /// Wait this long before answering a task.
    pub delay_ms: u64,
    /// Every Nth task fails (0 = never).
    pub fail_every: u32,
    /// A task (or message) whose content equals this makes the agent panic.
    pub panic_on: Option<String>,
    /// Answer with this text instead of echoing the task.
    pub reply: Option<String>,
    /// Forward every received message to all out-edges (`broadcast`).
    pub relay: bool,
}

/// Settings of a `stdio` agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StdioSpec {
    /// Program and arguments; never empty.
    pub command: Vec<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// How the command is wrapped.
    pub launch: LaunchSpec,
}

/// How a stdio agent's command is wrapped before it is executed.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LaunchSpec {
    /// Run the command as is.
    #[default]
    Local,
    /// `ssh [launch_args] host -- command`.
    Ssh {
        /// `user@host`.
        host: String,
        /// Extra ssh arguments.
        args: Vec<String>,
    },
    /// `bwrap [launch_args] -- command`.
    Bwrap {
        /// bwrap arguments (sandbox binds).
        args: Vec<String>,
    },
    /// `docker run -i --rm [launch_args] image command`.
    Docker {
        /// Image to run.
        image: String,
        /// Extra `docker run` arguments.
        args: Vec<String>,
    },
}

impl LaunchSpec {
    /// The word used in swarm files.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Ssh { .. } => "ssh",
            Self::Bwrap { .. } => "bwrap",
            Self::Docker { .. } => "docker",
        }
    }
}

/// Settings of a `zmq` agent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZmqSpec {
    /// Capabilities a pool worker needs to take this agent's tasks.
    pub capabilities: Vec<String>,
}

/// The `kind` (or `handler`) of an object whose handler is a program
/// speaking JSON lines (`docs/protocol-jsonl.md`, "Objects").
pub const PROGRAM_HANDLER: &str = "stdio";

/// One `[[objects]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSpec {
    /// Unique among agents, groups, members and objects.
    pub name: String,
    /// A registered object kind (`kv`, `counter`, `queue`, or a user kind),
    /// or [`PROGRAM_HANDLER`] when `program` is set.
    pub kind: String,
    /// Kind-specific configuration (a JSON object; `{}` when absent).
    pub config: Value,
    /// OTP restart type.
    pub restart: Restart,
    /// The program that handles the object (`handler = "stdio"`): its
    /// command, cwd and env (launch is always local). `None` for a kind.
    pub program: Option<StdioSpec>,
}

/// A directed topology edge: `from` may send to `to`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Edge {
    /// Sender endpoint.
    pub from: String,
    /// Receiver endpoint.
    pub to: String,
}

impl Edge {
    /// Builds an edge.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self { from: from.into(), to: to.into() }
    }
}

impl std::fmt::Display for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}→{}", self.from, self.to)
    }
}

/// The name of member `index` (1-based) of group `base`.
pub fn member_name(base: &str, index: u32) -> String {
    format!("{base}_{index}")
}

/// Whether `name` is a valid swarm, agent or object name.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= MAX_NAME_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl SwarmSpec {
    /// Every concrete agent name: plain agents and every group member.
    pub fn agent_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.agents {
            match a.replicas {
                None => out.push(a.name.clone()),
                Some(n) => out.extend((1..=n).map(|i| member_name(&a.name, i))),
            }
        }
        out
    }
}
