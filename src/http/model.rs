//! The model: `GET /model` (what serves and how well it did on its
//! holdout), `POST /model/retrain`, and `GET /model/history`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Query;
use super::recommend::count;
use super::wire::{seconds, share, time};
use super::AppState;
use crate::error::{ApiError, Json, Result};
use crate::eval::metrics::Metrics;
use crate::marketing::metrics::{Quality, SpendQuality};
use crate::marketing::predict::Gate;
use crate::serve::snapshot::Basis;

pub fn read_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_model))
        .routes(routes!(get_history))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_retrain))
}

/// Ranking quality at K on the holdout (each sampled learner's latest
/// interactions), averaged over learners; 4 decimals.
#[derive(Debug, Serialize, ToSchema)]
pub struct RankingMetrics {
    pub k: usize,
    /// Learners evaluated.
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    /// Share of the catalog recommended to anyone.
    pub coverage: f64,
}

impl From<&Metrics> for RankingMetrics {
    fn from(m: &Metrics) -> RankingMetrics {
        RankingMetrics {
            k: m.k,
            users: m.users,
            precision: share(m.precision),
            recall: share(m.recall),
            f1: share(m.f1),
            ndcg: share(m.ndcg),
            map: share(m.map),
            hit_rate: share(m.hit_rate),
            coverage: share(m.coverage),
        }
    }
}

/// A probability forecast's backtest; 4 decimals.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastQuality {
    /// Area under the ROC curve; 0.5 is chance.
    pub auc: f64,
    /// Mean negative log-likelihood, nats.
    pub log_loss: f64,
    pub brier: f64,
    /// Expected calibration error, 10 equal-width bins.
    pub ece: f64,
    pub top_decile_lift: f64,
    pub n: usize,
    pub positives: usize,
}

impl From<&Quality> for ForecastQuality {
    fn from(q: &Quality) -> ForecastQuality {
        ForecastQuality {
            auc: share(q.auc),
            log_loss: share(q.log_loss),
            brier: share(q.brier),
            ece: share(q.ece),
            top_decile_lift: share(q.top_decile_lift),
            n: q.n,
            positives: q.positives,
        }
    }
}

/// One prediction's quality gate: the model against the recency–frequency
/// baseline, and which of them is published.
#[derive(Debug, Serialize, ToSchema)]
pub struct PredictionGate {
    pub model: Option<ForecastQuality>,
    pub baseline: Option<ForecastQuality>,
    /// The published forecast after recalibration.
    pub calibrated: Option<ForecastQuality>,
    /// `model`, `previous` (this training's did not beat the baseline) or `baseline`.
    #[schema(value_type = String)]
    pub source: crate::marketing::predict::Source,
}

impl From<&Gate> for PredictionGate {
    fn from(g: &Gate) -> PredictionGate {
        PredictionGate {
            model: g.model.as_ref().map(Into::into),
            baseline: g.baseline.as_ref().map(Into::into),
            calibrated: g.calibrated.as_ref().map(Into::into),
            source: g.source,
        }
    }
}

/// A spend forecast's backtest.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpendQualityInfo {
    /// Mean absolute error per learner, cents.
    pub mae_cents: i64,
    pub rmse_cents: i64,
    /// Spearman rank correlation of forecast and spend, 4 decimals.
    pub spearman: f64,
    /// Total forecast over total spent, 4 decimals.
    pub total_ratio: f64,
    pub n: usize,
}

impl From<&SpendQuality> for SpendQualityInfo {
    fn from(q: &SpendQuality) -> SpendQualityInfo {
        SpendQualityInfo {
            mae_cents: q.mae_cents.round() as i64,
            rmse_cents: q.rmse_cents.round() as i64,
            spearman: share(q.spearman),
            total_ratio: share(q.total_ratio),
            n: q.n,
        }
    }
}

/// Predicted spend against trailing spend (the baseline) on a backtest.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpendBacktestInfo {
    pub horizon_days: u32,
    pub model: SpendQualityInfo,
    pub baseline: SpendQualityInfo,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketingSummary {
    pub horizon_days: u32,
    pub purchase: PredictionGate,
    pub churn: PredictionGate,
    /// Mean spend of a buyer in the horizon, cents.
    pub spend_per_buyer_cents: i64,
    pub spend: Option<SpendBacktestInfo>,
    /// The uplift model learned from past campaigns' control groups.
    pub uplift: crate::marketing::audience::UpliftSummary,
}

