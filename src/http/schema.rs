//! The schemas of the swarm file as JSON, for the OpenAPI document: a whole
//! file (`config` of `POST /api/swarms` and `/api/config/validate`) and one
//! `[[agents]]` or `[[objects]]` entry (`POST .../agents`, `.../objects`).
//!
//! The swarm file is parsed by `config/` with positions for its errors, not
//! by serde, so these types only describe it; the parser stays the one
//! judge. They say no more than it accepts: every key it knows, each
//! backend's keys only with that backend (a `oneOf`), names with
//! [`crate::config::is_valid_name`]'s pattern, the bounds it checks, and no
//! other key (`additionalProperties: false`, as it refuses unknown keys).
//! `tests/schemathesis/run.sh` holds the parser to them.

#![allow(dead_code)]

use std::collections::BTreeMap;

use utoipa::ToSchema;

/// When a child is restarted.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RestartWord {
    /// Always (the default).
    Permanent,
    /// Only after a crash.
    Transient,
    /// Never.
    Temporary,
}

/// `[supervision]`: the swarm's restart strategy and intensity.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupervisionFile {
    /// `one_for_one` (default), `one_for_all` or `rest_for_one`.
    #[schema(pattern = "^(one_for_one|one_for_all|rest_for_one)$")]
    #[schema(nullable = false)]
    strategy: Option<String>,
    /// Restarts allowed within `max_seconds` (at most 1 000 000).
    #[schema(maximum = 1_000_000)]
    #[schema(nullable = false)]
    max_restarts: Option<u32>,
    /// The window of `max_restarts`, in seconds (1 to 86 400).
    #[schema(minimum = 1, maximum = 86_400)]
    #[schema(nullable = false)]
    max_seconds: Option<u64>,
    /// Pause before a restart, ms (at most 600 000).
    #[schema(maximum = 600_000)]
    #[schema(nullable = false)]
    backoff_ms: Option<u64>,
}

/// `mock = {...}`: what a mock agent does.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MockSettings {
    /// Delay before each reply, ms (at most an hour).
    #[schema(maximum = 3_600_000)]
    #[schema(nullable = false)]
    delay_ms: Option<u64>,
    /// Fail every Nth task (0 = never). Any `u32`: declared `int64` with
    /// that maximum, since `int32` would bound it at 2^31 - 1.
    #[schema(value_type = Option<u64>, maximum = 4_294_967_295_u64)]
    #[schema(nullable = false)]
    fail_every: Option<u32>,
    /// Panic on a task with this text.
    #[schema(nullable = false)]
    panic_on: Option<String>,
    /// Reply text.
    #[schema(nullable = false)]
    reply: Option<String>,
    /// Forward every message to the out-edges.
    #[schema(nullable = false)]
    relay: Option<bool>,
}

/// A skill file's relative path: what the swarm-file validator accepts
/// (`src/config/entry.rs`, `skills`): not empty, relative (no leading `/`
/// or `\`, no drive letter), no `..` part.
#[derive(serde::Serialize, ToSchema)]
#[schema(pattern = r"^(?![/\\])(?![\s\S]:)(?![\s\S]*(?:^|[/\\])\.\.(?:[/\\]|$))[\s\S]+$")]
pub(crate) struct SkillName(String);

/// An agent entry of each backend: the keys every agent has, the backend's
/// own, and (for the REST add) its edges. No flattening: a schema with
/// `additionalProperties: false` must list every key itself.
macro_rules! agent {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty,)* } $($edges:ident)?) => {
        $(#[$doc])*
        #[derive(serde::Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            /// The agent's name, or a scale group's base name.
            #[schema(pattern = "^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
            name: String,
            /// A scale group of this many members (`name_1..name_N`).
            #[schema(maximum = 10_000)]
            #[schema(nullable = false)]
            replicas: Option<u32>,
            #[schema(nullable = false)]
            restart: Option<RestartWord>,
            /// Grace before a kill, ms (at most 600 000).
            #[schema(maximum = 600_000)]
            #[schema(nullable = false)]
            kill_timeout_ms: Option<u64>,
            /// Skill files, relative to the skills directory.
            #[schema(nullable = false)]
            skills: Option<Vec<SkillName>>,
            /// The model it reports.
            #[schema(nullable = false)]
            model: Option<String>,
            $($(#[$fdoc])* $field: $ty,)*
            $(
            /// Endpoints it may send to.
            connections: Option<Vec<String>>,
            /// Endpoints that may send to it.
            $edges: Option<Vec<String>>,
            )?
        }
    };
}

macro_rules! agents {
    ($mock:ident, $zmq:ident, $stdio:ident $(, $edges:ident)?) => {
        agent!(
            /// A mock agent (in-process).
            $mock {
                /// `mock` (the default).
                #[schema(pattern = "^mock$")]
                #[schema(nullable = false)]
                backend: Option<String>,
                #[schema(nullable = false)]
                mock: Option<MockSettings>,
            } $($edges)?
        );
        agent!(
            /// An agent served by ZeroMQ workers of the gateway.
            $zmq {
                #[schema(pattern = "^zmq$")]
                backend: String,
                /// What a worker must offer.
                #[schema(nullable = false)]
                capabilities: Option<Vec<String>>,
            } $($edges)?
        );
        agent!(
            /// An agent run as a child process speaking JSON lines.
            $stdio {
                #[schema(pattern = "^stdio$")]
                backend: String,
                /// The program and its arguments.
                #[schema(min_items = 1)]
                command: Vec<String>,
                /// Its working directory.
                #[schema(nullable = false)]
                cwd: Option<String>,
                /// Its environment, added to the daemon's.
                #[schema(nullable = false)]
                env: Option<BTreeMap<String, String>>,
                /// `local` (default), `ssh` (with `host`), `docker` (with `image`) or `bwrap`.
                #[schema(pattern = "^(local|ssh|docker|bwrap)$")]
                #[schema(nullable = false)]
                launch: Option<String>,
                #[schema(nullable = false)]
                host: Option<String>,
                #[schema(nullable = false)]
                image: Option<String>,
                #[schema(nullable = false)]
                launch_args: Option<Vec<String>>,
            } $($edges)?
        );
    };
}
agents!(MockAgent, ZmqAgent, StdioAgent);
agents!(NewMockAgent, NewZmqAgent, NewStdioAgent, incoming);

/// One `[[agents]]` entry, by backend.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum AgentFile {
    Mock(MockAgent),
    Zmq(ZmqAgent),
    Stdio(StdioAgent),
}

