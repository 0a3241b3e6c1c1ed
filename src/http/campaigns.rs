//! Campaigns: `POST /campaigns` freezes an audience and draws its control
//! group; recipients (treatment only) and the uplift report.

use std::collections::{HashMap, HashSet};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audiences::csv_stream;
use super::extract::{csv_field, wants_csv, Query};
use super::recommend::count;
use super::wire::{share, stat, time};
use super::AppState;
use crate::domain::now_ms;
use crate::error::{ApiError, ErrorBody, FieldError, Json, Result};
use crate::marketing::audience::Filter;
use crate::marketing::campaign::{converted_at, discounted, effect, in_control, Arm};
use crate::model::ownership::{Payment, PaymentEvent};
use crate::serve::audience::{rank, AudienceSpec};
use crate::store::StoredCampaign;

pub fn read_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(recipients))
        .routes(routes!(report))
}

pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
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
    /// The `/audiences` filters.
    #[serde(default)]
    audience: Filter,
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
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignCreated {
    campaign_id: String,
    treatment_size: usize,
    control_size: usize,
    created_at: String,
    ends_at: String,
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
}

#[derive(Debug, Serialize, ToSchema)]
struct CampaignList {
    campaigns: Vec<CampaignInfo>,
}

/// Per (member, course): in control, the course's price, its payments.
type PairPayments = (bool, i64, Vec<PaymentEvent>);

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("campaign_not_found", format!("no campaign {id:?}"))
}

async fn campaign_info(app: &AppState, c: &StoredCampaign) -> Result<CampaignInfo> {
    let (treatment, control) = app.store.campaign_sizes(&c.id).await?;
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
        treatment_size: treatment,
        control_size: control,
    })
}

/// Create a campaign: the audience is ranked and frozen now, and a control
/// group drawn by a seeded hash is held out (never exported).
#[utoipa::path(
    post,
    path = "/campaigns",
    tag = "marketing",
    request_body = CampaignBody,
    responses(
        (status = 201, description = "Created", body = CampaignCreated),
        (status = 404, description = "No such course, category or segment", body = ErrorBody),
        (status = 422, description = "Invalid campaign (`invalid_campaign`) or nobody matches (`empty_audience`)", body = ErrorBody),
    )
)]
async fn create(
    State(app): State<AppState>,
    Json(b): Json<CampaignBody>,
) -> Result<(StatusCode, Json<CampaignCreated>)> {
    let now = now_ms();
    let mut errs = Vec::new();
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        errs.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    if b.course_id.is_some() == b.category.is_some() {
        errs.push(FieldError::new(
            "course_id",
            "give exactly one of course_id and category",
        ));
    }
    let share = b.control_share.unwrap_or(0.1);
    if !(share > 0.0 && share < 1.0) {
        errs.push(FieldError::new("control_share", "must be above 0 and below 1"));
    }
    if b.discount_pct.is_some_and(|d| !(0.0..=100.0).contains(&d)) {
        errs.push(FieldError::new("discount_pct", "must be from 0 to 100"));
    }
    if b.size == Some(0) {
        errs.push(FieldError::new("size", "must be at least 1"));
    }
    let prob = |x: Option<f64>| x.is_some_and(|p| !(0.0..=1.0).contains(&p));
    if prob(b.audience.min_purchase_probability) || prob(b.audience.min_churn_probability) {
        errs.push(FieldError::new("audience", "probabilities must be from 0 to 1"));
    }
    let ends_ms = match &b.ends_at {
        None => None,
        Some(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.timestamp_millis() > now => Some(t.timestamp_millis()),
            _ => {
                errs.push(FieldError::new(
                    "ends_at",
                    "must be an RFC 3339 time in the future",
                ));
                None
            }
        },
    };
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            "invalid_campaign",
            "the campaign is invalid",
            errs,
        ));
    }
    let spec = AudienceSpec {
        course_id: b.course_id.clone(),
        category: b.category.clone(),
        filter: b.audience.clone(),
    };
    let (snap, mut members) = rank(&app.live, &app.store, &spec).await?;
    members.truncate(b.size.unwrap_or(usize::MAX));
    if members.is_empty() {
        return Err(ApiError::invalid(
            "empty_audience",
            "no learner matches this audience",
            vec![],
        ));
    }
    let horizon = snap.marketing.as_ref().map_or(28, |m| m.predictions.horizon_days);
    let id = format!("cmp_{}", uuid::Uuid::now_v7().simple());
    let seed = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
    let list: Vec<(String, bool)> = members
        .iter()
        .map(|m| {
            let u = &snap.users.ids[m.user as usize];
            (u.clone(), in_control(seed, u, share))
        })
        .collect();
    let c = StoredCampaign {
        id,
        name,
        course_id: b.course_id,
        category: b.category,
        audience: serde_json::to_string(&b.audience).map_err(anyhow::Error::from)?,
        discount_pct: b.discount_pct,
        control_share: share,
        seed: seed as i64,
        model_version: snap.version,
        created_ms: now,
        ends_ms: ends_ms.unwrap_or(now + i64::from(horizon) * 86_400_000),
    };
    app.store.create_campaign(&c, &list).await?;
    let control = list.iter().filter(|m| m.1).count();
    app.metrics.campaigns_created.inc();
    app.metrics
        .campaign_members
        .with_label_values(&["treatment"])
        .inc_by((list.len() - control) as u64);
    app.metrics
        .campaign_members
        .with_label_values(&["control"])
        .inc_by(control as u64);
    Ok((
        StatusCode::CREATED,
        Json(CampaignCreated {
            treatment_size: list.len() - control,
            control_size: control,
            created_at: time(c.created_ms),
            ends_at: time(c.ends_ms),
            campaign_id: c.id,
        }),
    ))
}

