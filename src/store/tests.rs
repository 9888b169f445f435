//! The store against real redb files in temp directories.

use super::*;
use crate::task::{TaskFilter, TaskOrder};

fn ev(seq: u64, ts: u64, swarm: Option<&str>, agent: Option<&str>, level: &str) -> StoredEvent {
    StoredEvent {
        seq,
        timestamp_ms: ts,
        level: level.into(),
        category: "agent".into(),
        swarm: swarm.map(String::from),
        agent: agent.map(String::from),
        event_type: if level == "error" { "task_failed".into() } else { "agent_started".into() },
        message: format!("event {seq}"),
        metadata: "{}".into(),
    }
}

fn seqs(v: &[StoredEvent]) -> Vec<u64> {
    v.iter().map(|e| e.seq).collect()
}

#[test]
fn open_creates_the_file_and_reopen_recovers_the_last_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(store.last_seq().unwrap(), 0);
    store.append_events(&[ev(1, 10, None, None, "info"), ev(2, 11, None, None, "info")]).unwrap();
    drop(store);
    let store = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(store.last_seq().unwrap(), 2);
    assert!(store.path().ends_with(FILE_NAME));
}

#[test]
fn a_file_that_is_not_a_store_is_a_clear_error_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(FILE_NAME);
    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&file, &garbage).unwrap();
    let err = Store::open(dir.path()).err().expect("garbage is refused");
    assert!(err.message.contains("cannot open the data file") && err.message.contains("not modified"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), garbage, "the file was not touched");
}

#[test]
fn scoped_queries_return_the_newest_matches_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut events = Vec::new();
    for seq in 1..=300u64 {
        let swarm = if seq % 3 == 0 { "b" } else { "a" };
        let agent = if seq % 2 == 0 { "x" } else { "y" };
        let level = if seq % 10 == 0 { "error" } else { "info" };
        events.push(ev(seq, 1000 + seq, Some(swarm), Some(agent), level));
    }
    events.push(ev(301, 2000, None, None, "info"));
    store.append_events(&events).unwrap();

    let q = |swarm: Option<&str>, agent: Option<&str>, limit| EventQuery {
        swarm: swarm.map(String::from),
        agent: agent.map(String::from),
        limit,
        ..EventQuery::default()
    };
    assert_eq!(seqs(&store.query_events(&q(Some("b"), None, 3)).unwrap()), [294, 297, 300]);
    assert_eq!(seqs(&store.query_events(&q(Some("a"), Some("x"), 2)).unwrap()), [296, 298]);
    assert_eq!(seqs(&store.query_events(&q(None, None, 2)).unwrap()), [300, 301]);
    let errors = EventQuery { level: Some("error".into()), ..q(Some("a"), None, 100) };
    assert!(store.query_events(&errors).unwrap().iter().all(|e| e.level == "error" && e.swarm.as_deref() == Some("a")));
    let since = EventQuery { since: Some(295), ..q(Some("b"), None, 100) };
    assert_eq!(seqs(&store.query_events(&since).unwrap()), [297, 300]);
    let recent = EventQuery { after_ms: Some(1297), ..q(Some("b"), None, 100) };
    assert_eq!(seqs(&store.query_events(&recent).unwrap()), [297, 300]);
    let json = store.query_events(&q(Some("b"), None, 1)).unwrap()[0].to_json();
    assert_eq!(json["seq"], 300);
    assert_eq!(json["metadata"], serde_json::json!({}));
}

#[test]
fn pruning_by_count_and_age_removes_events_and_their_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let events: Vec<_> = (1..=100u64).map(|s| ev(s, s, Some("s"), Some("a"), "info")).collect();
    store.append_events(&events).unwrap();
    // Keep 60 by count: 40 go, in batches.
    let mut total = 0;
    loop {
        let n = store.prune_events(60, 0, 15).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 40);
    let all = EventQuery { swarm: Some("s".into()), agent: Some("a".into()), limit: 1000, ..EventQuery::default() };
    assert_eq!(seqs(&store.query_events(&all).unwrap()).first(), Some(&41));
    // By age: everything before t=91 goes.
    assert_eq!(store.prune_events(1000, 91, 1000).unwrap(), 50);
    assert_eq!(store.query_events(&all).unwrap().len(), 10);
    assert_eq!(store.last_seq().unwrap(), 100, "pruning never lowers the last sequence number");
}

