//! `hive bench`: end-to-end load scenarios against a real daemon in a
//! second process. Each one starts `hive serve` (in memory, with a bench
//! swarm) unless `--url` names a running daemon, drives it over real
//! sockets, and prints medians and percentiles.

mod daemon;
mod http;
mod ws;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCmd {
    /// GET one swarm's status from many keep-alive connections; requests/s and latency.
    Http(http::HttpArgs),
    /// Many /ws/events subscribers to one swarm while it routes messages at a fixed rate; delivery and latency.
    Ws(ws::WsArgs),
}

pub(crate) async fn run(cmd: BenchCmd) -> ExitCode {
    let r = match cmd {
        BenchCmd::Http(a) => http::run(a).await,
        BenchCmd::Ws(a) => ws::run(a).await,
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hive bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Percentile of sorted samples (`p` in 0..=100).
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The token for a daemon named with `--against` (HIVE_TOKEN); none for
/// the daemon the bench starts itself.
pub(crate) fn token(against: &Option<String>) -> Option<String> {
    against.as_ref().and_then(|_| std::env::var("HIVE_TOKEN").ok()).filter(|t| !t.is_empty())
}

/// Raises the open-file limit to its hard maximum (many sockets).
pub(crate) fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_pick_from_sorted_samples() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(super::percentile(&v, 50.0), 51);
        assert_eq!(super::percentile(&v, 99.0), 99);
        assert_eq!(super::percentile(&[], 99.0), 0);
    }
}
