//! `GET /audiences`: learners ranked by expected value for an offer, with
//! the owners of the offer left out; JSON pages or a streamed CSV.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::recommend::param_count;
use super::AppState;
use crate::error::{ApiError, Json, Result};
use crate::marketing::audience::{Filter, MarketingModel, Member, Offer};
use crate::marketing::rfm::RfmGroup;
use crate::serve::snapshot::ModelSnapshot;

pub fn router() -> Router<AppState> {
    Router::new().route("/audiences", get(get_audiences))
}

/// An audience: what is offered and who may receive it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct AudienceSpec {
    pub course_id: Option<String>,
    pub category: Option<String>,
    pub filter: Filter,
}

pub(crate) fn not_ready() -> ApiError {
    ApiError::Unavailable {
        code: "model_not_ready",
        message: "no model with predictions has been trained yet".into(),
    }
}

fn number<T: std::str::FromStr>(
    p: &HashMap<String, String>,
    key: &str,
    ok: impl Fn(&T) -> bool,
) -> Result<Option<T>> {
    match p.get(key) {
        None => Ok(None),
        Some(s) => s
            .parse::<T>()
            .ok()
            .filter(ok)
            .map(Some)
            .ok_or_else(|| ApiError::bad_param(format!("{key} is out of range or not a number"))),
    }
}

