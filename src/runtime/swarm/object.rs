//! The object actor: one incarnation of an object. It drains the object's
//! mailbox, hands each request to the handler, and answers the sender through
//! the router. State and configuration calls go straight to the actor.
//!
//! The handler is a registered kind (in process, answering at once) or a
//! program ([`program`]): then the incarnation lives exactly as long as its
//! process, like a stdio agent's — when the process exits, the actor exits
//! with the exit code or signal as its reason and the objects supervisor
//! decides (restart type, backoff, intensity). Queued requests stay in the
//! mailbox for the next incarnation. A state read is answered by the actor
//! itself, so the swarm actor never waits on a handler.

mod program;

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{Value, json};

use crate::events::EventKind;
use crate::objects::{ObjectError, ObjectHandler};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Envelope, Waker};
use crate::runtime::swarm::slot::{AgentState, ObjectImpl, ObjectSlot};
use crate::supervisor::{ActorExit, ExitReason};
use program::{ProgramObject, StateReply, Step};

const BATCH: usize = 64;

/// Messages an object handles.
pub(crate) enum ObjectMsg {
    /// Items wait in the mailbox.
    Wake,
    /// The object's state (a program's within a deadline, see [`program`]).
    State(StateReply),
    /// Apply a new configuration.
    Configure(Value, RpcReplyPort<Result<(), ObjectError>>),
    /// Events of the handler program wait in its bounded queue.
    ChildEvents,
    /// The deadline of the program's answer to this state read passed.
    StateDeadline(String),
}

struct ActorWaker(ActorRef<ObjectMsg>);
impl Waker for ActorWaker {
    fn wake(&self) {
        let _ = self.0.cast(ObjectMsg::Wake);
    }
}

/// The running incarnation of the object in `slot`, if any.
pub(crate) fn actor_of(slot: &ObjectSlot) -> Option<ActorRef<ObjectMsg>> {
    slot.cell().map(ActorRef::from)
}

/// Start arguments of an object.
pub(crate) struct ObjectArgs {
    /// The object's slot.
    pub slot: Arc<ObjectSlot>,
    /// The swarm it lives in.
    pub ctx: SwarmCtx,
}

/// The object actor.
pub(crate) struct Object;

/// What handles this incarnation's requests.
enum Handler {
    Native(Box<dyn ObjectHandler>),
    Program(Box<ProgramObject>),
}

/// An object incarnation's state.
pub(crate) struct ObjectRun {
    slot: Arc<ObjectSlot>,
    ctx: SwarmCtx,
    handler: Handler,
}

impl Actor for Object {
    type Msg = ObjectMsg;
    type State = ObjectRun;
    type Arguments = ObjectArgs;

    async fn pre_start(&self, myself: ActorRef<ObjectMsg>, a: ObjectArgs) -> Result<ObjectRun, ActorProcessingErr> {
        let (handler, ready) = match &a.slot.handler {
            ObjectImpl::Kind(kind) => {
                let h = kind.create(&a.slot.config()).map_err(|e| format!("object '{}': {e}", a.slot.name))?;
                (Handler::Native(h), true)
            }
            ObjectImpl::Program(argv) => {
                let p = ProgramObject::spawn(&a.ctx, &a.slot, argv, &myself)
                    .await
                    .map_err(|e| format!("object '{}': {e}", a.slot.name))?;
                (Handler::Program(Box::new(p)), false)
            }
        };
        let incarnation = a.slot.status.new_incarnation();
        if incarnation > 0 {
            a.ctx.emit(&a.slot.name, EventKind::ObjectRestarted { restarts: incarnation });
        }
        a.slot.status.set_state(if ready { AgentState::Idle } else { AgentState::Starting });
        *a.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = Some(myself.get_cell());
        a.slot.mailbox.attach(Arc::new(ActorWaker(myself)));
        Ok(ObjectRun { slot: a.slot, ctx: a.ctx, handler })
    }

