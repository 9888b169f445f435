//! A schedule as its creator writes it (the REST body, a swarm file's
//! `[[schedules]]`, `hive schedule add`): a name, when it fires (exactly
//! one of `cron` with a `timezone`, `every` or `at`), what it fires at (a
//! [`Target`]) and its policies. [`ScheduleSpec::timing`] checks it all
//! and answers the parsed [`Timing`] (`timing.rs`); a swarm file's entries
//! are read by `entry.rs`. Nothing here runs: the scheduler is `schedule/`.

pub(in crate::config) mod entry;
mod timing;

use serde::{Deserialize, Serialize};

pub use timing::{MIN_PERIOD_MS, Timing};

/// Longest schedule name.
pub const MAX_NAME_LEN: usize = 64;
/// Largest task content a schedule carries.
pub(crate) const MAX_CONTENT_BYTES: usize = 1 << 20;

/// What a tick does when the schedule's previous task has not ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The tick is skipped (`schedule_skipped`).
    #[default]
    Skip,
    /// The new task is queued behind it.
    Queue,
    /// The previous task is cancelled, then the new one fires.
    CancelPrevious,
}

/// What happens to ticks that passed while the daemon was down (or so late
/// that a later tick is due too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// They are skipped: one `schedule_skipped` tells how many.
    #[default]
    Skip,
    /// The latest of them fires once; the others are skipped.
    Once,
}

/// The dispatch fields of a pool target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolTarget {
    /// 1 (highest) to 255; default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 255)]
    pub priority: Option<u8>,
    /// Capabilities the worker must have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Model override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Extra context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Per-task timeout in ms (default: the gateway's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub timeout_ms: Option<u64>,
}

/// A swarm agent target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentTarget {
    /// The swarm.
    #[schema(min_length = 1)]
    pub swarm: String,
    /// The agent (not a group).
    #[schema(min_length = 1)]
    pub agent: String,
}

/// Where a schedule's tasks go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Target {
    /// The dispatcher's workers (ZeroMQ, HTTP, pool), with the dispatch fields.
    Pool(PoolTarget),
    /// One agent of a running swarm.
    Agent(AgentTarget),
}

fn yes() -> bool {
    true
}

/// A schedule as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Unique in the daemon: 1 to 64 letters, digits, `_` or `-`, starting
    /// with a letter or digit (a swarm file's schedules are named
    /// `<swarm>.<name>`).
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// A cron expression: 5 fields (minute granularity) or 6 (seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The IANA time zone of `cron` (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// A period: `30s`, `5m`, `1h` (at least 1 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Once, at this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Where its tasks go.
    pub target: Target,
    /// Each task's content.
    #[schema(min_length = 1)]
    pub content: String,
    /// Whether it fires (default `true`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When the previous task has not ended (default `skip`).
    #[serde(default)]
    pub overlap: Overlap,
    /// Ticks missed while the daemon was down (default `skip`).
    #[serde(default)]
    pub catch_up: CatchUp,
}

/// Whether `name` is a schedule name (`swarm_owned`: `<swarm>.<name>`).
pub fn valid_name(name: &str, swarm_owned: bool) -> bool {
    let part = |p: &str| {
        let b = p.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
    };
    name.len() <= MAX_NAME_LEN
        && match (swarm_owned, name.split_once('.')) {
            (false, _) => part(name),
            (true, Some((swarm, rest))) => part(swarm) && part(rest),
            (true, None) => false,
        }
}

impl ScheduleSpec {
    /// Checks the spec and parses when it fires. `swarm_owned`: the name is
    /// `<swarm>.<name>` (a swarm file's schedule).
    pub fn timing(&self, swarm_owned: bool) -> Result<Timing, String> {
        if !valid_name(&self.name, swarm_owned) {
            return Err(format!(
                "a schedule name is 1 to {MAX_NAME_LEN} letters, digits, '_' or '-', starting with a letter or digit"
            ));
        }
        if self.content.is_empty() {
            return Err("'content' must not be empty".into());
        }
        if self.content.len() > MAX_CONTENT_BYTES {
            return Err("'content' is over 1 MiB".into());
        }
        match &self.target {
            Target::Pool(p) => {
                if p.priority == Some(0) {
                    return Err("'priority' runs from 1 (highest) to 255".into());
                }
                if p.timeout_ms == Some(0) {
                    return Err("'timeout_ms' must be at least 1".into());
                }
            }
            Target::Agent(a) => {
                if a.swarm.is_empty() || a.agent.is_empty() {
                    return Err("an agent target names its 'swarm' and 'agent'".into());
                }
            }
        }
        if self.timezone.is_some() && self.cron.is_none() {
            return Err("'timezone' goes with 'cron'".into());
        }
        match (&self.cron, &self.every, &self.at) {
            (Some(expr), None, None) => Timing::cron(expr, self.timezone.as_deref().unwrap_or("UTC")),
            (None, Some(every), None) => Timing::every(every),
            (None, None, Some(at)) => Timing::at(at),
            _ => Err("a schedule has exactly one of 'cron', 'every' and 'at'".into()),
        }
    }
}
