//! The object actor: one incarnation of an object. It drains the object's
//! mailbox, hands each request to the handler, and answers the sender through
//! the router. State and configuration calls go straight to the actor.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde_json::{Value, json};

use crate::events::EventKind;
use crate::objects::{ObjectError, ObjectHandler};
use crate::runtime::swarm::ctx::SwarmCtx;
use crate::runtime::swarm::mailbox::{Envelope, Waker};
use crate::runtime::swarm::slot::{AgentState, ObjectSlot};

const BATCH: usize = 64;

/// Messages an object handles.
pub(crate) enum ObjectMsg {
    /// Items wait in the mailbox.
    Wake,
    /// The object's state.
    State(RpcReplyPort<Value>),
    /// Apply a new configuration.
    Configure(Value, RpcReplyPort<Result<(), ObjectError>>),
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

/// An object incarnation's state.
pub(crate) struct ObjectRun {
    slot: Arc<ObjectSlot>,
    ctx: SwarmCtx,
    handler: Box<dyn ObjectHandler>,
}

impl Actor for Object {
    type Msg = ObjectMsg;
    type State = ObjectRun;
    type Arguments = ObjectArgs;

    async fn pre_start(&self, myself: ActorRef<ObjectMsg>, a: ObjectArgs) -> Result<ObjectRun, ActorProcessingErr> {
        let handler = a.slot.kind.create(&a.slot.config()).map_err(|e| format!("object '{}': {e}", a.slot.name))?;
        let incarnation = a.slot.status.new_incarnation();
        if incarnation > 0 {
            a.ctx.emit(&a.slot.name, EventKind::ObjectRestarted { restarts: incarnation });
        }
        a.slot.status.set_state(AgentState::Idle);
        *a.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = Some(myself.get_cell());
        a.slot.mailbox.attach(Arc::new(ActorWaker(myself)));
        Ok(ObjectRun { slot: a.slot, ctx: a.ctx, handler })
    }

    async fn post_stop(&self, _: ActorRef<ObjectMsg>, run: &mut ObjectRun) -> Result<(), ActorProcessingErr> {
        run.slot.mailbox.detach();
        *run.slot.actor.lock().unwrap_or_else(|p| p.into_inner()) = None;
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
            ObjectMsg::Wake => {
                run.ctx.bus.ready().await; // each item emits an event: wait while the disk is behind
                for _ in 0..BATCH {
                    let Some(item) = run.slot.mailbox.pop() else {
                        return Ok(());
                    };
                    run.handle_item(item);
                }
                // A full batch may have emptied the queue without seeing `None`;
                // wake again so the mailbox re-arms its wake-up.
                let _ = myself.cast(ObjectMsg::Wake);
            }
            ObjectMsg::State(reply) => {
                let _ = reply.send(run.handler.state());
            }
            ObjectMsg::Configure(config, reply) => {
                let r = run.handler.configure(&config);
                if r.is_ok() {
                    run.slot.spec.lock().unwrap_or_else(|p| p.into_inner()).config = config;
                    run.ctx.emit(&run.slot.name, EventKind::ObjectConfigured);
                }
                let _ = reply.send(r);
            }
        }
        Ok(())
    }
}

impl ObjectRun {
    fn handle_item(&mut self, item: Envelope) {
        let Envelope::Message(m) = item else { return };
        self.slot.status.touch();
        self.slot.status.message_received();
        if m.reply {
            return; // objects do not answer answers
        }
        let request = serde_json::from_str(&m.content).unwrap_or_else(|_| Value::String(m.content.to_string()));
        let (ok, answer) = match self.handler.handle(&m.from, request) {
            Ok(v) => (true, v),
            Err(e) => (false, json!({"error": e.to_string()})),
        };
        self.slot.status.task_done(ok);
        self.ctx.emit(&self.slot.name, EventKind::ObjectReplied { to: m.from.clone(), ok });
        self.ctx.router.reply(self.slot.name.clone(), m.from, answer.to_string().into());
    }
}
