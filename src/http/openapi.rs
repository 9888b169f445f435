//! The OpenAPI document as a contract. utoipa generates the paths and
//! schemas from the handlers (`routes/`); this file finishes the document in
//! one place, so that what it promises is what the request pipeline does
//! whatever each handler's annotation lists:
//!
//! - the errors every route can answer, by what the pipeline and the route
//!   have (rate limit 429 and runtime 503 everywhere, both with
//!   `Retry-After`; 400 where there is a parameter or a body, 413 where there
//!   is a body, 404 and 409 where a path names a thing, 401 or 403 from the
//!   auth layer), each a shared response in `components/responses` with the
//!   [`super::ErrorBody`] schema;
//! - who may call it, served per configuration: with tokens, bearer auth
//!   on every route but the public ones (`security: []`), 401 and 403 (a
//!   role short of the route's); without any, no auth scheme at all (a
//!   non-loopback client gets 403); and on every protected operation the
//!   role it needs, `x-hive-role`, from the table the middleware enforces
//!   (`access.rs`);
//! - the bounds of `limit`, `per_page` and `page` and the words of the
//!   event filters, as the handlers check them;
//! - the `pattern` of every path parameter that names a swarm, agent,
//!   group or object (what [`crate::config::is_valid_name`] accepts);
//! - unique operation ids, and `links` from the operations that create a
//!   thing to those that read it, so a stateful client can follow ids.
//!
//! [`check_links`] proves every link names an operation and a field of its
//! response schema; the unit tests run it on both forms of the document.

use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Content, HeaderBuilder, OpenApi, Ref, RefOr, Schema};

use super::auth::is_public;
use super::page::{MAX_COUNTER, MAX_LIMIT, MAX_OFFSET};
use crate::config::MAX_NAME_LEN;
use crate::events::{Category, EventKind, Level};
use crate::logs::LogLevel;

/// How the daemon serving the document is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// A bearer token is required (`[server] token`, `[[server.tokens]]`).
    Token,
    /// No token: only loopback clients are served.
    LoopbackOnly,
}

/// A refusal every route may share, by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    TooLarge,
    Invalid,
    RateLimited,
    Unavailable,
    NotUpgraded,
}

impl Refusal {
    const ALL: [Refusal; 10] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::Conflict,
        Self::TooLarge,
        Self::Invalid,
        Self::RateLimited,
        Self::Unavailable,
        Self::NotUpgraded,
    ];

    fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::Invalid => 422,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
            Self::NotUpgraded => 426,
        }
    }

    /// The name of its shared response in `components/responses`.
    fn component(self) -> &'static str {
        match self {
            Self::BadRequest => "BadRequest",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::NotFound => "NotFound",
            Self::Conflict => "Conflict",
            Self::TooLarge => "TooLarge",
            Self::Invalid => "InvalidConfig",
            Self::RateLimited => "RateLimited",
            Self::Unavailable => "Unavailable",
            Self::NotUpgraded => "UpgradeRequired",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::BadRequest => "the request is malformed: a parameter, the query or the body (`details` says where)",
            Self::Unauthorized => "no token, or a wrong one (`Authorization: Bearer <token>`)",
            Self::Forbidden => {
                "not allowed: a token whose role does not include the route's (`x-hive-role`), \
                                a non-loopback client of a daemon without tokens, a path outside its directory, \
                                or a route the topology denies"
            }
            Self::NotFound => "no such swarm, agent, object, task, worker or file",
            Self::Conflict => "the name is taken, or the thing is in the wrong state (e.g. the swarm is not running)",
            Self::TooLarge => "the body is larger than the daemon's `body_limit`",
            Self::Invalid => "the swarm file or entry is invalid (`details.errors` lists every error)",
            Self::RateLimited => "over the per-client rate limit; retry after `Retry-After` seconds",
            Self::Unavailable => {
                "the runtime, a component or a bounded queue cannot take it now; \
                                  retry after `Retry-After` seconds when it is given"
            }
            Self::NotUpgraded => "a WebSocket route called without a WebSocket upgrade",
        }
    }

    fn retries(self) -> bool {
        matches!(self, Self::RateLimited | Self::Unavailable)
    }

    fn response(self) -> Response {
        let mut r = ResponseBuilder::new()
            .description(self.description())
            .content("application/json", Content::new(Some(Ref::from_schema_name("ErrorBody"))));
        if self.retries() {
            let secs = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)).build();
            r = r.header(
                "Retry-After",
                HeaderBuilder::new().schema(Some(secs)).description(Some("seconds to wait before retrying")).build(),
            );
        }
        if self == Self::Unauthorized {
            let s = ObjectBuilder::new().schema_type(Type::String).build();
            r = r.header("WWW-Authenticate", HeaderBuilder::new().schema(Some(s)).build());
        }
        r.build()
    }
}

