//! Event throughput with idle standalone workers attached (run with
//! `cargo bench --bench events`).
//!
//! * `event_throughput/{0,32}_idle_workers`: a runtime with the ZeroMQ
//!   gateway on (so every standalone worker is also offered to the
//!   dispatcher, through its link) and `N` idle `actors/echo.py` workers;
//!   one iteration emits [`BATCH`] `log_entry` events through
//!   `hive.events().emit` and waits until one live subscriber (a task of its
//!   own) has seen the last of them. Throughput in events/s. The issue-10
//!   target: the figure with 32 workers is within 10 % of the one with none
//!   (a worker's link must not read the bus).
//!
//! The bus runs with its default bounds ([`BusOptions::default`]): a
//! subscriber that falls behind is told it lagged, which is part of what
//! the figure measures. The file uses only API that exists before and after
//! issue 10, so the same file is run in both trees (`docs/benchmarks.md`).
//! Everything runs on one tokio runtime (multi-thread, 2 workers); waits are
//! on a [`Notify`] under a deadline, never on a sleep.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hive::events::{EventKind, Level};
use hive::gateway::GatewayOptions;
use hive::runtime::{SpawnRequest, WorkerOptions};
use hive::{Hive, HiveOptions};
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;

/// Events emitted per iteration.
const BATCH: u64 = 10_000;
/// Idle workers of the loaded case.
const WORKERS: usize = 32;
/// How long any wait may take before the benchmark fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// The one tokio runtime every benchmark runs on.
static RT: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
});

/// The reference JSONL worker (`actors/echo.py`), absolute.
fn echo_path() -> String {
    format!("{}/actors/echo.py", env!("CARGO_MANIFEST_DIR"))
}

/// A runtime with the gateway on a free port and `n` idle echo workers.
async fn start(n: usize) -> Hive {
    let hive = Hive::start(HiveOptions {
        workers: WorkerOptions { spawn_allow: vec![echo_path()], ..WorkerOptions::default() },
        gateway: Some(GatewayOptions { endpoint: "tcp://127.0.0.1:0".into(), ..GatewayOptions::default() }),
        ..HiveOptions::default()
    })
    .await
    .expect("hive starts");
    for _ in 0..n {
        let req =
            SpawnRequest { worker_path: echo_path(), capabilities: vec!["echo".into()], ..SpawnRequest::default() };
        hive.spawn_worker(req).await.expect("worker spawns");
    }
    // Idle: the process said `ready` and the worker waits for a task. The
    // public status only names the state as a string (in both trees).
    let deadline = Instant::now() + DEADLINE;
    loop {
        let list = hive.list_workers().await.expect("workers");
        if list.len() == n && list.iter().all(|w| w.state == hive::runtime::PoolWorkerState::Idle) {
            break;
        }
        assert!(Instant::now() < deadline, "workers not idle after {DEADLINE:?}: {list:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hive
}

/// The live subscriber: the highest sequence number it has seen, and a
/// notification once that reaches `target`.
struct Watcher {
    seen: AtomicU64,
    target: AtomicU64,
    reached: Notify,
}

/// Subscribes to `hive`'s bus and keeps a [`Watcher`] up to date.
fn watch(hive: &Hive) -> (Arc<Watcher>, tokio::task::JoinHandle<()>) {
    let w = Arc::new(Watcher { seen: AtomicU64::new(0), target: AtomicU64::new(u64::MAX), reached: Notify::new() });
    let mut rx = hive.events().subscribe();
    let me = w.clone();
    let task = RT.spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    me.seen.store(e.seq, Ordering::Release);
                    if e.seq >= me.target.load(Ordering::Acquire) {
                        me.reached.notify_one();
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    (w, task)
}

/// One batch: [`BATCH`] log events, then wait until the watcher saw the last.
async fn batch(hive: &Hive, w: &Watcher, message: &str) {
    let mut last = 0;
    for _ in 0..BATCH {
        last = hive.events().emit(None, None, EventKind::Log { level: Level::Info, message: message.into() });
    }
    w.target.store(last, Ordering::Release);
    let deadline = Instant::now() + DEADLINE;
    while w.seen.load(Ordering::Acquire) < last {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, w.reached.notified()).await.is_err() {
            panic!("the subscriber did not see event {last} within {DEADLINE:?}");
        }
    }
}

fn event_throughput(c: &mut Criterion) {
    let rt = &*RT;
    let mut g = c.benchmark_group("event_throughput");
    g.throughput(Throughput::Elements(BATCH));
    for n in [0, WORKERS] {
        let hive = rt.block_on(start(n));
        let (w, task) = rt.block_on(async { watch(&hive) });
        let (hive_ref, w_ref) = (&hive, &*w);
        g.bench_function(format!("{n}_idle_workers"), |b| {
            b.to_async(rt).iter(|| batch(hive_ref, w_ref, "a line nobody reads"))
        });
        task.abort();
        rt.block_on(hive.shutdown());
    }
    g.finish();
}

criterion_group!(benches, event_throughput);
criterion_main!(benches);
