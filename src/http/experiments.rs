//! A/B experiments of recommendation strategies: create or stop, list, and
//! report (admin scope).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire::{share, stat, time};
use super::AppState;
use crate::cluster::Change;
use crate::domain::now_ms;
use crate::domain::valid_id;
use crate::error::{ApiError, ErrorBody, FieldError, Json, Result};
use crate::experiment::report::{Rate, VariantReport};
use crate::experiment::sequential::{srm_warning, Verdict, MIN_UNITS_PER_ARM, TEST_NAME};
use crate::experiment::stats::Comparison;
use crate::experiment::{alpha, build_report, srm, Arm, ExperimentSpec, Status, VariantSpec};
use crate::exploration::snips::{offline_policy, OfflinePolicy};
use crate::store::{PutError, StoredExperiment};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_experiments))
        .routes(routes!(get_experiment, put_experiment))
        .routes(routes!(experiment_report))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentInfo {
    pub experiment_id: String,
    pub status: Status,
    /// The variant the others are compared with.
    pub control: String,
    pub variants: Vec<VariantSpec>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&StoredExperiment> for ExperimentInfo {
    fn from(e: &StoredExperiment) -> ExperimentInfo {
        ExperimentInfo {
            experiment_id: e.id.clone(),
            status: e.spec.status,
            control: e.spec.control_name().to_string(),
            variants: e.spec.variants.clone(),
            created_at: time(e.created_ms),
            updated_at: time(e.updated_ms),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentList {
    pub items: Vec<ExperimentInfo>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("experiment_not_found", format!("no experiment {id:?}"))
}

/// Create an experiment, or change its status (variants are fixed once
/// created). One experiment runs at a time.
#[utoipa::path(
    put,
    path = "/experiments/{id}",
    tag = "experiments",
    params(("id" = String, Path, description = "The experiment id")),
    request_body = ExperimentSpec,
    responses(
        (status = 201, description = "Created", body = ExperimentInfo),
        (status = 200, description = "Status changed", body = ExperimentInfo),
        (status = 409, description = "Another experiment runs (`experiment_running`), or the variants changed (`experiment_immutable`)", body = ErrorBody),
        (status = 422, description = "Invalid experiment (`invalid_experiment`)", body = ErrorBody),
    )
)]
async fn put_experiment(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Json(spec): Json<ExperimentSpec>,
) -> Result<(StatusCode, Json<ExperimentInfo>)> {
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
    Ok((status, Json((&stored).into())))
}

/// The stored experiment, or 404.
async fn find(app: &AppState, id: &str) -> Result<StoredExperiment> {
    app.store.get_experiment(id).await?.ok_or_else(|| not_found(id))
}

/// One experiment.
#[utoipa::path(
    get,
    path = "/experiments/{id}",
    tag = "experiments",
    params(("id" = String, Path, description = "The experiment id")),
    responses(
        (status = 200, description = "The experiment", body = ExperimentInfo),
        (status = 404, description = "No such experiment (`experiment_not_found`)", body = ErrorBody),
    )
)]
async fn get_experiment(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<ExperimentInfo>> {
    Ok(Json((&find(&app, &id).await?).into()))
}

/// Every experiment.
#[utoipa::path(
    get,
    path = "/experiments",
    tag = "experiments",
    responses((status = 200, description = "All experiments", body = ExperimentList))
)]
async fn list_experiments(State(app): State<AppState>) -> Result<Json<ExperimentList>> {
    let all = app.store.list_experiments().await?;
    Ok(Json(ExperimentList {
        items: all.iter().map(Into::into).collect(),
    }))
}

/// A rate with its interval at the report's confidence level; null before
/// any traffic. 4 decimals.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateInfo {
    pub value: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

impl From<&Rate> for RateInfo {
    fn from(r: &Rate) -> RateInfo {
        RateInfo {
            value: r.value.map(share),
            ci_low: r.ci_low.map(share),
            ci_high: r.ci_high.map(share),
        }
    }
}

/// A treatment's rate against the control's, by the report's `test`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComparisonInfo {
    /// Treatment rate minus control rate.
    pub difference: f64,
    /// Always-valid interval (confidence sequence) at `confidence_level`.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Difference / standard error.
    pub z: f64,
    /// Always-valid p-value, 0..1; null while the verdict is
    /// `insufficient_data`.
    pub p_value: Option<f64>,
    /// `p_value` < `alpha`: exactly when the interval excludes 0 (never
    /// with `insufficient_data`).
    pub significant: bool,
    pub verdict: Verdict,
}

