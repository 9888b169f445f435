//! The body of a task for the dispatcher, as `hive tasks submit` and `hive
//! dispatch` send it: one set of options, one request type.

use clap::Args;

/// How `POST /api/v1/zmq/dispatch` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DispatchMode {
    /// Once the task ends.
    Sync,
    /// At once, with the task id.
    Async,
    /// As server-sent events, token by token.
    Stream,
}

/// What a task for the dispatcher says besides its prompt (`hive tasks
/// submit`, `hive dispatch`).
#[derive(Args, Debug)]
pub(crate) struct TaskFields {
    /// 1 (highest) to 255 [default: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    priority: Option<u8>,
    /// A capability the worker must have (repeatable).
    #[arg(long = "capability", value_name = "C")]
    capabilities: Vec<String>,
    /// The model to ask for.
    #[arg(long, value_name = "M")]
    model: Option<String>,
    /// Context for the prompt.
    #[arg(long, value_name = "TEXT")]
    context: Option<String>,
    /// The task's timeout (a sync dispatch waits as long) [default: the gateway's].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) timeout: Option<std::time::Duration>,
}

impl TaskFields {
    /// The request body of `prompt` with these fields (and a dispatch `mode`).
    pub(crate) fn body<'a>(&'a self, prompt: &'a str, mode: Option<DispatchMode>) -> TaskBody<'a> {
        TaskBody {
            prompt,
            mode,
            priority: self.priority,
            capabilities: &self.capabilities,
            model: self.model.as_deref(),
            context: self.context.as_deref(),
            timeout_ms: self.timeout.map(|t| t.as_millis() as u64),
        }
    }
}

/// The body of `POST /api/v1/tasks` and `POST /api/v1/zmq/dispatch`.
#[derive(serde::Serialize)]
pub(crate) struct TaskBody<'a> {
    prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<DispatchMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u8>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    capabilities: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
}
