//! Campaigns: `POST /campaigns` freezes an audience and draws its control
//! group; recipients (treatment only) and the uplift report.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audiences::csv_stream;
use super::extract::{csv_row, wants_csv, Query};
use super::recommend::count;
use super::wire::{share, stat, time};
use super::AppState;
use crate::domain::now_ms;
use crate::error::{ApiError, ErrorBody, Json, Result};
use crate::experiment::sequential::{srm_warning, Verdict, MIN_UNITS_PER_ARM, TEST_NAME};
use crate::marketing::audience::Filter;
use crate::marketing::audience::Ranking;
use crate::marketing::campaign::report::{report as figures, ArmInput, Cuped, ReportInput};
use crate::marketing::campaign::spec::{
    check, stored_arms, ArmDraft, CampaignAudience, CampaignDraft, OfferSpec, Targeting,
};
use crate::marketing::campaign::{offer_courses, Arm, DrawPlan};
use crate::marketing::uplift::qini::{coefficient, deciles, QiniPoint, Unit};
use crate::serve::audience::{rank, AudienceSpec};
use crate::store::{CampaignCreation, StoredCampaign, StoredMember};
use std::collections::HashSet;

pub fn read_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_campaigns))
        .routes(routes!(get_campaign))
        .routes(routes!(campaign_recipients))
        .routes(routes!(campaign_report))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_campaign))
}

/// A campaign: an offer to a frozen audience with a held-out control group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// The offered course (exactly one of `course_id` and `category`).
    course_id: Option<String>,
    /// Or any course of this category.
    category: Option<String>,
    /// The `/audiences` filters; `course_id` or `category` there must
    /// equal the offer's, or be absent.
    #[serde(default)]
    audience: CampaignAudience,
    /// Keep the best `size` learners by expected value (default all).
    #[schema(minimum = 1)]
    size: Option<usize>,
    /// Share held out as control, above 0 and below 1 (default 0.1).
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    control_share: Option<f64>,
    /// Discount offered, percent 0 to 100.
    #[schema(minimum = 0.0, maximum = 100.0)]
    discount_pct: Option<f64>,
    /// RFC 3339, in the future (default created + the prediction horizon).
    #[schema(format = DateTime)]
    ends_at: Option<String>,
    /// Several offers: each treated learner gets one arm by a seeded hash
    /// (shares sum to 1); not with `discount_pct`. Default: one arm.
    arms: Option<Vec<ArmDraft>>,
    /// How the audience is ranked before `size` and `budget_cents` cut it
    /// (default `propensity`). `uplift` needs a published uplift model (409
    /// `uplift_model_not_ready` otherwise).
    targeting: Option<Targeting>,
    /// Stop adding learners once the expected discount cost of the treated
    /// (price × discount × P(buying when offered)) would pass this, cents.
    #[schema(minimum = 1)]
    budget_cents: Option<i64>,
}

impl CampaignBody {
    fn draft(self) -> CampaignDraft {
        CampaignDraft {
            name: self.name,
            course_id: self.course_id,
            category: self.category,
            audience: self.audience,
            size: self.size,
            control_share: self.control_share,
            discount_pct: self.discount_pct,
            ends_at: self.ends_at,
            arms: self.arms,
            targeting: self.targeting,
            budget_cents: self.budget_cents,
        }
    }
}

