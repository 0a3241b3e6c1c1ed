//! Per-request span and metrics, labelled by the matched route (never the raw
//! path, which would make label cardinality unbounded).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;
use crate::error::StoreFailed;

pub async fn observe(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", %method, %route, %request_id, status = tracing::field::Empty);
    let resp = next.run(req).instrument(span.clone()).await;
    if resp.extensions().get::<StoreFailed>().is_some() {
        app.health.record_failure();
    }
    let status = resp.status();
    let elapsed = start.elapsed();
    span.record("status", status.as_u16());
    let labels = [method.as_str(), route.as_str(), status.as_str()];
    app.metrics.http_requests.with_label_values(&labels).inc();
    app.metrics
        .http_latency
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    // Successful requests log at debug: at thousands per second an info line
    // each would cost more than the request.
    let latency_ms = elapsed.as_secs_f64() * 1e3;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
        } else if status.is_client_error() {
            tracing::info!(status = status.as_u16(), latency_ms, "request refused");
        } else {
            tracing::debug!(status = status.as_u16(), latency_ms, "request");
        }
    });
    resp
}
