//! The task: one typed lifecycle for everything Hive runs — a swarm agent's
//! task, a standalone worker's, a dispatched one.
//!
//! * [`model`](TaskStatus): the status, the end, the failure codes and the
//!   updates a follower hears;
//! * [`TaskRecord`]: a task as recorded, and the [`TaskChange`]s applied
//!   to it;
//! * [`TaskFilter`] and [`TaskOrder`]: which records a list shows, in
//!   which order;
//! * [`TaskBook`]: where transports report and waiters learn, with or
//!   without a store behind it (the store reads the book's journal);
//! * [`TaskStats`]: what the book counts for the metrics (ended tasks,
//!   dispatch wait and run time by transport).
//!
//! This module sits below the runtime, the gateway and the store: it knows
//! none of them.

mod book;
mod model;
mod notice;
mod query;
mod record;
mod stats;

pub use book::{BookOptions, FOLLOWER_TOKENS, Follower, Journal, Journaled, MAX_JOURNAL, NotDurable, Opened, TaskBook};
pub use model::{FailCode, MAX_CODE_BYTES, TaskEnd, TaskStatus, TaskUpdate, Transport};
pub use notice::{Happened, NOTICE_LAG, TaskNotice};
pub use query::{TaskFilter, TaskOrder, TaskSort};
pub use record::{MAX_OUTPUT_BYTES, ScheduleTick, TaskChange, TaskRecord};
pub use stats::{TaskStats, seconds_buckets};
