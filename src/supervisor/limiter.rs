//! The restart-intensity limiter: a pure state machine (timestamps in,
//! [`Decision`] out) with no actors and no clock of its own, so every
//! rule of OTP's `MaxR`/`MaxT` can be tested directly.
//!
//! Rule (as in OTP): a supervisor may restart at most `max_restarts` times in
//! any sliding window of `window`; the restart that would exceed it is refused
//! with [`Decision::GiveUp`]. With a backoff configured, the n-th restart
//! within the window waits `backoff × 2^(n-1)`, capped at `backoff_max`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Intensity;

/// What the supervisor must do about a child that needs a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Restart, after this delay (zero: at once).
    Restart {
        /// Backoff before the restart.
        after: Duration,
    },
    /// Intensity exceeded: stop every child and fail upward.
    GiveUp {
        /// Restarts counted in the window, the refused one included.
        restarts: u32,
    },
}

/// Sliding-window restart counter of one supervisor.
#[derive(Debug, Clone)]
pub struct RestartLimiter {
    intensity: Intensity,
    history: VecDeque<Instant>,
}

impl RestartLimiter {
    /// A limiter with no restarts recorded.
    pub fn new(intensity: Intensity) -> Self {
        Self { intensity, history: VecDeque::new() }
    }

    /// The settings this limiter enforces.
    pub fn intensity(&self) -> Intensity {
        self.intensity
    }

    /// Restarts currently inside the window ending at `now`.
    pub fn recent(&mut self, now: Instant) -> u32 {
        self.expire(now);
        self.history.len() as u32
    }

    /// Records a restart wanted at `now` and decides whether it may happen.
    pub fn on_restart(&mut self, now: Instant) -> Decision {
        self.expire(now);
        self.history.push_back(now);
        let n = self.history.len() as u32;
        if n > self.intensity.max_restarts {
            return Decision::GiveUp { restarts: n };
        }
        Decision::Restart { after: self.backoff(n) }
    }

