//! What may be spawned: the `spawn_allow` check shared by every program the
//! runtime starts on request — standalone workers (`POST /api/v1/agents/spawn`)
//! and objects whose handler is a program (`handler = "stdio"`).
//!
//! Guarantees: a program runs only if its path, resolved (symlinks and `..`
//! removed), matches a glob (relative globs are taken from the daemon's
//! working directory); with no globs nothing may be spawned. A `.py` path
//! runs under the `python3` of the daemon's PATH, never one the request
//! names. Environment variables that decide what code a process loads are
//! refused. These are blocking filesystem calls: async callers run them in
//! `spawn_blocking`.

use std::path::{Path, PathBuf};

use crate::error::{HiveError, Resource};

/// Resolves `path` and checks it against the allow globs.
pub(crate) fn allowed(path: &str, globs: &[String]) -> Result<PathBuf, HiveError> {
    if globs.is_empty() {
        return Err(HiveError::Forbidden(
            "spawning programs is disabled: no [workers] spawn_allow globs are configured".into(),
        ));
    }
    let resolved =
        std::fs::canonicalize(path).map_err(|e| HiveError::not_found(Resource::WorkerPath, format!("{path} ({e})")))?;
    if !resolved.is_file() {
        return Err(HiveError::BadRequest(format!("worker_path '{path}' is not a file")));
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let ok = globs.iter().any(|g| {
        let pattern = if Path::new(g).is_absolute() { g.clone() } else { cwd.join(g).to_string_lossy().into_owned() };
        glob::Pattern::new(&pattern).is_ok_and(|p| {
            p.matches_path_with(&resolved, glob::MatchOptions { require_literal_separator: true, ..Default::default() })
        })
    });
    if ok {
        Ok(resolved)
    } else {
        Err(HiveError::Forbidden(format!(
            "'{}' is not allowed by spawn_allow ({})",
            resolved.display(),
            globs.join(", ")
        )))
    }
}

/// Environment variables that decide what code a process loads or runs; a
/// spawn request may not set them (that would sidestep `spawn_allow`).
pub(crate) fn unsafe_env(key: &str) -> bool {
    const EXACT: &[&str] = &["PATH", "BASH_ENV", "ENV", "IFS", "NODE_OPTIONS", "NODE_PATH", "RUBYOPT", "RUBYLIB"];
    const PREFIX: &[&str] = &["LD_", "DYLD_", "PYTHON", "PERL5", "PERLLIB", "GCONV_", "MALLOC_"];
    let upper = key.to_ascii_uppercase();
    EXACT.contains(&upper.as_str()) || PREFIX.iter().any(|p| upper.starts_with(p))
}

/// The absolute path of `program` in the daemon's PATH.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The argv that runs `command` (program first, then its arguments) if
/// `globs` permit the program: its resolved path (a bare name is looked up
/// in the daemon's PATH first), under the daemon's `python3` for a `.py`
/// file. `env` keys that could load other code are refused.
pub(crate) fn program_argv<'a>(
    command: &[String],
    env: impl IntoIterator<Item = &'a String>,
    globs: &[String],
) -> Result<Vec<String>, HiveError> {
    let program = command.first().ok_or_else(|| HiveError::BadRequest("command must not be empty".into()))?;
    if let Some(key) = env.into_iter().find(|k| unsafe_env(k)) {
        return Err(HiveError::Forbidden(format!(
            "env '{key}' is refused: it could make the program run code spawn_allow does not permit"
        )));
    }
    let path = if program.contains('/') {
        program.clone()
    } else {
        match which(program) {
            Some(p) => p.to_string_lossy().into_owned(),
            None => program.clone(),
        }
    };
    let resolved = allowed(&path, globs)?.to_string_lossy().into_owned();
    let mut argv = if resolved.ends_with(".py") {
        let python =
            which("python3").ok_or_else(|| HiveError::Unavailable("python3 is not on the daemon's PATH".into()))?;
        vec![python.to_string_lossy().into_owned(), resolved]
    } else {
        vec![resolved]
    };
    argv.extend(command[1..].iter().cloned());
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_argv_resolves_checks_and_runs_python_files_under_the_daemons_python() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("h.py");
        std::fs::write(&script, "").unwrap();
        let glob = format!("{}/*.py", dir.path().canonicalize().unwrap().display());
        let command = vec![script.to_string_lossy().into_owned(), "--x".to_string()];
        let argv = program_argv(&command, [], std::slice::from_ref(&glob)).unwrap();
        assert!(argv[0].ends_with("python3"), "{argv:?}");
        assert_eq!(argv[1..], [script.canonicalize().unwrap().to_string_lossy().into_owned(), "--x".into()]);
        // A bare name is found in PATH, then checked like any path: refused here.
        let sh = program_argv(&["sh".to_string()], [], std::slice::from_ref(&glob));
        assert!(matches!(sh, Err(HiveError::Forbidden(ref m)) if m.contains("not allowed by spawn_allow")), "{sh:?}");
        let env = "PYTHONPATH".to_string();
        assert!(matches!(program_argv(&command, [&env], &[glob]), Err(HiveError::Forbidden(_))));
        assert!(matches!(program_argv(&command, [], &[]), Err(HiveError::Forbidden(_))));
    }
}
