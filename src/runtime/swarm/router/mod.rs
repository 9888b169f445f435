//! The router actor: every message between endpoints goes through it.
//!
//! It checks the message against the current [`RoutingTable`], delivers it to
//! each recipient's mailbox, records it in a bounded routed-message log and
//! emits `message_routed`. A refused message is never dropped silently: the
//! sender gets the error (as a call reply, or a `Denied` item in its mailbox
//! when it sent from inside the swarm) and `route_denied` records it.
//! Messages from one sender are delivered in the order it sent them.

pub(crate) mod table;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;

use crate::events::{EventBus, EventKind, now_ms};
use crate::runtime::swarm::mailbox::{Envelope, Message};
use crate::runtime::swarm::router::table::{RouteError, RoutingTable};

/// Routed messages kept for `GET .../messages`.
pub(crate) const MESSAGE_LOG_CAPACITY: usize = 1_000;

/// Where the swarm keeps the current table and router, so that a restarted
/// router, and every sender, find them.
pub(crate) struct RouterCell {
    table: RwLock<Arc<RoutingTable>>,
    router: RwLock<Option<ActorRef<RouterMsg>>>,
    swarm: Arc<str>,
    bus: EventBus,
    /// Messages delivered to a recipient's mailbox (one per recipient),
    /// across router restarts: the metrics' routed count.
    routed: AtomicU64,
    /// Messages refused (by the topology, or a full mailbox), likewise.
    denied: AtomicU64,
}

impl RouterCell {
    /// An empty cell for `swarm`, recording refusals on `bus`.
    pub(crate) fn new(swarm: Arc<str>, bus: EventBus) -> Self {
        Self {
            table: Default::default(),
            router: Default::default(),
            swarm,
            bus,
            routed: AtomicU64::new(0),
            denied: AtomicU64::new(0),
        }
    }

    /// Messages routed and denied so far (for the metrics).
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.routed.load(Ordering::Relaxed), self.denied.load(Ordering::Relaxed))
    }

    /// The current table.
    pub(crate) fn table(&self) -> Arc<RoutingTable> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes a new table to the cell and to the running router.
    pub(crate) fn set_table(&self, table: Arc<RoutingTable>) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table.clone();
        if let Some(r) = self.router() {
            let _ = r.cast(RouterMsg::SetTable(table));
        }
    }

    /// The running router, if any.
    pub(crate) fn router(&self) -> Option<ActorRef<RouterMsg>> {
        self.router.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_router(&self, r: Option<ActorRef<RouterMsg>>) {
        *self.router.write().unwrap_or_else(|p| p.into_inner()) = r;
    }

    /// Sends from inside the swarm: a refusal comes back as a `Denied` item.
    pub(crate) fn send(&self, from: Arc<str>, to: Arc<str>, content: Arc<str>) {
        if let Some(r) = self.router()
            && r.cast(RouterMsg::Send { from: from.clone(), to: to.clone(), content, reply: None }).is_ok()
        {
            return;
        }
        self.refuse_unrouted(&from, to);
    }

    /// Broadcasts from inside the swarm to every out-edge.
    pub(crate) fn broadcast(&self, from: Arc<str>, content: Arc<str>) {
        if let Some(r) = self.router()
            && r.cast(RouterMsg::Broadcast { from: from.clone(), content, reply: None }).is_ok()
        {
            return;
        }
        self.refuse_unrouted(&from, "*".into());
    }

    /// No router is running (it is restarting, or this endpoint has no
    /// topology at all): the sender is told, as for any refusal.
    fn refuse_unrouted(&self, from: &str, to: Arc<str>) {
        let table = self.table();
        let Some((name, ep)) = table.endpoint_entry(from) else { return };
        let reason = "no router is running for this endpoint".to_string();
        let kind = EventKind::RouteDenied { from: name.clone(), to: to.clone(), reason: reason.clone() };
        self.bus.emit(Some(&self.swarm), Some(name), kind);
        let _ = ep.mailbox.push(Envelope::Denied { to, reason });
    }

    /// An object's answer to `to` (no edge check: it answers a message `to` sent).
    pub(crate) fn reply(&self, from: Arc<str>, to: Arc<str>, content: Arc<str>) {
        if let Some(r) = self.router() {
            let _ = r.cast(RouterMsg::Reply { from, to, content });
        }
    }
}

