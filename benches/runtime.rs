//! Benchmarks of the runtime core (run with `cargo bench --bench runtime`).
//!
//! * `routed_messages`: throughput (elem/s) of `N` messages sent through a
//!   swarm's router, `a → router → b` via [`hive::runtime::EndpointSender`],
//!   counted as delivered once `b`'s `messages_received` has grown by `N`;
//!   side by side with `N` plain ractor `cast`s to an actor that counts them
//!   in an atomic (the floor an actor hop costs). Target: routed ≥ 40 % of raw.
//! * `scale_group_0_to_1000`: scaling a mock group 0 → 1000 members (target
//!   < 50 ms); `scale_group_1000_to_0`: the way back. `iter_custom` times only
//!   the direction measured; the other one runs outside the timed region.
//! * `restart_after_panic`: from sending a task whose content is the agent's
//!   `panic_on` word until the agent runs again (`restarts` + 1, `idle`).
//!   Target: median (p50) < 200 µs. (Each criterion sample is the mean of
//!   several crashes, so its "median" is the median of those means.)
//! * `event_bus_emit`: `EventBus::emit` (on the routed hot path: one
//!   `message_routed` per message) with no subscriber and with one draining.
//!
//! Everything runs on one tokio runtime (multi-thread, 2 workers); each
//! benchmark starts one [`Hive`] and reuses it for all its iterations.
//! Completion is awaited by polling with `yield_now` under a deadline, never
//! by sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hive::events::{BusOptions, EventBus, EventKind};
use hive::runtime::{AgentProbe, AgentState, EndpointSender, SwarmLimits};
use hive::{Hive, HiveOptions, SwarmHandle};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::runtime::Runtime;

/// Messages per iteration of `routed_messages`.
const N: u64 = 10_000;
/// Members of the scaled group.
const MEMBERS: u64 = 1_000;
/// How long any wait may take before the benchmark fails.
const DEADLINE: Duration = Duration::from_secs(10);

const PAIR: &str = r#"
name = "pair"
[[agents]]
name = "a"
[[agents]]
name = "b"
[topology]
a = ["b"]
"#;

const GROUP: &str = r#"
name = "scaled"
[[agents]]
name = "w"
replicas = 0
"#;

const CRASHY: &str = r#"
name = "crashy"
[supervision]
max_restarts = 1000000
max_seconds = 1
[[agents]]
name = "p"
mock = { panic_on = "boom" }
"#;

/// The one tokio runtime every benchmark runs on.
static RT: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
});

/// Starts a runtime (mailboxes large enough for a whole batch) and one swarm.
async fn start_swarm(toml: &str) -> (Hive, SwarmHandle) {
    let hive = Hive::start(HiveOptions {
        limits: SwarmLimits { mailbox_capacity: 2 * N as usize, ..SwarmLimits::default() },
        ..HiveOptions::default()
    })
    .await
    .expect("hive starts");
    let spec = hive::config::parse_toml(toml, &hive.validate_options()).expect("valid spec");
    let swarm = hive.start_swarm(spec).await.expect("swarm starts");
    (hive, swarm)
}

/// Polls `done` (yielding between polls) until it holds; false after [`DEADLINE`].
async fn wait_for(mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while !done().await {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::task::yield_now().await;
    }
    true
}

/// Panics with `agent`'s status: the state a wait gave up on.
async fn timed_out(swarm: &SwarmHandle, agent: &str, what: &str) -> ! {
    let st = swarm.agent_status(agent).await;
    panic!("timed out after {DEADLINE:?} waiting for {what}; {agent}: {st:#?}")
}

/// One routed batch: `N` sends from `a` to `b`, then wait until `b` has them.
/// `b`'s counter is read through an [`AgentProbe`] (an atomic load), so the
/// wait costs no actor round trip; `to` is a kept `Arc<str>`, so a send
/// allocates nothing for the name.
async fn routed_batch(swarm: &SwarmHandle, sender: &EndpointSender, b: &AgentProbe, to: &Arc<str>, content: &Arc<str>) {
    let target = b.messages_received() + N;
    for _ in 0..N {
        sender.send(to.clone(), content.clone());
    }
    if !wait_for(async || b.messages_received() >= target).await {
        timed_out(swarm, "b", "b to receive the batch").await;
    }
}

/// A minimal ractor actor that counts what it receives.
struct Counter;

impl Actor for Counter {
    type Msg = Arc<str>;
    type State = Arc<AtomicU64>;
    type Arguments = Arc<AtomicU64>;

    async fn pre_start(
        &self,
        _: ActorRef<Arc<str>>,
        count: Arc<AtomicU64>,
    ) -> Result<Arc<AtomicU64>, ActorProcessingErr> {
        Ok(count)
    }