/// Path parameters that name a swarm, agent, group or object.
const NAME_PARAMS: [&str; 4] = ["name", "agent", "base", "object"];

/// The regular expression of [`crate::config::is_valid_name`].
pub(crate) fn name_pattern() -> String {
    format!("^[A-Za-z][A-Za-z0-9_-]{{0,{}}}$", MAX_NAME_LEN - 1)
}

/// A link from one operation's answer to another operation.
struct LinkSpec {
    /// The answering operation: method and path.
    from: (&'static str, &'static str),
    /// Its status that carries the id.
    status: &'static str,
    /// The link's name.
    name: &'static str,
    /// The operation followed.
    to: (&'static str, &'static str),
    /// Each of its parameters and the runtime expression that fills it.
    params: &'static [(&'static str, &'static str)],
}

const SWARM: &[(&str, &str)] = &[("name", "$response.body#/swarm")];

/// The links a stateful client follows.
const LINKS: &[LinkSpec] = &[
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "status",
        to: ("get", "/api/swarms/{name}"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "agents",
        to: ("get", "/api/swarms/{name}/agents"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "objects",
        to: ("get", "/api/swarms/{name}/objects"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "topology",
        to: ("get", "/api/swarms/{name}/topology"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "events",
        to: ("get", "/api/swarms/{name}/events"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "messages",
        to: ("get", "/api/swarms/{name}/messages"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "pause",
        to: ("post", "/api/swarms/{name}/pause"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms"),
        status: "201",
        name: "stop",
        to: ("delete", "/api/swarms/{name}"),
        params: SWARM,
    },
    LinkSpec {
        from: ("post", "/api/swarms/{name}/agents/{agent}/task"),
        status: "202",
        name: "task",
        to: ("get", "/api/v1/tasks/{id}"),
        params: &[("id", "$response.body#/task_id")],
    },
];

/// Every operation of a path item, with its method.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
        ("trace", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|o| (m, o)))
}

/// The method of an [`operations`] name.
fn method_of(name: &str) -> axum::http::Method {
    axum::http::Method::from_bytes(name.to_ascii_uppercase().as_bytes()).unwrap_or(axum::http::Method::GET)
}

fn operation<'a>(api: &'a mut OpenApi, method: &str, path: &str) -> Option<&'a mut Operation> {
    let item = api.paths.paths.get_mut(path)?;
    operations(item).find(|(m, _)| *m == method).map(|(_, o)| o)
}

fn is_websocket_route(path: &str) -> bool {
    path == "/ws/events" || path == "/ws/tasks" || path == "/swarm/websocket"
}

/// The refusals an operation can answer, besides those its handler lists.
fn refusals(auth: Auth, path: &str, op: &Operation) -> Vec<Refusal> {
    let public = is_public(path);
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    let names_a_thing = path.contains('{');
    let mut out = vec![Refusal::RateLimited];
    if path != "/" {
        out.push(Refusal::Unavailable);
    }
    if has_params || has_body {
        out.push(Refusal::BadRequest);
    }
    if has_body {
        out.push(Refusal::TooLarge);
    }
    if names_a_thing {
        out.push(Refusal::NotFound);
    }
    if path.starts_with("/api/swarms/{name}") {
        out.push(Refusal::Conflict);
    }
    if is_websocket_route(path) {
        out.push(Refusal::NotUpgraded);
    }
    if !public {
        if auth == Auth::Token {
            out.push(Refusal::Unauthorized);
        }
        // A role short of the route's, or (without tokens) a client that
        // is not on this machine.
        out.push(Refusal::Forbidden);
    }
    out
}

/// The schema a query parameter's checks impose (`page.rs`, the event
/// filters), where its Rust type alone says less.
fn query_schema(path: &str, name: &str) -> Option<Schema> {
    let int = |min: u64, max: Option<u64>| {
        let max = max.map(|m| m as f64);
        ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min as f64)).maximum(max).build()
    };
    let words = |w: Vec<&'static str>| ObjectBuilder::new().schema_type(Type::String).enum_values(Some(w)).build();
    let o = match name {
        "limit" | "per_page" => int(1, Some(MAX_LIMIT as u64)),
        "page" => int(1, Some(MAX_OFFSET)),
        "offset" => int(0, Some(MAX_OFFSET)),
        "since" | "minutes" => int(0, Some(MAX_COUNTER)),
        // The daemon's log lines have tracing's levels; events have their own.
        "level" if path == "/api/v1/logs" => words(LogLevel::ALL.iter().map(|l| l.as_str()).collect()),
        "level" => words(Level::ALL.iter().map(|l| l.as_str()).collect()),
        "category" => words(Category::ALL.iter().map(|c| c.as_str()).collect()),
        "event_type" => words(EventKind::TYPES.to_vec()),
        "vsn" => words(vec!["2.0.0"]),
        _ => return None,
    };
    Some(Schema::Object(o))
}

