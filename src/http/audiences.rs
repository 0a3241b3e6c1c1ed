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
use crate::marketing::audience::{Filter, Member};
use crate::marketing::rfm::RfmGroup;
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
    /// Page size, 1 to 10,000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// The `next` of the previous page: pages are slices of one ranking per
    /// model version, so a cursor keeps its place when the learner it names
    /// drops out (buys, is erased). A cursor from an earlier model is
    /// refused with 409 `stale_cursor`.
    after: Option<String>,
}

impl AudienceParams {
    /// The audience it describes; 400 `invalid_parameter` on a bad value.
    fn spec(&self) -> Result<AudienceSpec> {
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
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Audience {
    /// Learners in the whole audience.
    pub size: usize,
    /// Sum of purchase probabilities over the whole audience, 2 decimals.
    pub expected_conversions: f64,
    pub expected_revenue_cents: i64,
    /// This page, best expected value first.
    pub users: Vec<AudienceMember>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
    pub model_version: i64,
}

fn member(snap: &ModelSnapshot, m: &Member) -> AudienceMember {
    let cols = snap.users.marketing.as_ref().expect("ranked with predictions");
    let u = m.user as usize;
    AudienceMember {
        user_id: snap.users.ids[u].clone(),
        purchase_probability: share(m.purchase),
        churn_probability: m.churn.map(share),
        expected_value_cents: m.value_cents.round() as i64,
        segment_id: snap.users.segment_of(m.user),
        rfm_group: cols.scores.rfm[u].group,
    }
}

const CSV_HEADER: &str =
    "user_id,purchase_probability,churn_probability,expected_value_cents,segment_id,rfm_group\n";

fn csv_line(m: &AudienceMember) -> String {
    let opt = |x: Option<String>| x.unwrap_or_default();
    csv_row([
        m.user_id.clone(),
        m.purchase_probability.to_string(),
        opt(m.churn_probability.map(|c| c.to_string())),
        m.expected_value_cents.to_string(),
        opt(m.segment_id.map(|s| s.to_string())),
        m.rfm_group.as_str().to_string(),
    ])
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

/// Learners ranked by expected value for an offer.
///
/// With `course_id`, `purchase_probability` is the probability of buying
/// that course in the horizon; with `category`, any course of it; with
/// neither, anything. Owners of the offered course are left out.
/// `Accept: text/csv` streams the whole audience.
#[utoipa::path(
    get,
    path = "/audiences",
    tag = "marketing",
    params(AudienceParams),
    responses(
        (status = 200, description = "One page (JSON) or the whole audience (CSV)",
            content((Audience = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No such course, category or segment (`course_not_found`, `category_not_found`, `segment_not_found`)", body = ErrorBody),
        (status = 409, description = "The cursor belongs to an earlier model (`stale_cursor`)", body = ErrorBody),
    )
)]
async fn get_audiences(
    State(app): State<AppState>,
    Query(p): Query<AudienceParams>,
    headers: HeaderMap,
) -> Result<Response> {
    let spec = p.spec()?;
    let limit = count(p.limit, "limit", 100, 10_000)?;
    let audience = ranked(&app.live, &app.store, &spec).await?;
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
    Ok(Json(Audience {
        size: audience.len(),
        expected_conversions: (audience.iter().map(|m| m.purchase).sum::<f64>() * 100.0).round() / 100.0,
        expected_revenue_cents: audience.iter().map(|m| m.value_cents).sum::<f64>().round() as i64,
        users: (start..end).map(|i| member(snap, audience.get(i))).collect(),
        next,
        model_version: snap.version,
    })
    .into_response())
}
