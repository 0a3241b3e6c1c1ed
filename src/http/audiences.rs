//! `GET /audiences`: learners ranked by expected value for an offer, with
//! the owners of the offer left out; JSON pages or a streamed CSV.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{csv_row, wants_csv, Cursor, Query};
use super::recommend::count;
use super::wire::share;
use super::AppState;
use crate::error::{ApiError, ErrorBody, Json, Result};
use crate::marketing::audience::{Filter, Member, Ranking};
use crate::marketing::rfm::RfmGroup;
use crate::marketing::uplift::ResponseGroup;
use crate::serve::audience::{ranked, AudienceError, AudienceSpec};
use crate::serve::snapshot::ModelSnapshot;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_audiences))
}

impl From<AudienceError> for ApiError {
    fn from(e: AudienceError) -> ApiError {
        let message = e.to_string();
        match e {
            AudienceError::NotReady => ApiError::Unavailable {
                code: "model_not_ready",
                message,
            },
            AudienceError::CourseNotFound(_) => ApiError::not_found("course_not_found", message),
            AudienceError::CategoryNotFound(_) => ApiError::not_found("category_not_found", message),
            AudienceError::SegmentNotFound(_) => ApiError::not_found("segment_not_found", message),
            AudienceError::Store(e) => ApiError::Store(e),
            AudienceError::Failed(m) => ApiError::Internal(anyhow::anyhow!(m)),
            AudienceError::UpliftNeedsOffer => ApiError::bad_param(message),
            AudienceError::UpliftNotReady(_) => ApiError::Conflict {
                code: "uplift_model_not_ready",
                message,
            },
        }
    }
}

/// The `/audiences` query; the same filters as a campaign's `audience`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AudienceParams {
    /// Offer one course: probabilities are of buying it; its owners are left out.
    course_id: Option<String>,
    /// Offer any course of a category (not with `course_id`), matched
    /// whatever its case, as every route does.
    category: Option<String>,
    /// Only this taste segment.
    segment: Option<u32>,
    /// Only these RFM groups (repeat the key, or comma-separate).
    #[serde(default)]
    #[param(value_type = Vec<RfmGroup>)]
    rfm: Vec<String>,
    /// 0..1.
    #[param(minimum = 0.0, maximum = 1.0)]
    min_purchase_probability: Option<f64>,
    /// 0..1.
    #[param(minimum = 0.0, maximum = 1.0)]
    min_churn_probability: Option<f64>,
    /// Active within the last N days, 1 to 3650.
    #[param(minimum = 1, maximum = 3650)]
    active_days: Option<u32>,
    /// Not active within the last N days, 1 to 3650.
    #[param(minimum = 1, maximum = 3650)]
    inactive_days: Option<u32>,
    /// `expected_value` (default: P(buying) × price) or `uplift` (the
    /// expected incremental value of the offer, from the uplift model).
    #[param(inline)]
    rank_by: Option<RankBy>,
    /// The offer's discount, percent 0 to 100, that uplift is predicted
    /// at (default: the mean discount the uplift model learned from).
    #[param(minimum = 0.0, maximum = 100.0)]
    discount_pct: Option<f64>,
    /// Keep only the best `size` learners, as a campaign of that size
    /// would: `size` and the expected figures are theirs.
    #[param(minimum = 1)]
    size: Option<usize>,
    /// Page size, 1 to 10,000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// The `next` of the previous page: pages are slices of one ranking per
    /// model version, so a cursor keeps its place when the learner it names
    /// drops out (buys, is erased). A cursor from an earlier model is
    /// refused with 409 `stale_cursor`.
    after: Option<String>,
}

/// How `/audiences` ranks.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    ExpectedValue,
    Uplift,
}