fn with_pattern(path: &str, p: &mut Parameter) {
    if p.parameter_in == ParameterIn::Query
        && let Some(s) = query_schema(path, &p.name)
    {
        p.schema = Some(RefOr::T(s));
    }
    if p.parameter_in == ParameterIn::Path && NAME_PARAMS.contains(&p.name.as_str()) {
        let s = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(name_pattern()))
            .min_length(Some(1))
            .max_length(Some(MAX_NAME_LEN))
            .build();
        p.schema = Some(RefOr::T(Schema::Object(s)));
    }
}

/// The finished document for a daemon configured with `auth`.
pub(crate) fn finish(mut api: OpenApi, auth: Auth) -> OpenApi {
    let components = api.components.get_or_insert_with(Default::default);
    for r in Refusal::ALL {
        components.responses.insert(r.component().to_string(), RefOr::T(r.response()));
    }
    if auth == Auth::LoopbackOnly {
        api.security = None;
        components.security_schemes.clear();
    }
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for (path, item) in api.paths.paths.iter_mut() {
        // `/api/skills/{name}` names a file, not a swarm: no name pattern.
        let names_files = path.starts_with("/api/skills/");
        for (method, op) in operations(item) {
            if !names_files {
                op.parameters.iter_mut().flatten().for_each(|p| {
                    if let RefOr::T(p) = p {
                        with_pattern(path, p);
                    }
                });
            }
            if is_public(path) {
                op.security = Some(Vec::new());
            } else {
                let role = super::access::needed(&method_of(method), path);
                let mut ext = utoipa::openapi::extensions::ExtensionsBuilder::new().add("x-hive-role", role.as_str());
                let mut note = format!("Needs the `{role}` role.");
                if let Some(flag) = super::access::admin_flag(&method_of(method), path) {
                    // `{"delete": "admin"}`: the role with that flag set.
                    ext = ext.add("x-hive-admin-if", serde_json::json!({ flag: crate::access::Role::Admin.as_str() }));
                    note = format!("{note} With `?{flag}=true` (it deletes data) it needs `admin`.");
                }
                op.extensions.get_or_insert_with(Default::default).merge(ext.build());
                op.description = Some(match op.description.take() {
                    Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                    _ => note,
                });
            }
            // A response object must have a description (OpenAPI 3.1 §4.8.17).
            for (status, r) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = r
                    && r.description.is_empty()
                {
                    r.description = reason(status).to_string();
                }
            }
            for r in refusals(auth, path, op) {
                op.responses.responses.insert(
                    r.status().to_string(),
                    RefOr::Ref(Ref::new(format!("#/components/responses/{}", r.component()))),
                );
            }
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    unique_operation_ids(&mut api, &seen);
    for l in LINKS {
        add_link(&mut api, l);
    }
    api
}

fn reason(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
        .and_then(|s| s.canonical_reason())
        .unwrap_or("the answer")
}

/// Appends the tag to an operation id that more than one operation has.
fn unique_operation_ids(api: &mut OpenApi, seen: &std::collections::BTreeMap<String, usize>) {
    for item in api.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            let Some(id) = op.operation_id.clone() else { continue };
            if seen.get(&id).copied().unwrap_or(0) > 1 {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned().unwrap_or_default();
                op.operation_id = Some(format!("{tag}_{id}"));
            }
        }
    }
}

