//! The one error type of the HTTP adapter. It owns the mapping from runtime
//! errors to status codes and renders every failure, including malformed
//! input caught by extractors, in one shape:
//! `{"error": "<message>", "error_code": "HIVE_<KIND>", "details": {...}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::HiveError;

/// The error shape, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence for humans.
    pub error: String,
    /// Stable code: `HIVE_BAD_REQUEST`, `HIVE_INVALID_CONFIG`, `HIVE_SWARM_NOT_FOUND`, ...
    pub error_code: String,
    /// Structured details (e.g. every config error with its line).
    pub details: serde_json::Value,
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`HIVE_...`).
    pub code: &'static str,
    /// A sentence for humans.
    pub message: String,
    /// Structured details (`{}` when none).
    pub details: Value,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: json!({}), retry_after: None }
    }

    /// 400 `HIVE_BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "HIVE_BAD_REQUEST", message)
    }

    /// 404 `HIVE_NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "HIVE_NOT_FOUND", message)
    }

    /// 403 `HIVE_FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "HIVE_FORBIDDEN", message)
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The same error, telling the client when to retry (`Retry-After`, seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.message, "error_code": self.code, "details": self.details})
    }
}

impl From<HiveError> for ApiError {
    fn from(e: HiveError) -> Self {
        let message = e.to_string();
        match e {
            HiveError::InvalidConfig(errors) => {
                let first = errors.0.first().map(|e| e.to_string()).unwrap_or_default();
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "HIVE_INVALID_CONFIG", format!("invalid config: {first}"))
                    .with_details(json!({ "errors": errors }))
            }
            HiveError::BadRequest(_) => Self::bad_request(message),
            HiveError::SwarmNotFound(name) => Self::new(StatusCode::NOT_FOUND, "HIVE_SWARM_NOT_FOUND", message)
                .with_details(json!({"kind": "swarm", "name": name})),
            HiveError::NotFound { kind, name } => {
                let code = match kind {
                    "agent" => "HIVE_AGENT_NOT_FOUND",
                    "object" => "HIVE_OBJECT_NOT_FOUND",
                    "task" => "HIVE_TASK_NOT_FOUND",
                    "worker" => "HIVE_WORKER_NOT_FOUND",
                    "group" => "HIVE_GROUP_NOT_FOUND",
                    _ => "HIVE_NOT_FOUND",
                };
                Self::new(StatusCode::NOT_FOUND, code, message).with_details(json!({"kind": kind, "name": name}))
            }
            HiveError::Conflict(_) => Self::new(StatusCode::CONFLICT, "HIVE_CONFLICT", message),
            HiveError::InvalidEdges(errors) => Self::new(StatusCode::BAD_REQUEST, "HIVE_INVALID_EDGES", message)
                .with_details(json!({ "errors": errors })),
            HiveError::Forbidden(_) => Self::forbidden(message),
            HiveError::RouteDenied(_) => Self::new(StatusCode::FORBIDDEN, "HIVE_ROUTE_DENIED", message),
            HiveError::Full(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "HIVE_BUSY", message).with_retry_after(1),
            HiveError::Unavailable(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "HIVE_UNAVAILABLE", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code, error = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, code = self.code, error = %self.message, "request refused");
        }
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// What handlers return.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
