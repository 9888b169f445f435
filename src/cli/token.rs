//! `hive token new NAME --role ROLE`: a fresh secret, printed once, and the
//! config lines that make the daemon accept it (its SHA-256, never the
//! secret). Nothing is written anywhere: the secret exists only in this
//! command's output.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use hive::access::{Role, TokenSpec, TokenTable, digest_hex, new_secret};

/// `hive token ...`.
#[derive(Subcommand, Debug)]
pub(crate) enum TokenCmd {
    /// Make a fresh token: prints its secret once and the `[[server.tokens]]` lines to add.
    New {
        /// Its name (tasks it submits and refusals name it).
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

/// A role on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Viewer,
    Operator,
    Admin,
    Worker,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
            RoleArg::Worker => Role::Worker,
        }
    }
}

/// Runs a token command.
pub(crate) fn run(cmd: TokenCmd) -> ExitCode {
    match cmd {
        TokenCmd::New { name, role } => {
            let secret = match new_secret() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("hive: no random source: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let spec = TokenSpec { name, role: role.into(), sha256: digest_hex(&secret) };
            // The same checks the daemon makes when it reads the lines.
            if let Err(e) = TokenTable::new(std::slice::from_ref(&spec), None) {
                eprintln!("hive: {e}");
                return ExitCode::from(2);
            }
            println!("secret (shown once; give it to the client): {secret}");
            println!();
            println!("# add to the daemon's config file, then SIGHUP it or restart it:");
            println!("[[server.tokens]]");
            println!("name = \"{}\"", spec.name);
            println!("role = \"{}\"", spec.role);
            println!("sha256 = \"{}\"", spec.sha256);
            ExitCode::SUCCESS
        }
    }
}
