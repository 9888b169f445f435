//! `hive validate FILE...`: every error of every file, located; exit 1 if any.

use std::path::PathBuf;
use std::process::ExitCode;

use hive::config::{self, ValidateOptions};
use hive::objects::ObjectKinds;

pub(crate) fn run(files: &[PathBuf]) -> ExitCode {
    let opts = ValidateOptions { object_kinds: ObjectKinds::default().names() };
    let mut ok = true;
    for file in files {
        match config::parse_file(file, &opts) {
            Ok(spec) => {
                let agents = spec.agent_names().len();
                println!(
                    "{}: ok (swarm '{}': {agents} agents, {} objects, {} edges)",
                    file.display(),
                    spec.name,
                    spec.objects.len(),
                    spec.topology.len()
                );
            }
            Err(errors) => {
                ok = false;
                for e in &errors.0 {
                    println!("{}:{e}", file.display());
                }
                eprintln!("{}: {} error(s)", file.display(), errors.0.len());
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
