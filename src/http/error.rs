//! The one error type of the HTTP adapter. It renders every failure,
//! including malformed input caught by extractors, in one shape:
//! `{"error": "<message>", "error_code": "HIVE_<KIND>", "details": {...}}`,
//! plus `retry_after` (seconds, as the `Retry-After` header) when the client
//! is told to wait.
//! The code and its status come from [`ErrorCode`] (and, for runtime errors,
//! from [`HiveError::code`]), the one mapping that the Phoenix channel uses
//! too. Requests are logged by the router's trace layer (`http::app`), not
//! here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{ErrorCode, HiveError};

/// Seconds a client refused while the store's disk fails is told to wait
/// (the store retries reopening its file more often than that).
pub(crate) const STORAGE_RETRY_AFTER_S: u64 = 5;

/// The error shape, for the OpenAPI document.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence for humans.
    pub error: String,
    /// Stable code: `HIVE_BAD_REQUEST`, `HIVE_INVALID_CONFIG`, `HIVE_SWARM_NOT_FOUND`, ...
    pub error_code: ErrorCode,
    /// Structured details (e.g. every config error with its line).
    pub details: serde_json::Value,
    /// Seconds to wait before retrying, as in `Retry-After` (429, and 503
    /// `HIVE_BUSY` / `HIVE_MAINTENANCE` / `HIVE_STORAGE_UNAVAILABLE`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`HIVE_...`).
    pub code: ErrorCode,
    /// A sentence for humans.
    pub message: String,
    /// Structured details (`{}` when none).
    pub details: Value,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the code's status and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self { status, code, message: message.into(), details: json!({}), retry_after: None }
    }

    /// 400 `HIVE_BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 404 `HIVE_NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 403 `HIVE_FORBIDDEN`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The same error with a more precise status than its code's (a
    /// framework rejection's own status, e.g. 426 Upgrade Required).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
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

    /// The JSON body (`retry_after` beside the error when the client is told to wait).
    pub fn body(&self) -> Value {
        let mut body = json!({"error": self.message, "error_code": self.code, "details": self.details});
        if let Some(s) = self.retry_after {
            body["retry_after"] = json!(s);
        }
        body
    }
}

impl From<HiveError> for ApiError {
    fn from(e: HiveError) -> Self {
        let base = Self::new(e.code(), e.to_string());
        match e {
            HiveError::InvalidConfig(errors) => {
                let first = errors.0.first().map(|e| e.to_string()).unwrap_or_default();
                Self { message: format!("invalid config: {first}"), ..base }.with_details(json!({ "errors": errors }))
            }
            HiveError::NotFound { resource, name } => base.with_details(json!({"kind": resource, "name": name})),
            HiveError::InvalidEdges(errors) => base.with_details(json!({ "errors": errors })),
            HiveError::PathForbidden { path, allowed_dir } => {
                base.with_details(json!({"path": path, "allowed_dir": allowed_dir}))
            }
            HiveError::Full(_) => base.with_retry_after(1),
            HiveError::Maintenance(_) => base.with_retry_after(crate::runtime::MAINTENANCE_RETRY_AFTER_S),
            HiveError::StorageUnavailable(_) => base.with_retry_after(STORAGE_RETRY_AFTER_S),
            HiveError::BadRequest(_)
            | HiveError::Conflict(_)
            | HiveError::Forbidden(_)
            | HiveError::RouteDenied(_)
            | HiveError::Unavailable(_) => base,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
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
