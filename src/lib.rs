//! Hive: an Erlang/OTP-style supervision runtime for swarms of agents.
#![warn(missing_docs, unreachable_pub)]

pub mod supervisor;