    fn expire(&mut self, now: Instant) {
        let window = self.intensity.window;
        while let Some(&oldest) = self.history.front() {
            if now.saturating_duration_since(oldest) >= window {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }

    fn backoff(&self, n: u32) -> Duration {
        let base = self.intensity.backoff;
        if base.is_zero() {
            return Duration::ZERO;
        }
        let cap = self.intensity.backoff_max.max(base);
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        base.checked_mul(factor).unwrap_or(cap).min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max: u32, window_ms: u64) -> RestartLimiter {
        RestartLimiter::new(Intensity {
            max_restarts: max,
            window: Duration::from_millis(window_ms),
            ..Intensity::default()
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn allows_max_restarts_within_window_then_gives_up() {
        let t0 = Instant::now();
        let mut l = limiter(3, 5000);
        for i in 0..3 {
            assert_eq!(l.on_restart(t0 + ms(i)), Decision::Restart { after: Duration::ZERO });
        }
        assert_eq!(l.on_restart(t0 + ms(10)), Decision::GiveUp { restarts: 4 });
    }

    #[test]
    fn zero_intensity_gives_up_on_first_restart() {
        let mut l = limiter(0, 1000);
        assert_eq!(l.on_restart(Instant::now()), Decision::GiveUp { restarts: 1 });
    }

    #[test]
    fn restarts_older_than_window_are_forgotten() {
        let t0 = Instant::now();
        let mut l = limiter(2, 1000);
        assert!(matches!(l.on_restart(t0), Decision::Restart { .. }));
        assert!(matches!(l.on_restart(t0 + ms(500)), Decision::Restart { .. }));
        // The first one leaves the window exactly at t0 + 1000.
        assert!(matches!(l.on_restart(t0 + ms(1000)), Decision::Restart { .. }));
        assert_eq!(l.recent(t0 + ms(1000)), 2);
        assert!(matches!(l.on_restart(t0 + ms(1400)), Decision::GiveUp { .. }));
    }

    #[test]
    fn slow_crash_loop_never_gives_up() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1000);
        for i in 0..100 {
            assert!(matches!(l.on_restart(t0 + ms(i * 1001)), Decision::Restart { .. }));
        }
    }

    #[test]
    fn backoff_doubles_per_restart_in_window_and_is_capped() {
        let t0 = Instant::now();
        let mut l = RestartLimiter::new(Intensity {
            max_restarts: 10,
            window: Duration::from_secs(60),
            backoff: ms(10),
            backoff_max: ms(50),
        });
        let delays: Vec<_> = (0..5)
            .map(|i| match l.on_restart(t0 + ms(i)) {
                Decision::Restart { after } => after,
                d => panic!("unexpected {d:?}"),
            })
            .collect();
        assert_eq!(delays, vec![ms(10), ms(20), ms(40), ms(50), ms(50)]);
    }

    #[test]
    fn backoff_resets_when_window_empties() {
        let t0 = Instant::now();
        let mut l = RestartLimiter::new(Intensity {
            max_restarts: 10,
            window: Duration::from_secs(1),
            backoff: ms(10),
            backoff_max: ms(1000),
        });
        l.on_restart(t0);
        l.on_restart(t0 + ms(1));
        assert_eq!(l.on_restart(t0 + ms(5000)), Decision::Restart { after: ms(10) });
    }

    #[test]
    fn huge_restart_counts_do_not_overflow_backoff() {
        let t0 = Instant::now();
        let mut l = RestartLimiter::new(Intensity {
            max_restarts: 1000,
            window: Duration::from_secs(3600),
            backoff: ms(1),
            backoff_max: ms(7),
        });
        let mut last = Duration::ZERO;
        for i in 0..200 {
            if let Decision::Restart { after } = l.on_restart(t0 + ms(i)) {
                last = after;
            }
        }
        assert_eq!(last, ms(7));
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        use crate::proptest_cases::cases;

        /// The rule as written: every restart ever asked for is kept; the
        /// ones less than `window` before `now` count, the new one included.
        struct Model {
            max: u32,
            window: u128,
            backoff: u128,
            cap: u128,
            asked: Vec<u128>,
        }

        impl Model {
            fn recent(&self, now: u128) -> u32 {
                self.asked.iter().filter(|&&t| now - t < self.window).count() as u32
            }

            fn on_restart(&mut self, now: u128) -> Decision {
                self.asked.push(now);
                let n = self.recent(now);
                if n > self.max {
                    return Decision::GiveUp { restarts: n };
                }
                let after = match self.backoff {
                    0 => 0,
                    b => (b << (n - 1).min(100)).min(self.cap.max(b)),
                };
                Decision::Restart { after: Duration::from_nanos(after as u64) }
            }
        }

        #[derive(Debug, Clone)]
        enum Step {
            Restart(u64),
            Look(u64),
        }

        proptest! {
            #![proptest_config(cases())]

            /// Any intensity and any (non-decreasing) times of restarts and
            /// looks: the limiter decides as the model does.
            #[test]
            fn the_limiter_decides_as_the_sliding_window_model(
                max in prop_oneof![0..5u32, Just(1_000_000)],
                window_ms in 1..2_000u64,
                backoff_ms in prop_oneof![Just(0u64), 1..100u64],
                cap_ms in 0..5_000u64,
                steps in prop::collection::vec(prop_oneof![
                    3 => (0..800u64).prop_map(Step::Restart),
                    1 => (0..3_000u64).prop_map(Step::Look),
                ], 0..60),
            ) {
                let ms = |n: u64| Duration::from_millis(n);
                let intensity = Intensity { max_restarts: max, window: ms(window_ms), backoff: ms(backoff_ms), backoff_max: ms(cap_ms) };
                let mut l = RestartLimiter::new(intensity);
                let nanos = |d: Duration| d.as_nanos();
                let mut m = Model { max, window: nanos(ms(window_ms)), backoff: nanos(ms(backoff_ms)), cap: nanos(ms(cap_ms)), asked: Vec::new() };
                let t0 = Instant::now();
                let mut at = 0u64;
                for step in steps {
                    match step {
                        Step::Restart(dt) => {
                            at += dt;
                            let now = t0 + ms(at);
                            prop_assert_eq!(l.on_restart(now), m.on_restart(nanos(ms(at))), "restart at {} ms", at);
                        }
                        Step::Look(dt) => {
                            at += dt;
                            prop_assert_eq!(l.recent(t0 + ms(at)), m.recent(nanos(ms(at))), "look at {} ms", at);
                        }
                    }
                }
            }
        }
    }
}