/// Sends messages through a swarm's router as one of its endpoints, without
/// waiting: the way in-process code speaks for an agent. A refused message is
/// delivered back to that endpoint's mailbox as `denied` (and recorded as a
/// `route_denied` event), exactly as for the agent itself.
#[derive(Clone)]
pub struct EndpointSender {
    pub(crate) cell: Arc<RouterCell>,
    pub(crate) from: Arc<str>,
}

impl EndpointSender {
    /// Sends `content` to `to` (an endpoint or a group). Passing `to` as an
    /// `Arc<str>` you keep makes a send allocation-free.
    pub fn send(&self, to: impl Into<Arc<str>>, content: Arc<str>) {
        self.cell.send(self.from.clone(), to.into(), content);
    }

    /// Sends `content` to every out-edge.
    pub fn broadcast(&self, content: Arc<str>) {
        self.cell.broadcast(self.from.clone(), content);
    }
}

/// One entry of the routed-message log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoutedMessage {
    /// When it was routed (ms since the epoch).
    pub timestamp_ms: u64,
    /// Sender.
    pub from: Arc<str>,
    /// Recipient.
    pub to: Arc<str>,
    /// `direct`, `broadcast` or `reply`.
    pub kind: &'static str,
    /// Content (shared with the delivered message).
    pub content: Arc<str>,
}

/// Messages the router handles.
pub(crate) enum RouterMsg {
    /// Route `from → to`. With a reply port the result goes there; without
    /// one a refusal is delivered to the sender's mailbox.
    Send {
        /// Sender endpoint.
        from: Arc<str>,
        /// Target endpoint or group.
        to: Arc<str>,
        /// Content.
        content: Arc<str>,
        /// Where to answer (number of recipients), if the sender waits.
        reply: Option<RpcReplyPort<Result<usize, RouteError>>>,
    },
    /// Send to every out-edge of `from`.
    Broadcast {
        /// Sender endpoint.
        from: Arc<str>,
        /// Content.
        content: Arc<str>,
        /// Where to answer (number of recipients), if the sender waits.
        reply: Option<RpcReplyPort<Result<usize, RouteError>>>,
    },
    /// An object's reply to a sender.
    Reply {
        /// The object.
        from: Arc<str>,
        /// The endpoint that sent to it.
        to: Arc<str>,
        /// The answer.
        content: Arc<str>,
    },
    /// Use this table from now on.
    SetTable(Arc<RoutingTable>),
    /// The last `limit` routed messages, oldest first.
    Messages(usize, RpcReplyPort<Vec<RoutedMessage>>),
}

/// Start arguments of the router.
pub(crate) struct RouterArgs {
    /// The swarm's name (for events).
    pub swarm: Arc<str>,
    /// The swarm's cell (table in, router ref out).
    pub cell: Arc<RouterCell>,
    /// The event bus.
    pub bus: EventBus,
}

/// The router actor.
pub(crate) struct Router;

/// The router's state.
pub(crate) struct RouterState {
    swarm: Arc<str>,
    cell: Arc<RouterCell>,
    bus: EventBus,
    table: Arc<RoutingTable>,
    log: VecDeque<RoutedMessage>,
}

impl Actor for Router {
    type Msg = RouterMsg;
    type State = RouterState;
    type Arguments = RouterArgs;

    async fn pre_start(&self, myself: ActorRef<RouterMsg>, a: RouterArgs) -> Result<RouterState, ActorProcessingErr> {
        a.cell.set_router(Some(myself));
        let table = a.cell.table();
        Ok(RouterState { swarm: a.swarm, cell: a.cell, bus: a.bus, table, log: VecDeque::new() })
    }

    async fn post_stop(&self, _: ActorRef<RouterMsg>, s: &mut RouterState) -> Result<(), ActorProcessingErr> {
        s.cell.set_router(None);
        Ok(())
    }

