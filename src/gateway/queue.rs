//! The dispatcher's pure scheduling core: a priority queue (1 highest, FIFO
//! within a priority) and the choice of a worker (a free slot, every needed
//! capability, accepting tasks; among those the one idle longest). No actors,
//! no I/O: unit-tested on its own.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// A queue position: priority, then arrival.
pub(crate) type QueueKey = (u8, u64);

/// The waiting tasks, in dispatch order.
#[derive(Default)]
pub(crate) struct TaskQueue {
    order: BTreeMap<QueueKey, Arc<str>>,
}

impl TaskQueue {
    pub(crate) fn push(&mut self, key: QueueKey, id: Arc<str>) {
        self.order.insert(key, id);
    }

    pub(crate) fn remove(&mut self, key: &QueueKey) -> Option<Arc<str>> {
        self.order.remove(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// `(priority, waiting)` for each priority that has waiting tasks,
    /// highest priority (1) first. One pass over the queue.
    pub(crate) fn depth_by_priority(&self) -> Vec<(u8, usize)> {
        let mut out: Vec<(u8, usize)> = Vec::new();
        for &(p, _) in self.order.keys() {
            match out.last_mut() {
                Some((last, n)) if *last == p => *n += 1,
                _ => out.push((p, 1)),
            }
        }
        out
    }

    /// The first waiting task after `key` (the first of all with `None`).
    pub(crate) fn next_after(&self, key: Option<QueueKey>) -> Option<(QueueKey, Arc<str>)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let lower = key.map_or(Unbounded, Excluded);
        self.order.range((lower, Unbounded)).next().map(|(k, v)| (*k, v.clone()))
    }
}

/// What the chooser needs to know about a worker.
pub(crate) struct Candidate<'a> {
    pub(crate) id: &'a Arc<str>,
    pub(crate) capabilities: &'a HashSet<String>,
    pub(crate) free: u32,
    pub(crate) accepting: bool,
    /// When it last got a task (a logical clock); lower = idle longer.
    pub(crate) last_assigned: u64,
}

