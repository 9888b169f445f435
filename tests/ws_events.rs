//! The plain event stream `/ws/events`: filters, `since=` resume without gap
//! or duplicate (from the store when the ring no longer holds the events),
//! and a slow client told it lagged instead of growing memory.

mod common;
mod http_common;

use std::sync::Arc;

use common::{Ws, next};
use hive::events::{BusOptions, EventKind, Level};
use http_common::{Daemon, cfg};

async fn connect(d: &Daemon, query: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{}/ws/events?{query}", d.addr)).await.expect("socket opens").0
}

fn log(d: &Daemon, swarm: &str, i: usize) -> u64 {
    let s: Arc<str> = swarm.into();
    d.hive.events().emit(Some(&s), None, EventKind::Log { level: Level::Info, message: format!("n{i}") })
}

#[tokio::test]
async fn since_replays_from_the_store_then_continues_live_without_gap_or_duplicate() {
    // A ring of 64 events: most of the replay must come from the store.
    let opts = hive::HiveOptions { bus: BusOptions { ring_capacity: 64, max_lag: 100_000 }, ..Default::default() };
    let d = Daemon::start_with(cfg(), opts).await;
    let first = log(&d, "a", 0);
    for i in 1..500 {
        log(&d, "a", i);
    }
    // Durable mode publishes after the commit: wait until the store has them.
    let last = log(&d, "a", 500);
    let mut probe = connect(&d, &format!("since={}", last - 1)).await;
    assert_eq!(next(&mut probe).await.unwrap()["seq"], last, "published, so committed");

    let mut ws = connect(&d, &format!("since={first}&swarm=a")).await;
    let mut seqs = Vec::new();
    while seqs.len() < 500 {
        seqs.push(next(&mut ws).await.unwrap()["seq"].as_u64().unwrap());
    }
    let live: Vec<u64> = (501..520).map(|i| log(&d, "a", i)).collect();
    for want in &live {
        seqs.push(next(&mut ws).await.unwrap()["seq"].as_u64().unwrap());
        assert_eq!(seqs.last(), Some(want));
    }
    let expected: Vec<u64> = (first + 1..=*live.last().unwrap()).collect();
    assert_eq!(seqs, expected, "every event after `since`, once, in order");
    d.shutdown().await;
}

#[tokio::test]
async fn filters_select_events_and_unknown_values_are_refused() {
    let d = Daemon::local().await;
    // The subscription is live once the socket is open.
    let mut ws = connect(&d, "swarm=b&event_type=log_entry").await;
    log(&d, "other", 1);
    let s = log(&d, "b", 2);
    assert_eq!(next(&mut ws).await.unwrap()["seq"], s, "only swarm b's events");
    let r = tokio_tungstenite::connect_async(format!("ws://{}/ws/events?level=loud", d.addr)).await;
    match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 400),
        other => panic!("expected a 400, got {other:?}"),
    }
    d.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_read_is_told_it_lagged_and_can_resume() {
    let opts = hive::HiveOptions { bus: BusOptions { ring_capacity: 1_000, max_lag: 256 }, ..Default::default() };
    let d = Daemon::start_with(cfg(), opts).await;
    let mut ws = connect(&d, "swarm=c").await;
    let first = log(&d, "c", 0);
    assert_eq!(next(&mut ws).await.unwrap()["seq"], first);
    // Far more than the socket buffers and the lag bound hold, unread.
    let big = "y".repeat(4_000);
    let mut last = first;
    for i in 0..20_000 {
        let s: Arc<str> = "c".into();
        last =
            d.hive.events().emit(Some(&s), None, EventKind::Log { level: Level::Info, message: format!("{i}{big}") });
        if i % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut got = vec![first];
    let lagged = loop {
        let v = next(&mut ws).await.expect("the stream ends with a lagged message, not silently");
        if v["type"] == "lagged" {
            break v;
        }
        let seq = v["seq"].as_u64().unwrap();
        assert_eq!(seq, got.last().unwrap() + 1, "no gap before the lag notice");
        got.push(seq);
    };
    let missed = lagged["missed_from"].as_u64().unwrap();
    assert_eq!(missed, got.last().unwrap() + 1);
    assert!(next(&mut ws).await.is_none(), "the socket closes after the notice");
    // Reconnecting with since resumes exactly there.
    let mut again = connect(&d, &format!("since={}&swarm=c", missed - 1)).await;
    assert_eq!(next(&mut again).await.unwrap()["seq"], missed);
    assert!(last > missed);
    d.shutdown().await;
}

#[tokio::test]
async fn without_a_store_a_replay_beyond_the_ring_announces_the_gap() {
    let opts = hive::HiveOptions { bus: BusOptions { ring_capacity: 16, max_lag: 1_000 }, ..Default::default() };
    let hive = Arc::new(hive::Hive::start(opts).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = hive::http::AppState::new(hive.clone(), cfg()).unwrap();
    tokio::spawn(hive::http::serve(listener, state, std::future::pending()));
    let s: Arc<str> = "g".into();
    for i in 0..100 {
        hive.events().emit(Some(&s), None, EventKind::Log { level: Level::Info, message: format!("{i}") });
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/events?since=1")).await.unwrap();
    let gap = loop {
        let v = next(&mut ws).await.unwrap();
        if v["type"] == "gap" {
            break v;
        }
    };
    assert_eq!(gap["from"], 2);
    let next_seq = next(&mut ws).await.unwrap()["seq"].as_u64().unwrap();
    assert_eq!(next_seq, gap["to"].as_u64().unwrap() + 1, "the stream resumes right after the gap");
}
