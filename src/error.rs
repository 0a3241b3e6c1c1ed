//! The one error type of the HTTP layer. Every error leaves as
//! `{"error": {"code", "message", "details"?}}` with a stable `code`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

pub use crate::domain::FieldError;
use crate::domain::Scope;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    #[error("{message}")]
    Invalid {
        code: &'static str,
        message: String,
        details: Vec<FieldError>,
    },
    #[error("this path does not take that method")]
    MethodNotAllowed,
    #[error("missing or unknown API key")]
    Unauthorized,
    #[error("this API key lacks the {0:?} scope")]
    Forbidden(Scope),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    #[error("the store failed")]
    Store(#[from] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    pub fn bad_param(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code: "invalid_parameter",
            message: message.into(),
        }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>, details: Vec<FieldError>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
            details,
        }
    }

    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Invalid { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound { code, .. } => (StatusCode::NOT_FOUND, code),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::Unavailable { code, .. } => (StatusCode::SERVICE_UNAVAILABLE, code),
            // Only failures that may pass are "retry later"; a data or
            // constraint error would fail the same way forever.
            ApiError::Store(e) if is_transient(e) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Store and internal failures are logged with their cause, never shown.
        match &self {
            ApiError::Store(e) => tracing::error!(error = %e, "store error"),
            ApiError::Internal(e) => tracing::error!(error = format!("{e:#}"), "internal error"),
            _ => {}
        }
        let mut body = json!({"code": code, "message": self.to_string()});
        if let ApiError::Invalid { details, .. } = &self {
            body["details"] = json!(details);
        }
        let mut resp = (status, axum::Json(json!({ "error": body }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        if code == "store_unavailable" {
            // Seen by the observing middleware, which trips the store breaker.
            resp.extensions_mut().insert(StoreFailed);
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(e) => ApiError::MalformedJson(e.body_text()),
            JsonRejection::JsonDataError(e) => ApiError::invalid("invalid_body", e.body_text(), vec![]),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::MalformedJson(other.body_text()),
        }
    }
}

/// Marks a response that failed because the store was unreachable.
#[derive(Debug, Clone, Copy)]
pub struct StoreFailed;

/// `axum::Json` whose rejections use the error shape above.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Turns a request into a typed value the way [`Json`] does, for handlers that
/// need the raw request too.
pub async fn json_body<T: serde::de::DeserializeOwned>(req: Request) -> Result<T> {
    let axum::Json(v) = axum::Json::<T>::from_request(req, &()).await?;
    Ok(v)
}

/// True for failures that say nothing about the data and may pass by
/// themselves (connection lost, pool exhausted, disk full, lock contention,
/// a database shutting down): these answer 503 with `Retry-After`. Data and
/// constraint errors are permanent for that input and must not.
pub fn is_transient(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Protocol(_) => true,
        E::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.as_ref() {
                // SQLite primary codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN,
                // READONLY (extended codes keep the primary in the low byte).
                c if c.parse::<i64>().is_ok() => {
                    let primary = c.parse::<i64>().unwrap_or(0) & 0xff;
                    matches!(primary, 5 | 6 | 8 | 10 | 13 | 14)
                }
                // Postgres SQLSTATE classes: connection exception, insufficient
                // resources, operator intervention; serialization failure and
                // deadlock.
                c => {
                    c.starts_with("08")
                        || c.starts_with("53")
                        || c.starts_with("57")
                        || c == "40001"
                        || c == "40P01"
                }
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_transient_and_bad_data_is_not() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::other("reset"))));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
