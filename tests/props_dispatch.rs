//! Model-based property test of the dispatcher's queue and choice of
//! worker: random submits (priorities, capabilities), HTTP workers that
//! register (capabilities, slots), poll, complete, drain, come back and are
//! unregistered, and cancels, against the real dispatcher through the
//! runtime's calls, and against a plain model of the rules of
//! `docs/semantics.md` (priority 1 first, FIFO within a priority; a worker
//! with a free slot, every capability, not draining; among those the one
//! idle longest; a lost worker's tasks requeued in their place up to
//! `max_attempts`). After every step each worker's polls get the tasks the
//! model gave it, in order, and refusals agree; at the end every task's
//! record ends as the model says. `PROPTEST_CASES` raises the count (32).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hive::gateway::{DispatchRequest, GatewayOptions, HttpRegistration, HttpReport, Submit};
use hive::task::TaskStatus;
use hive::{Hive, HiveError, HiveOptions};
use proptest::prelude::*;
use proptest::sample::Index;

const MAX_ATTEMPTS: u32 = 2;
const WORKERS: [&str; 4] = ["w0", "w1", "w2", "w3"];
const CAPS: [&str; 2] = ["gpu", "py"];

#[derive(Debug, Clone)]
enum Step {
    Register { worker: usize, caps: Vec<&'static str>, slots: u32 },
    Submit { priority: Option<u8>, caps: Vec<&'static str> },
    Complete(Index),
    Accepting(usize, bool),
    Unregister(usize),
    Cancel(Index),
}

fn caps() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(CAPS.to_vec(), 0..=2)
}

fn step() -> impl Strategy<Value = Step> {
    let worker = 0..WORKERS.len();
    prop_oneof![
        2 => (worker.clone(), caps(), 1..3u32).prop_map(|(worker, caps, slots)| Step::Register { worker, caps, slots }),
        5 => (prop::option::of(0..4u8), caps()).prop_map(|(priority, caps)| Step::Submit { priority, caps }),
        3 => any::<Index>().prop_map(Step::Complete),
        1 => (worker.clone(), any::<bool>()).prop_map(|(w, on)| Step::Accepting(w, on)),
        1 => worker.prop_map(Step::Unregister),
        1 => any::<Index>().prop_map(Step::Cancel),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Completed,
    Cancelled,
    Lost,
}

struct MTask {
    key: (u8, u64),
    caps: Vec<&'static str>,
    attempts: u32,
    worker: Option<&'static str>,
    end: Option<End>,
}

struct MWorker {
    caps: HashSet<&'static str>,
    slots: u32,
    running: BTreeSet<Arc<str>>,
    accepting: bool,
    last_assigned: u64,
    /// Given and not yet taken by a poll, in order.
    given: Vec<Arc<str>>,
}

#[derive(Default)]
struct Model {
    tasks: BTreeMap<Arc<str>, MTask>,
    queue: BTreeMap<(u8, u64), Arc<str>>,
    workers: BTreeMap<&'static str, MWorker>,
    seq: u64,
    clock: u64,
}

impl Model {
    fn dispatch(&mut self) {
        let keys: Vec<(u8, u64)> = self.queue.keys().copied().collect();
        for key in keys {
            let id = self.queue[&key].clone();
            let needs = &self.tasks[&id].caps;
            let chosen = self
                .workers
                .iter()
                .filter(|(_, w)| w.accepting && w.running.len() < w.slots as usize)
                .filter(|(_, w)| needs.iter().all(|c| w.caps.contains(c)))
                .min_by_key(|(id, w)| (w.last_assigned, **id))
                .map(|(id, _)| *id);
            let Some(wid) = chosen else { continue };
            self.queue.remove(&key);
            self.clock += 1;
            let w = self.workers.get_mut(wid).expect("chosen");
            w.running.insert(id.clone());
            w.last_assigned = self.clock;
            w.given.push(id.clone());
            let t = self.tasks.get_mut(&id).expect("queued");
            t.attempts += 1;
            t.worker = Some(wid);
        }
    }

    fn finish(&mut self, id: &Arc<str>, end: End) {
        let t = self.tasks.get_mut(id).expect("known");
        t.end = Some(end);
        self.queue.remove(&t.key);
        if let Some(w) = t.worker.take().and_then(|w| self.workers.get_mut(w)) {
            w.running.remove(id);
            w.given.retain(|g| g != id);
        }
    }

    /// A worker gone: its tasks requeued in their place, or lost past the attempts.
    fn gone(&mut self, wid: &str) -> Vec<Arc<str>> {
        let Some(w) = self.workers.remove(wid) else { return Vec::new() };
        let mut requeued = Vec::new();
        for id in w.running {
            let t = self.tasks.get_mut(&id).expect("running");
            t.worker = None;
            if t.attempts >= MAX_ATTEMPTS {
                t.end = Some(End::Lost);
            } else {
                self.queue.insert(t.key, id.clone());
                requeued.push(id);
            }
        }
        self.dispatch();
        requeued
    }

    fn open(&self) -> Vec<Arc<str>> {
        self.tasks.iter().filter(|(_, t)| t.end.is_none()).map(|(id, _)| id.clone()).collect()
    }
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let gw = GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), max_attempts: MAX_ATTEMPTS, ..Default::default() };
    let hive = Hive::start(HiveOptions { gateway: Some(gw), ..HiveOptions::default() }).await.expect("starts");
    let d = hive.gateway();
    let who: Arc<str> = "tester".into();
    let mut m = Model::default();
    for (i, step) in steps.iter().enumerate() {
        let what = format!("step {} {:?}", i + 1, step);
        match step.clone() {
            Step::Register { worker, caps, slots } => {
                let id = WORKERS[worker];
                let reg = HttpRegistration {
                    id: id.into(),
                    capabilities: caps.iter().map(|c| c.to_string()).collect(),
                    slots: Some(slots),
                    tags: BTreeMap::new(),
                };
                let r = d.register_http(reg, &who).await.map(drop);
                if m.workers.contains_key(id) {
                    prop_assert!(matches!(r, Err(HiveError::Conflict(_))), "{}: {:?}", what, r);
                } else {
                    prop_assert!(r.is_ok(), "{}: {:?}", what, r);
                    m.clock += 1;
                    let w = MWorker {
                        caps: caps.into_iter().collect(),
                        slots,
                        running: BTreeSet::new(),
                        accepting: true,
                        last_assigned: m.clock,
                        given: Vec::new(),
                    };
                    m.workers.insert(id, w);
                    m.dispatch();
                }
            }
            Step::Submit { priority, caps } => {
                let req = DispatchRequest {
                    prompt: format!("task {i}"),
                    model: None,
                    context: None,
                    priority,
                    capabilities: caps.iter().map(|c| c.to_string()).collect(),
                    timeout: None,
                    swarm: None,
                    agent: None,
                    submitted_by: None,
                    tick: None,
                };
                let (id, _) = d.submit(req, Submit::Queue).await.expect("submitted");
                m.seq += 1;
                let key = (priority.unwrap_or(5).max(1), m.seq);
                m.tasks.insert(id.clone(), MTask { key, caps, attempts: 0, worker: None, end: None });
                m.queue.insert(key, id);
                m.dispatch();
            }
            Step::Complete(pick) => {
                // A task some worker holds, or (none held) an open one no worker holds.
                let held: Vec<(&'static str, Arc<str>)> =
                    m.workers.iter().flat_map(|(w, mw)| mw.running.iter().map(move |t| (*w, t.clone()))).collect();
                if let Some((w, t)) = (!held.is_empty()).then(|| pick.get(&held).clone()) {
                    let r = d.report_http(w, &who, &t, HttpReport::Result("done".into())).await;
                    prop_assert!(r.is_ok(), "{}: {:?}", what, r);
                    m.finish(&t, End::Completed);
                    m.dispatch();
                } else if let (Some(w), false) = (m.workers.keys().next().copied(), m.open().is_empty()) {
                    let t = pick.get(&m.open()).clone();
                    let r = d.report_http(w, &who, &t, HttpReport::Result("stray".into())).await;
                    prop_assert!(matches!(r, Err(HiveError::Conflict(_))), "{}: {:?}", what, r);
                }
            }
            Step::Accepting(worker, on) => {
                let id = WORKERS[worker];
                let r = d.set_accepting(id, on).await;
                match m.workers.get_mut(id) {
                    Some(w) => {
                        prop_assert!(r.is_ok(), "{}: {:?}", what, r);
                        w.accepting = on;
                        if on {
                            m.dispatch();
                        }
                    }
                    None => prop_assert!(matches!(r, Err(HiveError::NotFound { .. })), "{}: {:?}", what, r),
                }
            }
            Step::Unregister(worker) => {
                let id = WORKERS[worker];
                let r = d.unregister(id).await;
                if m.workers.contains_key(id) {
                    let mut got = r.expect("unregistered");
                    let mut want = m.gone(id);
                    got.sort();
                    want.sort();
                    prop_assert_eq!(got, want, "{}", what);
                } else {
                    prop_assert!(matches!(r, Err(HiveError::NotFound { .. })), "{}: {:?}", what, r);
                }
            }
            Step::Cancel(pick) => {
                if m.tasks.is_empty() {
                    continue;
                }
                let ids: Vec<Arc<str>> = m.tasks.keys().cloned().collect();
                let t = pick.get(&ids).clone();
                let r = d.cancel(&t).await;
                if m.tasks[&t].end.is_none() {
                    prop_assert!(r.is_ok(), "{}: {:?}", what, r);
                    m.finish(&t, End::Cancelled);
                    m.dispatch();
                } else {
                    prop_assert!(matches!(r, Err(HiveError::NotFound { .. })), "{}: {:?}", what, r);
                }
            }
        }
        // Every worker's polls get what the model gave it, in order.
        for (id, w) in m.workers.iter_mut() {
            let mut got: Vec<Arc<str>> = Vec::new();
            while let Some(taken) = d.next_http(id, &who, Duration::ZERO).await.expect("a poll") {
                got.push(taken.delivered().task_id.as_str().into());
            }
            prop_assert_eq!(&got, &w.given, "{} polled by {}", what, id);
            w.given.clear();
        }
        let status = d.status().await.expect("status");
        prop_assert_eq!(status.queue_depth, m.queue.len(), "{} queue depth", what);
        prop_assert_eq!(status.running, m.workers.values().map(|w| w.running.len()).sum::<usize>(), "{}", what);
    }
    for (id, t) in &m.tasks {
        let status = hive.tasks().get(id).await.expect("a record").status;
        let want = match t.end {
            None if t.worker.is_some() => TaskStatus::Running,
            None => TaskStatus::Queued,
            Some(End::Completed) => TaskStatus::Completed,
            Some(End::Cancelled) => TaskStatus::Cancelled,
            Some(End::Lost) => TaskStatus::Failed,
        };
        prop_assert_eq!(status, want, "task {}", id);
    }
    hive.shutdown().await;
    Ok(())
}

fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn the_dispatcher_queues_and_chooses_workers_as_the_model_does(steps in prop::collection::vec(step(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        rt.block_on(run(steps))?;
    }
}
