//! Hive: an Erlang/OTP-style supervision runtime for swarms of agents.
//!
//! * [`supervisor`]: a generic OTP supervisor on ractor (strategies, restart
//!   types, intensity, graceful shutdown);
//! * [`config`]: swarm files (TOML/JSON) — parse, validate, snapshot;
//! * [`runtime`]: swarms as supervised trees (router, agents, objects) and
//!   the [`runtime::Hive`] library API;
//! * [`events`]: the event model and bus;
//! * [`objects`]: object kinds (built-in and your own);
//! * [`gateway`]: the ZeroMQ gateway and its task dispatcher;
//! * [`task`]: the task as one typed lifecycle, and the task book;
//! * [`store`]: the embedded redb store (swarms, events, tasks);
//! * [`logs`]: the bounded ring of the daemon's own log lines;
//! * `http` (feature `server`, on by default): the HTTP and WebSocket
//!   adapter that the `hive` daemon serves.
#![warn(missing_docs, unreachable_pub)]

pub mod access;
pub mod config;
mod error;
pub mod events;
pub mod gateway;
pub mod logs;
pub mod metrics;
pub mod objects;
#[cfg(test)]
mod proptest_cases;
pub mod runtime;
pub mod schedule;
pub mod store;
pub mod supervisor;
pub mod task;
mod token;

#[cfg(feature = "server")]
pub mod http;

pub use error::{EdgeError, ErrorCode, HiveError, Resource};
pub use runtime::{Hive, HiveOptions, SwarmHandle};
