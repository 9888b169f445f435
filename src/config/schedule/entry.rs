//! A swarm file's `[[schedules]]`: each a schedule of one of the swarm's
//! agents (a plain agent or a group member), named `<swarm>.<name>` in the
//! daemon. The entry's keys are those of a schedule made through the API,
//! with `agent` in place of `target`; its timing is checked here, with the
//! rest of the file.

use super::{AgentTarget, CatchUp, Overlap, ScheduleSpec, Target};
use crate::config::check::Checker;
use crate::config::node::Node;

const KEYS: &[&str] =
    &["name", "agent", "cron", "timezone", "every", "at", "content", "enabled", "overlap", "catch_up"];
const OVERLAPS: &[&str] = &["skip", "queue", "cancel_previous"];
const CATCH_UPS: &[&str] = &["skip", "once"];

/// Checks one `[[schedules]]` entry of swarm `swarm` (`None` when the
/// swarm's name is itself invalid: the entry is checked, not built);
/// `is_agent` says whether a name is an agent a task can go to.
pub(in crate::config) fn schedule(
    c: &mut Checker,
    path: &str,
    node: &Node,
    swarm: Option<&str>,
    is_agent: impl Fn(&str) -> bool,
) -> Option<ScheduleSpec> {
    let before = c.errors.len();
    let t = c.table(path, node, Some(KEYS))?;
    let name = c.required(&t, "name").and_then(|e| c.name(&t.path("name"), &e.value));
    let agent = c.required(&t, "agent").and_then(|e| {
        let a = c.non_empty(&t.path("agent"), &e.value)?;
        if !is_agent(&a) {
            c.err(
                t.path("agent"),
                e.value.pos,
                format!("`{a}` is not an agent of this swarm (a group's tasks go to one member)"),
            );
        }
        Some(a)
    });
    let text = |c: &mut Checker, key: &str| t.get(key).and_then(|e| c.string(&t.path(key), &e.value));
    let (cron, timezone, every, at) = (text(c, "cron"), text(c, "timezone"), text(c, "every"), text(c, "at"));
    let content = c.required(&t, "content").and_then(|e| c.non_empty(&t.path("content"), &e.value));
    let enabled = t.get("enabled").map_or(Some(true), |e| c.boolean(&t.path("enabled"), &e.value));
    let overlap = t.get("overlap").map_or(Some(Overlap::Skip), |e| {
        c.word(&t.path("overlap"), &e.value, OVERLAPS, |w| match w {
            "skip" => Some(Overlap::Skip),
            "queue" => Some(Overlap::Queue),
            "cancel_previous" => Some(Overlap::CancelPrevious),
            _ => None,
        })
    });
    let catch_up = t.get("catch_up").map_or(Some(CatchUp::Skip), |e| {
        c.word(&t.path("catch_up"), &e.value, CATCH_UPS, |w| match w {
            "skip" => Some(CatchUp::Skip),
            "once" => Some(CatchUp::Once),
            _ => None,
        })
    });
    let (Some(name), Some(agent), Some(content), Some(enabled), Some(overlap), Some(catch_up)) =
        (name, agent, content, enabled, overlap, catch_up)
    else {
        return None;
    };
    let spec = ScheduleSpec {
        name: format!("{}.{name}", swarm.unwrap_or("swarm")),
        cron,
        timezone,
        every,
        at,
        target: Target::Agent(AgentTarget { swarm: swarm.unwrap_or_default().to_string(), agent }),
        content,
        enabled,
        overlap,
        catch_up,
    };
    if let Err(e) = spec.timing(true) {
        c.err(path, t.pos, e);
    }
    (c.errors.len() == before && swarm.is_some()).then_some(spec)
}
