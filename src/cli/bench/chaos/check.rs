//! The checker: what the clients were told held. It reads the task API of
//! the last daemon (each acknowledged task followed until it ends, within
//! [`SETTLE`]), the swarm's state, and, once the daemon stopped, the stored
//! events; each broken promise is one [`Violation`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use super::load::{Acked, Told, request};
use super::{GROUP, SWARM, Transport};

/// How long the end waits for acknowledged tasks to end.
pub(super) const SETTLE: Duration = Duration::from_secs(120);

/// What an acknowledged task is: an agent's or a dispatch to a transport.
fn what(t: Option<Transport>) -> String {
    t.map_or_else(|| "agent task".to_string(), |t| format!("{} dispatch", t.label()))
}

/// A broken promise.
#[derive(Debug)]
pub(super) enum Violation {
    /// An acknowledged task did not end within [`SETTLE`] (its last status).
    NotEnded {
        id: String,
        target: Option<Transport>,
        last: Option<Value>,
    },
    /// An acknowledged task failed without a reason code.
    NoReason {
        id: String,
        target: Option<Transport>,
        status: Value,
    },
    /// A task ended `ok` with a result that is not its own prompt echoed.
    WrongResult {
        id: String,
        target: Option<Transport>,
        prompt: String,
        content: Value,
    },
    /// A dispatch ran on a worker without its capability.
    WrongWorker {
        id: String,
        transport: Transport,
        worker: Value,
    },
    /// The swarm is neither running nor failed with a reason.
    SwarmState {
        swarm: Value,
    },
    /// The group's size is none of the sizes the clients may have caused.
    GroupSize {
        members: i64,
        acked: Option<i64>,
        unknown: Vec<i64>,
    },
    /// The daemon did not stop within its limit of SIGTERM.
    DaemonHung {
        pid: u32,
    },
    /// Processes of the run outlived it: (pid, parent, command line).
    Left {
        procs: Vec<(u32, u32, String)>,
    },
    /// Child process groups still recorded after a clean stop.
    ChildRecords {
        n: usize,
    },
    /// One sequence number stored for two events.
    SeqStoredTwice {
        seq: u64,
    },
    /// An acknowledged task has not exactly one stored end event.
    EndEvents {
        id: String,
        target: Option<Transport>,
        n: u64,
    },
    /// A subscriber was shown a sequence number for another event than the store's.
    SeqReused {
        subscriber: usize,
        seq: u64,
        shown: String,
        stored: String,
    },
    /// A subscriber missed stored events it was not told of.
    Missed {
        subscriber: usize,
        n: usize,
        first: Vec<u64>,
    },
    Duplicates {
        n: u64,
    },
    OutOfOrder {
        n: u64,
    },
    /// Not Hive's promise but the run's: a kind of task was acknowledged
    /// and none of it ended `ok`, so the faults never met it working.
    Unexercised {
        target: Option<Transport>,
        acked: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotEnded { id, target, last } => {
                write!(f, "{} {id} did not end within {SETTLE:?}: {last:?}", what(*target))
            }
            Self::NoReason { id, target, status } => {
                write!(f, "{} {id} failed without a reason: {status}", what(*target))
            }
            Self::WrongResult { id, target, prompt, content } => {
                write!(f, "{} {id} ended ok with {content}, not its prompt {prompt:?}", what(*target))
            }
            Self::WrongWorker { id, transport, worker } => write!(
                f,
                "{} dispatch {id} (capability {}) ran on worker {worker}",
                transport.label(),
                transport.capability()
            ),
            Self::SwarmState { swarm } => {
                write!(f, "swarm {SWARM} is neither running nor failed with a reason: {swarm}")
            }
            Self::GroupSize { members, acked, unknown } => write!(
                f,
                "group {GROUP} has {members} members; the last acknowledged scale was {acked:?} (unanswered since: {unknown:?})"
            ),
            Self::DaemonHung { pid } => write!(f, "the daemon {pid} did not stop within 60 s of SIGTERM"),
            Self::Left { procs } => write!(f, "processes of the run outlived it: {procs:?}"),
            Self::ChildRecords { n } => write!(f, "{n} child process groups are still recorded after a clean stop"),
            Self::SeqStoredTwice { seq } => write!(f, "sequence number {seq} is stored twice"),
            Self::EndEvents { id, target, n } => {
                write!(f, "{} {id} has {n} stored end events (want exactly 1)", what(*target))
            }
            Self::SeqReused { subscriber, seq, shown, stored } => write!(
                f,
                "subscriber {subscriber} was shown seq {seq} as {shown}, the store has it as {stored}: a sequence number used twice"
            ),
            Self::Missed { subscriber, n, first } => {
                write!(f, "subscriber {subscriber} missed {n} stored events it was not told about (first: {first:?})")
            }
            Self::Duplicates { n } => write!(f, "subscribers got {n} duplicate events"),
            Self::OutOfOrder { n } => write!(f, "subscribers got {n} events out of order"),
            Self::Unexercised { target, acked } => write!(
                f,
                "the run did not exercise {}s: none of {acked} acknowledged ended ok (are its workers running?)",
                what(*target)
            ),
        }
    }
}

