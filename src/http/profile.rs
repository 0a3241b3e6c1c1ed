//! A learner's behaviour profile with predictions and RFM group, and their
//! taste segment.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::wire::{share, time};
use super::AppState;
use crate::domain::now_ms;
use crate::domain::{Level, TypeAgg};
use crate::error::{ApiError, ErrorBody, Json, Result};
use crate::marketing::predict::within_active;
use crate::marketing::rfm::Rfm;
use crate::segment::profile::Profile;
use crate::serve::segments;
use crate::serve::snapshot::ModelSnapshot;
use crate::serve::user_view::{user_view, UserView};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_profile))
        .routes(routes!(get_user_segment))
}

pub fn no_model() -> ApiError {
    ApiError::Unavailable {
        code: "model_not_ready",
        message: "no model has been trained yet".into(),
    }
}

fn user_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "user_not_found",
        format!("no events or attributes for user {id:?}"),
    )
}

/// The user's segment: from the snapshot when their data is what it was
/// trained on, else the nearest centroid to their fold-in factor and profile.
/// `aggs` are the user's aggregates when the caller already read them.
async fn segment_of(
    app: &AppState,
    snap: &ModelSnapshot,
    user: &str,
    aggs: Option<&[TypeAgg]>,
) -> Result<Option<u32>> {
    // A popularity snapshot has no segments: the profile says so (null).
    let Some(segs) = snap.segments.as_ref() else {
        return Ok(None);
    };
    let factor = match user_view(&app.sources(), snap, user).await {
        UserView::Known(i) => return Ok(snap.users.segment_of(i)),
        UserView::Folded(f) => f.factor.clone(),
        UserView::Unknown => None,
    };
    let loaded;
    let aggs = match aggs {
        Some(a) => a,
        None => {
            loaded = app.store.user_aggregates(user).await?;
            &loaded
        }
    };
    if aggs.is_empty() {
        return Ok(None);
    }
    let profile = segments::profile(snap, user, aggs, now_ms());
    Ok(Some(segs.assign(factor.as_deref(), &profile)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryInterest {
    pub category: String,
    /// 0..1; a learner's shares sum to 1. 4 decimals.
    pub share: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Attributes {
    pub interests: Vec<String>,
    pub level: Option<Level>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentRef {
    pub segment_id: u32,
    pub label: Option<String>,
}

/// The marketing predictions for this learner, as of the last training.
#[derive(Debug, Serialize, ToSchema)]
pub struct Predictions {
    pub horizon_days: u32,
    /// P(buying any course in the horizon), 0..1; never above
    /// 1 − `churn_probability` (buying is activity).
    pub purchase_probability: f64,
    /// P(no activity in the horizon), 0..1; null when the learner was not
    /// recently active (churn is undefined).
    pub churn_probability: Option<f64>,
    /// Expected spend over the next 90 days, cents.
    pub predicted_spend_cents: i64,
}

/// What a learner did and what is predicted of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileInfo {
    pub user_id: String,
    /// Events by type (`view`, `click`, ...); types never seen are absent.
    pub counts: BTreeMap<String, u64>,
    /// Categories by weighted interest, largest share first.
    pub interests: Vec<CategoryInterest>,
    /// Net spend (courses owned now), cents.
    pub spend_cents: i64,
    /// Days since the last event (fractional, 2 decimals).
    pub recency_days: Option<f64>,
    pub events_30d: u32,
    pub events_90d: u32,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Set by `PUT /users/{id}`.
    pub attributes: Option<Attributes>,
    pub segment: Option<SegmentRef>,
    /// Null for a learner the model has not seen yet.
    pub predictions: Option<Predictions>,
    pub rfm: Option<Rfm>,
    pub feedback: Feedback,
}

/// What stays out of, or sinks in, the learner's lists.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Feedback {
    /// Courses dismissed ("not interested") with no positive event since.
    pub dismissed: Vec<String>,
    /// Courses served `serve.fatigue.max_impressions` times within
    /// `serve.fatigue.days` without a positive event: demoted (counted by
    /// the replica that answered).
    pub fatigued: Vec<String>,
}

fn profile_info(p: Profile) -> ProfileInfo {
    ProfileInfo {
        user_id: p.user_id,
        counts: p
            .counts
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect(),
        interests: p
            .interests
            .into_iter()
            .map(|c| CategoryInterest {
                category: c.category,
                share: share(f64::from(c.share)),
            })
            .collect(),
        spend_cents: p.spend_cents,
        recency_days: p.recency_days.map(|d| (f64::from(d) * 100.0).round() / 100.0),
        events_30d: p.events_30d,
        events_90d: p.events_90d,
        first_seen: p.first_seen_ms.map(time),
        last_seen: p.last_seen_ms.map(time),
        attributes: None,
        segment: None,
        predictions: None,
        rfm: None,
        feedback: Feedback::default(),
    }
}

/// The learner's behaviour profile, segment, predictions and RFM group.
#[utoipa::path(
    get,
    path = "/users/{id}/profile",
    tag = "learners",
    params(("id" = String, Path, description = "The learner's id")),
    responses(
        (status = 200, description = "The profile", body = ProfileInfo),
        (status = 404, description = "No events or attributes (`user_not_found`)", body = ErrorBody),
        (status = 503, description = "No model yet (`model_not_ready`), or the store is unavailable", body = ErrorBody),
    )
)]
async fn get_profile(State(app): State<AppState>, Path(user): Path<String>) -> Result<Json<ProfileInfo>> {
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let aggs = app.store.user_aggregates(&user).await?;
    let attrs = app.store.get_user(&user).await?;
    if aggs.is_empty() && attrs.is_none() {
        return Err(user_not_found(&user));
    }
    let profile = segments::profile(&snap, &user, &aggs, now_ms());
    let seg = segment_of(&app, &snap, &user, Some(&aggs)).await?;
    let mut out = profile_info(profile);
    out.attributes = attrs.map(|a| Attributes {
        interests: a.interests,
        level: a.level,
    });
    out.segment = seg.map(|id| segment_ref(&snap, id));
    (out.predictions, out.rfm) = marketing(&app, &snap, &user);
    let now = now_ms();
    out.feedback = Feedback {
        dismissed: crate::model::Interactions::dismissed_courses(&aggs)
            .into_iter()
            .map(str::to_string)
            .collect(),
        fatigued: app.live.fatigue.fatigued(&user, now),
    };
    Ok(Json(out))
}

/// The learner's predictions and RFM from the snapshot; none for a learner
/// the model has not seen (or who was erased since).
fn marketing(app: &AppState, snap: &ModelSnapshot, user: &str) -> (Option<Predictions>, Option<Rfm>) {
    let known = snap.users.index.get(user).copied();
    let (Some(mk), Some(p), Some(u)) = (snap.marketing.as_deref(), snap.users.marketing.as_ref(), known)
    else {
        return (None, None);
    };
    if app.live.is_erased(user) {
        return (None, None);
    }
    let p = &p.scores;
    let u = u as usize;
    let churn = Some(p.churn[u])
        .filter(|c| !c.is_nan())
        .map(|c| share(f64::from(c)));
    // Rounded to 4 decimals, P(purchase) stays within 1 − the churn shown.
    let purchase = within_active(f64::from(p.purchase[u]), churn);
    (
        Some(Predictions {
            horizon_days: mk.predictions.horizon_days,
            purchase_probability: share(purchase),
            churn_probability: churn,
            predicted_spend_cents: p.spend_cents[u],
        }),
        Some(p.rfm[u]),
    )
}

fn segment_ref(snap: &ModelSnapshot, id: u32) -> SegmentRef {
    SegmentRef {
        segment_id: id,
        label: snap
            .segments
            .as_ref()
            .and_then(|s| s.segment(id))
            .map(|s| s.label.clone()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserSegment {
    pub user_id: String,
    pub segment_id: u32,
    pub label: Option<String>,
}

/// The learner's taste segment.
#[utoipa::path(
    get,
    path = "/users/{id}/segment",
    tag = "learners",
    params(("id" = String, Path, description = "The learner's id")),
    responses(
        (status = 200, description = "The segment", body = UserSegment),
        (status = 404, description = "Nothing known of the learner (`user_not_found`)", body = ErrorBody),
        (status = 503, description = "No model yet (`model_not_ready`), or the store is unavailable", body = ErrorBody),
    )
)]
async fn get_user_segment(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Json<UserSegment>> {
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let seg = segment_of(&app, &snap, &user, None)
        .await?
        .ok_or_else(|| user_not_found(&user))?;
    let r = segment_ref(&snap, seg);
    Ok(Json(UserSegment {
        user_id: user,
        segment_id: r.segment_id,
        label: r.label,
    }))
}
