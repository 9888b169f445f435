//! Object routes: list with live state, add, read, remove, configure.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::take_edges;
use crate::http::AppState;
use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::page::{Page, PageQuery};
use crate::runtime::ObjectStatus;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_objects, add_object))
        .routes(routes!(object_state, remove_object))
        .routes(routes!(configure_object))
}

/// An object with its live state.
#[derive(Debug, Serialize, ToSchema)]
struct ObjectView {
    #[serde(flatten)]
    status: ObjectStatus,
    /// The object's domain state (its kind decides the shape).
    data: Value,
}

/// Lists a swarm's objects with lifecycle and live state.
#[utoipa::path(get, path = "/api/swarms/{name}/objects", tag = "objects", params(("name" = String, Path), PageQuery),
    responses((status = 200, body = Page<ObjectView>), (status = 404, body = ErrorBody)))]
async fn list_objects(
    State(st): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<impl IntoResponse> {
    let swarm = st.hive.swarm(&name).await?;
    let mut page = q.apply(swarm.status().await?.objects)?.map(|status| ObjectView { status, data: Value::Null });
    for view in &mut page.items {
        view.data = swarm.object_state(&view.status.name).await.unwrap_or(Value::Null);
    }
    Ok(axum::Json(page))
}

/// Adds an object: an `[[objects]]` entry as JSON plus optional
/// `connections` and `incoming`.
#[utoipa::path(post, path = "/api/swarms/{name}/objects", tag = "objects", params(("name" = String, Path)),
    request_body(content = crate::http::schema::NewObject, description = "an object entry, plus `connections` and `incoming`",
        example = json!({"name": "notes", "kind": "kv"})),
    responses((status = 201, description = "added", body = Value), (status = 400, body = ErrorBody),
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
    Ok((StatusCode::CREATED, axum::Json(json!({"status": "added", "swarm": name, "name": object}))).into_response())
}

/// An object's live, read-only state.
#[utoipa::path(get, path = "/api/swarms/{name}/objects/{object}", tag = "objects",
    params(("name" = String, Path), ("object" = String, Path)),
    responses((status = 200, description = "{object, state}", body = Value), (status = 404, body = ErrorBody)))]
async fn object_state(
    State(st): State<AppState>,
    ApiPath((name, object)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let state = st.hive.swarm(&name).await?.object_state(&object).await?;
    Ok(axum::Json(json!({"object": object, "state": state})))
}

/// Removes an object.
#[utoipa::path(delete, path = "/api/swarms/{name}/objects/{object}", tag = "objects",
    params(("name" = String, Path), ("object" = String, Path)),
    responses((status = 200, description = "removed", body = Value), (status = 404, body = ErrorBody)))]
async fn remove_object(
    State(st): State<AppState>,
    ApiPath((name, object)): ApiPath<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.remove_object(&object).await?;
    Ok(axum::Json(json!({"status": "removed", "swarm": name, "name": object})))
}

/// A new configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    /// The object's whole configuration (its kind checks it).
    config: Value,
}

/// Replaces an object's configuration.
#[utoipa::path(patch, path = "/api/swarms/{name}/objects/{object}/config", tag = "objects",
    params(("name" = String, Path), ("object" = String, Path)), request_body = ConfigBody,
    responses((status = 200, description = "configured", body = Value), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn configure_object(
    State(st): State<AppState>,
    ApiPath((name, object)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ConfigBody>,
) -> ApiResult<impl IntoResponse> {
    st.hive.swarm(&name).await?.configure_object(&object, b.config).await?;
    Ok(axum::Json(json!({"status": "configured", "swarm": name, "object": object})))
}
