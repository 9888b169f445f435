//! `hive bench schedules`: the scheduler's cost with many enabled
//! schedules, in process (an in-memory `Hive` with a swarm of mock agents).
//! Measures:
//! * idle CPU: `--schedules` schedules whose next tick is far away (a
//!   yearly cron), for `--idle-seconds`: the process's CPU time over the
//!   wall time;
//! * fire latency: as many `every --period` schedules (their anchors spread
//!   by the time it takes to make them), run for `--seconds`: for every
//!   fired run, the time from its tick to its task's creation — median,
//!   p99 and max — with the fired, skipped and failed counts.

use std::time::{Duration, Instant};

use clap::Args;
use hive::access::Principal;
use hive::schedule::{AgentTarget, CatchUp, Overlap, RunOutcome, ScheduleSpec, Target};
use hive::{Hive, HiveOptions};

use super::percentile;

#[derive(Args, Debug)]
pub(crate) struct SchedulesArgs {
    /// Enabled schedules.
    #[arg(long, default_value_t = 10_000)]
    schedules: usize,
    /// Period of the firing schedules.
    #[arg(long, default_value = "10s")]
    period: String,
    /// How long the firing schedules run.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// How long the idle CPU is measured.
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
    /// Mock agents the tasks go to (a scale group).
    #[arg(long, default_value_t = 100)]
    agents: usize,
}

fn cpu_ms() -> u64 {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).expect("getrusage");
    let ms = |t: nix::sys::time::TimeVal| t.tv_sec() as u64 * 1000 + t.tv_usec() as u64 / 1000;
    ms(u.user_time()) + ms(u.system_time())
}

fn spec(i: usize, agents: usize, when: (Option<&str>, Option<&str>)) -> ScheduleSpec {
    ScheduleSpec {
        name: format!("s{i}"),
        cron: when.0.map(String::from),
        timezone: None,
        every: when.1.map(String::from),
        at: None,
        target: Target::Agent(AgentTarget { swarm: "bench".into(), agent: format!("a_{}", i % agents + 1) }),
        content: "tick".into(),
        enabled: true,
        overlap: Overlap::Queue,
        catch_up: CatchUp::Skip,
    }
}

async fn make(hive: &Hive, n: usize, agents: usize, when: (Option<&str>, Option<&str>)) -> Result<Duration, String> {
    let who = Principal::loopback();
    let t = Instant::now();
    for i in 0..n {
        hive.schedules().create(spec(i, agents, when), &who).await.map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed())
}

async fn clear(hive: &Hive, n: usize) -> Result<(), String> {
    for i in 0..n {
        hive.schedules().delete(&format!("s{i}")).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

pub(crate) async fn run(a: SchedulesArgs) -> Result<(), String> {
    let mut opts = HiveOptions::default();
    opts.limits.mailbox_capacity = opts.limits.mailbox_capacity.max(4096);
    let hive = Hive::start(opts).await.map_err(|e| e.to_string())?;
    let toml = format!("name = \"bench\"\n[[agents]]\nname = \"a\"\nreplicas = {}\n", a.agents);
    let spec = hive::config::parse_toml(&toml, &hive.validate_options()).map_err(|e| e.to_string())?;
    hive.start_swarm(spec).await.map_err(|e| e.to_string())?;

    let made = make(&hive, a.schedules, a.agents, (Some("0 0 1 1 *"), None)).await?;
    println!("made {} yearly schedules in {:.2} s", a.schedules, made.as_secs_f64());
    let (cpu0, wall0) = (cpu_ms(), Instant::now());
    tokio::time::sleep(Duration::from_secs(a.idle_seconds)).await;
    let (cpu, wall) = (cpu_ms() - cpu0, wall0.elapsed().as_millis() as u64);
    println!(
        "idle with {} enabled schedules: {cpu} ms CPU in {wall} ms = {:.3}% of one core",
        a.schedules,
        cpu as f64 * 100.0 / wall as f64
    );
    clear(&hive, a.schedules).await?;

    let made = make(&hive, a.schedules, a.agents, (None, Some(&a.period))).await?;
    println!("made {} schedules firing every {} in {:.2} s", a.schedules, a.period, made.as_secs_f64());
    let (cpu0, wall0) = (cpu_ms(), Instant::now());
    tokio::time::sleep(Duration::from_secs(a.seconds)).await;
    let (cpu, wall) = (cpu_ms() - cpu0, wall0.elapsed().as_millis() as u64);
    let mut lat = Vec::new();
    let (mut skipped, mut failed) = (0u64, 0u64);
    for i in 0..a.schedules {
        let name = format!("s{i}");
        hive.schedules()
            .edit(&name, hive::schedule::ScheduleEdit { enabled: Some(false), ..Default::default() })
            .await
            .map_err(|e| e.to_string())?;
        for r in hive.schedules().runs(&name, 1000).await.map_err(|e| e.to_string())? {
            let ms = |s: &str| {
                humantime::parse_rfc3339(s)
                    .map(|t| t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64)
            };
            match r.outcome {
                RunOutcome::Fired => {
                    if let (Ok(tick), Ok(at)) = (ms(&r.tick), ms(&r.at)) {
                        lat.push(at.saturating_sub(tick));
                    }
                }
                RunOutcome::Skipped => skipped += r.missed.max(1),
                RunOutcome::Failed => failed += 1,
            }
        }
    }
    lat.sort_unstable();
    println!(
        "firing: {} fired, {skipped} skipped, {failed} failed in {} s ({:.0} fires/s); CPU {:.1}% of one core",
        lat.len(),
        a.seconds,
        lat.len() as f64 / a.seconds as f64,
        cpu as f64 * 100.0 / wall as f64
    );
    println!(
        "fire latency (tick → task created): median {} ms, p99 {} ms, max {} ms",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(0)
    );
    hive.shutdown().await;
    Ok(())
}
