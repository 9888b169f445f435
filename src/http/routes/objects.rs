//! Object routes: list with live state, add, read, remove, configure.

use std::cmp::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::take_edges;
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{PageQuery, Sort, SortField, api_list, sort_schema, sorted};
use crate::runtime::ObjectStatus;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_objects, add_object))
        .routes(routes!(object_state, remove_object))
        .routes(routes!(configure_object))
}

/// An object with its live state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ObjectView {
    #[serde(flatten)]
    status: ObjectStatus,
    /// The object's domain state (its kind decides the shape).
    data: Value,
}

/// A field the object list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ObjectSort {
    Name,
    Kind,
    Restarts,
}

impl SortField for ObjectSort {
    type Item = ObjectStatus;
    const ALL: &'static [Self] = &[Self::Name, Self::Kind, Self::Restarts];
    fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Kind => "kind",
            Self::Restarts => "restarts",
        }
    }
    fn compare(self, a: &ObjectStatus, b: &ObjectStatus) -> Ordering {
        match self {
            Self::Name => a.name.cmp(&b.name),
            Self::Kind => a.kind.cmp(&b.kind),
            Self::Restarts => a.restarts.cmp(&b.restarts),
        }
    }
}

/// `?kind=&sort=&limit=&offset=` of the object list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ObjectListQuery {
    /// Only objects of this kind (`kv`, `counter`, `queue`, `stdio`, or one
    /// an embedding program registered).
    kind: Option<String>,
    /// `name`, `kind`, `restarts`; `-field` descending.
    #[param(schema_with = sort_schema::<ObjectSort>)]
    sort: Option<Sort<ObjectSort>>,
    /// Items per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Items to skip.
    offset: Option<usize>,
}

api_list!(
    /// A page of objects: `{objects, total, limit, offset, has_more}`.
    ObjectList, objects, ObjectView
);

/// Lists a swarm's objects with lifecycle and live state.
#[utoipa::path(get, path = "/api/swarms/{name}/objects", tag = "objects",
    params(("name" = String, Path), ObjectListQuery),
    responses((status = 200, body = ObjectList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_objects(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ObjectListQuery>,
) -> ApiResult<impl IntoResponse> {
    let swarm = st.hive.swarm(&name).await?;
    let mut all = swarm.status().await?.objects;
    all.retain(|o| q.kind.as_deref().is_none_or(|k| o.kind == k));
    let all = sorted(all, q.sort);
    let page = PageQuery { limit: q.limit, offset: q.offset }.apply(all)?;
    let mut page = page.map(|status| ObjectView { status, data: Value::Null });
    for view in &mut page.items {
        view.data = swarm.object_state(&view.status.name).await.unwrap_or(Value::Null);
    }
    Ok(axum::Json(ObjectList::from(page)))
}

/// What an added or removed object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ObjectOutcome {
    /// Added and started.
    Added,
    /// Stopped and removed.
    Removed,
    /// Its configuration replaced.
    Configured,
}

/// `{status, name, swarm}`: an object added, removed or configured.
#[derive(Debug, Serialize, ToSchema)]
struct ObjectAck {
    /// What happened.
    status: ObjectOutcome,
    /// The object.
    name: String,
    /// The object (Hive's older name of the same).
    object: String,
    /// The swarm.
    swarm: String,
}

/// An object's live state: genswarms' `{object, state}`.
#[derive(Debug, Serialize, ToSchema)]
struct ObjectStateBody {
    /// The object.
    object: String,
    /// Its domain state (its kind decides the shape).
    #[schema(value_type = Object)]
    state: Value,
}

/// Adds an object: an `[[objects]]` entry as JSON plus optional
/// `connections` and `incoming`.
#[utoipa::path(post, path = "/api/swarms/{name}/objects", tag = "objects", params(("name" = String, Path)),
    request_body(content = crate::http::schema::NewObject, description = "an object entry, plus `connections` and `incoming`",
        example = json!({"name": "notes", "kind": "kv"})),
    responses((status = 201, description = "added", body = ObjectAck), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_object(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Response> {
    let mut body = body;
    let (connections, incoming) = take_edges(&mut body)?;
    let spec = crate::config::parse_object_json(&Value::Object(body), &st.hive.validate_options())
        .map_err(crate::HiveError::InvalidConfig)?;
    let object = spec.name.clone();
    st.hive.swarm(&name).await?.add_object(spec, connections, incoming).await?;
    let body = ObjectAck { status: ObjectOutcome::Added, name: object.clone(), object, swarm: name };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// An object's live, read-only state.
#[utoipa::path(get, path = "/api/swarms/{name}/objects/{object}", tag = "objects",
    params(("name" = String, Path), ("object" = String, Path)),
    responses((status = 200, body = ObjectStateBody), (status = 404, body = ErrorBody)))]
async fn object_state(
    State(st): State<AppState>,
    ApiPath((name, object)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = st.hive.swarm(&name).await?.object_state(&object).await?;
    Ok(axum::Json(ObjectStateBody { object, state }))
}

/// Removes an object.
#[utoipa::path(delete, path = "/api/swarms/{name}/objects/{object}", tag = "objects",
    params(("name" = String, Path), ("object" = String, Path)),
    responses((status = 200, body = ObjectAck), (status = 404, body = ErrorBody)))]
async fn remove_object(
    State(st): State<AppState>,
    ApiPath((name, object)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.remove_object(&object).await?;
    Ok(axum::Json(ObjectAck { status: ObjectOutcome::Removed, name: object.clone(), object, swarm: name }))
}

/// A new configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    /// The object's whole configuration, an object (its kind checks it).
    config: serde_json::Map<String, Value>,
}

/// Replaces an object's configuration.
#[utoipa::path(patch, path = "/api/swarms/{name}/objects/{object}/config", tag = "objects",
    params(("name" = String, Path), ("object" = String, Path)), request_body = ConfigBody,
    responses((status = 200, body = ObjectAck), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn configure_object(
    State(st): State<AppState>,
    ApiPath((name, object)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ConfigBody>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.configure_object(&object, Value::Object(b.config)).await?;
    Ok(axum::Json(ObjectAck { status: ObjectOutcome::Configured, name: object.clone(), object, swarm: name }))
}