impl AudienceParams {
    /// The audience it describes; 400 `invalid_parameter` on a bad value.
    /// `default_discount_pct`: the uplift model's mean discount.
    fn spec(&self, default_discount_pct: f64) -> Result<AudienceSpec> {
        if self.discount_pct.is_some_and(|d| !(0.0..=100.0).contains(&d)) {
            return Err(ApiError::bad_param("discount_pct must be from 0 to 100"));
        }
        if self.size == Some(0) {
            return Err(ApiError::bad_param("size must be at least 1"));
        }
        let prob = |x: Option<f64>, name: &str| match x {
            Some(p) if !(0.0..=1.0).contains(&p) => {
                Err(ApiError::bad_param(format!("{name} must be from 0 to 1")))
            }
            _ => Ok(x),
        };
        let days = |x: Option<u32>, name: &str| match x {
            Some(d) if !(1..=3650).contains(&d) => {
                Err(ApiError::bad_param(format!("{name} must be from 1 to 3650")))
            }
            _ => Ok(x),
        };
        let groups: Vec<RfmGroup> = self
            .rfm
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|g| !g.trim().is_empty())
            .map(|g| {
                RfmGroup::parse(g.trim())
                    .ok_or_else(|| ApiError::bad_param(format!("unknown rfm group {g:?}")))
            })
            .collect::<Result<_>>()?;
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let spec = AudienceSpec {
            course_id: nonempty(&self.course_id),
            category: nonempty(&self.category),
            filter: Filter {
                segment: self.segment,
                rfm: (!groups.is_empty()).then_some(groups),
                min_purchase_probability: prob(self.min_purchase_probability, "min_purchase_probability")?,
                min_churn_probability: prob(self.min_churn_probability, "min_churn_probability")?,
                active_days: days(self.active_days, "active_days")?,
                inactive_days: days(self.inactive_days, "inactive_days")?,
            },
            ranking: match self.rank_by {
                Some(RankBy::Uplift) => Ranking::Uplift,
                _ => Ranking::ExpectedValue,
            },
            discount: self.discount_pct.unwrap_or(default_discount_pct) / 100.0,
        };
        if spec.course_id.is_some() && spec.category.is_some() {
            return Err(ApiError::bad_param("give course_id or category, not both"));
        }
        Ok(spec)
    }
}

/// One learner of an audience.
#[derive(Debug, Serialize, ToSchema)]
pub struct AudienceMember {
    pub user_id: String,
    /// P(buying the offer within the horizon), 0..1, 4 decimals.
    pub purchase_probability: f64,
    /// P(no activity within the horizon); null when not recently active.
    pub churn_probability: Option<f64>,
    /// purchase_probability × the offer's price, cents.
    pub expected_value_cents: i64,
    pub segment_id: Option<u32>,
    pub rfm_group: RfmGroup,
    /// Expected incremental purchase probability from the offer at the
    /// discount, −1..1, 4 decimals; absent without an uplift model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplift: Option<f64>,
    /// The learner's response type to the offer; absent without an uplift model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_group: Option<ResponseGroup>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Audience {
    /// Learners in the whole audience.
    pub size: usize,
    /// Sum of purchase probabilities over the whole audience, 2 decimals.
    pub expected_conversions: f64,
    pub expected_revenue_cents: i64,
    /// `expected_value` or `uplift`.
    pub rank_by: &'static str,
    /// The discount uplift was predicted at, percent.
    pub discount_pct: f64,
    /// Sum of uplifts over the whole audience (conversions the offer
    /// would add), 2 decimals; null without an uplift model.
    pub expected_incremental_conversions: Option<f64>,
    /// Expected discount given away over the whole audience (price ×
    /// discount × P(buying when offered)), cents; null without an uplift model.
    pub expected_discount_cost_cents: Option<i64>,
    /// This page, best first.
    pub users: Vec<AudienceMember>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
    pub model_version: i64,
}

fn member(snap: &ModelSnapshot, m: &Member) -> AudienceMember {
    let cols = snap.users.marketing.as_ref().expect("ranked with predictions");
    let u = m.user as usize;
    let model = snap.marketing.as_deref().and_then(|mk| mk.uplift.as_ref());
    AudienceMember {
        user_id: snap.users.ids[u].clone(),
        purchase_probability: share(m.purchase),
        churn_probability: m.churn.map(share),
        expected_value_cents: (m.purchase * m.price_cents).round() as i64,
        segment_id: snap.users.segment_of(m.user),
        rfm_group: cols.scores.rfm[u].group,
        uplift: m.response.map(|r| share(r.uplift)),
        response_group: model.zip(m.response).map(|(model, r)| model.group(&r)),
    }
}

const CSV_HEADER: &str =
    "user_id,purchase_probability,churn_probability,expected_value_cents,segment_id,rfm_group,uplift,response_group\n";

fn csv_line(m: &AudienceMember) -> String {
    let opt = |x: Option<String>| x.unwrap_or_default();
    csv_row([
        m.user_id.clone(),
        m.purchase_probability.to_string(),
        opt(m.churn_probability.map(|c| c.to_string())),
        m.expected_value_cents.to_string(),
        opt(m.segment_id.map(|s| s.to_string())),
        m.rfm_group.as_str().to_string(),
        opt(m.uplift.map(|u| u.to_string())),
        opt(m.response_group.map(|g| {
            serde_json::to_value(g)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })),
    ])
}

