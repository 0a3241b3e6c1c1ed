//! A/B experiments: create, stop, list and report (admin scope).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::recommend::rfc3339;
use super::AppState;
use crate::cluster::Change;
use crate::domain::valid_id;
use crate::error::{ApiError, FieldError, Json, Result};
use crate::experiment::{alpha, build_report, ExperimentSpec};
use crate::store::{PutError, StoredExperiment};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/experiments", get(list))
        .route("/experiments/{id}", get(get_one).put(put))
        .route("/experiments/{id}/report", get(report))
}

fn experiment_json(e: &StoredExperiment) -> Value {
    json!({
        "id": e.id,
        "status": e.spec.status,
        "control": e.spec.control_name(),
        "variants": e.spec.variants,
        "created_at": rfc3339(e.created_ms),
        "updated_at": rfc3339(e.updated_ms),
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("experiment_not_found", format!("no experiment {id:?}"))
}

async fn put(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Json(spec): Json<ExperimentSpec>,
) -> Result<(StatusCode, Json<Value>)> {
    let mut problems = spec.problems();
    if !valid_id(&id) {
        problems.insert(0, ("id".into(), "must be 1 to 128 characters".into()));
    }
    if !problems.is_empty() {
        let details = problems
            .iter()
            .map(|(f, r)| FieldError::new(f, r.as_str()))
            .collect();
        return Err(ApiError::invalid(
            "invalid_experiment",
            "the experiment is invalid",
            details,
        ));
    }
    let _one_at_a_time = app.experiments.changing.lock().await;
    let (stored, created) = app.store.put_experiment(&id, &spec).await.map_err(|e| match e {
        PutError::OtherRunning(other) => ApiError::Conflict {
            code: "experiment_running",
            message: format!("experiment {other:?} is running; stop it before starting another"),
        },
        PutError::Immutable => ApiError::Conflict {
            code: "experiment_immutable",
            message: "an experiment's variants and control cannot change once created; \
                      only its status can (create a new experiment instead)"
                .into(),
        },
        PutError::Store(e) => ApiError::Store(e),
    })?;
    app.experiments.apply(&stored.id, &stored.spec);
    app.cluster.notify(Change::Experiment).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(experiment_json(&stored))))
}

/// The stored experiment, or 404.
async fn find(app: &AppState, id: &str) -> Result<StoredExperiment> {
    app.store.get_experiment(id).await?.ok_or_else(|| not_found(id))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    Ok(Json(experiment_json(&find(&app, &id).await?)))
}

async fn list(State(app): State<AppState>) -> Result<Json<Value>> {
    let all = app.store.list_experiments().await?;
    let items: Vec<Value> = all.iter().map(experiment_json).collect();
    Ok(Json(json!({ "items": items })))
}

async fn report(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let e = find(&app, &id).await?;
    // Lists this process served count even if the log has not caught up.
    app.impressions.flush().await;
    let counts = app.store.experiment_counts(&id).await?;
    let variants = build_report(&e.spec, &counts);
    Ok(Json(json!({
        "experiment_id": e.id,
        "status": e.spec.status,
        "control": e.spec.control_name(),
        "alpha": alpha(&e.spec),
        // Every interval below is drawn at this level, the tested one.
        "confidence_level": 1.0 - alpha(&e.spec),
        "generated_at": rfc3339(crate::store::now_ms()),
        "variants": variants,
    })))
}
