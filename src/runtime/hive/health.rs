//! The runtime's own state for operators: [`Hive::health`] (liveness, and
//! on request the detail: workers, slots, the dispatch queue by priority,
//! the store), the maintenance switch ([`Hive::set_accepting`]) and the
//! daemon's last log lines ([`Hive::logs`]). Each is one call that asks the
//! actors (the registry, the dispatcher, the pool) and reads the store's
//! counters; none touches actor state directly.

use serde::Serialize;

use super::Hive;
use crate::error::HiveError;
use crate::gateway::WorkerState;
use crate::logs::{LogLine, LogQuery};
use crate::runtime::SwarmState;
use crate::runtime::maintenance::MaintenanceState;

/// What `Hive::health` answers: liveness, and the detail when asked for.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Seconds since the runtime started.
    pub uptime_s: u64,
    /// Swarms running.
    pub swarms_running: usize,
    /// The newest event's sequence number (0 = none yet).
    pub last_event_seq: u64,
    /// `false` while the daemon is in maintenance (new work gets 503).
    pub accepting: bool,
    /// The detail, when asked for (`GET /health` with a valid token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<HealthDetail>,
}

/// The detailed health.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HealthDetail {
    /// The maintenance switch.
    pub maintenance: MaintenanceState,
    /// Whether the ZeroMQ gateway and dispatcher run (`workers`, `slots` and
    /// `queue` are theirs; all zero when it is off).
    pub gateway: bool,
    /// The dispatcher's workers (ZeroMQ, and pool workers as `local/<id>`) by state.
    pub workers: WorkerCounts,
    /// Their task slots.
    pub slots: SlotCounts,
    /// Dispatched tasks waiting for a slot.
    pub queue: QueueDepth,
    /// Standalone JSONL workers in the pool (whatever their state).
    pub pool_workers: usize,
    /// Swarms the registry knows (running, stopped, failed).
    pub swarms: usize,
    /// The store.
    pub store: StoreHealth,
}

/// Workers by state.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct WorkerCounts {
    /// All connected workers.
    pub total: usize,
    /// With a free slot.
    pub ready: usize,
    /// Every slot taken.
    pub busy: usize,
    /// In their own maintenance (`/api/v1/zmq/workers/{id}/off`).
    pub draining: usize,
}

/// Task slots of the connected workers.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct SlotCounts {
    /// Every slot.
    pub total: u64,
    /// Running a task.
    pub used: u64,
    /// Free (of workers that accept tasks).
    pub free: u64,
}

/// The dispatch queue.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct QueueDepth {
    /// Tasks waiting.
    pub total: usize,
    /// Per priority with waiting tasks, highest (1) first.
    pub by_priority: Vec<PriorityDepth>,
}

/// Tasks waiting at one priority.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PriorityDepth {
    /// 1 (highest) to 255.
    pub priority: u8,
    /// Tasks waiting at it.
    pub depth: usize,
}

/// How the runtime keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreMode {
    /// A redb file (a data directory): swarms, events, tasks survive a restart.
    Durable,
    /// Nothing on disk.
    InMemory,
}

/// The store's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreHealth {
    /// Durable or in memory.
    pub mode: StoreMode,
    /// The redb file (durable only).
    pub path: Option<String>,
    /// When the writer's last commit ended (RFC 3339); `null` before the first.
    pub last_commit: Option<String>,
    /// Jobs waiting for the writer thread.
    pub writer_queue: usize,
    /// Events emitted but not yet committed (the flusher's lag; a streamed
    /// token, never stored, counts as committed once the flusher passed it).
    pub unstored_events: u64,
    /// `false` while the disk fails: the store is reopening its file, and
    /// what must be recorded gets 503 `HIVE_STORAGE_UNAVAILABLE` (always
    /// `true` in memory).
    pub available: bool,
    /// Since when it is unavailable (RFC 3339); `null` while available.
    pub unavailable_since: Option<String>,
    /// The failure that made it unavailable; `null` while available.
    pub unavailable_reason: Option<String>,
    /// Times it became unavailable since the start.
    pub outages: u64,
}