impl ComparisonInfo {
    fn new(c: &Comparison, verdict: Verdict) -> ComparisonInfo {
        let enough = verdict != Verdict::InsufficientData;
        ComparisonInfo {
            difference: share(c.difference),
            ci_low: share(c.ci_low),
            ci_high: share(c.ci_high),
            z: stat(c.z),
            p_value: enough.then(|| stat(c.p_value)),
            significant: enough && c.significant,
            verdict,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VsControlInfo {
    pub ctr: Option<ComparisonInfo>,
    pub conversion: Option<ComparisonInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantInfo {
    pub name: String,
    pub arm: Arm,
    pub weight: u32,
    pub is_control: bool,
    pub users: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub purchases: u64,
    pub buyers: u64,
    /// Clicks per impression.
    pub ctr: RateInfo,
    /// Buyers per user.
    pub conversion: RateInfo,
    /// Absent for the control itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_control: Option<VsControlInfo>,
}

impl From<&VariantReport> for VariantInfo {
    fn from(v: &VariantReport) -> VariantInfo {
        VariantInfo {
            name: v.name.clone(),
            arm: v.arm,
            weight: v.weight,
            is_control: v.is_control,
            users: v.users,
            impressions: v.impressions,
            clicks: v.clicks,
            purchases: v.purchases,
            buyers: v.buyers,
            ctr: (&v.ctr).into(),
            conversion: (&v.conversion).into(),
            vs_control: v.vs_control.as_ref().map(|c| VsControlInfo {
                ctr: c.ctr.as_ref().map(|x| ComparisonInfo::new(x, c.ctr_verdict)),
                conversion: c
                    .conversion
                    .as_ref()
                    .map(|x| ComparisonInfo::new(x, c.conversion_verdict)),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExperimentReport {
    pub experiment_id: String,
    pub status: Status,
    pub control: String,
    /// Each treatment is tested at this level (0.05, Bonferroni-divided by
    /// the number of treatments).
    pub alpha: f64,
    /// 1 − alpha: the level of every interval in the report.
    pub confidence_level: f64,
    /// The test behind every p-value and interval: always valid, so the
    /// report may be read every day without inflating false positives.
    pub test: &'static str,
    /// Below this many users in a variant or its control, or 10 successes
    /// in both, a comparison's verdict is `insufficient_data`.
    pub minimum_users_per_variant: u64,
    /// χ² test of the variants' users against their weights (sample ratio
    /// mismatch); null before any traffic.
    pub srm_p_value: Option<f64>,
    /// Set when `srm_p_value` < 0.001: the split is broken and the report
    /// should not be trusted.
    pub srm_warning: Option<String>,
    pub generated_at: String,
    pub variants: Vec<VariantInfo>,
    /// Per variant, from its served lists: the logged click and purchase
    /// rates per slot and what other exploration shares would have had
    /// (SNIPS; `days` is 0: every list of the experiment).
    pub offline_policy: Vec<VariantPolicy>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantPolicy {
    pub variant: String,
    pub policy: Option<OfflinePolicy>,
}

/// Per variant: users, impressions, clicks, purchases, CTR and conversion
/// with intervals, and the difference to the control with its significance.
#[utoipa::path(
    get,
    path = "/experiments/{id}/report",
    tag = "experiments",
    params(("id" = String, Path, description = "The experiment id")),
    responses(
        (status = 200, description = "The report", body = ExperimentReport),
        (status = 404, description = "No such experiment (`experiment_not_found`)", body = ErrorBody),
    )
)]
async fn experiment_report(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExperimentReport>> {
    let e = find(&app, &id).await?;
    // Lists this process served count even if the log has not caught up.
    app.impressions.flush().await;
    let counts = app.store.experiment_counts(&id).await?;
    let variants = build_report(&e.spec, &counts);
    let alpha = alpha(&e.spec);
    let srm_p_value = srm(&e.spec, &counts);
    let lists = app.store.experiment_lists(&id).await?;
    let offline_policy = e
        .spec
        .variants
        .iter()
        .map(|v| {
            let mine: Vec<_> = lists
                .iter()
                .filter(|l| l.0 == v.name)
                .map(|l| l.1.clone())
                .collect();
            VariantPolicy {
                variant: v.name.clone(),
                policy: offline_policy(&mine, app.settings.serve.exploration, 0),
            }
        })
        .collect();
    Ok(Json(ExperimentReport {
        offline_policy,
        experiment_id: e.id.clone(),
        status: e.spec.status,
        control: e.spec.control_name().to_string(),
        alpha: share(alpha),
        confidence_level: share(1.0 - alpha),
        test: TEST_NAME,
        minimum_users_per_variant: MIN_UNITS_PER_ARM,
        srm_p_value: srm_p_value.map(stat),
        srm_warning: srm_warning(srm_p_value),
        generated_at: time(now_ms()),
        variants: variants.iter().map(Into::into).collect(),
    }))
}