/// Every campaign, newest first.
#[utoipa::path(
    get,
    path = "/campaigns",
    tag = "marketing",
    responses((status = 200, description = "All campaigns", body = CampaignList))
)]
async fn list(State(app): State<AppState>) -> Result<Json<CampaignList>> {
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
async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<CampaignInfo>> {
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
async fn recipients(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<RecipientParams>,
    headers: HeaderMap,
) -> Result<Response> {
    let limit = count(p.limit, "limit", 100, 10_000)?;
    let c = load(&app, &id).await?;
    if wants_csv(&headers) {
        let all = app.store.campaign_recipients(&c.id, None, None).await?;
        return Ok(csv_stream(
            "user_id\n",
            all.into_iter().map(|u| csv_field(&u) + "\n"),
        ));
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
    /// Net of the discount for the treatment, cents.
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

#[derive(Debug, Serialize, ToSchema)]
struct CampaignReport {
    campaign_id: String,
    window: Window,
    treatment: ArmReport,
    control: ArmReport,
    /// Treatment rate − control rate; null while an arm is empty.
    uplift: Option<f64>,
    /// 95 % Wald interval of the uplift.
    uplift_ci: Option<[f64; 2]>,
    p_value: Option<f64>,
    /// Uplift × treatment size, 2 decimals.
    incremental_conversions: f64,
    incremental_revenue_cents: i64,
    discount_cost_cents: i64,
    /// Incremental revenue / discount cost; null without a discount.
    roi: Option<f64>,
}

/// Conversions (purchases of the offer in the window, net of refunds) in
/// treatment against control: uplift with its interval and p-value,
/// incremental conversions and revenue, discount cost and return.
#[utoipa::path(
    get,
    path = "/campaigns/{id}/report",
    tag = "marketing",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    responses(
        (status = 200, description = "The report", body = CampaignReport),
        (status = 404, description = "No such campaign (`campaign_not_found`)", body = ErrorBody),
    )
)]
async fn report(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<CampaignReport>> {
    let c = load(&app, &id).await?;
    let (n_t, n_c) = app.store.campaign_sizes(&c.id).await?;
    let rows = app.store.campaign_payments(&c).await?;
    // Per (member, course): every payment, before the start too;
    // `converted_at` decides by the shared ownership rule as of the start.
    let mut pairs: HashMap<(&str, &str), PairPayments> = HashMap::new();
    for (user, control, course, kind, ts, price) in &rows {
        let kind = match kind.as_str() {
            "purchase" => Payment::Purchase,
            "refund" => Payment::Refund,
            _ => continue,
        };
        let e = pairs
            .entry((user, course))
            .or_insert((*control, *price, Vec::new()));
        e.2.push(PaymentEvent { ts_ms: *ts, kind });
    }
    let discount = c.discount_pct.unwrap_or(0.0);
    let (mut conv, mut revenue, mut cost) = ([HashSet::new(), HashSet::new()], [0i64, 0i64], 0i64);
    for ((user, _), (control, price, events)) in &pairs {
        if converted_at(events, c.created_ms, c.ends_ms).is_none() {
            continue;
        }
        let arm = usize::from(*control);
        conv[arm].insert(*user);
        if *control {
            revenue[1] += price;
        } else {
            let paid = discounted(*price, discount);
            revenue[0] += paid;
            cost += price - paid;
        }
    }
    let t = Arm::new(n_t as u64, conv[0].len() as u64, revenue[0]);
    let k = Arm::new(n_c as u64, conv[1].len() as u64, revenue[1]);
    let e = effect(&t, &k, cost);
    let m = &app.metrics;
    m.campaign_conversions
        .with_label_values(&[&c.id, "treatment"])
        .set(t.conversions as i64);
    m.campaign_conversions
        .with_label_values(&[&c.id, "control"])
        .set(k.conversions as i64);
    m.campaign_uplift
        .with_label_values(&[&c.id])
        .set(e.uplift.unwrap_or(0.0));
    Ok(Json(CampaignReport {
        campaign_id: c.id.clone(),
        window: Window {
            from: time(c.created_ms),
            to: time(c.ends_ms),
        },
        treatment: (&t).into(),
        control: (&k).into(),
        uplift: e.uplift.map(share),
        uplift_ci: e.uplift_ci.map(|[lo, hi]| [share(lo), share(hi)]),
        p_value: e.p_value.map(stat),
        incremental_conversions: (e.incremental_conversions * 100.0).round() / 100.0,
        incremental_revenue_cents: e.incremental_revenue_cents,
        discount_cost_cents: e.discount_cost_cents,
        roi: e.roi.map(stat),
    }))
}