/// `POST /api/swarms/{name}/agents`: an agent entry plus its edges.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum NewAgent {
    Mock(NewMockAgent),
    Zmq(NewZmqAgent),
    Stdio(NewStdioAgent),
}

/// The object kinds the `hive` binary registers.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ObjectKindWord {
    /// A bounded key-value map.
    Kv,
    /// A counter.
    Counter,
    /// A bounded FIFO queue.
    Queue,
}

/// An edge of `PATCH .../topology`: `["from", "to"]` or `{"from", "to"}`.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum EdgeDoc {
    /// `["from", "to"]`.
    Pair(EdgePair),
    /// `{"from", "to"}`.
    Named(NamedEdge),
}

/// `["from", "to"]`: two names.
#[derive(serde::Serialize)]
pub(crate) struct EdgePair;

impl utoipa::PartialSchema for EdgePair {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        let name = ObjectBuilder::new().schema_type(Type::String).pattern(Some(NAME_PATTERN));
        ArrayBuilder::new().items(name).min_items(Some(2)).max_items(Some(2)).into()
    }
}

impl ToSchema for EdgePair {}

/// What [`crate::config::is_valid_name`] accepts.
const NAME_PATTERN: &str = "^[A-Za-z][A-Za-z0-9_-]{0,63}$";

/// `{"from", "to"}`.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamedEdge {
    from: EndpointName,
    to: EndpointName,
}

/// An agent's or object's name.
#[derive(serde::Serialize, ToSchema)]
#[schema(pattern = "^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
pub(crate) struct EndpointName(String);

/// One `[[objects]]` entry.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ObjectFile {
    /// The object's name.
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
    name: String,
    /// One of the built-in kinds (an object whose handler is a program,
    /// `stdio` with `command`, is described in docs/api.md).
    kind: ObjectKindWord,
    /// The kind's settings (e.g. `{max_keys: 1000}` for `kv`).
    #[schema(nullable = false)]
    config: Option<BTreeMap<String, serde_json::Value>>,
    #[schema(nullable = false)]
    restart: Option<RestartWord>,
}

/// The swarm file as a JSON object (the same structure as the TOML).
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwarmFile {
    /// The swarm's name.
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
    name: String,
    #[schema(nullable = false)]
    supervision: Option<SupervisionFile>,
    #[schema(nullable = false)]
    agents: Option<Vec<AgentFile>>,
    #[schema(nullable = false)]
    objects: Option<Vec<ObjectFile>>,
    /// Out-edges: each endpoint and the endpoints it may send to.
    #[schema(nullable = false)]
    topology: Option<BTreeMap<String, Vec<String>>>,
}

/// `POST /api/swarms` and `/api/config/validate`: a swarm config, given in
/// exactly one of three ways.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum SwarmSource {
    /// The swarm file as a JSON object.
    Inline(InlineSource),
    /// The swarm file as text.
    Text(TextSource),
    /// A file in the configured swarm directory.
    File(FileSource),
}

/// `{config}`: the swarm file as a JSON object.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InlineSource {
    config: SwarmFile,
}

/// `{content, format?}`: the swarm file as text.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextSource {
    /// The file's text.
    content: String,
    /// TOML unless told.
    #[schema(nullable = false)]
    format: Option<crate::config::ConfigFormat>,
}

/// `{config_path}`: a file in the swarm directory (TOML, or JSON by its
/// `.json` extension).
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSource {
    /// Relative to the swarm directory; no `..`.
    config_path: String,
}

/// `POST /api/swarms/{name}/objects`: an object entry plus its edges.
#[derive(serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewObject {
    /// The object's name.
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
    name: String,
    /// One of the built-in kinds (an object whose handler is a program,
    /// `stdio` with `command`, is described in docs/api.md).
    kind: ObjectKindWord,
    /// The kind's settings (e.g. `{max_keys: 1000}` for `kv`).
    #[schema(nullable = false)]
    config: Option<BTreeMap<String, serde_json::Value>>,
    #[schema(nullable = false)]
    restart: Option<RestartWord>,
    /// Endpoints it may send to.
    connections: Option<Vec<String>>,
    /// Endpoints that may send to it.
    incoming: Option<Vec<String>>,
}
