//! The scheduler's clock: the wall time it reads to know which ticks are
//! due. [`SystemClock`] in a daemon; [`TokioClock`] in tests, where the
//! wall time moves with tokio's (paused) clock, so an hour of ticks runs in
//! an instant and the same every time. The scheduler sleeps with tokio's
//! timers either way, at most a minute at a time (a wall clock that jumps
//! is noticed within a minute).

/// The wall time, in ms since the epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        crate::events::now_ms()
    }
}

/// A wall clock that starts at `base_ms` and advances with tokio's clock
/// (which a test pauses and advances).
pub struct TokioClock {
    base_ms: u64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at `base_ms`, now.
    pub fn starting_at(base_ms: u64) -> Self {
        Self { base_ms, start: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.base_ms + self.start.elapsed().as_millis() as u64
    }
}
