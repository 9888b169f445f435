//! [`Hive::metrics_text`]: one scrape of the runtime's metrics, in the
//! Prometheus text format (0.0.4). `docs/metrics.md` lists every metric.
//!
//! What it owns: which metrics the exposition has, their names, types,
//! help and labels. Most are read at the scrape from state the runtime
//! already keeps — the registry's swarms and each running swarm's sample
//! (agents, router counts, its agents supervisor's intensity), the task
//! book, the dispatcher's workers and queue, the event bus, the store's
//! writer, `/proc/self`; the rest are the counters and histograms their
//! owners keep with pre-resolved handles (the task book's, the writer's,
//! the HTTP adapter's through [`crate::metrics::Metrics`]).
//!
//! Guarantees: label values are bounded — swarm and agent names (agents
//! only for swarms of at most `max_agents_per_swarm` agents; larger ones
//! show sums), closed enums, priorities 1..=255, route templates; never a
//! task id. A swarm that stops while it is sampled is left out of that
//! scrape. Nothing here blocks a runtime thread: `/proc` is read on the
//! blocking pool.

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::Hive;
use crate::error::HiveError;
use crate::gateway::{WorkerState, WorkerTransport};
use crate::metrics::process::{self, ProcessSample};
use crate::runtime::SwarmState;
use crate::runtime::swarm::sample::SwarmSample;
use crate::runtime::swarm::slot::AgentState;
use crate::supervisor::{IntensityUsed, SupervisorMsg};
use crate::task::{TaskStatus, Transport};

/// The content type of [`Hive::metrics_text`]'s answer.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Longest a scrape waits for one swarm's supervisor to say its intensity.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

const ENDED: [TaskStatus; 3] = [TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Cancelled];

/// One running swarm at the scrape.
#[derive(Debug)]
struct SwarmRow {
    name: String,
    sample: SwarmSample,
    intensity: Option<IntensityUsed>,
}

/// Everything a scrape read, encoded by [`Collector::encode`].
#[derive(Debug)]
struct Scrape {
    swarms_by_state: [u64; 3],
    swarms: Vec<SwarmRow>,
    open_tasks: [[u64; 2]; 3],
    ended_tasks: [[u64; 3]; 3],
    wait: [Histogram; 3],
    run: [Histogram; 3],
    queue: Vec<(u8, usize)>,
    /// Per worker transport: workers by state, slots, slots used.
    workers: [([u64; 3], u64, u64); 3],
    events: u64,
    unstored_events: u64,
    subscribers: usize,
    subscriber_lag: usize,
    store: Option<(Histogram, Histogram, usize)>,
    accepting: bool,
    uptime_s: f64,
    process: ProcessSample,
}

