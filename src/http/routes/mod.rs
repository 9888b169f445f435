//! The REST routes, one file per resource. Handlers stay thin: parse (the
//! extractors), apply (one call to the runtime API), encode (JSON).

pub(crate) mod agents;
pub(crate) mod events;
pub(crate) mod meta;
pub(crate) mod objects;
pub(crate) mod ops;
pub(crate) mod schedules;
pub(crate) mod swarms;
pub(crate) mod topology;
pub(crate) mod v1;
pub(crate) mod v1_list;
pub(crate) mod v1_tasks;
pub(crate) mod workers;
pub(crate) mod zmq;