fn add_link(api: &mut OpenApi, l: &LinkSpec) {
    let Some(target) = operation(api, l.to.0, l.to.1).and_then(|o| o.operation_id.clone()) else { return };
    let Some(op) = operation(api, l.from.0, l.from.1) else { return };
    let Some(RefOr::T(resp)) = op.responses.responses.get_mut(l.status) else { return };
    let mut link = LinkBuilder::new().operation_id(target);
    for (param, expr) in l.params {
        link = link.parameter(*param, *expr);
    }
    resp.links.insert(l.name.to_string(), RefOr::T(link.build()));
}

/// Every link of `api` that does not resolve: an operation id no operation
/// has, or a `$response.body#/field` the response schema does not name.
#[cfg(test)]
pub(crate) fn check_links(api: &OpenApi) -> Vec<String> {
    let ids: Vec<String> = api
        .paths
        .paths
        .values()
        .flat_map(|i| [&i.get, &i.put, &i.post, &i.delete, &i.patch].into_iter().flatten())
        .filter_map(|o| o.operation_id.clone())
        .collect();
    let schemas = api.components.as_ref().map(|c| &c.schemas);
    let mut bad = Vec::new();
    for l in LINKS {
        let from = api.paths.paths.get(l.from.1);
        let op = from.and_then(|i| match l.from.0 {
            "get" => i.get.as_ref(),
            "post" => i.post.as_ref(),
            "put" => i.put.as_ref(),
            "patch" => i.patch.as_ref(),
            "delete" => i.delete.as_ref(),
            _ => None,
        });
        let Some(op) = op else {
            bad.push(format!("{} {}: no such operation", l.from.0, l.from.1));
            continue;
        };
        let Some(RefOr::T(resp)) = op.responses.responses.get(l.status) else {
            bad.push(format!("{} {}: no {} response", l.from.0, l.from.1, l.status));
            continue;
        };
        let Some(RefOr::T(link)) = resp.links.get(l.name) else {
            bad.push(format!("{} {}: link {} is missing", l.from.0, l.from.1, l.name));
            continue;
        };
        if !ids.contains(&link.operation_id) {
            bad.push(format!("link {}: no operation {}", l.name, link.operation_id));
        }
        let schema_name = resp.content.get("application/json").and_then(|c| match c {
            RefOr::T(c) => match &c.schema {
                Some(RefOr::Ref(r)) => r.ref_location.rsplit('/').next().map(str::to_string),
                _ => None,
            },
            RefOr::Ref(_) => None,
        });
        let props = schema_name.and_then(|n| schemas.and_then(|s| s.get(&n))).and_then(|s| match s {
            RefOr::T(Schema::Object(o)) => Some(o.properties.keys().cloned().collect::<Vec<_>>()),
            _ => None,
        });
        for (_, expr) in l.params {
            let Some(field) = expr.strip_prefix("$response.body#/") else { continue };
            let top = field.split('/').next().unwrap_or_default();
            if !props.as_ref().is_some_and(|p| p.iter().any(|k| k == top)) {
                bad.push(format!("link {} of {} {}: the response has no field '{top}'", l.name, l.from.0, l.from.1));
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(auth: Auth) -> serde_json::Value {
        serde_json::to_value(finish(super::super::openapi_raw(), auth)).unwrap()
    }

    #[test]
    fn every_route_the_role_table_names_exists_and_every_protected_one_has_its_role() {
        let d = doc(Auth::Token);
        for (method, path) in super::super::access::listed() {
            let m = method.as_str().to_ascii_lowercase();
            assert!(d["paths"][path][&m].is_object(), "the role table names {method} {path}, which is no route");
        }
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let role = &op["x-hive-role"];
                assert_eq!(role.is_string(), !is_public(path), "{method} {path}: {role}");
            }
        }
    }

    #[test]
    fn every_link_resolves_in_both_forms() {
        for auth in [Auth::Token, Auth::LoopbackOnly] {
            let bad = check_links(&finish(super::super::openapi_raw(), auth));
            assert!(bad.is_empty(), "{auth:?}: {bad:?}");
        }
    }

    #[test]
    fn public_routes_need_no_auth_and_without_a_token_none_does() {
        let d = doc(Auth::Token);
        assert_eq!(d["paths"]["/health"]["get"]["security"], serde_json::json!([]));
        assert_eq!(d["paths"]["/"]["get"]["security"], serde_json::json!([]));
        assert!(d["security"].is_array());
        assert!(d["paths"]["/api/swarms"]["get"]["responses"]["401"].is_object());
        let d = doc(Auth::LoopbackOnly);
        assert!(d["security"].is_null(), "{}", d["security"]);
        assert!(d["components"]["securitySchemes"].as_object().is_none_or(|s| s.is_empty()));
        assert!(d["paths"]["/api/swarms"]["get"]["responses"]["401"].is_null());
        assert!(d["paths"]["/api/swarms"]["get"]["responses"]["403"].is_object());
    }

    #[test]
    fn operation_ids_are_unique_and_names_have_the_validators_pattern() {
        let d = doc(Auth::Token);
        let mut ids = Vec::new();
        for item in d["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.push(op["operationId"].as_str().unwrap().to_string());
            }
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate operation ids");
        let p = &d["paths"]["/api/swarms/{name}"]["get"]["parameters"][0]["schema"]["pattern"];
        let re = p.as_str().unwrap();
        assert_eq!(re, name_pattern());
        for (name, valid) in [("demo", true), ("a-b_1", true), ("1x", false), ("", false), ("a.b", false)] {
            assert_eq!(crate::config::is_valid_name(name), valid, "{name}");
        }
    }

    /// Every integer a client may send (a parameter or a request body, with
    /// `$ref`s followed) that is declared `int32` states a maximum inside
    /// `int32`: a generator reads `int32` as the bound, so an unbounded `u32`
    /// would be a document that rejects what the server accepts.
    #[test]
    fn request_integers_stay_inside_their_format() {
        fn walk(d: &serde_json::Value, v: &serde_json::Value, at: &str, seen: &mut Vec<String>, bad: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                        if seen.iter().any(|s| s == r) {
                            return;
                        }
                        seen.push(r.to_string());
                        let target = d.pointer(r.trim_start_matches('#')).unwrap_or(&serde_json::Value::Null);
                        walk(d, target, r, seen, bad);
                    }
                    if m.get("format").and_then(|f| f.as_str()) == Some("int32") {
                        let max = m.get("maximum").and_then(|x| x.as_i64());
                        if max.is_none_or(|x| x > i64::from(i32::MAX)) {
                            bad.push(at.to_string());
                        }
                    }
                    for (k, x) in m {
                        walk(d, x, &format!("{at}/{k}"), seen, bad);
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(d, x, at, seen, bad)),
                _ => {}
            }
        }
        let d = doc(Auth::Token);
        let mut bad = Vec::new();
        for (path, item) in d["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let at = format!("{method} {path}");
                let mut seen = Vec::new();
                walk(&d, &op["parameters"], &at, &mut seen, &mut bad);
                walk(&d, &op["requestBody"], &at, &mut seen, &mut bad);
            }
        }
        bad.sort();
        bad.dedup();
        assert!(bad.is_empty(), "int32 without a maximum inside int32: {bad:#?}");
    }

    #[test]
    fn limited_routes_document_retry_after() {
        let d = doc(Auth::Token);
        let r = &d["components"]["responses"]["RateLimited"];
        assert!(r["headers"]["Retry-After"].is_object(), "{r}");
        assert_eq!(d["paths"]["/api/swarms"]["post"]["responses"]["413"]["$ref"], "#/components/responses/TooLarge");
    }
}
