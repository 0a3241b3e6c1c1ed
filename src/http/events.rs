//! `POST /events`: one event or a batch, validated whole, acknowledged after commit.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::AppState;
use crate::error::{ApiError, Json, Result};
use crate::ingest::writer::WriteError;
use crate::ingest::{parse_body, BodyError, Limits};
use crate::store::now_ms;

pub fn router() -> Router<AppState> {
    Router::new().route("/events", post(ingest))
}

async fn ingest(
    State(app): State<AppState>,
    body: std::result::Result<axum::Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>)> {
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
    };
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
    // The cause is logged by the writer; clients learn whether to retry.
    let written = app.ingest.write(events).await.map_err(|e| match e {
        WriteError::Unavailable => ApiError::Unavailable {
            code: "store_unavailable",
            message: "events were not stored: the store is unavailable; retry later".into(),
        },
        WriteError::Refused => ApiError::Internal(anyhow::anyhow!(
            "the store refused valid events; nothing was stored"
        )),
    })?;
    app.live.note_new_events(&users);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": written.accepted, "duplicates": written.duplicates})),
    ))
}