#[test]
fn overlay_keeps_order_per_swarm_and_can_be_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.append_overlay("a", b"op1").unwrap(), 1);
    assert_eq!(store.append_overlay("b", b"other").unwrap(), 1);
    assert_eq!(store.append_overlay("a", b"op2").unwrap(), 2);
    assert_eq!(store.overlay("a").unwrap(), [(1, b"op1".to_vec()), (2, b"op2".to_vec())]);
    store.clear_overlay("a").unwrap();
    assert!(store.overlay("a").unwrap().is_empty());
    assert_eq!(store.overlay("b").unwrap().len(), 1);
    let rec = SwarmRecord {
        name: "b".into(),
        seed_toml: "name = \"b\"\n".into(),
        state: "running".into(),
        started_at_ms: 5,
        failure_reason: None,
    };
    store.put_swarm(&rec).unwrap();
    assert_eq!(store.swarms().unwrap(), [rec]);
    store.delete_swarm("b").unwrap();
    assert!(store.swarms().unwrap().is_empty() && store.overlay("b").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_groups_concurrent_writes_and_every_acknowledged_write_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (writer, thread) = Writer::start(store.clone(), WriterOptions::default());
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let w = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut indexes = Vec::new();
            for i in 0..50u64 {
                let seq = t * 1000 + i + 1;
                w.append_events(vec![ev(seq, seq, Some("s"), None, "info")]).await.unwrap();
                indexes.push(w.append_overlay("s", format!("{t}:{i}").into_bytes()).await.unwrap());
            }
            indexes
        }));
    }
    let mut all_indexes = Vec::new();
    for t in tasks {
        all_indexes.extend(t.await.unwrap());
    }
    all_indexes.sort();
    assert_eq!(all_indexes, (1..=400).collect::<Vec<u64>>(), "overlay indexes are unique and gap-free");
    drop(writer);
    thread.join();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let q = EventQuery { swarm: Some("s".into()), limit: 1000, ..EventQuery::default() };
    assert_eq!(store.query_events(&q).unwrap().len(), 400);
    assert_eq!(store.overlay("s").unwrap().len(), 400);
}

#[test]
fn an_unscoped_filtered_query_finds_a_rare_event_far_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut events = vec![ev(1, 1, None, None, "error")];
    events.extend((2..=10_001u64).map(|s| ev(s, s, None, None, "info")));
    store.append_events(&events).unwrap();
    let q = EventQuery { event_type: Some("task_failed".into()), limit: 10, ..EventQuery::default() };
    assert_eq!(seqs(&store.query_events(&q).unwrap()), [1]);
}

fn task(n: u64, status: &str, updated_ms: u64) -> TaskRecord {
    // Ids sort by creation, like the UUIDv7 ids of the runtime.
    let mut r = TaskRecord::queued(&format!("t{n:04}"), crate::task::Transport::Agent, "s", "a", "x", "api");
    r.status = crate::task::TaskStatus::parse(status).expect("a status");
    r.updated_ms = updated_ms;
    r
}

#[test]
fn a_page_of_tasks_is_cut_newest_first_with_the_total_of_its_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for n in 0..10 {
        store.put_task(&task(n, if n % 2 == 0 { "ok" } else { "queued" }, n)).unwrap();
    }
    let ids = |v: Vec<TaskRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let (page, total) = store.tasks_page(&TaskFilter::default(), TaskOrder::default(), 2, 3).unwrap();
    assert_eq!((ids(page), total), (vec!["t0007".into(), "t0006".into(), "t0005".into()], 10));
    let (page, total) = store
        .tasks_page(
            &TaskFilter { statuses: vec![crate::task::TaskStatus::Queued], ..Default::default() },
            TaskOrder::default(),
            1,
            2,
        )
        .unwrap();
    assert_eq!((ids(page), total), (vec!["t0007".into(), "t0005".into()], 5));
    let (page, total) = store
        .tasks_page(
            &TaskFilter { statuses: vec![crate::task::TaskStatus::Completed], ..Default::default() },
            TaskOrder::default(),
            4,
            10,
        )
        .unwrap();
    assert_eq!((ids(page), total), (vec!["t0000".into()], 5));
    assert_eq!(
        store
            .tasks_page(
                &TaskFilter { statuses: vec![crate::task::TaskStatus::Cancelled], ..Default::default() },
                TaskOrder::default(),
                0,
                10
            )
            .unwrap(),
        (vec![], 0)
    );
    assert_eq!(
        store.tasks_page(&TaskFilter::default(), TaskOrder::default(), 50, 10).unwrap().1,
        10,
        "past the end: no items, the total still"
    );
}