/// What serves. Every field but `status` and `training` is null before the
/// first snapshot.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ModelInfo {
    pub version: Option<i64>,
    /// `serving` or `no_model`.
    pub status: String,
    /// `model` (evaluated factors) or `popularity` (the fallback).
    pub basis: Option<String>,
    /// Why popularity serves: `no_model_yet`, `no_data`,
    /// `not_better_than_baseline`, `not_evaluated`.
    pub reason: Option<String>,
    pub reason_detail: Option<String>,
    /// A training is running now.
    pub training: bool,
    /// While a training runs: the phase it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training_phase: Option<RunningPhase>,
    pub trained_at: Option<String>,
    /// Events up to this time were read.
    pub data_until: Option<String>,
    pub n_users: Option<usize>,
    pub n_courses: Option<usize>,
    pub n_events: Option<i64>,
    pub factors: Option<usize>,
    pub training_seconds: Option<f64>,
    /// Each phase of the training that made this model, in order.
    pub phases: Option<Vec<PhaseInfo>>,
    pub metrics: Option<RankingMetrics>,
    /// The popularity baseline on the same holdout.
    pub baseline_metrics: Option<RankingMetrics>,
    /// Number of taste segments.
    pub segments: Option<usize>,
    pub marketing: Option<MarketingSummary>,
    pub paths: Option<PathsSummary>,
    /// Click and purchase rates per served slot from the served-list log,
    /// and what other exploration shares would have had (SNIPS).
    pub offline_policy: Option<crate::exploration::snips::OfflinePolicy>,
}

/// The order-aware model behind learning paths.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathsSummary {
    /// Distinct (course, next course) pairs observed.
    pub transitions: usize,
    /// Whether `/recommend` blends the order model into the factor model's
    /// lists (only when the blend won on the next-course holdout).
    pub serving_blend: bool,
    pub blend_weight: Option<f32>,
    /// The next-course holdout: each candidate, the blend's gain and the
    /// shuffle test; null when nothing could be held out.
    pub next_course: Option<crate::paths::NextCourseReport>,
}

/// The phase a running training is in.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunningPhase {
    /// `compact`, `read`, `build`, `evaluate`, `fit`, `segment` or `persist`.
    pub name: String,
    /// Seconds in this phase so far.
    pub seconds: f64,
    /// Phases finished before it (a training has about seven).
    pub phases_done: usize,
}

/// One phase of a training.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseInfo {
    /// `read`, `build`, `evaluate`, `fit`, `segment`, `predict` or `persist`.
    pub name: String,
    pub seconds: f64,
    /// Peak resident memory of the process during the phase, MiB (0: unknown).
    pub peak_rss_mib: f64,
}

