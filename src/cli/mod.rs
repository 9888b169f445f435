//! The CLI: argument parsing and one module per command.

mod bench;
mod client;
mod completions;
mod print;
mod run;
mod serve;
mod token;
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
        /// Let the daemon check them (`POST /api/config/validate`: its object kinds and settings).
        #[arg(long)]
        daemon: bool,
    },
    /// Tokens with roles: `hive token new NAME --role ROLE`.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// Print a shell completion script (`hive completions bash > /etc/bash_completion.d/hive`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
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
    /// The tokens the daemon accepts: names and roles (admins only).
    Tokens,
    /// Schedules: `add`, `ls`, `show`, `enable`, `disable`, `rm`, `runs`.
    Schedule(client::schedules::ScheduleArgs),
    /// Send a prompt to a ZeroMQ worker through the gateway; prints the result (or, with --async, the task id).
    Dispatch(client::gateway::DispatchArgs),
    /// List recorded tasks, show one (`tasks ID`), or cancel one (`tasks cancel ID`).
    Tasks(client::tasks::TasksArgs),
    /// Pause every agent of a swarm (stdio agents' processes are stopped).
    Pause {
        /// The swarm.
        name: String,
    },
    /// Resume a paused swarm.
    Resume {
        /// The swarm.
        name: String,
    },
    /// Restart a swarm as its users left it (--delete: from its seed), or one agent.
    Restart(client::control::RestartArgs),
    /// Route a message FROM → TO through the swarm's topology.
    Message(client::control::MessageArgs),
    /// Show a swarm's routed-message log (oldest first).
    Messages {
        /// The swarm.
        name: String,
        /// Newest messages to show (1..=1000).
        #[arg(long, short = 'n', value_name = "N", default_value_t = 100,
            value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
    /// Forget stopped and failed swarms (--all: and delete their stored data).
    Clean {
        /// Also delete their stored overlay, events and tasks.
        #[arg(long)]
        all: bool,
    },
    /// List a swarm's agents (`agents NAME`), or add, show, remove one, or read its history.
    Agents(client::agents::AgentsArgs),
    /// List a swarm's objects with their state (`objects NAME`), or add, get, configure, remove one.
    Objects(client::objects::ObjectsArgs),
    /// Show or clear a swarm's overlay (its runtime changes since the seed).
    #[command(subcommand)]
    Overlay(client::control::OverlayCmd),
    /// List the daemon's skill files, print one (`skills NAME`), an agent's (`skills agent`), or replace one (`skills put`).
    Skills(client::agents::SkillsArgs),
    /// The daemon's own log lines, or (`logs NAME AGENT`) an agent's output and log lines.
    Logs(client::daemon::LogsArgs),
    /// Run several prompts through the gateway (parallel, sequential or a workflow); prints each result.
    Orchestrate(client::orchestrate::OrchestrateArgs),
    /// The ZeroMQ gateway: `gateway status`.
    #[command(subcommand)]
    Gateway(client::daemon::GatewayCmd),
    /// Daemon-wide maintenance: `off` takes no new work (503 + Retry-After), `on` takes it again.
    #[command(subcommand)]
    Maintenance(client::daemon::MaintenanceCmd),
    /// The daemon's health (the detailed form with a valid token).
    Health,
    /// Print a swarm's effective config (seed plus runtime changes) as a swarm file.
    Snapshot {
        /// The swarm.
        name: String,
        /// Write it to FILE instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// How the daemon writes its log lines to stderr (`hive serve --log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Readable lines: time, level, spans with their fields, message, fields.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `fields`,
    /// `span` (the innermost) and `spans` (all, outermost first).
    Json,
}

impl Cli {
    /// The log format asked for (`hive serve --log-format`; text for every
    /// other command).
    pub(crate) fn log_format(&self) -> LogFormat {
        match &self.command {
            Command::Serve(a) => a.log_format,
            _ => LogFormat::Text,
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings), and to
/// the returned ring of the daemon's last lines (`GET /api/v1/logs`), with
/// its own filter (`HIVE_LOG_RING`, default `hive::logs::DEFAULT_DIRECTIVES`).
/// `format` is how stderr's lines are written: readable text, or one JSON
/// object a line with the event's fields and its spans' (a task's lines
/// carry its `task_id`, a request's its method and route).
pub(crate) fn init_tracing(format: LogFormat) -> hive::logs::LogRing {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let ring = hive::logs::LogRing::default();
    // Colours only on a terminal: a piped or collected log stays plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let stderr = match format {
        LogFormat::Text => stderr.with_filter(filter).boxed(),
        LogFormat::Json => stderr.json().with_current_span(true).with_span_list(true).with_filter(filter).boxed(),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(hive::logs::RingLayer::new(ring.clone()).with_filter(hive::logs::RingLayer::filter()))
        .init();
    ring
}

/// Runs the parsed command (`logs`: the ring the daemon's tracing feeds).
/// Raises the soft open-file limit to the hard one (a server of many
/// sockets, a bench of many clients); the soft limit after, if readable.
pub(crate) fn raise_fd_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    getrlimit(Resource::RLIMIT_NOFILE).ok().map(|(soft, _)| soft)
}

pub(crate) async fn run(cli: Cli, logs: hive::logs::LogRing) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args, cli.client.token.clone(), logs).await,
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Run(args) => run::run(args).await,
        Command::Validate { files, daemon: false } => validate::run(&files),
        Command::Completions { shell } => completions::run(shell),
        Command::Token(cmd) => token::run(cmd),
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
    use client::{agents, control, daemon, events, gateway, objects, orchestrate, schedules, swarms, tasks, workers};
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
        Command::Schedule(a) => schedules::run(c, &a).await,
        Command::Tokens => daemon::tokens(c).await,
        Command::Dispatch(a) => gateway::dispatch(c, &a).await,
        Command::Tasks(a) => tasks::run(c, &a).await,
        Command::Snapshot { name, output } => swarms::snapshot(c, &name, output.as_ref()).await,
        Command::Validate { files, daemon: true } => swarms::validate(c, &files).await,
        Command::Pause { name } => control::pause(c, &name, false).await,
        Command::Resume { name } => control::pause(c, &name, true).await,
        Command::Restart(a) => control::restart(c, &a).await,
        Command::Message(a) => control::message(c, &a).await,
        Command::Messages { name, limit } => control::messages(c, &name, limit).await,
        Command::Clean { all } => control::clean(c, all).await,
        Command::Overlay(cmd) => control::overlay(c, &cmd).await,
        Command::Agents(a) => agents::run(c, &a).await,
        Command::Objects(a) => objects::run(c, &a).await,
        Command::Skills(a) => agents::skills(c, &a).await,
        Command::Logs(a) => daemon::logs(c, &a).await,
        Command::Orchestrate(a) => orchestrate::run(c, &a).await,
        Command::Gateway(cmd) => daemon::gateway(c, &cmd).await,
        Command::Maintenance(cmd) => daemon::maintenance(c, &cmd).await,
        Command::Health => daemon::health(c).await,
        Command::Serve(_)
        | Command::Run(_)
        | Command::Bench(_)
        | Command::Validate { daemon: false, .. }
        | Command::Completions { .. }
        | Command::Token(_) => {
            unreachable!("handled by run")
        }
    }
}