#[test]
fn a_page_of_tasks_filters_on_worker_and_capability_and_sorts_on_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for n in 0..6 {
        let mut r = task(n, "ok", 100 - n);
        r.worker = Some(if n % 2 == 0 { "w-even" } else { "w-odd" }.into());
        r.capabilities = if n < 3 { vec!["gpu".into()] } else { vec![] };
        store.put_task(&r).unwrap();
    }
    let ids = |v: Vec<TaskRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let even = TaskFilter { worker: Some("w-even".into()), ..Default::default() };
    let (page, total) = store.tasks_page(&even, TaskOrder::default(), 0, 10).unwrap();
    assert_eq!((ids(page), total), (vec!["t0004".into(), "t0002".into(), "t0000".into()], 3));
    let gpu = TaskFilter { capability: Some("gpu".into()), ..Default::default() };
    let oldest_change = TaskOrder { by: crate::task::TaskSort::UpdatedAt, descending: false };
    let (page, total) = store.tasks_page(&gpu, oldest_change, 0, 2).unwrap();
    assert_eq!((ids(page), total), (vec!["t0002".into(), "t0001".into()], 3));
    let oldest = TaskOrder { by: crate::task::TaskSort::CreatedAt, descending: false };
    let (page, _) = store.tasks_page(&TaskFilter::default(), oldest, 1, 2).unwrap();
    assert_eq!(ids(page), vec!["t0001".to_string(), "t0002".into()]);
}

#[test]
fn a_task_record_written_before_worker_times_and_output_were_recorded_still_reads() {
    // The record as it was encoded before its last four fields existed.
    let r = task(1, "ok", 5);
    let full: Vec<serde_json::Value> = rmp_serde::from_slice(&rmp_serde::to_vec(&r).unwrap()).unwrap();
    let old = rmp_serde::to_vec(&full[..full.len() - 4]).unwrap();
    let back: TaskRecord = rmp_serde::from_slice(&old).expect("an old record decodes");
    assert_eq!((back.worker, back.started_ms, back.ended_ms, back.output), (None, None, None, None));
    assert_eq!((back.id, back.status), (r.id, r.status));
}

#[test]
fn pruning_tasks_by_age_and_count_spares_unfinished_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // t0000..t0009 ended at time n; t0010..t0012 still queued or running, old.
    for n in 0..10 {
        store.put_task(&task(n, "ok", n)).unwrap();
    }
    for (n, s) in [(10, "queued"), (11, "in_progress"), (12, "queued")] {
        store.put_task(&task(n, s, 0)).unwrap();
    }
    let left = |s: &Store| s.tasks(&[]).unwrap().into_iter().map(|r| r.id).collect::<Vec<_>>();
    // By age: ended before time 3.
    assert_eq!(store.prune_tasks(3, 1000).unwrap(), 3);
    assert_eq!(left(&store).len(), 10);
    assert!(!left(&store).contains(&"t0002".to_string()));
    // By count: the newest 4 ended tasks stay, unfinished ones always.
    assert_eq!(store.prune_tasks(0, 4).unwrap(), 3);
    assert_eq!(left(&store), ["t0006", "t0007", "t0008", "t0009", "t0010", "t0011", "t0012"]);
    assert_eq!(store.prune_tasks(0, 4).unwrap(), 0, "nothing more to do");
    assert_eq!(store.prune_tasks(u64::MAX, 0).unwrap(), 4);
    assert_eq!(left(&store), ["t0010", "t0011", "t0012"]);
}

#[test]
fn events_after_reads_the_narrowest_index_forward_and_says_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // 1..=30: swarm a (agent x on odd seqs, level error on multiples of 3), swarm b on every 5th.
    let events: Vec<StoredEvent> = (1..=30)
        .map(|n| {
            let swarm = if n % 5 == 0 { "b" } else { "a" };
            let agent = (n % 2 == 1).then_some("x");
            ev(n, n, Some(swarm), agent, if n % 3 == 0 { "error" } else { "info" })
        })
        .collect();
    store.append_events(&events).unwrap();
    let q = |swarm: Option<&str>, agent: Option<&str>, level: Option<&str>| EventQuery {
        swarm: swarm.map(String::from),
        agent: agent.map(String::from),
        level: level.map(String::from),
        ..Default::default()
    };
    // Everything in (10, 20), read 4 at a time: the caller resumes after `last`.
    let (page, last) = store.events_after(&q(None, None, None), 10, 20, 4).unwrap();
    assert_eq!((seqs(&page), last), (vec![11, 12, 13, 14], Some(14)));
    let (page, last) = store.events_after(&q(None, None, None), 14, 20, 10).unwrap();
    assert_eq!((seqs(&page), last), (vec![15, 16, 17, 18, 19], None), "exhausted");
    // Swarm b through its index; swarm a's agent x through the agent index, errors only.
    assert_eq!(seqs(&store.events_after(&q(Some("b"), None, None), 0, 31, 100).unwrap().0), [5, 10, 15, 20, 25, 30]);
    let (page, last) = store.events_after(&q(Some("a"), Some("x"), Some("error")), 0, 31, 100).unwrap();
    assert_eq!((seqs(&page), last), (vec![3, 9, 21, 27], None));
    // An agent without a swarm is still a filter.
    assert_eq!(seqs(&store.events_after(&q(None, Some("x"), None), 0, 8, 100).unwrap().0), [1, 3, 5, 7]);
    assert_eq!(store.events_after(&q(None, None, None), 5, 6, 10).unwrap(), (vec![], None), "an empty range");
}