/// How the acknowledged tasks of one target ended.
#[derive(Debug, Default)]
pub(super) struct Outcome {
    pub(super) acked: u64,
    pub(super) ok: u64,
    pub(super) cancelled: u64,
    /// Ended after more than one attempt (requeued after a kill).
    pub(super) retried: u64,
    /// Failures by reason code.
    pub(super) failed: BTreeMap<String, u64>,
}

fn ended(v: &Value) -> bool {
    matches!(v["status"].as_str(), Some("ok" | "error" | "cancelled"))
}

/// Follows every acknowledged task on the daemon at `addr` until it ends
/// (all within [`SETTLE`]), then judges each: ended, a failure with a code,
/// an `ok` with its own prompt as the result, a dispatch on a worker of its
/// transport.
pub(super) async fn tasks(
    tasks: &[Acked],
    addr: &watch::Receiver<String>,
    out: &mut Vec<Violation>,
) -> BTreeMap<Option<Transport>, Outcome> {
    let mut conn = None;
    let mut last: HashMap<&str, Value> = HashMap::new();
    let deadline = Instant::now() + SETTLE;
    for t in tasks {
        loop {
            let r = request(&mut conn, addr, hyper::Method::GET, &format!("/api/v1/tasks/{}", t.id), None).await;
            let done = matches!(&r, Ok((200, v)) if ended(v));
            if let Ok((200, v)) = r {
                last.insert(&t.id, v);
            }
            if done || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut outcomes: BTreeMap<Option<Transport>, Outcome> = BTreeMap::new();
    for t in tasks {
        let o = outcomes.entry(t.transport).or_default();
        o.acked += 1;
        let (id, target) = (t.id.clone(), t.transport);
        let Some(v) = last.get(t.id.as_str()).filter(|v| ended(v)) else {
            out.push(Violation::NotEnded { id, target, last: last.get(t.id.as_str()).cloned() });
            continue;
        };
        if v["attempts"].as_u64().is_some_and(|n| n > 1) {
            o.retried += 1;
        }
        match v["status"].as_str() {
            Some("ok") => {
                o.ok += 1;
                if v["content"].as_str() != Some(t.prompt.as_str()) {
                    let content = v["content"].clone();
                    out.push(Violation::WrongResult { id: id.clone(), target, prompt: t.prompt.clone(), content });
                }
                if let Some(transport) = target
                    && !v["worker"].as_str().is_some_and(|w| transport.runs_on(w))
                {
                    out.push(Violation::WrongWorker { id, transport, worker: v["worker"].clone() });
                }
            }
            Some("cancelled") => o.cancelled += 1,
            _ => match v["error_code"].as_str().filter(|c| !c.is_empty()) {
                Some(code) => *o.failed.entry(code.to_string()).or_default() += 1,
                None => out.push(Violation::NoReason { id, target, status: v.clone() }),
            },
        }
    }
    for (target, o) in &outcomes {
        if o.ok == 0 {
            out.push(Violation::Unexercised { target: *target, acked: o.acked });
        }
    }
    outcomes
}

/// The swarm is running (or failed with a reason) and its group has a size
/// the clients may have caused: that size.
pub(super) async fn swarm(
    addr: &watch::Receiver<String>,
    scale_acked: Option<i64>,
    scale_unknown: &[i64],
    out: &mut Vec<Violation>,
) -> Result<i64, String> {
    let mut conn = None;
    let (_, swarm) = request(&mut conn, addr, hyper::Method::GET, &format!("/api/swarms/{SWARM}"), None)
        .await
        .map_err(|e| format!("the final daemon does not answer: {e}"))?;
    let state = swarm["status"].as_str().or(swarm["state"].as_str()).unwrap_or_default();
    if state != "running" && !(state == "failed" && swarm["failure"].as_str().is_some_and(|r| !r.is_empty())) {
        out.push(Violation::SwarmState { swarm: swarm.clone() });
    }
    let (_, agents) = request(&mut conn, addr, hyper::Method::GET, &format!("/api/swarms/{SWARM}/agents"), None)
        .await
        .map_err(|e| format!("the final daemon does not answer: {e}"))?;
    let members = agents
        .as_array()
        .or(agents["agents"].as_array())
        .map(|l| l.iter().filter(|x| x["group"] == GROUP).count() as i64)
        .unwrap_or(-1);
    let mut allowed: BTreeSet<i64> = scale_unknown.iter().copied().collect();
    allowed.insert(scale_acked.unwrap_or(1));
    if !allowed.contains(&members) {
        out.push(Violation::GroupSize { members, acked: scale_acked, unknown: scale_unknown.to_vec() });
    }
    Ok(members)
}

/// Against the stored events: no sequence number stored twice; each
/// acknowledged task has exactly one end event; what each subscriber was
/// shown is what is stored, and it saw every stored event between its
/// first and its last unless told of a gap. The number of events the
/// subscribers saw.
pub(super) fn stored(stored: &[hive::store::StoredEvent], told: &Told, out: &mut Vec<Violation>) -> u64 {
    let mut by_seq: BTreeMap<u64, &hive::store::StoredEvent> = BTreeMap::new();
    for e in stored {
        if by_seq.insert(e.seq, e).is_some() {
            out.push(Violation::SeqStoredTwice { seq: e.seq });
        }
    }
    let mut ends: HashMap<String, u64> = HashMap::new();
    for e in stored {
        if matches!(e.event_type.as_str(), "task_completed" | "task_failed" | "task_cancelled")
            && let Ok(m) = serde_json::from_str::<Value>(&e.metadata)
            && let Some(id) = m["task_id"].as_str()
        {
            *ends.entry(id.to_string()).or_default() += 1;
        }
    }
    for t in &told.tasks {
        let n = ends.get(&t.id).copied().unwrap_or(0);
        if n != 1 {
            out.push(Violation::EndEvents { id: t.id.clone(), target: t.transport, n });
        }
    }
    let mut seen_events = 0u64;
    for (i, seen) in told.seen.iter().enumerate() {
        seen_events += seen.len() as u64;
        for (seq, kind) in seen {
            if let Some(e) = by_seq.get(seq)
                && e.event_type != *kind
            {
                let (shown, stored) = (kind.clone(), e.event_type.clone());
                out.push(Violation::SeqReused { subscriber: i, seq: *seq, shown, stored });
            }
        }
        let (Some(first), Some(last)) = (seen.keys().next(), seen.keys().next_back()) else { continue };
        let told_gap = |s: u64| told.gaps[i].iter().any(|(f, to)| (*f..=*to).contains(&s));
        let missed: Vec<u64> =
            by_seq.range(first..=last).map(|(s, _)| *s).filter(|s| !seen.contains_key(s) && !told_gap(*s)).collect();
        if !missed.is_empty() {
            out.push(Violation::Missed {
                subscriber: i,
                n: missed.len(),
                first: missed[..missed.len().min(5)].to_vec(),
            });
        }
    }
    if told.duplicates > 0 {
        out.push(Violation::Duplicates { n: told.duplicates });
    }
    if told.out_of_order > 0 {
        out.push(Violation::OutOfOrder { n: told.out_of_order });
    }
    seen_events
}
