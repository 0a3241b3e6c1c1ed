//! Liveness, readiness, the Prometheus scrape endpoint and the OpenAPI
//! document; no auth.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::AppState;
use crate::error::Json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
}

/// The OpenAPI 3.0 document of this API, compiled into the binary.
const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Ready when the store was reachable at last contact (the health probe's
/// state: answering never waits on a dead store); recommendations always
/// have at least the popularity fallback, so a missing model does not make
/// the service unready.
async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = app.health.is_up();
    let model = app.live.version();
    let status = if store {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if store { "ready" } else { "unavailable" },
        "store": if store { "ok" } else { "unreachable" },
        "backend": app.store.backend(),
        "model_version": model,
    });
    (status, Json(body))
}

async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        app.metrics.render(),
    )
}