    async fn post_stop(&self, _: ActorRef<ObjectMsg>, run: &mut ObjectRun) -> Result<(), ActorProcessingErr> {
        run.slot.mailbox.detach();
        *run.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Handler::Program(p) = &mut run.handler {
            p.stop(&run.ctx, &run.slot).await;
        }
        run.slot.status.set_state(AgentState::Stopped);
        run.ctx.emit(&run.slot.name, EventKind::ObjectStopped);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ObjectMsg>,
        msg: ObjectMsg,
        run: &mut ObjectRun,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ObjectMsg::Wake => run.drain(&myself).await,
            ObjectMsg::State(reply) => match &mut run.handler {
                Handler::Native(h) => {
                    let _ = reply.send(Ok(h.state()));
                }
                Handler::Program(p) => p.ask_state(&myself, reply).await,
            },
            ObjectMsg::StateDeadline(id) => {
                if let Handler::Program(p) = &mut run.handler {
                    p.state_deadline(&run.ctx, &run.slot, &id);
                }
            }
            ObjectMsg::Configure(config, reply) => {
                let r = match &mut run.handler {
                    Handler::Native(h) => h.configure(&config),
                    Handler::Program(_) => Err(ObjectError::NotReconfigurable),
                };
                if r.is_ok() {
                    run.slot.spec.lock().unwrap_or_else(|p| p.into_inner()).config = config;
                    run.ctx.emit(&run.slot.name, EventKind::ObjectConfigured);
                }
                let _ = reply.send(r);
            }
            ObjectMsg::ChildEvents => run.on_child_events(&myself).await?,
        }
        Ok(())
    }
}

impl ObjectRun {
    /// Hands up to a batch of mailbox items to the handler (a program only
    /// while it has room; it is woken again when room frees).
    async fn drain(&mut self, myself: &ActorRef<ObjectMsg>) {
        if let Handler::Program(p) = &self.handler
            && !p.has_room()
        {
            return; // `ready` or an answer drains again
        }
        self.ctx.bus.ready().await; // each item emits an event: wait while the disk is behind
        for _ in 0..BATCH {
            if let Handler::Program(p) = &self.handler
                && !p.has_room()
            {
                return;
            }
            let Some(item) = self.slot.mailbox.pop() else {
                return;
            };
            self.handle_item(item).await;
        }
        // A full batch may have emptied the queue without seeing `None`;
        // wake again so the mailbox re-arms its wake-up.
        let _ = myself.cast(ObjectMsg::Wake);
    }

    async fn handle_item(&mut self, item: Envelope) {
        let m = match (item, &mut self.handler) {
            (Envelope::Message(m), _) => m,
            (Envelope::Denied { to, reason }, Handler::Program(p)) => return p.denied(&to, &reason).await,
            _ => return,
        };
        self.slot.status.touch();
        self.slot.status.message_received();
        let h = match &mut self.handler {
            Handler::Program(p) => return p.message(&m).await,
            Handler::Native(h) => h,
        };
        if m.reply {
            return; // objects do not answer answers
        }
        let request = serde_json::from_str(&m.content).unwrap_or_else(|_| Value::String(m.content.to_string()));
        let (ok, answer) = match h.handle(&m.from, request) {
            Ok(v) => (true, v),
            Err(e) => (false, json!({"error": e.to_string()})),
        };
        self.slot.status.task_done(ok);
        self.ctx.emit(&self.slot.name, EventKind::ObjectReplied { to: m.from.clone(), ok });
        self.ctx.router.reply(self.slot.name.clone(), m.from, answer.to_string().into());
    }

    /// Handles up to a batch of the program's waiting events (more wake the
    /// actor again). Waits first while the disk is behind with events.
    async fn on_child_events(&mut self, myself: &ActorRef<ObjectMsg>) -> Result<(), ActorProcessingErr> {
        let Handler::Program(p) = &mut self.handler else { return Ok(()) };
        let events = p.take_events(BATCH);
        self.ctx.bus.ready().await;
        let mut drain = false;
        for e in events {
            let Handler::Program(p) = &mut self.handler else { return Ok(()) };
            match p.on_event(&self.ctx, &self.slot, e) {
                Step::Nothing => {}
                Step::Drain => drain = true,
                Step::Died { normal, text } => {
                    p.abandon(&self.ctx, &self.slot, &text);
                    // Exiting by error skips post_stop: let go of the slot here.
                    self.slot.mailbox.detach();
                    *self.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    self.slot.status.set_state(AgentState::Stopped);
                    let reason = if normal { ExitReason::Normal } else { ExitReason::Failed(text) };
                    return Err(Box::new(ActorExit(reason)));
                }
            }
        }
        if drain {
            self.drain(myself).await;
        }
        Ok(())
    }
}