/// One arm of a campaign and its members now.
#[derive(Debug, Serialize, ToSchema)]
struct ArmInfo {
    name: String,
    discount_pct: Option<f64>,
    /// Share of the treated, 0..1.
    share: f64,
    users: u64,
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignCreated {
    campaign_id: String,
    treatment_size: usize,
    control_size: usize,
    /// Ranked learners left out because they are in the control group of
    /// a running campaign for an overlapping offer (the same course or
    /// category).
    held_out_overlap: usize,
    created_at: String,
    ends_at: String,
    /// Treated learners per arm.
    arms: Vec<ArmInfo>,
    targeting: Targeting,
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignInfo {
    campaign_id: String,
    name: String,
    course_id: Option<String>,
    category: Option<String>,
    audience: Option<Filter>,
    discount_pct: Option<f64>,
    control_share: f64,
    /// The model whose ranking froze the list.
    model_version: i64,
    created_at: String,
    ends_at: String,
    treatment_size: i64,
    control_size: i64,
    held_out_overlap: i64,
    arms: Vec<ArmInfo>,
    targeting: String,
    budget_cents: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignList {
    campaigns: Vec<CampaignInfo>,
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("campaign_not_found", format!("no campaign {id:?}"))
}

/// Each arm of `c` with its members now, and the control group's size.
async fn arm_infos(app: &AppState, c: &StoredCampaign) -> Result<(Vec<ArmInfo>, u64)> {
    let arms = stored_arms(c.arms.as_deref(), c.discount_pct);
    let (sizes, control) = app.store.campaign_arm_sizes(&c.id, arms.len()).await?;
    let infos = arms
        .into_iter()
        .zip(sizes)
        .map(|(a, users)| ArmInfo {
            name: a.name,
            discount_pct: a.discount_pct,
            share: a.share,
            users,
        })
        .collect();
    Ok((infos, control))
}

async fn campaign_info(app: &AppState, c: &StoredCampaign) -> Result<CampaignInfo> {
    let (arms, control) = arm_infos(app, c).await?;
    let treatment: u64 = arms.iter().map(|a| a.users).sum();
    Ok(CampaignInfo {
        campaign_id: c.id.clone(),
        name: c.name.clone(),
        course_id: c.course_id.clone(),
        category: c.category.clone(),
        audience: serde_json::from_str(&c.audience).ok(),
        discount_pct: c.discount_pct,
        control_share: c.control_share,
        model_version: c.model_version,
        created_at: time(c.created_ms),
        ends_at: time(c.ends_ms),
        treatment_size: treatment as i64,
        control_size: control as i64,
        held_out_overlap: c.held_out_overlap,
        arms,
        targeting: c.targeting.clone(),
        budget_cents: c.budget_cents,
    })
}

/// Create a campaign: the audience is ranked and frozen now, with the
/// courses it offers; learners in the control group of a running campaign
/// for an overlapping offer are left out; a control group drawn by a seeded
/// hash is held out (never exported). A repeated `Idempotency-Key` returns
/// the first campaign (header `idempotent-replayed: true`).
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "marketing",
    request_body = CampaignBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 printable ASCII characters; a repeat returns the first campaign")),
    responses(
        (status = 201, description = "Created, or the campaign first created with this Idempotency-Key", body = CampaignCreated),
        (status = 400, description = "Invalid Idempotency-Key (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such course, category or segment", body = ErrorBody),
        (status = 409, description = "targeting uplift before an uplift model serves (`uplift_model_not_ready`, with the reason)", body = ErrorBody),
        (status = 422, description = "Invalid campaign (`invalid_campaign`), nobody matches (`empty_audience`), \
            or the Idempotency-Key was used for another campaign (`idempotency_key_reused`)", body = ErrorBody),
    )
)]
async fn create_campaign(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(b): Json<CampaignBody>,
) -> Result<Response> {
    let now = now_ms();
    let key = idempotency_key(&headers)?;
    let spec = check(b.draft(), now)
        .map_err(|errs| ApiError::invalid("invalid_campaign", "the campaign is invalid", errs))?;
    let fingerprint = spec.fingerprint();
    if let Some(k) = &key {
        if let Some(first) = app.store.campaign_by_idempotency_key(k).await? {
            return replay(&app, &first, &fingerprint).await;
        }
    }
    let (course_id, category) = match &spec.offer {
        OfferSpec::Course(c) => (Some(c.clone()), None),
        OfferSpec::Category(c) => (None, Some(c.clone())),
    };
    let id = format!("cmp_{}", uuid::Uuid::now_v7().simple());
    let seed = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
    let audience = AudienceSpec {
        course_id: course_id.clone(),
        category: category.clone(),
        filter: spec.filter.clone(),
        ranking: match spec.targeting {
            Targeting::Propensity => Ranking::ExpectedValue,
            Targeting::Uplift => Ranking::Uplift,
            Targeting::Random => Ranking::Random { seed },
        },
        discount: spec.mean_discount(),
    };
    let (snap, members) = rank(&app.live, &app.store, &audience).await?;
    let candidates: Vec<String> = members
        .iter()
        .map(|m| snap.users.ids[m.user as usize].clone())
        .collect();
    // Expected discount cost per candidate at a 100 % discount, cents.
    let cost: Vec<f64> = members
        .iter()
        .map(|m| m.price_cents * m.response.map_or(m.purchase, |r| r.p_treated()))
        .collect();
    let (discounts, shares): (Vec<f64>, Vec<f64>) = spec
        .arm_discounts()
        .into_iter()
        .zip(spec.arms.iter().map(|a| a.share))
        .unzip();
    let courses = &snap.courses;
    let listed = (0..courses.ids.len())
        .filter(|&i| courses.meta[i].listed)
        .map(|i| (courses.ids[i].as_str(), courses.meta[i].category.as_str()));
    let (offered, offer_category) = offer_courses(&spec.offer, listed);
    let horizon = snap.marketing.as_ref().map_or(28, |m| m.predictions.horizon_days);
    let c = StoredCampaign {
        id,
        name: spec.name.clone(),
        course_id,
        category,
        audience: serde_json::to_string(&spec.filter).map_err(anyhow::Error::from)?,
        discount_pct: spec.discount_pct,
        control_share: spec.control_share,
        seed: seed as i64,
        model_version: snap.version,
        created_ms: now,
        ends_ms: spec.ends_ms.unwrap_or(now + i64::from(horizon) * 86_400_000),
        offer_category: Some(offer_category),
        idempotency_key: key,
        request_hash: Some(fingerprint.clone()),
        held_out_overlap: 0,
        arms: Some(serde_json::to_string(&spec.arms).map_err(anyhow::Error::from)?),
        targeting: spec.targeting.as_ref().to_string(),
        budget_cents: spec.budget_cents,
    };
    let plan = DrawPlan {
        seed,
        control_share: spec.control_share,
        arm_shares: &shares,
        size: spec.size.unwrap_or(usize::MAX),
        budget: spec.budget_cents.map(|b| (&cost[..], &discounts[..], b as f64)),
    };
    let (members, held_out_overlap) = match app
        .store
        .create_campaign(&c, &offered, &candidates, &plan)
        .await?
    {
        CampaignCreation::Created {
            members,
            held_out_overlap,
        } => (members, held_out_overlap),
        CampaignCreation::Replay(first) => return replay(&app, &first, &fingerprint).await,
        CampaignCreation::Empty => return Err(empty_audience()),
    };
    let control = members.iter().filter(|m| m.control()).count();
    let mut per_arm = vec![0u64; spec.arms.len()];
    for a in members.iter().filter_map(|m| m.arm) {
        per_arm[a] += 1;
    }
    app.metrics.campaigns_created.inc();
    app.metrics
        .campaign_members
        .with_label_values(&["treatment"])
        .inc_by((members.len() - control) as u64);
    app.metrics
        .campaign_members
        .with_label_values(&["control"])
        .inc_by(control as u64);
    Ok((
        StatusCode::CREATED,
        Json(CampaignCreated {
            treatment_size: members.len() - control,
            control_size: control,
            held_out_overlap,
            created_at: time(c.created_ms),
            ends_at: time(c.ends_ms),
            arms: spec
                .arms
                .iter()
                .zip(per_arm)
                .map(|(a, users)| ArmInfo {
                    name: a.name.clone(),
                    discount_pct: a.discount_pct,
                    share: a.share,
                    users,
                })
                .collect(),
            targeting: spec.targeting,
            campaign_id: c.id,
        }),
    )
        .into_response())
}

fn empty_audience() -> ApiError {
    ApiError::invalid("empty_audience", "no learner matches this audience", vec![])
}

/// The `Idempotency-Key` header: absent, or 1 to 255 printable ASCII
/// characters (400 otherwise).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ') => {
            Ok(Some(k.to_string()))
        }
        _ => Err(ApiError::bad_param(
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
        )),
    }
}

