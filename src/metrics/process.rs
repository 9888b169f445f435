//! The process's own resources, read from `/proc/self` at a scrape: its
//! resident memory and its open file descriptors. Elsewhere than Linux
//! (no `/proc`), nothing is read and nothing is shown.
//!
//! The reads are small synchronous file reads: the caller runs them on the
//! blocking pool, never on a runtime worker thread.

/// What `/proc/self` tells.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSample {
    /// Resident set size in bytes.
    pub rss_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The most file descriptors it may open (the soft limit).
    pub max_fds: Option<u64>,
}

/// Reads `/proc/self` (blocking: call it from the blocking pool).
pub fn sample() -> ProcessSample {
    ProcessSample { rss_bytes: rss_bytes(), open_fds: open_fds(), max_fds: max_fds() }
}

fn rss_bytes() -> Option<u64> {
    // `VmRSS:   12345 kB`.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn open_fds() -> Option<u64> {
    // The directory's own descriptor, open while it is read, is not counted.
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count().saturating_sub(1) as u64)
}

fn max_fds() -> Option<u64> {
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).ok()?;
    Some(soft)
}
