//! Topology routes: read the edges, add and remove them all or nothing.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ErrorCode;
use crate::config::Edge;
use crate::http::AppState;
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_topology, patch_topology))
}

/// One sender's targets.
#[derive(Debug, Serialize, ToSchema)]
struct Adjacency {
    from: String,
    targets: Vec<String>,
}

/// A swarm's edges as genswarms' adjacency list (`topology`) and flat (`edges`).
#[derive(Debug, Serialize, ToSchema)]
struct Topology {
    swarm: String,
    /// One entry per sender: `{from, targets}`.
    topology: Vec<Adjacency>,
    /// Every edge: `{from, to}`.
    edges: Vec<Edge>,
}

/// The answer to a topology patch: genswarms' `{status: "ok", added, removed}`.
#[derive(Debug, Serialize, ToSchema)]
struct EdgesPatched {
    /// `ok`.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// Edges added (already present ones are not counted).
    added: usize,
    /// Edges removed.
    removed: usize,
}

/// The swarm's topology.
#[utoipa::path(get, path = "/api/swarms/{name}/topology", tag = "topology", params(("name" = String, Path)),
    responses((status = 200, body = Topology), (status = 404, body = ErrorBody)))]
async fn get_topology(State(st): State<AppState>, ApiPath(name): ApiPath<String>) -> ApiResult<impl IntoResponse> {
    let edges = st.hive.swarm(&name).await?.status().await?.topology;
    let mut adjacency: Vec<Adjacency> = Vec::new();
    for e in &edges {
        match adjacency.iter_mut().find(|a| a.from == e.from) {
            Some(a) => a.targets.push(e.to.clone()),
            None => adjacency.push(Adjacency { from: e.from.clone(), targets: vec![e.to.clone()] }),
        }
    }
    Ok(axum::Json(Topology { swarm: name, topology: adjacency, edges }))
}

/// Edges to add and remove; each is `["from", "to"]` or `{"from", "to"}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EdgePatch {
    #[serde(default)]
    #[schema(value_type = Vec<crate::http::schema::EdgeDoc>)]
    add: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::http::schema::EdgeDoc>)]
    remove: Vec<Value>,
}

/// Reads one edge; `Err` says what is wrong with it.
fn parse_edge(v: &Value) -> Result<Edge, String> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let (from, to) = match v {
        Value::Array(a) if a.len() == 2 => (s(a.first()), s(a.get(1))),
        Value::Object(o) if o.len() == 2 => (s(o.get("from")), s(o.get("to"))),
        _ => (None, None),
    };
    match (from, to) {
        (Some(from), Some(to)) => Ok(Edge { from, to }),
        _ => Err(format!("edge {v} must be [\"from\", \"to\"] or {{\"from\": ..., \"to\": ...}} with two names")),
    }
}

/// Adds and removes edges, all or nothing: any bad edge → 400 listing each
/// one, and nothing is applied.
#[utoipa::path(patch, path = "/api/swarms/{name}/topology", tag = "topology", params(("name" = String, Path)),
    request_body = EdgePatch,
    responses((status = 200, body = EdgesPatched), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn patch_topology(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(p): ApiJson<EdgePatch>,
) -> ApiResult<impl IntoResponse> {
    let mut bad = Vec::new();
    let mut parse = |list: &[Value], field: &str| -> Vec<Edge> {
        let mut out = Vec::new();
        for (i, v) in list.iter().enumerate() {
            match parse_edge(v) {
                Ok(e) => out.push(e),
                Err(reason) => bad.push(json!({"field": field, "index": i, "edge": v, "reason": reason})),
            }
        }
        out
    };
    let (add, remove) = (parse(&p.add, "add"), parse(&p.remove, "remove"));
    if !bad.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidEdges,
            format!("{} edge(s) could not be read; nothing was applied", bad.len()),
        )
        .with_details(json!({ "errors": bad })));
    }
    let change = st.hive.swarm(&name).await?.update_edges(add, remove).await?;
    Ok(axum::Json(EdgesPatched { status: "ok", added: change.added, removed: change.removed }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_read_from_pairs_and_objects_only() {
        assert_eq!(parse_edge(&json!(["a", "b"])).unwrap(), Edge::new("a", "b"));
        assert_eq!(parse_edge(&json!({"from": "a", "to": "b"})).unwrap(), Edge::new("a", "b"));
        for bad in [json!(["a"]), json!(["a", 1]), json!({"from": "a"}), json!("a:b"), json!(["", "b"])] {
            assert!(parse_edge(&bad).is_err(), "{bad}");
        }
    }
}
