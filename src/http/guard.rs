//! Edge guards that hold for every route: request targets of bounded length,
//! ids in paths and query strings checked like ingest checks them, and the
//! one JSON error shape on every 4xx/5xx, whoever produced it (the framework's
//! path and query rejections, a timeout, a panic), with `Retry-After` on 503.

use std::any::Any;

use axum::body::{to_bytes, Body};
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::{valid_id, FieldError, MAX_ID_LEN};
use crate::error::{ApiError, ErrorBody, ErrorDetail};

/// Query parameters whose values are ids (course or user ids); `exclude`
/// and `ids` are comma-separated lists and may repeat. Cursors (`after`)
/// are checked by the handlers that issue them.
const ID_PARAMS: [&str; 4] = ["exclude", "ids", "course_id", "user_id"];

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

/// 400 for an id that cannot be one; 422 for one padded with whitespace,
/// which is refused rather than trimmed so " u1" never becomes a second
/// spelling of "u1".
fn bad_id(field: &str, value: &str) -> ApiError {
    if value.trim() != value && valid_id(value.trim()) {
        return ApiError::Invalid {
            code: "invalid_id",
            message: format!("{field} has leading or trailing whitespace"),
            details: vec![FieldError::new(field, "has leading or trailing whitespace")],
        };
    }
    ApiError::BadRequest {
        code: "invalid_id",
        message: format!(
            "{field} must be 1 to {MAX_ID_LEN} characters, without leading or trailing \
             whitespace or control characters"
        ),
    }
}

/// The request target's length, then every path parameter and id-valued
/// query parameter; refuses the request before any handler (or cache) sees
/// an id that ingest would have refused.
pub async fn check_ids(
    State(app): State<AppState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > app.settings.server.max_uri_bytes {
        return json_error(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            &format!(
                "the request target is {target} bytes; server.max_uri_bytes is {}",
                app.settings.server.max_uri_bytes
            ),
        );
    }
    match params {
        Ok(params) => {
            for (name, value) in &params {
                if !valid_id(value) {
                    return bad_id(name, value).into_response();
                }
            }
        }
        // Routes without parameters have none to check.
        Err(RawPathParamsRejection::MissingPathParams(_)) => {}
        Err(e) => return ApiError::bad_param(e.body_text()).into_response(),
    }
    if let Some(q) = req.uri().query() {
        let pairs: Vec<(String, String)> = match serde_html_form::from_str(q) {
            Ok(p) => p,
            Err(_) => return ApiError::bad_param("the query string is not valid").into_response(),
        };
        for (key, value) in pairs.iter().filter(|(k, _)| ID_PARAMS.contains(&k.as_str())) {
            // An empty value means "not given", as the handlers read it; a
            // list may not have empty members.
            if value.is_empty() {
                continue;
            }
            if let Some(bad) = value.split(',').find(|id| !valid_id(id)) {
                return bad_id(key, bad).into_response();
            }
        }
    }
    next.run(req).await
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.to_string(),
                details: None,
            },
        }),
    )
        .into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    resp
}

/// A stable code for an error the application did not shape itself.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Rewrites any 4xx/5xx that is not already JSON into the error shape,
/// keeping the framework's text as the message, and puts `Retry-After` on
/// every 503.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        let mut resp = resp;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .entry(header::RETRY_AFTER)
                .or_insert(HeaderValue::from_static(RETRY_AFTER_SECS));
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // Framework rejections are short; never buffer more than a little.
    let text = to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error"),
        t => t,
    };
    let mut out = json_error(status, code_for(status), message);
    for name in [header::WWW_AUTHENTICATE, header::ALLOW] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// The answer to a handler that panicked: a JSON 500, the connection kept.
pub fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown");
    tracing::error!(panic = detail, "handler panicked");
    json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
}
