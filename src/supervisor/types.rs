//! The vocabulary of OTP supervision: strategies, restart types, shutdown
//! policies, restart intensity and the reasons a child can exit for.
//!
//! These types are shared by the generic [`Supervisor`](super::Supervisor),
//! the swarm file ([`crate::config`]) and the status API, so they serialize
//! to the same snake_case words a swarm file uses.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which siblings are restarted together with a child that has to be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Only the failed child is restarted.
    #[default]
    OneForOne,
    /// Every child is stopped (reverse start order) and all are started again.
    OneForAll,
    /// The failed child and every child started after it are restarted.
    RestForOne,
}

impl Strategy {
    /// Every strategy, for error messages that list the valid words.
    pub const ALL: [Strategy; 3] = [Self::OneForOne, Self::OneForAll, Self::RestForOne];

    /// The word used in swarm files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneForOne => "one_for_one",
            Self::OneForAll => "one_for_all",
            Self::RestForOne => "rest_for_one",
        }
    }

    /// Parses the word used in swarm files.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// When a child that exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always restarted, whatever the exit reason.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit (a panic, an error, a kill).
    Transient,
    /// Never restarted; removed from the supervisor when it exits.
    Temporary,
}

impl Restart {
    /// Every restart type, for error messages that list the valid words.
    pub const ALL: [Restart; 3] = [Self::Permanent, Self::Transient, Self::Temporary];

    /// The word used in swarm files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Permanent => "permanent",
            Self::Transient => "transient",
            Self::Temporary => "temporary",
        }
    }

    /// Parses the word used in swarm files.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether a child with this restart type is restarted after `exit`.
    pub fn should_restart(self, exit: &ExitReason) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => exit.is_abnormal(),
            Self::Temporary => false,
        }
    }
}

/// How a child is stopped when its supervisor stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Ask it to stop, wait this long, then kill it.
    Timeout(Duration),
    /// Kill it at once.
    BrutalKill,
    /// Wait as long as it takes (the OTP default for child supervisors,
    /// which stop their own children with their own timeouts).
    Infinity,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::Timeout(Duration::from_secs(5))
    }
}

/// Restart intensity: at most `max_restarts` restarts within `window`,
/// with an optional exponential backoff between consecutive restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// Restarts allowed within `window` (0: the first restart already gives up).
    pub max_restarts: u32,
    /// The sliding window the restarts are counted in.
    pub window: Duration,
    /// Delay before the first restart of a burst; zero means no backoff.
    pub backoff: Duration,
    /// Cap of the doubling backoff.
    pub backoff_max: Duration,
}

impl Default for Intensity {
    fn default() -> Self {
        Self { max_restarts: 3, window: Duration::from_secs(5), backoff: Duration::ZERO, backoff_max: Duration::ZERO }
    }
}

/// Why a child stopped. Mirrors OTP's exit reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ExitReason {
    /// It finished on its own (OTP `normal`).
    Normal,
    /// Its supervisor or the runtime asked it to stop (OTP `shutdown`).
    Shutdown,
    /// It was killed (brutal kill, or it did not stop within its timeout).
    Killed,
    /// It panicked, with the panic message.
    Panicked(String),
    /// It returned an error, with the message.
    Failed(String),
    /// It is a supervisor that reached its restart intensity and gave up.
    GaveUp(String),
}

impl ExitReason {
    /// Abnormal exits restart `transient` children; normal and shutdown do not.
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, Self::Normal | Self::Shutdown)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("normal"),
            Self::Shutdown => f.write_str("shutdown"),
            Self::Killed => f.write_str("killed"),
            Self::Panicked(m) => write!(f, "panicked: {m}"),
            Self::Failed(m) => write!(f, "failed: {m}"),
            Self::GaveUp(m) => write!(f, "gave up: {m}"),
        }
    }
}
