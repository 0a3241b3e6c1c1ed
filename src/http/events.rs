//! `POST /events`: one event or a batch, validated whole, acknowledged after
//! commit; `GET /events/stats`: events ingested per hour and type.

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::recommend::count;
use super::wire::time;
use super::AppState;
use crate::domain::{now_ms, retention_cutoff_ms};
use crate::domain::{EventType, FieldError};
use crate::error::{ApiError, Json, Result};
use crate::ingest::writer::WriteError;
use crate::ingest::{parse_body, BodyError, Limits};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ingest))
}

pub fn read_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_event_stats))
}

/// One behaviour event, as clients send it.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Documents the body `ingest::parse` reads.
pub struct EventIn {
    #[schema(min_length = 1, max_length = 128)]
    user_id: String,
    #[schema(min_length = 1, max_length = 128)]
    course_id: String,
    #[serde(rename = "type")]
    kind: EventType,
    /// Rating 1–5 for `rating`, fraction watched 0–1 for `watch`; optional otherwise.
    value: Option<f64>,
    /// RFC 3339; default now; at most `ingest.max_future_skew_secs` ahead.
    #[schema(format = DateTime)]
    ts: Option<String>,
    /// Idempotency key: an event id seen before is counted as a duplicate.
    #[schema(min_length = 1, max_length = 128)]
    event_id: Option<String>,
    /// The `rec_id` of the list this event came from.
    #[schema(min_length = 1, max_length = 128)]
    rec_id: Option<String>,
}

/// Up to `ingest.max_batch` events, validated and stored together.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct EventBatch {
    #[schema(min_items = 1)]
    events: Vec<EventIn>,
}

/// One event or a batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum IngestBody {
    One(EventIn),
    Batch(EventBatch),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ingested {
    /// Events stored now.
    pub accepted: usize,
    /// Events whose `event_id` was stored before (not stored again).
    pub duplicates: usize,
}

