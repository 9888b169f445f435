//! The store against a disk that fails (injected faults on real redb files
//! in temp directories) and against data files cut at random lengths.

use std::time::Duration;

use super::*;
use crate::events::{BusOptions, EventBus, EventKind};
use crate::task::{BookOptions, FailCode, Journal, NotDurable, TaskBook, TaskEnd, TaskStatus, Transport};

fn record(name: &str) -> SwarmRecord {
    SwarmRecord {
        name: name.into(),
        seed_toml: format!("name = \"{name}\"\n"),
        state: "running".into(),
        started_at_ms: 1,
        failure_reason: None,
    }
}

/// Waits (at most 20 s) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Running {
    store: Store,
    bus: EventBus,
    book: TaskBook,
    service: StoreService,
}

fn start(dir: &std::path::Path, faults: &DiskFaults) -> Running {
    let store = Store::open_faulty(dir, faults.clone()).unwrap();
    let bus = EventBus::durable(BusOptions::default(), store.next_seq().unwrap());
    let book = TaskBook::new(BookOptions::default(), true);
    let service = StoreService::start(store.clone(), &bus, &book, Retention::default());
    Running { store, bus, book, service }
}

impl Running {
    async fn stop(self) {
        self.service.shutdown(&self.bus, &self.book).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_makes_the_store_unavailable_and_writing_resumes_once_the_disk_heals() {
    for fault in [Fault::Sync, Fault::Write] {
        let dir = tempfile::tempdir().unwrap();
        let faults = DiskFaults::new();
        let r = start(dir.path(), &faults);
        let w = r.service.writer().clone();
        w.put_swarm(record("before")).await.unwrap();
        faults.fail(fault);
        let err = w.put_swarm(record("during")).await.expect_err("the disk fails");
        assert!(err.is_unavailable(), "{fault:?}: {err}");
        assert!(faults.injected() > 0, "the fault fired");
        assert!(!r.store.availability().available());
        assert!(r.store.availability().outage().is_some_and(|o| o.reason.contains("injected fault")));
        // While down: refused at once, writes and reads alike (a swarm
        // record is kept, to be written after the heal).
        let again = w.put_swarm(record("refused")).await.expect_err("still down");
        assert!(again.is_unavailable() && again.message.contains("unavailable"), "{again}");
        assert!(w.writable().is_err());
        // An overlay change that reaches the writer while it is down (it was
        // applied: it passed the swarm's check just before) is refused, and kept.
        assert!(w.append_overlay("during", b"op".to_vec()).await.expect_err("down").is_unavailable());
        assert!(r.store.swarms().expect_err("reads are refused too").is_unavailable());
        faults.heal();
        until("the store reopened", || r.store.availability().available()).await;
        w.put_swarm(record("after")).await.expect("writing resumes without a restart");
        assert_eq!(r.store.availability().outages(), 1);
        r.stop().await;
        let names: Vec<String> =
            Store::open(dir.path()).unwrap().swarms().unwrap().into_iter().map(|s| s.name).collect();
        // Refused, but kept: what the runtime holds in memory is on disk again.
        assert_eq!(names, ["after", "before", "during", "refused"], "{fault:?}");
        let overlay = Store::open(dir.path()).unwrap().overlay("during").unwrap();
        assert_eq!(overlay, [(1, b"op".to_vec())], "{fault:?}: the kept change is written after the heal");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_emitted_while_the_disk_fails_are_stored_then_published_in_order_once_it_heals() {
    let dir = tempfile::tempdir().unwrap();
    let faults = DiskFaults::new();
    let r = start(dir.path(), &faults);
    let mut live = r.bus.subscribe();
    let first = r.bus.emit(None, None, EventKind::AgentRemoved);
    r.bus.published_through(first).await;
    faults.fail(Fault::Sync);
    let during: Vec<u64> = (0..5).map(|_| r.bus.emit(None, None, EventKind::AgentRemoved)).collect();
    until("the flusher met the failed disk", || !r.store.availability().available()).await;
    assert_eq!(live.recv().await.unwrap().seq, first);
    assert!(live.try_recv().is_err(), "nothing uncommitted is published");
    assert!(r.bus.published_seq() < during[0]);
    faults.heal();
    for want in &during {
        let got = tokio::time::timeout(Duration::from_secs(20), live.recv()).await.expect("published after the heal");
        assert_eq!(got.unwrap().seq, *want, "in order, with no gap");
    }
    r.stop().await;
    let store = Store::open(dir.path()).unwrap();
    let stored: Vec<u64> = store
        .query_events(&EventQuery { limit: 100, ..EventQuery::default() })
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let mut want = vec![first];
    want.extend(&during);
    assert_eq!(stored, want, "every event emitted while the disk failed is stored");
    assert_eq!(store.next_seq().unwrap(), during[4] + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_journal_kept_while_the_disk_fails_is_written_after_it_heals() {
    let dir = tempfile::tempdir().unwrap();
    let faults = DiskFaults::new();
    let r = start(dir.path(), &faults);
    let rec = |id: &str| TaskRecord::queued(id, Transport::Dispatch, "", "any", "content", "api");
    // A task that was recorded, then its end while the disk fails.
    let mut ok = r.book.open(rec("t-ok"), Journal::Record, false).await;
    ok.durable().await.unwrap();
    faults.fail(Fault::Write);
    assert!(r.book.started("t-ok"));
    assert!(r.book.end("t-ok", TaskEnd::Completed { content: "done".into() }));
    // A task opened while the disk fails: its acknowledgement is refused.
    let mut refused = r.book.open(rec("t-refused"), Journal::Record, false).await;
    match refused.durable().await {
        Err(NotDurable::StoreUnavailable(why)) => assert!(why.contains("injected fault"), "{why}"),
        other => panic!("the record's acknowledgement is refused: {other:?}"),
    }
    r.book.end("t-refused", TaskEnd::failed(FailCode::Rejected, "not recorded"));
    faults.heal();
    until("the store reopened", || r.store.availability().available()).await;
    r.book.synced().await.expect("the kept journal is written");
    let done = r.store.task("t-ok").unwrap().expect("recorded");
    assert_eq!(done.status, TaskStatus::Completed, "the end the book saw while the disk failed is stored");
    let rejected = r.store.task("t-refused").unwrap().expect("recorded after the heal");
    assert_eq!(rejected.status, TaskStatus::Failed, "recorded as it ended: refused, never run");
    r.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_at_any_point_of_a_commit_loses_nothing_acknowledged() {
    // A write or an fsync fails after 0, 1, 2, ... successful ones: at every
    // point of a commit. Whatever the point, after the heal every write that
    // was acknowledged is there, and nothing appears that was not submitted.
    for fault in [Fault::Write, Fault::Sync] {
        for point in 0..6u64 {
            let dir = tempfile::tempdir().unwrap();
            let faults = DiskFaults::new();
            let r = start(dir.path(), &faults);
            let w = r.service.writer().clone();
            let mut acked = vec!["s0".to_string()];
            w.put_swarm(record("s0")).await.unwrap();
            faults.fail_after(fault, point);
            for i in 1..=6 {
                let name = format!("s{i}");
                if w.put_swarm(record(&name)).await.is_ok() {
                    acked.push(name);
                }
            }
            faults.heal();
            until("the store is available", || r.store.availability().available()).await;
            w.put_swarm(record("s7")).await.unwrap();
            acked.push("s7".into());
            r.stop().await;
            let got: Vec<String> =
                Store::open(dir.path()).unwrap().swarms().unwrap().into_iter().map(|s| s.name).collect();
            for a in &acked {
                assert!(got.contains(a), "{fault:?} after {point}: acknowledged {a} is missing from {got:?}");
            }
            assert!(got.iter().all(|g| (0..=7).any(|i| *g == format!("s{i}"))), "{got:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_while_the_disk_fails_ends_and_stores_nothing_half() {
    let dir = tempfile::tempdir().unwrap();
    let faults = DiskFaults::new();
    let r = start(dir.path(), &faults);
    r.service.writer().put_swarm(record("kept")).await.unwrap();
    faults.fail(Fault::Sync);
    r.bus.emit(None, None, EventKind::AgentRemoved);
    until("the store is down", || !r.store.availability().available()).await;
    tokio::time::timeout(Duration::from_secs(20), r.stop()).await.expect("the shutdown ends though the disk is down");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.swarms().unwrap().len(), 1);
}

/// A small deterministic generator (xorshift64*), for the cut lengths.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_cut_at_a_random_length_opens_with_only_written_records_or_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (written_swarms, written_events) = {
        let store = Store::open(dir.path()).unwrap();
        let (writer, thread) = Writer::start(store.clone(), WriterOptions::default());
        let mut swarms = Vec::new();
        let mut events = Vec::new();
        for i in 0..200u64 {
            let mut r = record(&format!("swarm-{i}"));
            r.seed_toml = format!("name = \"swarm-{i}\"\n# {}\n", "x".repeat((i as usize * 37) % 900));
            writer.put_swarm(r.clone()).await.unwrap();
            swarms.push(r);
            let e = StoredEvent {
                seq: i + 1,
                timestamp_ms: 1000 + i,
                level: "info".into(),
                category: "agent".into(),
                swarm: Some(format!("swarm-{i}")),
                agent: None,
                event_type: "agent_started".into(),
                message: format!("event {i}"),
                metadata: "{}".into(),
            };
            writer.append_events(vec![e.clone()]).await.unwrap();
            events.push(e);
        }
        drop(writer);
        thread.join();
        (swarms, events)
    };
    let full = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
    let cases: u64 = std::env::var("HIVE_TORN_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48);
    let mut seed = std::env::var("HIVE_TORN_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    let (mut opened, mut refused) = (0, 0);
    for case in 0..cases {
        let cut = match case {
            0 => 0,
            1 => full.len() as u64 - 1,
            _ => next(&mut seed) % full.len() as u64,
        } as usize;
        // Cut there, and (a torn write that kept the length) zeroed from there on.
        let mut zeroed = full.clone();
        zeroed[cut..].fill(0);
        for bytes in [&full[..cut], &zeroed[..]] {
            let torn = tempfile::tempdir().unwrap();
            let path = torn.path().join(FILE_NAME);
            std::fs::write(&path, bytes).unwrap();
            let outcome = std::panic::catch_unwind(|| {
                let store = Store::open(torn.path())?;
                let swarms = store.swarms()?;
                let events = store.query_events(&EventQuery { limit: 10_000, ..EventQuery::default() })?;
                Ok::<_, StoreError>((swarms, events))
            });
            let len = bytes.len();
            match outcome.unwrap_or_else(|_| panic!("{len} bytes, cut at {cut}: opening panicked")) {
                Ok((swarms, events)) => {
                    opened += 1;
                    for s in &swarms {
                        assert!(written_swarms.contains(s), "cut at {cut}: a swarm record never written: {s:?}");
                    }
                    for e in &events {
                        assert!(written_events.contains(e), "cut at {cut}: an event never written: {e:?}");
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        e.message.contains(&path.display().to_string()) || e.message.contains("store:"),
                        "cut at {cut}: the error names the file or the store: {e}"
                    );
                }
            }
        }
    }
    eprintln!("{cases} cuts of a {}-byte file, each cut and zeroed: {opened} opened, {refused} refused", full.len());
    assert_eq!(opened + refused, 2 * cases);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_with_zeroed_pages_is_refused_with_a_clear_error_instead_of_a_panic() {
    // redb trusts a cleanly closed file's allocator state, and on a page
    // zeroed inside its layout reached `unreachable!()` in `Database::create`:
    // the daemon crashed at start instead of naming the file.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for i in 0..200u64 {
            store.put_swarm(&record(&format!("swarm-{i}"))).unwrap();
        }
    }
    let path = dir.path().join(FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let from = bytes.len() / 8;
    bytes[from..].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let opened = std::panic::catch_unwind(|| Store::open(dir.path()).map(|s| s.swarms()));
    let err = opened.expect("no panic").expect_err("a damaged file is refused");
    assert!(err.message.contains(&path.display().to_string()) && err.message.contains("not modified"), "{err}");
}

/// Regression, found by `hive bench chaos --seed 1 --duration 30s`: a task
/// had two stored end events. Its end (the book's journal, via the writer)
/// and the event reporting it (the flusher) were two commits; a kill -9
/// between them left `task_completed` stored and the record `running`, so
/// the restart ended it again with `runtime_restarted`. Here a "crash" is a
/// disk that fails from the n-th write or fsync on and never heals: only
/// what was committed before it is in the file. Whatever the point, each
/// task's record is ended exactly when its end event is stored (restore ends
/// the others, once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_a_task_end_and_its_event_never_stores_one_without_the_other() {
    const TASKS: usize = 12;
    for fault in [Fault::Write, Fault::Sync] {
        for point in 0..24u64 {
            let dir = tempfile::tempdir().unwrap();
            let faults = DiskFaults::new();
            let r = start(dir.path(), &faults);
            let ids: Vec<String> = (0..TASKS).map(|i| format!("t{i}")).collect();
            for id in &ids {
                let rec = TaskRecord::queued(id, Transport::Agent, "s", "a", "content", "api");
                r.book.open(rec, Journal::Record, false).await.durable().await.unwrap();
                assert!(r.book.started(id));
            }
            faults.fail_after(fault, point);
            let (swarm, agent): (std::sync::Arc<str>, std::sync::Arc<str>) = ("s".into(), "a".into());
            let mut last = 0;
            for id in &ids {
                let task_id: std::sync::Arc<str> = id.as_str().into();
                assert!(r.book.end_then(id, TaskEnd::Completed { content: "done".into() }, |_| {
                    last = r.bus.emit(Some(&swarm), Some(&agent), EventKind::TaskCompleted { task_id });
                }));
                tokio::task::yield_now().await;
            }
            // The disk failed, or (a late point) everything was committed.
            until("the disk failed or all was stored", || {
                !r.store.availability().available() || r.bus.published_seq() >= last
            })
            .await;
            r.stop().await;
            let store = Store::open(dir.path()).unwrap();
            let stored = store.query_events(&EventQuery { limit: 1000, ..EventQuery::default() }).unwrap();
            for id in &ids {
                let ended = store.task(id).unwrap().expect("recorded").status == TaskStatus::Completed;
                let events = stored
                    .iter()
                    .filter(|e| e.event_type == "task_completed" && e.metadata.contains(&format!("\"{id}\"")))
                    .count();
                assert_eq!(
                    events,
                    usize::from(ended),
                    "{fault:?} from call {point}: task {id} is {} in its record with {events} end events stored",
                    if ended { "ended" } else { "open" }
                );
            }
        }
    }
}

/// Regression, found by the flaky `a_mutation_while_the_disk_fails_is_503_...`
/// (tests/disk_faults.rs): a swarm that did not restore ("a child named
/// 'early' already exists"). An overlay change met a failed fsync; redb
/// answered an error, but the commit had reached the file (the fsync that
/// failed came after the header was written); the writer kept the change
/// and appended it again after the heal: twice in the overlay. A kept change
/// now keeps the index its first try gave it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlay_change_kept_through_a_failed_fsync_is_written_once() {
    for fault in [Fault::Sync, Fault::Write] {
        for point in 0..6u64 {
            let dir = tempfile::tempdir().unwrap();
            let faults = DiskFaults::new();
            let r = start(dir.path(), &faults);
            let w = r.service.writer().clone();
            w.append_overlay("s", b"first".to_vec()).await.unwrap();
            faults.fail_after(fault, point);
            let _ = w.append_overlay("s", b"kept".to_vec()).await; // acknowledged or kept
            faults.heal();
            until("the store is available", || r.store.availability().available()).await;
            w.append_overlay("s", b"after".to_vec()).await.unwrap();
            r.stop().await;
            let ops: Vec<Vec<u8>> =
                Store::open(dir.path()).unwrap().overlay("s").unwrap().into_iter().map(|(_, op)| op).collect();
            assert_eq!(ops, [b"first".to_vec(), b"kept".to_vec(), b"after".to_vec()], "{fault:?} after {point}");
        }
    }
}
