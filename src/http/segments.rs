//! Profiles, segments, member exports and marketing audiences.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::recommend::{param_count, param_n, user_view, UserView};
use super::AppState;
use crate::domain::TypeAgg;
use crate::error::{ApiError, Json, Result};
use crate::serve::segments;
use crate::serve::snapshot::{Basis, ModelSnapshot};
use crate::store::now_ms;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{id}/profile", get(get_profile))
        .route("/users/{id}/segment", get(get_user_segment))
        .route("/segments", get(get_segments))
        .route("/segments/{id}/users", get(get_segment_users))
        .route("/courses/{id}/audience", get(get_audience))
}

fn no_model() -> ApiError {
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
    let factor = match user_view(app, snap, user).await? {
        UserView::Known(i) => return Ok(segs.assignment.get(i as usize).copied()),
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

async fn get_profile(State(app): State<AppState>, Path(user): Path<String>) -> Result<Json<Value>> {
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let aggs = app.store.user_aggregates(&user).await?;
    let attrs = app.store.get_user(&user).await?;
    if aggs.is_empty() && attrs.is_none() {
        return Err(user_not_found(&user));
    }
    let profile = segments::profile(&snap, &user, &aggs, now_ms());
    let seg = segment_of(&app, &snap, &user, Some(&aggs)).await?;
    let mut body = serde_json::to_value(&profile).map_err(anyhow::Error::from)?;
    body["attributes"] = json!(attrs);
    body["segment"] = segment_json(&snap, seg);
    let (predictions, rfm) = marketing_json(&app, &snap, &user);
    body["predictions"] = predictions;
    body["rfm"] = rfm;
    Ok(Json(body))
}

/// The learner's `predictions` and `rfm` from the snapshot; null for a
/// learner the model has not seen (or who was erased since).
fn marketing_json(app: &AppState, snap: &ModelSnapshot, user: &str) -> (Value, Value) {
    let known = snap.users.index.get(user).copied();
    let (Some(mk), Some(u)) = (snap.marketing.as_deref(), known) else {
        return (Value::Null, Value::Null);
    };
    if app.live.is_erased(user) {
        return (Value::Null, Value::Null);
    }
    let p = &mk.predictions;
    let u = u as usize;
    let churn = Some(p.churn[u]).filter(|c| !c.is_nan());
    (
        json!({
            "horizon_days": p.horizon_days,
            "purchase_probability": p.purchase[u],
            "churn_probability": churn,
            "predicted_spend_cents": p.spend_cents[u],
        }),
        json!(p.rfm[u]),
    )
}

fn segment_json(snap: &ModelSnapshot, seg: Option<u32>) -> Value {
    let label = seg
        .and_then(|id| snap.segments.as_ref()?.segment(id))
        .map(|s| s.label.clone());
    match seg {
        Some(id) => json!({"segment_id": id, "label": label}),
        None => Value::Null,
    }
}

async fn get_user_segment(State(app): State<AppState>, Path(user): Path<String>) -> Result<Json<Value>> {
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let seg = segment_of(&app, &snap, &user, None)
        .await?
        .ok_or_else(|| user_not_found(&user))?;
    let label = snap
        .segments
        .as_ref()
        .and_then(|s| s.segment(seg))
        .map(|s| s.label.clone());
    Ok(Json(json!({"user_id": user, "segment_id": seg, "label": label})))
}

async fn get_segments(State(app): State<AppState>) -> Result<Json<Value>> {
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let Some(segs) = &snap.segments else {
        return Ok(Json(json!({"segments": []})));
    };
    let list: Vec<Value> = segs
        .segments
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "label": s.label, "size": s.size, "share": s.share,
                "top_categories": s.top_categories, "activity": s.activity,
            })
        })
        .collect();
    Ok(Json(
        json!({"model_version": snap.version, "k": list.len(), "silhouette": segs.silhouette, "segments": list}),
    ))
}

/// Members of a segment, sorted by user id (the keyset for pagination).
fn members(app: &AppState, snap: &ModelSnapshot, id: u32) -> Result<Vec<String>> {
    let segs = snap.segments.as_ref().ok_or_else(no_model)?;
    if segs.segment(id).is_none() {
        return Err(ApiError::not_found(
            "segment_not_found",
            format!("no segment {id}"),
        ));
    }
    let users = &snap.users.ids;
    let erased = app.live.erased_users();
    let mut out: Vec<String> = segs
        .assignment
        .iter()
        .enumerate()
        .filter(|(i, s)| **s == id && !erased.contains(&users[*i]))
        .map(|(i, _)| users[i].clone())
        .collect();
    out.sort_unstable();
    Ok(out)
}

async fn get_segment_users(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response> {
    let id: u32 = id
        .parse()
        .map_err(|_| ApiError::not_found("segment_not_found", format!("no segment {id:?}")))?;
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let all = members(&app, &snap, id)?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        // Streamed in chunks so a large segment never sits in one buffer.
        let chunks: Vec<Result<String, std::io::Error>> = std::iter::once(Ok("user_id\n".to_string()))
            .chain(
                all.chunks(1000)
                    .map(|c| Ok(c.iter().map(|u| csv_field(u) + "\n").collect())),
            )
            .collect();
        let body = Body::from_stream(futures::stream::iter(chunks));
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    let limit = param_count(&p, "limit", 100, 10_000)?;
    let start = match p.get("after") {
        Some(after) => all.partition_point(|u| u.as_str() <= after.as_str()),
        None => 0,
    };
    let page = &all[start..(start + limit).min(all.len())];
    let next = (start + page.len() < all.len())
        .then(|| page.last().cloned())
        .flatten();
    Ok(
        Json(json!({"segment_id": id, "total": all.len(), "users": page, "next_after": next}))
            .into_response(),
    )
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn get_audience(
    State(app): State<AppState>,
    Path(course): Path<String>,
    Query(p): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    let n = param_n(&p, 100, 10_000)?;
    let snap = app.live.snapshot().ok_or_else(no_model)?;
    let segment = match p.get("segment") {
        None => None,
        Some(s) => Some(
            s.parse::<u32>()
                .map_err(|_| ApiError::bad_param("segment must be a segment id"))?,
        ),
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
            return Err(ApiError::not_found(
                "segment_not_found",
                format!("no segment {id}"),
            ));
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
            || segment.is_some_and(|s| segs.and_then(|g| g.assignment.get(u as usize)) != Some(&s))
            || erased.contains(id)
    };
    // A course nothing is known about (no learner, nothing alike) has a
    // zero factor: every score would be 0, so nobody is ranked.
    let hits = match c.cosine().informative(ci) {
        true => crate::model::top_n(c.factors.row(ci as usize), &users.factors, n, exclude),
        false => vec![],
    };
    let items: Vec<Value> = hits
        .iter()
        .map(|&(u, score)| {
            let seg = segs.and_then(|g| g.assignment.get(u as usize));
            json!({"user_id": users.ids[u as usize], "score": score, "segment_id": seg})
        })
        .collect();
    Ok(Json(
        json!({"course_id": course, "segment": segment, "users": items, "model_version": snap.version}),
    ))
}
