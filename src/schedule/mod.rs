//! Schedules: tasks created by the clock (Zenii's scheduler, in Hive's
//! own API). A schedule fires by `cron` (in a time zone), `every` period
//! or once `at` an instant, at a target (the dispatcher's workers or a
//! swarm agent), with an overlap and a catch-up policy.
//!
//! * [`ScheduleSpec`]: a schedule as written, checked into a [`Timing`]
//!   (the next ticks, by `croner` for cron); they live with the swarm
//!   files in `config/schedule/`, which read `[[schedules]]`;
//! * [`Schedule`] and [`Run`] (`record.rs`): what is kept of a schedule
//!   and of each tick it handled;
//! * [`ScheduleStore`] (`store.rs`): the seam to storage (redb's in
//!   `store/schedules.rs`, or [`MemoryStore`]);
//! * [`Fire`] (`fire.rs`): what the scheduler needs of the runtime;
//! * [`Scheduler`] (`scheduler.rs`): the actor that fires them;
//! * the API's views and edits (`view.rs`); [`Clock`] (`clock.rs`).
//!
//! Guarantee: a tick fires at most once, across crashes and restarts (its
//! task's record carries the tick, and the store writes the tick's run in
//! the same transaction).

mod clock;
mod fire;
mod record;
mod scheduler;
mod store;
mod view;

pub use crate::config::schedule::{
    AgentTarget, CatchUp, MAX_NAME_LEN, MIN_PERIOD_MS, Overlap, PoolTarget, ScheduleSpec, Target, Timing, valid_name,
};
pub use clock::{Clock, SystemClock, TokioClock};
pub use fire::{Fire, FireRequest};
pub use record::{Owner, Run, RunOutcome, Schedule};
pub use scheduler::{Scheduler, SchedulerArgs, SchedulerMsg, SchedulerOptions};
pub use store::{MAX_RUNS, MemoryStore, ScheduleStore};
pub use view::{NEXT_FIRES, RunView, ScheduleEdit, ScheduleView};
