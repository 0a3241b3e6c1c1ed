//! Campaigns: `POST /campaigns` freezes an audience and draws its control
//! group; recipients (treatment only) and the uplift report.

use std::collections::{HashMap, HashSet};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use super::audiences::{rank, wants_csv, AudienceSpec};
use super::recommend::{param_count, rfc3339};
use super::AppState;
use crate::error::{ApiError, FieldError, Json, Result};
use crate::marketing::audience::Filter;
use crate::marketing::campaign::{converted_at, discounted, effect, in_control, Arm};
use crate::model::ownership::{Payment, PaymentEvent};
use crate::store::{now_ms, StoredCampaign};

pub fn read_router() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list))
        .route("/campaigns/{id}", get(get_one))
        .route("/campaigns/{id}/recipients", get(recipients))
        .route("/campaigns/{id}/report", get(report))
}

pub fn admin_router() -> Router<AppState> {
    Router::new().route("/campaigns", axum::routing::post(create))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    name: String,
    course_id: Option<String>,
    category: Option<String>,
    #[serde(default)]
    audience: Filter,
    size: Option<usize>,
    control_share: Option<f64>,
    discount_pct: Option<f64>,
    ends_at: Option<String>,
}

/// Per (member, course): in control, the course's price, its payments.
type PairPayments = (bool, i64, Vec<PaymentEvent>);

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("campaign_not_found", format!("no campaign {id:?}"))
}

async fn campaign_json(app: &AppState, c: &StoredCampaign) -> Result<Value> {
    let (treatment, control) = app.store.campaign_sizes(&c.id).await?;
    Ok(json!({
        "campaign_id": c.id, "name": c.name, "course_id": c.course_id, "category": c.category,
        "audience": serde_json::from_str::<Value>(&c.audience).unwrap_or(Value::Null),
        "discount_pct": c.discount_pct, "control_share": c.control_share, "model_version": c.model_version,
        "created_at": rfc3339(c.created_ms), "ends_at": rfc3339(c.ends_ms),
        "treatment_size": treatment, "control_size": control,
    }))
}

async fn create(
    State(app): State<AppState>,
    Json(b): Json<CampaignBody>,
) -> Result<(StatusCode, Json<Value>)> {
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
    let (snap, mut members) = rank(&app, &spec).await?;
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
        Json(json!({
            "campaign_id": c.id, "treatment_size": list.len() - control, "control_size": control,
            "created_at": rfc3339(c.created_ms), "ends_at": rfc3339(c.ends_ms),
        })),
    ))
}

async fn list(State(app): State<AppState>) -> Result<Json<Value>> {
    let mut out = Vec::new();
    for c in app.store.list_campaigns().await? {
        out.push(campaign_json(&app, &c).await?);
    }
    Ok(Json(json!({ "campaigns": out })))
}

async fn load(app: &AppState, id: &str) -> Result<StoredCampaign> {
    app.store.get_campaign(id).await?.ok_or_else(|| not_found(id))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let c = load(&app, &id).await?;
    Ok(Json(campaign_json(&app, &c).await?))
}

async fn recipients(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response> {
    let c = load(&app, &id).await?;
    if wants_csv(&headers) {
        let all = app.store.campaign_recipients(&c.id, None, None).await?;
        let chunks: Vec<Result<String, std::io::Error>> = std::iter::once(Ok("user_id\n".to_string()))
            .chain(
                all.chunks(1000)
                    .map(|c| Ok(c.iter().map(|u| super::segments::csv_field(u) + "\n").collect())),
            )
            .collect();
        let body = Body::from_stream(futures::stream::iter(chunks));
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    let limit = param_count(&p, "limit", 100, 10_000)?;
    let mut page = app
        .store
        .campaign_recipients(&c.id, p.get("after").map(String::as_str), Some(limit as i64 + 1))
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last().cloned()).flatten();
    let users: Vec<Value> = page.iter().map(|u| json!({ "user_id": u })).collect();
    Ok(Json(json!({ "campaign_id": c.id, "users": users, "next": next })).into_response())
}

async fn report(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
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
    Ok(Json(json!({
        "campaign_id": c.id,
        "window": { "from": rfc3339(c.created_ms), "to": rfc3339(c.ends_ms) },
        "treatment": t, "control": k,
        "uplift": e.uplift, "uplift_ci": e.uplift_ci, "p_value": e.p_value,
        "incremental_conversions": e.incremental_conversions,
        "incremental_revenue_cents": e.incremental_revenue_cents,
        "discount_cost_cents": e.discount_cost_cents, "roi": e.roi,
    })))
}