impl Hive {
    /// The hot-path metrics the HTTP adapter feeds (requests, WebSockets).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// One scrape: every metric of `docs/metrics.md`, as Prometheus text
    /// (its content type is [`METRICS_CONTENT_TYPE`]).
    pub async fn metrics_text(&self) -> Result<String, HiveError> {
        let per_agent = self.metrics.options().max_agents_per_swarm;
        let summaries = self.list_swarms().await?;
        let mut swarms_by_state = [0u64; 3];
        for s in &summaries {
            swarms_by_state[SwarmState::ALL.iter().position(|x| *x == s.state).unwrap_or(0)] += 1;
        }
        let running = summaries.into_iter().filter(|s| s.state == SwarmState::Running).map(|s| s.name);
        let swarms = futures::future::join_all(running.map(|name| self.swarm_row(name, per_agent))).await;
        let mut swarms: Vec<SwarmRow> = swarms.into_iter().flatten().collect();
        swarms.sort_by(|a, b| a.name.cmp(&b.name));

        let mut workers = [([0u64; 3], 0u64, 0u64); 3];
        if self.gateway_enabled() {
            for w in self.zmq_workers().await? {
                let row = &mut workers[WorkerTransport::ALL.iter().position(|t| *t == w.transport).unwrap_or(0)];
                row.0[WorkerState::ALL.iter().position(|s| *s == w.status).unwrap_or(0)] += 1;
                row.1 += u64::from(w.slots);
                row.2 += w.running.len() as u64;
            }
        }
        let queue = self.gateway().queue_depths().await?;

        let stats = self.book.stats();
        let mut ended_tasks = [[0u64; 3]; 3];
        for (t, transport) in Transport::ALL.iter().enumerate() {
            for (s, status) in ENDED.iter().enumerate() {
                ended_tasks[t][s] = stats.ended_count(*transport, *status);
            }
        }
        let last_seq = self.bus.next_seq().saturating_sub(1);
        let (subscribers, subscriber_lag) = self.bus.subscriber_lag();
        let store = self.store.as_ref().map(|s| {
            let w = s.writer();
            (w.commit_stats().latency.clone(), w.commit_stats().batch.clone(), w.queued())
        });
        let unstored_events = if self.store.is_some() { last_seq.saturating_sub(self.bus.published_seq()) } else { 0 };
        let process = tokio::task::spawn_blocking(process::sample).await.unwrap_or_default();

        let scrape = Scrape {
            swarms_by_state,
            swarms,
            open_tasks: self.book.open_counts(),
            ended_tasks,
            wait: Transport::ALL.map(|t| stats.wait(t).clone()),
            run: Transport::ALL.map(|t| stats.run(t).clone()),
            queue,
            workers,
            events: last_seq,
            unstored_events,
            subscribers,
            subscriber_lag,
            store,
            accepting: self.maintenance.accepting(),
            uptime_s: self.started.elapsed().as_secs_f64(),
            process,
        };
        let mut registry = Registry::default();
        registry.register_collector(Box::new(scrape));
        self.metrics.register(&mut registry);
        let mut out = String::with_capacity(64 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .map_err(|e| HiveError::Unavailable(format!("encoding the metrics failed: {e}")))?;
        Ok(out)
    }

    /// A running swarm's sample and its agents supervisor's intensity;
    /// `None` when it stopped meanwhile.
    async fn swarm_row(&self, name: String, per_agent: usize) -> Option<SwarmRow> {
        let sample = self.swarm(&name).await.ok()?.sample(per_agent).await.ok()?;
        let intensity = match &sample.agents_sup {
            Some(sup) => ractor::call_t!(sup, SupervisorMsg::IntensityUsed, ASK_TIMEOUT.as_millis() as u64).ok(),
            None => None,
        };
        Some(SwarmRow { name, sample, intensity })
    }
}

/// Writes one metric family: its descriptor, then each of `rows`.
fn family<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (L, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in rows {
        let mut f = m.encode_family(&labels)?;
        match kind {
            MetricType::Counter => f.encode_counter::<NoLabelSet, _, f64>(&v, None)?,
            _ => f.encode_gauge(&v)?,
        }
    }
    Ok(())
}

/// Writes one value without labels.
fn single(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    v: f64,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    match kind {
        MetricType::Counter => m.encode_counter::<NoLabelSet, _, f64>(&v, None),
        _ => m.encode_gauge(&v),
    }
}

/// Writes one histogram without labels.
fn single_histogram(enc: &mut DescriptorEncoder, name: &str, help: &str, h: &Histogram) -> Result<(), std::fmt::Error> {
    h.encode(enc.encode_descriptor(name, help, None, MetricType::Histogram)?)
}

/// Writes one histogram family, one histogram per label set.
fn histograms<'a, L: EncodeLabelSet + 'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (L, &'a Histogram)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in rows {
        h.encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let e = &mut enc;
        single(e, "hive_uptime_seconds", "Seconds since the runtime started", Gauge, self.uptime_s)?;
        single(
            e,
            "hive_accepting",
            "1 while the daemon takes new work, 0 in maintenance",
            Gauge,
            f64::from(u8::from(self.accepting)),
        )?;
        family(
            e,
            "hive_swarms",
            "Swarms the registry knows, by state",
            Gauge,
            SwarmState::ALL.iter().zip(self.swarms_by_state).map(|(s, n)| ([("state", s.as_str())], n as f64)),
        )?;

        let sw = &self.swarms;
        family(
            e,
            "hive_swarm_agents",
            "Agents of a running swarm, by state",
            Gauge,
            sw.iter().flat_map(|r| {
                AgentState::ALL
                    .iter()
                    .zip(r.sample.by_state)
                    .map(|(s, n)| ([("swarm", r.name.as_str()), ("state", s.as_str())], n as f64))
            }),
        )?;
        family(
            e,
            "hive_swarm_restarts",
            "Restarts of a running swarm's agents and objects",
            Counter,
            sw.iter().map(|r| ([("swarm", r.name.as_str())], r.sample.restarts as f64)),
        )?;
        family(
            e,
            "hive_swarm_mailbox_depth",
            "Items waiting in a running swarm's mailboxes (agents and objects)",
            Gauge,
            sw.iter().map(|r| ([("swarm", r.name.as_str())], r.sample.inbox as f64)),
        )?;
        family(
            e,
            "hive_supervisor_restarts_in_window",
            "Restarts inside the agents supervisor's intensity window now",
            Gauge,
            sw.iter().filter_map(|r| r.intensity.map(|i| ([("swarm", r.name.as_str())], f64::from(i.recent)))),
        )?;
        family(
            e,
            "hive_supervisor_max_restarts",
            "Restarts the agents supervisor's window allows (one more gives up)",
            Gauge,
            sw.iter().filter_map(|r| r.intensity.map(|i| ([("swarm", r.name.as_str())], f64::from(i.max_restarts)))),
        )?;
        family(
            e,
            "hive_messages_routed",
            "Messages a swarm's router delivered (one per recipient)",
            Counter,
            sw.iter().map(|r| ([("swarm", r.name.as_str())], r.sample.routed as f64)),
        )?;
        family(
            e,
            "hive_messages_denied",
            "Messages a swarm's router refused (topology or full mailbox)",
            Counter,
            sw.iter().map(|r| ([("swarm", r.name.as_str())], r.sample.denied as f64)),
        )?;

        let agents = || sw.iter().flat_map(|r| r.sample.agents.iter().map(move |a| (r.name.as_str(), a)));
        family(
            e,
            "hive_agent_state",
            "1 for an agent's current state (swarms of at most max_agents_per_swarm agents)",
            Gauge,
            agents().map(|(s, a)| ([("swarm", s), ("agent", &*a.name), ("state", a.state.as_str())], 1.0)),
        )?;
        family(
            e,
            "hive_agent_restarts",
            "An agent's restarts",
            Counter,
            agents().map(|(s, a)| ([("swarm", s), ("agent", &*a.name)], f64::from(a.restarts))),
        )?;
        family(
            e,
            "hive_agent_mailbox_depth",
            "Items waiting in an agent's mailbox",
            Gauge,
            agents().map(|(s, a)| ([("swarm", s), ("agent", &*a.name)], a.inbox as f64)),
        )?;

        family(
            e,
            "hive_tasks",
            "Open tasks by transport and status (queued, in_progress)",
            Gauge,
            Transport::ALL.iter().zip(self.open_tasks).flat_map(|(t, n)| {
                [TaskStatus::Queued, TaskStatus::Running]
                    .into_iter()
                    .zip(n)
                    .map(move |(s, n)| ([("transport", t.as_str()), ("status", s.as_str())], n as f64))
            }),
        )?;
        family(
            e,
            "hive_tasks_ended",
            "Tasks ended since the start, by transport and status (ok, error, cancelled)",
            Counter,
            Transport::ALL.iter().zip(self.ended_tasks).flat_map(|(t, n)| {
                ENDED
                    .into_iter()
                    .zip(n)
                    .map(move |(s, n)| ([("transport", t.as_str()), ("status", s.as_str())], n as f64))
            }),
        )?;
        histograms(
            e,
            "hive_task_dispatch_wait_seconds",
            "Time a task waited from queued (or requeued) to started, by transport",
            Transport::ALL.iter().zip(&self.wait).map(|(t, h)| ([("transport", t.as_str())], h)),
        )?;
        histograms(
            e,
            "hive_task_duration_seconds",
            "Time from a task's start to its end, by transport",
            Transport::ALL.iter().zip(&self.run).map(|(t, h)| ([("transport", t.as_str())], h)),
        )?;

        family(
            e,
            "hive_dispatch_queue_depth",
            "Dispatched tasks waiting for a worker, by priority (1 highest)",
            Gauge,
            self.queue.iter().map(|(p, n)| ([("priority", p.to_string())], *n as f64)),
        )?;
        family(
            e,
            "hive_workers",
            "Connected dispatcher workers, by transport and state",
            Gauge,
            WorkerTransport::ALL.iter().zip(&self.workers).flat_map(|(t, w)| {
                WorkerState::ALL
                    .iter()
                    .zip(w.0)
                    .map(move |(s, n)| ([("transport", t.as_str()), ("state", s.as_str())], n as f64))
            }),
        )?;
        family(
            e,
            "hive_worker_slots",
            "Task slots of connected workers, by transport",
            Gauge,
            WorkerTransport::ALL.iter().zip(&self.workers).map(|(t, w)| ([("transport", t.as_str())], w.1 as f64)),
        )?;
        family(
            e,
            "hive_worker_slots_used",
            "Task slots running a task, by transport",
            Gauge,
            WorkerTransport::ALL.iter().zip(&self.workers).map(|(t, w)| ([("transport", t.as_str())], w.2 as f64)),
        )?;

        single(
            e,
            "hive_events",
            "Events emitted since the first start (rate() is events per second)",
            Counter,
            self.events as f64,
        )?;
        single(
            e,
            "hive_events_unstored",
            "Events emitted but not yet committed to the store",
            Gauge,
            self.unstored_events as f64,
        )?;
        single(
            e,
            "hive_event_subscribers",
            "Live event-bus subscribers (streams, sockets)",
            Gauge,
            self.subscribers as f64,
        )?;
        single(
            e,
            "hive_event_subscriber_lag",
            "Events the slowest live subscriber has yet to read",
            Gauge,
            self.subscriber_lag as f64,
        )?;
        if let Some((latency, batch, queued)) = &self.store {
            single_histogram(
                e,
                "hive_store_commit_duration_seconds",
                "Time of one store transaction (apply and durable commit)",
                latency,
            )?;
            single_histogram(e, "hive_store_commit_batch_size", "Jobs applied in one store transaction", batch)?;
            single(e, "hive_store_writer_queue", "Jobs waiting for the store's writer thread", Gauge, *queued as f64)?;
        }
        let p = &self.process;
        if let Some(v) = p.rss_bytes {
            single(e, "process_resident_memory_bytes", "Resident memory of the daemon's process", Gauge, v as f64)?;
        }
        if let Some(v) = p.open_fds {
            single(e, "process_open_fds", "Open file descriptors of the daemon's process", Gauge, v as f64)?;
        }
        if let Some(v) = p.max_fds {
            single(e, "process_max_fds", "Most file descriptors the daemon's process may open", Gauge, v as f64)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label word is the value's serde name, so the metrics and the API
    /// speak one vocabulary.
    #[test]
    fn every_label_word_is_the_serde_name() {
        fn same<T: serde::Serialize + std::fmt::Debug>(all: &[T], word: impl Fn(&T) -> &'static str) {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(word(v)), "{v:?}");
            }
        }
        same(&SwarmState::ALL, |s| s.as_str());
        same(&AgentState::ALL, |s| s.as_str());
        same(&WorkerState::ALL, |s| s.as_str());
        same(&WorkerTransport::ALL, |t| t.as_str());
        same(&Transport::ALL, |t| t.as_str());
        same(&TaskStatus::ALL, |s| s.as_str());
    }
}