/// The answer to a request that repeats `first`'s `Idempotency-Key`: the
/// first campaign when the request is the same, 422 when it is another.
async fn replay(app: &AppState, first: &StoredCampaign, fingerprint: &str) -> Result<Response> {
    if first.request_hash.as_deref() != Some(fingerprint) {
        return Err(ApiError::invalid(
            "idempotency_key_reused",
            format!(
                "this Idempotency-Key created campaign {} with another request",
                first.id
            ),
            vec![],
        ));
    }
    let (arms, control) = arm_infos(app, first).await?;
    let treatment: u64 = arms.iter().map(|a| a.users).sum();
    let mut r = (
        StatusCode::CREATED,
        Json(CampaignCreated {
            campaign_id: first.id.clone(),
            treatment_size: treatment as usize,
            control_size: control as usize,
            held_out_overlap: first.held_out_overlap as usize,
            created_at: time(first.created_ms),
            ends_at: time(first.ends_ms),
            arms,
            targeting: first.targeting.parse().unwrap_or_default(),
        }),
    )
        .into_response();
    r.headers_mut().insert(
        "idempotent-replayed",
        axum::http::HeaderValue::from_static("true"),
    );
    Ok(r)
}

/// Every campaign, newest first.
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "marketing",
    responses((status = 200, description = "All campaigns", body = CampaignList))
)]
async fn list_campaigns(State(app): State<AppState>) -> Result<Json<CampaignList>> {
    let mut campaigns = Vec::new();
    for c in app.store.list_campaigns().await? {
        campaigns.push(campaign_info(&app, &c).await?);
    }
    Ok(Json(CampaignList { campaigns }))
}