impl Hive {
    /// The runtime's health; with `detail`, also its workers, slots, queue
    /// and store (a few more actor calls and a store read).
    pub async fn health(&self, detail: bool) -> Result<Health, HiveError> {
        let swarms = self.list_swarms().await?;
        let last_event_seq = self.bus.next_seq().saturating_sub(1);
        let mut h = Health {
            uptime_s: self.started.elapsed().as_secs(),
            swarms_running: swarms.iter().filter(|s| s.state == SwarmState::Running).count(),
            last_event_seq,
            accepting: self.maintenance.accepting(),
            detail: None,
        };
        if !detail {
            return Ok(h);
        }
        let gateway = self.gateway_enabled();
        let (mut workers, mut slots) = (WorkerCounts::default(), SlotCounts::default());
        if gateway {
            for w in self.zmq_workers().await? {
                workers.total += 1;
                match w.status {
                    WorkerState::Ready => workers.ready += 1,
                    WorkerState::Busy => workers.busy += 1,
                    WorkerState::Draining => workers.draining += 1,
                }
                let (all, used) = (u64::from(w.slots), w.running.len() as u64);
                slots.total += all;
                slots.used += used;
                if w.status != WorkerState::Draining {
                    slots.free += all.saturating_sub(used);
                }
            }
        }
        let by_priority: Vec<PriorityDepth> = self
            .gateway()
            .queue_depths()
            .await?
            .into_iter()
            .map(|(priority, depth)| PriorityDepth { priority, depth })
            .collect();
        let queue = QueueDepth { total: by_priority.iter().map(|p| p.depth).sum(), by_priority };
        h.detail = Some(HealthDetail {
            maintenance: self.maintenance.state(),
            gateway,
            workers,
            slots,
            queue,
            pool_workers: self.list_workers().await?.len(),
            swarms: swarms.len(),
            store: self.store_health(last_event_seq).await?,
        });
        Ok(h)
    }

    async fn store_health(&self, last_event_seq: u64) -> Result<StoreHealth, HiveError> {
        let (Some(service), Some(store)) = (&self.store, self.store()?) else {
            return Ok(StoreHealth {
                mode: StoreMode::InMemory,
                path: None,
                last_commit: None,
                writer_queue: 0,
                unstored_events: 0,
                available: true,
                unavailable_since: None,
                unavailable_reason: None,
                outages: 0,
            });
        };
        let path = store.path().display().to_string();
        // Published in durable mode = committed (a streamed token, never
        // stored, is not counted as waiting for the disk).
        let committed = self.bus.published_seq();
        let writer = service.writer();
        let outage = store.availability().outage();
        Ok(StoreHealth {
            available: outage.is_none(),
            unavailable_since: outage.as_ref().map(|o| crate::events::rfc3339_ms(o.since_ms)),
            unavailable_reason: outage.map(|o| o.reason),
            outages: store.availability().outages(),
            mode: StoreMode::Durable,
            path: Some(path),
            last_commit: writer.last_commit_ms().map(crate::events::rfc3339_ms),
            writer_queue: writer.queued(),
            unstored_events: last_event_seq.saturating_sub(committed),
        })
    }

    /// The maintenance switch now.
    pub fn maintenance(&self) -> MaintenanceState {
        self.maintenance.state()
    }

    /// Puts the runtime in service (`true`: new work is taken) or out of
    /// service (`false`: what runs finishes, new work is refused with
    /// [`HiveError::Maintenance`]). Not persisted: a restarted runtime is in
    /// service. A change is logged.
    pub fn set_accepting(&self, accepting: bool) -> MaintenanceState {
        let (state, changed) = self.maintenance.set(accepting);
        if changed && accepting {
            tracing::info!("maintenance ended: new work is accepted again");
        } else if changed {
            tracing::info!("maintenance started: running work finishes, new work is refused");
        }
        state
    }

    /// The daemon's newest log lines (from the ring its tracing feeds;
    /// empty when nothing feeds it).
    pub fn logs(&self, q: LogQuery) -> Vec<LogLine> {
        self.logs.read(q)
    }

    /// How many lines the log ring holds at `level` or more severe.
    pub fn logs_matching(&self, level: Option<crate::logs::LogLevel>) -> usize {
        self.logs.matching(level)
    }

    /// Most lines [`Self::logs`] can answer.
    pub fn logs_capacity(&self) -> usize {
        self.logs.capacity()
    }
}