/// The discount uplift is predicted at when none is asked: the serving
/// uplift model's mean, percent (0 without a model).
pub fn default_discount_pct(app: &AppState) -> f64 {
    app.live
        .snapshot()
        .and_then(|s| {
            s.marketing
                .as_deref()
                .and_then(|m| m.uplift.as_ref())
                .map(|u| u.mean_discount_pct)
        })
        .unwrap_or(0.0)
}

/// A response that streams rows a thousand at a time as the client reads.
pub fn csv_stream(
    header_line: &'static str,
    rows: impl Iterator<Item = String> + Send + 'static,
) -> Response {
    let mut rows = rows.peekable();
    let chunks = std::iter::once(header_line.to_string()).chain(std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(1000).collect::<String>())
    }));
    let body = Body::from_stream(futures::stream::iter(chunks.map(Ok::<_, std::io::Error>)));
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// Learners ranked for an offer by expected value, or by uplift.
///
/// With `course_id`, `purchase_probability` is the probability of buying
/// that course in the horizon; with `category`, any course of it; with
/// neither, anything. Owners of the offered course are left out. With
/// `rank_by=uplift` (an offer required), learners are ranked by the
/// expected incremental value of the offer at `discount_pct` and carry
/// `uplift` and `response_group`.
/// `Accept: text/csv` streams the whole audience.
#[utoipa::path(
    get,
    path = "/audiences",
    tag = "marketing",
    params(AudienceParams),
    responses(
        (status = 200, description = "One page (JSON) or the whole audience (CSV)",
            content((Audience = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A bad parameter, or rank_by=uplift without an offer (`invalid_parameter`)", body = ErrorBody),
        (status = 404, description = "No such course, category or segment (`course_not_found`, `category_not_found`, `segment_not_found`)", body = ErrorBody),
        (status = 409, description = "The cursor belongs to an earlier model (`stale_cursor`), or rank_by=uplift \
            before an uplift model serves (`uplift_model_not_ready`, with the reason)", body = ErrorBody),
    )
)]
async fn get_audiences(
    State(app): State<AppState>,
    Query(p): Query<AudienceParams>,
    headers: HeaderMap,
) -> Result<Response> {
    let spec = p.spec(default_discount_pct(&app))?;
    let limit = count(p.limit, "limit", 100, 10_000)?;
    let mut audience = ranked(&app.live, &app.store, &spec).await?;
    if let Some(size) = p.size {
        audience.truncate(size);
    }
    if wants_csv(&headers) {
        let rows = (0..audience.len()).map(move |i| csv_line(&member(&audience.snap, audience.get(i))));
        return Ok(csv_stream(CSV_HEADER, rows));
    }
    let snap = &audience.snap;
    // Keyset on the frozen ranking: the page starts after the cursor's
    // learner, whether or not they have dropped out since.
    let start = match &p.after {
        None => 0,
        Some(after) => {
            let cursor = Cursor::parse(after, snap.version)?;
            audience
                .start_after(&cursor.key)
                .ok_or_else(|| ApiError::BadRequest {
                    code: "invalid_cursor",
                    message: "after is not in this audience: start again without after".into(),
                })?
        }
    };
    let end = (start + limit).min(audience.len());
    let next = (start < end && end < audience.len())
        .then(|| Cursor::encode(snap.version, &snap.users.ids[audience.get(end - 1).user as usize]));
    let scored = audience.iter().any(|m| m.response.is_some());
    let d = spec.discount;
    Ok(Json(Audience {
        size: audience.len(),
        expected_conversions: (audience.iter().map(|m| m.purchase).sum::<f64>() * 100.0).round() / 100.0,
        expected_revenue_cents: audience
            .iter()
            .map(|m| m.purchase * m.price_cents)
            .sum::<f64>()
            .round() as i64,
        rank_by: match spec.ranking {
            Ranking::Uplift => "uplift",
            _ => "expected_value",
        },
        discount_pct: (d * 10_000.0).round() / 100.0,
        expected_incremental_conversions: scored.then(|| {
            let sum: f64 = audience.iter().filter_map(|m| m.response).map(|r| r.uplift).sum();
            (sum * 100.0).round() / 100.0
        }),
        expected_discount_cost_cents: scored.then(|| {
            audience
                .iter()
                .filter_map(|m| Some(m.response?.discount_cost_cents(m.price_cents, d)))
                .sum::<f64>()
                .round() as i64
        }),
        users: (start..end).map(|i| member(snap, audience.get(i))).collect(),
        next,
        model_version: snap.version,
    })
    .into_response())
}
