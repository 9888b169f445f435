//! `hive completions SHELL`: the shell completion script of every command
//! and option, generated from the parser itself (so it cannot drift).

use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Prints the script for `shell` to stdout.
pub(crate) fn run(shell: Shell) -> ExitCode {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "hive", &mut std::io::stdout());
    ExitCode::SUCCESS
}
