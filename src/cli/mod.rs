//! The CLI: argument parsing and one module per command.

mod bench;
mod print;
mod run;
mod serve;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Hive: an Erlang/OTP-style supervision runtime for swarms of agents.
#[derive(Parser, Debug)]
#[command(name = "hive", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the daemon: the HTTP API, with recorded swarms restored and the given files started.
    Serve(serve::ServeArgs),
    /// Run one swarm in the foreground, without a daemon, printing its events (Ctrl-C stops it).
    Run(run::RunArgs),
    /// End-to-end load scenarios against a daemon in a second process.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Check swarm files; prints every error with its line and column.
    Validate {
        /// Swarm files (TOML, or JSON by extension).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings).
pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Runs the parsed command.
pub(crate) async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Run(args) => run::run(args).await,
        Command::Validate { files } => validate::run(&files),
    }
}