    async fn handle(
        &self,
        _: ActorRef<Arc<str>>,
        _: Arc<str>,
        count: &mut Arc<AtomicU64>,
    ) -> Result<(), ActorProcessingErr> {
        count.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One raw batch: `N` casts, then wait until the counter has them.
async fn raw_batch(actor: &ActorRef<Arc<str>>, count: &AtomicU64, content: &Arc<str>) {
    let target = count.load(Ordering::Relaxed) + N;
    for _ in 0..N {
        actor.cast(content.clone()).expect("counter alive");
    }
    let counted = wait_for(async || count.load(Ordering::Relaxed) >= target).await;
    assert!(counted, "timed out waiting for the counter to count the batch");
}

fn routed_messages(c: &mut Criterion) {
    let rt = &*RT;
    let content: Arc<str> = "ping".into();
    let mut g = c.benchmark_group("routed_messages");
    g.throughput(Throughput::Elements(N));

    let (hive, swarm) = rt.block_on(start_swarm(PAIR));
    let sender = rt.block_on(swarm.sender("a")).expect("sender for a");
    let probe = rt.block_on(swarm.probe("b")).expect("probe for b");
    let to: Arc<str> = "b".into();
    g.bench_function("routed", |b| b.to_async(rt).iter(|| routed_batch(&swarm, &sender, &probe, &to, &content)));

    let count = Arc::new(AtomicU64::new(0));
    let (actor, handle) = rt.block_on(Actor::spawn(None, Counter, count.clone())).expect("counter starts");
    g.bench_function("raw_ractor_cast", |b| b.to_async(rt).iter(|| raw_batch(&actor, &count, &content)));

    // Criterion measures the two one after the other, so a change in the
    // machine's load between them skews the ratio. Alternate one batch of
    // each, 41 times, and report the median of the per-pair ratios.
    let mut ratios: Vec<f64> = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..41 {
            let t = Instant::now();
            raw_batch(&actor, &count, &content).await;
            let raw = t.elapsed();
            let t = Instant::now();
            routed_batch(&swarm, &sender, &probe, &to, &content).await;
            v.push(raw.as_secs_f64() / t.elapsed().as_secs_f64());
        }
        v
    });
    ratios.sort_by(f64::total_cmp);
    eprintln!(
        "routed/raw throughput, alternating pairs: median {:.0}% (quartiles {:.0}%..{:.0}%)",
        ratios[20] * 100.0,
        ratios[10] * 100.0,
        ratios[30] * 100.0
    );
    rt.block_on(hive.shutdown());
    actor.stop(None);
    rt.block_on(handle).expect("counter stops");
    g.finish();
}

/// Scales `w` to `to` and checks every member was started or stopped.
async fn scale(swarm: &SwarmHandle, to: u64) -> Duration {
    let t0 = Instant::now();
    let r = swarm.scale("w", to).await.expect("scale");
    let took = t0.elapsed();
    assert!(r.failed.is_empty(), "scale failures: {:?}", r.failed);
    assert_eq!(r.added.len() + r.removed.len(), MEMBERS as usize);
    took
}

/// Times one direction of 0 ⇄ 1000 per iteration; the other runs untimed.
fn bench_scale(c: &mut Criterion, name: &str, time_up: bool) {
    let rt = &*RT;
    let (hive, swarm) = rt.block_on(start_swarm(GROUP));
    let swarm = &swarm;
    c.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let up = scale(swarm, MEMBERS).await;
                let down = scale(swarm, 0).await;
                total += if time_up { up } else { down };
            }
            total
        })
    });
    rt.block_on(hive.shutdown());
}

fn scale_group_0_to_1000(c: &mut Criterion) {
    bench_scale(c, "scale_group_0_to_1000", true);
}

fn scale_group_1000_to_0(c: &mut Criterion) {
    bench_scale(c, "scale_group_1000_to_0", false);
}

/// Crashes `p` once and returns how long until it runs again.
async fn crash_and_recover(swarm: &SwarmHandle, p: &AgentProbe) -> Duration {
    let before = p.restarts();
    let t0 = Instant::now();
    swarm.send_task("p", "boom").await.expect("task queued");
    // A plain loop, not `wait_for`: its async closure is not `Send`, and
    // this future runs on a worker.
    while !(p.restarts() > before && p.state() == AgentState::Idle) {
        if t0.elapsed() >= DEADLINE {
            timed_out(swarm, "p", "p to restart").await;
        }
        tokio::task::yield_now().await;
    }
    t0.elapsed()
}