/// The serving model and its holdout metrics against popularity.
#[utoipa::path(
    get,
    path = "/model",
    tag = "model",
    responses((status = 200, description = "The serving model", body = ModelInfo))
)]
async fn get_model(State(app): State<AppState>) -> Json<ModelInfo> {
    let training = app.trainer.is_running();
    let training_phase =
        training
            .then(|| app.trainer.phase())
            .flatten()
            .map(|(name, seconds, phases_done)| RunningPhase {
                name: name.to_string(),
                seconds: crate::http::wire::seconds(seconds),
                phases_done,
            });
    let Some(s) = app.live.snapshot() else {
        return Json(ModelInfo {
            status: "no_model".into(),
            training,
            training_phase,
            ..Default::default()
        });
    };
    let (basis, code, reason) = match &s.basis {
        Basis::Model => ("model", None, None),
        Basis::Popularity { code, reason } => ("popularity", Some(code.clone()), Some(reason.clone())),
    };
    Json(ModelInfo {
        version: Some(s.version),
        status: "serving".into(),
        basis: Some(basis.into()),
        reason: code,
        reason_detail: reason,
        training,
        training_phase,
        trained_at: Some(time(s.trained_at_ms)),
        data_until: Some(time(s.data_read_at_ms)),
        n_users: Some(s.users.ids.len()),
        n_courses: Some(s.courses.ids.len()),
        n_events: Some(s.n_events),
        factors: Some(s.params.factors),
        training_seconds: Some(seconds(s.training_seconds)),
        phases: Some(
            s.phases
                .iter()
                .map(|p| PhaseInfo {
                    name: p.name.clone(),
                    seconds: seconds(p.seconds),
                    peak_rss_mib: (p.peak_rss_bytes as f64 / 1048576.0 * 10.0).round() / 10.0,
                })
                .collect(),
        ),
        metrics: s.metrics.as_ref().map(Into::into),
        baseline_metrics: s.baseline_metrics.as_ref().map(Into::into),
        segments: s.segments.as_ref().map(|g| g.segments.len()),
        marketing: s.marketing.as_ref().map(|m| {
            let p = &m.predictions;
            MarketingSummary {
                horizon_days: p.horizon_days,
                purchase: (&p.purchase_gate).into(),
                churn: (&p.churn_gate).into(),
                spend_per_buyer_cents: p.spend_per_buyer_cents.round() as i64,
                spend: p.spend_backtest.as_ref().map(|b| SpendBacktestInfo {
                    horizon_days: b.horizon_days,
                    model: (&b.model).into(),
                    baseline: (&b.baseline).into(),
                }),
                uplift: m.uplift_summary(),
            }
        }),
        paths: s.paths.as_ref().map(|p| PathsSummary {
            transitions: p.transitions.next.nnz(),
            serving_blend: p.serving_blend.is_some(),
            blend_weight: p.serving_blend,
            next_course: p.report.clone(),
        }),
        offline_policy: s.offline_policy.clone(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetrainStarted {
    /// `started`.
    pub status: String,
}

/// Start a training now (it runs in the background).
#[utoipa::path(
    post,
    path = "/model/retrain",
    tag = "model",
    responses(
        (status = 202, description = "Started; `GET /model` shows the result", body = RetrainStarted),
        (status = 400, description = "The body is given but is not valid JSON (`malformed_json`)", body = crate::error::ErrorBody),
        (status = 409, description = "A training is already running (`training_in_progress`)", body = crate::error::ErrorBody),
        (status = 422, description = "The body is JSON but not an object (`invalid_request`)", body = crate::error::ErrorBody),
    )
)]
async fn post_retrain(
    State(app): State<AppState>,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<RetrainStarted>)> {
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    // No options yet, but a body that is sent must be an object: a client
    // whose JSON is broken learns it rather than starting a training.
    if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Err(e) => return Err(ApiError::MalformedJson(e.to_string())),
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => {
                return Err(ApiError::Invalid {
                    code: "invalid_request",
                    message: "the body, when given, must be a JSON object".into(),
                    details: vec![],
                })
            }
        }
    }
    if app.trainer.trigger() {
        Ok((
            StatusCode::ACCEPTED,
            Json(RetrainStarted {
                status: "started".into(),
            }),
        ))
    } else {
        Err(ApiError::Conflict {
            code: "training_in_progress",
            message: "a training is already running".into(),
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Runs to return, newest first, 1 to 200 (default 20).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
}

/// One training run, published or failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingRunInfo {
    /// The published version; null for a failed run.
    pub version: Option<i64>,
    /// `published` or `failed`.
    pub status: String,
    /// Why a run failed.
    pub reason: Option<String>,
    pub finished_at: String,
    pub training_seconds: f64,
    pub n_users: Option<i64>,
    pub n_courses: Option<i64>,
    pub n_events: Option<i64>,
    pub metrics: Option<RankingMetrics>,
    pub baseline_metrics: Option<RankingMetrics>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingHistory {
    pub items: Vec<TrainingRunInfo>,
}

/// Recent trainings, newest first.
#[utoipa::path(
    get,
    path = "/model/history",
    tag = "model",
    params(HistoryParams),
    responses((status = 200, description = "Newest first", body = TrainingHistory))
)]
async fn get_history(
    State(app): State<AppState>,
    Query(p): Query<HistoryParams>,
) -> Result<Json<TrainingHistory>> {
    let limit = count(p.limit, "limit", 20, 200)?;
    let runs = app.store.training_runs(limit as i64).await?;
    let items = runs
        .iter()
        .map(|r| TrainingRunInfo {
            version: r.version,
            status: r.status.clone(),
            reason: r.reason.clone(),
            finished_at: time(r.finished_ms),
            training_seconds: seconds(r.training_seconds),
            n_users: r.n_users,
            n_courses: r.n_courses,
            n_events: r.n_events,
            metrics: r.metrics.as_ref().map(Into::into),
            baseline_metrics: r.baseline_metrics.as_ref().map(Into::into),
        })
        .collect();
    Ok(Json(TrainingHistory { items }))
}
