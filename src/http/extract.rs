//! Extractors that turn every malformed request into an [`ApiError`] in the
//! common shape: bodies (syntax, types, missing fields, size), query strings
//! and path segments. Bodies are read as JSON whatever their content type,
//! so `curl -d '{...}'` works without a header. A number written with a
//! zero fraction (`5.0`) is an integer, as JSON Schema has it: a body is
//! read into a [`serde_json::Value`] first, where such numbers become
//! integers, then into its type. Every body the API takes is a JSON object:
//! any other top level (an array, which serde would read into a struct of
//! defaults, a string, a number) is refused before its type is read.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::ErrorCode;

/// A JSON body.
pub(crate) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.is_empty() {
            return Err(ApiError::new(ErrorCode::InvalidBody, "the request body is empty"));
        }
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            let code = if e.is_syntax() || e.is_eof() { ErrorCode::MalformedJson } else { ErrorCode::InvalidBody };
            ApiError::new(code, format!("invalid JSON body: {e}")).with_details(serde_json::json!({"path": ""}))
        })?;
        if !value.is_object() {
            return Err(ApiError::new(ErrorCode::InvalidBody, "invalid JSON body: it must be a JSON object")
                .with_details(serde_json::json!({"path": ""})));
        }
        integral_numbers(&mut value);
        serde_path_to_error::deserialize(value).map(ApiJson).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let code =
                if inner.is_syntax() || inner.is_eof() { ErrorCode::MalformedJson } else { ErrorCode::InvalidBody };
            let message = if path.is_empty() || path == "." {
                format!("invalid JSON body: {inner}")
            } else {
                format!("invalid JSON body at '{path}': {inner}")
            };
            ApiError::new(code, message).with_details(serde_json::json!({"path": path}))
        })
    }
}

/// Turns every float with no fraction that fits an `i64` or `u64` (`5.0`)
/// into that integer, in place, at any depth (bounded by serde_json's
/// recursion limit of 128 when it parsed the body).
fn integral_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 {
                if f >= 0.0 && f < u64::MAX as f64 {
                    *v = Value::from(f as u64);
                } else if f < 0.0 && f >= i64::MIN as f64 {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_numbers),
        Value::Object(o) => o.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

fn body_error(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::TooLarge, "the request body is larger than the limit")
    } else {
        ApiError::new(ErrorCode::InvalidBody, r.body_text()).with_status(r.status())
    }
}

/// A query string.
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::new(ErrorCode::BadQuery, e.body_text()))
    }
}

/// Path parameters.
pub(crate) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::new(ErrorCode::BadPath, e.body_text()))
    }
}