/// The worker for a task needing `needs`: a free slot, every capability,
/// accepting; the one idle longest (ties by id, for determinism).
pub(crate) fn choose<'a>(workers: impl Iterator<Item = Candidate<'a>>, needs: &[String]) -> Option<&'a Arc<str>> {
    workers
        .filter(|w| w.accepting && w.free > 0 && needs.iter().all(|c| w.capabilities.contains(c)))
        .min_by(|a, b| a.last_assigned.cmp(&b.last_assigned).then_with(|| a.id.cmp(b.id)))
        .map(|w| w.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[&str]) -> HashSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_queue_orders_by_priority_then_arrival() {
        let mut q = TaskQueue::default();
        q.push((5, 1), "a".into());
        q.push((1, 3), "b".into());
        q.push((5, 0), "c".into());
        q.push((1, 2), "d".into());
        let order: Vec<Arc<str>> =
            std::iter::successors(q.next_after(None), |(k, _)| q.next_after(Some(*k))).map(|(_, id)| id).collect();
        assert_eq!(order, ["d", "b", "c", "a"].map(Arc::<str>::from));
        assert_eq!(q.depth_by_priority(), [(1, 2), (5, 2)]);
        assert_eq!(TaskQueue::default().depth_by_priority(), []);
    }

    #[test]
    fn the_chosen_worker_has_a_slot_the_capabilities_and_idled_longest() {
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let (gpu, plain) = (caps(&["gpu", "py"]), caps(&["py"]));
        let ws = || {
            vec![
                Candidate { id: &a, capabilities: &gpu, free: 1, accepting: true, last_assigned: 5 },
                Candidate { id: &b, capabilities: &plain, free: 2, accepting: true, last_assigned: 1 },
                Candidate { id: &c, capabilities: &gpu, free: 0, accepting: true, last_assigned: 0 },
            ]
            .into_iter()
        };
        assert_eq!(choose(ws(), &["py".into()]), Some(&b), "idle longest with a free slot");
        assert_eq!(choose(ws(), &["gpu".into()]), Some(&a), "c has no free slot");
        assert_eq!(choose(ws(), &["tpu".into()]), None);
        let draining = vec![Candidate { id: &a, capabilities: &gpu, free: 3, accepting: false, last_assigned: 0 }];
        assert_eq!(choose(draining.into_iter(), &[]), None, "a draining worker takes nothing");
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        use crate::proptest_cases::cases;

        #[derive(Debug, Clone)]
        enum Op {
            Push(u8),
            Remove(prop::sample::Index),
            NextAfter(prop::sample::Index),
        }

        proptest! {
            #![proptest_config(cases())]

            /// The queue against a list kept in arrival order: the next task
            /// after any position is the first of the lowest priority number,
            /// earliest arrival; depths count each priority.
            #[test]
            fn the_queue_is_ordered_like_a_sorted_list(ops in prop::collection::vec(prop_oneof![
                3 => (1..6u8).prop_map(Op::Push),
                1 => any::<prop::sample::Index>().prop_map(Op::Remove),
                2 => any::<prop::sample::Index>().prop_map(Op::NextAfter),
            ], 0..80)) {
                let mut q = TaskQueue::default();
                let mut model: Vec<(QueueKey, Arc<str>)> = Vec::new();
                let mut seq = 0;
                for op in ops {
                    match op {
                        Op::Push(p) => {
                            seq += 1;
                            let id: Arc<str> = format!("t{seq}").into();
                            q.push((p, seq), id.clone());
                            model.push(((p, seq), id));
                        }
                        Op::Remove(i) if !model.is_empty() => {
                            let (key, id) = model.remove(i.index(model.len()));
                            prop_assert_eq!(q.remove(&key), Some(id));
                            prop_assert_eq!(q.remove(&key), None);
                        }
                        Op::NextAfter(i) => {
                            let after = (!model.is_empty()).then(|| model[i.index(model.len())].0);
                            let want = model.iter().filter(|(k, _)| after.is_none_or(|a| *k > a)).min_by_key(|(k, _)| *k).cloned();
                            prop_assert_eq!(q.next_after(after), want);
                        }
                        Op::Remove(_) => {}
                    }
                    prop_assert_eq!(q.len(), model.len());
                    let mut depths: Vec<(u8, usize)> = Vec::new();
                    for p in 1..6u8 {
                        let n = model.iter().filter(|((q, _), _)| *q == p).count();
                        if n > 0 {
                            depths.push((p, n));
                        }
                    }
                    prop_assert_eq!(q.depth_by_priority(), depths);
                }
            }

            /// The chosen worker: none when no worker qualifies; else one
            /// that qualifies and that no qualifying worker idled longer than.
            #[test]
            fn the_chosen_worker_qualifies_and_idled_longest(
                workers in prop::collection::vec((prop::collection::hash_set("[abc]", 0..3), 0..3u32, any::<bool>(), 0..5u64), 0..6),
                needs in prop::collection::vec("[abc]", 0..3),
            ) {
                let ids: Vec<Arc<str>> = (0..workers.len()).map(|i| Arc::from(format!("w{i}"))).collect();
                let candidates = || workers.iter().zip(&ids).map(|((caps, free, accepting, last), id)| Candidate {
                    id, capabilities: caps, free: *free, accepting: *accepting, last_assigned: *last,
                });
                let qualifies = |c: &Candidate<'_>| c.accepting && c.free > 0 && needs.iter().all(|n| c.capabilities.contains(n));
                let best = candidates().filter(qualifies).map(|c| (c.last_assigned, c.id.clone())).min();
                prop_assert_eq!(choose(candidates(), &needs).cloned(), best.map(|b| b.1));
            }
        }
    }
}
