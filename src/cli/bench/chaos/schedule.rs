//! The fault schedule: when each fault strikes and what it does, a pure
//! function of the seed, the duration and the mean gap. Which process a
//! fault hits is chosen when it strikes, by its `pick` (also from the seed)
//! among the processes of its kind alive at that moment.

use std::time::Duration;

use super::Transport;

/// SplitMix64: the schedule's randomness, a pure function of the seed.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// What a fault kill -9s (every fault is a kill -9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum FaultKind {
    /// kill -9 one stdio agent of the swarm (a daemon child; its swarm's
    /// supervisor restarts it), the `pick`-th alive, modulo.
    Agent { pick: u64 },
    /// kill -9 one worker of `transport`, the `pick`-th alive, modulo. A
    /// JSONL worker is a daemon child (its pool restarts it); a ZeroMQ or
    /// HTTP worker is the bench's own child, started again under a new id
    /// after a short delay, as a supervisor would.
    Worker { transport: Transport, pick: u64 },
    /// kill -9 the daemon, then restart it on the same data directory.
    Daemon,
}

impl FaultKind {
    pub(super) fn label(&self) -> &'static str {
        match self {
            Self::Agent { .. } => "kill -9 agent",
            Self::Worker { transport: Transport::Zmq, .. } => "kill -9 ZeroMQ worker",
            Self::Worker { transport: Transport::Jsonl, .. } => "kill -9 JSONL worker",
            Self::Worker { transport: Transport::Http, .. } => "kill -9 HTTP worker",
            Self::Daemon => "kill -9 daemon",
        }
    }
}

/// One fault: when (from the start) and what.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fault {
    pub(super) at: Duration,
    pub(super) kind: FaultKind,
}

/// The fault schedule of `seed` over `duration`: gaps uniform in
/// [0.5, 1.5] × `every`; of eight faults, two kill the daemon, two an agent,
/// two a ZeroMQ worker, one a JSONL worker and one an HTTP worker (on
/// average).
pub(super) fn schedule(seed: u64, duration: Duration, every: Duration) -> Vec<Fault> {
    let mut rng = Rng(seed);
    let mut at = Duration::ZERO;
    let mut out = Vec::new();
    let every_ms = every.as_millis().max(2) as u64;
    loop {
        at += Duration::from_millis(every_ms / 2 + rng.below(every_ms));
        if at >= duration {
            return out;
        }
        let kind = match rng.below(8) {
            0 | 1 => FaultKind::Daemon,
            2 | 3 => FaultKind::Agent { pick: rng.next() },
            4 | 5 => FaultKind::Worker { transport: Transport::Zmq, pick: rng.next() },
            6 => FaultKind::Worker { transport: Transport::Jsonl, pick: rng.next() },
            _ => FaultKind::Worker { transport: Transport::Http, pick: rng.next() },
        };
        out.push(Fault { at, kind });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_fault_schedule_is_a_pure_function_of_the_seed() {
        let a = schedule(7, Duration::from_secs(60), Duration::from_secs(2));
        let b = schedule(7, Duration::from_secs(60), Duration::from_secs(2));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert!(a.len() > 20 && a.iter().any(|f| f.kind == FaultKind::Daemon));
        assert_ne!(format!("{a:?}"), format!("{:?}", schedule(8, Duration::from_secs(60), Duration::from_secs(2))));
        assert!(a.windows(2).all(|w| w[0].at < w[1].at) && a.iter().all(|f| f.at < Duration::from_secs(60)));
    }

    #[test]
    fn every_kind_of_fault_comes_at_its_share() {
        let faults = schedule(1, Duration::from_secs(100_000), Duration::from_secs(10));
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &faults {
            *by.entry(f.kind.label()).or_default() += 1;
        }
        let share = |label: &str| by.get(label).copied().unwrap_or(0) as f64 / faults.len() as f64;
        for (label, want) in [
            ("kill -9 daemon", 0.25),
            ("kill -9 agent", 0.25),
            ("kill -9 ZeroMQ worker", 0.25),
            ("kill -9 JSONL worker", 0.125),
            ("kill -9 HTTP worker", 0.125),
        ] {
            assert!((share(label) - want).abs() < 0.03, "{label}: {} of {} ({by:?})", share(label), faults.len());
        }
        // The picks differ from fault to fault (they choose the victim).
        let picks: std::collections::BTreeSet<u64> = faults
            .iter()
            .filter_map(|f| match f.kind {
                FaultKind::Agent { pick } | FaultKind::Worker { pick, .. } => Some(pick),
                FaultKind::Daemon => None,
            })
            .collect();
        assert!(picks.len() > faults.len() / 2);
    }
}