impl AudienceSpec {
    /// From the query string; 400 `invalid_parameter` on a bad value.
    fn parse(p: &HashMap<String, String>) -> Result<AudienceSpec> {
        let prob = |x: &f64| (0.0..=1.0).contains(x);
        let rfm = match p.get("rfm") {
            None => None,
            Some(s) => Some(
                s.split(',')
                    .map(|g| {
                        RfmGroup::parse(g.trim())
                            .ok_or_else(|| ApiError::bad_param(format!("unknown rfm group {g:?}")))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let spec = AudienceSpec {
            course_id: p.get("course_id").cloned(),
            category: p.get("category").cloned(),
            filter: Filter {
                segment: number(p, "segment", |_: &u32| true)?,
                rfm,
                min_purchase_probability: number(p, "min_purchase_probability", prob)?,
                min_churn_probability: number(p, "min_churn_probability", prob)?,
                active_days: number(p, "active_days", |d: &u32| (1..=3650).contains(d))?,
                inactive_days: number(p, "inactive_days", |d: &u32| (1..=3650).contains(d))?,
            },
        };
        if spec.course_id.is_some() && spec.category.is_some() {
            return Err(ApiError::bad_param("give course_id or category, not both"));
        }
        Ok(spec)
    }
}

/// The ranked audience against the serving snapshot.
pub(crate) async fn rank(app: &AppState, spec: &AudienceSpec) -> Result<(Arc<ModelSnapshot>, Vec<Member>)> {
    let snap = app.live.snapshot().ok_or_else(not_ready)?;
    let mk: &MarketingModel = snap.marketing.as_deref().ok_or_else(not_ready)?;
    let courses = &snap.courses;
    let mut course_ix = None;
    let offer = match (&spec.course_id, &spec.category) {
        (Some(id), _) => {
            let Some(&ci) = courses
                .index
                .get(id)
                .filter(|&&i| courses.meta[i as usize].listed)
            else {
                return Err(ApiError::not_found(
                    "course_not_found",
                    format!("no course {id:?}"),
                ));
            };
            course_ix = Some(ci);
            Offer::Course {
                factor: courses.factors.row(ci as usize),
                price_cents: courses.meta[ci as usize].price_cents,
            }
        }
        (None, Some(cat)) => {
            let index = mk.categories.binary_search(cat).ok().filter(|_| !cat.is_empty());
            let prices: Vec<i64> = courses
                .meta
                .iter()
                .filter(|m| &m.category == cat && m.servable())
                .map(|m| m.price_cents)
                .collect();
            let (Some(index), false) = (index, prices.is_empty()) else {
                return Err(ApiError::not_found(
                    "category_not_found",
                    format!("no course on sale in category {cat:?}"),
                ));
            };
            let mean_price_cents = prices.iter().sum::<i64>() as f64 / prices.len() as f64;
            Offer::Category {
                index,
                mean_price_cents,
            }
        }
        (None, None) => Offer::Any,
    };
    let segs = snap.segments.as_deref();
    if let Some(id) = spec.filter.segment {
        if segs.and_then(|s| s.segment(id)).is_none() {
            return Err(ApiError::not_found(
                "segment_not_found",
                format!("no segment {id}"),
            ));
        }
    }
    // Owners: taken in the snapshot, unless purchases, refunds or ratings
    // since then say otherwise (ownership in time order).
    let taken_now: HashMap<String, bool> = match &spec.course_id {
        Some(id) => app.store.taken_changes_after(id, snap.trained_seq).await?,
        None => HashMap::new(),
    };
    let erased = app.live.erased_users();
    let users = &snap.users;
    let excluded = |u: u32| {
        let id = &users.ids[u as usize];
        let taken_then = || course_ix.is_some_and(|ci| users.taken_row(u).binary_search(&ci).is_ok());
        taken_now.get(id).copied().unwrap_or_else(taken_then) || erased.contains(id)
    };
    let members = mk.rank(
        &users.factors,
        segs.map(|s| s.assignment.as_slice()),
        &offer,
        &spec.filter,
        excluded,
    );
    Ok((snap.clone(), members))
}

fn member_json(snap: &ModelSnapshot, m: &Member) -> Value {
    let mk = snap.marketing.as_deref().expect("ranked with predictions");
    let u = m.user as usize;
    json!({
        "user_id": snap.users.ids[u],
        "purchase_probability": m.purchase,
        "churn_probability": m.churn,
        "expected_value_cents": m.value_cents.round() as i64,
        "segment_id": snap.segments.as_ref().and_then(|s| s.assignment.get(u)),
        "rfm_group": mk.predictions.rfm[u].group,
    })
}

fn csv_line(snap: &ModelSnapshot, m: &Member) -> String {
    let v = member_json(snap, m);
    let opt = |x: &Value| if x.is_null() { String::new() } else { x.to_string() };
    format!(
        "{},{},{},{},{},{}\n",
        super::segments::csv_field(&snap.users.ids[m.user as usize]),
        v["purchase_probability"],
        opt(&v["churn_probability"]),
        v["expected_value_cents"],
        opt(&v["segment_id"]),
        v["rfm_group"].as_str().unwrap_or_default(),
    )
}

pub(crate) fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"))
}

async fn get_audiences(
    State(app): State<AppState>,
    Query(p): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response> {
    let spec = AudienceSpec::parse(&p)?;
    let limit = param_count(&p, "limit", 100, 10_000)?;
    let (snap, members) = rank(&app, &spec).await?;
    if wants_csv(&headers) {
        // Rendered a thousand rows at a time as the client reads.
        let header =
            "user_id,purchase_probability,churn_probability,expected_value_cents,segment_id,rfm_group\n";
        let chunks = (0..members.len().div_ceil(1000)).map(move |i| {
            let part = &members[i * 1000..((i + 1) * 1000).min(members.len())];
            Ok::<_, std::io::Error>(part.iter().map(|m| csv_line(&snap, m)).collect::<String>())
        });
        let body = Body::from_stream(futures::stream::iter(
            std::iter::once(Ok(header.to_string())).chain(chunks),
        ));
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    let start = match p.get("after") {
        None => 0,
        Some(after) => {
            let ids = &snap.users.ids;
            members
                .iter()
                .position(|m| &ids[m.user as usize] == after)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    ApiError::bad_param("after is not in this audience (has the model changed?)")
                })?
        }
    };
    let page = &members[start..(start + limit).min(members.len())];
    let next = (start + page.len() < members.len())
        .then(|| page.last().map(|m| snap.users.ids[m.user as usize].clone()))
        .flatten();
    Ok(Json(json!({
        "size": members.len(),
        "expected_conversions": members.iter().map(|m| m.purchase).sum::<f64>(),
        "expected_revenue_cents": members.iter().map(|m| m.value_cents).sum::<f64>().round() as i64,
        "users": page.iter().map(|m| member_json(&snap, m)).collect::<Vec<_>>(),
        "next": next,
        "model_version": snap.version,
    }))
    .into_response())
}
