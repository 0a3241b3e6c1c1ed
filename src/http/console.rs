//! The web console (`GET /ui`): static assets compiled into the binary, and
//! the two read endpoints only it needed: the training history and events
//! ingested per hour. The page itself calls the public API like any client.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::recommend::{param_count, rfc3339};
use super::AppState;
use crate::domain::EventType;
use crate::error::{Json, Result};
use crate::store::now_ms;

/// The assets, embedded at build time: (path, content type, body).
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/ui",
        "text/html; charset=utf-8",
        include_str!("../../ui/index.html"),
    ),
    (
        "/ui/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/app.js"),
    ),
    (
        "/ui/charts.js",
        "text/javascript; charset=utf-8",
        include_str!("../../ui/charts.js"),
    ),
    (
        "/ui/app.css",
        "text/css; charset=utf-8",
        include_str!("../../ui/app.css"),
    ),
];

/// Only this origin's scripts, styles and API: nothing is fetched elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Static assets; no key needed (the data behind them needs one).
pub fn assets_router() -> Router<AppState> {
    let mut r = Router::new().route("/ui/", get(|| async { Redirect::permanent("/ui") }));
    for &(path, kind, body) in ASSETS {
        r = r.route(path, get(move || async move { asset(kind, body) }));
    }
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Revalidated each load so an upgraded binary serves its own assets.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /model/history` and `GET /events/stats` (read scope).
pub fn read_router() -> Router<AppState> {
    Router::new()
        .route("/model/history", get(get_history))
        .route("/events/stats", get(get_event_stats))
}

type Params = Query<HashMap<String, String>>;

async fn get_history(State(app): State<AppState>, Query(p): Params) -> Result<Json<Value>> {
    let limit = param_count(&p, "limit", 20, 200)?;
    let runs = app.store.training_runs(limit as i64).await?;
    let items: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "version": r.version,
                "status": r.status,
                "reason": r.reason,
                "finished_at": rfc3339(r.finished_ms),
                "training_seconds": r.training_seconds,
                "n_users": r.n_users,
                "n_courses": r.n_courses,
                "n_events": r.n_events,
                "metrics": r.metrics,
                "baseline_metrics": r.baseline_metrics,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

const HOUR_MS: i64 = 3_600_000;

async fn get_event_stats(State(app): State<AppState>, Query(p): Params) -> Result<Json<Value>> {
    let hours = param_count(&p, "hours", 24, 168)? as i64;
    // Whole hours: the current one and the `hours - 1` before it.
    let first = (now_ms() / HOUR_MS - (hours - 1)) * HOUR_MS;
    let rows = app.store.events_per_hour(first).await?;
    let mut per_hour: BTreeMap<i64, BTreeMap<&str, i64>> = (0..hours)
        .map(|h| (first + h * HOUR_MS, BTreeMap::new()))
        .collect();
    let mut totals: BTreeMap<&str, i64> = EventType::ALL.iter().map(|t| (t.as_str(), 0)).collect();
    for (hour, kind, n) in &rows {
        // Types are validated on ingest; anything else is not counted.
        let Some(t) = EventType::parse(kind) else { continue };
        *per_hour.entry(*hour).or_default().entry(t.as_str()).or_default() += n;
        *totals.entry(t.as_str()).or_default() += n;
    }
    let buckets: Vec<Value> = per_hour
        .into_iter()
        .map(|(hour, counts)| {
            json!({"hour": rfc3339(hour), "total": counts.values().sum::<i64>(), "counts": counts})
        })
        .collect();
    Ok(Json(json!({
        "from": rfc3339(first),
        "hours": hours,
        "totals": totals,
        "total": totals.values().sum::<i64>(),
        "buckets": buckets,
    })))
}