/// Ingest behaviour events.
///
/// A batch is validated whole: one invalid event rejects it with 422,
/// listing every invalid index and why, and nothing is stored. A 202 is
/// sent only after the events are committed. An `event_id` sent before
/// with the same body is a duplicate (counted, not stored twice); with
/// another user, course, type, value or explicit `ts` it is a conflict (409,
/// the indexes in `details`), and nothing of the request is stored.
#[utoipa::path(
    post,
    path = "/events",
    tag = "events",
    request_body(content = IngestBody, content_type = "application/json"),
    responses(
        (status = 202, description = "Stored", body = Ingested),
        (status = 409, description = "An `event_id` was stored before with another body (`event_id_conflict`); `details` lists the indexes; nothing stored", body = crate::error::ErrorBody),
        (status = 422, description = "Invalid events (`invalid_events`, `invalid_body`, `empty_batch`, `batch_too_large`); nothing stored", body = crate::error::ErrorBody),
    )
)]
async fn ingest(
    State(app): State<AppState>,
    body: std::result::Result<axum::Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Ingested>)> {
    let rejected = |reason: &str, n: usize| {
        app.metrics
            .events_rejected
            .with_label_values(&[reason])
            .inc_by(n as u64)
    };
    let body = match body {
        Ok(axum::Json(v)) => v,
        Err(r) => {
            let err = ApiError::from(r);
            rejected(err.status_and_code().1, 1);
            return Err(err);
        }
    };
    let limits = Limits {
        max_batch: app.settings.ingest.max_batch,
        max_future_skew_ms: app.settings.ingest.max_future_skew_secs * 1000,
        now_ms: now_ms(),
        min_ts_ms: retention_cutoff_ms(now_ms(), app.settings.database.retention_months).unwrap_or(0),
    };
    // Parsed by hand from the JSON value, not by serde into a struct, so a
    // batch's answer lists every invalid event and field, not the first.
    let events = match parse_body(&body, &limits) {
        Ok(events) => events,
        Err(BodyError::Shape(msg)) => {
            rejected("invalid_body", 1);
            return Err(ApiError::invalid("invalid_body", msg, vec![]));
        }
        Err(BodyError::Empty) => {
            rejected("empty_batch", 1);
            return Err(ApiError::invalid(
                "empty_batch",
                "the batch has no events",
                vec![],
            ));
        }
        Err(BodyError::TooLarge(n)) => {
            rejected("batch_too_large", n);
            return Err(ApiError::invalid(
                "batch_too_large",
                format!(
                    "{n} events in one batch; ingest.max_batch is {}",
                    limits.max_batch
                ),
                vec![],
            ));
        }
        Err(BodyError::Invalid {
            errors,
            invalid,
            valid,
        }) => {
            let mut reasons: Vec<(Option<usize>, &str)> = errors
                .iter()
                .map(|e| (e.index, crate::ingest::parse::reason(e)))
                .collect();
            reasons.dedup_by_key(|r| r.0);
            for (_, reason) in reasons {
                rejected(reason, 1);
            }
            rejected("batch_invalid", valid);
            return Err(ApiError::invalid(
                "invalid_events",
                format!("{invalid} invalid event(s); nothing was stored"),
                errors,
            ));
        }
    };
    let users: Vec<String> = events.iter().map(|e| e.user_id.clone()).collect();
    // A positive event ends fatigue on its course (once stored).
    let engaged: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.kind.is_positive())
        .map(|e| (e.user_id.clone(), e.course_id.clone()))
        .collect();
    let batch = body.get("events").is_some();
    let ts_given = crate::ingest::parse::explicit_ts(&body);
    // The cause is logged by the writer; clients learn whether to retry.
    let written = app.ingest.write(events, ts_given).await.map_err(|e| match e {
        WriteError::Conflict(at) => ApiError::ConflictAt {
            code: "event_id_conflict",
            message: format!(
                "event_id of event(s) {at:?} was stored before with another user, course, type, \
                 value or ts; nothing of this request was stored"
            ),
            details: at
                .into_iter()
                .map(|i| FieldError {
                    index: batch.then_some(i),
                    field: "event_id".into(),
                    reason: "was stored before with another body".into(),
                })
                .collect(),
        },
        WriteError::Unavailable => ApiError::Unavailable {
            code: "store_unavailable",
            message: "events were not stored: the store is unavailable; retry later".into(),
        },
        WriteError::Refused => ApiError::Internal(anyhow::anyhow!(
            "the store refused valid events; nothing was stored"
        )),
    })?;
    app.live.note_new_events(&users);
    for (user, course) in &engaged {
        app.live.fatigue.engaged(user, course);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Ingested {
            accepted: written.accepted,
            duplicates: written.duplicates,
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// Whole hours back, the current one included, 1 to 168 (default 24).
    #[param(minimum = 1, maximum = 168)]
    hours: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HourBucket {
    /// The hour's start, RFC 3339.
    pub hour: String,
    pub total: i64,
    /// Events by type in this hour (types with none are absent).
    pub counts: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventStats {
    /// The first hour's start.
    pub from: String,
    pub hours: usize,
    /// Events by type over all the hours (every type, zeros included).
    pub totals: BTreeMap<String, i64>,
    pub total: i64,
    pub buckets: Vec<HourBucket>,
}

const HOUR_MS: i64 = 3_600_000;

/// Events ingested per hour and type.
#[utoipa::path(
    get,
    path = "/events/stats",
    tag = "events",
    params(StatsParams),
    responses((status = 200, description = "Oldest hour first", body = EventStats))
)]
async fn get_event_stats(
    State(app): State<AppState>,
    Query(p): Query<StatsParams>,
) -> Result<Json<EventStats>> {
    let hours = count(p.hours, "hours", 24, 168)?;
    // Whole hours: the current one and the `hours - 1` before it.
    let first = (now_ms() / HOUR_MS - (hours as i64 - 1)) * HOUR_MS;
    let rows = app.store.events_per_hour(first).await?;
    let mut per_hour: BTreeMap<i64, BTreeMap<String, i64>> = (0..hours as i64)
        .map(|h| (first + h * HOUR_MS, BTreeMap::new()))
        .collect();
    let mut totals: BTreeMap<String, i64> = EventType::ALL.iter().map(|t| (t.as_str().into(), 0)).collect();
    for (hour, kind, n) in &rows {
        // Types are validated on ingest; anything else is not counted.
        let Some(t) = EventType::parse(kind) else { continue };
        *per_hour
            .entry(*hour)
            .or_default()
            .entry(t.as_str().into())
            .or_default() += n;
        *totals.entry(t.as_str().into()).or_default() += n;
    }
    let buckets = per_hour
        .into_iter()
        .map(|(hour, counts)| HourBucket {
            hour: time(hour),
            total: counts.values().sum(),
            counts,
        })
        .collect();
    Ok(Json(EventStats {
        from: time(first),
        hours,
        total: totals.values().sum(),
        totals,
        buckets,
    }))
}
