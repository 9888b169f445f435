//! `hive run FILE`: run one swarm in the foreground, printing its events,
//! until Ctrl-C (graceful stop) or until the swarm fails (exit 1).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use hive::events::{EventKind, Level};
use hive::{Hive, HiveOptions, config};
use tokio::sync::broadcast::error::RecvError;

use super::print::event_line;

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The swarm file (TOML, or JSON by extension).
    file: PathBuf,
    /// Send a task once the swarm runs, as AGENT=TEXT (repeatable).
    #[arg(long = "task", value_name = "AGENT=TEXT")]
    tasks: Vec<String>,
    /// Also print debug events (tokens, routed messages).
    #[arg(short, long)]
    verbose: bool,
    /// Print events as JSON lines instead of text.
    #[arg(long)]
    json: bool,
    /// Where the swarm, its runtime changes, its events and its tasks are
    /// kept (DIR/hive.redb). Ctrl-C leaves the swarm recorded as running, and
    /// the next `hive up` with the same DIR brings it back as it was left.
    #[arg(long, value_name = "DIR", default_value = ".hive", conflicts_with = "in_memory")]
    data_dir: PathBuf,
    /// Keep nothing: no data file; Ctrl-C stops the swarm.
    #[arg(long)]
    in_memory: bool,
    /// Start the swarm from the file even if the store holds it (its
    /// recorded changes are discarded).
    #[arg(long, conflicts_with = "in_memory")]
    fresh: bool,
}

pub(crate) async fn run(args: RunArgs) -> ExitCode {
    let mut signals = match Shutdown::listen() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hive: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data_dir = (!args.in_memory).then(|| args.data_dir.clone());
    // A foreground `up` brings back only its own swarm from the store.
    let kinds = hive::config::ValidateOptions { object_kinds: hive::objects::ObjectKinds::default().names() };
    let only = config::parse_file(&args.file, &kinds).ok().map(|s| vec![s.name]);
    let opts = HiveOptions { data_dir: data_dir.clone(), restore_only: only, ..HiveOptions::default() };
    let hive = match Hive::start(opts).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("hive: {e}");
            return ExitCode::FAILURE;
        }
    };
    let spec = match config::parse_file(&args.file, &hive.validate_options()) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{}:{e}", args.file.display());
            }
            return ExitCode::FAILURE;
        }
    };
    let mut tasks = Vec::new();
    for t in &args.tasks {
        match t.split_once('=') {
            Some((agent, text)) => tasks.push((agent.to_string(), text.to_string())),
            None => {
                eprintln!("hive: --task takes AGENT=TEXT, got '{t}'");
                return ExitCode::FAILURE;
            }
        }
    }
    let name = spec.name.clone();
    // From the first event on: a restore at start has already produced some.
    let mut sub = hive.events().subscribe_since(0);
    let backlog = std::mem::take(&mut sub.backlog);
    let mut events = sub.live;
    let restored = hive.swarm(&name).await.ok();
    let swarm = match (restored, args.fresh) {
        (Some(s), false) => {
            eprintln!(
                "hive: swarm '{name}' was restored from {} with its runtime changes; the file was not applied again \
                 (--fresh starts it from the file)",
                args.data_dir.display()
            );
            s
        }
        (restored, _) => {
            if restored.is_some() {
                let _ = hive.stop_swarm(&name).await;
                let _ = hive.clean(false).await;
            }
            match hive.start_swarm(spec).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("hive: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    for (agent, text) in tasks {
        if let Err(e) = swarm.send_task(&agent, &text).await {
            eprintln!("hive: task for '{agent}': {e}");
        }
    }
    let min = if args.verbose { Level::Debug } else { Level::Info };
    let print = |e: &hive::events::Event| {
        if e.level() >= min {
            if args.json {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                println!("{}", event_line(e));
            }
        }
    };
    for e in &backlog {
        print(e);
    }
    let durable = data_dir.is_some();
    let code = loop {
        tokio::select! {
            _ = signals.recv() => {
                if durable {
                    // A shutdown, not a stop: the store keeps the swarm as running.
                    eprintln!("hive: shutting down; swarm '{name}' stays recorded and comes back at the next start");
                    let _ = hive.shutdown().await;
                    while let Ok(e) = events.try_recv() {
                        print(&e);
                    }
                    return ExitCode::SUCCESS;
                }
                eprintln!("hive: stopping swarm '{name}' gracefully");
                let _ = hive.stop_swarm(&name).await;
                break ExitCode::SUCCESS;
            }
            e = events.recv() => match e {
                Ok(e) => {
                    print(&e);
                    if matches!(e.kind, EventKind::SwarmFailed { .. }) && e.swarm.as_deref() == Some(&*name) {
                        break ExitCode::FAILURE;
                    }
                }
                Err(RecvError::Lagged(n)) => eprintln!("hive: {n} events skipped (terminal too slow)"),
                Err(RecvError::Closed) => break ExitCode::FAILURE,
            }
        }
    };
    // Print what the stop produced.
    while let Ok(e) = events.try_recv() {
        print(&e);
    }
    hive.shutdown().await;
    code
}

/// SIGINT and SIGTERM, listened to from the moment this is created (a
/// signal that comes before the event loop is still seen, not fatal).
pub(crate) struct Shutdown {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Shutdown {
    pub(crate) fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())? })
    }

    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
