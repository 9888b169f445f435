//! The `hive` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let logs = cli::init_tracing(args.log_format());
    cli::run(args, logs).await
}
