//! Hive: an Erlang/OTP-style supervision runtime for swarms of agents.
//!
//! * [`supervisor`]: a generic OTP supervisor on ractor (strategies, restart
//!   types, intensity, graceful shutdown);
//! * [`config`]: swarm files (TOML/JSON) — parse, validate, snapshot;
//! * [`runtime`]: swarms as supervised trees (router, agents, objects) and
//!   the [`runtime::Hive`] library API;
//! * [`events`]: the event model and bus;
//! * [`objects`]: object kinds (built-in and your own).
#![warn(missing_docs, unreachable_pub)]

pub mod config;
pub mod events;
pub mod gateway;
pub mod objects;
pub mod runtime;
pub mod supervisor;

pub use runtime::{ErrorCode, Hive, HiveError, HiveOptions, Resource, SwarmHandle};
pub mod http;
pub mod store;
