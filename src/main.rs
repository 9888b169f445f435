//! The `hive` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc, not the system allocator: a task's records, events and frames
/// are allocated on one thread and freed on another, which glibc's malloc
/// serialises on its arenas' locks (docs/benchmarks.md measures the two).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let logs = cli::init_tracing(args.log_format());
    cli::run(args, logs).await
}