fn restart_after_panic(c: &mut Criterion) {
    let rt = &*RT;
    let (hive, swarm) = rt.block_on(start_swarm(CRASHY));
    let swarm = &swarm;
    let probe = &rt.block_on(swarm.probe("p")).expect("probe for p");
    // Each crash panics in the agent; the default hook would print a message
    // and location to stderr every time, which costs more than the restart
    // itself. A no-op hook keeps the measurement about the runtime.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    // The loop runs on a runtime worker (`spawn`), not on criterion's thread:
    // a third thread spinning on two cores gets the workers preempted for
    // whole scheduler slices, milliseconds that are the machine's, not the
    // runtime's (`restart_phases` shows both).
    c.bench_function("restart_after_panic", |b| {
        b.iter_custom(|iters| {
            let (s, p) = (swarm.clone(), probe.clone());
            rt.block_on(rt.spawn(async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += crash_and_recover(&s, &p).await;
                }
                total
            }))
            .expect("restart loop")
        })
    });
    // Criterion's median is a median of per-sample means; report true
    // per-restart percentiles too.
    let (s, p) = (swarm.clone(), probe.clone());
    let mut each: Vec<Duration> = rt
        .block_on(rt.spawn(async move {
            let mut v = Vec::with_capacity(1000);
            for _ in 0..1000 {
                v.push(crash_and_recover(&s, &p).await);
            }
            v
        }))
        .expect("restart loop");
    each.sort();
    eprintln!("restart_after_panic per restart: p50 {:?}, p99 {:?} (1000 restarts)", each[499], each[989]);
    std::panic::set_hook(hook);
    rt.block_on(hive.shutdown());
}

/// One crash, timed in phases by spinning on the probe: the task's send
/// (an ask to the swarm), until the supervisor has seen the exit (state
/// `restarting`), until the new incarnation is counted (`restarts` + 1).
async fn crash_phases(swarm: &SwarmHandle, p: &AgentProbe) -> [Duration; 3] {
    let before = p.restarts();
    let t0 = Instant::now();
    swarm.send_task("p", "boom").await.expect("task queued");
    let t1 = Instant::now();
    let mut t2 = None;
    let deadline = t0 + DEADLINE;
    loop {
        let now = Instant::now();
        if t2.is_none() && (p.state() == AgentState::Restarting || p.restarts() > before) {
            t2 = Some(now);
        }
        if p.restarts() > before && p.state() == AgentState::Idle {
            let t2 = t2.unwrap_or(now);
            return [t1 - t0, t2 - t1, now - t2];
        }
        assert!(now < deadline, "p did not restart");
        tokio::task::yield_now().await;
    }
}

/// Not a criterion benchmark: per-phase percentiles of 2000 crashes, with
/// the waiting loop on criterion's thread (`block_on`, a third thread on
/// two workers) and on a runtime worker (`spawn`).
fn restart_phases(_: &mut Criterion) {
    let rt = &*RT;
    let (hive, swarm) = rt.block_on(start_swarm(CRASHY));
    let probe = rt.block_on(swarm.probe("p")).expect("probe for p");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let report = |how: &str, mut v: Vec<[Duration; 3]>| {
        for (i, name) in ["send", "to exit seen", "to restarted"].iter().enumerate() {
            let mut d: Vec<Duration> = v.iter().map(|x| x[i]).collect();
            d.sort();
            eprintln!(
                "restart_phases {how:>8} {name:>13}: p50 {:?}, p90 {:?}, p99 {:?}",
                d[d.len() / 2],
                d[d.len() * 9 / 10],
                d[d.len() * 99 / 100]
            );
        }
        v.clear();
    };
    for _ in 0..2 {
        let (s, p) = (swarm.clone(), probe.clone());
        let v = rt.block_on(async move {
            let mut v = Vec::with_capacity(2000);
            for _ in 0..2000 {
                v.push(crash_phases(&s, &p).await);
            }
            v
        });
        report("block_on", v);
        let (s, p) = (swarm.clone(), probe.clone());
        let v = rt
            .block_on(rt.spawn(async move {
                let mut v = Vec::with_capacity(2000);
                for _ in 0..2000 {
                    v.push(crash_phases(&s, &p).await);
                }
                v
            }))
            .expect("phases task");
        report("spawned", v);
    }
    std::panic::set_hook(hook);
    rt.block_on(hive.shutdown());
}

fn event_bus_emit(c: &mut Criterion) {
    let rt = &*RT;
    let (swarm, from, to, content): (Arc<str>, Arc<str>, Arc<str>, Arc<str>) =
        ("s".into(), "a".into(), "b".into(), "ping".into());
    let bus = EventBus::new(BusOptions::default());
    let emit = || {
        bus.emit(
            Some(&swarm),
            Some(&from),
            EventKind::MessageRouted { from: from.clone(), to: to.clone(), content: content.clone() },
        )
    };
    let mut g = c.benchmark_group("event_bus_emit");
    g.throughput(Throughput::Elements(1));
    g.bench_function("no_subscriber", |b| b.iter(emit));
    let mut rx = bus.subscribe();
    let drain = rt.spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        while let Ok(_) | Err(RecvError::Lagged(_)) = rx.recv().await {}
    });
    g.bench_function("one_subscriber", |b| b.iter(emit));
    drain.abort();
    g.finish();
}

criterion_group!(benches, routed_messages, restart_after_panic, restart_phases, event_bus_emit);
criterion_group! {
    // A scale round trip takes milliseconds: 10 samples keep the run short.
    name = scaling;
    config = Criterion::default().sample_size(10);
    targets = scale_group_0_to_1000, scale_group_1000_to_0
}
criterion_main!(benches, scaling);