    async fn handle(
        &self,
        _: ActorRef<RouterMsg>,
        msg: RouterMsg,
        s: &mut RouterState,
    ) -> Result<(), ActorProcessingErr> {
        if matches!(msg, RouterMsg::Send { .. } | RouterMsg::Broadcast { .. }) {
            s.bus.ready().await; // each message emits an event: wait while the disk is behind
        }
        match msg {
            RouterMsg::Send { from, to, content, reply } => {
                let r = s.table.resolve(&from, &to).and_then(|targets| s.deliver(&from, targets, &content, "direct"));
                s.answer(from, to, r, reply);
            }
            RouterMsg::Broadcast { from, content, reply } => {
                let r = s.table.out_targets(&from).and_then(|targets| {
                    let n = s.deliver(&from, targets, &content, "broadcast")?;
                    s.bus.emit(
                        Some(&s.swarm),
                        Some(&from),
                        EventKind::MessageBroadcast { from: from.clone(), recipients: n },
                    );
                    Ok(n)
                });
                s.answer(from, "*".into(), r, reply);
            }
            RouterMsg::Reply { from, to, content } => {
                if let Some(ep) = s.table.endpoint(&to) {
                    let ep_mailbox = ep.mailbox.clone();
                    let msg = Message { from: from.clone(), content: content.clone(), reply: true };
                    let ok = ep_mailbox.push(Envelope::Message(msg)).is_ok();
                    s.record(now_ms(), &from, &to, &content, "reply");
                    s.count(ok);
                    if !ok {
                        s.bus.emit(
                            Some(&s.swarm),
                            Some(&from),
                            EventKind::RouteDenied {
                                from: from.clone(),
                                to: to.clone(),
                                reason: RouteError::MailboxFull(to.to_string()).to_string(),
                            },
                        );
                    }
                }
            }
            RouterMsg::SetTable(t) => s.table = t,
            RouterMsg::Messages(limit, reply) => {
                let skip = s.log.len().saturating_sub(limit);
                let _ = reply.send(s.log.iter().skip(skip).cloned().collect());
            }
        }
        Ok(())
    }
}

impl RouterState {
    /// Pushes the message into each recipient's mailbox. Each refusal (a
    /// full mailbox) is recorded as `route_denied`; if any recipient refused,
    /// the result is an error naming them (the others did get the message).
    fn deliver(
        &mut self,
        from: &Arc<str>,
        targets: crate::runtime::swarm::router::table::Recipients,
        content: &Arc<str>,
        kind: &'static str,
    ) -> Result<usize, RouteError> {
        let total = targets.len();
        let mut full: Vec<Arc<str>> = Vec::new();
        for (to, mailbox) in targets {
            let msg = Message { from: from.clone(), content: content.clone(), reply: false };
            if mailbox.push(Envelope::Message(msg)).is_err() {
                self.count(false);
                self.bus.emit(
                    Some(&self.swarm),
                    Some(from),
                    EventKind::RouteDenied {
                        from: from.clone(),
                        to: to.clone(),
                        reason: RouteError::MailboxFull(to.to_string()).to_string(),
                    },
                );
                full.push(to);
                continue;
            }
            let now = now_ms();
            self.count(true);
            self.record(now, from, &to, content, kind);
            self.bus.emit_at(
                now,
                Some(&self.swarm),
                Some(from),
                EventKind::MessageRouted { from: from.clone(), to, content: content.clone() },
            );
        }
        if full.is_empty() {
            return Ok(total);
        }
        let names: Vec<&str> = full.iter().map(|n| &**n).collect();
        Err(RouteError::MailboxFull(if total == 1 {
            names[0].to_string()
        } else {
            format!("{} (delivered to the other {} of {total})", names.join(", "), total - full.len())
        }))
    }

    /// Counts one delivery (`true`) or one refusal in the cell.
    fn count(&self, delivered: bool) {
        let c = if delivered { &self.cell.routed } else { &self.cell.denied };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&mut self, timestamp_ms: u64, from: &Arc<str>, to: &Arc<str>, content: &Arc<str>, kind: &'static str) {
        if self.log.len() == MESSAGE_LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(RoutedMessage {
            timestamp_ms,
            from: from.clone(),
            to: to.clone(),
            kind,
            content: content.clone(),
        });
    }

    fn answer(
        &self,
        from: Arc<str>,
        to: Arc<str>,
        r: Result<usize, RouteError>,
        reply: Option<RpcReplyPort<Result<usize, RouteError>>>,
    ) {
        if let Err(e) = &r
            && !matches!(e, RouteError::MailboxFull(_))
        {
            self.count(false);
            self.bus.emit(
                Some(&self.swarm),
                Some(&from),
                EventKind::RouteDenied { from: from.clone(), to: to.clone(), reason: e.to_string() },
            );
        }
        match (reply, r) {
            (Some(port), r) => {
                let _ = port.send(r);
            }
            (None, Err(e)) => {
                // Tell the sender inside the swarm.
                if let Some(ep) = self.table.endpoint(&from) {
                    let _ = ep.mailbox.push(Envelope::Denied { to, reason: e.to_string() });
                }
            }
            (None, Ok(_)) => {}
        }
    }
}