async fn load(app: &AppState, id: &str) -> Result<StoredCampaign> {
    app.store.get_campaign(id).await?.ok_or_else(|| not_found(id))
}

const CAMPAIGN_ID: &str = "The campaign id (`cmp_…`)";

/// One campaign.
#[utoipa::path(
    get,
    path = "/campaigns/{id}",
    tag = "marketing",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    responses(
        (status = 200, description = "The campaign", body = CampaignInfo),
        (status = 404, description = "No such campaign (`campaign_not_found`)", body = ErrorBody),
    )
)]
async fn get_campaign(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<CampaignInfo>> {
    let c = load(&app, &id).await?;
    Ok(Json(campaign_info(&app, &c).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RecipientParams {
    /// Page size, 1 to 10,000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// The `next` of the previous page (the list is frozen: a user id).
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct Recipient {
    user_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
struct Recipients {
    campaign_id: String,
    /// By user id.
    users: Vec<Recipient>,
    /// Pass as `after` for the next page; null on the last.
    next: Option<String>,
}

/// The treatment group (never the control), by user id: JSON pages, or
/// the whole list with `Accept: text/csv`.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/recipients",
    tag = "marketing",
    params(("id" = String, Path, description = CAMPAIGN_ID), RecipientParams),
    responses(
        (status = 200, description = "One page (JSON) or all (CSV)",
            content((Recipients = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No such campaign (`campaign_not_found`)", body = ErrorBody),
    )
)]
async fn campaign_recipients(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<RecipientParams>,
    headers: HeaderMap,
) -> Result<Response> {
    let limit = count(p.limit, "limit", 100, 10_000)?;
    let c = load(&app, &id).await?;
    if wants_csv(&headers) {
        let all = app.store.campaign_recipients(&c.id, None, None).await?;
        return Ok(csv_stream("user_id\n", all.into_iter().map(|u| csv_row([u]))));
    }
    let after = p.after.as_deref().filter(|a| !a.is_empty());
    let mut page = app
        .store
        .campaign_recipients(&c.id, after, Some(limit as i64 + 1))
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last().cloned()).flatten();
    Ok(Json(Recipients {
        campaign_id: c.id,
        users: page.into_iter().map(|user_id| Recipient { user_id }).collect(),
        next,
    })
    .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
struct ArmReport {
    /// Members, converted or not.
    users: u64,
    conversions: u64,
    /// conversions / users, 4 decimals.
    rate: f64,
    /// At the prices paid when each conversion happened; net of the
    /// discount for the treatment, cents.
    revenue_cents: i64,
}

impl From<&Arm> for ArmReport {
    fn from(a: &Arm) -> ArmReport {
        ArmReport {
            users: a.users,
            conversions: a.conversions,
            rate: share(a.rate),
            revenue_cents: a.revenue_cents,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct Window {
    from: String,
    to: String,
}

/// The uplift adjusted by CUPED on pre-period purchases.
#[derive(Debug, Serialize, ToSchema)]
struct CupedReport {
    /// What the adjustment used.
    covariate: String,
    /// cov(x, y) / var(x) over all members.
    theta: f64,
    uplift: f64,
    uplift_ci: Option<[f64; 2]>,
    p_value: Option<f64>,
    verdict: Verdict,
    /// 1 − adjusted / plain variance of the uplift, 0..1.
    variance_reduction: f64,
}

impl CupedReport {
    fn new(c: &Cuped, days: i64) -> CupedReport {
        CupedReport {
            covariate: format!("distinct courses bought in the {days} days before the campaign"),
            theta: stat(c.theta),
            uplift: share(c.uplift),
            uplift_ci: c.uplift_ci.map(|[lo, hi]| [share(lo), share(hi)]),
            p_value: c.p_value.map(stat),
            verdict: c.verdict,
            variance_reduction: share(c.variance_reduction),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignReport {
    campaign_id: String,
    window: Window,
    treatment: ArmReport,
    control: ArmReport,
    /// Treatment rate − control rate; null while an arm is empty.
    uplift: Option<f64>,
    /// Always-valid 95 % interval of the uplift (see `test`); null while
    /// the verdict is `insufficient_data`.
    uplift_ci: Option<[f64; 2]>,
    /// Always-valid p-value, 0..1; null while the verdict is
    /// `insufficient_data`.
    p_value: Option<f64>,
    /// `insufficient_data`, `no_detectable_effect`, `positive` or `negative`.
    verdict: Verdict,
    /// The test behind `p_value` and `uplift_ci`: valid however often the
    /// report is read.
    test: &'static str,
    /// Below this many members in either group, or 10 conversions in all,
    /// the verdict is `insufficient_data`.
    minimum_sample_per_arm: u64,
    /// Half the interval's width: the smallest uplift the data could
    /// declare now; null while an arm is empty.
    detectable_uplift: Option<f64>,
    /// uplift / control rate; null while the control has no conversion.
    relative_lift: Option<f64>,
    /// χ² test of the group sizes against `control_share` (sample ratio
    /// mismatch).
    srm_p_value: Option<f64>,
    /// Set when `srm_p_value` < 0.001.
    srm_warning: Option<String>,
    /// Uplift × treatment size, 2 decimals.
    incremental_conversions: f64,
    incremental_revenue_cents: i64,
    discount_cost_cents: i64,
    /// Incremental revenue / discount cost; null without a discount.
    roi: Option<f64>,
    /// With `cuped=true`: the uplift adjusted by pre-period purchases.
    #[serde(skip_serializing_if = "Option::is_none")]
    cuped: Option<CupedReport>,
    /// Each arm against the shared control; p-values and intervals
    /// adjusted for the number of arms (see `p_value_adjustment`).
    arms: Vec<ArmEffect>,
    /// `bonferroni`: each arm's p-value × the number of arms, its
    /// interval at level 0.05 / arms (both always-valid).
    p_value_adjustment: &'static str,
    /// How the audience was ranked: `propensity`, `uplift` or `random`.
    targeting: String,
    /// Cumulative treated against control by decile of the campaign's
    /// targeting order; empty for campaigns created before ranks were kept.
    qini: Vec<QiniPoint>,
    /// Area between the curve and random targeting, incremental
    /// conversions per member; null without ranks.
    qini_coefficient: Option<f64>,
    /// Randomised learners the uplift model still needs, for this kind of
    /// offer, before its Qini and gain over propensity are significant
    /// (0: enough); null when it has not been fitted on this kind or its
    /// estimate is not positive.
    uplift_learners_needed: Option<u64>,
}

/// One arm against control.
#[derive(Debug, Serialize, ToSchema)]
struct ArmEffect {
    name: String,
    discount_pct: Option<f64>,
    users: u64,
    conversions: u64,
    rate: f64,
    /// Net of the arm's discount, cents.
    revenue_cents: i64,
    uplift: Option<f64>,
    uplift_ci: Option<[f64; 2]>,
    /// Adjusted for the number of arms.
    p_value: Option<f64>,
    verdict: Verdict,
    incremental_conversions: f64,
    incremental_revenue_cents: i64,
    discount_cost_cents: i64,
    roi: Option<f64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReportParams {
    /// Also adjust the uplift by CUPED, with the members' purchases in as
    /// many days before the campaign as it lasts as the covariate.
    cuped: Option<bool>,
}

/// Conversions (purchases of the offered courses in the window, net of
/// refunds) in treatment against control, valued at the prices paid then:
/// uplift with its always-valid interval, p-value and verdict, sample
/// ratio check, incremental conversions and revenue, discount cost and
/// return; optionally CUPED. Figures change only when members' events or
/// erasures do, never with later catalog edits.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/report",
    tag = "marketing",
    params(("id" = String, Path, description = CAMPAIGN_ID), ReportParams),
    responses(
        (status = 200, description = "The report", body = CampaignReport),
        (status = 404, description = "No such campaign (`campaign_not_found`)", body = ErrorBody),
    )
)]
async fn campaign_report(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<ReportParams>,
) -> Result<Json<CampaignReport>> {
    let c = load(&app, &id).await?;
    let arms = stored_arms(c.arms.as_deref(), c.discount_pct);
    // One read of the members gives the arm sizes and the Qini ranks.
    let members = app.store.campaign_members(&c.id).await?;
    let mut sizes = vec![0u64; arms.len().max(1)];
    let mut n_c = 0u64;
    for m in &members {
        if m.control {
            n_c += 1;
        } else if let Some(n) = sizes.get_mut(m.arm) {
            *n += 1;
        }
    }
    let inputs: Vec<ArmInput> = arms
        .iter()
        .zip(&sizes)
        .map(|(a, &users)| ArmInput {
            users,
            discount_pct: a.discount_pct.unwrap_or(0.0),
            share: a.share,
        })
        .collect();
    let payments = app.store.campaign_payments(&c.id).await?;
    let length = c.ends_ms - c.created_ms;
    let covariates = match p.cuped {
        Some(true) => Some(
            app.store
                .campaign_pre_period(&c.id, c.created_ms - length, c.created_ms)
                .await?,
        ),
        _ => None,
    };
    let f = figures(&ReportInput {
        arms: &inputs,
        control_users: n_c,
        control_share: c.control_share,
        from_ms: c.created_ms,
        to_ms: c.ends_ms,
        payments: &payments,
        covariates: covariates.as_deref(),
    });
    let (t, k, e) = (&f.treatment, &f.control, &f.effect);
    let (qini, qini_coefficient) = qini_of(&members, &f.converted);
    let offer_kind = if c.course_id.is_some() {
        "course"
    } else {
        "category"
    };
    let uplift_learners_needed = app.live.snapshot().and_then(|s| {
        let report = s.marketing.as_deref()?.uplift_report.clone()?;
        report
            .by_offer_kind
            .into_iter()
            .find(|k| k.offer_kind == offer_kind)?
            .learners_needed
    });
    let m = &app.metrics;
    if c.ends_ms > now_ms() {
        m.campaign_conversions
            .with_label_values(&[&c.id, "treatment"])
            .set(t.conversions as i64);
        m.campaign_conversions
            .with_label_values(&[&c.id, "control"])
            .set(k.conversions as i64);
        m.campaign_uplift
            .with_label_values(&[&c.id])
            .set(e.uplift.unwrap_or(0.0));
    } else {
        // Series only for running campaigns: an ended one's go, so the
        // label set does not grow with every campaign ever run.
        for arm in ["treatment", "control"] {
            let _ = m.campaign_conversions.remove_label_values(&[&c.id, arm]);
        }
        let _ = m.campaign_uplift.remove_label_values(&[&c.id]);
    }
    Ok(Json(CampaignReport {
        campaign_id: c.id.clone(),
        window: Window {
            from: time(c.created_ms),
            to: time(c.ends_ms),
        },
        treatment: t.into(),
        control: k.into(),
        uplift: e.uplift.map(share),
        uplift_ci: e.uplift_ci.map(|[lo, hi]| [share(lo), share(hi)]),
        p_value: e.p_value.map(stat),
        verdict: e.verdict,
        test: TEST_NAME,
        minimum_sample_per_arm: MIN_UNITS_PER_ARM,
        detectable_uplift: e.detectable_uplift.map(share),
        relative_lift: e.relative_lift.map(stat),
        srm_p_value: f.srm_p_value.map(stat),
        srm_warning: srm_warning(f.srm_p_value),
        incremental_conversions: (e.incremental_conversions * 100.0).round() / 100.0,
        incremental_revenue_cents: e.incremental_revenue_cents,
        discount_cost_cents: e.discount_cost_cents,
        roi: e.roi.map(stat),
        cuped: f.cuped.as_ref().map(|x| CupedReport::new(x, length / 86_400_000)),
        arms: arms
            .iter()
            .zip(&f.arms)
            .map(|(a, x)| ArmEffect {
                name: a.name.clone(),
                discount_pct: a.discount_pct,
                users: x.arm.users,
                conversions: x.arm.conversions,
                rate: share(x.arm.rate),
                revenue_cents: x.arm.revenue_cents,
                uplift: x.effect.uplift.map(share),
                uplift_ci: x.effect.uplift_ci.map(|[lo, hi]| [share(lo), share(hi)]),
                p_value: x.effect.p_value.map(stat),
                verdict: x.effect.verdict,
                incremental_conversions: (x.effect.incremental_conversions * 100.0).round() / 100.0,
                incremental_revenue_cents: x.effect.incremental_revenue_cents,
                discount_cost_cents: x.effect.discount_cost_cents,
                roi: x.effect.roi.map(stat),
            })
            .collect(),
        p_value_adjustment: "bonferroni",
        targeting: c.targeting.clone(),
        qini,
        qini_coefficient: qini_coefficient.map(stat),
        uplift_learners_needed,
    }))
}

/// The Qini curve by decile of the members' targeting ranks, and its
/// coefficient; empty when a member has no rank (created before ranks).
fn qini_of(members: &[StoredMember], converted: &HashSet<String>) -> (Vec<QiniPoint>, Option<f64>) {
    let mut ranked: Vec<(u32, Unit)> = Vec::with_capacity(members.len());
    for m in members {
        let Some(rank) = m.rank else {
            return (Vec::new(), None);
        };
        let unit = Unit {
            treated: !m.control,
            converted: converted.contains(&m.user),
        };
        ranked.push((rank, unit));
    }
    ranked.sort_by_key(|r| r.0);
    let units: Vec<Unit> = ranked.into_iter().map(|r| r.1).collect();
    let order: Vec<u32> = (0..units.len() as u32).collect();
    if units.is_empty() {
        return (Vec::new(), None);
    }
    (
        deciles(&units, &order),
        Some(coefficient(&units, &order, |_| 1.0)),
    )
}
