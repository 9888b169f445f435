//! The CLI: argument parsing and one module per command.

mod bench;
mod client;
mod print;
mod run;
mod serve;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use client::swarms::{EdgeArg, TaskArgs, parse_edge};
use client::{Client, ClientError, ClientOpts};

/// Hive: an Erlang/OTP-style supervision runtime for swarms of agents.
#[derive(Parser, Debug)]
#[command(name = "hive", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    client: ClientOpts,
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
    /// List the daemon's swarms.
    Ps,
    /// Show a swarm: agents, objects, groups, topology, restarts, failure reason.
    Status {
        /// The swarm.
        name: String,
    },
    /// Start a swarm file on the daemon (TOML, or JSON by extension).
    Up {
        /// The swarm file.
        file: PathBuf,
    },
    /// Stop a swarm.
    Down {
        /// The swarm.
        name: String,
        /// Also delete its stored overlay, events and tasks.
        #[arg(long)]
        purge: bool,
    },
    /// Scale a group to N members.
    Scale {
        /// The swarm.
        name: String,
        /// The scale group.
        group: String,
        /// Members wanted (0 or more).
        n: u32,
    },
    /// Give an agent a task; prints the task id.
    Task(TaskArgs),
    /// Show a swarm's edges, or add and remove some (all or nothing).
    Topology {
        /// The swarm.
        name: String,
        /// Add the edge FROM:TO (repeatable).
        #[arg(long, value_name = "FROM:TO", value_parser = parse_edge)]
        add: Vec<EdgeArg>,
        /// Remove the edge FROM:TO (repeatable).
        #[arg(long, value_name = "FROM:TO", value_parser = parse_edge)]
        remove: Vec<EdgeArg>,
    },
    /// Show events (all, or one swarm's); -f follows the live stream.
    Events(client::events::EventsArgs),
    /// Spawn a standalone JSONL worker; prints its id.
    Spawn(client::workers::SpawnArgs),
    /// Stop a standalone worker.
    Kill {
        /// The worker id.
        id: String,
    },
    /// List the ZeroMQ gateway's workers and the standalone JSONL workers; `off|on ID` drains or resumes a ZeroMQ worker.
    Workers(client::workers::WorkersArgs),
    /// Send a prompt to a ZeroMQ worker through the gateway; prints the result (or, with --async, the task id).
    Dispatch(client::gateway::DispatchArgs),
    /// List recorded tasks, show one (`tasks ID`), or cancel one (`tasks cancel ID`).
    Tasks(client::tasks::TasksArgs),
    /// Print a swarm's effective config (seed plus runtime changes) as a swarm file.
    Snapshot {
        /// The swarm.
        name: String,
        /// Write it to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings), and to
/// the returned ring of the daemon's last lines (`GET /api/v1/logs`), with
/// its own filter (`HIVE_LOG_RING`, default `hive::logs::DEFAULT_DIRECTIVES`).
pub(crate) fn init_tracing() -> hive::logs::LogRing {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let ring = hive::logs::LogRing::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter))
        .with(hive::logs::RingLayer::new(ring.clone()).with_filter(hive::logs::RingLayer::filter()))
        .init();
    ring
}

/// Runs the parsed command (`logs`: the ring the daemon's tracing feeds).
pub(crate) async fn run(cli: Cli, logs: hive::logs::LogRing) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args, cli.client.token.clone(), logs).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Run(args) => run::run(args).await,
        Command::Validate { files } => validate::run(&files),
        command => {
            // A client is a Unix filter: a closed pipe (`hive ps | head -1`)
            // ends it quietly instead of panicking in println!. (Not for the
            // daemon: it writes to agents' pipes and must see EPIPE.)
            // SAFETY: restores the default disposition of one signal; no
            // handler of ours is replaced.
            unsafe {
                let _ =
                    nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl);
            }
            let json = cli.client.json;
            match client_command(&cli.client, command).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => e.report(json),
            }
        }
    }
}

/// Runs a command against the daemon.
async fn client_command(opts: &ClientOpts, command: Command) -> Result<(), ClientError> {
    use client::{events, gateway, swarms, tasks, workers};
    let c = &Client::new(opts)?;
    match command {
        Command::Ps => swarms::ps(c).await,
        Command::Status { name } => swarms::status(c, &name).await,
        Command::Up { file } => swarms::up(c, &file).await,
        Command::Down { name, purge } => swarms::down(c, &name, purge).await,
        Command::Scale { name, group, n } => swarms::scale(c, &name, &group, n).await,
        Command::Task(a) => swarms::task(c, &a).await,
        Command::Topology { name, add, remove } => swarms::topology(c, &name, &add, &remove).await,
        Command::Events(a) => events::run(c, &a).await,
        Command::Spawn(a) => workers::spawn(c, &a).await,
        Command::Kill { id } => workers::kill(c, &id).await,
        Command::Workers(a) => workers::run(c, &a).await,
        Command::Dispatch(a) => gateway::dispatch(c, &a).await,
        Command::Tasks(a) => tasks::run(c, &a).await,
        Command::Snapshot { name, output } => swarms::snapshot(c, &name, output.as_ref()).await,
        Command::Serve(_) | Command::Run(_) | Command::Bench(_) | Command::Validate { .. } => {
            unreachable!("handled by run")
        }
    }
}
