//! Injected disk faults, for tests only (feature `fault-injection`, which
//! this crate's own tests turn on through its dev-dependency on itself; a
//! build of the daemon does not have it).
//!
//! This file owns [`DiskFaults`], a switch a test holds, and
//! [`FaultyBackend`], a redb `StorageBackend` that wraps redb's own
//! `FileBackend` and fails writes (`write`, `set_len`) or fsyncs
//! (`sync_data`) while the switch says so, from a chosen point on. Every
//! other call (reads, lengths, locks, close) goes to the file backend as is,
//! so a store opened through it is the real file in every other respect.
//!
//! Guarantees: with the switch healed, the backend is the file backend; a
//! failing call changes nothing on disk (it fails before it reaches the
//! file); [`DiskFaults::injected`] counts the calls that were failed, so a
//! test can check that its fault really fired.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};

/// Which calls fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `write` and `set_len`: the disk refuses data (full, read-only, gone).
    Write,
    /// `sync_data`: the fsync fails (the data may not be on the platter).
    Sync,
}

const HEALTHY: u8 = 0;
const WRITE: u8 = 1;
const SYNC: u8 = 2;

/// The switch of a store's injected faults; clones share it.
#[derive(Debug, Clone, Default)]
pub struct DiskFaults(Arc<Switch>);

#[derive(Debug, Default)]
struct Switch {
    mode: AtomicU8,
    /// Calls of the failing kind that still succeed before the first failure.
    grace: AtomicU64,
    injected: AtomicU64,
}

impl DiskFaults {
    /// A healthy disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// From the next call of that kind on, every one fails until [`heal`](Self::heal).
    pub fn fail(&self, fault: Fault) {
        self.fail_after(fault, 0);
    }

    /// After `calls` more successful calls of that kind, every one fails
    /// until [`heal`](Self::heal) (a fault at a chosen point of a commit).
    pub fn fail_after(&self, fault: Fault, calls: u64) {
        self.0.grace.store(calls, Ordering::SeqCst);
        self.0.mode.store(
            match fault {
                Fault::Write => WRITE,
                Fault::Sync => SYNC,
            },
            Ordering::SeqCst,
        );
    }

    /// The disk works again.
    pub fn heal(&self) {
        self.0.mode.store(HEALTHY, Ordering::SeqCst);
    }

    /// Calls failed so far.
    pub fn injected(&self) -> u64 {
        self.0.injected.load(Ordering::SeqCst)
    }

    fn check(&self, kind: u8) -> Result<(), std::io::Error> {
        if self.0.mode.load(Ordering::SeqCst) != kind {
            return Ok(());
        }
        let passed = self.0.grace.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |g| g.checked_sub(1)).is_ok();
        if passed {
            return Ok(());
        }
        self.0.injected.fetch_add(1, Ordering::SeqCst);
        Err(std::io::Error::other(match kind {
            WRITE => "injected fault: the disk refused a write",
            _ => "injected fault: fsync failed",
        }))
    }
}

/// redb's file backend, with [`DiskFaults`] in front of its writes and fsyncs.
#[derive(Debug)]
pub struct FaultyBackend {
    file: FileBackend,
    faults: DiskFaults,
}

impl FaultyBackend {
    /// Wraps the file backend of `file`.
    pub fn new(file: std::fs::File, faults: DiskFaults) -> Result<Self, redb::DatabaseError> {
        Ok(Self { file: FileBackend::new(file)?, faults })
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.file.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.file.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.faults.check(WRITE)?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.faults.check(SYNC)?;
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.faults.check(WRITE)?;
        self.file.write(offset, data)
    }

    fn close(&self) -> Result<(), std::io::Error> {
        self.file.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.file.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.file.query_lock_range(start, end)
    }
}
