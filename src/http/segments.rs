//! Taste segments: the list, member exports, and a course's likeliest
//! buyers by recommender score.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audiences::csv_stream;
use super::extract::{csv_row, wants_csv, Cursor, Query};
use super::profile::no_model;
use super::recommend::count;
use super::wire::{score, share};
use super::AppState;
use crate::error::{ApiError, ErrorBody, Json, Result};
use crate::serve::snapshot::{Basis, ModelSnapshot};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_segments))
        .routes(routes!(get_segment_users))
        .routes(routes!(get_audience))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryShareInfo {
    pub category: String,
    /// Mean share of the segment's interest, 0..1, 4 decimals.
    pub share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityInfo {
    pub mean_spend_cents: i64,
    /// Share of members with a positive net spend, 4 decimals.
    pub buyer_share: f64,
    /// 2 decimals.
    pub mean_events_30d: f64,
    /// Mean days since the last event, 2 decimals.
    pub mean_recency_days: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentInfo {
    /// Stable across retrains while the segment still exists.
    pub id: u32,
    pub label: String,
    pub size: u32,
    /// Share of all learners, 4 decimals.
    pub share: f64,
    pub top_categories: Vec<CategoryShareInfo>,
    pub activity: ActivityInfo,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Segments {
    pub model_version: Option<i64>,
    /// Number of segments.
    pub k: usize,
    /// Mean silhouette of the clustering, -1..1, 4 decimals.
    pub silhouette: Option<f64>,
    pub segments: Vec<SegmentInfo>,
}

fn two(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Every taste segment with its size, top categories and activity.
#[utoipa::path(
    get,
    path = "/segments",
    tag = "learners",
    responses(
        (status = 200, description = "The segments (none under a popularity snapshot)", body = Segments),
        (status = 503, description = "No model yet (`model_not_ready`)", body = ErrorBody),
    )
)]
async fn get_segments(State(app): State<AppState>) -> Result<Json<Segments>> {
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let Some(segs) = crate::serve::segments::counted(&snap, &app.live.erased_users()) else {
        return Ok(Json(Segments {
            model_version: Some(snap.version),
            k: 0,
            silhouette: None,
            segments: vec![],
        }));
    };
    let list: Vec<SegmentInfo> = segs
        .segments
        .iter()
        .map(|s| SegmentInfo {
            id: s.id,
            label: s.label.clone(),
            size: s.size,
            share: share(f64::from(s.share)),
            top_categories: s
                .top_categories
                .iter()
                .map(|c| CategoryShareInfo {
                    category: c.category.clone(),
                    share: share(f64::from(c.share)),
                })
                .collect(),
            activity: ActivityInfo {
                mean_spend_cents: s.activity.mean_spend_cents.round() as i64,
                buyer_share: share(f64::from(s.activity.buyer_share)),
                mean_events_30d: two(f64::from(s.activity.mean_events_30d)),
                mean_recency_days: two(f64::from(s.activity.mean_recency_days)),
            },
        })
        .collect();
    Ok(Json(Segments {
        model_version: Some(snap.version),
        k: list.len(),
        silhouette: Some(share(f64::from(segs.silhouette))),
        segments: list,
    }))
}

fn segment_not_found(id: impl std::fmt::Debug) -> ApiError {
    ApiError::not_found("segment_not_found", format!("no segment {id:?}"))
}

/// Members of a segment, sorted by user id (the keyset for pagination).
fn members(app: &AppState, snap: &ModelSnapshot, id: u32) -> Result<Vec<String>> {
    let segs = snap.segments.as_ref().ok_or_else(no_model)?;
    if segs.segment(id).is_none() {
        return Err(segment_not_found(id));
    }
    let users = &snap.users.ids;
    let erased = app.live.erased_users();
    let mut out: Vec<String> = snap
        .users
        .segment
        .iter()
        .flatten()
        .enumerate()
        .filter(|(i, s)| **s == id && !erased.contains(&users[*i]))
        .map(|(i, _)| users[i].clone())
        .collect();
    out.sort_unstable();
    Ok(out)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 10,000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// The `next` of the previous page. A cursor from an earlier
    /// segmentation is refused with 409 `stale_cursor`.
    after: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentMembers {
    pub segment_id: u32,
    pub model_version: i64,
    /// Members over all pages.
    pub total: usize,
    /// User ids, sorted.
    pub users: Vec<String>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

/// A segment's members by user id: JSON pages, or all of them with
/// `Accept: text/csv`.
#[utoipa::path(
    get,
    path = "/segments/{id}/users",
    tag = "learners",
    params(("id" = u32, Path, description = "The segment id"), PageParams),
    responses(
        (status = 200, description = "One page (JSON) or all members (CSV)",
            content((SegmentMembers = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No such segment (`segment_not_found`)", body = ErrorBody),
        (status = 409, description = "The cursor belongs to an earlier segmentation (`stale_cursor`)", body = ErrorBody),
        (status = 503, description = "No model yet (`model_not_ready`)", body = ErrorBody),
    )
)]
async fn get_segment_users(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
    headers: HeaderMap,
) -> Result<Response> {
    let id: u32 = id.parse().map_err(|_| segment_not_found(&id))?;
    let limit = count(p.limit, "limit", 100, 10_000)?;
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let all = members(&app, &snap, id)?;
    if wants_csv(&headers) {
        return Ok(csv_stream("user_id\n", all.into_iter().map(|u| csv_row([u]))));
    }
    let start = match p.after.as_deref().filter(|a| !a.is_empty()) {
        Some(after) => {
            let cursor = Cursor::parse(after, snap.version)?;
            all.partition_point(|u| u.as_str() <= cursor.key.as_str())
        }
        None => 0,
    };
    let page = all[start..(start + limit).min(all.len())].to_vec();
    let next = (start + page.len() < all.len())
        .then(|| page.last())
        .flatten()
        .map(|u| Cursor::encode(snap.version, u));
    Ok(Json(SegmentMembers {
        segment_id: id,
        model_version: snap.version,
        total: all.len(),
        users: page,
        next,
    })
    .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CourseAudienceParams {
    /// How many learners, 1 to 10,000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    n: Option<usize>,
    /// Only learners of this taste segment.
    segment: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScoredLearner {
    pub user_id: String,
    /// Recommender score for the course (factor dot product), 4 significant digits.
    pub score: f64,
    pub segment_id: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseAudience {
    pub course_id: String,
    /// The segment filter, if any.
    pub segment_id: Option<u32>,
    pub users: Vec<ScoredLearner>,
    pub model_version: i64,
}

/// The learners most likely to take a course by the recommender's score,
/// who do not own it; optionally within one segment. (`GET /audiences`
/// ranks by calibrated purchase probability and expected value instead.)
#[utoipa::path(
    get,
    path = "/courses/{id}/audience",
    tag = "marketing",
    params(("id" = String, Path, description = "The course id"), CourseAudienceParams),
    responses(
        (status = 200, description = "Best score first", body = CourseAudience),
        (status = 404, description = "No such course or segment (`course_not_found`, `segment_not_found`)", body = ErrorBody),
        (status = 503, description = "No model yet (`model_not_ready`)", body = ErrorBody),
    )
)]
async fn get_audience(
    State(app): State<AppState>,
    Path(course): Path<String>,
    Query(p): Query<CourseAudienceParams>,
) -> Result<Json<CourseAudience>> {
    let n = count(p.n, "n", 100, 10_000)?;
    let segment = p.segment;
    let Some(snap) = app.live.snapshot() else {
        // Unknown is 404 whether or not a model exists yet.
        return Err(match app.store.get_course(&course).await? {
            Some(c) if c.active => no_model(),
            _ => ApiError::not_found("course_not_found", format!("no course {course:?}")),
        });
    };
    let c = &snap.courses;
    let Some(&ci) = c.index.get(&course).filter(|&&i| c.meta[i as usize].listed) else {
        return Err(ApiError::not_found(
            "course_not_found",
            format!("no course {course:?}"),
        ));
    };
    if let Basis::Popularity { reason, .. } = &snap.basis {
        return Err(ApiError::Unavailable {
            code: "model_not_ready",
            message: format!("audiences need a model; serving popularity because {reason}"),
        });
    }
    let segs = snap.segments.as_deref();
    if let Some(id) = segment {
        if segs.and_then(|s| s.segment(id)).is_none() {
            return Err(segment_not_found(id));
        }
    }
    // Purchases, refunds and ratings newer than the snapshot decide instead of it.
    let taken_now = app.store.taken_changes_after(&course, snap.trained_seq).await?;
    let users = &snap.users;
    let erased = app.live.erased_users();
    let exclude = |u: u32| {
        let id = &users.ids[u as usize];
        taken_now
            .get(id)
            .copied()
            .unwrap_or_else(|| users.taken_row(u).binary_search(&ci).is_ok())
            || segment.is_some_and(|s| users.segment_of(u) != Some(s))
            || erased.contains(id)
    };
    // A course nothing is known about (no learner, nothing alike) has a
    // zero factor: every score would be 0, so nobody is ranked.
    let hits = match c.cosine().informative(ci) {
        true => crate::model::top_n(c.factors.row(ci as usize), &users.factors, n, exclude),
        false => vec![],
    };
    let list = hits
        .iter()
        .map(|&(u, s)| ScoredLearner {
            user_id: users.ids[u as usize].clone(),
            score: score(s),
            segment_id: users.segment_of(u),
        })
        .collect();
    Ok(Json(CourseAudience {
        course_id: course,
        segment_id: segment,
        users: list,
        model_version: snap.version,
    }))
}
