//! Liveness, readiness, the Prometheus scrape endpoint and the OpenAPI
//! document; no key needed.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use crate::error::Json;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Alive", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `unavailable`.
    pub status: String,
    /// `ok` or `unreachable` (at the last contact; never waits on the store).
    pub store: String,
    /// `postgres` or `sqlite`.
    pub backend: String,
    pub model_version: Option<i64>,
}

/// Readiness: the store was reachable at last contact. A missing model
/// does not make the service unready (popularity always answers).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "The store is unreachable", body = Readiness),
    )
)]
async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store = app.health.is_up();
    let status = if store {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if store { "ready" } else { "unavailable" }.into(),
        store: if store { "ok" } else { "unreachable" }.into(),
        backend: app.store.backend().into(),
        model_version: app.live.version(),
    };
    (status, Json(body))
}

/// Prometheus metrics, text exposition format (prefix `courserec_`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    app.metrics
        .store_up
        .with_label_values(&[app.store.backend()])
        .set(i64::from(app.health.is_up()));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        app.metrics.render(),
    )
}

/// This document: OpenAPI, generated from the routes.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = serde_json::Value))
)]
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}
